"""The population's figures for one pipeline run, disclosure-controlled: what the population
page shows to commissioners, analysts and practice leads.

Every count here leaves the identifiable zone, so every one is controlled by
`commissioning.disclosure` (1-7 suppressed, others rounded to the nearest 5) inside the query
that makes it, and every percentage is worked out from controlled counts. The triangle and
register prevalence are the queries `hoc tiers` and `hoc prevalence` run
(`tiers.report.level_counts`, `population.prevalence.prevalence`), given the people a filter
chose, so with no filter the page's figures are exactly the commands'.

Deprivation is the English Indices of Deprivation 2019 (MHCLG), by the person's LSOA (2011)
through the packaged lookup (`houseofcare/reference/lsoa_imd2019.csv`, House of Commons
Library, Open Parliament Licence): quintile 1 is the most deprived fifth of England's LSOAs
(deciles 1-2). A practice's locality is the local authority where most of its people live
(the same lookup), so a locality is a set of practices, as ICBs plan by place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Final, Protocol

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from houseofcare.commissioning.disclosure import packaged_rule
from houseofcare.commissioning.measures import ethnic_group_sql, measure_sql
from houseofcare.engine import DuckDBEngine, sql_literal
from houseofcare.population.prevalence import prevalence
from houseofcare.population.rules import packaged_register_rules
from houseofcare.tiers.report import LEVEL_NAMES, level_counts

#: The triangle's levels, top first, as the page names them.
LEVELS: Final[dict[int, str]] = {
    3: "Level 3: case management",
    2: "Level 2: disease-specific care management",
    1: "Level 1: supported self care",
    0: "Level 0: prevention",
}
#: IMD 2019 quintiles (of England's LSOAs), most deprived first; None: no English LSOA known.
QUINTILES: Final[dict[int | None, str]] = {
    1: "1 (most deprived)",
    2: "2",
    3: "3",
    4: "4",
    5: "5 (least deprived)",
    None: "Not known",
}
#: Bands of the risk of an emergency admission in the next 12 months (the model's risk),
#: highest first: (lower bound, words).
RISK_BANDS: Final[tuple[tuple[float, str], ...]] = (
    (0.40, "40% or more"),
    (0.20, "20% to under 40%"),
    (0.10, "10% to under 20%"),
    (0.05, "5% to under 10%"),
    (0.0, "Under 5%"),
)
#: What a suppressed count means, in words for the page.
DISCLOSURE_RULE: Final = (
    f"Counts of 1 to {packaged_rule().suppress_at_or_below} are not shown (*) and every other "
    f"count is rounded to the nearest {packaged_rule().round_to}; percentages are worked out "
    "from the rounded counts."
)

#: The packaged LSOA → IMD 2019 lookup (the risk model's deprivation feature reads it too).
LSOA_FILE: Final = files("houseofcare.reference") / "lsoa_imd2019.csv"
#: The tables a figure query reads besides the store's own (registered on its connection).
_LSOA, _PRACTICE = "population_lsoa", "population_practice"
_NAME_OF_LEVEL = {name: level for level, name in LEVEL_NAMES.items()}


@dataclass(frozen=True)
class PopulationFilter:
    """Whose figures: one practice (analytic practice id), one locality, or everyone."""

    practice_id: str | None = None
    locality: str | None = None

    @property
    def everyone(self) -> bool:
        return self.practice_id is None and self.locality is None


@dataclass(frozen=True)
class Practice:
    """A practice as the filters and the comparison name it."""

    practice_id: str
    name: str
    #: The local authority where most of its people live (None: no English LSOA known).
    locality: str | None


@dataclass(frozen=True)
class Share:
    """One controlled count and its share of its group (None: suppressed, 1-7 people)."""

    label: str
    people: int | None
    share_pct: float | None


@dataclass(frozen=True)
class Split:
    """A group (an IMD quintile, a practice) and its figures, in a fixed order."""

    label: str
    shares: tuple[Share, ...]


@dataclass(frozen=True)
class Prevalence:
    """One register: people on it over the list at its age (both controlled), beside QOF
    England's figure and the relative difference, as `hoc prevalence` prints them."""

    register: str
    name: str
    register_count: int | None
    list_size: int | None
    prevalence_pct: float | None
    qof_pct: float
    relative_difference_pct: float | None


@dataclass(frozen=True)
class PopulationFigures:
    """Everything the population page draws for one run and one filter."""

    run_id: str
    triangle: tuple[Share, ...]
    triangle_by_imd: tuple[Split, ...]
    #: None: the run had no trained risk model, so there is no risk to show.
    risk: tuple[Share, ...] | None
    risk_by_imd: tuple[Split, ...]
    prevalence: tuple[Prevalence, ...]
    #: Register → its prevalence per IMD quintile (in `QUINTILES` order).
    prevalence_by_imd: tuple[tuple[Prevalence, tuple[Prevalence | None, ...]], ...]
    practices_levels: tuple[Split, ...]
    practices_imd: tuple[Split, ...]

    @property
    def people(self) -> int | None:
        """Everyone on the triangle (the controlled counts added up)."""
        known = [s.people for s in self.triangle if s.people is not None]
        return sum(known) if known else None


@cache
def lsoa_lookup() -> pa.Table:
    """LSOA (2011) → IMD 2019 decile and local authority, from the packaged lookup."""
    table = pacsv.read_csv(
        Path(str(LSOA_FILE)),
        convert_options=pacsv.ConvertOptions(
            include_columns=["LSOA_CODE", "IMD_OVERALL", "LAD_NAME"]
        ),
    )
    return pa.table(
        {
            "lsoa_code": table["LSOA_CODE"].cast(pa.string()),
            "imd_decile": table["IMD_OVERALL"].cast(pa.int64()),
            "lad_name": table["LAD_NAME"].cast(pa.string()),
        }
    )


def practices(con: duckdb.DuckDBPyConnection) -> list[Practice]:
    """Every practice with living people, by name, each with its locality: the local
    authority where most of its people live (ties: the first by name)."""
    con.register(_LSOA, lsoa_lookup())
    has_org = bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'organization'"
        ).fetchall()[0][0]
    )
    name = (
        "coalesce((SELECT max(o.name) FROM organization o "
        "WHERE o.organization_id = c.practice_id), c.practice_id)"
        if has_org
        else "c.practice_id"
    )
    rows = con.execute(
        f"""
WITH counted AS (
    SELECT p.practice_id, l.lad_name, count(*) AS people
    FROM patient p LEFT JOIN {_LSOA} l ON l.lsoa_code = p.lsoa_code
    WHERE p.practice_id IS NOT NULL AND p.death_date IS NULL
    GROUP BY p.practice_id, l.lad_name
),
ranked AS (
    SELECT *, row_number() OVER (
        PARTITION BY practice_id ORDER BY (lad_name IS NULL), people DESC, lad_name) AS n
    FROM counted
)
SELECT c.practice_id, {name} AS name, c.lad_name
FROM ranked c WHERE c.n = 1
ORDER BY name, c.practice_id
"""
    ).fetchall()
    return [Practice(str(pid), str(label), locality) for pid, label, locality in rows]


#: The lookup tables a figure query reads, as the engine knows them.
LOOKUP_TABLES: Final = (_LSOA, _PRACTICE)


def lookup_tables(known: Sequence[Practice]) -> tuple[pa.Table, pa.Table]:
    """LSOA → IMD and local authority, and practice → locality, as Arrow tables."""
    return lsoa_lookup(), pa.table(
        {
            "practice_id": pa.array([p.practice_id for p in known], pa.string()),
            "locality": pa.array([p.locality for p in known], pa.string()),
        }
    )


class _Registers(Protocol):
    """What can hold a named Arrow table: a DuckDB connection or an engine of the seam."""

    def register(self, name: str, table: pa.Table) -> object: ...


def register_lookups(target: _Registers, known: Sequence[Practice]) -> None:
    """The LSOA → IMD and practice → locality lookups as `target`'s tables (a DuckDB
    connection for the population page, an engine for the inequality report on any engine)."""
    for name, table in zip(LOOKUP_TABLES, lookup_tables(known), strict=True):
        target.register(name, table)


def people_sql(chosen: PopulationFilter) -> str:
    """The patient rows a filter chooses, as a parenthesised subquery with the `patient`
    table's columns and the dimensions of `commissioning.measures` (IMD decile and quintile,
    the practice's locality, ethnic group, sex; the lookups registered)."""
    where = []
    if chosen.practice_id is not None:
        where.append(f"p.practice_id = {sql_literal(chosen.practice_id)}")
    if chosen.locality is not None:
        where.append(f"pl.locality = {sql_literal(chosen.locality)}")
    return f"""(
    SELECT p.*, l.imd_decile, CAST(ceil(l.imd_decile / 2) AS BIGINT) AS imd_quintile,
           pl.locality, {ethnic_group_sql("p.ethnic_category")} AS ethnic_group,
           p.gender AS sex
    FROM patient p
    LEFT JOIN {_LSOA} l ON l.lsoa_code = p.lsoa_code
    LEFT JOIN {_PRACTICE} pl ON pl.practice_id = p.practice_id
    {"WHERE " + " AND ".join(where) if where else ""}
)"""


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _count(value: Any) -> int | None:
    return None if value is None else int(value)


def _shares(rows: Iterable[tuple[Any, Any, Any]], labels: dict[Any, str]) -> tuple[Share, ...]:
    """(key, people, share) rows as shares in `labels` order; a key with no row had nobody."""
    found = {key: (_count(people), _number(share)) for key, people, share in rows}
    return tuple(Share(label, *found.get(k, (0, 0.0))) for k, label in labels.items())


def _splits(
    rows: Iterable[tuple[Any, Any, Any, Any]],
    groups: dict[Any, str],
    labels: dict[Any, str],
    *,
    keep_empty: bool = False,
) -> tuple[Split, ...]:
    """(group, key, people, share) rows as one split per group, in `groups` order (a group
    with nobody left out unless `keep_empty`)."""
    by_group: dict[Any, list[tuple[Any, Any, Any]]] = {}
    for group, key, people, share in rows:
        by_group.setdefault(group, []).append((key, people, share))
    return tuple(
        Split(label, _shares(by_group.get(g, []), labels))
        for g, label in groups.items()
        if keep_empty or g in by_group
    )


def _controlled_shares(
    con: duckdb.DuckDBPyConnection, grouped: str
) -> list[tuple[Any, Any, Any, Any]]:
    """(grp, key, people, share_pct) from a query of (grp, key) rows, one per person: each
    count controlled, each share out of its group's controlled total, as `hoc tiers` does
    (both through `commissioning.measures`)."""
    counted = measure_sql(
        f"({grouped})",
        keys=["grp", "key"],
        counts={"people": "1"},
        shares={"share_pct": ("people", "group")},
        within=["grp"],
    )
    return con.execute(f"SELECT grp, key, people, share_pct FROM {counted} c").fetchall()


def _has(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
        ).fetchall()[0][0]
    )


def _prevalence(row: tuple[Any, ...]) -> Prevalence:
    register, name, count, size, pct, qof, relative = row
    return Prevalence(
        register=str(register),
        name=str(name),
        register_count=_count(count),
        list_size=_count(size),
        prevalence_pct=_number(pct),
        qof_pct=float(qof),
        relative_difference_pct=_number(relative),
    )


def figures(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    chosen: PopulationFilter,
    known: Sequence[Practice],
) -> PopulationFigures:
    """The run's controlled figures for the people `chosen` picks (`known`: `practices`)."""
    register_lookups(con, known)
    people = people_sql(chosen)
    level_words = _NAME_OF_LEVEL
    triangle_rows = level_counts(con, run_id, by_practice=False, people=people).fetchall()
    triangle = _shares(((level_words[n], c, s) for n, c, s in triangle_rows), LEVELS)
    by_imd = level_counts(con, run_id, by_practice=False, people=people, by="imd_quintile")
    triangle_by_imd = _splits(
        ((q, level_words[n], c, s) for q, n, c, s in by_imd.fetchall()), QUINTILES, LEVELS
    )
    run = sql_literal(run_id)
    risk: tuple[Share, ...] | None = None
    risk_by_imd: tuple[Split, ...] = ()
    if (
        _has(con, "risk_score")
        and con.execute("SELECT count(*) FROM risk_score WHERE run_id = ?", [run_id]).fetchall()[0][
            0
        ]
    ):
        band = (
            "CASE "
            + " ".join(f"WHEN s.risk >= {low} THEN {i}" for i, (low, _) in enumerate(RISK_BANDS))
            + " END"
        )
        bands = {i: words for i, (_, words) in enumerate(RISK_BANDS)}
        scored = (
            f"SELECT {{grp}} AS grp, {band} AS key FROM risk_score s "
            f"JOIN {people} p ON p.patient_id = s.patient_id "
            f"WHERE s.run_id = {run} AND s.risk IS NOT NULL"
        )
        overall = _controlled_shares(con, scored.format(grp="0"))
        risk = _shares(((k, c, s) for _, k, c, s in overall), bands)
        risk_by_imd = _splits(
            _controlled_shares(con, scored.format(grp="p.imd_quintile")), QUINTILES, bands
        )
    engine = DuckDBEngine(con)
    rules = packaged_register_rules()
    overall_prevalence = tuple(
        _prevalence(tuple(r)) for r in prevalence(engine, run_id, rules, people=people).rows()
    )
    per_quintile: dict[str, dict[int | None, Prevalence]] = {}
    for register, name, quintile, *rest in prevalence(
        engine, run_id, rules, people=people, by="imd_quintile"
    ).rows():
        per_quintile.setdefault(str(register), {})[quintile] = _prevalence((register, name, *rest))
    prevalence_by_imd = tuple(
        (p, tuple(per_quintile.get(p.register, {}).get(q) for q in QUINTILES))
        for p in overall_prevalence
    )
    names = {p.practice_id: p.name for p in known}
    chosen_practices = {
        p.practice_id: p.name
        for p in known
        if (chosen.practice_id in (None, p.practice_id)) and (chosen.locality in (None, p.locality))
    }
    per_practice = level_counts(con, run_id, by_practice=True, people=people).fetchall()
    practices_levels = _splits(
        ((pid, level_words[n], c, s) for pid, n, c, s in per_practice),
        {pid: names.get(pid, pid) for pid in chosen_practices},
        LEVELS,
    )
    practices_imd = _splits(
        _controlled_shares(
            con,
            f"SELECT p.practice_id AS grp, p.imd_quintile AS key FROM tier t "
            f"JOIN {people} p ON p.patient_id = t.patient_id WHERE t.run_id = {run}",
        ),
        chosen_practices,
        QUINTILES,
    )
    return PopulationFigures(
        run_id=run_id,
        triangle=triangle,
        triangle_by_imd=triangle_by_imd,
        risk=risk,
        risk_by_imd=risk_by_imd,
        prevalence=overall_prevalence,
        prevalence_by_imd=prevalence_by_imd,
        practices_levels=practices_levels,
        practices_imd=practices_imd,
    )
