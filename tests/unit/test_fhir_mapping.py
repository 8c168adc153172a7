"""FHIR mapping: domain → FHIR → domain is the identity (hypothesis); bad bodies are named."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from houseofcare.api.errors import InvalidResource
from houseofcare.api.fhir.mapping import (
    careplan_from_fhir,
    careplan_to_fhir,
    consent_from_fhir,
    consent_to_fhir,
    goal_from_fhir,
    goal_to_fhir,
)
from houseofcare.api.fhir.resources import CarePlanResource, ConsentResource, GoalResource
from houseofcare.api.inputs import MAX_ID
from houseofcare.careplan.records import (
    ActionContent,
    CarePlanContent,
    CarePlanRecord,
    Comment,
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

#: Ids as the store holds them (`api.inputs.MAX_ID`: 1 .. 2**31 - 1 on SQLite and PostgreSQL).
ids = st.integers(min_value=1, max_value=MAX_ID)
text = st.text(min_size=1, max_size=60).filter(lambda s: "\x00" not in s)
maybe_text = st.none() | text
dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31))
moments = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)
nhs_numbers = st.none() | st.just("9434765919")


@st.composite
def actions(draw: st.DrawFn) -> ActionContent:
    performer = draw(st.sampled_from(Performer))
    user_id = draw(st.none() | ids)
    name = draw(maybe_text)
    if performer is not Performer.person and name is None and user_id is None:
        name = draw(text)
    return ActionContent(
        performer=performer,
        description=draw(text),
        status=draw(st.sampled_from(ActionStatus)),
        performer_name=name,
        performer_user_id=user_id,
        due_date=draw(st.none() | dates),
        goal_id=draw(st.none() | ids),
        id=draw(st.none() | ids),
    )


needs = st.builds(
    NeedContent,
    domain=st.sampled_from(NeedDomain),
    description=text,
    status=st.sampled_from(NeedStatus),
    id=st.none() | ids,
)
participants = st.builds(
    Participant, role=st.sampled_from(ParticipantRole), name=text, user_id=st.none() | ids
)


@st.composite
def careplans(draw: st.DrawFn) -> CarePlanRecord:
    start = draw(st.none() | dates)
    end = draw(st.none() | dates)
    if start and end and end < start:
        start, end = end, start
    content = CarePlanContent(
        person_id=draw(ids),
        status=draw(st.sampled_from(CarePlanStatus)),
        title=draw(text),
        description=draw(maybe_text),
        care_team_id=draw(st.none() | ids),
        lead_user_id=draw(st.none() | ids),
        period_start=start,
        period_end=end,
        review_date=draw(st.none() | dates),
        agreed_with_person=draw(st.booleans()),
        participants=tuple(draw(st.lists(participants, max_size=3))),
        actions=tuple(draw(st.lists(actions(), max_size=3))),
        needs=tuple(draw(st.lists(needs, max_size=3))),
        nhs_number=draw(nhs_numbers),
    )
    return CarePlanRecord(
        id=draw(ids),
        version=draw(st.integers(1, 1000)),
        created_at=draw(moments),
        updated_at=draw(moments),
        content=content,
        goal_ids=tuple(draw(st.lists(ids, max_size=3))),
        comments=tuple(draw(st.lists(st.builds(Comment, author=text, text=text, time=moments)))),
        conversation_at=draw(st.none() | moments),
        agreed_at=draw(st.none() | moments),
        last_reviewed_at=draw(st.none() | moments),
    )


@st.composite
def goals(draw: st.DrawFn) -> GoalRecord:
    value = draw(
        st.none() | st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e9)
    )
    content = GoalContent(
        person_id=draw(ids),
        what_matters_to_me=draw(text),
        status=draw(st.sampled_from(GoalStatus)),
        care_plan_id=draw(st.none() | ids),
        target_measure=draw(maybe_text),
        target_value=value,
        target_unit=None if value is None else draw(maybe_text),
        target_due=draw(st.none() | dates),
        start_date=draw(st.none() | dates),
        status_date=draw(st.none() | dates),
        nhs_number=draw(nhs_numbers),
    )
    return GoalRecord(
        id=draw(ids), version=draw(st.integers(1, 99)), updated_at=draw(moments), content=content
    )


@st.composite
def consents(draw: st.DrawFn) -> ConsentRecord:
    given_at = draw(moments)
    withdrawn = draw(st.none() | moments)
    if withdrawn is not None and withdrawn < given_at:
        given_at, withdrawn = withdrawn, given_at
    content = ConsentContent(
        person_id=draw(ids),
        organisation_type=draw(st.sampled_from(OrganisationType)),
        given_at=given_at,
        withdrawn_at=withdrawn,
        nhs_number=draw(nhs_numbers),
    )
    return ConsentRecord(id=draw(ids), content=content)


def _over_the_wire(resource: dict) -> bytes:
    return orjson.dumps(resource)


@settings(max_examples=100, deadline=None)
@given(careplans())
def test_careplan_round_trip_is_the_identity(record: CarePlanRecord) -> None:
    body = _over_the_wire(careplan_to_fhir(record))
    back = careplan_from_fhir(CarePlanResource.model_validate_json(body))
    assert back == record.content


@settings(max_examples=100, deadline=None)
@given(goals())
def test_goal_round_trip_is_the_identity(record: GoalRecord) -> None:
    body = _over_the_wire(goal_to_fhir(record))
    assert goal_from_fhir(GoalResource.model_validate_json(body)) == record.content


@settings(max_examples=100, deadline=None)
@given(consents())
def test_consent_round_trip_is_the_identity(record: ConsentRecord) -> None:
    body = _over_the_wire(consent_to_fhir(record))
    now = dt.datetime(1999, 1, 1, tzinfo=dt.UTC)
    back = consent_from_fhir(ConsentResource.model_validate_json(body), now=now)
    assert back == record.content
    assert consent_to_fhir(record)["meta"]["versionId"] == (
        "1" if back.withdrawn_at is None else "2"
    )


def _plan(**changes: object) -> dict:
    record = CarePlanRecord(
        id=1,
        version=1,
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        updated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        content=CarePlanContent(person_id=7, status=CarePlanStatus.active, title="My plan"),
    )
    resource = careplan_to_fhir(record)
    resource.update(changes)
    return resource


def test_a_bad_subject_reference_is_named() -> None:
    body = _plan(subject={"reference": "Practitioner/7"})
    with pytest.raises(InvalidResource) as caught:
        careplan_from_fhir(CarePlanResource.model_validate_json(orjson.dumps(body)))
    assert caught.value.expression == ["CarePlan.subject.reference"]
    assert caught.value.status == 400


def test_an_unknown_extension_and_a_missing_performer_are_both_named() -> None:
    body = _plan(
        extension=[{"url": "https://example.org/x", "valueString": "y"}],
        activity=[{"detail": {"kind": "Task", "status": "scheduled", "description": "walk"}}],
    )
    with pytest.raises(InvalidResource) as caught:
        careplan_from_fhir(CarePlanResource.model_validate_json(orjson.dumps(body)))
    assert caught.value.expression == [
        "CarePlan.extension[0].url",
        "CarePlan.activity[0].detail.performer",
    ]


def test_an_inactive_consent_needs_an_end() -> None:
    record = ConsentRecord(
        id=1,
        content=ConsentContent(
            person_id=1,
            organisation_type=OrganisationType.voluntary_group,
            given_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        ),
    )
    body = consent_to_fhir(record) | {"status": "inactive"}
    with pytest.raises(InvalidResource, match=r"Consent\.provision\.period\.end"):
        consent_from_fhir(
            ConsentResource.model_validate_json(orjson.dumps(body)),
            now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        )
