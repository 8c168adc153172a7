"""The plan's capacity section on a hand-made area with known answers, on every engine: the
need is worked out from the disclosure-controlled counts, the level-2 reviews from the
indicators' schedules, and a cost is shown only where its unit cost is verified."""

from __future__ import annotations

import datetime as dt
from typing import Any

from houseofcare.commissioning.capacity_config import CapacityConfig, UnitCosts
from houseofcare.commissioning.disclosure import packaged_rule
from houseofcare.commissioning.plan_capacity import sections
from houseofcare.commissioning.plan_model import Area, PlanContext, PlanSection, PlanTable
from houseofcare.engine import Engine
from tests.spec.plan_people_by_hand import (
    REGISTER,
    on_register,
    person,
    register_people,
    register_table,
)

AS_OF = dt.date(2026, 3, 31)
RUN = "run-2026"

CAPACITY: dict[str, Any] = {
    "version": 1,
    "example": False,
    "level3": {
        "caseload_min": 50,
        "caseload_max": 80,
        "caseload": 65,
        "source": "test caseload",
        "source_year": "2005",
    },
    "level2": {
        "review_sources": ["observation", "procedure"],
        "default_review_months": 6,
        "appointments_per_review": 2,
        "minutes_per_appointment": 30,
        "hours_per_week": 37.5,
        "working_weeks_per_year": 40,
        "source": "test reviews",
        "source_year": "2013",
    },
    "level1": {
        "places_per_person": 1.0,
        "caseload_min": 200,
        "caseload_max": 250,
        "caseload": 200,
        "source": "test link workers",
        "source_year": "2023",
    },
    "default": {"case_manager_wte": 0.5, "review_appointments": 100, "self_management_places": 50},
    "locality": [
        {
            "name": "Leeds",
            "case_manager_wte": 1.0,
            "review_appointments": 300,
            "self_management_places": 300,
        }
    ],
}


def costs(**changes: Any) -> UnitCosts:
    found = {
        "case_manager_wte_year": {
            "what": "a case manager",
            "unit": "WTE year",
            "amount": 50000,
            "price_year": "2024/25",
            "verified": True,
            "source": "test source",
            "table": "T1",
            "url": "https://example.org/t1",
        },
        "practice_nurse_hour": {
            "what": "a nurse hour",
            "unit": "hour",
            "amount": 40,
            "price_year": "2019/20",
            "verified": True,
            "source": "old source",
            "table": "T2",
            "url": "https://example.org/t2",
        },
        "link_worker_wte_year": {
            "what": "a link worker",
            "unit": "WTE year",
            "verified": False,
            "reason": "not read in its source",
            "source": "unread source",
        },
        "non_elective_admission": {
            "what": "an admission",
            "unit": "admission",
            "verified": False,
            "reason": "dashboards only",
            "source": "NCC",
        },
    }
    found.update(changes)
    return UnitCosts.model_validate(
        {
            "version": 1,
            "stale_after_years": 3,
            "cost": [{"id": key, **value} for key, value in found.items()],
        }
    )


def area(engine: Engine) -> PlanContext:
    """Leeds: 128 at level 3 (controlled: 130), 150 at level 2 on the diabetes register
    (reviewed yearly) and 50 on atrial fibrillation alone (no scheduled indicator: every 6
    months here), 400 at level 1, 20 at level 0. Bradford: 5 at level 3 (suppressed), 40 at
    level 2 with diabetes, 100 at level 1."""
    people = []
    registers = []

    def add(prefix: str, n: int, **values: Any) -> list[str]:
        ids = [f"{prefix}{i}" for i in range(n)]
        people.extend(person(i, **values) for i in ids)
        return ids

    add("l3-", 128, locality="Leeds", level=3)
    for row in people[:20]:
        row["emergency_admissions"] = 1
    for pid in add("l2dm-", 150, locality="Leeds", level=2):
        registers.append(on_register(RUN, pid, "DM"))
        registers.append(on_register(RUN, pid, "HYP"))  # one holistic review, not two
    for pid in add("l2af-", 50, locality="Leeds", level=2):
        registers.append(on_register(RUN, pid, "AF"))
    add("l1-", 400, locality="Leeds", level=1)
    add("l0-", 20, locality="Leeds", level=0)
    add("b3-", 5, locality="Bradford", level=3, practice_id="P2")
    for pid in add("b2-", 40, locality="Bradford", level=2, practice_id="P2"):
        registers.append(on_register(RUN, pid, "DM"))
    add("b1-", 100, locality="Bradford", level=1, practice_id="P2")
    # an earlier run's register rows are not this run's
    registers.append(on_register("run-2025", "l2af-0", "DM"))
    register_people(engine, people)
    register_table(engine, "register", REGISTER, registers)
    return PlanContext(
        engine=engine,
        run_id=RUN,
        as_of=AS_OF,
        area=Area("all", None, "Everyone"),
        rule=packaged_rule(),
    )


def build(engine: Engine, unit_costs: UnitCosts | None = None) -> PlanSection:
    (section,) = sections(
        area(engine), CapacityConfig.model_validate(CAPACITY), unit_costs or costs()
    )
    return section


def table(section: PlanSection, key: str) -> PlanTable:
    return next(t for t in section.tables if t.key == key)


def rows(found: PlanTable) -> dict[str, dict[str, Any]]:
    keys = [c.key for c in found.columns]
    return {r[0]: dict(zip(keys, r, strict=True)) for r in found.rows}


def test_case_managers_from_the_controlled_count(engine: Engine) -> None:
    section = build(engine)
    level3 = rows(table(section, "capacity_level3"))
    assert level3["Leeds"] == {
        "locality": "Leeds",
        "people": 130,  # 128 rounded to 5: the need is worked from what is published
        "wte_low": 1.6,  # 130 / 80
        "wte_high": 2.6,  # 130 / 50
        "wte_needed": 2.0,  # 130 / 65
        "wte_in_post": 1.0,
        "gap_people": 65,  # 130 - 1.0 x 65 (63 from the raw count)
        "gap_wte": 1.0,
        "cost": 50000,  # 1.0 WTE x 50,000
    }
    # 5 people: suppressed, so no need, gap or cost either (the default capacity applies)
    assert level3["Bradford"] == {
        "locality": "Bradford",
        "people": None,
        "wte_low": None,
        "wte_high": None,
        "wte_needed": None,
        "wte_in_post": 0.5,
        "gap_people": None,
        "gap_wte": None,
        "cost": None,
    }
    assert (
        "Case-management need not shown where a count is suppressed (fewer than 8 people): "
        "Bradford. Those gaps are in no total." in section.findings
    )
    assert "The largest case-management gaps: Leeds (1.0 WTE)." in section.findings


def test_review_appointments_from_the_indicators_schedules(engine: Engine) -> None:
    section = build(engine)
    level2 = rows(table(section, "capacity_level2"))
    # 150 with diabetes (and hypertension): one review a year x 2 appointments = 300; 50 with
    # atrial fibrillation alone: every 6 months x 2 = 200
    assert level2["Leeds"] == {
        "locality": "Leeds",
        "people": 200,
        "appointments": 500,
        "in_post": 300,
        "gap": 200,
        "gap_people": 80,  # 200 / (500 / 200 appointments a person)
        "gap_wte": 0.1,  # 200 x 30 min = 100 h of 1,500 h a WTE year
        "cost": 4000,  # 100 h x 40
    }
    assert level2["Bradford"]["appointments"] == 80
    assert level2["Bradford"]["gap"] == -20  # capacity to spare
    assert level2["Bradford"]["cost"] == 0
    assert "2019/20 prices" in table(section, "capacity_level2").note
    assert "more than 3 years before this run" in table(section, "capacity_level2").note


def test_an_unverified_cost_is_never_printed(engine: Engine) -> None:
    section = build(engine)
    level1 = table(section, "capacity_level1")
    assert [c.key for c in level1.columns][-1] == "gap_wte"  # no cost column at all
    assert rows(level1)["Leeds"] == {
        "locality": "Leeds",
        "people": 400,
        "places": 400,
        "in_post": 300,
        "gap": 100,
        "gap_people": 100,
        "gap_wte": 0.5,  # 100 places at 200 a link worker
    }
    assert "Cost not shown: unit cost not verified (not read in its source)." in level1.note
    assert (
        "Closing the self-management gaps: cost not shown: unit cost not verified."
        in section.findings
    )
    emergency = table(section, "emergency_admissions_by_level")
    assert [r[:3] for r in emergency.rows] == [
        ("Level 3: case management", 135, 20),  # 133 -> 135
        ("Level 2: disease-specific care management", 240, 0),
        ("Level 1: supported self care", 500, 0),
        ("Level 0: prevention", 20, 0),
    ]
    assert all(len(r) == 3 for r in emergency.rows)
    keys = {s.key for s in section.sources}
    assert {"case_manager_wte_year", "practice_nurse_hour"} <= keys
    assert "link_worker_wte_year" not in keys


def test_the_cost_totals_and_the_price_year(engine: Engine) -> None:
    section = build(engine)
    assert (
        "Closing the case-management gaps would cost about £50,000 a year at 2024/25 prices "
        "(localities whose gap is not shown are not in it)." in section.findings
    )
    assert any(
        f.startswith("Closing the review gaps would cost about £4,000 a year at 2019/20")
        and "uprate it" in f
        for f in section.findings
    )


def test_the_shipped_example_capacity_is_said_first(engine: Engine) -> None:
    config = CapacityConfig.model_validate({**CAPACITY, "example": True})
    (section,) = sections(area(engine), config, costs())
    assert section.findings[0].startswith("The capacity in post is the example")
    assert "THE SHIPPED EXAMPLE" in table(section, "capacity_level3").note
