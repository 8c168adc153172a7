"""The practice team's worklists: care gaps per indicator with achievement, and the recall list.

Thin over the services `hoc recall` uses: whom the user may list is `careplan.access.
people_scope` for `caregap.read` (the same decision as the API and the CLI), narrowed to the
user's own practice; the figures are `population.indicators.achievement` and `recall_list`
over the latest pipeline run; each view and each CSV export appends an audit event naming the
user, the run and how many people it showed, as `hoc recall` does (`export` for the CSV).
A refusal is audited too, and shows nothing.

The page also lists the practice's care plans due for review (`careplan.lists.
practice_due_reviews`, from the operational store): people registered at the user's own
practice whom they may open, most overdue first, each disclosed person audited as the API's
due-review list does (`DueReview`, one event per person shown).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb

from houseofcare.api.deps import Services
from houseofcare.careplan.access import people_scope
from houseofcare.careplan.lists import DueReview, practice_due_reviews
from houseofcare.careplan.policy import Action
from houseofcare.engine import DuckDBEngine
from houseofcare.people_scope import PeopleScope
from houseofcare.population.indicators import (
    achievement,
    packaged_indicator_rules,
    recall_list,
)
from houseofcare.sql_text import sql_literal
from houseofcare.store.audit import record_audit, record_audit_now
from houseofcare.store.database import transaction
from houseofcare.store.models import AuditOutcome, Organisation
from houseofcare.web.page import guard
from houseofcare.web.runs import RunStatus, latest_run, store_stamp
from houseofcare.web.session import PageSession
from houseofcare.web.store_memo import StoreMemo

#: Rows of the recall list shown on the page (the CSV has them all).
PAGE_ROWS = 100
#: Care plans due for review shown on the page (each one shown is an audited disclosure).
DUE_ROWS = 50
UNREADABLE = (
    "The analytic store cannot be read now (a pipeline run may be writing it); try again shortly."
)


class WorklistRefused(Exception):
    """The user may not see the practice worklists (audited); the reason is shown."""


@dataclass(frozen=True)
class Achievement:
    indicator: str
    name: str
    met: int
    not_met: int
    excluded: int
    percent: float | None


@dataclass(frozen=True)
class Recall:
    nhs_number: str
    indicator: str
    name: str
    overdue_since: Any
    evidence_code: str | None
    evidence_date: Any
    evidence_value: Any


@dataclass
class Worklist:
    """What the worklists page shows, for one practice and the latest run."""

    practice_code: str
    practice_name: str
    run: RunStatus
    indicator: str | None
    achievement: list[Achievement] = field(default_factory=list)
    recall: list[Recall] = field(default_factory=list)
    recall_total: int = 0
    due: list[DueReview] = field(default_factory=list)
    #: More plans are due than the page shows.
    due_more: bool = False


def indicator_names() -> dict[str, str]:
    """Indicator id → its name (the rules file, `population/rules`)."""
    return {i.id: i.name for i in packaged_indicator_rules().indicators}


def _who(signed_in: PageSession) -> dict[str, Any]:
    user = signed_in.user
    return {"user_id": user.user_id, "username": user.username, "role": user.role}


def practice_scope(
    services: Services, signed_in: PageSession, audit_action: str
) -> tuple[PeopleScope, Organisation]:
    """The user's own practice and whom in it they may list, or `WorklistRefused` (audited).

    The worklists are the practice team's: a user whose `caregap.read` grant does not cover
    their own practice's registered people (a case manager, a patient, …) is refused here,
    even where `hoc recall` would list their caseload.
    """
    actor = signed_in.actor
    with services.factory() as session:
        scope = people_scope(session, services.policy, actor, Action.caregap_read)
        practice = (
            None
            if actor.organisation_id is None
            else session.get(Organisation, actor.organisation_id)
        )
    if practice is None or practice.ods_code not in scope.practices:
        reason = (
            f"role {actor.role.value} may not see a practice's care gaps and recall list: "
            "the worklists are for the practice team"
        )
        record_audit_now(
            services.factory,
            action=audit_action,
            resource_type="recall",
            outcome=AuditOutcome.denied,
            detail={"reason": reason, "via": "pages"},
            **_who(signed_in),
        )
        raise WorklistRefused(reason)
    own = PeopleScope(practices=frozenset({practice.ods_code}))
    return own, practice


@contextmanager
def _engine(services: Services) -> Iterator[DuckDBEngine]:
    from houseofcare.store.analytic import connect

    con = connect(services.settings, read_only=True)
    try:
        yield DuckDBEngine(con)
    finally:
        con.close()


def worklist(services: Services, signed_in: PageSession, indicator: str | None) -> Worklist:
    """The practice's achievement per indicator and its recall list (first `PAGE_ROWS`),
    from the latest run; audited as a `search` of the recall list."""
    scope, practice = practice_scope(services, signed_in, "search")
    run = latest_run(services.settings)
    names = indicator_names()
    chosen = indicator if indicator in names else None
    result = Worklist(
        practice_code=practice.ods_code, practice_name=practice.name, run=run, indicator=chosen
    )
    if run.run_id is not None:
        try:
            _fill(result, services, run.run_id, scope)
        except duckdb.Error:
            # a run being written holds the store: say so rather than fail the page
            result.run = RunStatus(missing=UNREADABLE)
            result.achievement, result.recall, result.recall_total = [], [], 0
    checker = guard(signed_in, services)
    with transaction(services.factory) as session:
        checker.authorise(
            session, Action.reviews_read, None, audit_action="search", resource_type="DueReview"
        )
        result.due, result.due_more = practice_due_reviews(
            session,
            practice.id,
            visible=checker.visible_people(Action.careplan_read),
            limit=DUE_ROWS,
        )
        checker.audit_people(
            session, (d.person_id for d in result.due), action="search", resource_type="DueReview"
        )
        record_audit(
            session,
            action="search",
            resource_type="recall",
            detail={
                "via": "pages",
                "run": run.run_id,
                "practice": practice.ods_code,
                "indicator": chosen,
                "rows": len(result.recall),
                "people": len({r.nhs_number for r in result.recall}),
            },
            **_who(signed_in),
        )
    return result


@dataclass(frozen=True)
class _Figures:
    achievement: tuple[Achievement, ...]
    recall: tuple[Recall, ...]
    recall_total: int


#: A run's figures for one practice and indicator, kept per process while the store is
#: unchanged (its stamp: names and NHS numbers come from the clinical tables, which an ingest
#: may change without a run); reading them costs far more than the page's other work. The
#: view is audited every time.
_FIGURES: StoreMemo[_Figures] = StoreMemo(kept=64)


def _figures(
    services: Services, run_id: str, practice_code: str, indicator: str | None
) -> _Figures:
    path = services.settings.analytic_db_path
    key = (str(path), store_stamp(path), run_id, practice_code, indicator)
    return _FIGURES.get(key, lambda: _read_figures(services, run_id, practice_code, indicator))


def _read_figures(
    services: Services, run_id: str, practice_code: str, indicator: str | None
) -> _Figures:
    names = indicator_names()
    scope = PeopleScope(practices=frozenset({practice_code}))
    with _engine(services) as engine:
        code = sql_literal(practice_code)
        rows = achievement(engine, run_id, disclosure_controlled=False).where(
            f"practice_id = {code}"
        )
        shown = sorted(
            (
                Achievement(ind, names.get(ind, ind), met, not_met, excluded, percent)
                for _, ind, met, not_met, excluded, percent in rows.rows()
            ),
            key=lambda a: a.indicator,
        )
        listed = recall_list(engine, run_id, practice_code, indicator, scope=scope).rows()
    return _Figures(
        achievement=tuple(shown),
        recall=tuple(
            Recall(r[2], r[3], names.get(r[3], r[3]), r[4], r[5], r[6], r[7])
            for r in listed[:PAGE_ROWS]
        ),
        recall_total=len(listed),
    )


def _fill(result: Worklist, services: Services, run_id: str, scope: PeopleScope) -> None:
    """Achievement per indicator and the recall list of `result`'s practice, from `run_id`.

    `scope` is the user's own practice (`practice_scope`): the figures are the practice's."""
    figures = _figures(services, run_id, result.practice_code, result.indicator)
    result.achievement = list(figures.achievement)
    result.recall = list(figures.recall)
    result.recall_total = figures.recall_total


def recall_csv(
    services: Services, signed_in: PageSession, indicator: str | None
) -> tuple[str, int] | None:
    """The whole recall list of the user's practice as CSV text and its row count (None when
    there is no run yet); audited as an `export`, as `hoc recall --csv` is."""
    scope, practice = practice_scope(services, signed_in, "export")
    run = latest_run(services.settings)
    chosen = indicator if indicator in indicator_names() else None
    if run.run_id is None:
        _export_missing(services, signed_in, run.missing)
        return None
    path = services.settings.analytic_db_path
    key = (str(path), store_stamp(path), run.run_id, practice.ods_code, chosen)
    try:
        csv_text, count = _EXPORTS.get(
            key, lambda: _read_export(services, str(run.run_id), practice.ods_code, chosen, scope)
        )
    except duckdb.Error:
        _export_missing(services, signed_in, UNREADABLE)
        return None
    with transaction(services.factory) as session:
        record_audit(
            session,
            action="export",
            resource_type="recall",
            detail={
                "via": "pages",
                "run": run.run_id,
                "practice": practice.ods_code,
                "indicator": chosen,
                "rows": count,
            },
            **_who(signed_in),
        )
    return csv_text, count


def _export_missing(services: Services, signed_in: PageSession, why: str | None) -> None:
    """An export asked for when there is no list to give (no run, or the store cannot be
    read) is audited too: nothing was disclosed, but the attempt is on the trail."""
    record_audit_now(
        services.factory,
        action="export",
        resource_type="recall",
        outcome=AuditOutcome.not_found,
        detail={"via": "pages", "reason": why or "no pipeline run"},
        **_who(signed_in),
    )


#: A run's whole recall list of one practice as CSV, kept per process like `_FIGURES`: an
#: export of thousands of rows is written once while the store is unchanged, not once per
#: request. Every export is audited.
_EXPORTS: StoreMemo[tuple[str, int]] = StoreMemo(kept=8)


def _read_export(
    services: Services,
    run_id: str,
    practice_code: str,
    indicator: str | None,
    scope: PeopleScope,
) -> tuple[str, int]:
    with _engine(services) as engine:
        query = recall_list(engine, run_id, practice_code, indicator, scope=scope)
        columns, rows = query.columns, query.rows()
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(columns)
    writer.writerows(rows)
    return text.getvalue(), len(rows)
