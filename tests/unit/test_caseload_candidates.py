"""The caseload page's candidates follow the Core20PLUS5 policy only when the policy data
turns it on (`tiers/proportionate.toml`, `enabled`): off as shipped, so the page's order stays
highest risk first; on, a Core20 person's weighted risk moves them up and nobody leaves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from houseofcare.pipeline import RESULT_TABLES
from houseofcare.results import AnalyticResults
from houseofcare.risk.scoring import RISK_SCORE_DDL
from houseofcare.settings import Settings
from houseofcare.store.analytic import connect
from houseofcare.tiers.assign import TIER_DDL
from houseofcare.tiers.proportionate import packaged_proportionate_policy
from houseofcare.web import caseload as page

DEPRIVED, AFFLUENT = "E01015736", "E01005185"  # IMD 2019 deciles 1 and 10 (the lookup)


@pytest.fixture
def results(settings: Settings) -> Iterator[AnalyticResults]:
    con = connect(settings)
    for ddl in (*RESULT_TABLES.values(), RISK_SCORE_DDL, TIER_DDL):
        con.execute(ddl)
    con.execute(
        "INSERT INTO run (run_id, as_of, finished_at) VALUES "
        "('r1', DATE '2026-03-31', TIMESTAMP '2026-04-01 02:00')"
    )
    con.execute(
        "INSERT INTO tier VALUES ('r1', 'affluent', 3, NULL), ('r1', 'deprived', 3, NULL), "
        "('r1', 'top', 3, NULL)"
    )
    con.execute(
        "INSERT INTO risk_score (run_id, patient_id, risk) VALUES "
        "('r1', 'affluent', 0.50), ('r1', 'deprived', 0.45), ('r1', 'top', 0.70)"
    )
    for pid, lsoa in (("affluent", AFFLUENT), ("deprived", DEPRIVED), ("top", AFFLUENT)):
        con.execute("INSERT INTO patient (patient_id, lsoa_code) VALUES (?, ?)", [pid, lsoa])
    try:
        yield AnalyticResults(con)
    finally:
        con.close()


def test_as_shipped_the_policy_is_off_and_the_page_keeps_highest_risk_first(
    results: AnalyticResults,
) -> None:
    assert packaged_proportionate_policy().enabled is False
    _, _, candidates = page._basis(results)
    assert candidates == ["top", "affluent", "deprived"]


def test_with_the_policy_on_a_core20_person_comes_up_and_nobody_leaves(
    results: AnalyticResults, monkeypatch: pytest.MonkeyPatch
) -> None:
    enabled = packaged_proportionate_policy().model_copy(update={"enabled": True})
    monkeypatch.setattr(page, "packaged_proportionate_policy", lambda: enabled)
    _, _, candidates = page._basis(results)
    assert candidates == ["top", "deprived", "affluent"]  # 0.45 x 1.25 = 0.5625 > 0.50
