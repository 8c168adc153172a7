"""The results reader (`houseofcare.results`) on a small analytic store made with the tables'
own definitions (the DDL `hoc run`, the risk model and the triangle use), so a column renamed
there fails here."""

from __future__ import annotations

import datetime as dt

import pytest

from houseofcare.pipeline import RESULT_TABLES
from houseofcare.population.readings import UnusableReadings
from houseofcare.results import (
    AnalyticResults,
    CareGap,
    Level,
    RegisterEntry,
    ResultsUnavailable,
    Risk,
    Run,
    Scores,
)
from houseofcare.risk.scoring import RISK_SCORE_DDL
from houseofcare.settings import Settings
from houseofcare.store.analytic import connect
from houseofcare.tiers.assign import TIER_DDL

D = dt.date


def _store(settings: Settings, *, results: bool = True) -> None:
    """Two practices, three people; two runs (`old` placed nobody on the triangle)."""
    con = connect(settings)  # the clinical tables
    con.execute(
        "INSERT INTO patient (patient_id, practice_id) VALUES "
        "('p1', 'A81001'), ('p2', 'A81001'), ('p3', 'B82002')"
    )
    if results:
        for ddl in (*RESULT_TABLES.values(), RISK_SCORE_DDL, TIER_DDL):
            con.execute(ddl)
        con.execute(
            "INSERT INTO run VALUES "
            "('old', DATE '2025-03-31', TIMESTAMP '2025-04-01 01:00', "
            " TIMESTAMP '2025-04-01 02:00', 'v', 'd', 3),"
            "('new', DATE '2026-03-31', TIMESTAMP '2026-04-01 01:00', "
            " TIMESTAMP '2026-04-01 02:00', 'v', 'd', 3),"
            "('mid', DATE '2025-09-30', TIMESTAMP '2025-10-01 01:00', "
            " TIMESTAMP '2025-10-01 02:00', 'v', 'd', 3)"
        )
        con.execute(
            "INSERT INTO register VALUES "
            "('new', 'p1', 'diabetes', DATE '2015-06-01', DATE '2026-01-10'),"
            "('new', 'p1', 'copd', DATE '2019-02-03', DATE '2025-11-01'),"
            "('new', 'p2', 'diabetes', DATE '2020-01-01', DATE '2026-02-01'),"
            "('new', 'p3', 'diabetes', DATE '2021-01-01', DATE '2026-02-01'),"
            "('old', 'p1', 'diabetes', DATE '2015-06-01', DATE '2025-01-10')"
        )
        con.execute(
            "INSERT INTO multimorbidity VALUES "
            "('new', 'p1', 2, 1.25, 5, 0.14, 'mild'),"
            "('new', 'p2', 1, 0.5, NULL, NULL, NULL)"
        )
        con.execute(
            "INSERT INTO care_gap VALUES "
            "('new', 'p1', 'DM_HBA1C_58', 'not met', NULL, NULL, NULL, DATE '2026-01-10'),"
            "('new', 'p1', 'DM_FOOT', 'not met', NULL, NULL, NULL, NULL),"
            "('new', 'p1', 'DM_BP', 'met', '271649006', DATE '2026-02-01', '128', NULL),"
            "('new', 'p3', 'DM_FOOT', 'not met', NULL, NULL, NULL, NULL)"
        )
        con.execute(
            "INSERT INTO unusable_reading VALUES "
            "('new', 'hba1c', 'unknown unit', 3, 2),"
            "('new', 'weight', 'implausible', 9, 9),"
            "('old', 'weight', 'no unit', 1, 1)"
        )
        con.execute(
            "INSERT INTO risk_score VALUES "
            "('new', 'p1', 0.31, 97.5, '2 emergency admissions', 'age 84', NULL, 'lgbm-1'),"
            "('new', 'p2', 0.02, 10, NULL, NULL, NULL, 'lgbm-1')"
        )
        con.execute(
            "INSERT INTO tier VALUES "
            "('new', 'p1', 3, 'top 3% risk'), ('new', 'p2', 1, 'one LTC'),"
            "('new', 'p3', 2, 'care gap open'), ('mid', 'p1', 2, 'two LTCs')"
        )
    con.close()


def test_a_missing_store_is_named(settings: Settings) -> None:
    with (
        pytest.raises(ResultsUnavailable, match="no analytic store"),
        AnalyticResults.open(settings),
    ):
        pass


def test_a_store_without_runs_reads_as_nothing(settings: Settings) -> None:
    _store(settings, results=False)
    with AnalyticResults.open(settings) as results:
        assert results.latest_run() is None and results.latest_run_id() is None
        assert results.run("new") is None
        assert results.registers("new", "p1") == ()
        assert results.care_gaps("new", "p1") == ()
        assert results.scores("new", "p1") is None
        assert results.risk("new", "p1") is None and results.level("new", "p1") is None
        assert results.unusable_readings("new") == []
        assert results.register_counts("new") == {} and results.level_counts("new") == {}
        assert results.rows_in_run("tier", "new") == 0


def test_runs_latest_named_and_previous(settings: Settings) -> None:
    _store(settings)
    with AnalyticResults.open(settings) as results:
        latest = results.latest_run()
        assert latest == Run("new", D(2026, 3, 31), dt.datetime(2026, 4, 1, 2), 3)
        assert results.run() == latest and results.latest_run_id() == "new"
        assert results.run("old") is not None and results.run("old").as_of == D(2025, 3, 31)
        assert results.run("never") is None
        assert results.previous_run("new").run_id == "mid"
        assert results.previous_run("mid").run_id == "old"
        assert results.previous_run("old") is None
        # `old` placed nobody on the triangle, so the level before `mid`'s is none
        assert results.previous_run("new", with_levels=True).run_id == "mid"
        assert results.previous_run("mid", with_levels=True) is None


def test_one_person_s_results(settings: Settings) -> None:
    _store(settings)
    with AnalyticResults.open(settings) as results:
        assert results.registers("new", "p1") == (
            RegisterEntry("copd", D(2019, 2, 3), D(2025, 11, 1)),
            RegisterEntry("diabetes", D(2015, 6, 1), D(2026, 1, 10)),
        )
        gaps = results.care_gaps("new", "p1")
        assert [g.indicator for g in gaps] == ["DM_BP", "DM_FOOT", "DM_HBA1C_58"]
        assert gaps[0] == CareGap("DM_BP", "met", "271649006", D(2026, 2, 1), "128", None)
        # open gaps only, never done first, then the longest overdue
        assert [g.indicator for g in results.care_gaps("new", "p1", open_only=True)] == [
            "DM_FOOT",
            "DM_HBA1C_58",
        ]
        assert all(g.open for g in results.care_gaps("new", "p1", open_only=True))
        assert results.scores("new", "p1") == Scores(2, 1.25, 5, 0.14, "mild")
        assert results.scores("new", "p3") is None
        risk = results.risk("new", "p1")
        assert risk == Risk(0.31, 97.5, ("2 emergency admissions", "age 84"), "lgbm-1")
        assert risk.columns()["factor_3"] is None and risk.columns()["risk"] == 0.31
        assert results.risk("new", "p3") is None and results.risk("old", "p1") is None
        assert results.level("new", "p1") == Level(3, "top 3% risk")
        assert results.level("old", "p1") is None


def test_many_people_at_once(settings: Settings) -> None:
    _store(settings)
    with AnalyticResults.open(settings) as results:
        risks = results.risks("new", ["p1", "p2", "p3", "nobody", "p1"])
        assert set(risks) == {"p1", "p2"} and risks["p2"].factors == ()
        assert results.risks("new", []) == {}
        levels = results.levels("new", ["p1", "p2", "p3"])
        assert {pid: lv.level for pid, lv in levels.items()} == {"p1": 3, "p2": 1, "p3": 2}


def test_the_run_s_unusable_readings_most_first(settings: Settings) -> None:
    _store(settings)
    with AnalyticResults.open(settings) as results:
        assert results.unusable_readings("new") == [
            UnusableReadings("weight", "implausible", 9, 9),
            UnusableReadings("hba1c", "unknown unit", 3, 2),
        ]


def test_counts_for_a_practice_and_for_everyone(settings: Settings) -> None:
    _store(settings)
    with AnalyticResults.open(settings) as results:
        assert results.register_counts("new") == {"copd": 1, "diabetes": 3}
        assert results.register_counts("new", "A81001") == {"copd": 1, "diabetes": 2}
        assert results.care_gap_counts("new", "A81001") == {
            "DM_BP": {"met": 1},
            "DM_FOOT": {"not met": 1},
            "DM_HBA1C_58": {"not met": 1},
        }
        assert results.care_gap_counts("new")["DM_FOOT"] == {"not met": 2}
        assert results.level_counts("new") == {1: 1, 2: 1, 3: 1}
        assert results.level_counts("new", "B82002") == {2: 1}
        assert results.rows_in_run("tier", "new") == 3
        with pytest.raises(ValueError, match="not a result table"):
            results.rows_in_run("patient", "new")


def test_the_store_is_only_read(settings: Settings) -> None:
    _store(settings)
    before = settings.analytic_db_path.stat().st_mtime_ns
    with AnalyticResults.open(settings) as results:
        results.risks("new", ["p1"])
        with pytest.raises(Exception, match="read-only"):
            results.con.execute("DELETE FROM run")
    assert settings.analytic_db_path.stat().st_mtime_ns == before
