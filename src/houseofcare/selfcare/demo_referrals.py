"""The demo's social prescribing (issue 13): a link worker, their people, and referrals at
each stage, made through the referral service itself (so each is audited, on the person's
plan, and counts against the service's places) by `hoc db seed-demo`.

- `demo.linkworker` (password `demo.linkworker-2026`, the demo scheme), a social prescribing
  link worker of the demo community trust, with up to four people of the demo practice
  who have an active care plan on their caseload, each with what matters to them;
- two services of the demo voluntary group (`demo.voluntary` receives their referrals): a
  walk and one other with a monthly limit from the demo directory when it is loaded, else
  two of its own (a walking group, and a singing-for-breathing group of two places a month);
- referrals at different stages: sent, accepted, attended (with the outcome, so the
  person's plan shows it), declined (with the reason, recorded as unmet need).

Running it again adds nothing (it stops when the link worker already has people).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from houseofcare.careplan.actor import Actor
from houseofcare.careplan.guard import Guard
from houseofcare.careplan.people import create_user
from houseofcare.careplan.policy import packaged_policy
from houseofcare.selfcare import referrals
from houseofcare.store.database import transaction
from houseofcare.store.models import (
    CarePlan,
    CarePlanStatus,
    CaseloadAssignment,
    Organisation,
    Person,
    Role,
    Service,
    ServiceAccess,
    ServiceKind,
    ServiceStatus,
    User,
)

LINK_WORKER: Final = "demo.linkworker"
#: (ORUK id, name, capacity per month, needs).
DEMO_SERVICES: Final = (
    ("demo-referrals-walking-group", "Demo Wednesday walking group", 12, ["social_loneliness"]),
    ("demo-referrals-singing", "Demo singing for better breathing", 2, ["self_management"]),
)
#: What matters to each person on the caseload, and how their referral went.
STORIES: Final = (
    ("Lonely since moving here; would like to get out and meet people", "walk", "attended"),
    ("Breathless on the stairs; wants to keep singing in the choir", "sing", "accepted"),
    ("Would like company to walk the dog in the park", "walk", "sent"),
    ("Wants to get fitter but the group meets too far away", "walk", "declined"),
)


@dataclass
class DemoReferrals:
    link_worker: str | None = None
    people: int = 0
    referrals: int = 0


def _guard(factory: sessionmaker[Session], user: User, kind: str | None) -> Guard:
    return Guard(
        actor=Actor.of(user, organisation_type=kind),
        factory=factory,
        policy=packaged_policy(),
        via="demo",
    )


def _directory_services(session: Session, group_id: int) -> dict[str, int]:
    """The demo directory's services of the voluntary group, when it is loaded: a walk and
    one other with places (a limit per month), the last listed (the first are those the
    directory's own demos show with all their places); {} when there are none to use."""
    ours = session.scalars(
        select(Service)
        .where(Service.organisation_id == group_id, Service.status == ServiceStatus.active)
        .order_by(Service.id.desc())
    ).all()
    walk = next((s for s in ours if "walk" in s.name.lower()), None)
    other = next((s for s in ours if s is not walk and s.capacity_per_month), None)
    if walk is None or other is None:
        return {}
    return {"walk": walk.id, "sing": other.id}


def seed_referrals(
    factory: sessionmaker[Session], *, practice_id: int, password: str
) -> DemoReferrals:
    """The demo link worker, services and referrals (see the module's docstring)."""
    done = DemoReferrals()
    with transaction(factory) as session:
        group = session.scalar(select(Organisation).where(Organisation.ods_code == "DEMO-VG"))
        trust = session.scalar(select(Organisation).where(Organisation.ods_code == "DEMO-CT"))
        gp = session.scalar(select(User).where(User.username == "demo.gp"))
        volunteer = session.scalar(select(User).where(User.username == "demo.voluntary"))
        if group is None or trust is None or gp is None or volunteer is None:
            return done
        worker = session.scalar(select(User).where(User.username == LINK_WORKER))
        if worker is None:
            worker = create_user(
                session,
                username=LINK_WORKER,
                password=password,
                role=Role.link_worker,
                display_name="Demo link worker",
                organisation_id=trust.id,
            )
        done.link_worker = LINK_WORKER
        if session.scalar(
            select(CaseloadAssignment.id).where(CaseloadAssignment.case_manager_id == worker.id)
        ):
            return done
        services = _directory_services(session, group.id)
        for oruk_id, name, places, needs in DEMO_SERVICES if not services else ():
            service = session.scalar(select(Service).where(Service.oruk_id == oruk_id))
            if service is None:
                service = Service(
                    oruk_id=oruk_id,
                    name=name,
                    organisation_name=group.name,
                    organisation_id=group.id,
                    status=ServiceStatus.active,
                    kind=ServiceKind.voluntary,
                    access=ServiceAccess.both,
                    needs=needs,
                    conditions=[],
                    taxonomy=[],
                    accessibility=["step-free access"],
                    languages=["en"],
                    capacity_per_month=places,
                )
                session.add(service)
                session.flush()
            services["walk" if "walking" in oruk_id else "sing"] = service.id
        people = session.scalars(
            select(Person.id)
            .join(CarePlan, CarePlan.person_id == Person.id)
            .where(
                Person.practice_id == practice_id,
                CarePlan.status == CarePlanStatus.active,
                # not the demo patient, whose own pages other demos show as they are
                Person.id.not_in(select(User.person_id).where(User.person_id.is_not(None))),
            )
            .order_by(Person.id)
            .limit(len(STORIES))
        ).all()
        for person_id, (matters, _, _) in zip(people, STORIES, strict=False):
            session.add(
                CaseloadAssignment(
                    case_manager_id=worker.id,
                    person_id=person_id,
                    assigned_by_id=gp.id,
                    what_matters=matters,
                )
            )
        session.flush()
        session.expunge_all()
    done.people = len(people)
    lw = _guard(factory, worker, trust.type.value)
    vol = _guard(factory, volunteer, group.type.value)
    for person_id, (matters, which, stage) in zip(people, STORIES, strict=False):
        sent = referrals.send(
            lw,
            person_id=person_id,
            service_id=services[which],
            reason=matters,
            need_domain="social_loneliness" if which == "walk" else "self_management",
        )
        done.referrals += 1
        if stage == "declined":
            referrals.move(
                vol,
                sent.id,
                "declined",
                expected_version=1,
                note="The group walks three miles from the park; too far for now",
            )
        if stage in ("accepted", "attended"):
            referrals.move(vol, sent.id, "accepted", expected_version=1)
        if stage == "attended":
            referrals.move(
                vol,
                sent.id,
                "attended",
                expected_version=2,
                note="Came to four walks and has joined the Friday group too",
            )
    return done
