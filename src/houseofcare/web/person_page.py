"""One person's page: who they are, their conditions, results over time, medicines, contacts,
risk, level, open care gaps and their care plan, each shown only as far as the user may see.

Opening the page is `patient.read` on the person, decided and audited by the one guard
(`careplan.guard`); each section is then decided by the same policy on the same relationships
(`SECTION_ACTIONS`), so a social worker with the person's consent sees who the person is and
their care plan, but not the clinical record (`record.read`: conditions, medicines, contacts),
results, risk or care gaps their role is not granted. Figures come from the
latest pipeline run, read through `houseofcare.results` (readings through the unit-aware
event layer, in canonical units); one audit event records each view, with the run and the
sections shown.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, Final

import duckdb
from sqlalchemy.orm import Session

from houseofcare.api.deps import Services
from houseofcare.careplan.access import decide, relationships_to
from houseofcare.careplan.guard import AccessRefused
from houseofcare.careplan.measures import Measure, packaged_measures
from houseofcare.careplan.plans import active_care_plan
from houseofcare.careplan.policy import Action
from houseofcare.population.person_readings import READINGS_YEARS, years_before
from houseofcare.population.rules import packaged_register_rules
from houseofcare.results import (
    AnalyticResults,
    Contact,
    EncounterKindRow,
    Level,
    Medicine,
    Reading,
    ResultsUnavailable,
    Risk,
)
from houseofcare.risk.features import packaged_feature_spec
from houseofcare.store.database import transaction
from houseofcare.store.models import AuditOutcome, Person
from houseofcare.terminology.codelist import packaged_codelists
from houseofcare.web.charts import Chart, line_chart
from houseofcare.web.page import guard
from houseofcare.web.person_banner import PersonBanner
from houseofcare.web.runs import RunStatus, latest_run
from houseofcare.web.session import PageSession
from houseofcare.web.worklists import UNREADABLE, indicator_names

__all__ = ["AccessRefused", "PersonNotFound", "PersonView", "person_view"]

RESOURCE_TYPE: Final = "Patient"

#: Each section of the page and the policy action that must allow it for this person. The
#: record itself (conditions, medicines, contacts) is `patient.read`, "see a person's
#: record"; results over time are what the results summary shows (`preparation.read`); risk
#: and the level placed by it are `risk.read`; care gaps `caregap.read`; the plan and its
#: goals `careplan.read` and `goal.read`.
SECTION_ACTIONS: Final[dict[str, Action]] = {
    "registers": Action.record_read,
    "measures": Action.preparation_read,
    "medicines": Action.record_read,
    "contacts": Action.record_read,
    "level": Action.risk_read,
    "risk": Action.risk_read,
    "care_gaps": Action.caregap_read,
    "care_plan": Action.careplan_read,
    "goals": Action.goal_read,
}
#: The sections as a user would name them, for "not shown to your role".
SECTION_WORDS: Final[dict[str, str]] = {
    "registers": "conditions",
    "measures": "results over time",
    "medicines": "medicines",
    "contacts": "contacts and admissions",
    "level": "level of care",
    "risk": "risk of an emergency admission",
    "care_gaps": "care gaps",
    "care_plan": "care plan",
    "goals": "goals",
}

#: How far back the page looks, up to the run's date (readings: as far as the run keeps them).
CONTACTS_YEARS: Final = 2
CONTACTS_SHOWN: Final = 50
EARLIER_MEDICINES_SHOWN: Final = 20

#: The encounter kinds (`risk/features.toml`) in words.
KIND_WORDS: Final[dict[str, str]] = {
    "emergency_admission": "Emergency admission",
    "elective_admission": "Planned admission",
    "ae_attendance": "A&E attendance",
    "outpatient_visit": "Outpatient follow-up",
    "gp_contact": "GP contact",
}
#: Kinds shown as admissions (with their length of stay) and highlighted.
ADMISSIONS: Final = frozenset({"emergency_admission", "elective_admission"})

LEVEL_WORDS: Final[dict[int, str]] = {
    3: "Level 3: case management",
    2: "Level 2: disease-specific care management",
    1: "Level 1: supported self care",
    0: "Prevention",
}

#: Why a reading was left out (the event layer's `value_problem`), in words.
PROBLEM_WORDS: Final[dict[str, str]] = {
    "unknown unit": "Left out: recorded in a unit that cannot be converted",
    "no unit": "Left out: recorded with no unit",
    "implausible": "Left out: not a plausible value",
}


@dataclass(frozen=True)
class ChartSpec:
    """One chart of the page: its measures (`careplan/measures.toml` ids) and their line
    labels, drawn on shared axes (systolic and diastolic together)."""

    id: str
    title: str
    measures: tuple[tuple[str, str], ...]
    #: Decimal places a value is shown with.
    decimals: int = 0


CHARTS: Final = (
    ChartSpec("bp", "Blood pressure", (("systolic_bp", "Systolic"), ("diastolic_bp", "Diastolic"))),
    ChartSpec("hba1c", "HbA1c", (("hba1c", "HbA1c"),)),
    ChartSpec("egfr", "eGFR (kidney function)", (("egfr", "eGFR"),)),
    ChartSpec("bmi", "Body mass index (BMI)", (("bmi", "BMI"),), decimals=1),
)


class PersonNotFound(LookupError):
    """No person has this id (the look-up is audited)."""


@dataclass(frozen=True)
class ReadingRow:
    date: dt.date | None
    label: str
    #: The value with its unit, or None when the reading was left out.
    value: str | None
    problem: str | None


@dataclass(frozen=True)
class MeasureChart:
    id: str
    title: str
    unit: str
    chart: Chart | None
    #: Every reading, most recent first (left-out ones included, without a number).
    rows: tuple[ReadingRow, ...]
    #: The latest usable value per line, for the chart's text alternative.
    summary: str


@dataclass(frozen=True)
class ContactRow:
    start: dt.datetime | None
    end: dt.datetime | None
    kind: str | None
    what: str
    detail: str | None
    admission: bool
    nights: int | None


@dataclass(frozen=True)
class PlanSummary:
    plan_id: int
    title: str
    status: str
    version: int
    review_date: dt.date | None
    last_reviewed_at: dt.datetime | None
    agreed_with_person: bool
    #: "What matters to me" of each goal, with its status (empty when goals are not shown).
    goals: tuple[tuple[str, str], ...]


@dataclass
class Record:
    """What the latest run says about the person (each part only if its section is shown)."""

    registers: list[tuple[str, dt.date | None, dt.date | None]] = field(default_factory=list)
    level: Level | None = None
    risk: Risk | None = None
    care_gaps: list[tuple[str, str, dt.date | None, str | None]] = field(default_factory=list)
    charts: list[MeasureChart] = field(default_factory=list)
    current_medicines: list[Medicine] = field(default_factory=list)
    earlier_medicines: list[Medicine] = field(default_factory=list)
    earlier_medicines_total: int = 0
    contacts: list[ContactRow] = field(default_factory=list)
    readings_since: dt.date | None = None
    contacts_since: dt.date | None = None
    medicines_since: dt.date | None = None


@dataclass
class PersonView:
    """Everything the person page shows."""

    person_id: int
    banner: PersonBanner
    practice: str | None
    shown: frozenset[str]
    run: RunStatus
    plan: PlanSummary | None = None
    #: Why there is no analytic record to show (not linked, no run, store busy), else None.
    record_missing: str | None = None
    record: Record = field(default_factory=Record)

    @property
    def withheld(self) -> list[str]:
        """The sections the user's role may not see, in words."""
        return [SECTION_WORDS[s] for s in SECTION_ACTIONS if s not in self.shown]


def person_view(services: Services, signed_in: PageSession, person_id: int | None) -> PersonView:
    """The person page for `person_id`, or `PersonNotFound` / `AccessRefused` (both audited).

    One audit event (`read` of the Patient, `via: pages`) is written per view, naming the run
    and the sections shown.
    """
    checks = guard(signed_in, services)
    checks.require_identifiable(audit_action="read", resource_type=RESOURCE_TYPE)
    actor = signed_in.actor
    with transaction(services.factory) as session:
        nobody = actor.role is not None and not services.policy.granted(
            actor.role, Action.patient_read
        )
        if person_id is not None and nobody:
            # a role that may open nobody's page learns nothing, not even who exists
            checks.authorise(
                session,
                Action.patient_read,
                person_id,
                audit_action="read",
                resource_type=RESOURCE_TYPE,
                resource_id=person_id,
            )
        person = None if person_id is None else session.get(Person, person_id)
        if person is None or person_id is None:
            checks.audit_now(
                action="read",
                resource_type=RESOURCE_TYPE,
                resource_id=person_id,
                outcome=AuditOutcome.not_found,
                detail={"page": "person"},
            )
            raise PersonNotFound(person_id)
        checks.authorise(
            session,
            Action.patient_read,
            person_id,
            audit_action="read",
            resource_type=RESOURCE_TYPE,
            resource_id=person_id,
        )
        have = relationships_to(session, actor, person_id)
        shown = frozenset(
            section
            for section, action in SECTION_ACTIONS.items()
            if decide(services.policy, actor, action, have).allowed
        )
        view = PersonView(
            person_id=person_id,
            banner=PersonBanner.of(person),
            practice=None if person.practice is None else person.practice.name,
            shown=shown,
            run=RunStatus(),
        )
        if "care_plan" in shown:
            view.plan = _plan_summary(session, person_id, with_goals="goals" in shown)
        patient_id = person.patient_id
    view.run = latest_run(services.settings)
    _fill_record(view, services, patient_id)
    with transaction(services.factory) as session:
        checks.audit(
            session,
            action="read",
            resource_type=RESOURCE_TYPE,
            resource_id=person_id,
            person_id=person_id,
            detail={"page": "person", "run": view.run.run_id, "sections": sorted(shown)},
        )
    return view


def _plan_summary(session: Session, person_id: int, *, with_goals: bool) -> PlanSummary | None:
    plan = active_care_plan(session, person_id)
    if plan is None:
        return None
    goals = (
        tuple((g.what_matters_to_me, g.status.value.replace("-", " ")) for g in plan.goals)
        if with_goals
        else ()
    )
    return PlanSummary(
        plan_id=plan.id,
        title=plan.title,
        status=plan.status.value,
        version=plan.version,
        review_date=plan.review_date,
        last_reviewed_at=plan.last_reviewed_at,
        agreed_with_person=plan.agreed_with_person,
        goals=goals,
    )


def _fill_record(view: PersonView, services: Services, patient_id: str | None) -> None:
    """The date of death for the banner and the analytic sections, from the latest run (or
    why there are none)."""
    if patient_id is None:
        view.record_missing = (
            "This person is not yet linked to a clinical record in the analytic store, so "
            "there are no conditions, results or contacts to show."
        )
        return
    try:
        with AnalyticResults.open(services.settings) as results:
            died = results.death_date(patient_id)
            if died is not None:
                view.banner = replace(view.banner, died=died)
            if view.run.run_id is None or view.run.as_of is None:
                view.record_missing = view.run.missing or "No pipeline run yet: run `hoc run`."
                return
            if view.shown - {"care_plan", "goals"}:
                view.record = _read_record(
                    results, patient_id, view.run.run_id, view.run.as_of, view.shown
                )
    except (ResultsUnavailable, duckdb.Error):
        view.record_missing = view.run.missing or UNREADABLE


def _read_record(
    results: AnalyticResults,
    patient_id: str,
    run_id: str,
    as_of: dt.date,
    shown: frozenset[str],
) -> Record:
    record = Record()
    if "registers" in shown:
        names = {r.id: r.name for r in packaged_register_rules()}
        record.registers = [
            (names.get(e.register, e.register), e.first_recorded, e.latest_recorded)
            for e in results.registers(run_id, patient_id)
        ]
    if "level" in shown:
        record.level = results.level(run_id, patient_id)
    if "risk" in shown:
        record.risk = results.risk(run_id, patient_id)
    if "care_gaps" in shown:
        names = indicator_names()
        record.care_gaps = [
            (names.get(g.indicator, g.indicator), g.indicator, g.overdue_since, g.evidence_value)
            for g in results.care_gaps(run_id, patient_id, open_only=True)
        ]
    if "measures" in shown:
        record.readings_since = years_before(as_of, READINGS_YEARS)
        found = results.run_readings(run_id, as_of, patient_id, _chart_codes())
        record.charts = measure_charts(found)
    if "medicines" in shown:
        months = packaged_feature_spec().medicines_within_months
        record.medicines_since = _months_before(as_of, months)
        medicines = results.medicines(patient_id, until=as_of)
        recent = record.medicines_since
        record.current_medicines = [
            m for m in medicines if m.last_issued is not None and m.last_issued > recent
        ]
        earlier = [m for m in medicines if m.last_issued is None or m.last_issued <= recent]
        record.earlier_medicines = earlier[:EARLIER_MEDICINES_SHOWN]
        record.earlier_medicines_total = len(earlier)
    if "contacts" in shown:
        record.contacts_since = years_before(as_of, CONTACTS_YEARS)
        contacts = results.contacts(
            patient_id,
            encounter_kinds(),
            since=record.contacts_since,
            until=as_of,
            limit=CONTACTS_SHOWN,
        )
        record.contacts = [_contact_row(c) for c in contacts]
    return record


def _months_before(day: dt.date, months: int) -> dt.date:
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


@cache
def _measures() -> Mapping[str, Measure]:
    return {m.id: m for m in packaged_measures()}


@cache
def _chart_codes() -> Mapping[str, frozenset[str]]:
    """Each charted measure's SNOMED CT codes (its codelists in `careplan/measures.toml`)."""
    codelists = packaged_codelists()
    return {
        measure_id: _measures()[measure_id].all_codes(codelists)
        for spec in CHARTS
        for measure_id, _ in spec.measures
    }


@cache
def encounter_kinds() -> tuple[EncounterKindRow, ...]:
    """The risk model's encounter kinds (`risk/features.toml`) as the contacts reader takes
    them: one row per priority and type code."""
    return tuple(
        (k.kind, k.class_code, priority, type_code)
        for k in packaged_feature_spec().encounter_kind
        for priority in (k.priority_codes or (None,))
        for type_code in (k.type_codes or (None,))
    )


def _shown_value(value: float, decimals: int, unit: str) -> str:
    return f"{value:.{decimals}f} {unit}"


def measure_charts(readings: Sequence[Reading]) -> list[MeasureChart]:
    """One chart (with its table) per `CHARTS` entry that has readings; values in each
    measure's canonical unit, left-out readings in the table only."""
    by_measure: dict[str, list[Reading]] = {}
    for reading in readings:
        by_measure.setdefault(reading.measure, []).append(reading)
    charts = []
    for spec in CHARTS:
        if not any(by_measure.get(m) for m, _ in spec.measures):
            continue
        unit = _measures()[spec.measures[0][0]].unit
        series: dict[str, list[tuple[dt.date, float]]] = {}
        rows: list[ReadingRow] = []
        latest: list[str] = []
        for measure_id, label in spec.measures:
            found = by_measure.get(measure_id, [])
            usable = [(r.date, r.value) for r in found if r.value is not None and r.date]
            series[label] = usable
            if usable:
                day, value = usable[-1]
                shown = _shown_value(value, spec.decimals, unit)
                latest.append(f"{label} {shown} on {day:%-d %B %Y}")
            for r in found:
                value_text = None if r.value is None else _shown_value(r.value, spec.decimals, unit)
                problem = None
                if r.value is None:
                    problem = PROBLEM_WORDS.get(r.problem or "", "Left out: cannot be used")
                rows.append(ReadingRow(r.date, label, value_text, problem))
        rows.sort(key=lambda row: (row.date or dt.date.min, row.label), reverse=True)
        count = sum(len(v) for v in series.values())
        summary = (
            f"{count} {'reading' if count == 1 else 'readings'}; latest: " + "; ".join(latest)
            if latest
            else "No reading that can be used"
        )
        charts.append(
            MeasureChart(
                id=spec.id,
                title=spec.title,
                unit=unit,
                chart=line_chart(series),
                rows=tuple(rows),
                summary=summary,
            )
        )
    return charts


def _contact_row(contact: Contact) -> ContactRow:
    admission = contact.kind in ADMISSIONS
    nights = None
    if admission and contact.start is not None and contact.end is not None:
        nights = max((contact.end.date() - contact.start.date()).days, 0)
    return ContactRow(
        start=contact.start,
        end=contact.end,
        kind=contact.kind,
        what=KIND_WORDS.get(contact.kind or "", "Other contact"),
        detail=contact.type_display,
        admission=admission,
        nights=nights,
    )


def template_context(view: PersonView) -> dict[str, Any]:
    """What `person.html` needs besides the layout's chrome."""
    return {
        "p": view,
        "banner": view.banner,
        "run": view.run,
        "level_words": LEVEL_WORDS,
    }
