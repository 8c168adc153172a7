"""The operational store's tables: people, who cares for them, their one care plan, and audit.

These are the records people create while caring (the analytic store holds the clinical record
and what is derived from it). The same models run on SQLite (the default file) and PostgreSQL;
rules that protect people are in the database itself, not only in Python:

- at most one *active* care plan per person (a partial unique index);
- a patient user is linked to exactly the person they are; clinical users to an organisation;
- enumerated values (roles, statuses, need domains …) are CHECK-constrained;
- NHS numbers are checked by modulus 11 before they reach the database;
- audit events, seals and version rows cannot be updated or deleted (triggers, in the
  migrations; on PostgreSQL the app's role is also granted only INSERT and SELECT on them).

Statuses use the FHIR R4 codes (CarePlan.status, Goal.lifecycleStatus,
CarePlan.activity.detail.status) so the API maps them without translation tables.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from houseofcare.nhs_number import normalise_nhs_number
from houseofcare.store.types import EnumText, UTCDateTime, enum_check, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with constraint names that are the same on every database."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads it at class creation)
        dt.datetime: UTCDateTime(),
        dt.date: Date(),
        dict[str, Any]: JSON(),
    }


# --- Enumerations ------------------------------------------------------------------------------


class OrganisationType(StrEnum):
    """The kinds of organisation that care for people (and that consent to share names)."""

    practice = "practice"
    community_trust = "community_trust"
    acute_trust = "acute_trust"
    local_authority_social_care = "local_authority_social_care"
    voluntary_group = "voluntary_group"


class Role(StrEnum):
    """What a user is, which decides what they may see and do (rules: careplan/policy.toml)."""

    gp = "gp"
    nurse = "nurse"
    case_manager = "case_manager"
    social_worker = "social_worker"
    voluntary_sector = "voluntary_sector"
    commissioner = "commissioner"
    patient = "patient"
    admin = "admin"
    #: issue 13: the social prescribing link worker (connects people to community support).
    link_worker = "link_worker"


#: Roles that act for an organisation and so must belong to one.
ORGANISATION_ROLES: frozenset[Role] = frozenset(
    {
        Role.gp,
        Role.nurse,
        Role.case_manager,
        Role.social_worker,
        Role.voluntary_sector,
        Role.link_worker,
    }
)


class CarePlanStatus(StrEnum):
    """FHIR CarePlan.status. Only one plan per person may be `active` at a time."""

    draft = "draft"
    active = "active"
    on_hold = "on-hold"
    revoked = "revoked"
    completed = "completed"
    entered_in_error = "entered-in-error"


class GoalStatus(StrEnum):
    """FHIR Goal.lifecycleStatus."""

    proposed = "proposed"
    planned = "planned"
    accepted = "accepted"
    active = "active"
    on_hold = "on-hold"
    completed = "completed"
    cancelled = "cancelled"
    entered_in_error = "entered-in-error"
    rejected = "rejected"


class ActionStatus(StrEnum):
    """FHIR CarePlan.activity.detail.status."""

    not_started = "not-started"
    scheduled = "scheduled"
    in_progress = "in-progress"
    on_hold = "on-hold"
    completed = "completed"
    cancelled = "cancelled"
    stopped = "stopped"
    unknown = "unknown"
    entered_in_error = "entered-in-error"


class Performer(StrEnum):
    """Who does an action: the person, a carer, a named professional or a service."""

    person = "person"
    carer = "carer"
    professional = "professional"
    service = "service"


class NeedDomain(StrEnum):
    """The house of care's whole-person domains of need."""

    physical_health = "physical_health"
    mental_health = "mental_health"
    self_management = "self_management"
    social_housing = "social_housing"
    social_finance = "social_finance"
    social_loneliness = "social_loneliness"
    social_carer = "social_carer"
    mobility = "mobility"
    medicines = "medicines"


class NeedStatus(StrEnum):
    active = "active"
    resolved = "resolved"


class ParticipantRole(StrEnum):
    """Who took part in the care-planning conversation."""

    person = "person"
    carer = "carer"
    professional = "professional"
    other = "other"


class ChangeKind(StrEnum):
    """Why a version row was written (the diff says what changed)."""

    created = "created"
    updated = "updated"
    conversation = "conversation"
    review_date = "review_date"
    reviewed = "reviewed"
    goal = "goal"
    action = "action"
    need = "need"


class AuditOutcome(StrEnum):
    success = "success"
    denied = "denied"
    not_found = "not_found"
    invalid = "invalid"
    conflict = "conflict"
    error = "error"


# --- Organisations, people, users, teams -------------------------------------------------------


class Organisation(Base):
    """A practice, trust, council social care team or voluntary group."""

    __tablename__ = "organisation"
    __table_args__ = (enum_check("type", OrganisationType),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ODS code (or the analytic store's practice id for synthetic practices).
    ods_code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[OrganisationType] = mapped_column(EnumText(OrganisationType))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Person(Base):
    """Someone who is cared for: identified by NHS number, linked to their analytic record."""

    __tablename__ = "person"
    __table_args__ = (CheckConstraint("length(nhs_number) = 10", name="nhs_number_length"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    nhs_number: Mapped[str] = mapped_column(String(10), unique=True)
    #: The analytic store's `patient.patient_id` (None until linked).
    patient_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str | None] = mapped_column(String(100))
    birth_date: Mapped[dt.date | None]
    gender: Mapped[str | None] = mapped_column(String(16))
    #: The practice the person is registered with.
    practice_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    practice: Mapped[Organisation | None] = relationship()

    @validates("nhs_number")
    def _check_nhs_number(self, _key: str, value: str) -> str:
        return normalise_nhs_number(value)


class User(Base):
    """Someone who signs in. A patient user is the person they are; clinicians have an org."""

    __tablename__ = "user_account"
    __table_args__ = (
        enum_check("role", Role),
        CheckConstraint(
            "(role = 'patient' AND person_id IS NOT NULL) "
            "OR (role <> 'patient' AND person_id IS NULL)",
            name="patient_is_a_person",
        ),
        CheckConstraint(
            "role NOT IN ("
            + ", ".join(f"'{r.value}'" for r in sorted(ORGANISATION_ROLES))
            + ") OR organisation_id IS NOT NULL",
            name="clinical_role_has_organisation",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(EnumText(Role))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), unique=True)
    #: argon2id hash (houseofcare.store.passwords); never the password.
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    organisation: Mapped[Organisation | None] = relationship()
    person: Mapped[Person | None] = relationship()


class ApiCredential(Base):
    """A bearer token or page session of the web service: only the token's SHA-256 digest
    is kept (never the token), with its expiry and, once signed out, when it was revoked.

    Nothing clinical; it lives in the store so one migration makes every table the app
    needs and the workers never create tables at start-up.
    """

    __tablename__ = "api_credential"

    token_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    #: bearer (API) or session (pages)
    kind: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]


class SignInThrottle(Base):
    """Recent failed sign-ins of one username or one client address (`api/throttle.py`).

    In the store, not in a worker's memory, so every worker of `hoc serve --workers N` counts
    the same failures. `subject` is a keyed digest ("u:…" for a username, "c:…" for an
    address), never the text itself: a password typed into the username field must not be
    kept. Rows are short-lived and may be deleted; nothing clinical.
    """

    __tablename__ = "sign_in_throttle"
    __table_args__ = (CheckConstraint("failures >= 0", name="failures_not_negative"),)

    subject: Mapped[str] = mapped_column(String(40), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[dt.datetime] = mapped_column(index=True)


class CareTeam(Base):
    """A multidisciplinary team; due-review lists are per team."""

    __tablename__ = "care_team"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    organisation: Mapped[Organisation] = relationship()
    members: Mapped[list[CareTeamMember]] = relationship(back_populates="care_team")


class CareTeamMember(Base):
    __tablename__ = "care_team_member"
    __table_args__ = (UniqueConstraint("care_team_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    care_team_id: Mapped[int] = mapped_column(ForeignKey("care_team.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    joined_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    care_team: Mapped[CareTeam] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class CaseloadAssignment(Base):
    """A person on a case manager's caseload, from `assigned_at` until `ended_at`."""

    __tablename__ = "caseload_assignment"
    __table_args__ = (
        Index(
            "uq_caseload_assignment_open",
            "case_manager_id",
            "person_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_manager_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    assigned_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    ended_at: Mapped[dt.datetime | None]
    # --- issue 13: referrals. On a link worker's caseload (social prescribing): what matters
    # to the person, as the referrer wrote it, and the date the link worker next contacts them.
    what_matters: Mapped[str | None] = mapped_column(Text)
    follow_up_on: Mapped[dt.date | None]

    person: Mapped[Person] = relationship()


class ConsentToShare(Base):
    """The person's consent to share their plan with one type of organisation.

    Withdrawal sets `withdrawn_at`; a new consent is a new row, so the history stays.
    """

    __tablename__ = "consent_to_share"
    __table_args__ = (
        enum_check("organisation_type", OrganisationType),
        CheckConstraint(
            "withdrawn_at IS NULL OR withdrawn_at >= given_at", name="withdrawn_after_given"
        ),
        Index(
            "uq_consent_to_share_current",
            "person_id",
            "organisation_type",
            unique=True,
            sqlite_where=text("withdrawn_at IS NULL"),
            postgresql_where=text("withdrawn_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    organisation_type: Mapped[OrganisationType] = mapped_column(EnumText(OrganisationType))
    given_at: Mapped[dt.datetime]
    withdrawn_at: Mapped[dt.datetime | None]
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    person: Mapped[Person] = relationship()


# --- issue 12: My care plan (proxy access for a carer) ----------------------------------------


class ProxyGrant(Base):
    """The person's permission for a carer (a user of their own) to see and use their
    record as they do, from `granted_at` until the person withdraws it (`withdrawn_at`).

    Given and withdrawn by the person only; a new grant is a new row, so the history stays.
    The access decision reads it as the relationship `proxy` (careplan/access.py).
    """

    __tablename__ = "proxy_grant"
    __table_args__ = (
        CheckConstraint(
            "withdrawn_at IS NULL OR withdrawn_at >= granted_at", name="withdrawn_after_granted"
        ),
        Index(
            "uq_proxy_grant_current",
            "person_id",
            "proxy_user_id",
            unique=True,
            sqlite_where=text("withdrawn_at IS NULL"),
            postgresql_where=text("withdrawn_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    proxy_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    granted_at: Mapped[dt.datetime]
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    withdrawn_at: Mapped[dt.datetime | None]
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    proxy_user: Mapped[User] = relationship(foreign_keys=[proxy_user_id])


# --- The care plan -----------------------------------------------------------------------------


class CarePlan(Base):
    """The person's one holistic care plan (house of care), however many conditions they have.

    `version` increases by one on every change to the plan or to its goals, actions, needs
    and participants; each change writes a `CarePlanVersion` with a full snapshot.
    """

    __tablename__ = "care_plan"
    __table_args__ = (
        enum_check("status", CarePlanStatus),
        CheckConstraint("version >= 1", name="version_positive"),
        Index(
            "uq_care_plan_one_active_per_person",
            "person_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_care_plan_person_id", "person_id"),
        Index("ix_care_plan_team_review", "care_team_id", "review_date"),
        # the practice's due-review worklist walks active plans in review-date order
        Index(
            "ix_care_plan_active_review",
            "review_date",
            "id",
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    status: Mapped[CarePlanStatus] = mapped_column(EnumText(CarePlanStatus))
    title: Mapped[str] = mapped_column(String(200))
    #: "About me": a short summary in the person's words.
    description: Mapped[str | None] = mapped_column(Text)
    care_team_id: Mapped[int | None] = mapped_column(ForeignKey("care_team.id"))
    lead_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    period_start: Mapped[dt.date | None]
    period_end: Mapped[dt.date | None]
    review_date: Mapped[dt.date | None]
    last_reviewed_at: Mapped[dt.datetime | None]
    conversation_at: Mapped[dt.datetime | None]
    agreed_with_person: Mapped[bool] = mapped_column(Boolean, default=False)
    agreed_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship()
    care_team: Mapped[CareTeam | None] = relationship()
    goals: Mapped[list[Goal]] = relationship(
        back_populates="care_plan", order_by="Goal.id", lazy="selectin"
    )
    actions: Mapped[list[Action]] = relationship(
        back_populates="care_plan", order_by="Action.id", lazy="selectin"
    )
    needs: Mapped[list[Need]] = relationship(
        back_populates="care_plan", order_by="Need.id", lazy="selectin"
    )
    participants: Mapped[list[CarePlanParticipant]] = relationship(
        back_populates="care_plan",
        order_by="CarePlanParticipant.id",
        lazy="selectin",
        cascade="all, delete-orphan",
    )


class CarePlanParticipant(Base):
    """Someone who took part in the care-planning conversation."""

    __tablename__ = "care_plan_participant"
    __table_args__ = (enum_check("role", ParticipantRole),)

    id: Mapped[int] = mapped_column(primary_key=True)
    care_plan_id: Mapped[int] = mapped_column(ForeignKey("care_plan.id"), index=True)
    role: Mapped[ParticipantRole] = mapped_column(EnumText(ParticipantRole))
    name: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    care_plan: Mapped[CarePlan] = relationship(back_populates="participants")


class Goal(Base):
    """What matters to the person, in their own words, with a measurable target if there is one."""

    __tablename__ = "goal"
    __table_args__ = (
        enum_check("status", GoalStatus),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    care_plan_id: Mapped[int] = mapped_column(ForeignKey("care_plan.id"), index=True)
    #: The person's own words ("what matters to me"); never rewritten by a professional.
    what_matters_to_me: Mapped[str] = mapped_column(Text)
    target_measure: Mapped[str | None] = mapped_column(String(100))
    target_value: Mapped[float | None] = mapped_column(Float)
    target_unit: Mapped[str | None] = mapped_column(String(32))
    target_due: Mapped[dt.date | None]
    status: Mapped[GoalStatus] = mapped_column(EnumText(GoalStatus))
    start_date: Mapped[dt.date | None]
    status_date: Mapped[dt.date | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    care_plan: Mapped[CarePlan] = relationship(back_populates="goals")


class Action(Base):
    """Who (the person, a carer, a named professional or a service) does what, by when."""

    __tablename__ = "care_action"
    __table_args__ = (
        enum_check("status", ActionStatus),
        enum_check("performer", Performer),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint(
            "performer = 'person' OR performer_name IS NOT NULL OR performer_user_id IS NOT NULL",
            name="performer_named",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    care_plan_id: Mapped[int] = mapped_column(ForeignKey("care_plan.id"), index=True)
    goal_id: Mapped[int | None] = mapped_column(ForeignKey("goal.id"))
    performer: Mapped[Performer] = mapped_column(EnumText(Performer))
    #: The carer's, professional's or service's name.
    performer_name: Mapped[str | None] = mapped_column(String(200))
    performer_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    description: Mapped[str] = mapped_column(Text)
    due_date: Mapped[dt.date | None]
    status: Mapped[ActionStatus] = mapped_column(EnumText(ActionStatus))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    care_plan: Mapped[CarePlan] = relationship(back_populates="actions")


class Need(Base):
    """A need in one domain of the person's life (health, social, mobility, medicines …)."""

    __tablename__ = "need"
    __table_args__ = (enum_check("domain", NeedDomain), enum_check("status", NeedStatus))

    id: Mapped[int] = mapped_column(primary_key=True)
    care_plan_id: Mapped[int] = mapped_column(ForeignKey("care_plan.id"), index=True)
    domain: Mapped[NeedDomain] = mapped_column(EnumText(NeedDomain))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[NeedStatus] = mapped_column(EnumText(NeedStatus), default=NeedStatus.active)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    care_plan: Mapped[CarePlan] = relationship(back_populates="needs")


class CarePlanComment(Base):
    """A comment on the plan, e.g. from the person themselves; append-only."""

    __tablename__ = "care_plan_comment"

    id: Mapped[int] = mapped_column(primary_key=True)
    care_plan_id: Mapped[int] = mapped_column(ForeignKey("care_plan.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Preparation(Base):
    """Year of Care preparation: the results summary sent before the conversation.

    `summary` is the snapshot that was (or will be) sent, from analytic run `run_id`, so what
    the person read stays readable even after later runs.
    """

    __tablename__ = "preparation"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    care_plan_id: Mapped[int | None] = mapped_column(ForeignKey("care_plan.id"))
    run_id: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[dict[str, Any]]
    prepared_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    prepared_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    sent_on: Mapped[dt.date | None]
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: "What I want to talk about", written by the person or the professional with them.
    talk_about: Mapped[str | None] = mapped_column(Text)
    talk_about_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    talk_about_at: Mapped[dt.datetime | None]


# --- issue 13: the directory of services, referrals, activation and unmet need ----------------


class ServiceStatus(StrEnum):
    """ORUK 3.0 service.status."""

    active = "active"
    inactive = "inactive"
    defunct = "defunct"
    temporarily_closed = "temporarily closed"


class ServiceKind(StrEnum):
    """Who runs a service, and the structured programmes NICE expects per condition."""

    statutory = "statutory"
    voluntary = "voluntary"
    community = "community"
    self_help = "self_help"
    education = "education"
    rehabilitation = "rehabilitation"


class ServiceAccess(StrEnum):
    """How a person gets to a service."""

    self_referral = "self_referral"
    referral = "referral"
    both = "both"


class ReferralStatus(StrEnum):
    """Where a referral is: sent → accepted / declined → attended / did_not_attend → closed.

    The allowed moves are in selfcare/referrals (data); FHIR ServiceRequest.status is
    derived from this (sent/accepted/attended → active, declined → revoked, closed and
    did_not_attend → completed), with this value as its businessStatus.
    """

    sent = "sent"
    accepted = "accepted"
    declined = "declined"
    attended = "attended"
    did_not_attend = "did_not_attend"
    closed = "closed"


class UnmetNeedReason(StrEnum):
    """Why a need found no service: kept for the commissioning plan (issue 14)."""

    no_suitable_service = "no_suitable_service"
    service_full = "service_full"
    declined = "declined"


class Service(Base):
    """One service of the directory: statutory, voluntary, community or self-help.

    `oruk_id` is the ORUK/HSDS id (a uuid) it was imported with or exported as; `document`
    keeps the whole ORUK 3.0 record as imported, so an export gives back what came in. The
    other columns are what matching and the pages read.
    """

    __tablename__ = "service"
    __table_args__ = (
        enum_check("status", ServiceStatus),
        enum_check("kind", ServiceKind),
        enum_check("access", ServiceAccess),
        CheckConstraint(
            "capacity_per_month IS NULL OR capacity_per_month >= 0", name="capacity_not_negative"
        ),
        CheckConstraint(
            "minimum_age IS NULL OR maximum_age IS NULL OR minimum_age <= maximum_age",
            name="ages_ordered",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    oruk_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    organisation_name: Mapped[str] = mapped_column(String(300))
    #: The receiving organisation in this store (its users see referrals to the service).
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[ServiceStatus] = mapped_column(EnumText(ServiceStatus, 24))
    kind: Mapped[ServiceKind] = mapped_column(EnumText(ServiceKind))
    access: Mapped[ServiceAccess] = mapped_column(EnumText(ServiceAccess))
    #: Needs addressed: NeedDomain values (coded categories), e.g. ["social_loneliness"].
    needs: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Conditions it suits: register ids (population/rules), e.g. ["COPD"]; [] = any.
    conditions: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Other classifications (esd service types, needs, circumstances): [{taxonomy, term, uri}].
    taxonomy: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    locality: Mapped[str | None] = mapped_column(String(200), index=True)
    address: Mapped[str | None] = mapped_column(Text)
    postcode: Mapped[str | None] = mapped_column(String(16))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    eligibility: Mapped[str | None] = mapped_column(Text)
    minimum_age: Mapped[int | None] = mapped_column(Integer)
    maximum_age: Mapped[int | None] = mapped_column(Integer)
    #: Referrals it can accept per calendar month; None = no limit.
    capacity_per_month: Mapped[int | None] = mapped_column(Integer)
    cost: Mapped[str | None] = mapped_column(Text)
    #: Accessibility features, e.g. ["wheelchair access", "hearing loop"].
    accessibility: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: ISO 639-1 codes, e.g. ["en", "pa"].
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    email: Mapped[str | None] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(64))
    url: Mapped[str | None] = mapped_column(String(500))
    opening_times: Mapped[str | None] = mapped_column(Text)
    document: Mapped[dict[str, Any] | None]
    last_modified: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    organisation: Mapped[Organisation | None] = relationship()


class Referral(Base):
    """A referral (FHIR ServiceRequest) from a care-plan action to a service."""

    __tablename__ = "referral"
    __table_args__ = (
        enum_check("status", ReferralStatus),
        CheckConstraint("version >= 1", name="version_positive"),
        Index("ix_referral_service_status", "service_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    care_plan_id: Mapped[int | None] = mapped_column(ForeignKey("care_plan.id"))
    action_id: Mapped[int | None] = mapped_column(ForeignKey("care_action.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id"))
    status: Mapped[ReferralStatus] = mapped_column(EnumText(ReferralStatus))
    #: What matters to the person and why this service (shared with the receiver).
    reason: Mapped[str | None] = mapped_column(Text)
    need_domain: Mapped[str | None] = mapped_column(String(32))
    decline_reason: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)
    referred_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: The link worker following the person up (their caseload), if any.
    link_worker_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    sent_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    service: Mapped[Service] = relationship()
    person: Mapped[Person] = relationship()


class ReferralEvent(Base):
    """One move of a referral (who, when, from, to, why): its history, append-only."""

    __tablename__ = "referral_event"
    __table_args__ = (
        enum_check("to_status", ReferralStatus),
        enum_check("from_status", ReferralStatus, nullable=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"), index=True)
    from_status: Mapped[ReferralStatus | None] = mapped_column(EnumText(ReferralStatus))
    to_status: Mapped[ReferralStatus] = mapped_column(EnumText(ReferralStatus))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class UnmetNeed(Base):
    """A need that found no service (none suitable, the service full, or declined)."""

    __tablename__ = "unmet_need"
    __table_args__ = (enum_check("reason", UnmetNeedReason),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referral.id"))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("service.id"))
    need_domain: Mapped[str | None] = mapped_column(String(32))
    locality: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[UnmetNeedReason] = mapped_column(EnumText(UnmetNeedReason, 24))
    detail: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class Activation(Base):
    """A patient activation measurement: a PAM-style score (0–100) and its level (1–4)."""

    __tablename__ = "activation"
    __table_args__ = (
        CheckConstraint("level BETWEEN 1 AND 4", name="level_range"),
        CheckConstraint("score >= 0 AND score <= 100", name="score_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    score: Mapped[float] = mapped_column(Float)
    level: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class SupportPreference(Base):
    """What the person prefers in the support they are offered: language, ways of taking part
    (e.g. "group", "one_to_one", "online", "phone"), and accessibility needs; used by matching."""

    __tablename__ = "support_preference"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), unique=True)
    #: ISO 639-1 code of the language the person prefers, e.g. "en", "pa".
    language: Mapped[str | None] = mapped_column(String(8))
    ways: Mapped[list[str]] = mapped_column(JSON, default=list)
    accessibility: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


# --- History and audit (append-only: triggers refuse UPDATE and DELETE) ----------------------


class _VersionColumns:
    version: Mapped[int] = mapped_column(Integer)
    change: Mapped[ChangeKind] = mapped_column(EnumText(ChangeKind))
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    changed_by_role: Mapped[str | None] = mapped_column(String(32))
    #: What changed: {"field": [old, new], …} (for a creation, every field with old = None).
    changes: Mapped[dict[str, Any]]
    #: The whole record as it was after this change.
    snapshot: Mapped[dict[str, Any]]


class CarePlanVersion(_VersionColumns, Base):
    """One version of a care plan (a full snapshot with its goals, actions, needs)."""

    __tablename__ = "care_plan_version"
    __table_args__ = (UniqueConstraint("care_plan_id", "version"), enum_check("change", ChangeKind))

    id: Mapped[int] = mapped_column(primary_key=True)
    care_plan_id: Mapped[int] = mapped_column(ForeignKey("care_plan.id"))


class GoalVersion(_VersionColumns, Base):
    __tablename__ = "goal_version"
    __table_args__ = (UniqueConstraint("goal_id", "version"), enum_check("change", ChangeKind))

    id: Mapped[int] = mapped_column(primary_key=True)
    goal_id: Mapped[int] = mapped_column(ForeignKey("goal.id"))


class ActionVersion(_VersionColumns, Base):
    __tablename__ = "care_action_version"
    __table_args__ = (UniqueConstraint("action_id", "version"), enum_check("change", ChangeKind))

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("care_action.id"))


class AuditEvent(Base):
    """Who did what to which person's record, when, and whether it was allowed.

    Deliberately without foreign keys: an attempt on a person who does not exist is audited
    too, and an audit row must never block or be removed by anything else.
    """

    __tablename__ = "audit_event"
    __table_args__ = (
        enum_check("outcome", AuditOutcome),
        Index("ix_audit_event_person_time", "person_id", "occurred_at"),
        Index("ix_audit_event_user_time", "user_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None]
    username: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(32))
    #: read, search, create, update, delete, login, logout …
    action: Mapped[str] = mapped_column(String(32))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    person_id: Mapped[int | None]
    outcome: Mapped[AuditOutcome] = mapped_column(EnumText(AuditOutcome, 16))
    detail: Mapped[dict[str, Any] | None]


class AuditSeal(Base):
    """One link of the audit trail's hash chain: a digest over a batch of audit events.

    The seal covers the events whose ids are in `event_ids` (ranges such as "1-57,59-100",
    all between `first_event_id` and `last_event_id`), in id order, and the previous seal's
    digest, so changing, removing or slipping in an event, or removing a seal, breaks the
    chain and `hoc audit verify` says where (houseofcare.store.audit_seal). Seals are
    written in batches by one sealer at a time, so the hot paths that insert audit events
    (including the raw-SQL ones) are untouched and never queue on a shared row.
    `first_event_id` is one past the previous seal's `last_event_id`; its uniqueness keeps
    the chain a single line when two sealers race.
    """

    __tablename__ = "audit_seal"
    __table_args__ = (
        CheckConstraint("last_event_id >= first_event_id", name="range_ordered"),
        CheckConstraint("event_count >= 1", name="not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    first_event_id: Mapped[int] = mapped_column(Integer, unique=True)
    last_event_id: Mapped[int] = mapped_column(Integer)
    event_count: Mapped[int] = mapped_column(Integer)
    #: The ids sealed, as ranges ("1-57,59-100"): an id missing later was removed, an id
    #: in the range that is not listed was slipped in.
    event_ids: Mapped[str] = mapped_column(Text)
    #: Eight hex digits of each event's own digest, in id order: names the altered event.
    event_digests: Mapped[str] = mapped_column(Text)
    previous_digest: Mapped[str] = mapped_column(String(64))
    #: SHA-256 (hex) over the previous digest, the range, the ids and every event's
    #: canonical form.
    digest: Mapped[str] = mapped_column(String(64))
    #: When it was written: for people reading the table, not part of the digest.
    sealed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


#: Tables whose rows are never updated or deleted (the migrations add the triggers).
APPEND_ONLY_TABLES: tuple[str, ...] = (
    "audit_event",
    "care_plan_version",
    "goal_version",
    "care_action_version",
    "audit_seal",
)
