"""The guard every way in shares: the one access decision, with its audit, for one actor.

The API's `Caller` (`api/deps.py`), the pages and the CLI each make a `Guard` for the user they
act for and ask it to `authorise` an action on a person before reading or writing anything
about them. A refusal is audited in its own transaction (the work's transaction is rolled
back) and raised; an allowed action is audited in the same transaction as the work, so the
audit row exists exactly when the work does. The decision itself is `careplan.access`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session, sessionmaker

from houseofcare.careplan.access import decide, decide_for_person, visible_people
from houseofcare.careplan.actor import Actor
from houseofcare.careplan.errors import CarePlanError
from houseofcare.careplan.policy import Action, Policy
from houseofcare.store.audit import record_audit, record_audit_now, record_audits
from houseofcare.store.models import AuditOutcome


class AccessRefused(CarePlanError):
    """The access decision refused the action; the refusal has been audited. The message is
    the reason, shown to the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Guard:
    """One actor's access checks and audit events, over the operational store."""

    actor: Actor
    factory: sessionmaker[Session]
    policy: Policy
    #: Which way in acted (`pages`, `cli`): recorded in each event's detail; None for the
    #: API, whose events are the default.
    via: str | None = None

    def _event(
        self,
        *,
        action: str,
        resource_type: str,
        outcome: AuditOutcome,
        resource_id: object = None,
        person_id: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if self.via is not None:
            detail = {"via": self.via, **(detail or {})}
        return {
            "action": action,
            "resource_type": resource_type,
            "outcome": outcome,
            "user_id": self.actor.user_id,
            "username": self.actor.username,
            "role": self.actor.role,
            "resource_id": resource_id,
            "person_id": person_id,
            "detail": detail,
        }

    def audit(self, session: Session, **event: Any) -> None:
        """Record an event in the work's own transaction (it commits with the work)."""
        event.setdefault("outcome", AuditOutcome.success)
        record_audit(session, **self._event(**event))

    def audit_people(
        self, session: Session, person_ids: Iterable[int], *, action: str, resource_type: str
    ) -> None:
        """One event per person disclosed (a search or list shows many people), after one
        event for the search itself (so an empty result is audited too)."""
        self.audit_shown(session, action=action, shown={resource_type: person_ids})

    def audit_shown(
        self, session: Session, *, action: str, shown: Mapping[str, Iterable[int]]
    ) -> None:
        """`audit_people` for a page that lists several kinds of people at once (a caseload
        and its candidates): per kind (resource type) one event for the list and one per
        person, all written in one statement."""
        events: list[dict[str, Any]] = []
        for resource_type, person_ids in shown.items():
            people = list(dict.fromkeys(person_ids))
            events.append(
                self._event(
                    action=action,
                    resource_type=resource_type,
                    outcome=AuditOutcome.success,
                    detail={"people": len(people)},
                )
            )
            events.extend(
                self._event(
                    action=action,
                    resource_type=resource_type,
                    outcome=AuditOutcome.success,
                    person_id=person_id,
                )
                for person_id in people
            )
        record_audits(session, events)

    def audit_now(self, **event: Any) -> None:
        """Record an event in its own transaction (for refusals and failures)."""
        record_audit_now(self.factory, **self._event(**event))

    def refusal(self, reason: str) -> Exception:
        """The exception a refusal raises (the API answers it as a FHIR 403)."""
        return AccessRefused(reason)

    def deny(self, reason: str, **event: Any) -> Exception:
        """Audit a refusal now, in its own transaction, and return the exception to raise."""
        self.audit_now(outcome=AuditOutcome.denied, detail={"reason": reason}, **event)
        return self.refusal(reason)

    def authorise(
        self,
        session: Session,
        action: Action,
        person_id: int | None,
        *,
        audit_action: str,
        resource_type: str,
        resource_id: object = None,
    ) -> None:
        """Allow `action` on the person, or audit the refusal and raise it.

        `person_id` None is a list action (caseload, due reviews, the audit trail).
        """
        decision = (
            decide(self.policy, self.actor, action, None)
            if person_id is None
            else decide_for_person(session, self.policy, self.actor, action, person_id)
        )
        if not decision.allowed:
            raise self.deny(
                decision.reason,
                action=audit_action,
                resource_type=resource_type,
                resource_id=resource_id,
                person_id=person_id,
            )

    def visible_people(self, action: Action) -> ColumnElement[bool]:
        """A filter on `person`: whom this actor may see for `action` (searches, lists)."""
        return visible_people(self.policy, self.actor, action)

    def require_identifiable(self, *, audit_action: str, resource_type: str) -> None:
        """Refuse a role barred from identifiable data before anything is looked up."""
        if not self.policy.identifiable(self.actor.role):
            raise self.deny(
                f"role {self.actor.role.value} never sees identifiable data",
                action=audit_action,
                resource_type=resource_type,
            )
