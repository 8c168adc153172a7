"""Support preferences: what the person prefers in the support they are offered.

The language they want support in (ISO 639-1, e.g. "en", "pa"), the ways they like to take
part ("group", "one_to_one", "online", "phone", "home_visit") and their accessibility needs
("wheelchair access", "hearing loop", …). Matching (selfcare/matching.py) reads them to rank
services. One row per person; reading and writing go through the one access decision
(`preference.read`, `preference.write`) and are audited in the same transaction; a refused or
invalid change writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from houseofcare.careplan.errors import InvalidChange
from houseofcare.careplan.guard import Guard
from houseofcare.careplan.policy import Action
from houseofcare.store.models import SupportPreference
from houseofcare.store.types import utcnow

RT: Final = "SupportPreference"

#: The ways of taking part a form offers, with their words.
WAYS: Final[dict[str, str]] = {
    "group": "In a group",
    "one_to_one": "One-to-one",
    "online": "Online",
    "phone": "By phone",
    "home_visit": "At home",
}
#: Common accessibility needs a form offers (others may be typed).
ACCESSIBILITY: Final[dict[str, str]] = {
    "wheelchair access": "Wheelchair access",
    "step-free access": "Step-free access",
    "hearing loop": "Hearing loop",
    "british sign language": "British Sign Language",
    "large print": "Large print",
    "easy read": "Easy read",
}
_LANGUAGE = re.compile(r"^[a-z]{2}$")
_MAX_ITEM = 80


@dataclass(frozen=True)
class Preferences:
    """A person's preferences as matching uses them (empty when none are recorded)."""

    language: str | None = None
    ways: tuple[str, ...] = ()
    accessibility: tuple[str, ...] = ()

    @classmethod
    def of(cls, row: SupportPreference | None) -> Preferences:
        if row is None:
            return cls()
        return cls(row.language, tuple(row.ways or ()), tuple(row.accessibility or ()))


def stored(session: Session, person_id: int) -> SupportPreference | None:
    """The person's preference row (no access check: for callers already decided)."""
    return session.scalar(select(SupportPreference).where(SupportPreference.person_id == person_id))


def read_preferences(session: Session, checks: Guard, person_id: int) -> Preferences:
    """The person's preferences, decided by `preference.read` and audited."""
    checks.authorise(
        session, Action.preference_read, person_id, audit_action="read", resource_type=RT
    )
    row = stored(session, person_id)
    checks.audit(
        session,
        action="read",
        resource_type=RT,
        resource_id=None if row is None else row.id,
        person_id=person_id,
    )
    return Preferences.of(row)


def _language(value: str | None) -> str | None:
    text = (value or "").strip().lower()
    if not text:
        return None
    if not _LANGUAGE.fullmatch(text):
        raise InvalidChange("language", "Give the language as a two-letter code, like en or pa")
    return text


def _ways(values: Iterable[str]) -> list[str]:
    ways = list(dict.fromkeys(v.strip() for v in values if v.strip()))
    unknown = [w for w in ways if w not in WAYS]
    if unknown:
        raise InvalidChange("ways", f"{', '.join(unknown)} is not a way of taking part offered")
    return ways


def _accessibility(values: Iterable[str]) -> list[str]:
    needs = list(dict.fromkeys(" ".join(v.split()).lower() for v in values if v.strip()))
    if any(len(n) > _MAX_ITEM for n in needs):
        raise InvalidChange(
            "accessibility", f"Each accessibility need must be at most {_MAX_ITEM} characters"
        )
    return needs


def save_preferences(
    session: Session,
    checks: Guard,
    person_id: int,
    *,
    language: str | None,
    ways: Iterable[str] = (),
    accessibility: Iterable[str] = (),
) -> Preferences:
    """Replace the person's preferences, decided by `preference.write` and audited in the same
    transaction; a mistake raises `InvalidChange` naming the field (the caller's transaction
    is rolled back, so nothing is written)."""
    checks.authorise(
        session, Action.preference_write, person_id, audit_action="update", resource_type=RT
    )
    chosen = Preferences(
        _language(language), tuple(_ways(ways)), tuple(_accessibility(accessibility))
    )
    row = stored(session, person_id)
    if row is None:
        row = SupportPreference(person_id=person_id)
        session.add(row)
    row.language = chosen.language
    row.ways = list(chosen.ways)
    row.accessibility = list(chosen.accessibility)
    row.updated_at = utcnow()
    row.updated_by_id = checks.actor.user_id
    session.flush()
    checks.audit(
        session,
        action="update",
        resource_type=RT,
        resource_id=row.id,
        person_id=person_id,
        detail={"fields": ["language", "ways", "accessibility"]},
    )
    return chosen
