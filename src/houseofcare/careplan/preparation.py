"""Year of Care preparation: the person's results summary, sent before the conversation.

The summary comes from one analytic pipeline run (the latest unless named), read-only:
the person's latest value of each measure in `measures.toml` with what it means in plain
language, their open care gaps, and their risk level when the run has one. It is stored
with the preparation as sent, so the person and the professional talk about the same page
even after later runs. The person (or the professional with them) then adds "what I want to
talk about".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
from sqlalchemy import select
from sqlalchemy.orm import Session

from houseofcare.careplan.actor import Actor
from houseofcare.careplan.errors import InvalidChange, NotFound
from houseofcare.careplan.measures import Measure, packaged_measures
from houseofcare.careplan.people import get_person
from houseofcare.population.events import READING_SQL
from houseofcare.results import AnalyticResults, ResultsUnavailable
from houseofcare.settings import Settings
from houseofcare.store.models import CarePlan, Preparation
from houseofcare.store.types import utcnow
from houseofcare.terminology.codelist import packaged_codelists


class NoAnalyticRun(LookupError):
    """The analytic store has no pipeline run (or not the one asked for)."""


@dataclass(frozen=True)
class MeasureResult:
    measure: str
    label: str
    value: float
    unit: str
    date: str | None
    meaning: str
    about: str


@dataclass(frozen=True)
class CareGapItem:
    indicator: str
    name: str
    overdue_since: str | None


@dataclass(frozen=True)
class RiskLevel:
    """The person's place on the triangle and/or their risk score in the run, as found."""

    level: str | None
    score: float | None
    source: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ResultsSummary:
    patient_id: str
    run_id: str
    as_of: str | None
    measures: tuple[MeasureResult, ...]
    care_gaps: tuple[CareGapItem, ...]
    risk: RiskLevel | None

    def to_json(self) -> dict[str, Any]:
        """The summary as plain JSON (what `Preparation.summary` stores)."""
        return asdict(self)


def results_summary(
    results: AnalyticResults,
    patient_id: str,
    *,
    run_id: str | None = None,
    measures: Sequence[Measure] | None = None,
) -> ResultsSummary:
    """The person's results summary from `run_id` (default: the latest run).

    Raises `NoAnalyticRun` if there is no such run. A risk level is included only when the
    run placed the person on the triangle or scored their risk; otherwise it is None.
    """
    run = results.run(run_id)
    if run is None:
        if not results.has("run"):
            raise NoAnalyticRun("the analytic store has no pipeline run; run `hoc run` first")
        raise NoAnalyticRun(f"no pipeline run {run_id!r}" if run_id else "no pipeline run yet")
    chosen = tuple(measures or packaged_measures())
    return ResultsSummary(
        patient_id=patient_id,
        run_id=run.run_id,
        as_of=None if run.as_of is None else run.as_of.isoformat(),
        measures=_latest_measures(results.con, patient_id, run.as_of, chosen),
        care_gaps=_open_care_gaps(results, patient_id, run.run_id),
        risk=_risk_level(results, patient_id, run.run_id),
    )


def read_results_summary(
    settings: Settings, patient_id: str, *, run_id: str | None = None
) -> ResultsSummary:
    """`results_summary` on the project's analytic store, opened read-only."""
    try:
        with AnalyticResults.open(settings) as results:
            return results_summary(results, patient_id, run_id=run_id)
    except ResultsUnavailable as exc:
        raise NoAnalyticRun(str(exc)) from None


def prepare(
    session: Session,
    person_id: int,
    actor: Actor,
    *,
    settings: Settings | None = None,
    summary: ResultsSummary | None = None,
    run_id: str | None = None,
) -> Preparation:
    """Record a preparation for the person with their results summary (not yet sent).

    Give `summary` (already read) or `settings` to read it from the analytic store.
    """
    person = get_person(session, person_id)
    if summary is None:
        if person.patient_id is None:
            raise InvalidChange(
                "patient_id", f"person {person_id} is not linked to an analytic record"
            )
        if settings is None:
            raise InvalidChange("settings", "give settings or a summary")
        summary = read_results_summary(settings, person.patient_id, run_id=run_id)
    elif person.patient_id is not None and summary.patient_id != person.patient_id:
        # the summary of someone else must never be filed under this person
        raise InvalidChange(
            "summary",
            f"summary is for analytic patient {summary.patient_id!r}, "
            f"but person {person_id} is {person.patient_id!r}",
        )
    plan_id = session.scalar(
        select(CarePlan.id).where(CarePlan.person_id == person_id, CarePlan.status == "active")
    )
    record = Preparation(
        person_id=person_id,
        care_plan_id=plan_id,
        run_id=summary.run_id,
        summary=summary.to_json(),
        prepared_at=utcnow(),
        prepared_by_id=actor.user_id,
    )
    session.add(record)
    session.flush()
    return record


def get_preparation(session: Session, preparation_id: int) -> Preparation:
    record = session.get(Preparation, preparation_id)
    if record is None:
        raise NotFound("Preparation", preparation_id)
    return record


def latest_preparation(session: Session, person_id: int) -> Preparation | None:
    """The person's most recent preparation, or None."""
    return session.scalar(
        select(Preparation)
        .where(Preparation.person_id == person_id)
        .order_by(Preparation.prepared_at.desc(), Preparation.id.desc())
        .limit(1)
    )


def mark_summary_sent(
    session: Session, preparation_id: int, actor: Actor, *, sent_on: dt.date | None = None
) -> Preparation:
    """Record the date the results summary was sent to the person (default today)."""
    record = get_preparation(session, preparation_id)
    day = sent_on or utcnow().date()
    if day < record.prepared_at.date():
        raise InvalidChange("sent_on", "cannot be before the summary was prepared")
    record.sent_on = day
    record.sent_by_id = actor.user_id
    session.flush()
    return record


def add_talking_points(
    session: Session, preparation_id: int, text: str, actor: Actor
) -> Preparation:
    """Set "what I want to talk about" (by the person, or the professional with them).

    Writing again replaces the text; who wrote it and when are kept with it.
    """
    record = get_preparation(session, preparation_id)
    if not isinstance(text, str) or not text.strip():
        raise InvalidChange("talk_about", "must not be empty")
    record.talk_about = text.strip()
    record.talk_about_by_id = actor.user_id
    record.talk_about_at = utcnow()
    session.flush()
    return record


# --- Reading the analytic store ----------------------------------------------------------------


def _latest_measures(
    con: duckdb.DuckDBPyConnection,
    patient_id: str,
    as_of: dt.date | None,
    measures: Sequence[Measure],
) -> tuple[MeasureResult, ...]:
    codelists = packaged_codelists()
    pairs = [(m.id, code) for m in measures for code in sorted(m.all_codes(codelists))]
    # values come converted to their canonical unit, unusable ones as NULL (population/events.py)
    rows = con.execute(
        f"""
        SELECT m.measure_id, o.value_number, o.event_date
        FROM ({READING_SQL}) AS o
        JOIN (SELECT unnest($ids) AS measure_id, unnest($codes) AS code) AS m
          ON m.code = o.code
        WHERE o.patient_id = $patient_id
          AND o.value_number IS NOT NULL
          AND ($as_of IS NULL OR o.event_date <= $as_of)
        QUALIFY row_number() OVER (
            PARTITION BY m.measure_id ORDER BY o.event_date DESC, o.value_number DESC
        ) = 1
        """,
        {
            "ids": [p[0] for p in pairs],
            "codes": [p[1] for p in pairs],
            "patient_id": patient_id,
            "as_of": as_of,
        },
    ).fetchall()
    latest = {measure_id: (value, date) for measure_id, value, date in rows}
    results = []
    for measure in measures:  # the file's order: a handful of measures, not rows
        if measure.id not in latest:
            continue
        value, date = latest[measure.id]
        results.append(
            MeasureResult(
                measure=measure.id,
                label=measure.label,
                value=float(value),
                unit=measure.unit,
                date=None if date is None else date.isoformat(),
                meaning=measure.meaning(float(value)),
                about=measure.about,
            )
        )
    return tuple(results)


def _open_care_gaps(
    results: AnalyticResults, patient_id: str, run_id: str
) -> tuple[CareGapItem, ...]:
    from houseofcare.population.indicators import packaged_indicator_rules

    gaps = results.care_gaps(run_id, patient_id, open_only=True)
    if not gaps:
        return ()
    names = {rule.id: rule.name for rule in packaged_indicator_rules().indicators}
    return tuple(
        CareGapItem(
            indicator=gap.indicator,
            name=names.get(gap.indicator, gap.indicator),
            overdue_since=None if gap.overdue_since is None else gap.overdue_since.isoformat(),
        )
        for gap in gaps
    )


def _risk_level(results: AnalyticResults, patient_id: str, run_id: str) -> RiskLevel | None:
    """The person's level on the triangle and risk score in this run, with what they were
    read from (`source`: the stored columns, kept with the summary as sent)."""
    level = results.level(run_id, patient_id)
    risk = results.risk(run_id, patient_id)
    if level is None and risk is None:
        return None
    found: dict[str, Any] = {}
    if level is not None:
        found |= {"tier.level": level.level, "tier.reason": level.reason}
    if risk is not None:
        found |= {f"risk_score.{k}": _json_safe(v) for k, v in risk.columns().items()}
    return RiskLevel(
        level=None if level is None else str(level.level),
        score=None if risk is None else risk.risk,
        source=found,
    )


def _json_safe(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
