"""Given and family names for synthetic people, drawn for a whole chunk at once.

A demo of a primary care network should read like one: a case manager's list of "s1-p4821"
teaches nothing. Names come from three data files in ``synth/data`` (their headers cite the
source and say plainly which parts are data and which are our own compilation):

- ``given_names.csv``: ranked given names per pool and sex; the ``england`` pool is the ONS
  baby-name top 100 of the year nearest each person's birth year (1904-2020), so a woman born in
  1944 is more likely a Margaret than an Olivia;
- ``family_names.csv``: ranked family names per pool (some, like Kaur or Kowalska, one sex only);
- ``name_pools.csv``: for each ethnic category, the share of people drawing from each pool.

Drawing is vectorised: a pool per person from a cumulative table lookup, then one
``searchsorted`` over all (pool, sex, year) groups laid end to end, so a million people cost a
few array operations and no Python loop per person. The same generator state gives the same
names.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from io import StringIO

import numpy as np

from houseofcare.synth.inputs import DATA

#: Weight of a given name known only by its rank: rank ** -exponent. 0.8 is the slope of log
#: count on log rank of the ONS top 100 in 1996, the earliest year published with counts.
GIVEN_RANK_EXPONENT = 0.8
#: The same for family names, flatter on purpose: the list stops at about 200 names where real
#: surnames have a very long tail, and a steeper slope would make one person in ten a Smith
#: (about one in a hundred is). 0.5 keeps the commonest to a few per cent.
FAMILY_RANK_EXPONENT = 0.5
SEXES = ("female", "male")
PARTS = ("given", "family")


class NameDataError(ValueError):
    """A names data file that is inconsistent (unknown pool, shares not adding up to 1)."""


def read_commented(name: str) -> list[dict[str, str]]:
    """Rows of a data file whose header lines start with ``#`` (the source note)."""
    text = (DATA / name).read_text(encoding="utf-8")
    body = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))
    return list(csv.DictReader(StringIO(body)))


@dataclass(frozen=True)
class NameTable:
    """Names of one part (given or family) laid out for one vectorised draw.

    Group ``g`` is one (pool, sex, year); its names are ``names[start[g]:start[g + 1]]`` and
    ``key[start[g]:start[g + 1]]`` holds ``g`` plus the cumulative probability of each name, so
    ``searchsorted(key, g + u)`` picks a name of group ``g`` with ``u`` uniform in [0, 1).
    """

    names: list[str]
    key: np.ndarray  # float64, ascending
    #: group of (pool index, sex index, year bin) -> group id
    group: np.ndarray  # int64 [pools, 2, years]
    pools: list[str]
    years: np.ndarray  # int64, the list years that birth years are binned to

    def draw(
        self, rng: np.random.Generator, pool: np.ndarray, male: np.ndarray, birth_year: np.ndarray
    ) -> np.ndarray:
        """Index into ``names`` for each person."""
        bin_ = nearest(self.years, birth_year)
        g = self.group[pool, male.astype(np.int64), bin_]
        u = rng.random(pool.size)
        # g + u never reaches the next group's first key (> g + 1): the last key of a group is
        # g + 1 exactly, so side="right" keeps the pick inside the group.
        picked = np.searchsorted(self.key, g + u, side="right")
        return np.minimum(picked, self.key.size - 1)


def nearest(years: np.ndarray, birth_year: np.ndarray) -> np.ndarray:
    """Index of the list year nearest each birth year (the earlier one on a tie)."""
    if years.size == 1:
        return np.zeros(np.shape(birth_year), dtype=np.int64)
    mids = (years[:-1] + years[1:]) / 2
    return np.searchsorted(mids, birth_year, side="right").astype(np.int64)


def _weights(rows: list[dict[str, str]], exponent: float) -> np.ndarray:
    return np.array(
        [float(r["count"]) if r.get("count") else float(r["rank"]) ** -exponent for r in rows]
    )


def _table(file: str, pools: list[str], exponent: float) -> NameTable:
    rows = read_commented(file)
    unknown = {r["pool"] for r in rows} - set(pools)
    if unknown:
        raise NameDataError(f"{file}: pools not in name_pools.csv: {sorted(unknown)}")
    years = np.array(sorted({int(r["year"]) for r in rows if r.get("year")}) or [0])
    names: list[str] = []
    keys: list[np.ndarray] = []
    group = np.full((len(pools), 2, years.size), -1, dtype=np.int64)
    for p, pool in enumerate(pools):
        for s, sex in enumerate(SEXES):
            mine = [r for r in rows if r["pool"] == pool and r["sex"] in (sex, "any")]
            dated = sorted({int(r["year"]) for r in mine if r.get("year")})
            for year in dated or [None]:
                chosen = [r for r in mine if year is None or r.get("year") == str(year)]
                if not chosen:
                    continue
                g = len(keys)
                weights = _weights(chosen, exponent)
                cumulative = np.cumsum(weights) / weights.sum()
                cumulative[-1] = 1.0
                keys.append(g + cumulative)
                names.extend(r["name"] for r in chosen)
                if year is None:
                    group[p, s, :] = g
                else:
                    group[p, s, nearest(years, np.array([year]))[0]] = g
            if dated:  # fill list years this pool has no list for with its nearest list
                have = np.flatnonzero(group[p, s] >= 0)
                for b in np.flatnonzero(group[p, s] < 0):
                    group[p, s, b] = group[p, s, have[np.argmin(np.abs(have - b))]]
    missing = [
        (pools[p], SEXES[s]) for p, s in zip(*np.nonzero((group < 0).any(axis=2)), strict=True)
    ]
    used = _used_pools(file)
    missing = [m for m in missing if m[0] in used]
    if missing:
        raise NameDataError(f"{file}: no names for {missing}")
    return NameTable(names=names, key=np.concatenate(keys), group=group, pools=pools, years=years)


def _used_pools(file: str) -> set[str]:
    part = "given" if file.startswith("given") else "family"
    return {pool for (_, p, pool), _ in _shares().items() if p == part}


@cache
def _shares() -> dict[tuple[str, str, str], float]:
    rows = read_commented("name_pools.csv")
    return {(r["ethnic_category"], r["part"], r["pool"]): float(r["share"]) for r in rows}


@dataclass(frozen=True)
class NameData:
    """Everything a draw needs, loaded and checked once."""

    pools: list[str]
    #: per part: cumulative pool shares per ethnic code [codes, pools]
    cumulative: dict[str, np.ndarray]
    tables: dict[str, NameTable]


@cache
def name_data(ethnic_codes: tuple[str, ...]) -> NameData:
    """The names data for ethnic categories ``ethnic_codes`` (in the synth's code order).

    Raises `NameDataError` when a category has no pools or its shares do not add up to 1.
    """
    shares = _shares()
    pools = sorted({pool for (_, _, pool) in shares})
    cumulative = {}
    for part in PARTS:
        matrix = np.zeros((len(ethnic_codes), len(pools)))
        for e, code in enumerate(ethnic_codes):
            for p, pool in enumerate(pools):
                matrix[e, p] = shares.get((code, part, pool), 0.0)
            total = matrix[e].sum()
            if abs(total - 1) > 1e-6:
                raise NameDataError(
                    f"name_pools.csv: {part} shares of ethnic category {code} add up to {total:g}"
                )
        cumulative[part] = np.cumsum(matrix, axis=1)
    tables = {
        "given": _table("given_names.csv", pools, GIVEN_RANK_EXPONENT),
        "family": _table("family_names.csv", pools, FAMILY_RANK_EXPONENT),
    }
    return NameData(pools=pools, cumulative=cumulative, tables=tables)


@dataclass(frozen=True)
class Names:
    """Drawn names: indices into each table's ``names`` (kept as indices for Arrow)."""

    given: np.ndarray
    family: np.ndarray
    given_names: list[str]
    family_names: list[str]


def draw_names(
    rng: np.random.Generator,
    *,
    ethnic: np.ndarray,
    male: np.ndarray,
    birth_year: np.ndarray,
    ethnic_codes: tuple[str, ...],
) -> Names:
    """A given and a family name for each person, by ethnic category, sex and birth year.

    ``ethnic`` indexes ``ethnic_codes``. Each person draws their given-name pool and their
    family-name pool independently (a person of mixed background may have a given name from
    one and a family name from another), then a name from each.
    """
    data = name_data(tuple(ethnic_codes))
    out = {}
    for part in PARTS:
        cumulative = data.cumulative[part][ethnic]
        u = rng.random(ethnic.size)
        pool = np.minimum((u[:, None] >= cumulative).sum(axis=1), len(data.pools) - 1)
        out[part] = data.tables[part].draw(rng, pool, male, birth_year)
    return Names(
        given=out["given"],
        family=out["family"],
        given_names=data.tables["given"].names,
        family_names=data.tables["family"].names,
    )
