"""The one exit for counts: every grouped count that leaves the identifiable zone is made here.

In the manner of ehrQL's `measures/`: a caller says what one unit is (a person, a person on a
register, a care gap), which columns of it to group `by` and which counts to take; this module
writes the one aggregation, applies disclosure control (`disclosure.toml`) to every count
inside it, and works every percentage out from the controlled counts. `hoc prevalence`,
`hoc achievement`, `hoc tiers`, the population page and the commissioning plan all count
through `measure_sql`, so no figure can leave by a path that forgot the rule.

The SQL is plain and engine-neutral (GROUP BY, CASE, window sums): it runs through the
engine seam on DuckDB and on Spark alike (`tests/spec`).

Dimensions a measure can be grouped by are named here once (`DIMENSIONS`), as columns of
the people frame (`people_frame_sql`): practice, locality, IMD decile and quintile, ethnic
group, sex and age band.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from houseofcare.commissioning.disclosure import DisclosureRule, controlled_count_sql

#: The rule for figures that stay inside the identifiable zone (a practice's own worklist):
#: every count as it is. Passing it says so at the call.
UNCONTROLLED: Final = DisclosureRule(suppress_at_or_below=0, round_to=1)


@dataclass(frozen=True)
class Dimension:
    """A column a count can be split by: its name in the frame and its words."""

    name: str
    words: str


#: What a measure can be split by: columns of `people_frame_sql`'s rows.
DIMENSIONS: Final[dict[str, Dimension]] = {
    d.name: d
    for d in (
        Dimension("practice_id", "GP practice"),
        Dimension(
            "locality", "locality: the local authority where most of the practice's people live"
        ),
        Dimension("imd_decile", "IMD 2019 decile of the person's LSOA (1 = most deprived)"),
        Dimension("imd_quintile", "IMD 2019 quintile of the person's LSOA (1 = most deprived)"),
        Dimension("ethnic_group", "ethnic group (NHS ethnic category, in its five broad groups)"),
        Dimension("sex", "sex (as recorded)"),
        Dimension("age_band", "age band at the run's date (0-17, 18-39, 40-64, 65-74, 75-84, 85+)"),
    )
}

#: NHS ethnic category (2001 coding) → broad group, as NHS England publishes it.
ETHNIC_GROUPS: Final[dict[str, str]] = {
    **dict.fromkeys("ABC", "White"),
    **dict.fromkeys("DEFG", "Mixed"),
    **dict.fromkeys("HJKL", "Asian or Asian British"),
    **dict.fromkeys("MNP", "Black or Black British"),
    **dict.fromkeys("RS", "Other ethnic group"),
    "Z": "Not stated",
}

#: Age bands for inequality tables: (lower age, label), youngest first.
AGE_BANDS: Final[tuple[tuple[int, str], ...]] = (
    (0, "0-17"),
    (18, "18-39"),
    (40, "40-64"),
    (65, "65-74"),
    (75, "75-84"),
    (85, "85+"),
)


def dimension_columns(by: Sequence[str]) -> list[str]:
    """The `by` columns, checked against `DIMENSIONS` (a typo is an error, not a new group)."""
    unknown = [b for b in by if b not in DIMENSIONS]
    if unknown:
        raise ValueError(
            f"cannot group by {', '.join(unknown)}: choose from {', '.join(DIMENSIONS)}"
        )
    return list(by)


def measure_sql(
    units: str,
    *,
    by: Sequence[str] = (),
    keys: Sequence[str] = (),
    counts: Mapping[str, str],
    shares: Mapping[str, tuple[str, str]] | None = None,
    within: Sequence[str] | None = None,
    rule: DisclosureRule | None = None,
) -> str:
    """One grouped aggregation with every count controlled.

    `units` is a parenthesised query or a table with one row per unit counted; `by` its
    dimension columns (checked), `keys` other grouping columns that are not about people
    (a register, an indicator, a level); `counts` name → a SQL expression summed per group
    (e.g. `CASE WHEN outcome = 'met' THEN 1 ELSE 0 END`, or `1` to count rows). `shares` name
    → (count, over): a percentage of one controlled count over another (a count name, or
    `"group"` for the count's total within the `by` group, or within the columns `within`
    names), rounded to one decimal place.
    """
    groups = [*dimension_columns(by), *keys]
    select_groups = "".join(f"u.{g}, " for g in groups)
    summed = ",\n       ".join(
        f"{controlled_count_sql(f'sum({expression})', rule)} AS {name}"
        for name, expression in counts.items()
    )
    grouped = f"""SELECT {select_groups}{summed}
FROM {units} u
{"GROUP BY " + ", ".join(f"u.{g}" for g in groups) if groups else ""}"""
    if not shares:
        return f"({grouped})"
    parts = list(by) if within is None else list(within)
    partition = f"PARTITION BY {', '.join(parts)}" if parts else ""
    percentages = []
    for name, (count, over) in shares.items():
        denominator = f"sum({count}) OVER ({partition})" if over == "group" else over
        # `100 * a / b`, not `100.0 * ...`: `/` is float division on both engines, while a
        # 100.0 literal would make the percentage DECIMAL on Spark
        percentages.append(f"round(100 * {count} / nullif({denominator}, 0), 1) AS {name}")
    return f"(SELECT c.*, {', '.join(percentages)} FROM ({grouped}) c)"


def age_band_sql(age: str) -> str:
    """The `AGE_BANDS` label of an age expression (NULL when the age is)."""
    cases = " ".join(
        f"WHEN {age} >= {lower} THEN '{label}'" for lower, label in reversed(AGE_BANDS)
    )
    return f"CASE {cases} END"


def ethnic_group_sql(category: str) -> str:
    """The broad group of an NHS ethnic category column ('Not stated' when unknown)."""
    cases = " ".join(f"WHEN '{code}' THEN '{group}'" for code, group in ETHNIC_GROUPS.items())
    return f"coalesce(CASE {category} {cases} END, 'Not stated')"
