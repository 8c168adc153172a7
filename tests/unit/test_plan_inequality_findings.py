"""The plan's inequality findings by their documented rules, on hand-made figures: the widest
gaps by |log RII| among those whose interval excludes 1, and the measures file's check that a
measure of care answers a measure of need."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from houseofcare.commissioning.inequalities import Estimate, Inequality
from houseofcare.commissioning.inequality import (
    Group,
    InequalityMeasure,
    InequalityMeasures,
    MeasureInequality,
    packaged_measures,
)
from houseofcare.commissioning.plan_inequalities import widest_gaps


def figures(
    mid: str, rii: float, low: float, high: float, need: str = "higher"
) -> MeasureInequality:
    measure = InequalityMeasure(
        id=mid,
        name=f"Measure {mid}",
        short=mid.replace("_", " "),
        kind="proportion",
        numerator="1",
        denominator="1",
        need=need,
    )
    nobody = Group("Everyone", None, None, Estimate(None, None, None))
    slope = Inequality(sii=1.0, rii=rii, intercept=1.0, rii_lower=low, rii_upper=high)
    return MeasureInequality(measure, nobody, {"imd_quintile": ()}, (), slope, None)


def test_the_widest_gaps_are_furthest_from_one_on_the_ratio_scale_and_beyond_chance() -> None:
    found = [
        figures("narrow", 1.2, 1.1, 1.3),
        figures("half", 0.5, 0.4, 0.6),  # |log 0.5| = 0.69
        figures("noisy", 4.0, 0.8, 9.0),  # widest, but its interval includes 1: not named
        figures("care_plans", 1.8, 1.5, 2.1, need="lower"),  # |log 1.8| = 0.59
        figures("tiny", 0.95, 0.92, 0.98),
    ]
    sentences = widest_gaps(found)
    assert sentences[0].endswith("are in half, care plans and narrow.")
    assert sentences[1] == (
        "Half: 2.0 times as high at the most deprived end as at the other (RII 0.50), "
        "worse for the most deprived."
    )
    assert sentences[2] == (
        "Care plans: 1.8 times as high at the least deprived end as at the other (RII 1.80), "
        "worse for the most deprived."
    )
    assert sentences[3].startswith("Narrow: 1.2 times as high at the least deprived end")
    assert sentences[3].endswith("in the most deprived's favour.")
    assert len(sentences) == 4


def test_no_gap_beyond_chance_is_said_in_words() -> None:
    assert widest_gaps([figures("noisy", 4.0, 0.8, 9.0)]) == [
        "No measure shows a gap between the most and the least deprived ends of the area "
        "beyond what chance would give (every RII's 95% interval includes 1)."
    ]


def test_a_measure_of_care_must_answer_a_measure_of_need() -> None:
    care = {
        "id": "care",
        "name": "Care",
        "kind": "proportion",
        "numerator": "1",
        "denominator": "1",
        "need": "lower",
    }
    good_need = {**care, "id": "need", "name": "Need", "need": "higher"}
    InequalityMeasures(version=1, measure=({**care, "answers": "need"}, good_need))
    with pytest.raises(ValidationError, match="answers 'nothing'"):
        InequalityMeasures(version=1, measure=({**care, "answers": "nothing"}, good_need))
    with pytest.raises(ValidationError, match="not a measure of need"):
        InequalityMeasures(
            version=1, measure=({**care, "answers": "need"}, {**good_need, "need": "lower"})
        )


def test_the_packaged_measures_of_care_answer_multimorbidity_and_only_the_plan_reads_them() -> None:
    plan = {m.id: m for m in packaged_measures("plan_people")}
    run = {m.id for m in packaged_measures()}
    assert {m.id for m in plan.values() if m.answers == "multimorbidity"} == {
        "care_plan",
        "plan_reviewed",
        "referrals",
    }
    assert run == {"ltc", "multimorbidity", "level3", "care_gaps_met", "emergency_admissions"}
    assert set(plan) - run == {"care_plan", "plan_reviewed", "referrals", "unmet_need"}


def test_a_list_of_no_care_measures_reads_as_nothing() -> None:
    """No care measure below the reference: the sentence's list is empty, not an error (a real
    synthetic run had every care measure at or above nine tenths)."""
    from houseofcare.commissioning.plan_inequalities import _join

    assert _join([]) == ""
    assert _join(["a"]) == "a"
    assert _join(["a", "b", "c"]) == "a, b and c"
