"""The one exit for counts (commissioning.measures) on hand-made units with known answers,
on every engine: grouped counts controlled once, percentages from the controlled counts."""

from __future__ import annotations

import pyarrow as pa
import pytest

from houseofcare.commissioning.disclosure import DisclosureRule
from houseofcare.commissioning.measures import (
    UNCONTROLLED,
    age_band_sql,
    ethnic_group_sql,
    measure_sql,
)
from houseofcare.engine import Engine


def units(engine: Engine, rows: list[tuple[str, int, str, int]]) -> None:
    """(practice_id, imd_quintile, outcome, reviewed) per person."""
    practice, quintile, outcome, reviewed = zip(*rows, strict=True)
    engine.register(
        "spec_units",
        pa.table(
            {
                "practice_id": pa.array(practice, pa.string()),
                "imd_quintile": pa.array(quintile, pa.int64()),
                "outcome": pa.array(outcome, pa.string()),
                "reviewed": pa.array(reviewed, pa.int64()),
            }
        ),
    )


def population(engine: Engine) -> None:
    units(
        engine,
        [("A", 1, "met", 1)] * 40
        + [("A", 1, "not met", 0)] * 3  # 3: suppressed
        + [("A", 5, "met", 1)] * 12  # 12 -> 10
        + [("B", 1, "met", 0)] * 23  # 23 -> 25
        + [("B", 1, "not met", 1)] * 18,  # 18 -> 20
    )


MET = "CASE WHEN u.outcome = 'met' THEN 1 ELSE 0 END"
NOT_MET = "CASE WHEN u.outcome = 'not met' THEN 1 ELSE 0 END"


def test_counts_are_grouped_and_controlled_once(engine: Engine) -> None:
    population(engine)
    sql = measure_sql(
        "spec_units",
        by=["practice_id", "imd_quintile"],
        counts={"met": MET, "not_met": NOT_MET, "people": "1"},
    )
    rows = sorted(engine.rows(f"SELECT * FROM {sql} m"))
    assert [tuple(r) for r in rows] == [
        ("A", 1, 40, None, 45),  # 43 people -> 45; the 3 not met suppressed
        ("A", 5, 10, 0, 10),
        ("B", 1, 25, 20, 40),  # 41 -> 40
    ]


def test_shares_come_from_the_controlled_counts(engine: Engine) -> None:
    population(engine)
    sql = measure_sql(
        "spec_units",
        by=["practice_id"],
        keys=["outcome"],
        counts={"people": "1"},
        shares={"share_pct": ("people", "group")},
    )
    found = {(r[0], r[1]): (r[2], r[3]) for r in engine.rows(f"SELECT * FROM {sql} m")}
    assert found[("A", "met")] == (50, 100.0)  # 52 -> 50, out of 50 (the 3 not shown)
    assert found[("A", "not met")] == (None, None)
    assert found[("B", "met")] == (25, pytest.approx(55.6))  # 25 / (25 + 20)


def test_a_stricter_rule_and_no_rule_for_the_practices_own_lists(engine: Engine) -> None:
    population(engine)
    strict = measure_sql(
        "spec_units",
        by=["practice_id"],
        counts={"reviewed": "u.reviewed"},
        rule=DisclosureRule(suppress_at_or_below=10, round_to=10),
    )
    assert sorted(tuple(r) for r in engine.rows(f"SELECT * FROM {strict} m")) == [
        ("A", 50),  # 52 -> 50
        ("B", 20),  # 18 -> 20
    ]
    raw = measure_sql("spec_units", by=["practice_id"], counts={"people": "1"}, rule=UNCONTROLLED)
    assert sorted(tuple(r) for r in engine.rows(f"SELECT * FROM {raw} m")) == [("A", 55), ("B", 41)]


def test_the_dimensions_words_on_every_engine(engine: Engine) -> None:
    engine.register(
        "spec_people",
        pa.table({"age": pa.array([0, 17, 18, 64, 65, 84, 85, None], pa.int64()),
                  "ethnic": pa.array(["A", "D", "H", "M", "S", "Z", None, "Q"], pa.string())}),
    )  # fmt: skip
    rows = engine.rows(
        f"SELECT {age_band_sql('age')}, {ethnic_group_sql('ethnic')} FROM spec_people"
    )
    assert [tuple(r) for r in rows] == [
        ("0-17", "White"),
        ("0-17", "Mixed"),
        ("18-39", "Asian or Asian British"),
        ("40-64", "Black or Black British"),
        ("65-74", "Other ethnic group"),
        ("75-84", "Not stated"),
        ("85+", "Not stated"),
        (None, "Not stated"),
    ]


def test_a_dimension_not_declared_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot group by postcode"):
        measure_sql("spec_units", by=["postcode"], counts={"people": "1"})
