"""`hoc db seed-demo`: a working operational store for a demo, from the analytic store.

Loads people (NHS number, name, birth date, sex, practice) from the analytic `patient` table,
makes an organisation for each of their practices plus one of every other type, one user for
every role with a KNOWN DEMO PASSWORD, two care teams, a caseload and care plans with goals,
actions, needs, conversations and consent. Running it again adds only what is missing.

The demo should look like a real primary care network at work, so the case manager's caseload
is the network's level 3 people (case management, from the latest `hoc run`), highest risk
first, and the care plans are at every stage of the Year of Care cycle (`PLAN_STAGES`): results
sent before the conversation, agreed, due for review, and reviewed. Plans are made with the
careplan services, so every one has its version history as if clinicians had written it.

Demo passwords are printed and documented: a demo store must never hold real records.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import duckdb
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from houseofcare.careplan import SYSTEM, Actor, partners
from houseofcare.careplan.consent import give_consent, has_consent
from houseofcare.careplan.people import (
    add_team_member,
    assign_to_caseload,
    create_care_team,
    create_organisation,
    create_user,
)
from houseofcare.careplan.plans import (
    add_action,
    add_goal,
    add_need,
    create_care_plan,
    record_conversation,
    review_care_plan,
    update_goal,
)
from houseofcare.careplan.preparation import (
    NoAnalyticRun,
    add_talking_points,
    mark_summary_sent,
    prepare,
)
from houseofcare.nhs_number import is_valid_nhs_number
from houseofcare.results import AnalyticResults
from houseofcare.settings import Settings
from houseofcare.store.audit import record_audit
from houseofcare.store.database import engine_for, session_factory, transaction
from houseofcare.store.migrate import upgrade
from houseofcare.store.models import Action as PlanAction
from houseofcare.store.models import (
    CarePlan,
    CarePlanStatus,
    CareTeam,
    Organisation,
    OrganisationType,
    Person,
    Role,
    User,
)
from houseofcare.store.types import utcnow

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


#: The stages demo care plans are at, given in turn to the people with a plan (highest risk first):
#: - prepared: the results summary was prepared from the latest run and sent; the plan is a draft
#:   until the conversation;
#: - agreed: the conversation happened and the person agreed the plan; review in a few months;
#: - due for review: agreed about a year ago, its review date has passed;
#: - reviewed: agreed about a year ago and reviewed today (a new version, a goal moved on).
PLAN_STAGES: tuple[str, ...] = ("prepared", "agreed", "due for review", "reviewed")

#: How many level 3 people the demo case manager holds (a community matron's caseload is
#: typically a few dozen people).
DEFAULT_CASELOAD = 30


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
    #: People on the demo case manager's caseload (level 3 of the latest run, by risk).
    caseload: int = 0
    #: Care plans per stage of `PLAN_STAGES`.
    plan_stages: dict[str, int] = field(default_factory=dict)
    users: list[DemoUser] = field(default_factory=list)


def seed_demo(
    settings: Settings, *, people: int = 1_000, plans: int = 50, caseload: int = DEFAULT_CASELOAD
) -> DemoSummary:
    """Migrate the store and load the demo (idempotent); what is there afterwards.

    `people` living people are loaded (plus the `caseload` highest-risk level 3 people of the
    latest run wherever they are registered); `plans` of them get a care plan, the caseload
    first. Without a pipeline run the caseload is empty and the CLI says to run `hoc run`.
    """
    rows, level3 = _analytic_people(settings, people, caseload)
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
            case_team = _case_management_team(session, others["DEMO-CT"], users)
            on_caseload = _caseload(session, users[Role.case_manager], level3)
            summary.caseload = len(on_caseload)
            _plans(
                session,
                settings,
                home=home,
                users=users,
                teams=(team, case_team),
                caseload=on_caseload,
                count=plans,
                summary=summary,
            )
            _my_care_plan(session, settings, rows, users, team, summary)
            # --- issue 13: the directory of services (selfcare/demo_directory.py)
            from houseofcare.selfcare.demo_directory import load_demo_directory

            load_demo_directory(session, others["DEMO-VG"])
            home_id = home.id
        # --- issue 13: referrals: the demo link worker, their people and referrals at each
        # stage, made through the referral service (selfcare/demo_referrals.py)
        from houseofcare.selfcare.demo_referrals import LINK_WORKER, seed_referrals

        made = seed_referrals(factory, practice_id=home_id, password=demo_password(LINK_WORKER))
        if made.link_worker is not None:
            summary.users.append(
                DemoUser(
                    LINK_WORKER,
                    demo_password(LINK_WORKER),
                    Role.link_worker.value,
                    "Demo Community Health NHS Trust (social prescribing)",
                )
            )
        return summary
    finally:
        engine.dispose()


def _analytic_people(
    settings: Settings, limit: int, caseload: int
) -> tuple[list[dict[str, object]], list[str]]:
    """The people to load, and the patient ids of the caseload (level 3 by risk, highest first).

    The caseload's people are loaded whatever `limit` says: they are the point of the demo.
    """
    from houseofcare.store.analytic import connect

    if not settings.analytic_db_path.exists():
        raise DemoError(
            f"no analytic store at {settings.analytic_db_path}; run `hoc quickstart` first"
        )
    con = connect(settings, read_only=True)
    try:
        level3 = AnalyticResults(con).case_management_by_risk(caseload)
        present = _columns(con, "patient")
        # a store made before names joined the contract and not yet re-ingested has no names
        names_sql = ", ".join(
            c if c in present else f"CAST(NULL AS VARCHAR) AS {c}"
            for c in ("given_name", "family_name")
        )
        result = con.execute(
            f"""SELECT patient_id, nhs_number, {names_sql}, birth_date, gender, practice_id
               FROM patient
               WHERE death_date IS NULL AND nhs_number IS NOT NULL AND practice_id IS NOT NULL
               ORDER BY practice_id, patient_id LIMIT ?""",
            [limit],
        )
        columns = [d[0] for d in result.description]
        rows = [dict(zip(columns, row, strict=True)) for row in result.fetchall()]
        loaded = {row["patient_id"] for row in rows}
        wanted = [p for p in level3 if p not in loaded]
        if wanted:
            result = con.execute(
                f"""SELECT patient_id, nhs_number, {names_sql}, birth_date, gender, practice_id
                   FROM patient
                   WHERE death_date IS NULL AND nhs_number IS NOT NULL
                     AND practice_id IS NOT NULL AND list_contains(?, patient_id)
                   ORDER BY practice_id, patient_id""",
                [wanted],
            )
            rows += [dict(zip(columns, row, strict=True)) for row in result.fetchall()]
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
    valid = [r for r in rows if is_valid_nhs_number(str(r["nhs_number"]))]
    kept = {r["patient_id"] for r in valid}
    return valid, [p for p in level3 if p in kept]


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
    ).fetchall()
    return {r[0] for r in rows}


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
            "given_name": row["given_name"],
            "family_name": row["family_name"],
            "birth_date": row["birth_date"],
            "gender": row["gender"],
            "practice_id": practices[row["practice_id"]].id,
        }
        for row in rows
        if row["nhs_number"] not in known
    ]
    if new:
        session.execute(insert(Person), new)
    # people loaded before the analytic store had names get them now
    by_number = {row["nhs_number"]: row for row in rows}
    for person in session.scalars(
        select(Person).where(
            Person.nhs_number.in_(list(known)),
            Person.given_name.is_(None),
            Person.family_name.is_(None),
        )
    ):
        row = by_number[person.nhs_number]
        person.given_name = _text(row["given_name"])
        person.family_name = _text(row["family_name"])
    return len(new)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


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


def _case_management_team(
    session: Session, trust: Organisation, users: dict[Role, User]
) -> CareTeam:
    """The community trust's case-management team: it holds the plans of the caseload, whose
    people are registered at practices across the network (a practice team may not)."""
    name = f"{trust.name} case management team"
    team = session.scalar(select(CareTeam).where(CareTeam.name == name))
    if team is None:
        team = create_care_team(session, name=name, organisation_id=trust.id)
    add_team_member(session, team.id, users[Role.case_manager].id)
    return team


def _caseload(session: Session, manager: User, level3: list[str]) -> list[Person]:
    """Put the level 3 people on the case manager's caseload in risk order (the caseload lists
    longest-assigned first, so the highest risk comes first); with their consent to share with
    the community trust, which case management needs."""
    if not level3:
        return []
    found = {
        p.patient_id: p
        for p in session.scalars(select(Person).where(Person.patient_id.in_(level3)))
    }
    people = [found[p] for p in level3 if p in found]
    for person in people:
        assign_to_caseload(session, case_manager_id=manager.id, person_id=person.id)
        if not has_consent(session, person.id, OrganisationType.community_trust):
            give_consent(session, person.id, OrganisationType.community_trust, SYSTEM)
    return people


#: What matters to people, in their own words, with a measurable target: (goal, measure, value,
#: unit, the person's action, a service's action, a need's domain, the need).
_GOALS: tuple[tuple[str, str, float, str, str, str, str, str], ...] = (
    (
        "To walk to the shops and back without getting breathless.",
        "walk without stopping", 20, "min",
        "Walk for 10 minutes every day.", "Invite to the weekly walking group.",
        "social_loneliness", "Lives alone since spring.",
    ),
    (
        "To stay out of hospital this winter.",
        "emergency admissions", 0, "admissions",
        "Use the rescue pack as agreed and call the matron early.",
        "Review the rescue pack and the inhaler technique.",
        "social_housing", "The flat is cold and damp; heating costs worry them.",
    ),
    (
        "To keep looking after my grandchildren on Saturdays.",
        "HbA1c", 58, "mmol/mol",
        "Take metformin with breakfast and dinner.", "Refer to the structured education course.",
        "social_carer", "Cares for their husband, who has dementia.",
    ),
    (
        "To get back to the allotment.",
        "falls", 0, "falls",
        "Do the strength and balance exercises three times a week.",
        "Home assessment for rails and a perching stool.",
        "mobility", "Two falls in the last six months.",
    ),
)  # fmt: skip


def _plans(
    session: Session,
    settings: Settings,
    *,
    home: Organisation,
    users: dict[Role, User],
    teams: tuple[CareTeam, CareTeam],
    caseload: list[Person],
    count: int,
    summary: DemoSummary,
) -> None:
    """Care plans for `count` people, the caseload first (highest risk first, written by the
    case manager for the trust's team), then people of the home practice (written by the nurse
    for the practice team); the stages of `PLAN_STAGES` in turn. A person who already has a
    plan keeps it (running again adds nothing)."""
    practice_people = session.scalars(
        select(Person).where(Person.practice_id == home.id).order_by(Person.id).limit(count)
    ).all()
    chosen: list[Person] = []
    for person in [*caseload, *practice_people]:
        if person not in chosen and len(chosen) < count:
            chosen.append(person)
    on_caseload = {p.id for p in caseload}
    practice_team, case_team = teams
    for index, person in enumerate(chosen):
        stage = PLAN_STAGES[index % len(PLAN_STAGES)]
        summary.care_plans += 1
        summary.plan_stages[stage] = summary.plan_stages.get(stage, 0) + 1
        if session.scalar(select(CarePlan.id).where(CarePlan.person_id == person.id).limit(1)):
            continue
        writer = users[Role.case_manager] if person.id in on_caseload else users[Role.nurse]
        team = case_team if person.id in on_caseload else practice_team
        if stage == "prepared":
            plan = _prepared(session, settings, person, writer, team, index)
        else:
            plan = _agreed(session, person, writer, team, index, stage)
        # as the API records a plan a clinician makes, saying it was the demo that made it
        record_audit(
            session,
            action="create",
            resource_type="CarePlan",
            user=writer,
            resource_id=plan.id,
            person_id=person.id,
            detail={"source": "hoc db seed-demo", "stage": stage},
        )
        _share(session, person, users, index)


# --- issue 12: partners' view. Some people share their plan with social care (every third),
# the people whose plan is at the "prepared" stage with the voluntary group; the first to share with
# social care has an action and a note from demo.social, so the partners' view has something
# to show. The demo patient shares with nobody: their consent is theirs to give (/consent).
def _share(session: Session, person: Person, users: dict[Role, User], index: int) -> None:
    if person.id == users[Role.patient].person_id:
        return
    if index % 3 == 0:
        give_consent(session, person.id, OrganisationType.local_authority_social_care, SYSTEM)
        social = users[Role.social_worker]
        if not session.scalar(
            select(PlanAction.id).where(PlanAction.performer_user_id == social.id).limit(1)
        ):
            actor = Actor.of(
                social, organisation_type=OrganisationType.local_authority_social_care.value
            )
            partners.add_action(
                session,
                person.id,
                actor,
                description="Carers assessment visit, and ask about help with heating costs",
                due_date=utcnow().date() + dt.timedelta(days=21),
            )
            partners.add_note(
                session,
                person.id,
                actor,
                "Spoke on the phone: happy for a visit; prefers mornings.",
            )
    if PLAN_STAGES[index % len(PLAN_STAGES)] == "prepared":
        # results sent, the conversation to come: a Breathe Easy group can help them prepare
        give_consent(session, person.id, OrganisationType.voluntary_group, SYSTEM)


def _prepared(
    session: Session, settings: Settings, person: Person, writer: User, team: CareTeam, index: int
) -> CarePlan:
    """Results summary prepared from the latest run and sent; the plan a draft until the
    conversation. Without a pipeline run there is nothing to summarise: the draft alone."""
    actor = Actor.of(writer)
    try:
        record = prepare(session, person.id, actor, settings=settings)
    except NoAnalyticRun:
        record = None
    if record is not None:
        mark_summary_sent(session, record.id, actor)
        if (index // len(PLAN_STAGES)) % 2 == 0:  # every other prepared person
            add_talking_points(
                session,
                record.id,
                "My breathing at night, and whether I still need all my tablets.",
                actor,
            )
    return create_care_plan(
        session,
        person.id,
        actor,
        status=CarePlanStatus.draft,
        care_team_id=team.id,
        lead_user_id=writer.id,
        description="Results sent; the care-planning conversation is booked.",
    )


def _agreed(
    session: Session, person: Person, writer: User, team: CareTeam, index: int, stage: str
) -> CarePlan:
    """A plan agreed at a conversation (recently for `agreed`, about a year ago otherwise),
    then for `reviewed` reviewed today: a goal moved on and a new version of the plan."""
    actor = Actor.of(writer)
    today = dt.date.today()
    now = utcnow()
    goal, measure, value, unit, own, service, domain, need = _GOALS[index % len(_GOALS)]
    plan = create_care_plan(
        session,
        person.id,
        actor,
        care_team_id=team.id,
        lead_user_id=writer.id,
        description="Living well with my long-term conditions.",
    )
    target: dict[str, Any] = {
        "what_matters_to_me": goal,
        "target_measure": measure,
        "target_value": value,
        "target_unit": unit,
        "target_due": today + dt.timedelta(days=180),
    }
    added = add_goal(session, plan.id, target, actor)
    add_action(session, plan.id, {"performer": "person", "description": own}, actor)
    add_action(
        session,
        plan.id,
        {
            "performer": "service",
            "performer_name": team.name,
            "description": service,
            "due_date": today + dt.timedelta(days=30),
        },
        actor,
    )
    add_need(session, plan.id, {"domain": domain, "description": need}, actor)
    name = " ".join(n for n in (person.given_name, person.family_name) if n) or "the person"
    if stage == "agreed":
        met = now - dt.timedelta(days=14 + index % 60)
        review = today + dt.timedelta(days=120 + (index * 7) % 180)
    else:
        met = now - dt.timedelta(days=380 + index % 40)
        review = today - dt.timedelta(days=7 + (index * 5) % 50)
    plan = record_conversation(
        session,
        plan.id,
        plan.version,
        actor,
        participants=[
            {"role": "person", "name": name},
            {"role": "professional", "name": writer.display_name, "user_id": writer.id},
        ],
        agreed_with_person=True,
        review_date=review,
        at=met,
    )
    if stage == "reviewed":
        update_goal(
            session,
            added.id,
            added.version,
            {"target_due": today + dt.timedelta(days=365)},
            actor,
        )
        review_care_plan(
            session,
            plan.id,
            plan.version,
            actor,
            next_review_date=today + dt.timedelta(days=180),
            note="Reviewed with the person: good progress; carry on, with a new date for the goal.",
        )
    return plan


# --- issue 12: My care plan: the demo person has a plan to read, and a carer with proxy access

#: The demo carer: a person with a sign-in of their own, given proxy access by demo.patient.
DEMO_CARER = "demo.carer"


def _my_care_plan(
    session: Session,
    settings: Settings,
    rows: list[dict[str, object]],
    users: dict[Role, User],
    team: CareTeam,
    summary: DemoSummary,
) -> None:
    """What signing in as `demo.patient` shows: if the stages gave their person no plan, an
    agreed one (goals, actions, review date) and their results letter; and `demo.carer`
    (the next person) with demo.patient's proxy access. Running again adds nothing."""
    from houseofcare.careplan.proxy import give_proxy

    patient = users[Role.patient]
    assert patient.person_id is not None
    person = session.get(Person, patient.person_id)
    assert person is not None
    has_plan = session.scalar(select(CarePlan.id).where(CarePlan.person_id == person.id).limit(1))
    if has_plan is None:
        writer = users[Role.nurse]
        plan = _agreed(session, person, writer, team, 2, "agreed")
        with contextlib.suppress(NoAnalyticRun):  # no run yet: the plan alone
            prepare(session, person.id, Actor.of(writer), settings=settings)
        record_audit(
            session,
            action="create",
            resource_type="CarePlan",
            user=writer,
            resource_id=plan.id,
            person_id=person.id,
            detail={"source": "hoc db seed-demo", "stage": "agreed", "for": "demo.patient"},
        )
    if len(rows) < 2:
        return
    carer = session.scalar(select(User).where(User.username == DEMO_CARER))
    if carer is None:
        other = session.scalar(select(Person).where(Person.patient_id == rows[1]["patient_id"]))
        if other is None:
            return
        carer = create_user(
            session,
            username=DEMO_CARER,
            password=demo_password(DEMO_CARER),
            role=Role.patient,
            display_name="Demo carer",
            person_id=other.id,
        )
    give_proxy(session, person.id, DEMO_CARER, Actor.of(patient))
    summary.users.append(
        DemoUser(
            DEMO_CARER,
            demo_password(DEMO_CARER),
            Role.patient.value,
            f"carer of demo.patient (proxy access); person {carer.person_id}",
        )
    )
