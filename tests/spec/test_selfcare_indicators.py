"""Structured education and rehabilitation as care gaps (issue 13), on every engine.

As-of date 2026-03-31. Diabetes structured education: referred (people first on the diabetes
register in the last 12 months) and attended (in the last 24 months), the National Diabetes
Audit's refusal code excluding; pulmonary rehabilitation in COPD for people with MRC
breathlessness grade 3 or 4 recorded in the last 12 months, done in the last 3 years.
"""

from __future__ import annotations

import datetime as dt

from houseofcare.engine import Engine
from houseofcare.terminology.codelist import packaged_codelists
from tests.spec.conftest import Record
from tests.spec.test_indicators import diabetic, gaps_by_indicator

REFERRED = "415270003"  # Referral to diabetes structured education programme
REFERRED_TYPE1 = "754461000000105"  # Referral to type I diabetes structured education programme
ATTENDED = "413597006"  # Attended diabetes structured education programme
COMPLETED = "755491000000100"  # Diabetes structured education programme completed
DECLINED = "306591000000103"  # Diabetes structured education programme declined
COPD = "13645005"  # Chronic obstructive lung disease
MRC3 = "391124000"  # MRC Breathlessness Scale: grade 3
MRC4 = "391125004"  # MRC Breathlessness Scale: grade 4
REHAB = "15081005"  # Pulmonary rehabilitation
REHAB_CLASS = "229823004"  # Pulmonary rehabilitation class


def test_codes_used_here_are_in_the_shipped_codelists() -> None:
    lists = packaged_codelists()
    assert {REFERRED, REFERRED_TYPE1} <= {
        c
        for c in (REFERRED, REFERRED_TYPE1, ATTENDED, COMPLETED, MRC3, MRC4, REHAB, REHAB_CLASS)
        if c in lists["dsepref_cod"]
    }
    assert {ATTENDED, COMPLETED} <= {
        c
        for c in (REFERRED, REFERRED_TYPE1, ATTENDED, COMPLETED, MRC3, MRC4, REHAB, REHAB_CLASS)
        if c in lists["dsepatt_cod"]
    }
    assert DECLINED in lists["dsepdec_cod"]
    assert COPD in lists["copd_cod"]
    assert {MRC3, MRC4} <= {
        c
        for c in (REFERRED, REFERRED_TYPE1, ATTENDED, COMPLETED, MRC3, MRC4, REHAB, REHAB_CLASS)
        if c in lists["mrc3plus_cod"]
    }
    assert {REHAB, REHAB_CLASS} <= {
        c
        for c in (REFERRED, REFERRED_TYPE1, ATTENDED, COMPLETED, MRC3, MRC4, REHAB, REHAB_CLASS)
        if c in lists["pulrhb_cod"]
    }


def test_diabetes_structured_education_referred_and_attended(
    engine: Engine, record: Record
) -> None:
    diabetic(record, "referred", diagnosed="2025-09-01")
    record.procedure("referred", REFERRED, "2025-10-01")
    diabetic(record, "referred-type1", diagnosed="2025-05-01")
    record.observation("referred-type1", REFERRED_TYPE1, "2025-05-20")
    diabetic(record, "not-referred", diagnosed="2025-06-01")
    diabetic(record, "declined", diagnosed="2025-06-01")
    record.procedure("declined", DECLINED, "2025-07-01")
    # first on the register exactly 12 months before the as-of date: no longer newly diagnosed
    diabetic(record, "twelve-months", diagnosed="2025-03-31")
    diabetic(record, "eleven-months", diagnosed="2025-04-01")
    diabetic(record, "long-standing", diagnosed="2015-01-01")
    record.procedure("long-standing", REFERRED, "2025-10-01")
    diabetic(record, "attended", diagnosed="2024-06-01")
    record.procedure("attended", ATTENDED, "2024-09-01")
    diabetic(record, "completed", diagnosed="2024-06-01")
    record.procedure("completed", COMPLETED, "2025-01-15")

    result = gaps_by_indicator(engine, "DM_EDUCATION_REFERRAL", "DM_EDUCATION_ATTENDED")
    referral = result["DM_EDUCATION_REFERRAL"]
    assert {p: row[0] for p, row in referral.items()} == {
        "referred": "met",
        "referred-type1": "met",
        "not-referred": "not met",
        "declined": "excluded",
        "eleven-months": "not met",
    }
    assert referral["referred"][:3] == ("met", REFERRED, dt.date(2025, 10, 1))
    # never referred: overdue from the diagnosis
    assert referral["not-referred"][4] == dt.date(2025, 6, 1)
    assert referral["declined"][1:3] == (DECLINED, dt.date(2025, 7, 1))

    attended = {p: row[0] for p, row in result["DM_EDUCATION_ATTENDED"].items()}
    assert attended["attended"] == "met" and attended["completed"] == "met"
    assert attended["not-referred"] == "not met" and attended["referred"] == "not met"
    assert "long-standing" not in attended


def test_pulmonary_rehabilitation_for_copd_with_mrc_grade_3_or_worse(
    engine: Engine, record: Record
) -> None:
    for patient in ("done", "class", "not-done", "long-ago", "no-mrc", "old-mrc"):
        record.patient(patient)
        record.condition(patient, COPD, "2018-01-01")
    record.observation("done", MRC3, "2025-12-01")
    record.procedure("done", REHAB, "2024-01-10")
    record.observation("class", MRC4, "2025-06-01")
    record.procedure("class", REHAB_CLASS, "2025-08-01")
    record.observation("not-done", MRC4, "2025-11-01")
    record.observation("long-ago", MRC3, "2025-11-01")
    record.procedure("long-ago", REHAB, "2022-05-01")
    record.observation("old-mrc", MRC3, "2024-11-01")  # more than 12 months before

    result = gaps_by_indicator(engine, "COPD_PULREHAB_ATTENDED")["COPD_PULREHAB_ATTENDED"]
    assert {p: row[0] for p, row in result.items()} == {
        "done": "met",
        "class": "met",
        "not-done": "not met",
        "long-ago": "not met",
    }
    assert result["done"][:3] == ("met", REHAB, dt.date(2024, 1, 10))
    # done once, 4 years ago: the gap opened when the 3-year window passed it
    assert result["long-ago"][1:3] == (REHAB, dt.date(2022, 5, 1))
    assert result["long-ago"][4] == dt.date(2025, 5, 1)
