"""The plan's trends across runs on a hand-made practice with known answers, on every engine:
who moved between levels since the previous run, emergency admissions per 1,000 by level, and
indicator achievement, each count controlled and cut to the plan's area."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from houseofcare.commissioning.disclosure import packaged_rule
from houseofcare.commissioning.plan_model import Area, PlanContext, PlanSection, PlanTable
from houseofcare.commissioning.plan_trends import sections
from houseofcare.engine import Engine
from houseofcare.store.analytic import arrow_schema
from tests.spec.plan_people_by_hand import (
    CARE_GAP,
    RUN,
    TIER,
    person,
    register_people,
    register_table,
)

R1, R2, R3 = "2025-03-31T1", "2026-03-31T1", "2027-03-31T1"
DATES = {R1: dt.date(2025, 3, 31), R2: dt.date(2026, 3, 31), R3: dt.date(2027, 3, 31)}

#: group → (how many, level at R1 (None: not tiered then), level at R2)
GROUPS: dict[str, tuple[int, int | None, int]] = {
    "up": (30, 2, 3),
    "stay3": (40, 3, 3),
    "stay1": (50, 1, 1),
    "down": (12, 3, 2),
    "new": (10, None, 1),
    "few": (3, 0, 2),
}


def ids(group: str) -> list[str]:
    return [f"{group}-{i}" for i in range(GROUPS[group][0])]


def emergency(patient_id: str, day: str, **values: Any) -> dict[str, Any]:
    values.setdefault("class_code", "IMP")
    values.setdefault("priority_code", "EM")
    return {
        "encounter_id": f"e-{patient_id}-{day}",
        "patient_id": patient_id,
        "period_start": dt.datetime.fromisoformat(f"{day}T10:00:00"),
        **values,
    }


def gap(run_id: str, patient_id: str, indicator: str, outcome: str) -> dict[str, Any]:
    return {"run_id": run_id, "patient_id": patient_id, "indicator": indicator, "outcome": outcome}


def practice(engine: Engine, runs: tuple[str, ...] = (R1, R2, R3)) -> None:
    """Practice P1's people in the groups above, and 25 people of practice P2 at level 1 in
    every run, with admissions and care gaps that must not reach P1's plan."""
    tiers, patients, encounters, gaps = [], [], [], []
    for group, (_, before, now) in GROUPS.items():
        for pid in ids(group):
            patients.append({"patient_id": pid, "practice_id": "P1"})
            if before is not None:
                tiers.append({"run_id": R1, "patient_id": pid, "level": before})
            tiers.append({"run_id": R2, "patient_id": pid, "level": now})
            tiers.append({"run_id": R3, "patient_id": pid, "level": 0})
    others = [f"other-{i}" for i in range(25)]
    for pid in others:
        patients.append({"patient_id": pid, "practice_id": "P2"})
        for run in (R1, R2, R3):
            tiers.append({"run_id": run, "patient_id": pid, "level": 1})
        encounters.append(emergency(pid, "2025-09-01"))
        gaps.append(gap(R2, pid, "DM_FOOT_CHECK", "not met"))
    # R2's year: each of "up" once, 10 of "stay3" once; R1's year: each of "down" once
    encounters += [emergency(pid, "2025-10-01") for pid in ids("up")]
    encounters += [emergency(pid, "2025-06-01") for pid in ids("stay3")[:10]]
    encounters += [emergency(pid, "2024-12-01") for pid in ids("down")]
    # not counted: a day before R1's year began, an outpatient visit, one entered in error
    encounters.append(emergency("stay3-20", "2024-03-31"))
    encounters.append(emergency("stay3-21", "2025-10-01", class_code="AMB"))
    encounters.append(emergency("stay3-22", "2025-10-01", status="entered-in-error"))
    stay1 = ids("stay1")
    gaps += [gap(R1, pid, "DM_FOOT_CHECK", "met") for pid in stay1[:20]]
    gaps += [gap(R1, pid, "DM_FOOT_CHECK", "not met") for pid in stay1[20:40]]
    gaps += [gap(R1, pid, "DM_FOOT_CHECK", "excluded") for pid in stay1[40:]]
    gaps += [gap(R2, pid, "DM_FOOT_CHECK", "met") for pid in stay1[:30]]
    gaps += [gap(R2, pid, "DM_FOOT_CHECK", "not met") for pid in stay1[30:40]]
    gaps += [gap(R2, pid, "HYP_BP_U80", "met") for pid in ids("up")[:20]]
    engine.register("patient", pa.Table.from_pylist(patients, schema=arrow_schema("patient")))
    engine.register("encounter", pa.Table.from_pylist(encounters, schema=arrow_schema("encounter")))
    engine.register(
        "tier",
        pa.Table.from_pylist(
            [{**t, "reason": "test"} for t in tiers if t["run_id"] in runs], schema=TIER
        ),
    )
    engine.register(
        "care_gap",
        pa.Table.from_pylist([g for g in gaps if g["run_id"] in runs], schema=CARE_GAP),
    )
    engine.register(
        "run", pa.Table.from_pylist([{"run_id": r, "as_of": DATES[r]} for r in runs], schema=RUN)
    )
    register_people(
        engine,
        [
            person(pid, practice_id="P1", level=now)
            for group, (_, _, now) in GROUPS.items()
            for pid in ids(group)
        ],
    )


def context(engine: Engine, run_id: str = R2) -> PlanContext:
    return PlanContext(
        engine=engine,
        run_id=run_id,
        as_of=DATES[run_id],
        area=Area("practice", "P1", "Practice one"),
        rule=packaged_rule(),
    )


def build(engine: Engine) -> PlanSection:
    practice(engine)
    (section,) = sections(context(engine))
    return section


def table(section: PlanSection, key: str) -> PlanTable:
    return next(t for t in section.tables if t.key == key)


def test_movement_between_levels_since_the_previous_run(engine: Engine) -> None:
    section = build(engine)
    moved = table(section, "trend_movement")
    assert [c.key for c in moved.columns] == ["level_from", "to_3", "to_2", "to_1", "to_0"]
    assert [r[1:] for r in moved.rows] == [
        (40, 10, 0, 0),  # level 3 before: 40 stayed, 12 (-> 10) moved down to 2
        (30, 0, 0, 0),  # level 2 before: 30 moved up to 3
        (0, 0, 50, 0),  # level 1 before: P2's 25 are not in P1's plan
        (0, None, 0, 0),  # level 0 before: 3 moved up to 2, suppressed
        (0, 0, 10, 0),  # not tiered before
    ]
    assert moved.title == "Movement between levels: 2025-03-31 to 2026-03-31"
    assert section.findings[0] == "2 runs, from 2025-03-31 to 2026-03-31."  # R3 is later
    assert (
        "Since the previous run (2025-03-31), 35 people moved up a level and 10 moved down; "
        "10 are new to the triangle." in section.findings
    )  # 30 + 3 = 33 up, controlled once as a whole: 35
    assert any(f.startswith("30 people are at level 3") for f in section.findings)


def test_emergency_admissions_per_thousand_from_controlled_counts(engine: Engine) -> None:
    section = build(engine)
    rates = table(section, "trend_emergency_rates")
    assert rates.rows == (
        # R1: 52 people at level 3 (-> 50) with 12 admissions (-> 10): 200.0, not 230.8;
        # level 1: P1's 50 alone, without P2's admissions; level 0: 3 people, suppressed
        ("2025-03-31", 200.0, 0.0, 0.0, None),
        # R2: 70 at level 3 with 30 + 10 admissions
        ("2026-03-31", round(1000 * 40 / 70, 1), 0.0, 0.0, None),
    )
    long = {(r[0], r[1]): r[2:] for r in table(section, "trend_emergency_admissions").rows}
    assert long[("2025-03-31", "Level 3: case management")] == (50, 10, 200.0)
    assert long[("2026-03-31", "Level 0: prevention")] == (0, 0, None)
    assert (
        "Emergency admissions per 1,000 people at level 3: 200.0 at 2025-03-31, 571.4 at "
        "2026-03-31." in section.findings
    )


def test_indicator_achievement_run_by_run(engine: Engine) -> None:
    section = build(engine)
    by_indicator = table(section, "trend_indicator_achievement")
    assert by_indicator.rows == (
        ("DM_FOOT_CHECK", "2025-03-31", 20, 20, 50.0),
        ("DM_FOOT_CHECK", "2026-03-31", 30, 10, 75.0),  # P2's 25 not met are not P1's
        ("HYP_BP_U80", "2026-03-31", 20, 0, 100.0),
    )
    overall = table(section, "trend_achievement")
    assert overall.rows == (("2025-03-31", 20, 20, 50.0), ("2026-03-31", 50, 10, 83.3))
    assert (
        "Achievement across all indicators: 50.0% at 2025-03-31, 83.3% at 2026-03-31."
        in section.findings
    )


def test_one_run_says_so_plainly(engine: Engine) -> None:
    practice(engine, runs=(R1,))
    (section,) = sections(context(engine, R1))
    assert section.tables == ()
    assert section.message is not None
    assert section.message.startswith("Only one pipeline run (2025-03-31)")


def test_a_change_of_rules_between_runs_is_said(engine: Engine) -> None:
    practice(engine)
    assert not any("rules changed" in f for f in sections(context(engine))[0].findings)
    with_digest = pa.schema([*RUN, ("rules_digest", pa.string())])
    register_table(
        engine,
        "run",
        with_digest,
        [
            {"run_id": R1, "as_of": DATES[R1], "rules_digest": "aaa"},
            {"run_id": R2, "as_of": DATES[R2], "rules_digest": "bbb"},
            {"run_id": R3, "as_of": DATES[R3], "rules_digest": "bbb"},
        ],
    )
    (section,) = sections(context(engine))
    assert section.findings[1] == (
        "The registers', indicators' or codelists' rules changed between runs (2025-03-31 to "
        "2026-03-31): part of any change across those runs is the rules, not the care."
    )


def test_everyone_takes_every_practice(engine: Engine) -> None:
    practice(engine)
    everyone = PlanContext(
        engine=engine,
        run_id=R2,
        as_of=DATES[R2],
        area=Area("all", None, "Everyone"),
        rule=packaged_rule(),
    )
    (section,) = sections(everyone)
    moved = table(section, "trend_movement")
    assert moved.rows[2][1:] == (0, 0, 75, 0)  # P1's 50 and P2's 25 stayed at level 1
    overall = table(section, "trend_achievement")
    assert overall.rows[-1] == ("2026-03-31", 50, 35, 58.8)  # P2's 25 not met now count
