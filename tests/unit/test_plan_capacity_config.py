"""The capacity and unit-cost files as data: the packaged ones load, and a wrong one fails with
the file and the field named; the gap arithmetic on controlled counts."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

import pytest

from houseofcare.commissioning.capacity_config import (
    CAPACITY_FILE,
    UNIT_COSTS_FILE,
    CapacityConfig,
    CapacityError,
    UnitCost,
    load_capacity,
    load_unit_costs,
    review_windows,
)
from houseofcare.commissioning.plan_capacity import level3_row, review_appointments
from houseofcare.population.indicators import packaged_indicator_rules


def written(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def capacity_text(**replace: str) -> str:
    text = CAPACITY_FILE.read_text(encoding="utf-8")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def test_the_packaged_files_load() -> None:
    capacity = load_capacity()
    assert capacity.example  # the shipped localities are an example, and say so
    assert (capacity.level3.caseload_min, capacity.level3.caseload_max) == (50, 80)
    costs = load_unit_costs()
    for cost in costs.cost:
        if cost.verified:
            assert cost.amount and cost.price_year and cost.url.startswith("https://")
        else:
            assert cost.amount is None and cost.reason


def test_a_caseload_outside_its_range_names_the_field(tmp_path: Path) -> None:
    path = written(tmp_path, "capacity.toml", capacity_text(**{"caseload = 65": "caseload = 90"}))
    with pytest.raises(CapacityError, match=r"capacity\.toml: level3: .*caseload 90 must lie"):
        load_capacity(path)


def test_a_missing_field_is_named(tmp_path: Path) -> None:
    path = written(
        tmp_path,
        "capacity.toml",
        capacity_text(**{"minutes_per_appointment = 20\n": ""}),
    )
    with pytest.raises(CapacityError, match=r"level2\.minutes_per_appointment: Field required"):
        load_capacity(path)


def test_a_misspelt_field_is_named(tmp_path: Path) -> None:
    path = written(
        tmp_path,
        "capacity.toml",
        capacity_text(**{"case_manager_wte = 8.0": "case_managers = 8.0"}),
    )
    with pytest.raises(CapacityError, match=r"locality\.0\.case_managers: Extra inputs"):
        load_capacity(path)


def test_a_negative_capacity_is_refused(tmp_path: Path) -> None:
    path = written(
        tmp_path,
        "capacity.toml",
        capacity_text(**{"review_appointments = 4000": "review_appointments = -1"}),
    )
    with pytest.raises(CapacityError, match=r"default\.review_appointments: Input should be"):
        load_capacity(path)


def test_a_locality_listed_twice_is_refused(tmp_path: Path) -> None:
    twice = capacity_text() + (
        '\n[[locality]]\nname = "Leeds"\ncase_manager_wte = 1.0\n'
        "review_appointments = 1\nself_management_places = 1\n"
    )
    with pytest.raises(CapacityError, match="locality Leeds is listed more than once"):
        load_capacity(written(tmp_path, "capacity.toml", twice))


def test_an_unreadable_file_names_itself(tmp_path: Path) -> None:
    with pytest.raises(CapacityError, match="capacity file not found"):
        load_capacity(tmp_path / "nope.toml")
    with pytest.raises(CapacityError, match=r"bad\.toml"):
        load_capacity(written(tmp_path, "bad.toml", "version = "))


def unit_costs(tmp_path: Path, change: dict[str, Any]) -> Path:
    document = tomllib.loads(UNIT_COSTS_FILE.read_text(encoding="utf-8"))
    lines = [f"version = 1\nstale_after_years = {document['stale_after_years']}\n"]
    for cost in document["cost"]:
        cost = {**cost, **change.get(cost["id"], {})}
        lines.append("[[cost]]")
        for key, value in cost.items():
            if value is not None:
                lines.append(f"{key} = {value!r}".replace("True", "true").replace("False", "false"))
    return written(tmp_path, "unit_costs.toml", "\n".join(lines) + "\n")


def test_an_unverified_cost_cannot_carry_an_amount(tmp_path: Path) -> None:
    path = unit_costs(tmp_path, {"practice_nurse_hour": {"amount": 55}})
    with pytest.raises(CapacityError, match=r"cost\.1: .*must not carry an amount"):
        load_unit_costs(path)


def test_a_verified_cost_needs_its_price_year_and_source(tmp_path: Path) -> None:
    path = unit_costs(tmp_path, {"case_manager_wte_year": {"price_year": None, "url": None}})
    with pytest.raises(CapacityError, match=r"cost\.0: .*needs price_year, url"):
        load_unit_costs(path)
    path = unit_costs(tmp_path, {"case_manager_wte_year": {"price_year": "2013"}})
    with pytest.raises(CapacityError, match=r"cost\.0\.price_year: String should match"):
        load_unit_costs(path)


def test_a_cost_the_plan_prices_must_be_there(tmp_path: Path) -> None:
    path = unit_costs(tmp_path, {"link_worker_wte_year": {"id": "link_worker"}})
    with pytest.raises(CapacityError, match="cost: missing link_worker_wte_year"):
        load_unit_costs(path)


def test_a_price_year_goes_stale() -> None:
    cost = UnitCost(
        id="x",
        what="x",
        unit="hour",
        verified=True,
        amount=1,
        price_year="2013/14",
        source="s",
        table="t",
        url="https://example.org",
    )
    assert cost.stale(dt.date(2026, 3, 31), 3)  # ended 2014, 12 years before
    assert not cost.stale(dt.date(2017, 3, 31), 3)  # ended 2014, 3 years before
    assert cost.as_source().year == "2013/14"


def test_review_schedules_come_from_the_indicators() -> None:
    windows = review_windows(packaged_indicator_rules().indicators, ["observation", "procedure"])
    assert windows["DM"] == 12  # the 15-month cholesterol window does not lengthen it
    assert windows["AST"] == 12
    assert "AF" not in windows  # its only indicator is a medicine issue, not an appointment
    assert review_windows(packaged_indicator_rules().indicators, ["medication"])["AF"] == 6


def test_a_suppressed_group_hides_the_need_rather_than_shrinking_it() -> None:
    assert review_appointments({12: 100, 6: 20}, 2) == 100 * 2 + 20 * 2 * 2
    assert review_appointments({12: 100, 6: None}, 2) is None
    assert review_appointments({}, 2) == 0


def test_a_suppressed_level3_count_shows_no_gap() -> None:
    capacity = CapacityConfig.model_validate(
        tomllib.loads(CAPACITY_FILE.read_text(encoding="utf-8"))
    )
    cost = load_unit_costs().get("case_manager_wte_year")
    assert level3_row("X", None, capacity.default, capacity, cost)[2:] == (
        None,
        None,
        None,
        2.0,
        None,
        None,
        None,
    )
    row = level3_row("X", 0, capacity.default, capacity, cost)
    assert row[-3:] == (-130, -2.0, 0)  # spare capacity costs nothing to close
