"""One person's record over time from the results reader (`houseofcare.results`): readings in
canonical units through the event layer, medicines by code, contacts by the risk model's
encounter kinds; on a small analytic store with the clinical tables' own definitions."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from houseofcare.results import AnalyticResults, Contact, Medicine, Reading
from houseofcare.settings import Settings
from houseofcare.store.analytic import connect
from houseofcare.web.person_page import encounter_kinds

D = dt.date
S = "http://snomed.info/sct"
HBA1C, SYSTOLIC = "1049301000000100", "100151000000109"


@pytest.fixture
def store(settings: Settings) -> Settings:
    con = connect(settings)
    con.execute(
        f"""INSERT INTO observation (observation_id, patient_id, status, code_system, code,
                effective_date, value_number, value_unit, value_ucum) VALUES
        ('o1', 'p1', 'final', '{S}', '{HBA1C}', DATE '2025-01-10', 7.5, '%', '%'),
        ('o2', 'p1', 'final', '{S}', '{HBA1C}', DATE '2025-06-10', 60, 'mmol/mol', 'mmol/mol'),
        ('o3', 'p1', 'final', '{S}', '{HBA1C}', DATE '2025-07-10', 60, 'furlongs', NULL),
        ('o4', 'p1', 'final', '{S}', '{HBA1C}', DATE '2025-08-10', 900, 'mmol/mol', NULL),
        ('o5', 'p1', 'entered-in-error', '{S}', '{HBA1C}', DATE '2025-09-10', 50, NULL, NULL),
        ('o6', 'p1', 'final', '{S}', '{SYSTOLIC}', DATE '2025-09-10', 20, 'kPa', 'kPa'),
        ('o7', 'p1', 'final', '{S}', '{SYSTOLIC}', DATE '2019-09-10', 150, 'mmHg', NULL),
        ('o8', 'p2', 'final', '{S}', '{HBA1C}', DATE '2025-06-10', 70, 'mmol/mol', NULL)"""
    )
    con.execute(
        f"""INSERT INTO medication (medication_request_id, patient_id, status, code_system,
                code, display, authored_on) VALUES
        ('m1', 'p1', 'active', '{S}', '1', 'Metformin', DATE '2024-01-01'),
        ('m2', 'p1', 'active', '{S}', '1', 'Metformin 500mg', DATE '2025-12-01'),
        ('m3', 'p1', 'stopped', '{S}', '2', 'Ramipril', DATE '2020-12-01'),
        ('m4', 'p1', 'entered-in-error', '{S}', '3', 'Wrong', DATE '2025-12-01'),
        ('m5', 'p1', 'active', '{S}', '4', 'Later', DATE '2026-06-01')"""
    )
    con.execute(
        """INSERT INTO encounter (encounter_id, patient_id, status, class_code, type_code,
                type_display, priority_code, period_start, period_end) VALUES
        ('e1', 'p1', 'finished', 'IMP', NULL, 'Admission', 'EM',
         TIMESTAMP '2025-11-01 10:00', TIMESTAMP '2025-11-05 10:00'),
        ('e2', 'p1', 'finished', 'IMP', NULL, 'Admission', 'EL',
         TIMESTAMP '2025-10-01 10:00', TIMESTAMP '2025-10-02 10:00'),
        ('e3', 'p1', 'finished', 'EMER', NULL, 'A&E', NULL, TIMESTAMP '2025-09-01 10:00', NULL),
        ('e4', 'p1', 'finished', 'AMB', '185317003', 'Phone', NULL,
         TIMESTAMP '2026-03-31 23:00', NULL),
        ('e5', 'p1', 'cancelled', 'AMB', '185317003', 'Phone', NULL,
         TIMESTAMP '2025-08-01 10:00', NULL),
        ('e6', 'p1', 'finished', 'HH', NULL, 'Home visit', NULL,
         TIMESTAMP '2025-07-01 10:00', NULL),
        ('e7', 'p1', 'finished', 'AMB', '185317003', 'Phone', NULL,
         TIMESTAMP '2020-07-01 10:00', NULL)"""
    )
    con.close()
    return settings


def test_readings_are_canonical_and_unusable_ones_carry_their_problem(store: Settings) -> None:
    codes = {"hba1c": [HBA1C], "systolic_bp": [SYSTOLIC]}
    with AnalyticResults.open(store) as results:
        found = results.readings("p1", codes, since=D(2021, 1, 1), until=D(2026, 3, 31))
    hba1c = [r for r in found if r.measure == "hba1c"]
    assert [r.date for r in hba1c] == [
        D(2025, 1, 10),
        D(2025, 6, 10),
        D(2025, 7, 10),
        D(2025, 8, 10),
    ]
    assert hba1c[0].value == pytest.approx(10.929 * (7.5 - 2.15))
    assert hba1c[1] == Reading("hba1c", D(2025, 6, 10), 60.0, None)
    assert hba1c[2] == Reading("hba1c", D(2025, 7, 10), None, "unknown unit")
    assert hba1c[3] == Reading("hba1c", D(2025, 8, 10), None, "implausible")
    (systolic,) = [r for r in found if r.measure == "systolic_bp"]  # 2019 is before `since`
    assert systolic.value == pytest.approx(150.0124)  # 20 kPa


def test_medicines_one_row_per_code_latest_first(store: Settings) -> None:
    with AnalyticResults.open(store) as results:
        found = results.medicines("p1", until=D(2026, 3, 31))
    assert found == (
        Medicine("Metformin 500mg", "1", D(2024, 1, 1), D(2025, 12, 1), 2, "active"),
        Medicine("Ramipril", "2", D(2020, 12, 1), D(2020, 12, 1), 1, "stopped"),
    )


def test_contacts_have_the_risk_model_s_kinds_most_recent_first(store: Settings) -> None:
    with AnalyticResults.open(store) as results:
        found = results.contacts(
            "p1", encounter_kinds(), since=D(2024, 3, 31), until=D(2026, 3, 31)
        )
        first_two = results.contacts(
            "p1", encounter_kinds(), since=D(2024, 3, 31), until=D(2026, 3, 31), limit=2
        )
    assert [(c.start.date(), c.kind) for c in found if c.start] == [
        (D(2026, 3, 31), "gp_contact"),  # on the run's date, late in the day
        (D(2025, 11, 1), "emergency_admission"),
        (D(2025, 10, 1), "elective_admission"),
        (D(2025, 9, 1), "ae_attendance"),
        (D(2025, 7, 1), None),  # a home visit: no kind of the model's
    ]
    assert isinstance(found[0], Contact)
    assert first_two == found[:2]


def test_a_store_without_clinical_tables_reads_as_nothing(settings: Settings) -> None:
    settings.analytic_db_path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.connect(str(settings.analytic_db_path)).close()
    with AnalyticResults.open(settings) as results:
        assert results.readings("p1", {"hba1c": [HBA1C]}) == ()
        assert results.medicines("p1") == ()
        assert (
            results.contacts("p1", encounter_kinds(), since=D(2020, 1, 1), until=D(2026, 1, 1))
            == ()
        )


def test_a_run_keeps_the_same_readings_the_clinical_tables_give(store: Settings) -> None:
    """What a run keeps per person (`person_reading`, read by key) is what the reader works
    out from the clinical tables for the run's look-back; before any run, and for a run that
    is not the one kept, there is nothing kept (None: the page reads the clinical tables)."""
    from houseofcare.careplan.measures import measure_codes
    from houseofcare.pipeline import run_pipeline
    from houseofcare.population.person_readings import READINGS_YEARS, years_before

    as_of = D(2026, 3, 31)
    con = duckdb.connect(str(store.analytic_db_path))
    con.execute("INSERT INTO patient (patient_id, birth_date) VALUES ('p1', DATE '1950-01-01')")
    con.close()
    with AnalyticResults.open(store) as results:
        assert results.person_readings("any run", "p1") is None
    first = run_pipeline(settings=store, as_of=as_of).run_id
    second = run_pipeline(settings=store, as_of=as_of).run_id
    with AnalyticResults.open(store) as results:
        kept = results.person_readings(second, "p1")
        live = results.readings(
            "p1", measure_codes(), since=years_before(as_of, READINGS_YEARS), until=as_of
        )
        assert results.person_readings(first, "p1") is None  # only the latest run's are kept
        # a page's readings: the run's kept ones of its measures, else the live ones
        hba1c_only = {"hba1c": measure_codes()["hba1c"]}
        from_run = results.run_readings(second, as_of, "p1", hba1c_only)
        from_tables = results.run_readings(first, as_of, "p1", hba1c_only)
        assert results.person_readings(second, "nobody") == ()
    assert kept == live
    assert from_run == from_tables == tuple(r for r in live if r.measure == "hba1c")
    assert from_run
    assert {r.measure for r in kept} == {"hba1c", "systolic_bp"}
    assert Reading("hba1c", D(2025, 7, 10), None, "unknown unit") in kept
