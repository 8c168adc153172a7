"""The commissioners' page: the local commissioning plan for an area, as the board's document
shows it, and its downloads (HTML, PDF, XLSX, CSV).

Thin over the same pieces as `hoc commission`: the area from `plan_output.areas`, the plan
from `commissioning.plan.build_plan` over the latest run, the layout from
`plan_output.layout` (so the page and the files show the same figures in the same order).
Access is the population page's one decision, `population.read` (an aggregate action:
commissioners, analysts, GP practice leads); every view and every download is one audited
event of a `CommissioningPlan`, naming the run, the area and the format, and so is every
refusal.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import duckdb
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from houseofcare.api.deps import Services
from houseofcare.careplan.policy import Action
from houseofcare.commissioning.plan_model import Area, CommissioningPlan
from houseofcare.commissioning.plan_output.access import RESOURCE_TYPE
from houseofcare.commissioning.plan_output.areas import (
    EVERYONE,
    UnknownArea,
    localities,
    resolve_area,
)
from houseofcare.commissioning.plan_output.html import sections_html
from houseofcare.commissioning.plan_output.layout import lay_out
from houseofcare.commissioning.population import Practice
from houseofcare.results import AnalyticResults, ResultsUnavailable
from houseofcare.store.analytic import store_stamp
from houseofcare.store.database import transaction
from houseofcare.store.models import CarePlan, Person, Referral, UnmetNeed
from houseofcare.web.page import guard as page_guard
from houseofcare.web.runs import RunStatus
from houseofcare.web.session import PageSession
from houseofcare.web.store_memo import StoreMemo


@dataclass
class CommissioningView:
    """What the commissioners' page shows."""

    run: RunStatus
    area: Area = EVERYONE
    practices: list[Practice] = field(default_factory=list)
    plan: CommissioningPlan | None = None
    body: Markup = field(default_factory=Markup)
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def area_value(self) -> str:
        """The chooser's value for the area shown (what `?area=` takes)."""
        return "all" if self.area.code is None else self.area.code

    @property
    def area_items(self) -> list[dict[str, Any]]:
        """The chooser's options: everyone, each locality, each practice."""
        chosen = self.area_value
        items: list[dict[str, Any]] = [
            {"value": "all", "text": "All practices", "selected": chosen == "all"}
        ]
        for place in localities(self.practices):
            value = place.name
            items.append(
                {"value": value, "text": f"Locality: {place.name}", "selected": value == chosen}
            )
        for p in self.practices:
            where = f" ({p.locality})" if p.locality and p.locality not in p.name else ""
            items.append(
                {
                    "value": p.practice_id,
                    "text": f"Practice: {p.name}{where}",
                    "selected": p.practice_id == chosen,
                }
            )
        return items


def _audit(services: Services, signed_in: PageSession, action: str, detail: dict[str, Any]) -> None:
    guard = page_guard(signed_in, services)
    with transaction(guard.factory) as session:
        guard.audit(
            session,
            action=action,
            resource_type=RESOURCE_TYPE,
            detail={**detail, "aggregate": True},
        )


def commissioning_view(
    services: Services,
    signed_in: PageSession,
    area: str | None,
    *,
    audit_action: str = "search",
    fmt: str | None = None,
) -> CommissioningView:
    """The plan for the area asked for, from the latest run (refused and audited for a role
    not granted `population.read`: `AccessRefused`). A download (`fmt`) is audited as an
    `export` of that format."""
    guard = page_guard(signed_in, services)
    with transaction(guard.factory) as session:
        guard.authorise(
            session,
            Action.population_read,
            None,
            audit_action=audit_action,
            resource_type=RESOURCE_TYPE,
        )
    view = CommissioningView(run=RunStatus(missing="No pipeline run yet: run `hoc run`."))
    try:
        with AnalyticResults.open(services.settings) as results:
            path = services.settings.analytic_db_path
            stored = (str(path), store_stamp(path))
            view.practices = _PRACTICES.get(stored, lambda: list(results.practices()))
            try:
                view.area = resolve_area(area, view.practices)
            except UnknownArea:
                view.errors.append(("area", "Choose an area from the list"))
            run = results.latest_run()
            if run is not None:
                view.run = RunStatus(
                    run_id=run.run_id, as_of=run.as_of, finished_at=run.finished_at
                )
                kept = _build(services, results, stored, run.run_id, run.as_of, view.area)
                view.plan = kept.plan
    except ResultsUnavailable as exc:
        view.run = RunStatus(missing=str(exc))
    except duckdb.IOException:  # the file held by a writer; a query's own error is not this
        view.run = RunStatus(missing="The analytic store cannot be read now; try again shortly.")
    if view.plan is not None and fmt is None:  # a download lays the plan out its own way
        view.body = kept.page_body()
    _audit(
        services,
        signed_in,
        audit_action,
        {
            "run": view.run.run_id,
            "area": view.area.kind
            if view.area.code is None
            else f"{view.area.kind} {view.area.code}",
            "format": fmt or "page",
        },
    )
    return view


#: Plans kept per server process while neither store has changed (`operational_stamp` and
#: the analytic store's stamp): building one reads the whole population, and a board's members
#: open the same area's plan many times. Every view is still decided and audited.
_PLANS: StoreMemo[KeptPlan] = StoreMemo(kept=8)
#: The practices and their localities (the area chooser), kept while the analytic store is
#: unchanged, as the population page keeps them.
_PRACTICES: StoreMemo[list[Practice]] = StoreMemo(kept=4)


@dataclass(eq=False)
class KeptPlan:
    """A kept plan and, once a page has shown it, its sections laid out as the page shows
    them (laying out a whole plan's tables costs more than the rest of a view)."""

    plan: CommissioningPlan
    body: Markup | None = None

    def page_body(self) -> Markup:
        if self.body is None:
            self.body = sections_html(lay_out(self.plan))
        return self.body


def operational_stamp(session: Session) -> tuple[Any, ...]:
    """What changes whenever a figure of the plan could: every change to a care plan, its
    goals, needs or actions bumps the plan's version (`careplan.versioning`), every referral
    move bumps the referral's, unmet need is only ever added, and a person linked to the
    analytic record changes who is counted. One round trip of aggregates."""
    parts = (
        select(func.count(CarePlan.id)),
        select(func.coalesce(func.sum(CarePlan.version), 0)),
        select(func.count(Referral.id)),
        select(func.coalesce(func.sum(Referral.version), 0)),
        select(func.coalesce(func.max(UnmetNeed.id), 0)),
        select(func.count(Person.patient_id)),
    )
    return tuple(session.execute(select(*(p.scalar_subquery() for p in parts))).one())


def _build(
    services: Services,
    results: AnalyticResults,
    stored: tuple[str, Any],
    run_id: str,
    as_of: dt.date,
    area: Area,
) -> KeptPlan:
    """The plan, over the store's read-only connection and the operational store; kept while
    neither store changes (`stored`: the analytic store's path and stamp, read once a view)."""
    from houseofcare.commissioning.plan import build_plan
    from houseofcare.engine import DuckDBEngine

    with services.factory() as session:
        key = (*stored, operational_stamp(session), run_id, area)
        return _PLANS.get(
            key,
            lambda: KeptPlan(build_plan(DuckDBEngine(results.con), session, run_id, as_of, area)),
        )
