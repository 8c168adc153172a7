"""Errors the care-plan services raise; each names what was wrong so the API can say so.

When a service raises, it has written nothing the caller should keep: the caller rolls the
session back (`houseofcare.store.database.transaction` does this).
"""

from __future__ import annotations


class CarePlanError(Exception):
    """Base class: a request the care-plan services refused, with a clear message."""


class NotFound(CarePlanError, LookupError):
    """No such record (`resource` with id `id`)."""

    def __init__(self, resource: str, id: object) -> None:
        self.resource = resource
        self.id = id
        super().__init__(f"{resource} {id} does not exist")


class StaleVersion(CarePlanError):
    """The caller changed an out-of-date version: someone else changed it first.

    Nothing was written; the caller should re-read version `current` and try again (HTTP 412).
    """

    def __init__(self, resource: str, id: object, expected: int, current: int) -> None:
        self.resource = resource
        self.id = id
        self.expected = expected
        self.current = current
        super().__init__(
            f"{resource} {id} is at version {current}, not {expected}: it was changed by "
            "someone else; read it again and re-apply your change"
        )


class ActivePlanExists(CarePlanError):
    """The person already has an active care plan (one person, one plan)."""

    def __init__(self, person_id: int, plan_id: int | None) -> None:
        self.person_id = person_id
        self.plan_id = plan_id
        where = f" (care plan {plan_id})" if plan_id is not None else ""
        super().__init__(
            f"person {person_id} already has an active care plan{where}; "
            "change that plan, or complete or revoke it first"
        )


class InvalidChange(CarePlanError, ValueError):
    """A field has a value the store will not accept; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class Conflict(CarePlanError):
    """The change would break a rule the database enforces (e.g. a duplicate NHS number)."""


class InvalidContent(InvalidChange):
    """The whole plan or goal given does not fit the stored one (an action that is not on the
    plan, a need left out, a plan moved to another person). `field` names the part in the
    domain's terms (`needs`, `action.id` …), for the caller to say where its client wrote it.

    `malformed` is True when the content contradicts itself whatever is stored (a new plan
    carrying ids of existing actions): the request is wrong, not the change.
    """

    def __init__(self, field: str, message: str, *, malformed: bool = False) -> None:
        super().__init__(field, message)
        self.malformed = malformed
