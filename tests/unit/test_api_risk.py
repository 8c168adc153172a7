"""RiskAssessment from the analytic store (through `houseofcare.results`): missing pieces named."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from houseofcare.api.risk import RiskUnavailable, read_person_risk, risk_assessment
from houseofcare.api.routes.app_lists import risk_levels
from houseofcare.pipeline import RESULT_TABLES
from houseofcare.risk.scoring import RISK_SCORE_DDL
from houseofcare.settings import Settings
from houseofcare.tiers.assign import TIER_DDL


def _analytic(settings: Settings, *, risk: bool, tier: bool = False) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.analytic_db_path))
    con.execute(RESULT_TABLES["run"])
    con.execute(
        "INSERT INTO run VALUES "
        "('old', DATE '2025-03-31', now(), TIMESTAMP '2025-04-01', 'x', 'y', 2),"
        "('new', DATE '2026-03-31', now(), TIMESTAMP '2026-04-01', 'x', 'y', 2)"
    )
    if risk:
        con.execute(RISK_SCORE_DDL)
        con.execute(
            "INSERT INTO risk_score (run_id, patient_id, risk, percentile, model_version, "
            "factor_1, factor_2) VALUES "
            "('old', 'p1', 0.9, 99, 'm0', 'stale', NULL),"
            "('new', 'p1', 0.31, 97.5, 'lgbm-1', '2 emergency admissions in 12 months', 'age 84'),"
            "('new', 'p2', 0.02, 10, 'lgbm-1', NULL, NULL)"
        )
    if tier:
        con.execute(TIER_DDL)
        con.execute(
            "INSERT INTO tier VALUES ('new', 'p1', 3, 'top 3%'), ('new', 'p2', 1, 'one LTC')"
        )
    con.close()


def test_the_latest_run_s_score_becomes_a_risk_assessment(settings: Settings) -> None:
    _analytic(settings, risk=True, tier=True)
    risk = read_person_risk(settings, "p1")
    assert risk.run_id == "new"
    assert risk.probability == pytest.approx(0.31)
    assert risk.level == "3"
    assert risk.factors == ("2 emergency admissions in 12 months", "age 84")
    resource = risk_assessment(5, "9434765919", risk)
    assert resource["subject"]["reference"] == "Patient/5"
    assert resource["prediction"][0]["probabilityDecimal"] == pytest.approx(0.31)
    assert resource["occurrenceDateTime"] == dt.date(2026, 3, 31).isoformat()
    assert resource["method"]["text"] == "lgbm-1"
    assert resource["note"][0]["text"].endswith("12 months")
    levels = risk_levels(settings, ["p1", "p2", "nobody"])
    assert levels == {"p1": {"risk": 0.31, "level": "3"}, "p2": {"risk": 0.02, "level": "1"}}


def test_each_missing_piece_is_named(settings: Settings) -> None:
    with pytest.raises(RiskUnavailable, match="no analytic store"):
        read_person_risk(settings, "p1")
    with pytest.raises(RiskUnavailable, match="not linked"):
        read_person_risk(settings, None)
    _analytic(settings, risk=False)
    with pytest.raises(RiskUnavailable, match="no risk_score table"):
        read_person_risk(settings, "p1")
    assert risk_levels(settings, ["p1"]) == {}


def test_a_person_without_a_score_in_the_run_is_named(settings: Settings) -> None:
    _analytic(settings, risk=True)
    with pytest.raises(RiskUnavailable, match="no risk score for this person"):
        read_person_risk(settings, "p9")
