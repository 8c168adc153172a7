"""The caseload's readers in `houseofcare.results`: level 3 by risk, level changes between two
runs, last contacts and hospital events since a day, on a small store made with the tables'
own definitions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from houseofcare.pipeline import RESULT_TABLES
from houseofcare.results import AnalyticResults, LevelChange
from houseofcare.risk.scoring import RISK_SCORE_DDL
from houseofcare.settings import Settings
from houseofcare.store.analytic import connect
from houseofcare.tiers.assign import TIER_DDL

SINCE = dt.date(2026, 2, 1)


@pytest.fixture
def results(settings: Settings) -> Iterator[AnalyticResults]:
    con = connect(settings)
    for ddl in (*RESULT_TABLES.values(), RISK_SCORE_DDL, TIER_DDL):
        con.execute(ddl)
    con.execute(
        "INSERT INTO tier VALUES ('r1', 'a', 3, NULL), ('r1', 'b', 2, NULL), "
        "('r1', 'c', 3, NULL), ('r2', 'a', 3, NULL), ('r2', 'b', 3, NULL), "
        "('r2', 'd', 3, NULL), ('r2', 'e', 1, NULL)"
    )
    con.execute(
        "INSERT INTO risk_score VALUES ('r2', 'a', 0.2, 90, NULL, NULL, NULL, 'm'), "
        "('r2', 'b', 0.6, 99, NULL, NULL, NULL, 'm')"
    )
    rows = [
        # an emergency admission before SINCE, discharged after it: a discharge since
        ("e1", "a", None, "IMP", "183452005", None, "2026-01-28 10:00", "2026-02-03 10:00"),
        # an emergency admission by priority alone, still in hospital
        ("e2", "b", None, "IMP", "999", "EM", "2026-03-01 10:00", None),
        # an elective admission and an outpatient visit are not hospital events
        ("e3", "b", None, "IMP", "8715000", "EL", "2026-03-02 10:00", "2026-03-03 10:00"),
        ("e4", "b", None, "AMB", "281036007", None, "2026-03-10 10:00", "2026-03-10 10:30"),
        # A&E before SINCE is not counted; one entered in error is not a contact at all
        ("e5", "d", None, "EMER", "4525004", "EM", "2026-01-20 22:00", "2026-02-02 01:00"),
        ("e6", "d", "entered-in-error", "EMER", "4525004", "EM", "2026-03-05 22:00", None),
        ("e7", "d", "finished", "EMER", "4525004", "EM", "2026-02-01 00:00", None),
    ]
    for eid, pid, status, cls, code, priority, start, end in rows:
        con.execute(
            "INSERT INTO encounter (encounter_id, patient_id, status, class_code, type_code, "
            "priority_code, period_start, period_end) VALUES (?, ?, ?, ?, ?, ?, "
            "CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP))",
            [eid, pid, status, cls, code, priority, start, end],
        )
    try:
        yield AnalyticResults(con)
    finally:
        con.close()


def test_level3_keeps_the_people_at_level3_highest_risk_first(results: AnalyticResults) -> None:
    assert results.level3("r2", ["a", "b", "d", "e", "zz"]) == ["b", "a", "d"]
    assert results.level3("r2", []) == []


def test_level_changes_compare_two_runs(results: AnalyticResults) -> None:
    changes = results.level_changes("r2", "r1", ["a", "b", "c", "d", "zz"])
    assert changes == {
        "a": LevelChange("a", 3, 3),
        "b": LevelChange("b", 3, 2),
        "c": LevelChange("c", None, 3),
        "d": LevelChange("d", 3, None),
    }
    assert [p for p, c in changes.items() if c.joined_level3] == ["b", "d"]
    assert [p for p, c in changes.items() if c.left_level3] == ["c"]


def test_last_contacts_ignore_records_entered_in_error(results: AnalyticResults) -> None:
    contacts = results.last_contacts(["a", "b", "d"])
    assert contacts["b"] == dt.datetime(2026, 3, 10, 10)
    assert contacts["d"] == dt.datetime(2026, 2, 1)


def test_hospital_events_since_a_day(results: AnalyticResults) -> None:
    events = results.hospital_events(["a", "b", "d"], SINCE)
    assert [(e.kind, e.started, e.ended) for e in events["a"]] == [
        ("admission", dt.datetime(2026, 1, 28, 10), dt.datetime(2026, 2, 3, 10))
    ]
    assert [(e.kind, e.ended) for e in events["b"]] == [("admission", None)]
    assert [(e.kind, e.started) for e in events["d"]] == [("a&e", dt.datetime(2026, 2, 1))]


def test_a_store_without_encounters_reads_as_none(settings: Settings) -> None:
    con = connect(settings, read_only=False)
    con.execute("DROP TABLE encounter")
    try:
        results = AnalyticResults(con)
        assert results.hospital_events(["a"], SINCE) == {}
        assert results.last_contacts(["a"]) == {}
    finally:
        con.close()
