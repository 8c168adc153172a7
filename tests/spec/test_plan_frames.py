"""The plan's frames from a real analytic run and a real SQLite operational store, on every
engine: who is in the area, who has a plan and whether it was reviewed, their needs, goals
(with the theme worked out), referrals (with the stages they reached) and unmet need."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy.orm import Session

from houseofcare.commissioning.disclosure import packaged_rule
from houseofcare.commissioning.plan import build_plan
from houseofcare.commissioning.plan_frames import register_plan_frames
from houseofcare.commissioning.plan_model import Area, PlanContext
from houseofcare.commissioning.population import LSOA_FILE
from houseofcare.engine import Engine
from houseofcare.nhs_number import nhs_check_digit
from houseofcare.store.database import make_engine, session_factory, transaction
from houseofcare.store.migrate import upgrade_engine
from houseofcare.store.models import (
    CarePlan,
    CarePlanStatus,
    Goal,
    GoalStatus,
    Need,
    NeedStatus,
    Person,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Service,
    ServiceAccess,
    ServiceKind,
    ServiceStatus,
    UnmetNeed,
    UnmetNeedReason,
)
from tests.spec.conftest import Record, store_run

AS_OF = dt.date(2026, 3, 31)
EVERYONE = Area("all", None, "the whole area")


def lsoa(district: str, decile: int) -> str:
    """An LSOA of `district` in IMD decile `decile` (the packaged lookup)."""
    with Path(str(LSOA_FILE)).open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["LAD_NAME"] == district and int(row["IMD_OVERALL"]) == decile:
                return row["LSOA_CODE"]
    raise LookupError(f"no LSOA of {district} in decile {decile}")


def nhs_numbers() -> Iterator[str]:
    """Valid (modulus 11) NHS numbers of the 999 test range."""
    for serial in range(1, 10_000):
        check = nhs_check_digit(f"999{serial:06d}")
        if check is not None:
            yield f"999{serial:06d}{check}"


def utc(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Session]:
    """A migrated SQLite store: a1 (reviewed plan, two needs, three goals, a referral that
    was attended, an unmet need), a2 (a plan not reviewed for two years, a referral still
    sent), a3 (a completed plan only), y1 (a plan agreed this year, a declined referral),
    and someone not linked to the analytic record with a plan and an unmet need in York."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('ops') / 'ops.db'}"
    else:
        url = request.getfixturevalue("make_postgres_database")("plan")
    engine = make_engine(url)
    upgrade_engine(engine)
    factory = session_factory(engine)
    numbers = nhs_numbers()
    with transaction(factory) as s:
        people = {
            key: Person(nhs_number=next(numbers), patient_id=key)
            for key in ("a1", "a2", "a3", "y1")
        }
        people["unlinked"] = Person(nhs_number=next(numbers), patient_id=None)
        s.add_all(people.values())
        s.flush()

        def plan(key: str, status: CarePlanStatus = CarePlanStatus.active, **at: Any) -> int:
            row = CarePlan(person_id=people[key].id, status=status, title="My plan", **at)
            s.add(row)
            s.flush()
            return row.id

        a1 = plan("a1", last_reviewed_at=utc("2026-01-10T09:00:00"))
        plan("a2", last_reviewed_at=utc("2024-01-10T09:00:00"))
        a3 = plan("a3", status=CarePlanStatus.completed)
        y1 = plan("y1", agreed_at=utc("2026-02-01T09:00:00"))
        plan("unlinked")
        s.add_all(
            [
                Need(care_plan_id=a1, domain="social_loneliness", description="Lonely"),
                Need(
                    care_plan_id=a1,
                    domain="physical_health",
                    description="Knee",
                    status=NeedStatus.resolved,
                ),
                Need(care_plan_id=a3, domain="social_housing", description="Damp"),
                Need(care_plan_id=y1, domain="mobility", description="Stairs"),
                Goal(
                    care_plan_id=a1,
                    what_matters_to_me="Get out of the house and meet people again",
                    status=GoalStatus.active,
                ),
                Goal(
                    care_plan_id=a1,
                    what_matters_to_me="Feel less tired",
                    target_measure="HbA1c",
                    status=GoalStatus.active,
                ),
                Goal(
                    care_plan_id=a1,
                    what_matters_to_me="Walk to the shops",
                    status=GoalStatus.entered_in_error,
                ),
            ]
        )
        service = Service(
            oruk_id="svc-1",
            name="Walk Together",
            organisation_name="Walk Together (charity)",
            status=ServiceStatus.active,
            kind=ServiceKind.voluntary,
            access=ServiceAccess.referral,
        )
        s.add(service)
        s.flush()

        def referral(key: str, status: ReferralStatus, moves: list[str], domain: str) -> int:
            row = Referral(
                person_id=people[key].id, service_id=service.id, status=status, need_domain=domain
            )
            s.add(row)
            s.flush()
            before = "sent"
            for to in moves:
                s.add(
                    ReferralEvent(
                        referral_id=row.id,
                        from_status=ReferralStatus(before),
                        to_status=ReferralStatus(to),
                    )
                )
                before = to
            return row.id

        referral(
            "a1", ReferralStatus.closed, ["accepted", "attended", "closed"], "social_loneliness"
        )
        referral("a2", ReferralStatus.sent, [], "physical_health")
        referral("y1", ReferralStatus.closed, ["declined", "closed"], "mobility")
        s.add_all(
            [
                UnmetNeed(
                    person_id=people["a1"].id,
                    need_domain="social_loneliness",
                    locality="Somewhere else",
                    reason=UnmetNeedReason.service_full,
                ),
                UnmetNeed(
                    person_id=people["unlinked"].id,
                    need_domain="mobility",
                    locality="York",
                    reason=UnmetNeedReason.no_suitable_service,
                ),
            ]
        )
    session = factory()
    yield session
    session.close()
    engine.dispose()


def analytic(engine: Engine, record: Record) -> str:
    """a1-a4 at a Leeds practice (a1 in decile 1), y1-y2 at a York one, d1 dead."""
    for key, decile in (("a1", 1), ("a2", 5), ("a3", 5), ("a4", 5)):
        record.patient(key, lsoa_code=lsoa("Leeds", decile), practice_id="P1")
    record.patient("d1", lsoa_code=lsoa("Leeds", 5), practice_id="P1", death_date="2025-01-01")
    for key in ("y1", "y2"):
        record.patient(key, lsoa_code=lsoa("York", 5), practice_id="P2")
    record.condition("a1", "44054006", "2015-01-01")  # diabetes
    run_id = store_run(engine, AS_OF)
    engine.register(
        "tier",
        pa.table(
            {
                "run_id": [run_id],
                "patient_id": ["a1"],
                "level": pa.array([3], pa.int64()),
                "reason": ["top risk"],
            }
        ),
    )
    engine.register(
        "risk_score",
        pa.table({"run_id": [run_id], "patient_id": ["a1"], "risk": [0.42]}),
    )
    return run_id


def frames(engine: Engine, record: Record, store: Session | None, area: Area) -> None:
    run_id = analytic(engine, record)
    ctx = PlanContext(engine, run_id, AS_OF, area, packaged_rule())
    register_plan_frames(ctx, store)


def rows(engine: Engine, sql: str) -> set[tuple[Any, ...]]:
    return {tuple(r) for r in engine.rows(sql)}


def test_everyone_with_their_plans(engine: Engine, record: Record, store: Session) -> None:
    frames(engine, record, store, EVERYONE)
    people = rows(
        engine,
        "SELECT patient_id, locality, level, risk, core20, has_plan, plan_reviewed, "
        "referrals, unmet, registers FROM plan_people",
    )
    assert people == {
        ("a1", "Leeds", 3, 0.42, True, True, True, 1, 1, 1),
        ("a2", "Leeds", None, None, False, True, False, 1, 0, 0),
        ("a3", "Leeds", None, None, False, False, False, 0, 0, 0),
        ("a4", "Leeds", None, None, False, False, False, 0, 0, 0),
        ("y1", "York", None, None, False, True, True, 1, 0, 0),
        ("y2", "York", None, None, False, False, False, 0, 0, 0),
    }
    assert rows(engine, "SELECT patient_id, domain, status FROM plan_needs") == {
        ("a1", "social_loneliness", "active"),
        ("a1", "physical_health", "resolved"),
        ("y1", "mobility", "active"),
    }
    assert rows(engine, "SELECT patient_id, theme, status FROM plan_goals") == {
        ("a1", "social_connection", "active"),
        ("a1", "blood_sugar", "active"),
    }
    assert rows(
        engine,
        "SELECT patient_id, need_domain, service_kind, status, accepted, attended, declined "
        "FROM plan_referrals",
    ) == {
        ("a1", "social_loneliness", "voluntary", "closed", True, True, False),
        ("a2", "physical_health", "voluntary", "sent", False, False, False),
        ("y1", "mobility", "voluntary", "closed", False, False, True),
    }
    assert rows(engine, "SELECT patient_id, need_domain, reason, locality FROM plan_unmet") == {
        ("a1", "social_loneliness", "service_full", "Leeds"),  # where a1 is registered
        (None, "mobility", "no_suitable_service", "York"),
    }


def test_a_locality_is_its_practices_people(engine: Engine, record: Record, store: Session) -> None:
    frames(engine, record, store, Area("locality", "York", "York"))
    assert rows(engine, "SELECT patient_id, has_plan FROM plan_people") == {
        ("y1", True),
        ("y2", False),
    }
    assert rows(engine, "SELECT patient_id, domain FROM plan_needs") == {("y1", "mobility")}
    assert rows(engine, "SELECT patient_id FROM plan_referrals") == {("y1",)}
    assert rows(engine, "SELECT patient_id, locality FROM plan_unmet") == {(None, "York")}
    assert rows(engine, "SELECT count(*) FROM plan_goals") == {(0,)}


def test_a_practice(engine: Engine, record: Record, store: Session) -> None:
    frames(engine, record, store, Area("practice", "P1", "Practice one"))
    assert rows(engine, "SELECT count(*) FROM plan_people") == {(4,)}
    assert rows(engine, "SELECT patient_id, locality FROM plan_unmet") == {("a1", "Leeds")}


def test_no_operational_store_means_empty_frames(engine: Engine, record: Record) -> None:
    frames(engine, record, None, EVERYONE)
    assert rows(
        engine, "SELECT count(*), sum(CASE WHEN has_plan THEN 1 ELSE 0 END) FROM plan_people"
    ) == {(6, 0)}
    for name in ("plan_needs", "plan_goals", "plan_referrals", "plan_unmet"):
        assert rows(engine, f"SELECT count(*) FROM {name}") == {(0,)}
    assert engine.columns("SELECT * FROM plan_referrals") == [
        "patient_id",
        "referral_id",
        "need_domain",
        "service_kind",
        "status",
        "accepted",
        "attended",
        "declined",
    ]


def test_the_whole_plan_from_both_stores(engine: Engine, record: Record, store: Session) -> None:
    """`build_plan` registers these frames and asks each part: the care section is there,
    and with a handful of plans in the area every figure of it is 1-7, so it says so."""
    run_id = analytic(engine, record)
    plan = build_plan(engine, store, run_id, AS_OF, EVERYONE)
    care = plan.section("care")
    assert care.message is not None and care.message.startswith(
        "Too few people in the whole area for any figure to be shown"
    )
    assert [t.key for t in care.tables] == ["care_coverage"]
    assert plan.disclosure == (
        "counts of 1 to 7 are shown as *; others are rounded to the nearest 5"
    )
    # the plan at a glance: each section's first finding that joint protection kept
    from houseofcare.commissioning.plan_disclosure import LEFT_OUT

    findings = [[f for f in s.findings if f != LEFT_OUT] for s in plan.sections]
    assert list(plan.headlines) == [kept[0] for kept in findings if kept]
    assert LEFT_OUT not in plan.headlines
