"""The plan's five frames made by hand (the columns `PlanContext` lists), for the plan's spec
cases: a case says who has which need, goal, referral and unmet need, and gets the frames
registered on the engine without the analytic pipeline or an operational store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from houseofcare.commissioning.disclosure import packaged_rule
from houseofcare.commissioning.plan_model import Area, PlanContext
from houseofcare.engine import Engine

AS_OF = dt.date(2026, 3, 31)

PEOPLE = pa.schema(
    [
        ("patient_id", pa.string()),
        ("practice_id", pa.string()),
        ("locality", pa.string()),
        ("imd_decile", pa.int64()),
        ("imd_quintile", pa.int64()),
        ("ethnic_group", pa.string()),
        ("sex", pa.string()),
        ("age", pa.int64()),
        ("age_band", pa.string()),
        ("esp_band", pa.string()),
        ("registers", pa.int64()),
        ("level", pa.int64()),
        ("risk", pa.float64()),
        ("gaps", pa.int64()),
        ("open_gaps", pa.int64()),
        ("emergency_admissions", pa.int64()),
        ("core20", pa.bool_()),
        ("has_plan", pa.bool_()),
        ("plan_reviewed", pa.bool_()),
        ("referrals", pa.int64()),
        ("unmet", pa.int64()),
    ]
)
NEEDS = pa.schema([("patient_id", pa.string()), ("domain", pa.string()), ("status", pa.string())])
GOALS = pa.schema([("patient_id", pa.string()), ("theme", pa.string()), ("status", pa.string())])
REFERRALS = pa.schema(
    [
        ("patient_id", pa.string()),
        ("referral_id", pa.int64()),
        ("need_domain", pa.string()),
        ("service_kind", pa.string()),
        ("status", pa.string()),
        ("accepted", pa.bool_()),
        ("attended", pa.bool_()),
        ("declined", pa.bool_()),
    ]
)
UNMET = pa.schema(
    [
        ("patient_id", pa.string()),
        ("need_domain", pa.string()),
        ("reason", pa.string()),
        ("locality", pa.string()),
    ]
)


class Frames:
    """Rows of the five frames, added person by person, registered by `register`."""

    def __init__(self) -> None:
        self.people: list[dict[str, Any]] = []
        self.needs: list[dict[str, Any]] = []
        self.goals: list[dict[str, Any]] = []
        self.referrals: list[dict[str, Any]] = []
        self.unmet: list[dict[str, Any]] = []

    def person(
        self, patient_id: str, locality: str | None, practice_id: str = "P1", **values: Any
    ) -> str:
        """One person in `locality` (by default on a register, with a reviewed plan)."""
        self.people.append(
            {
                "patient_id": patient_id,
                "practice_id": practice_id,
                "locality": locality,
                "imd_decile": 3,
                "imd_quintile": 2,
                "ethnic_group": "White",
                "sex": "female",
                "age": 70,
                "age_band": "65-74",
                "esp_band": "70-74",
                "registers": 1,
                "level": 1,
                "risk": 0.1,
                "gaps": 0,
                "open_gaps": 0,
                "emergency_admissions": 0,
                "core20": False,
                "has_plan": True,
                "plan_reviewed": True,
                "referrals": 0,
                "unmet": 0,
                **values,
            }
        )
        return patient_id

    def people_with(
        self, prefix: str, n: int, locality: str | None, practice_id: str = "P1", **values: Any
    ) -> list[str]:
        """`n` new people in `locality`, named prefix-0 …"""
        return [self.person(f"{prefix}-{i}", locality, practice_id, **values) for i in range(n)]

    def need(self, people: Iterable[str], domain: str, status: str = "active") -> None:
        self.needs += [{"patient_id": p, "domain": domain, "status": status} for p in people]

    def goal(self, people: Iterable[str], theme: str, status: str = "active") -> None:
        self.goals += [{"patient_id": p, "theme": theme, "status": status} for p in people]

    def referral(
        self,
        people: Iterable[str],
        domain: str | None,
        *,
        accepted: bool = False,
        attended: bool = False,
        declined: bool = False,
    ) -> None:
        for p in people:
            self.referrals.append(
                {
                    "patient_id": p,
                    "referral_id": len(self.referrals) + 1,
                    "need_domain": domain,
                    "service_kind": "voluntary",
                    "status": "closed",
                    "accepted": accepted,
                    "attended": attended,
                    "declined": declined,
                }
            )

    def unmet_need(
        self, people: Iterable[str | None], domain: str | None, reason: str, locality: str | None
    ) -> None:
        self.unmet += [
            {"patient_id": p, "need_domain": domain, "reason": reason, "locality": locality}
            for p in people
        ]

    def register(self, engine: Engine, area: Area | None = None) -> PlanContext:
        """The frames on `engine` and the plan's context for `area` (default: everyone)."""
        for name, rows, schema in (
            ("plan_people", self.people, PEOPLE),
            ("plan_needs", self.needs, NEEDS),
            ("plan_goals", self.goals, GOALS),
            ("plan_referrals", self.referrals, REFERRALS),
            ("plan_unmet", self.unmet, UNMET),
        ):
            engine.register(name, pa.Table.from_pylist(rows, schema=schema))
        return PlanContext(
            engine=engine,
            run_id="spec-run",
            as_of=AS_OF,
            area=area or Area("all", None, "the whole area"),
            rule=packaged_rule(),
        )
