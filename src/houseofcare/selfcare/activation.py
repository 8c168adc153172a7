"""Patient activation: a PAM-style score (0–100) recorded as a level (1–4), and the latest.

Activation is how much knowledge, skill and confidence a person has to manage their own
health. Its level tailors the support matching suggests (selfcare/matching.py): lower
activation, more structured support and more contact. The levels, their words and the
tailoring are data (`activation.toml`, checked against its schema on load). Reading and
recording go through the one access decision (`activation.read`, `activation.write`) and are
audited in the same transaction as the work; a refusal is audited on its own and writes
nothing.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from houseofcare.careplan.errors import InvalidChange
from houseofcare.careplan.guard import Guard
from houseofcare.careplan.policy import Action
from houseofcare.datafiles import read_toml, validation_problems
from houseofcare.store.models import Activation, ServiceAccess, ServiceKind

ACTIVATION_FILE: Final = Path(__file__).with_name("activation.toml")
RT: Final = "Activation"


class ActivationRulesError(ValueError):
    """The activation file is missing, malformed or breaks a rule of its schema."""


class ActivationLevel(BaseModel):
    """One level: its upper bound (inclusive; None for the top level), words and tailoring."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    level: int = Field(ge=1, le=4)
    up_to: float | None = Field(default=None, ge=0, le=100)
    name: str = Field(min_length=1)
    words: str = Field(min_length=1)
    #: Services of these kinds fit this level (matching's activation component).
    prefer_kinds: tuple[ServiceKind, ...] = ()
    #: Words in a service's name, description or taxonomy that mark a fit (lower case).
    prefer_terms: tuple[str, ...] = ()
    #: Ways in that fit (self-referral for people who take action themselves).
    prefer_access: tuple[ServiceAccess, ...] = ()
    #: The reason shown beside a suggestion that fits this level, in plain words.
    because: str = Field(min_length=1)


class ActivationRules(BaseModel):
    """The whole file: levels 1–4 in order, bounds rising, the last open-ended."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    levels: tuple[ActivationLevel, ...]

    @model_validator(mode="after")
    def _ordered(self) -> ActivationRules:
        if [lv.level for lv in self.levels] != [1, 2, 3, 4]:
            raise ValueError("levels must be 1, 2, 3 and 4, in that order")
        bounds = [lv.up_to for lv in self.levels]
        if any(b is None for b in bounds[:-1]) or bounds[-1] is not None:
            raise ValueError("every level but the last needs up_to; the last has none")
        rising = [b for b in bounds[:-1] if b is not None]
        if rising != sorted(set(rising)):
            raise ValueError("up_to must rise from level to level")
        return self

    def level_of(self, score: float) -> ActivationLevel:
        """The level a score falls in (its `up_to` is the first at or above the score)."""
        for candidate in self.levels:
            if candidate.up_to is None or score <= candidate.up_to:
                return candidate
        raise AssertionError("the last level has no bound")  # pragma: no cover

    def level(self, number: int) -> ActivationLevel:
        return self.levels[number - 1]


def load_activation_rules(path: Path = ACTIVATION_FILE) -> ActivationRules:
    """Read and check an activation file; errors name the file and the field."""
    raw = read_toml(path, ActivationRulesError, "no activation file here")
    try:
        return ActivationRules.model_validate(raw)
    except ValidationError as exc:
        raise ActivationRulesError(f"{path}: {validation_problems(exc)}") from None


@cache
def packaged_activation_rules() -> ActivationRules:
    """The levels shipped with houseofcare, loaded once."""
    return load_activation_rules()


def parse_score(text: object) -> float:
    """A score as typed on a form: a number from 0 to 100 (one decimal is kept), else
    `InvalidChange` naming the field."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    elif isinstance(text, str) and text.strip():
        try:
            value = float(text.strip())
        except ValueError:
            raise InvalidChange("score", "Enter the activation score as a number") from None
    else:
        raise InvalidChange("score", "Enter the activation score")
    if not math.isfinite(value) or not 0 <= value <= 100:
        raise InvalidChange("score", "The activation score must be from 0 to 100")
    return round(value, 1)


def latest(session: Session, person_id: int) -> Activation | None:
    """The person's most recent activation (no access check: for callers already decided)."""
    return session.scalar(
        select(Activation)
        .where(Activation.person_id == person_id)
        .order_by(Activation.recorded_at.desc(), Activation.id.desc())
        .limit(1)
    )


def read_latest(session: Session, checks: Guard, person_id: int) -> Activation | None:
    """The person's most recent activation, decided by `activation.read` and audited."""
    checks.authorise(
        session, Action.activation_read, person_id, audit_action="read", resource_type=RT
    )
    found = latest(session, person_id)
    checks.audit(
        session,
        action="read",
        resource_type=RT,
        resource_id=None if found is None else found.id,
        person_id=person_id,
    )
    return found


def record_activation(
    session: Session,
    checks: Guard,
    person_id: int,
    score: object,
    *,
    rules: ActivationRules | None = None,
) -> Activation:
    """Record a score and the level it falls in, decided by `activation.write` and audited in
    the same transaction. The decision comes first: a refused request learns nothing about the
    score's validity and writes nothing; an invalid score raises `InvalidChange`."""
    checks.authorise(
        session, Action.activation_write, person_id, audit_action="create", resource_type=RT
    )
    value = parse_score(score)
    level = (rules or packaged_activation_rules()).level_of(value).level
    row = Activation(
        person_id=person_id, score=value, level=level, recorded_by_id=checks.actor.user_id
    )
    session.add(row)
    session.flush()
    checks.audit(
        session,
        action="create",
        resource_type=RT,
        resource_id=row.id,
        person_id=person_id,
        detail={"level": level},
    )
    return row
