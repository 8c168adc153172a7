"""`hoc db seed-demo`: a working operational store for a demo, from the analytic store.

Loads people (NHS number, birth date, sex, practice) from the analytic `patient` table, makes
an organisation for each of their practices plus one of every other type, one user for every
role with a KNOWN DEMO PASSWORD, a care team, a caseload and some care plans with goals,
actions, needs, conversations and consent. Running it again adds only what is missing.

Demo passwords are printed and documented: a demo store must never hold real records.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from houseofcare.careplan import SYSTEM, Actor
from houseofcare.careplan.consent import give_consent
from houseofcare.careplan.people import (
    add_team_member,
    assign_to_caseload,
    create_care_team,
    create_organisation,
    create_user,
)
from houseofcare.careplan.plans import (
    active_care_plan,
    add_action,
    add_goal,
    add_need,
    create_care_plan,
    record_conversation,
)
from houseofcare.nhs_number import is_valid_nhs_number
from houseofcare.settings import Settings
from houseofcare.store.database import engine_for, session_factory, transaction
from houseofcare.store.migrate import upgrade
from houseofcare.store.models import (
    CareTeam,
    Organisation,
    OrganisationType,
    Person,
    Role,
    User,
)

#: The demo organisations other than practices: (ODS-like code, name, type).
DEMO_ORGANISATIONS: tuple[tuple[str, str, OrganisationType], ...] = (
    ("DEMO-CT", "Demo Community Health NHS Trust", OrganisationType.community_trust),
    ("DEMO-AT", "Demo Hospitals NHS Foundation Trust", OrganisationType.acute_trust),
    (
        "DEMO-LA",
        "Demo City Council Adult Social Care",
        OrganisationType.local_authority_social_care,
    ),
    ("DEMO-VG", "Demo Breathe Easy Group", OrganisationType.voluntary_group),
)

#: Demo users: username, role, organisation (a practice: "practice"; else a demo ODS code).
DEMO_USERS: tuple[tuple[str, Role, str | None], ...] = (
    ("demo.gp", Role.gp, "practice"),
    ("demo.nurse", Role.nurse, "practice"),
    ("demo.matron", Role.case_manager, "DEMO-CT"),
    ("demo.social", Role.social_worker, "DEMO-LA"),
    ("demo.voluntary", Role.voluntary_sector, "DEMO-VG"),
    ("demo.commissioner", Role.commissioner, None),
    ("demo.admin", Role.admin, None),
    ("demo.patient", Role.patient, None),
)


class DemoError(RuntimeError):
    """The demo cannot be loaded (e.g. no analytic store yet)."""


def demo_password(username: str) -> str:
    """The demo password of a demo user: known on purpose, for the demo only."""
    return f"{username}-2026"


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str
    where: str


@dataclass
class DemoSummary:
    people: int = 0
    new_people: int = 0
    organisations: int = 0
    care_plans: int = 0
    users: list[DemoUser] = field(default_factory=list)


def seed_demo(settings: Settings, *, people: int = 1_000, plans: int = 50) -> DemoSummary:
    """Migrate the store and load the demo (idempotent); what is there afterwards."""
    rows = _analytic_people(settings, people)
    upgrade(settings)
    engine = engine_for(settings)
    factory = session_factory(engine)
    try:
        with transaction(factory) as session:
            summary = DemoSummary()
            practices = _practices(session, rows, settings)
            others = _other_organisations(session)
            summary.new_people = _load_people(session, rows, practices)
            summary.people = len(rows)
            summary.organisations = len(practices) + len(others)
            home = practices[rows[0]["practice_id"]] if rows else None
            if home is None:
                raise DemoError("no people with a practice in the analytic store")
            users = _users(session, home, others, rows, summary)
            team = _team(session, home, users)
            summary.care_plans = _plans(session, home, users, team, plans)
        return summary
    finally:
        engine.dispose()


def _analytic_people(settings: Settings, limit: int) -> list[dict[str, object]]:
    from houseofcare.store.analytic import connect

    if not settings.analytic_db_path.exists():
        raise DemoError(
            f"no analytic store at {settings.analytic_db_path}; run `hoc quickstart` first"
        )
    con = connect(settings, read_only=True)
    try:
        result = con.execute(
            """SELECT patient_id, nhs_number, birth_date, gender, practice_id
               FROM patient
               WHERE death_date IS NULL AND nhs_number IS NOT NULL AND practice_id IS NOT NULL
               ORDER BY practice_id, patient_id LIMIT ?""",
            [limit],
        )
        columns = [d[0] for d in result.description]
        rows = [dict(zip(columns, row, strict=True)) for row in result.fetchall()]
        names: dict[str, str] = {}
        if rows:
            found = con.execute(
                "SELECT coalesce(ods_code, organization_id), name FROM organization "
                "WHERE name IS NOT NULL"
            ).fetchall()
            names = {str(code): str(name) for code, name in found}
    finally:
        con.close()
    if not rows:
        raise DemoError("the analytic store has no living people with a practice; ingest first")
    for row in rows:
        row["practice_name"] = names.get(str(row["practice_id"]))
    return [r for r in rows if is_valid_nhs_number(str(r["nhs_number"]))]


def _practices(
    session: Session, rows: list[dict[str, object]], settings: Settings
) -> dict[object, Organisation]:
    wanted = {row["practice_id"]: row["practice_name"] for row in rows}
    existing = {
        org.ods_code: org
        for org in session.scalars(
            select(Organisation).where(Organisation.ods_code.in_([str(k) for k in wanted]))
        )
    }
    result: dict[object, Organisation] = {}
    for practice_id, name in wanted.items():
        org = existing.get(str(practice_id))
        if org is None:
            org = create_organisation(
                session,
                ods_code=str(practice_id),
                name=str(name or f"Practice {practice_id}"),
                type=OrganisationType.practice,
            )
        result[practice_id] = org
    return result


def _other_organisations(session: Session) -> dict[str, Organisation]:
    result: dict[str, Organisation] = {}
    for code, name, org_type in DEMO_ORGANISATIONS:
        org = session.scalar(select(Organisation).where(Organisation.ods_code == code))
        result[code] = org or create_organisation(session, ods_code=code, name=name, type=org_type)
    return result


def _load_people(
    session: Session, rows: list[dict[str, object]], practices: dict[object, Organisation]
) -> int:
    """Insert the people not yet in the store, in one statement; how many were new."""
    known = set(
        session.scalars(
            select(Person.nhs_number).where(Person.nhs_number.in_([r["nhs_number"] for r in rows]))
        )
    )
    new = [
        {
            "nhs_number": row["nhs_number"],
            "patient_id": row["patient_id"],
            "birth_date": row["birth_date"],
            "gender": row["gender"],
            "practice_id": practices[row["practice_id"]].id,
        }
        for row in rows
        if row["nhs_number"] not in known
    ]
    if new:
        session.execute(insert(Person), new)
    return len(new)


def _users(
    session: Session,
    home: Organisation,
    others: dict[str, Organisation],
    rows: list[dict[str, object]],
    summary: DemoSummary,
) -> dict[Role, User]:
    patient = session.scalar(select(Person).where(Person.patient_id == rows[0]["patient_id"]))
    assert patient is not None
    users: dict[Role, User] = {}
    for username, role, where in DEMO_USERS:
        org = home if where == "practice" else others.get(where) if where else None
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = create_user(
                session,
                username=username,
                password=demo_password(username),
                role=role,
                display_name=f"Demo {role.value.replace('_', ' ')}",
                organisation_id=None if org is None else org.id,
                person_id=patient.id if role is Role.patient else None,
            )
        users[role] = user
        shown = f"person {patient.nhs_number}" if role is Role.patient else org.name if org else "-"
        summary.users.append(DemoUser(username, demo_password(username), role.value, shown))
    return users


def _team(session: Session, home: Organisation, users: dict[Role, User]) -> CareTeam:
    name = f"{home.name} long-term conditions team"
    team = session.scalar(select(CareTeam).where(CareTeam.name == name))
    if team is None:
        team = create_care_team(session, name=name, organisation_id=home.id)
    for role in (Role.gp, Role.nurse, Role.case_manager):
        add_team_member(session, team.id, users[role].id)
    return team


def _plans(
    session: Session, home: Organisation, users: dict[Role, User], team: CareTeam, count: int
) -> int:
    """Care plans for the first `count` people of the home practice (review dates spread
    around today so the due-review list has something in it)."""
    nurse = Actor.of(users[Role.nurse])
    today = dt.date.today()
    people = session.scalars(
        select(Person).where(Person.practice_id == home.id).order_by(Person.id).limit(count)
    ).all()
    made = 0
    for index, person in enumerate(people):
        if active_care_plan(session, person.id) is not None:
            made += 1
            continue
        plan = create_care_plan(
            session,
            person.id,
            nurse,
            care_team_id=team.id,
            lead_user_id=users[Role.nurse].id,
            description="Living well with my long-term conditions.",
        )
        add_goal(
            session,
            plan.id,
            {
                "what_matters_to_me": "To walk to the shops and back without getting breathless.",
                "target_measure": "walk without stopping",
                "target_value": 20,
                "target_unit": "min",
                "target_due": today + dt.timedelta(days=180),
            },
            nurse,
        )
        add_action(
            session,
            plan.id,
            {"performer": "person", "description": "Walk for 10 minutes every day."},
            nurse,
        )
        add_action(
            session,
            plan.id,
            {
                "performer": "service",
                "performer_name": "Demo Breathe Easy Group",
                "description": "Invite to the weekly walking group.",
                "due_date": today + dt.timedelta(days=30),
            },
            nurse,
        )
        add_need(
            session,
            plan.id,
            {"domain": "social_loneliness", "description": "Lives alone since spring."},
            nurse,
        )
        record_conversation(
            session,
            plan.id,
            plan.version,
            nurse,
            participants=[
                {"role": "person", "name": "the person"},
                {"role": "professional", "name": "Demo nurse", "user_id": users[Role.nurse].id},
            ],
            agreed_with_person=True,
            review_date=today + dt.timedelta(days=(index % 12) * 30 - 60),
        )
        if index % 2 == 0:
            give_consent(session, person.id, OrganisationType.community_trust, SYSTEM)
        if index % 3 == 0:
            give_consent(session, person.id, OrganisationType.local_authority_social_care, SYSTEM)
        if index < 20:
            assign_to_caseload(
                session, case_manager_id=users[Role.case_manager].id, person_id=person.id
            )
        made += 1
    return made
