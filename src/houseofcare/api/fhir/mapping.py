"""Care plans, goals and consent between the store's terms and FHIR R4 (UK Core shaped).

The domain side is the care-plan domain's records (`careplan.records`: `CarePlanRecord`,
`GoalRecord`, `ConsentRecord`) holding what the store keeps; `*_to_fhir` writes the FHIR JSON
and `*_from_fhir` reads a validated request body back into the writable part (`*Content`).
This module only translates: it neither reads nor writes the store.
Reading back what was written gives the same content (a property test checks it), so nothing
a client sends is silently lost or changed on the way in.

Where FHIR R4 has no element for a house-of-care idea (needs by domain, the review date, the
plan being agreed with the person, the plan a goal belongs to), it is an extension under
`https://houseofcare.org.uk/fhir/StructureDefinition/`; see docs/api.md.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from houseofcare.api.errors import InvalidResource
from houseofcare.api.fhir.datatypes import (
    HOC,
    NHS_NUMBER_SYSTEM,
    Extension,
    Identifier,
    Reference,
    reference_id,
)
from houseofcare.api.fhir.resources import (
    CarePlanResource,
    ConsentResource,
    GoalResource,
)
from houseofcare.api.inputs import ID_RANGE, parse_id
from houseofcare.careplan.records import (
    ActionContent,
    CarePlanContent,
    CarePlanRecord,
    ConsentContent,
    ConsentRecord,
    GoalContent,
    GoalRecord,
    NeedContent,
    Participant,
)
from houseofcare.store.models import (
    ActionStatus,
    CarePlanStatus,
    GoalStatus,
    NeedDomain,
    NeedStatus,
    OrganisationType,
    ParticipantRole,
    Performer,
)

SD: Final = f"{HOC}/StructureDefinition"
EXT_REVIEW_DATE: Final = f"{SD}/review-date"
EXT_AGREED: Final = f"{SD}/agreed-with-person"
EXT_NEED: Final = f"{SD}/need"
EXT_CARE_PLAN: Final = f"{SD}/care-plan"
#: Written by the server from what happened; accepted on input and ignored.
EXT_AGREED_AT: Final = f"{SD}/agreed-at"
EXT_CONVERSATION_AT: Final = f"{SD}/conversation-at"
EXT_LAST_REVIEWED: Final = f"{SD}/last-reviewed"
SERVER_EXTENSIONS: Final = frozenset({EXT_AGREED_AT, EXT_CONVERSATION_AT, EXT_LAST_REVIEWED})

USER_SYSTEM: Final = f"{HOC}/Id/user"
ORGANISATION_TYPE_SYSTEM: Final = f"{HOC}/CodeSystem/organisation-type"
NEED_DOMAIN_SYSTEM: Final = f"{HOC}/CodeSystem/need-domain"
CONSENT_SCOPE: Final = {
    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
    "code": "patient-privacy",
}
CONSENT_CATEGORY: Final = {"system": "http://loinc.org", "code": "59284-0"}
CONSENT_ACTOR_ROLE: Final = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
    "code": "IRCP",
    "display": "information recipient",
}

#: Who does an action, or who took part, as the FHIR resource type of the reference.
PERFORMER_TYPE: Final = {
    Performer.person: "Patient",
    Performer.carer: "RelatedPerson",
    Performer.professional: "Practitioner",
    Performer.service: "HealthcareService",
}
PARTICIPANT_TYPE: Final = {
    ParticipantRole.person: "Patient",
    ParticipantRole.carer: "RelatedPerson",
    ParticipantRole.professional: "Practitioner",
}


# --- Shared pieces -----------------------------------------------------------------------------


def _iso(value: dt.date | dt.datetime) -> str:
    return value.isoformat()


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None and v != [] and v != {}}


def patient_reference(person_id: int, nhs_number: str | None) -> dict[str, Any]:
    ref: dict[str, Any] = {"reference": f"Patient/{person_id}"}
    if nhs_number:
        ref["identifier"] = {"system": NHS_NUMBER_SYSTEM, "value": nhs_number}
    return ref


def _user_identifier(user_id: int | None) -> dict[str, Any] | None:
    return None if user_id is None else {"system": USER_SYSTEM, "value": str(user_id)}


class _Problems:
    """Collects (field, reason) pairs so one response names every problem at once."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, where: str, why: str) -> None:
        self.items.append((where, why))

    def raise_if_any(self, status: int = 400) -> None:
        if self.items:
            raise InvalidResource(self.items, status=status)


def _int_id(text: str | None) -> int | None:
    """An id (1..2³¹−1, ASCII digits) or None: one rule for every reference in a body."""
    return parse_id(text)


def _subject(ref: Reference, where: str, problems: _Problems) -> tuple[int, str | None]:
    person_id = _int_id(reference_id(ref, "Patient"))
    if person_id is None:
        problems.add(
            f"{where}.reference",
            f"must be a reference of the form 'Patient/<id>', the id {ID_RANGE}",
        )
    nhs_number = None
    if ref.identifier is not None:
        if ref.identifier.system != NHS_NUMBER_SYSTEM:
            problems.add(f"{where}.identifier.system", f"must be {NHS_NUMBER_SYSTEM}")
        else:
            nhs_number = ref.identifier.value
    return person_id or 0, nhs_number


def _user_from(ref_identifier: Identifier | None, where: str, problems: _Problems) -> int | None:
    if ref_identifier is None:
        return None
    if ref_identifier.system != USER_SYSTEM or _int_id(ref_identifier.value) is None:
        problems.add(where, f"must be a user id ({ID_RANGE}) with system {USER_SYSTEM}")
        return None
    return _int_id(ref_identifier.value)


def _typed_reference(type_name: str | None, display: str | None, user_id: int | None) -> dict:
    return _drop_none(
        {"type": type_name, "identifier": _user_identifier(user_id), "display": display}
    )


# --- CarePlan ----------------------------------------------------------------------------------


def careplan_to_fhir(record: CarePlanRecord) -> dict[str, Any]:
    """The FHIR CarePlan for a stored plan (with `meta.versionId` = its version)."""
    c = record.content
    extension: list[dict[str, Any]] = []
    if c.review_date is not None:
        extension.append({"url": EXT_REVIEW_DATE, "valueDate": _iso(c.review_date)})
    extension.append({"url": EXT_AGREED, "valueBoolean": c.agreed_with_person})
    for need in c.needs:
        extension.append(
            _drop_none(
                {
                    "id": None if need.id is None else str(need.id),
                    "url": EXT_NEED,
                    "extension": [
                        {"url": "domain", "valueCode": need.domain.value},
                        {"url": "description", "valueString": need.description},
                        {"url": "status", "valueCode": need.status.value},
                    ],
                }
            )
        )
    for url, when in (
        (EXT_CONVERSATION_AT, record.conversation_at),
        (EXT_AGREED_AT, record.agreed_at),
        (EXT_LAST_REVIEWED, record.last_reviewed_at),
    ):
        if when is not None:
            extension.append({"url": url, "valueDateTime": _iso(when)})
    activity = []
    for action in c.actions:
        detail = _drop_none(
            {
                "kind": "Task",
                "status": action.status.value,
                "description": action.description,
                "scheduledPeriod": None
                if action.due_date is None
                else {"end": _iso(action.due_date)},
                "performer": [
                    _typed_reference(
                        PERFORMER_TYPE[action.performer],
                        action.performer_name,
                        action.performer_user_id,
                    )
                ],
                "goal": None
                if action.goal_id is None
                else [{"reference": f"Goal/{action.goal_id}"}],
            }
        )
        activity.append(
            _drop_none({"id": None if action.id is None else str(action.id), "detail": detail})
        )
    resource = {
        "resourceType": "CarePlan",
        "id": str(record.id),
        "meta": {"versionId": str(record.version), "lastUpdated": _iso(record.updated_at)},
        "extension": extension,
        "status": c.status.value,
        "intent": "plan",
        "title": c.title,
        "description": c.description,
        "subject": patient_reference(c.person_id, c.nhs_number),
        "period": _drop_none(
            {
                "start": None if c.period_start is None else _iso(c.period_start),
                "end": None if c.period_end is None else _iso(c.period_end),
            }
        ),
        "created": _iso(record.created_at),
        "author": None
        if c.lead_user_id is None
        else _typed_reference("Practitioner", record.lead_name, c.lead_user_id),
        "contributor": [
            _typed_reference(PARTICIPANT_TYPE.get(p.role), p.name, p.user_id)
            for p in c.participants
        ],
        "careTeam": None
        if c.care_team_id is None
        else [{"reference": f"CareTeam/{c.care_team_id}"}],
        "goal": [{"reference": f"Goal/{goal_id}"} for goal_id in record.goal_ids],
        "activity": activity,
        "note": [
            {"authorString": n.author, "time": _iso(n.time), "text": n.text}
            for n in record.comments
        ],
    }
    return _drop_none(resource)


def _need(ext: Extension, where: str, problems: _Problems) -> NeedContent | None:
    parts = {e.url: (i, e) for i, e in enumerate(ext.extension or [])}
    unknown = set(parts) - {"domain", "description", "status"}
    for url in sorted(unknown):
        problems.add(f"{where}.extension[{parts[url][0]}].url", f"unknown need part {url!r}")
    domain = parts.get("domain", (0, None))[1]
    description = parts.get("description", (0, None))[1]
    status = parts.get("status", (0, None))[1]
    if domain is None or domain.valueCode not in NeedDomain.__members__.values():
        allowed = ", ".join(d.value for d in NeedDomain)
        problems.add(f"{where}.extension('domain').valueCode", f"must be one of {allowed}")
        return None
    if description is None or not description.valueString:
        problems.add(f"{where}.extension('description').valueString", "required")
        return None
    need_status = NeedStatus.active
    if status is not None:
        if status.valueCode not in NeedStatus.__members__.values():
            problems.add(f"{where}.extension('status').valueCode", "must be active or resolved")
            return None
        need_status = NeedStatus(status.valueCode)
    need_id = None
    if ext.id is not None:
        need_id = _int_id(ext.id)
        if need_id is None:
            problems.add(f"{where}.id", "must be the id of one of this plan's needs")
    return NeedContent(
        domain=NeedDomain(domain.valueCode),
        description=description.valueString,
        status=need_status,
        id=need_id,
    )


def careplan_from_fhir(resource: CarePlanResource) -> CarePlanContent:
    """The writable content of a CarePlan body; problems are named by their FHIR path."""
    problems = _Problems()
    person_id, nhs_number = _subject(resource.subject, "CarePlan.subject", problems)
    review_date = None
    agreed = False
    needs: list[NeedContent] = []
    for i, ext in enumerate(resource.extension or []):
        where = f"CarePlan.extension[{i}]"
        if ext.url == EXT_REVIEW_DATE:
            if ext.valueDate is None:
                problems.add(f"{where}.valueDate", "the review date must be a date")
            review_date = ext.valueDate
        elif ext.url == EXT_AGREED:
            if ext.valueBoolean is None:
                problems.add(f"{where}.valueBoolean", "must be true or false")
            agreed = bool(ext.valueBoolean)
        elif ext.url == EXT_NEED:
            need = _need(ext, where, problems)
            if need is not None:
                needs.append(need)
        elif ext.url not in SERVER_EXTENSIONS:
            problems.add(f"{where}.url", f"unknown extension {ext.url!r}")
    lead_user_id = None
    if resource.author is not None:
        lead_user_id = _user_from(
            resource.author.identifier, "CarePlan.author.identifier", problems
        )
    participants = []
    roles = {v: k for k, v in PARTICIPANT_TYPE.items()}
    for i, ref in enumerate(resource.contributor or []):
        where = f"CarePlan.contributor[{i}]"
        if ref.type is not None and ref.type not in roles:
            problems.add(f"{where}.type", "must be Patient, RelatedPerson or Practitioner")
            continue
        if not ref.display:
            problems.add(f"{where}.display", "the name of who took part is required")
            continue
        participants.append(
            Participant(
                role=roles.get(ref.type, ParticipantRole.other)
                if ref.type
                else ParticipantRole.other,
                name=ref.display,
                user_id=_user_from(ref.identifier, f"{where}.identifier", problems),
            )
        )
    care_team_id = None
    if resource.careTeam:
        if len(resource.careTeam) > 1:
            problems.add("CarePlan.careTeam", "a plan has one care team")
        care_team_id = _int_id(reference_id(resource.careTeam[0], "CareTeam"))
        if care_team_id is None:
            problems.add(
                "CarePlan.careTeam[0].reference", f"must be 'CareTeam/<id>', the id {ID_RANGE}"
            )
    actions = [
        action
        for i, activity in enumerate(resource.activity or [])
        if (action := _action(activity, f"CarePlan.activity[{i}]", problems)) is not None
    ]
    period = resource.period
    if period and period.start and period.end and period.end < period.start:
        problems.add("CarePlan.period.end", "the plan cannot end before it starts")
    problems.raise_if_any()
    return CarePlanContent(
        person_id=person_id,
        status=CarePlanStatus(resource.status),
        title=resource.title,
        description=resource.description,
        care_team_id=care_team_id,
        lead_user_id=lead_user_id,
        period_start=period.start if period else None,
        period_end=period.end if period else None,
        review_date=review_date,
        agreed_with_person=agreed,
        participants=tuple(participants),
        actions=tuple(actions),
        needs=tuple(needs),
        nhs_number=nhs_number,
    )


def _action(activity: Any, where: str, problems: _Problems) -> ActionContent | None:
    detail = activity.detail
    performers = detail.performer or []
    if len(performers) != 1:
        problems.add(f"{where}.detail.performer", "exactly one performer: who does the action")
        return None
    ref = performers[0]
    kinds = {v: k for k, v in PERFORMER_TYPE.items()}
    if ref.type not in kinds:
        problems.add(
            f"{where}.detail.performer[0].type",
            "must be Patient, RelatedPerson, Practitioner or HealthcareService",
        )
        return None
    performer = kinds[ref.type]
    user_id = _user_from(ref.identifier, f"{where}.detail.performer[0].identifier", problems)
    if performer is not Performer.person and not ref.display and user_id is None:
        problems.add(
            f"{where}.detail.performer[0].display",
            "name the carer, professional or service who does it",
        )
    goal_id = None
    if detail.goal:
        if len(detail.goal) > 1:
            problems.add(f"{where}.detail.goal", "an action serves at most one goal")
        goal_id = _int_id(reference_id(detail.goal[0], "Goal"))
        if goal_id is None:
            problems.add(
                f"{where}.detail.goal[0].reference", f"must be 'Goal/<id>', the id {ID_RANGE}"
            )
    due = detail.scheduledPeriod
    if due is not None and due.start is not None:
        problems.add(f"{where}.detail.scheduledPeriod.start", "give only the end (by when)")
    action_id = None
    if activity.id is not None:
        action_id = _int_id(activity.id)
        if action_id is None:
            problems.add(f"{where}.id", "must be the id of one of this plan's actions")
    return ActionContent(
        performer=performer,
        description=detail.description,
        status=ActionStatus(detail.status),
        performer_name=ref.display,
        performer_user_id=user_id,
        due_date=due.end if due else None,
        goal_id=goal_id,
        id=action_id,
    )


# --- Goal --------------------------------------------------------------------------------------


def goal_to_fhir(record: GoalRecord) -> dict[str, Any]:
    c = record.content
    target = _drop_none(
        {
            "measure": None if c.target_measure is None else {"text": c.target_measure},
            "detailQuantity": None
            if c.target_value is None
            else _drop_none({"value": c.target_value, "unit": c.target_unit}),
            "dueDate": None if c.target_due is None else _iso(c.target_due),
        }
    )
    return _drop_none(
        {
            "resourceType": "Goal",
            "id": str(record.id),
            "meta": {"versionId": str(record.version), "lastUpdated": _iso(record.updated_at)},
            "extension": None
            if c.care_plan_id is None
            else [
                {
                    "url": EXT_CARE_PLAN,
                    "valueReference": {"reference": f"CarePlan/{c.care_plan_id}"},
                }
            ],
            "lifecycleStatus": c.status.value,
            "description": {"text": c.what_matters_to_me},
            "subject": patient_reference(c.person_id, c.nhs_number),
            "startDate": None if c.start_date is None else _iso(c.start_date),
            "statusDate": None if c.status_date is None else _iso(c.status_date),
            "target": [target] if target else None,
        }
    )


def goal_from_fhir(resource: GoalResource) -> GoalContent:
    problems = _Problems()
    person_id, nhs_number = _subject(resource.subject, "Goal.subject", problems)
    care_plan_id = None
    for i, ext in enumerate(resource.extension or []):
        if ext.url != EXT_CARE_PLAN:
            problems.add(f"Goal.extension[{i}].url", f"unknown extension {ext.url!r}")
            continue
        care_plan_id = _int_id(reference_id(ext.valueReference, "CarePlan"))
        if care_plan_id is None:
            problems.add(
                f"Goal.extension[{i}].valueReference", f"must be 'CarePlan/<id>', the id {ID_RANGE}"
            )
    if not resource.description.text:
        problems.add("Goal.description.text", "what matters to the person, in their own words")
    if resource.description.coding:
        problems.add("Goal.description.coding", "give the goal as text in the person's words")
    targets = resource.target or []
    if len(targets) > 1:
        problems.add("Goal.target", "at most one target")
    target = targets[0] if targets else None
    measure = None
    if target is not None and target.measure is not None:
        if target.measure.coding or not target.measure.text:
            problems.add("Goal.target[0].measure", "give the measure as text")
        measure = target.measure.text
    problems.raise_if_any()
    quantity = target.detailQuantity if target else None
    return GoalContent(
        person_id=person_id,
        what_matters_to_me=resource.description.text or "",
        status=GoalStatus(resource.lifecycleStatus),
        care_plan_id=care_plan_id,
        target_measure=measure,
        target_value=None if quantity is None else quantity.value,
        target_unit=None if quantity is None else quantity.unit,
        target_due=target.dueDate if target else None,
        start_date=resource.startDate,
        status_date=resource.statusDate,
        nhs_number=nhs_number,
    )


# --- Consent -----------------------------------------------------------------------------------


def consent_to_fhir(record: ConsentRecord) -> dict[str, Any]:
    c = record.content
    return {
        "resourceType": "Consent",
        "id": str(record.id),
        "meta": {"versionId": str(record.version)},
        "status": "active" if c.withdrawn_at is None else "inactive",
        "scope": {"coding": [CONSENT_SCOPE]},
        "category": [{"coding": [CONSENT_CATEGORY]}],
        "patient": patient_reference(c.person_id, c.nhs_number),
        "dateTime": _iso(c.given_at),
        "provision": {
            "type": "permit",
            "period": _drop_none(
                {
                    "start": _iso(c.given_at),
                    "end": None if c.withdrawn_at is None else _iso(c.withdrawn_at),
                }
            ),
            "actor": [
                {
                    "role": {"coding": [CONSENT_ACTOR_ROLE]},
                    "reference": {
                        "identifier": {
                            "system": ORGANISATION_TYPE_SYSTEM,
                            "value": c.organisation_type.value,
                        },
                        "display": c.organisation_type.value.replace("_", " "),
                    },
                }
            ],
        },
    }


def consent_from_fhir(resource: ConsentResource, *, now: dt.datetime) -> ConsentContent:
    """Consent to share with one organisation type; `now` is when it was given if not said."""
    problems = _Problems()
    person_id, nhs_number = _subject(resource.patient, "Consent.patient", problems)
    actors = resource.provision.actor
    org_type = None
    if len(actors) != 1:
        problems.add("Consent.provision.actor", "exactly one: the organisation type shared with")
    else:
        ident = actors[0].reference.identifier
        allowed = ", ".join(t.value for t in OrganisationType)
        if ident is None or ident.system != ORGANISATION_TYPE_SYSTEM:
            problems.add(
                "Consent.provision.actor[0].reference.identifier.system",
                f"must be {ORGANISATION_TYPE_SYSTEM}",
            )
        elif ident.value not in OrganisationType.__members__.values():
            problems.add(
                "Consent.provision.actor[0].reference.identifier.value", f"must be one of {allowed}"
            )
        else:
            org_type = OrganisationType(ident.value)
    period = resource.provision.period
    given_at = (period.start if period else None) or resource.dateTime or now
    withdrawn_at = period.end if period else None
    if resource.status == "inactive" and withdrawn_at is None:
        problems.add("Consent.provision.period.end", "an inactive consent needs its end")
    if resource.status == "active" and withdrawn_at is not None:
        problems.add("Consent.status", "a consent with an end is inactive")
    if withdrawn_at is not None and withdrawn_at < given_at:
        problems.add("Consent.provision.period.end", "consent cannot end before it was given")
    problems.raise_if_any()
    assert org_type is not None
    return ConsentContent(
        person_id=person_id,
        organisation_type=org_type,
        given_at=given_at,
        withdrawn_at=withdrawn_at,
        nhs_number=nhs_number,
    )
