"""The care-planning forms read whole, every mistake named against its field, and a plan's
versions told in words (`web/planning_forms.py`, `web/plan_changes.py`)."""

from __future__ import annotations

import datetime as dt

from starlette.datastructures import FormData

from houseofcare.web.plan_changes import describe
from houseofcare.web.planning_forms import read_conversation, read_date, read_review, read_sent

NEXT_YEAR = str(dt.date.today().year + 1)


def _conversation(**changes: str | list[str]) -> FormData:
    fields: dict[str, str | list[str]] = {
        "version": "3",
        "goal-1-text": "  Walk to church  ",
        "review_date[day]": "1",
        "review_date[month]": "2",
        "review_date[year]": NEXT_YEAR,
        "took_part": ["person", "me"],
        "agreed": "yes",
    }
    fields.update(changes)
    return FormData(
        [(k, x) for k, v in fields.items() for x in (v if isinstance(v, list) else [v])]
    )


def _read(form: FormData) -> tuple:
    return read_conversation(form, person_name="SMITH, Jo", user_name="Nurse A", user_id=7)


def test_a_date_is_read_from_its_three_boxes_and_a_wrong_one_is_named() -> None:
    errors: list[tuple[str, str]] = []
    form = FormData([("d[day]", "29"), ("d[month]", "2"), ("d[year]", "2028")])
    assert read_date(form, "d", "Date", errors, required=True) == dt.date(2028, 2, 29)
    wrong = FormData([("d[day]", "29"), ("d[month]", "2"), ("d[year]", "2027")])
    assert read_date(wrong, "d", "Date", errors, required=True) is None
    assert errors == [("d-day", "Date must be a real date, like 31 3 2027")]
    assert read_date(FormData([]), "d", "Date", errors, required=False) is None
    assert read_date(FormData([]), "d", "Review date", errors, required=True) is None
    assert errors[-1] == ("d-day", "Enter the review date")


def test_a_conversation_is_read_with_the_goal_as_typed_and_who_took_part() -> None:
    entries, talk, errors = _read(_conversation())
    assert errors == []
    assert talk is not None
    assert talk.goals == ({"what_matters_to_me": "Walk to church"},)
    assert talk.review_date == dt.date(int(NEXT_YEAR), 2, 1)
    assert talk.participants == (
        {"role": "person", "name": "SMITH, Jo"},
        {"role": "professional", "name": "Nurse A", "user_id": 7},
    )
    assert entries.version == 3


def test_a_listed_measure_keeps_its_own_unit_whatever_was_typed() -> None:
    _entries, talk, errors = _read(
        _conversation(**{"goal-1-measure": "hba1c", "goal-1-value": "53", "goal-1-unit": "%"})
    )
    assert errors == []
    assert talk is not None
    goal = talk.goals[0]
    assert (goal["target_value"], goal["target_unit"]) == (53.0, "mmol/mol")


def test_every_mistake_is_named_and_nothing_is_returned_to_write() -> None:
    _entries, talk, errors = _read(
        _conversation(
            **{
                "goal-1-text": "",
                "action-1-what": "Fetch prescriptions",
                "action-1-who": "carer",
                "need-1-domain": "medicines",
                "review_date[year]": "2001",
                "agreed": "",
                "took_part": "me",
            }
        )
    )
    assert talk is None
    fields = [name for name, _ in errors]
    assert fields == ["goal-1-text", "action-1-name", "need-1-text", "review_date-day", "agreed"]


def test_agreement_is_refused_when_the_person_did_not_take_part() -> None:
    _entries, talk, errors = _read(_conversation(took_part="me"))
    assert talk is None
    assert errors == [("took_part", "The person must take part to agree their plan")]


def test_the_review_and_sent_dates_are_checked() -> None:
    _e, when, errors = read_review(
        FormData([("version", "2"), ("next_review[day]", "1"), ("next_review[month]", "1"),
                  ("next_review[year]", "2001")])
    )  # fmt: skip
    assert when is None and errors[0][0] == "next_review-day"
    _e, sent, errors = read_sent(
        FormData([("sent_on[day]", "1"), ("sent_on[month]", "1"), ("sent_on[year]", NEXT_YEAR)])
    )
    assert sent is None and errors == [("sent_on-day", "The date sent cannot be in the future")]


def test_a_version_s_diff_is_told_in_words() -> None:
    snapshot = {"goals": [{"id": 4, "what_matters_to_me": "Swim", "target_measure": None}]}
    lines = describe(
        {
            "goal_added": 4,
            "review_date": ["2026-09-30", "2027-03-01"],
            "agreed_with_person": [False, True],
            "participants": [[], [{"role": "person", "name": "SMITH, Jo"}]],
        },
        snapshot,
    )
    assert lines == (
        "Goal added: “Swim”",
        "Who took part: SMITH, Jo",
        "Review date: 30 September 2026 → 1 March 2027",
        "Agreed with the person: no → yes",
    )
