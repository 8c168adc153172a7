"""The referral pages' work (issue 13): thin over `selfcare/referrals.py` and
`selfcare/social_prescribing.py`, which decide and audit.

- a person's referrals (`/people/{id}/referrals`), with the referrer's forms: refer to a
  service, withdraw or close, refer to social prescribing (a link worker's caseload);
- the refer form (`/people/{id}/referrals/new?service_id=…`): the service confirmed or chosen,
  with its places this month ("Full this month"), the need, what matters to the person,
  and the plan's action it comes from (or a new one);
- the receiving organisation's inbox (`/referrals/inbox`): accept, decline with a reason,
  attended / did not attend with the outcome, close; the person named only with consent;
- the link worker's caseload (`/social-prescribing`), with the follow-up date form.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import select

from houseofcare.api.deps import Services
from houseofcare.careplan import plans
from houseofcare.careplan.access import decide_for_person
from houseofcare.careplan.policy import Action
from houseofcare.selfcare import referrals, social_prescribing
from houseofcare.selfcare.capacity import capacities
from houseofcare.store.database import transaction
from houseofcare.store.models import Action as PlanAction
from houseofcare.store.models import (
    NeedDomain,
    Performer,
    Person,
    Role,
    Service,
    ServiceStatus,
)
from houseofcare.web.page import guard
from houseofcare.web.person_banner import PersonBanner
from houseofcare.web.planning_forms import DOMAIN_WORDS, Errors
from houseofcare.web.runs import RunStatus, latest_run
from houseofcare.web.session import PageSession

#: Services offered in the refer form's list when none is chosen (by name); the directory's
#: search (`/services`) finds the rest.
SERVICE_CHOICES: Final = 200


@dataclass(frozen=True)
class ServiceChoice:
    id: int
    name: str
    organisation_name: str
    access: str
    left: int | None

    @property
    def full(self) -> bool:
        return self.left == 0

    @property
    def places_words(self) -> str:
        if self.left is None:
            return "No limit on places"
        if self.left == 0:
            return "Full this month"
        return f"{self.left} {'place' if self.left == 1 else 'places'} left this month"


@dataclass(frozen=True)
class ActionChoice:
    id: int
    description: str


@dataclass
class PersonReferralsPage:
    person_id: int
    banner: PersonBanner | None
    referrals: list[referrals.ReferralView]
    can_refer: bool
    can_refer_link_worker: bool
    link_workers: list[tuple[int, str]]
    current_link_worker: int | None
    run: RunStatus
    errors: Errors = field(default_factory=list)
    what_matters: str = ""


def _banner(services: Services, signed_in: PageSession, person_id: int) -> PersonBanner | None:
    """The person banner, only for a user who may read the person (the same decision as the
    person page): a receiver without consent sees no one."""
    with services.factory() as session:
        if not decide_for_person(
            session, services.policy, signed_in.actor, Action.patient_read, person_id
        ).allowed:
            return None
        person = session.get(Person, person_id)
        return None if person is None else PersonBanner.of(person)


def person_page(services: Services, signed_in: PageSession, person_id: int) -> PersonReferralsPage:
    """A person's referrals (audited; `AccessRefused` when the user may not read them)."""
    checks = guard(signed_in, services)
    shown = referrals.person_referrals(checks, person_id)
    actor = signed_in.actor
    with services.factory() as session:
        can_refer = decide_for_person(
            session, services.policy, actor, Action.referral_write, person_id
        ).allowed
        workers = social_prescribing.link_workers(session) if can_refer else []
        current = social_prescribing.link_worker_of(session, person_id)
    return PersonReferralsPage(
        person_id=person_id,
        banner=_banner(services, signed_in, person_id),
        referrals=shown,
        can_refer=can_refer,
        can_refer_link_worker=can_refer and actor.role is not Role.link_worker and bool(workers),
        link_workers=workers,
        current_link_worker=current,
        run=latest_run(services.settings),
    )


@dataclass
class ReferForm:
    """The refer form: what was entered, the choices, and any errors."""

    person_id: int
    banner: PersonBanner | None
    service: ServiceChoice | None
    choices: list[ServiceChoice]
    actions: list[ActionChoice]
    has_plan: bool
    run: RunStatus
    service_id: str = ""
    need_domain: str = ""
    reason: str = ""
    action_id: str = "new"
    errors: Errors = field(default_factory=list)
    full_message: str | None = None

    @property
    def domains(self) -> dict[str, str]:
        return dict(DOMAIN_WORDS)


def _choice(service: Service, left: int | None) -> ServiceChoice:
    return ServiceChoice(
        id=service.id,
        name=service.name,
        organisation_name=service.organisation_name,
        access=service.access.value,
        left=left,
    )


def refer_form(
    services: Services,
    signed_in: PageSession,
    person_id: int,
    service_id: int | None,
    *,
    entered: dict[str, str] | None = None,
) -> ReferForm:
    """The refer form for a person (referral.write; the view of the form is audited)."""
    checks = guard(signed_in, services)
    with transaction(services.factory) as session:
        checks.authorise(
            session,
            Action.referral_write,
            person_id,
            audit_action="read",
            resource_type="ServiceRequest",
        )
        chosen = None if service_id is None else session.get(Service, service_id)
        if chosen is not None and chosen.status is not ServiceStatus.active:
            chosen = None
        listed = (
            []
            if chosen is not None
            else list(
                session.scalars(
                    select(Service)
                    .where(Service.status == ServiceStatus.active)
                    .order_by(Service.name, Service.id)
                    .limit(SERVICE_CHOICES)
                ).all()
            )
        )
        ids = [s.id for s in listed] + ([chosen.id] if chosen is not None else [])
        places = capacities(session, ids)
        plan = plans.active_care_plan(session, person_id)
        actions = []
        if plan is not None:
            actions = [
                ActionChoice(id=a.id, description=a.description)
                for a in session.scalars(
                    select(PlanAction)
                    .where(
                        PlanAction.care_plan_id == plan.id,
                        PlanAction.performer == Performer.service,
                    )
                    .order_by(PlanAction.id)
                ).all()
            ]
        checks.audit(
            session,
            action="read",
            resource_type="ServiceRequest",
            person_id=person_id,
            detail={"page": "refer"},
        )
    form = ReferForm(
        person_id=person_id,
        banner=_banner(services, signed_in, person_id),
        service=None if chosen is None else _choice(chosen, places[chosen.id].left),
        choices=[_choice(s, places[s.id].left) for s in listed],
        actions=actions,
        has_plan=plan is not None,
        run=latest_run(services.settings),
        service_id="" if chosen is None else str(chosen.id),
    )
    for key, value in (entered or {}).items():
        setattr(form, key, value)
    return form


def parse_refer(values: dict[str, str]) -> tuple[dict[str, Any], Errors]:
    """The refer form's fields checked: (what to send, the errors)."""
    errors: Errors = []
    service_id = values.get("service_id", "")
    if not service_id.isdigit():
        errors.append(("service_id", "Choose the service to refer to"))
    domain = values.get("need_domain", "")
    if domain not in {d.value for d in NeedDomain}:
        errors.append(("need_domain", "Choose the part of life the referral is about"))
    reason = values.get("reason", "").strip()
    if not reason:
        errors.append(("reason", "Say what matters to the person and why this service"))
    elif len(reason) > 2000:
        errors.append(("reason", "What matters to the person must be 2000 characters or fewer"))
    action = values.get("action_id", "new")
    if action != "new" and not action.isdigit():
        errors.append(("action_id", "Choose the action the referral comes from"))
    return {
        "service_id": int(service_id) if service_id.isdigit() else 0,
        "need_domain": domain,
        "reason": reason,
        "action_id": int(action) if action.isdigit() else None,
    }, errors


def inbox_page(services: Services, signed_in: PageSession) -> list[referrals.ReferralView]:
    return referrals.inbox(guard(signed_in, services))


def follow_up_date(day: str, month: str, year: str) -> tuple[dt.date | None, str | None]:
    """A follow-up date from the date input (all empty: none), or why it is not a date."""
    if not (day or month or year):
        return None, None
    try:
        return dt.date(int(year), int(month), int(day)), None
    except ValueError:
        return None, "Enter the follow-up date as a real date, for example 14 1 2027"


def your_referrals(
    services: Services, signed_in: PageSession, person_id: int
) -> list[referrals.ReferralView]:
    """The person's referrals for My care plan ("Your referrals"), each read audited; none
    when the policy gives the user no referral.read on them (refused and audited)."""
    from houseofcare.careplan.guard import AccessRefused

    try:
        return referrals.person_referrals(guard(signed_in, services), person_id)
    except AccessRefused:
        return []
