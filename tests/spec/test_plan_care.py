"""The plan's needs, goals and support section on hand-made frames with known answers, on
every engine: each figure controlled once (1-7 suppressed, others to the nearest 5), tables
that share margins protected together, and a small area told so in words."""

from __future__ import annotations

from typing import Any

from houseofcare.commissioning import plan_care
from houseofcare.commissioning.plan_model import Area, PlanSection, PlanTable
from houseofcare.engine import Engine
from tests.spec.plan_frames_by_hand import Frames


def by_first(table: PlanTable) -> dict[Any, tuple[Any, ...]]:
    """A table's rows by their first cell, the rest of the row as values."""
    return {row[0]: tuple(row[1:]) for row in table.rows}


def table(section: PlanSection, key: str) -> PlanTable:
    return next(t for t in section.tables if t.key == key)


def two_localities() -> Frames:
    """Leeds and York: needs, goals, referrals and unmet need with known counts."""
    f = Frames()
    leeds_active = f.people_with("la", 20, "Leeds")
    york_active = f.people_with("ya", 12, "York")
    leeds_lonely = f.people_with("ll", 9, "Leeds")
    york_lonely = f.people_with("yl", 3, "York")
    leeds_mood = f.people_with("lm", 15, "Leeds")
    york_mood = f.people_with("ym", 10, "York")
    f.people_with("ln", 16, "Leeds", has_plan=False, plan_reviewed=False)
    f.people_with("yn", 5, "York", has_plan=False, plan_reviewed=False)
    f.people_with("yw", 9, "York", registers=0, has_plan=False, plan_reviewed=False)
    f.need(leeds_active + york_active, "physical_health")
    f.need(leeds_lonely + york_lonely, "social_loneliness")
    f.need(leeds_mood + york_mood, "mental_health")
    # a second physical need of the same people counts them once; a resolved need not at all
    f.need(leeds_active[:5], "physical_health")
    f.need(leeds_mood, "medicines", status="resolved")
    f.goal(leeds_active[:10], "physical_activity")
    f.goal(leeds_mood[:10], "mood_wellbeing", status="completed")
    f.goal(york_mood, "mood_wellbeing")
    # referrals: 12 for loneliness in Leeds (10 accepted, 8 attended, 2 declined),
    # 9 for physical health in York (all accepted, none attended)
    f.referral(leeds_lonely, "social_loneliness", accepted=True, attended=True)
    f.referral(leeds_mood[:1], "social_loneliness", accepted=True)
    f.referral(leeds_mood[1:3], "social_loneliness", declined=True)
    f.referral(york_active[:9], "physical_health", accepted=True)
    # unmet need: loneliness in Leeds (10 no service, 9 full), physical health in York (2)
    f.unmet_need([*leeds_lonely, None], "social_loneliness", "no_suitable_service", "Leeds")
    f.unmet_need(leeds_mood[:9], "social_loneliness", "service_full", "Leeds")
    f.unmet_need(york_active[:2], "physical_health", "declined", "York")
    return f


def test_needs_by_domain_and_locality_with_joint_suppression(engine: Engine) -> None:
    (section,) = plan_care.sections(two_localities().register(engine))
    assert section.key == "care" and section.message is None
    needs = table(section, "care_needs")
    assert [c.words for c in needs.columns] == ["Need", "Leeds", "York", "All localities"]
    rows = by_first(needs)
    assert rows["Physical health"] == (20, 10, 30)  # 20; 12 -> 10; 32 -> 30
    # loneliness in York is 3 (suppressed); its row total (12 -> 10) is published, so the
    # cheapest rectangle (mental health × Leeds, cost 10 + 10 + 15) hides three more cells
    assert rows["Loneliness"] == (None, None, 10)
    assert rows["Mental health"] == (None, None, 25)
    assert rows["All needs (a person with needs in two domains counts in both)"] == (45, 25, 70)
    assert "Medicines" not in rows  # a resolved need is not a need


def test_who_has_a_care_plan_comes_first(engine: Engine) -> None:
    (section,) = plan_care.sections(two_localities().register(engine))
    assert section.tables[0].key == "care_coverage"
    coverage = by_first(section.tables[0])
    # people with a long-term condition, with a plan, %, reviewed, %
    assert coverage["Leeds"] == (60, 45, 75.0, 45, 75.0)  # 60; 44 -> 45
    assert coverage["York"] == (30, 25, 83.3, 25, 83.3)  # the 9 on no register not counted
    assert coverage["All localities"] == (90, 70, 77.8, 70, 77.8)  # 69 -> 70
    assert section.findings[0] == (
        "77.8% of people with a long-term condition in the whole area have an active care "
        "plan (77.8% reviewed or agreed in the last year): the needs, goals and referrals "
        "below are theirs, not everyone's."
    )


def test_goals_by_theme_and_stage(engine: Engine) -> None:
    (section,) = plan_care.sections(two_localities().register(engine))
    goals = by_first(table(section, "care_goals"))
    assert goals["Physical activity"] == (10, 0, 0, 10)
    assert goals["Mood and wellbeing"] == (10, 10, 0, 20)
    assert goals["All goals"] == (20, 10, 0, 30)
    assert list(goals) == ["Physical activity", "Mood and wellbeing", "All goals"]  # file order


def test_referrals_made_accepted_attended_declined(engine: Engine) -> None:
    (section,) = plan_care.sections(two_localities().register(engine))
    by_need = by_first(table(section, "care_referrals_by_need"))
    # made, accepted, attended, declined, accepted %, attended %
    assert by_need["Loneliness"] == (10, 10, 10, None, 100.0, 100.0)  # 12, 10, 9->10, 2->*
    assert by_need["Physical health"] == (10, 10, 0, 0, 100.0, 0.0)
    assert by_need["All referrals"] == (20, 20, 10, None, 100.0, 50.0)
    by_locality = by_first(table(section, "care_referrals_by_locality"))
    assert by_locality["Leeds"] == (10, 10, 10, None, 100.0, 100.0)
    assert by_locality["York"] == (10, 10, 0, 0, 100.0, 0.0)
    assert by_locality["All referrals"] == by_need["All referrals"]
    assert any("largest drop-off is for physical health" in s for s in section.findings)


def test_unmet_need_where_demand_exceeds_supply(engine: Engine) -> None:
    (section,) = plan_care.sections(two_localities().register(engine))
    unmet = table(section, "care_unmet")
    rows = {(r[0], r[1]): r[2:] for r in unmet.rows}
    # no suitable service, service full, declined, all reasons
    assert rows[("Leeds", "Loneliness")] == (10, 10, 0, 20)
    assert rows[("York", "Physical health")] == (0, 0, None, None)
    # the declined column's 2 and its row's 2 are each alone in a line with the grand
    # total: the grand total is hidden too, so neither can be worked out
    assert rows[("All localities", "All needs")] == (10, 10, None, None)
    assert any("largest unmet need is loneliness in Leeds" in s for s in section.findings)


def test_a_small_practice_gets_words_not_stars(engine: Engine) -> None:
    f = Frames()
    few = f.people_with("s", 3, "York", practice_id="P9")
    f.need(few, "social_housing")
    f.goal(few[:2], "other")
    f.referral(few[:1], "social_housing", accepted=True)
    f.unmet_need(few[1:], "social_housing", "service_full", "York")
    area = Area("practice", "P9", "Riverside Surgery")
    (section,) = plan_care.sections(f.register(engine, area))
    assert [t.key for t in section.tables] == ["care_coverage"]  # kept: it says why
    assert section.findings == () and section.charts == ()
    assert section.message is not None
    assert section.message.startswith(
        "Too few people in Riverside Surgery for any figure to be shown without risking "
        "identifying someone: "
    )


def test_an_area_with_no_care_plans_shows_zeros_not_a_message(engine: Engine) -> None:
    f = Frames()
    f.people_with("n", 20, "Leeds", has_plan=False, plan_reviewed=False)
    (section,) = plan_care.sections(f.register(engine))
    assert section.message is None
    assert by_first(table(section, "care_referrals_by_need"))["All referrals"][:4] == (
        0,
        0,
        0,
        0,
    )
    assert section.findings == (
        "0% of people with a long-term condition in the whole area have an active care plan "
        "(0% reviewed or agreed in the last year): the needs, goals and referrals below are "
        "theirs, not everyone's.",
    )


def test_referral_margins_do_not_give_back_a_small_stage(engine: Engine) -> None:
    """Attended: 8 in Leeds, 3 in York. York's total is suppressed; with Leeds's and the grand
    total both published it would be 11 - 8 = 3, so one of them is hidden too."""
    f = Frames()
    leeds = f.people_with("l", 12, "Leeds")
    york = f.people_with("y", 9, "York")
    f.referral(leeds[:8], "social_loneliness", accepted=True, attended=True)
    f.referral(leeds[8:], "social_loneliness", accepted=True)
    f.referral(york[:3], "physical_health", accepted=True, attended=True)
    f.referral(york[3:], "physical_health", accepted=True)
    (section,) = plan_care.sections(f.register(engine))
    by_locality = by_first(table(section, "care_referrals_by_locality"))
    attended = {k: v[2] for k, v in by_locality.items()}
    assert attended["York"] is None
    assert attended["Leeds"] is None or attended["All referrals"] is None
    by_need = by_first(table(section, "care_referrals_by_need"))
    assert by_need["Physical health"][2] is None
    assert by_need["Loneliness"][2] is None or by_need["All referrals"][2] is None
