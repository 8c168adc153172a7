"""A care plan's versions in words: who changed it, when, and what changed.

The history page and the "someone else changed this plan" answer to a stale form both show
these lines, read from the version rows' own diffs (`careplan/versioning.py`), so what a
user is told changed is exactly what the store recorded, never a second comparison.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from houseofcare.store.models import CarePlanVersion, ChangeKind, User

#: What each kind of version row is, in words.
CHANGE_WORDS: Mapping[str, str] = {
    ChangeKind.created: "Plan started",
    ChangeKind.updated: "Plan changed",
    ChangeKind.conversation: "Care-planning conversation recorded",
    ChangeKind.review_date: "Review date set",
    ChangeKind.reviewed: "Plan reviewed",
    ChangeKind.goal: "Goal",
    ChangeKind.action: "Action",
    ChangeKind.need: "Need",
}

#: A plan's fields as the pages name them (fields not listed here are not shown: ids and
#: timestamps that only the store needs).
FIELD_WORDS: Mapping[str, str] = {
    "title": "Title",
    "status": "Status",
    "description": "About me",
    "review_date": "Review date",
    "period_start": "Started",
    "period_end": "Ended",
    "conversation_at": "Conversation",
    "agreed_with_person": "Agreed with the person",
    "last_reviewed_at": "Last reviewed",
    "participants": "Who took part",
    "review_note": "Review note",
    "what_matters_to_me": "Goal (their words)",
    "target_measure": "Target measure",
    "target_value": "Target value",
    "target_unit": "Target unit",
    "target_due": "Target date",
    "performer": "Who",
    "performer_name": "Name",
    "due_date": "By when",
    "domain": "Domain",
}


@dataclass(frozen=True)
class VersionChange:
    """One version of the plan, as a person reads it in the history."""

    version: int
    change: str
    at: dt.datetime
    by: str
    lines: tuple[str, ...]


def _value(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "nothing"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, dict):
        if "name" in value:
            return str(value["name"])
        return ", ".join(f"{k}: {_value(v)}" for k, v in value.items())
    text = str(value)
    try:  # dates and times as a person writes them
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return text.replace("_", " ")
    if len(text) == 10:
        return f"{when:%-d %B %Y}"
    return f"{when:%-d %B %Y at %H:%M}"


def _field_lines(changes: Mapping[str, Any], prefix: str = "") -> list[str]:
    lines = []
    for key, pair in changes.items():
        if key not in FIELD_WORDS or not isinstance(pair, list) or len(pair) != 2:
            continue
        old, new = pair
        # a goal's or action's `description` is what is done, not the plan's "about me"
        label = "What" if prefix and key == "description" else FIELD_WORDS[key]
        lines.append(f"{prefix}{label}: {_value(old)} → {_value(new)}")
    return lines


def _part(snapshot: Mapping[str, Any], key: str, ident: object) -> Mapping[str, Any]:
    for row in snapshot.get(key, []) or []:
        if row.get("id") == ident:
            return row
    return {}


def describe(changes: Mapping[str, Any], snapshot: Mapping[str, Any]) -> tuple[str, ...]:
    """The lines of one version's diff (`changes`), with what was added read from the
    version's own snapshot (a goal added is named by its words, not its id)."""
    lines: list[str] = []
    if "goal_added" in changes:
        goal = _part(snapshot, "goals", changes["goal_added"])
        words = goal.get("what_matters_to_me", "")
        target = ""
        if goal.get("target_measure"):
            target = (
                f" (target: {goal['target_measure']} {_value(goal.get('target_value'))}"
                f" {goal.get('target_unit') or ''})".replace(" )", ")")
            )
        lines.append(f"Goal added: “{words}”{target}")
    if "action_added" in changes:
        action = _part(snapshot, "actions", changes["action_added"])
        who = action.get("performer_name") or _value(action.get("performer"))
        due = action.get("due_date")
        by = f", by {_value(due)}" if due else ""
        lines.append(f"Action added: {action.get('description', '')} ({who}{by})")
    if "need_added" in changes:
        need = changes["need_added"]
        lines.append(f"Need added ({_value(need.get('domain'))}): {need.get('description', '')}")
    for key, noun in (("goal", "Goal"), ("action", "Action")):
        if isinstance(changes.get(key), Mapping):
            inner = changes[key].get("changes", {})
            lines.extend(_field_lines(inner, prefix=f"{noun} changed: "))
    if isinstance(changes.get("need"), Mapping):
        lines.extend(_field_lines(changes["need"].get("changes", {}), prefix="Need changed: "))
    if isinstance(changes.get("participants"), list) and len(changes["participants"]) == 2:
        _old, new = changes["participants"]
        lines.append(f"Who took part: {_value(new)}")
    plain = {k: v for k, v in changes.items() if k != "participants"}
    lines.extend(_field_lines(plain))
    if "review_note" in changes and isinstance(changes["review_note"], str):
        lines.append(f"Review note: {changes['review_note']}")
    return tuple(lines)


def _names(session: Session, user_ids: Iterable[int | None]) -> dict[int, str]:
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all()
    return {ident: name for ident, name in rows}


def versions_in_words(session: Session, rows: Sequence[CarePlanVersion]) -> list[VersionChange]:
    """Each version row as the history shows it (newest first)."""
    names = _names(session, (row.changed_by_id for row in rows))
    shown = []
    for row in sorted(rows, key=lambda r: r.version, reverse=True):
        who = names.get(row.changed_by_id or 0, "houseofcare (automatic)")
        if row.changed_by_role:
            who = f"{who} ({row.changed_by_role.replace('_', ' ')})"
        shown.append(
            VersionChange(
                version=row.version,
                change=CHANGE_WORDS.get(row.change, str(row.change)),
                at=row.changed_at,
                by=who,
                lines=describe(row.changes or {}, row.snapshot or {}),
            )
        )
    return shown


def changes_since(session: Session, plan_id: int, version: int) -> list[VersionChange]:
    """What happened to the plan after `version` (for a form opened at that version)."""
    rows = session.scalars(
        select(CarePlanVersion)
        .where(CarePlanVersion.care_plan_id == plan_id, CarePlanVersion.version > version)
        .order_by(CarePlanVersion.version)
    ).all()
    return versions_in_words(session, rows)
