"""Who is acting: the one `Actor` the access decision, version rows and audit events all use.

There used to be two (one for the access rules, one for the services' version rows), built
from the same signed-in user and easy to let drift apart. Now a request, a page or a command
makes one `Actor` and passes it everywhere: `careplan.access` decides on its role and
relationships, the services record its user and role on every version row, and the audit
names the same user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from houseofcare.store.models import Role, User


class SignedInUser(Protocol):
    """What a checked credential tells about its user (`api.credentials.SignedIn`)."""

    user_id: int
    username: str
    role: str
    organisation_id: int | None
    organisation_type: str | None
    person_id: int | None


@dataclass(frozen=True)
class Actor:
    """The signed-in user doing something, or the system itself (`SYSTEM`: no user, no role).

    `organisation_type` is what consent is given to (a social worker sees a person who has
    consented to share with local-authority social care); `person_id` is the person a patient
    user is.
    """

    user_id: int | None
    username: str | None
    role: Role | None
    organisation_id: int | None = None
    organisation_type: str | None = None
    #: For a patient user, the person they are.
    person_id: int | None = None

    @classmethod
    def of(cls, user: User, *, organisation_type: str | None = None) -> Actor:
        """A stored user (seeding, tests). Their organisation's type is given, not read: the
        user may come from a closed session, and only a consent check needs it."""
        return cls(
            user_id=user.id,
            username=user.username,
            role=user.role,
            organisation_id=user.organisation_id,
            organisation_type=organisation_type,
            person_id=user.person_id,
        )

    @classmethod
    def signed_in(cls, user: SignedInUser) -> Actor:
        """The user of a checked credential (API token, page session, personal token)."""
        return cls(
            user_id=user.user_id,
            username=user.username,
            role=Role(user.role),
            organisation_id=user.organisation_id,
            organisation_type=user.organisation_type,
            person_id=user.person_id,
        )


#: Changes made by houseofcare itself (demo seeding, migrations), not by a person. It has no
#: role, so the access decision refuses it everything identifiable.
SYSTEM = Actor(user_id=None, username="system", role=None)
