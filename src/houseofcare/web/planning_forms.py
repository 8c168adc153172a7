"""The care-planning forms as typed input, checked before anything is written.

Each form is read whole and every mistake is named against its field (the NHS.UK error
summary links to it), so a refused submission writes nothing and the user sees all that
needs mending at once. The entries are kept as typed, to be shown again in the form.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from houseofcare.api.inputs import control_character
from houseofcare.careplan.measures import Measure, packaged_measures
from houseofcare.store.models import NeedDomain, Performer

#: How many goals, actions and needs the conversation form offers (blank rows are left out);
#: more are added by recording the conversation again.
ROWS = 2
#: The longest free text a field takes.
LONGEST = 2000

#: The words the form shows for the store's codes.
PERFORMER_WORDS: Mapping[str, str] = {
    Performer.person: "The person",
    Performer.carer: "A carer",
    Performer.professional: "A named professional",
    Performer.service: "A service",
}
DOMAIN_WORDS: Mapping[str, str] = {
    NeedDomain.physical_health: "Physical health",
    NeedDomain.mental_health: "Mental health",
    NeedDomain.self_management: "Looking after myself",
    NeedDomain.social_housing: "Housing",
    NeedDomain.social_finance: "Money",
    NeedDomain.social_loneliness: "Loneliness",
    NeedDomain.social_carer: "Caring for someone",
    NeedDomain.mobility: "Getting about",
    NeedDomain.medicines: "Medicines",
}
#: A target on a measure not in `measures.toml` (its unit is then typed).
OTHER_MEASURE = "other"

Errors = list[tuple[str, str]]


def measures_by_id() -> dict[str, Measure]:
    return {m.id: m for m in packaged_measures()}


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _free_text(form: Mapping[str, Any], name: str, label: str, errors: Errors) -> str:
    """A text field as typed (stripped), with its mistakes named."""
    value = _text(form, name)
    if control_character(value.replace("\n", "").replace("\r", "").replace("\t", "")):
        errors.append((name, f"{label} contains a character that cannot be typed"))
    elif len(value) > LONGEST:
        errors.append((name, f"{label} must be {LONGEST} characters or fewer"))
    return value


@dataclass(frozen=True)
class DateEntry:
    """A date as typed in the NHS.UK date input (day, month, year boxes)."""

    day: str = ""
    month: str = ""
    year: str = ""

    @property
    def blank(self) -> bool:
        return not (self.day or self.month or self.year)

    def as_values(self) -> dict[str, str]:
        return {"day": self.day, "month": self.month, "year": self.year}


def date_entry(form: Mapping[str, Any], name: str) -> DateEntry:
    return DateEntry(
        _text(form, f"{name}[day]"), _text(form, f"{name}[month]"), _text(form, f"{name}[year]")
    )


def read_date(
    form: Mapping[str, Any], name: str, label: str, errors: Errors, *, required: bool
) -> dt.date | None:
    """The date in the boxes `name[day]`, `name[month]`, `name[year]`, or None with the
    mistake named (the summary links to the day box, as the NHS.UK pattern does)."""
    entry = date_entry(form, name)
    anchor = f"{name}-day"
    if entry.blank:
        if required:
            errors.append((anchor, f"Enter the {label.lower()}"))
        return None
    try:
        return dt.date(int(entry.year), int(entry.month), int(entry.day))
    except ValueError:
        errors.append((anchor, f"{label} must be a real date, like 31 3 2027"))
        return None


@dataclass
class GoalEntry:
    text: str = ""
    measure: str = ""
    value: str = ""
    unit: str = ""
    other: str = ""
    due: DateEntry = field(default_factory=DateEntry)


@dataclass
class ActionEntry:
    what: str = ""
    who: str = ""
    name: str = ""
    by: DateEntry = field(default_factory=DateEntry)


@dataclass
class NeedEntry:
    domain: str = ""
    text: str = ""


@dataclass
class ConversationEntries:
    """The conversation form as typed (shown again after a mistake or a stale version)."""

    version: int = 0
    goals: list[GoalEntry] = field(default_factory=lambda: [GoalEntry() for _ in range(ROWS)])
    actions: list[ActionEntry] = field(default_factory=lambda: [ActionEntry() for _ in range(ROWS)])
    needs: list[NeedEntry] = field(default_factory=lambda: [NeedEntry() for _ in range(ROWS)])
    review: DateEntry = field(default_factory=DateEntry)
    person_took_part: bool = True
    i_took_part: bool = True
    carer: str = ""
    others: str = ""
    agreed: bool = False


@dataclass(frozen=True)
class Conversation:
    """A checked conversation, ready for the services (`careplan/plans.py`)."""

    goals: tuple[dict[str, Any], ...]
    actions: tuple[dict[str, Any], ...]
    needs: tuple[dict[str, Any], ...]
    review_date: dt.date
    participants: tuple[dict[str, Any], ...]
    agreed_with_person: bool


def version_of(form: Mapping[str, Any]) -> int:
    """The plan version the form was opened at (0: there was no plan)."""
    try:
        return max(0, int(_text(form, "version")))
    except ValueError:
        return -1


def _goal(form: Mapping[str, Any], n: int, errors: Errors) -> tuple[GoalEntry, dict | None]:
    entry = GoalEntry(
        text=_free_text(form, f"goal-{n}-text", f"Goal {n}", errors),
        measure=_text(form, f"goal-{n}-measure"),
        value=_text(form, f"goal-{n}-value"),
        unit=_text(form, f"goal-{n}-unit"),
        other=_text(form, f"goal-{n}-other"),
        due=date_entry(form, f"goal-{n}-due"),
    )
    due = read_date(form, f"goal-{n}-due", f"Goal {n} target date", errors, required=False)
    targeted = entry.measure or entry.value or entry.other or not entry.due.blank
    if not entry.text:
        if targeted:
            errors.append((f"goal-{n}-text", f"Write goal {n} in the person's own words"))
        return entry, None
    goal: dict[str, Any] = {"what_matters_to_me": entry.text}
    if not targeted:
        return entry, goal
    known = measures_by_id()
    if entry.measure not in known and entry.measure != OTHER_MEASURE:
        errors.append((f"goal-{n}-measure", f"Choose the measure of goal {n}'s target"))
        return entry, None
    try:
        value = float(entry.value)
    except ValueError:
        errors.append((f"goal-{n}-value", f"Goal {n}'s target must be a number, like 58"))
        return entry, None
    if entry.measure == OTHER_MEASURE:
        label = _free_text(form, f"goal-{n}-other", f"Goal {n}'s measure", errors)
        if not label:
            errors.append((f"goal-{n}-other", f"Name the measure of goal {n}'s target"))
        unit = entry.unit
    else:
        # a measure of the results letter has one unit: values mean nothing in another
        label, unit = known[entry.measure].label, known[entry.measure].unit
    goal |= {
        "target_measure": label[:100],
        "target_value": value,
        "target_unit": unit[:32] or None,
        "target_due": due,
    }
    return entry, goal


def _action(form: Mapping[str, Any], n: int, errors: Errors) -> tuple[ActionEntry, dict | None]:
    entry = ActionEntry(
        what=_free_text(form, f"action-{n}-what", f"Action {n}", errors),
        who=_text(form, f"action-{n}-who"),
        name=_free_text(form, f"action-{n}-name", f"Action {n}'s name", errors),
        by=date_entry(form, f"action-{n}-by"),
    )
    by = read_date(form, f"action-{n}-by", f"Action {n}'s date", errors, required=False)
    if not entry.what:
        if entry.name or not entry.by.blank:
            errors.append((f"action-{n}-what", f"Say what action {n} is"))
        return entry, None
    if entry.who not in PERFORMER_WORDS:
        errors.append((f"action-{n}-who", f"Choose who does action {n}"))
        return entry, None
    if entry.who != Performer.person and not entry.name:
        errors.append((f"action-{n}-name", f"Name the {entry.who} who does action {n}"))
        return entry, None
    action: dict[str, Any] = {"performer": entry.who, "description": entry.what, "due_date": by}
    if entry.name:
        action["performer_name"] = entry.name[:200]
    return entry, action


def _need(form: Mapping[str, Any], n: int, errors: Errors) -> tuple[NeedEntry, dict | None]:
    entry = NeedEntry(
        domain=_text(form, f"need-{n}-domain"),
        text=_free_text(form, f"need-{n}-text", f"Need {n}", errors),
    )
    if not entry.text:
        if entry.domain:
            errors.append((f"need-{n}-text", f"Describe need {n}"))
        return entry, None
    if entry.domain not in DOMAIN_WORDS:
        errors.append((f"need-{n}-domain", f"Choose the part of life need {n} is about"))
        return entry, None
    return entry, {"domain": entry.domain, "description": entry.text}


def read_conversation(
    form: Mapping[str, Any], *, person_name: str, user_name: str, user_id: int | None
) -> tuple[ConversationEntries, Conversation | None, Errors]:
    """The conversation form: what was typed, the checked conversation (None if any field
    is wrong) and the mistakes, each naming its field."""
    errors: Errors = []
    entries = ConversationEntries(version=version_of(form))
    goals, actions, needs = [], [], []
    for n in range(1, ROWS + 1):
        entries.goals[n - 1], goal = _goal(form, n, errors)
        entries.actions[n - 1], action = _action(form, n, errors)
        entries.needs[n - 1], need = _need(form, n, errors)
        goals += [goal] if goal else []
        actions += [action] if action else []
        needs += [need] if need else []
    if not goals and not any(e[0].startswith("goal-") for e in errors):
        errors.insert(0, ("goal-1-text", "Write at least one goal in the person's own words"))
    entries.review = date_entry(form, "review_date")
    review = read_date(form, "review_date", "Review date", errors, required=True)
    if review is not None and review <= dt.date.today():
        errors.append(("review_date-day", "The review date must be in the future"))
    took_part = form.getlist("took_part") if hasattr(form, "getlist") else form.get("took_part", [])
    entries.person_took_part = "person" in took_part
    entries.i_took_part = "me" in took_part
    entries.carer = _free_text(form, "carer", "The carer's name", errors)
    entries.others = _free_text(form, "others", "Others who took part", errors)
    participants: list[dict[str, Any]] = []
    if entries.person_took_part:
        participants.append({"role": "person", "name": person_name})
    if entries.i_took_part:
        participants.append({"role": "professional", "name": user_name, "user_id": user_id})
    if entries.carer:
        participants.append({"role": "carer", "name": entries.carer[:200]})
    for other in (o.strip() for o in entries.others.replace("\n", ",").split(",")):
        if other:
            participants.append({"role": "other", "name": other[:200]})
    if not participants:
        errors.append(("took_part", "Say who took part in the conversation"))
    entries.agreed = _text(form, "agreed") == "yes"
    if not entries.agreed:
        errors.append(("agreed", "Confirm the person agreed this plan with you"))
    elif not entries.person_took_part:
        errors.append(("took_part", "The person must take part to agree their plan"))
    if entries.version < 0:
        errors.append(("", "The form was damaged: open it again"))
    if errors or review is None:
        return entries, None, errors
    conversation = Conversation(
        goals=tuple(goals),
        actions=tuple(actions),
        needs=tuple(needs),
        review_date=review,
        participants=tuple(participants),
        agreed_with_person=True,
    )
    return entries, conversation, errors


@dataclass
class ReviewEntries:
    version: int = 0
    next_review: DateEntry = field(default_factory=DateEntry)
    note: str = ""


def read_review(form: Mapping[str, Any]) -> tuple[ReviewEntries, dt.date | None, Errors]:
    """The review form: the next review date (after today) and an optional note."""
    errors: Errors = []
    entries = ReviewEntries(
        version=version_of(form),
        next_review=date_entry(form, "next_review"),
        note=_free_text(form, "note", "The review note", errors),
    )
    when = read_date(form, "next_review", "Next review date", errors, required=True)
    if when is not None and when <= dt.date.today():
        errors.append(("next_review-day", "The next review date must be in the future"))
        when = None
    if entries.version < 1:
        errors.append(("", "The form was damaged: open it again"))
    return entries, (None if errors else when), errors


def read_sent(form: Mapping[str, Any]) -> tuple[DateEntry, dt.date | None, Errors]:
    """The "marked sent" form: the date the letter was sent (today or before)."""
    errors: Errors = []
    when = read_date(form, "sent_on", "Date sent", errors, required=True)
    if when is not None and when > dt.date.today():
        errors.append(("sent_on-day", "The date sent cannot be in the future"))
        when = None
    return date_entry(form, "sent_on"), (None if errors else when), errors
