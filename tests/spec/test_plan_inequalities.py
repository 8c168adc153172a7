"""The plan's health-inequalities section on a hand-made `plan_people` frame, on every engine:
the measures by IMD quintile from controlled counts, the SII as `commissioning.inequalities.sii`
gives it from the deciles' own figures, the inverse care law worked out by hand, and the
Core20PLUS5 order's projected SII against a hand calculation of who the next recalls reach."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pytest

from houseofcare.commissioning.disclosure import DisclosureRule, controlled_count
from houseofcare.commissioning.inequalities import (
    Quantile,
    ValueType,
    dsr,
    esp2013,
    sii,
    wilson,
)
from houseofcare.commissioning.inequality import packaged_measures, report_frame
from houseofcare.commissioning.plan_inequalities import (
    FRAME,
    SPLIT_TABLES,
    project,
    sections,
)
from houseofcare.commissioning.plan_model import Area, PlanContext
from houseofcare.engine import Engine
from houseofcare.tiers.proportionate import Projection, packaged_proportionate_policy

AS_OF = dt.date(2026, 3, 31)
RUN = "plan-run"
PEOPLE = 40  # per IMD decile
FIRST_DUE = dt.date(2025, 1, 1)
SHARE = 0.2  # of the 140 people in the care-plan gap: the next recalls reach 28
#: In decile 10, the last two people in the care-plan gap have no open care gap (off the list).
OFF_LIST = {"d10-19", "d10-18"}
#: In decile 1, one person in the gap has a care gap never done (first on any recall list).
NEVER_DONE = "d01-20"


def ltc(decile: int) -> int:
    """People with a long-term condition: more where more deprived (29 … 20)."""
    return 30 - decile


def multimorbid(decile: int) -> int:
    """People with two or more: 20 … 11."""
    return 21 - decile


def with_plan(decile: int) -> int:
    """People with a care plan: fewer where more deprived (6 … 15): the inverse care law."""
    return 5 + decile


def due(decile: int, n: int) -> dt.date:
    """When a person's open care gap fell due: ten days apart along each decile's gap, the
    less deprived two days earlier at each step, so the plain order reaches every decile alike
    (the least deprived first) and closes no decile's whole gap."""
    return FIRST_DUE + dt.timedelta(days=10 * (n - with_plan(decile)) + 2 * (10 - decile))


@dataclass(frozen=True)
class Person:
    patient_id: str
    decile: int
    registers: int
    has_plan: bool
    due: dt.date | None
    on_list: bool


def people() -> list[Person]:
    found = []
    for decile in range(1, 11):
        for n in range(PEOPLE):
            pid = f"d{decile:02d}-{n}"
            registers = 2 if n < multimorbid(decile) else 1 if n < ltc(decile) else 0
            plan = n < with_plan(decile)
            found.append(
                Person(
                    pid,
                    decile,
                    registers,
                    plan,
                    None if pid == NEVER_DONE else due(decile, n),
                    registers > 0 and not plan and pid not in OFF_LIST,
                )
            )
    return found


def frame(engine: Engine, overrides: dict[str, list] | None = None) -> None:
    """`plan_people` with the documented columns (`overrides`: some of them given instead),
    and the run's `care_gap` and `register`."""
    everyone = people()
    n = [int(p.patient_id.split("-")[1]) for p in everyone]
    deciles = [p.decile for p in everyone]
    columns = {
        "patient_id": [p.patient_id for p in everyone],
        "practice_id": ["P1" if d <= 5 else "P2" for d in deciles],
        "locality": ["Leeds" if d <= 5 else "York" for d in deciles],
        "imd_decile": pa.array(deciles, pa.int64()),
        "imd_quintile": pa.array([(d + 1) // 2 for d in deciles], pa.int64()),
        "ethnic_group": ["White"] * len(everyone),
        "sex": ["female" if i % 2 else "male" for i in n],
        "age": pa.array([60] * len(everyone), pa.int64()),
        "age_band": ["40-64"] * len(everyone),
        "esp_band": ["60-64"] * len(everyone),
        "registers": pa.array([p.registers for p in everyone], pa.int64()),
        "level": pa.array([3 if i < 2 else 1 for i in n], pa.int64()),
        "risk": pa.array([0.1] * len(everyone), pa.float64()),
        "gaps": pa.array([1 if p.registers else 0 for p in everyone], pa.int64()),
        "open_gaps": pa.array(
            [1 if p.registers and not p.has_plan else 0 for p in everyone], pa.int64()
        ),
        "emergency_admissions": pa.array(
            [1 if i < 11 - d else 0 for i, d in zip(n, deciles, strict=True)], pa.int64()
        ),
        "core20": [d <= 2 for d in deciles],
        "has_plan": [p.has_plan for p in everyone],
        "plan_reviewed": [p.has_plan and i >= 2 for p, i in zip(everyone, n, strict=True)],
        "referrals": pa.array(
            [
                1 if p.registers and i < d else 0
                for p, i, d in zip(everyone, n, deciles, strict=True)
            ],
            pa.int64(),
        ),
        "unmet": pa.array(
            [
                1 if p.registers and i < 11 - d else 0
                for p, i, d in zip(everyone, n, deciles, strict=True)
            ],
            pa.int64(),
        ),
    }
    engine.register(FRAME, pa.table({**columns, **(overrides or {})}))
    listed = [p for p in everyone if p.on_list]
    engine.register(
        "care_gap",
        pa.table(
            {
                "run_id": [RUN] * len(listed),
                "patient_id": [p.patient_id for p in listed],
                "indicator": ["DM_HBA1C_58"] * len(listed),
                "outcome": ["not met"] * len(listed),
                "overdue_since": pa.array([p.due for p in listed], pa.date32()),
            }
        ),
    )
    engine.register(
        "register",
        pa.table(
            {
                "run_id": pa.array([], pa.string()),
                "patient_id": pa.array([], pa.string()),
                "register": pa.array([], pa.string()),
            }
        ),
    )


def context(engine: Engine) -> PlanContext:
    return PlanContext(
        engine=engine,
        run_id=RUN,
        as_of=AS_OF,
        area=Area("all", None, "Everyone"),
        rule=DisclosureRule(),
    )


def by_decile(numerators: dict[int, int]) -> list[Quantile]:
    quantiles = []
    for decile in range(1, 11):
        low, high = wilson(numerators[decile], ltc(decile))
        quantiles.append(Quantile(ltc(decile), numerators[decile] / ltc(decile), low, high))
    return quantiles


def test_care_plan_coverage_by_quintile_and_its_slope_as_published(engine: Engine) -> None:
    frame(engine)
    care_plan = next(m for m in packaged_measures("plan_people") if m.id == "care_plan")
    (found,) = report_frame(engine, FRAME, [care_plan], splits=["imd_quintile"])
    first = found.splits["imd_quintile"][0]
    assert first.label == "1 (most deprived)"
    # 6 + 7 = 13 -> 15 of 29 + 28 = 57 -> 55; the rate from the controlled counts
    assert (first.numerator, first.denominator) == (15, 55)
    assert first.estimate.value == pytest.approx(100 * 15 / 55)
    expected = sii(
        by_decile({d: with_plan(d) for d in range(1, 11)}),
        value_type=ValueType.proportion,
        transform=True,
        confidence=None,
    )
    assert found.slope is not None
    assert found.slope.sii == pytest.approx(100 * expected.sii)
    assert found.slope.rii == pytest.approx(expected.rii)
    assert found.slope.rii > 1  # more care plans at the least deprived end


def test_the_run_report_refuses_a_measure_only_the_plan_frame_holds(engine: Engine) -> None:
    from houseofcare.commissioning.inequality import report

    care_plan = next(m for m in packaged_measures("plan_people") if m.id == "care_plan")
    assert care_plan not in packaged_measures()
    with pytest.raises(ValueError, match="care_plan"):
        report(engine, RUN, [], [care_plan])


def test_the_section_shows_the_gaps_and_makes_the_inverse_care_law_visible(
    engine: Engine,
) -> None:
    frame(engine)
    (section,) = sections(context(engine))
    assert section.title == "Health inequalities"
    assert section.message is None

    quintiles = section.tables[0]
    row = next(
        r
        for r in quintiles.rows
        if r[0].startswith("People with a long-term condition who have")
        and r[1] == "1 (most deprived)"
    )
    assert row[quintiles.column("numerator")] == 15
    assert row[quintiles.column("value")] == round(100 * 15 / 55, 2)

    inverse = next(t for t in section.tables if t.key == "inverse_care_by_quintile")
    first, last = inverse.rows[0], inverse.rows[-1]
    # need: 20 + 19 = 39 -> 40 of 80 against 12 + 11 = 23 -> 25 of 80: 1.6 times
    assert first[inverse.column("multimorbidity_index")] == 1.6
    # care plans per person in need: (15 / 40) / (30 / 25), from the controlled counts
    assert first[inverse.column("care_plan_index")] == round((15 / 40) / (30 / 25), 2)
    assert last[inverse.column("care_plan_index")] == 1.0
    localities = next(t for t in section.tables if t.key == "inverse_care_by_locality")
    leeds = next(r for r in localities.rows if r[0] == "Leeds")
    # Leeds: 6 + … + 10 = 40 plans for 20 + … + 16 = 90 people in need
    assert leeds[localities.column("care_plan_index")] == round((40 / 90) / (30 / 25), 2)

    text = " ".join(section.findings)
    assert (
        "in the most deprived fifth of the area, people with two or more long-term conditions "
        "are 1.6 times as common as in the least deprived fifth, yet per person in need that "
        "fifth gets care plans 0.31 times"
    ) in text
    assert "Of the localities, Leeds has the least care plans for its need: 0.37 times" in text
    assert "The widest gaps" in section.findings[0]
    projection = next(t for t in section.tables if t.key == "core20plus5_projection")
    care_plans = next(r for r in projection.rows if r[0].startswith("People with a long-term"))
    now, plain, favoured = (
        care_plans[projection.column(k)] for k in ("sii_now", "sii_plain", "sii_proportionate")
    )
    assert (
        f"Care plans: the slope index of inequality is {now:.1f} percentage points. If the next "
        "round of recalls closed the gap of everyone it reaches, the plain order would widen it "
        f"to {plain:.1f} and the Core20PLUS5 order would narrow it to {favoured:.1f}"
    ) in text
    assert {t.key for t in section.tables} >= {"inequality_slope", "core20plus5_projection"}


def reached(order: str, share: float, head_start: int) -> list[Person]:
    """By hand: the people in the care-plan gap the next recalls reach, in one order."""
    gap = [p for p in people() if p.registers and not p.has_plan]

    def key(p: Person) -> tuple:
        favoured = p.decile <= 2 and order == "proportionate"
        when = p.due
        if favoured and when is not None:
            when -= dt.timedelta(days=head_start)
        listed = p.on_list
        return (
            not listed,
            (listed and when is not None, when or dt.date.min),
            -favoured,
            p.patient_id,
        )

    return sorted(gap, key=key)[: int(len(gap) * share)]


def test_the_projected_sii_after_plain_and_core20plus5_order_as_by_hand(engine: Engine) -> None:
    frame(engine)
    packaged = packaged_proportionate_policy()
    policy = packaged.model_copy(
        update={"projection": Projection(capacity_share=SHARE, measures=("care_plan",))}
    )
    (found,) = project(
        engine, FRAME, RUN, packaged_measures("plan_people"), policy, rule=DisclosureRule()
    )
    gap = sum(ltc(d) - with_plan(d) for d in range(1, 11))  # 140
    assert found.in_gap == controlled_count(gap)
    assert found.reached == controlled_count(int(gap * SHARE))

    def projected(order: str) -> float:
        numerators = {d: with_plan(d) for d in range(1, 11)}
        for p in reached(order, SHARE, packaged.recall.head_start_days):
            numerators[p.decile] += 1
        return (
            100
            * sii(
                by_decile(numerators),
                value_type=ValueType.proportion,
                transform=True,
                confidence=None,
            ).sii
        )

    plain, proportionate = reached("plain", SHARE, 90), reached("proportionate", SHARE, 90)
    assert NEVER_DONE in {p.patient_id for p in plain}  # never done comes first in any order
    assert not OFF_LIST & {p.patient_id for p in plain}
    assert found.favoured_plain == controlled_count(sum(p.decile <= 2 for p in plain))
    assert found.favoured_proportionate == controlled_count(
        sum(p.decile <= 2 for p in proportionate)
    )
    assert found.now == pytest.approx(
        100
        * sii(
            by_decile({d: with_plan(d) for d in range(1, 11)}),
            value_type=ValueType.proportion,
            transform=True,
            confidence=None,
        ).sii
    )
    assert found.plain == pytest.approx(projected("plain"))
    assert found.proportionate == pytest.approx(projected("proportionate"))
    # the plain order reaches every decile alike, which widens the gap where the least deprived
    # start higher; the head start brings the most deprived in first and narrows it
    assert (found.favoured_plain, found.favoured_proportionate) == (None, 20)  # 5 and 19
    assert found.plain > found.now > found.proportionate


def test_an_area_too_small_for_any_figure_says_so_instead_of_empty_tables(engine: Engine) -> None:
    frame(engine)
    engine.materialise("plan_people_all", f"SELECT * FROM {FRAME}")
    engine.view(FRAME, "SELECT * FROM plan_people_all WHERE patient_id IN ('d01-0', 'd10-0')")
    (section,) = sections(context(engine))
    assert section.tables == ()
    assert section.message is not None and "too small" in section.message


# --- Every measure by ethnic group, sex and age band, and age-standardised by IMD quintile ------


def ethnic_group(p: Person) -> str:
    return "Asian" if p.decile <= 3 else "Black" if p.decile <= 5 else "White"


def sex(p: Person) -> str:
    return "female" if int(p.patient_id.split("-")[1]) % 2 else "male"


#: By a person's place in their decile: (below, age band, ESP 2013 band): the first in each
#: decile (more likely to have a care plan) younger, so age confounds deprivation little here
AGES = ((10, "18-39", "35-39"), (20, "40-64", "60-64"), (PEOPLE, "75+", "80-84"))


def ages(p: Person) -> tuple[str, str]:
    n = int(p.patient_id.split("-")[1])
    return next((band, esp) for below, band, esp in AGES if n < below)


def split_frame(engine: Engine) -> None:
    everyone = people()
    frame(
        engine,
        {
            "ethnic_group": [ethnic_group(p) for p in everyone],
            "age_band": [ages(p)[0] for p in everyone],
            "esp_band": [ages(p)[1] for p in everyone],
        },
    )


def care_plans_by_hand(
    group: Callable[[Person], str],
) -> dict[str, tuple[int, int, float, float, float]]:
    """Care-plan coverage per group of `group(person)`, by hand: the controlled numerator and
    denominator, and the percentage with Wilson limits worked out from them."""
    found: dict[str, list[int]] = {}
    for p in people():
        counts = found.setdefault(group(p), [0, 0])
        if p.registers:
            counts[1] += 1
            counts[0] += p.has_plan
    rule = DisclosureRule()
    expected = {}
    for label, (n, d) in found.items():
        cn, cd = controlled_count(n, rule), controlled_count(d, rule)
        assert cn is not None and cd is not None
        low, high = wilson(cn, cd)
        expected[label] = (
            cn,
            cd,
            round(100 * cn / cd, 2),
            round(100 * low, 2),
            round(100 * high, 2),
        )
    return expected


def test_every_measure_by_sex_ethnic_group_and_age_band_as_by_hand(engine: Engine) -> None:
    split_frame(engine)
    ctx = context(engine)
    (section,) = sections(ctx)
    tables = {t.key: t for t in section.tables}
    care_plan = next(m for m in packaged_measures("plan_people") if m.id == "care_plan")
    for split, group in (
        ("sex", sex),
        ("ethnic_group", ethnic_group),
        ("age_band", lambda p: ages(p)[0]),
    ):
        table = tables[SPLIT_TABLES[split][0]]
        rows = {r[1]: r for r in table.rows if r[0] == care_plan.name}
        expected = care_plans_by_hand(group)
        assert set(rows) == set(expected), split
        for label, (n, d, value, lower, upper) in expected.items():
            row = rows[label]
            assert row[table.column("numerator")] == n, (split, label)
            assert row[table.column("denominator")] == d, (split, label)
            assert row[table.column("value")] == value, (split, label)
            assert row[table.column("lower")] == lower, (split, label)
            assert row[table.column("upper")] == upper, (split, label)
        # every count is a cell of one of the plan's grids by this split, so the plan protects
        # it with every other table that counts the same people
        declared = {(c.row, c.column): c.cells for c in table.grid_cells}
        for i, _ in enumerate(table.rows):
            for key in ("numerator", "denominator"):
                cells = declared[(i, key)]
                assert cells and all(f"by {split} ×" in c.grid for c in cells)
                assert all(c.grid in ctx.grids for c in cells)
    # the rates differ by ethnic group as the deciles they live in do
    ethnic = tables["inequality_by_ethnic_group"]
    coverage = {r[1]: r[ethnic.column("value")] for r in ethnic.rows if r[0] == care_plan.name}
    # Asian: deciles 1-3, 6 + 7 + 8 = 21 -> 20 of 29 + 28 + 27 = 84 -> 85
    assert coverage["Asian"] == round(100 * 20 / 85, 2)
    assert coverage["Asian"] < coverage["Black"] < coverage["White"]


def test_the_age_standardised_rate_by_quintile_is_the_dsr_of_the_same_counts(
    engine: Engine,
) -> None:
    split_frame(engine)
    ctx = context(engine)
    (section,) = sections(ctx)
    table = next(t for t in section.tables if t.key == "inequality_standardised")
    # its inputs are never shown: no count column
    assert not [c for c in table.columns if c.kind == "count"]
    care_plan = next(m for m in packaged_measures("plan_people") if m.id == "care_plan")
    by_quintile: dict[int, tuple[dict[str, int], dict[str, int]]] = {}
    for p in people():
        events, population = by_quintile.setdefault((p.decile + 1) // 2, ({}, {}))
        esp = ages(p)[1]
        if p.registers:
            population[esp] = population.get(esp, 0) + 1
            events[esp] = events.get(esp, 0) + p.has_plan
    rows = {r[1]: r for r in table.rows if r[0] == care_plan.name}
    assert len(rows) == 5
    for quintile, (events, population) in by_quintile.items():
        # the same age-band counts, uncontrolled, as `hoc inequalities` takes them
        bands = [b for b in esp2013() if population.get(b.band, 0) > 0]
        expected = dsr(events, population, multiplier=100, standard=bands)
        assert expected.value is not None and expected.lower is not None
        assert expected.upper is not None
        row = rows[{1: "1 (most deprived)", 5: "5 (least deprived)"}.get(quintile, str(quintile))]
        assert row[table.column("value")] == round(expected.value, 2)
        assert row[table.column("lower")] == round(expected.lower, 2)
        assert row[table.column("upper")] == round(expected.upper, 2)
    # each rate is tied to its quintile's population, the measure's denominator in the quintile
    # grid: should the plan hide that count, the rate goes too
    for source in table.grid_cells:
        assert source.cells
        assert all("by imd_quintile ×" in c.grid for c in source.cells)
        measure_name = table.rows[source.row][0]
        measure = next(m for m in packaged_measures("plan_people") if m.name == measure_name)
        assert all(c.grid.startswith(f"people[{measure.denominator}]") for c in source.cells)


def test_a_quintile_whose_population_the_plan_hides_shows_no_age_standardised_rate(
    engine: Engine,
) -> None:
    from houseofcare.commissioning.plan_disclosure import protect_plan
    from houseofcare.commissioning.plan_grids import links

    split_frame(engine)
    ctx = context(engine)
    built = sections(ctx)
    care_plan = next(m for m in packaged_measures("plan_people") if m.id == "care_plan")
    # as if the rule had suppressed quintile 1's people with a condition (a count of 1-7)
    grid = f"people[{care_plan.denominator}] by imd_quintile × all"
    ctx.grids[grid] = {**ctx.grids[grid], (1, "all"): None}
    (section,) = protect_plan(built, ctx.grids, links(ctx))
    table = next(t for t in section.tables if t.key == "inequality_standardised")
    rows = {r[1]: r for r in table.rows if r[0] == care_plan.name}
    assert all(rows["1 (most deprived)"][table.column(k)] is None for k in ("value", "lower"))
    assert rows["3"][table.column("value")] is not None
    quintiles = next(t for t in section.tables if t.key == "inequality_by_quintile")
    first = next(
        r for r in quintiles.rows if r[0] == care_plan.name and r[1] == "1 (most deprived)"
    )
    assert first[quintiles.column("denominator")] is None
    assert first[quintiles.column("value")] is None
