"""Who is acting: recorded on every version row and audit event."""

from __future__ import annotations

from dataclasses import dataclass

from houseofcare.store.models import Role, User


@dataclass(frozen=True)
class Actor:
    """The signed-in user doing something (or the system, for seeding: `user_id` None)."""

    user_id: int | None
    role: Role | None
    username: str | None = None
    organisation_id: int | None = None
    #: For a patient user, the person they are.
    person_id: int | None = None

    @classmethod
    def of(cls, user: User) -> Actor:
        return cls(
            user_id=user.id,
            role=user.role,
            username=user.username,
            organisation_id=user.organisation_id,
            person_id=user.person_id,
        )


#: Changes made by houseofcare itself (demo seeding, migrations), not by a person.
SYSTEM = Actor(user_id=None, role=None, username="system")
