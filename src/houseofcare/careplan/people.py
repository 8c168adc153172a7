"""People, organisations, users and care teams: who is cared for, and who cares.

A person is identified by their NHS number (modulus 11 checked, stored without spaces) and
linked to their analytic record by `patient_id`, so their preparation summary and risk come
from their own record and nobody else's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from houseofcare.careplan.actor import SYSTEM, Actor
from houseofcare.careplan.errors import Conflict, InvalidChange, NotFound
from houseofcare.nhs_number import InvalidNHSNumber, normalise_nhs_number
from houseofcare.store.models import (
    ORGANISATION_ROLES,
    CareTeam,
    CareTeamMember,
    CaseloadAssignment,
    Organisation,
    OrganisationType,
    Person,
    Role,
    User,
)
from houseofcare.store.passwords import (
    hash_password,
    needs_rehash,
    unusable_hash,
    verify_password,
)
from houseofcare.store.types import utcnow


def _flush(session: Session, what: str) -> None:
    """Flush, turning a database rule broken by a race into a clear `Conflict`."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"{what}: {exc.orig}") from None


def create_organisation(
    session: Session, *, ods_code: str, name: str, type: OrganisationType | str
) -> Organisation:
    """A new organisation; `Conflict` if the ODS code is taken."""
    try:
        org_type = OrganisationType(type)
    except ValueError:
        raise InvalidChange("type", f"{type!r} is not an organisation type") from None
    if session.scalar(select(Organisation.id).where(Organisation.ods_code == ods_code)):
        raise Conflict(f"organisation with ODS code {ods_code!r} already exists")
    org = Organisation(ods_code=ods_code, name=name, type=org_type)
    session.add(org)
    _flush(session, f"organisation {ods_code!r}")
    return org


def get_organisation(session: Session, organisation_id: int) -> Organisation:
    org = session.get(Organisation, organisation_id)
    if org is None:
        raise NotFound("Organisation", organisation_id)
    return org


def create_person(
    session: Session,
    *,
    nhs_number: str,
    patient_id: str | None = None,
    given_name: str | None = None,
    family_name: str | None = None,
    birth_date: dt.date | None = None,
    gender: str | None = None,
    practice_id: int | None = None,
) -> Person:
    """A new person. Refuses an invalid NHS number (`InvalidChange` on `nhs_number`) and a
    number or analytic patient id already held by someone else (`Conflict`)."""
    try:
        number = normalise_nhs_number(nhs_number)
    except InvalidNHSNumber as exc:
        raise InvalidChange("nhs_number", str(exc)) from None
    if find_person_by_nhs_number(session, number) is not None:
        raise Conflict(f"a person with NHS number {number} already exists")
    if patient_id is not None and session.scalar(
        select(Person.id).where(Person.patient_id == patient_id)
    ):
        raise Conflict(f"analytic patient {patient_id!r} is already linked to another person")
    if practice_id is not None:
        get_organisation(session, practice_id)
    person = Person(
        nhs_number=number,
        patient_id=patient_id,
        given_name=given_name,
        family_name=family_name,
        birth_date=birth_date,
        gender=gender,
        practice_id=practice_id,
    )
    session.add(person)
    _flush(session, f"person {number}")
    return person


def get_person(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound("Person", person_id)
    return person


def find_person_by_nhs_number(session: Session, nhs_number: str) -> Person | None:
    """The person with this NHS number (spaces allowed), or None; invalid numbers raise."""
    try:
        number = normalise_nhs_number(nhs_number)
    except InvalidNHSNumber as exc:
        raise InvalidChange("nhs_number", str(exc)) from None
    return session.scalar(select(Person).where(Person.nhs_number == number))


def find_person_by_patient_id(session: Session, patient_id: str) -> Person | None:
    """The person linked to this analytic `patient_id`, or None."""
    return session.scalar(select(Person).where(Person.patient_id == patient_id))


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role | str,
    display_name: str,
    organisation_id: int | None = None,
    person_id: int | None = None,
) -> User:
    """A new user with an argon2 password hash.

    A patient user must name the person they are; gp, nurse, case manager, social worker and
    voluntary sector users must name their organisation (the database checks both too).
    """
    try:
        user_role = Role(role)
    except ValueError:
        raise InvalidChange("role", f"{role!r} is not a role") from None
    if user_role is Role.patient and person_id is None:
        raise InvalidChange("person_id", "a patient user must be linked to the person they are")
    if user_role is not Role.patient and person_id is not None:
        raise InvalidChange("person_id", "only a patient user is linked to a person")
    if user_role in ORGANISATION_ROLES and organisation_id is None:
        raise InvalidChange("organisation_id", f"a {user_role.value} user needs an organisation")
    if person_id is not None:
        get_person(session, person_id)
    if organisation_id is not None:
        get_organisation(session, organisation_id)
    if session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(f"username {username!r} is taken")
    user = User(
        username=username,
        display_name=display_name,
        role=user_role,
        organisation_id=organisation_id,
        person_id=person_id,
        password_hash=hash_password(password),
    )
    session.add(user)
    _flush(session, f"user {username!r}")
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("User", user_id)
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this username and password, else None (one answer for both
    wrong username and wrong password, so usernames cannot be probed).

    Every call does one argon2 verification, against an unusable hash when the username is
    unknown, so the answer takes as long for an unknown user as for a real one (timing
    would otherwise reveal which usernames exist).
    """
    user = session.scalar(select(User).where(User.username == username))
    matches = verify_password(unusable_hash() if user is None else user.password_hash, password)
    if user is None or not matches or not user.is_active:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.flush()
    return user


def create_care_team(
    session: Session, *, name: str, organisation_id: int, member_ids: Iterable[int] = ()
) -> CareTeam:
    """A care team of an organisation, with its first members."""
    get_organisation(session, organisation_id)
    team = CareTeam(name=name, organisation_id=organisation_id)
    session.add(team)
    session.flush()
    for user_id in member_ids:
        add_team_member(session, team.id, user_id)
    return team


def add_team_member(session: Session, care_team_id: int, user_id: int) -> CareTeamMember:
    """Add a user to a team (idempotent: an existing membership is returned)."""
    if session.get(CareTeam, care_team_id) is None:
        raise NotFound("CareTeam", care_team_id)
    get_user(session, user_id)
    existing = session.scalar(
        select(CareTeamMember).where(
            CareTeamMember.care_team_id == care_team_id, CareTeamMember.user_id == user_id
        )
    )
    if existing is not None:
        return existing
    member = CareTeamMember(care_team_id=care_team_id, user_id=user_id)
    session.add(member)
    _flush(session, f"care team {care_team_id} member {user_id}")
    return member


def teams_of_user(session: Session, user_id: int) -> Sequence[CareTeam]:
    """The care teams a user belongs to."""
    return session.scalars(
        select(CareTeam)
        .join(CareTeamMember, CareTeamMember.care_team_id == CareTeam.id)
        .where(CareTeamMember.user_id == user_id)
        .order_by(CareTeam.id)
    ).all()


def assign_to_caseload(
    session: Session, *, case_manager_id: int, person_id: int, actor: Actor = SYSTEM
) -> CaseloadAssignment:
    """Put a person on a case manager's caseload (idempotent while the assignment is open)."""
    manager = get_user(session, case_manager_id)
    if manager.role is not Role.case_manager:
        raise InvalidChange(
            "case_manager_id",
            f"user {case_manager_id} is a {manager.role.value}, not a case manager",
        )
    get_person(session, person_id)
    existing = session.scalar(
        select(CaseloadAssignment).where(
            CaseloadAssignment.case_manager_id == case_manager_id,
            CaseloadAssignment.person_id == person_id,
            CaseloadAssignment.ended_at.is_(None),
        )
    )
    if existing is not None:
        return existing
    assignment = CaseloadAssignment(
        case_manager_id=case_manager_id, person_id=person_id, assigned_by_id=actor.user_id
    )
    session.add(assignment)
    _flush(session, f"caseload of user {case_manager_id}")
    return assignment


def end_caseload_assignment(session: Session, assignment_id: int) -> CaseloadAssignment:
    """Take a person off a caseload; the assignment row stays as history."""
    assignment = session.get(CaseloadAssignment, assignment_id)
    if assignment is None:
        raise NotFound("CaseloadAssignment", assignment_id)
    if assignment.ended_at is None:
        assignment.ended_at = utcnow()
        session.flush()
    return assignment


def is_on_caseload(session: Session, case_manager_id: int, person_id: int) -> bool:
    """True while the person is on this case manager's caseload."""
    return (
        session.scalar(
            select(CaseloadAssignment.id).where(
                CaseloadAssignment.case_manager_id == case_manager_id,
                CaseloadAssignment.person_id == person_id,
                CaseloadAssignment.ended_at.is_(None),
            )
        )
        is not None
    )
