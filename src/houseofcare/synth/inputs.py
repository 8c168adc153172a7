"""Load the generator's input figures (files in ``synth/data``) and the codelists it draws on.

Rates, proportions and codes are data, not code: changing a prevalence or a medicine code means
editing a CSV, and `docs/synthetic-population.md` cites the source of each file.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

DATA = resources.files("houseofcare.synth") / "data"
CODELISTS = resources.files("houseofcare.terminology") / "codelists"
LSOA_FILE = resources.files("houseofcare.reference") / "lsoa_imd2019.csv"


def read_rows(name: str) -> list[dict[str, str]]:
    """Rows of one data file in ``synth/data`` as dicts of strings (``#`` lines are its notes)."""
    with (DATA / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


@cache
def codelist(name: str) -> dict[str, str]:
    """One QOF/OpenCodelists ``code,term`` list as ``{code: term}`` (codes stay strings)."""
    path = Path(str(CODELISTS / f"{name}_cod.csv"))
    if not path.exists():
        path = Path(str(CODELISTS / f"{name}.csv"))
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["code"]: row["term"].strip() for row in csv.DictReader(handle)}


@dataclass(frozen=True)
class Pyramid:
    """Single-year age weights for each sex, spread evenly within the published 5-year bands."""

    ages: np.ndarray  # 0..99
    male: np.ndarray  # weight per single year of age
    female: np.ndarray


@cache
def pyramid() -> Pyramid:
    ages = np.arange(100)
    male = np.zeros(100)
    female = np.zeros(100)
    for row in read_rows("age_sex_pyramid.csv"):
        lo, hi = int(row["age_from"]), int(row["age_to"])
        width = hi - lo + 1
        if hi >= 90:
            # The open 90+ band thins out steeply with age: geometric decline within the band.
            shape = 0.78 ** np.arange(width)
            shape /= shape.sum()
        else:
            shape = np.full(width, 1.0 / width)
        male[lo : hi + 1] = float(row["male_thousands"]) * shape
        female[lo : hi + 1] = float(row["female_thousands"]) * shape
    return Pyramid(ages=ages, male=male, female=female)


#: Age bands of ``age_by_deprivation.csv``'s fit (first age of each; the last runs to 99).
DECILE_AGE_BANDS = (0, 16, 30, 50, 60, 75)
#: Rounds of iterative proportional fitting that restore the national pyramid as the margin.
RAKING_ROUNDS = 50


@dataclass(frozen=True)
class DecilePyramids:
    """Single-year age weights for each sex in each IMD decile (row 0 is decile 1).

    Each row sums to 1 over both sexes; weighted by England's people per decile
    (``england_share``) the rows add up to the national pyramid.
    """

    male: np.ndarray  # (10, 100)
    female: np.ndarray  # (10, 100)
    england_share: np.ndarray  # (10,) England's registered people per decile, summing to 1
    band_shares: np.ndarray  # (10, 6) the published share of each decile in DECILE_AGE_BANDS


def _band_shares(row: dict[str, str], national: np.ndarray) -> np.ndarray:
    """A decile's share of people in each of DECILE_AGE_BANDS, from its published figures.

    Known: under 16, 50+ and 30-74 (registered lists) and 60+ (ONS, resident). 50-59 is 50+
    less 60+. 60+ is split between 60-74 and 75+ by continuing the decile's tilt against the
    national pyramid geometrically (the 75+ multiplier is the 60-74 one times its ratio to
    50-59's), the one assumption the figures leave open; 30-49 and 16-29 then follow.
    """
    total = float(row["registered_all_ages"])
    under_16 = 1 - float(row["registered_16_plus"]) / total
    over_50 = float(row["registered_50_plus"]) / total
    age_30_74 = float(row["registered_30_74"]) / total
    over_60 = float(row["ons2015_60_plus"]) / float(row["ons2015_all_ages"])
    age_50_59 = over_50 - over_60
    m50 = age_50_59 / national[3]
    a, b = national[5] / m50, national[4]
    m60 = (-b + np.sqrt(b * b + 4 * a * over_60)) / (2 * a)
    age_60_74 = m60 * national[4]
    age_75 = over_60 - age_60_74
    age_30_49 = age_30_74 - age_50_59 - age_60_74
    age_16_29 = 1 - under_16 - age_30_49 - over_50
    shares = np.array([under_16, age_16_29, age_30_49, age_50_59, age_60_74, age_75])
    if (shares <= 0).any():
        raise ValueError(f"age_by_deprivation.csv: decile {row['imd_decile']} gives {shares}")
    return shares


@cache
def decile_pyramids() -> DecilePyramids:
    """The national pyramid tilted per decile to each decile's published age shares, then
    raked (iterative proportional fitting) so that England's deciles together still make the
    national pyramid: the figures come from different years and sources, the pyramid is the
    one the rest of the generator is calibrated to."""
    pyr = pyramid()
    band = np.searchsorted(np.array(DECILE_AGE_BANDS), pyr.ages, side="right") - 1
    both = np.r_[pyr.male, pyr.female]
    both = both / both.sum()
    band2 = np.r_[band, band]
    national = np.bincount(band2, weights=both, minlength=len(DECILE_AGE_BANDS))
    rows = sorted(read_rows("age_by_deprivation.csv"), key=lambda r: int(r["imd_decile"]))
    if [int(r["imd_decile"]) for r in rows] != list(range(1, 11)):
        raise ValueError("age_by_deprivation.csv: needs one row for each decile 1 to 10")
    shares = np.array([_band_shares(r, national) for r in rows])
    people = np.array([float(r["registered_all_ages"]) for r in rows])
    england = people / people.sum()
    joint = england[:, None] * (shares / national)[:, band2] * both[None, :]
    for _ in range(RAKING_ROUNDS):
        joint *= both / joint.sum(axis=0)
        joint *= (england / joint.sum(axis=1))[:, None]
    rows_out = joint / joint.sum(axis=1, keepdims=True)
    n = pyr.ages.size
    return DecilePyramids(
        male=rows_out[:, :n], female=rows_out[:, n:], england_share=england, band_shares=shares
    )


@cache
def decile_prevalence_shape() -> dict[str, np.ndarray]:
    """Per condition, England's QOF prevalence in each decile divided by England's overall
    (``prevalence_by_deprivation.csv``): the shape the generator's deciles are calibrated to."""
    grouped: dict[str, dict[int, tuple[float, float]]] = {}
    for r in read_rows("prevalence_by_deprivation.csv"):
        grouped.setdefault(r["condition"], {})[int(r["imd_decile"])] = (
            float(r["register"]),
            float(r["list_size"]),
        )
    out = {}
    for key, by in grouped.items():
        if sorted(by) != list(range(1, 11)):
            raise ValueError(f"prevalence_by_deprivation.csv: {key} needs deciles 1 to 10")
        register = np.array([by[d][0] for d in range(1, 11)])
        size = np.array([by[d][1] for d in range(1, 11)])
        out[key] = (register / size) / (register.sum() / size.sum())
    missing = {s.key for s in conditions()} - set(out)
    if missing:
        raise ValueError(f"prevalence_by_deprivation.csv: no figures for {sorted(missing)}")
    return out


@dataclass(frozen=True)
class Ethnicity:
    codes: list[str]
    probabilities: np.ndarray


#: Share of GP records with no ethnic category recorded (code Z, "not stated").
NOT_STATED_SHARE = 0.05


@cache
def ethnicity() -> Ethnicity:
    rows = read_rows("ethnicity.csv")
    share = np.array([float(r["census_2021_percent"]) for r in rows])
    share = share / share.sum() * (1 - NOT_STATED_SHARE)
    return Ethnicity(
        codes=[r["code"] for r in rows] + ["Z"], probabilities=np.append(share, NOT_STATED_SHARE)
    )


@dataclass(frozen=True)
class Lsoas:
    """English LSOAs of the chosen localities with their IMD 2019 decile (1 = most deprived)."""

    codes: np.ndarray  # str
    decile: np.ndarray  # int8
    locality: np.ndarray  # index into localities
    locality_names: list[str]
    trust_names: list[str]


@cache
def lsoas() -> Lsoas:
    localities = read_rows("localities.csv")
    names = [r["lad_name"] for r in localities]
    index = {n: i for i, n in enumerate(names)}
    codes, deciles, locs = [], [], []
    with Path(str(LSOA_FILE)).open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            loc = index.get(row["LAD_NAME"])
            if loc is not None:
                codes.append(row["LSOA_CODE"])
                deciles.append(int(row["IMD_OVERALL"]))
                locs.append(loc)
    missing = set(names) - {names[i] for i in set(locs)}
    if missing:
        raise ValueError(f"localities.csv names local authorities not in the LSOA file: {missing}")
    return Lsoas(
        codes=np.array(codes),
        decile=np.array(deciles, dtype=np.int8),
        locality=np.array(locs, dtype=np.int16),
        locality_names=names,
        trust_names=[r["acute_trust_name"] for r in localities],
    )


@dataclass(frozen=True)
class ConditionSpec:
    """One long-term condition: its QOF prevalence target and its onset model."""

    key: str
    label: str
    codelists: tuple[str, ...]
    qof_prevalence: float  # proportion
    min_age: int  # the QOF denominator's lower age limit
    onset_mid_age: float
    onset_scale: float
    male_rr: float
    min_onset_age: float
    calibration: float
    resolve_fraction: float
    admission_log_rr: float
    #: The register counts only diagnoses on or after this date (QOF DEP1_REG, CAN_REG); or None.
    register_since: dt.date | None
    #: Share of people first diagnosed before ``register_since`` with a later recorded episode.
    episode_after_since: float
    #: Codelists of the treatment the register requires in the last 12 months (QOF AST, EP).
    register_requires: tuple[str, ...]


@cache
def conditions() -> tuple[ConditionSpec, ...]:
    return tuple(
        ConditionSpec(
            key=r["condition"],
            label=r["label"],
            codelists=tuple(r["codelist"].split("|")),
            qof_prevalence=float(r["qof_prevalence_percent"]) / 100,
            min_age=int(r["denominator_min_age"]),
            onset_mid_age=float(r["onset_mid_age"]),
            onset_scale=float(r["onset_scale_years"]),
            male_rr=float(r["male_rr"]),
            min_onset_age=float(r["min_onset_age"]),
            calibration=float(r["calibration"]),
            resolve_fraction=float(r["resolve_fraction"]),
            admission_log_rr=float(r["admission_log_rr"]),
            register_since=(
                dt.date.fromisoformat(r["register_since"]) if r["register_since"] else None
            ),
            episode_after_since=float(r["episode_after_since"]),
            register_requires=tuple(n for n in r["register_requires"].split("|") if n),
        )
        for r in read_rows("conditions.csv")
    )


@dataclass(frozen=True)
class CodeChoice:
    """The codes a condition is recorded with, for one variant and sex, with their weights."""

    codes: list[str]
    displays: list[str]
    probabilities: np.ndarray


@cache
def condition_codes() -> dict[tuple[str, str, str], CodeChoice]:
    """``(condition, variant, sex) -> CodeChoice``; sex is ``male`` or ``female``."""
    grouped: dict[tuple[str, str, str], list[tuple[str, str, float]]] = {}
    for r in read_rows("condition_codes.csv"):
        display = codelist(r["codelist"]).get(r["code"])
        if display is None:
            raise ValueError(f"condition_codes.csv: {r['code']} is not in {r['codelist']}_cod.csv")
        sexes = ("male", "female") if r["sex"] == "any" else (r["sex"],)
        for sex in sexes:
            key = (r["condition"], r["variant"], sex)
            grouped.setdefault(key, []).append((r["code"], display, float(r["weight"])))
    out = {}
    for key, items in grouped.items():
        weights = np.array([w for _, _, w in items])
        out[key] = CodeChoice(
            codes=[c for c, _, _ in items],
            displays=[d for _, d, _ in items],
            probabilities=weights / weights.sum(),
        )
    return out


def table(name: str) -> list[dict[str, str]]:
    """A small data file's rows (links, medicines, rules, procedures, codes, model terms)."""
    return read_rows(name)


@cache
def admission_terms() -> dict[str, float]:
    return {r["term"]: float(r["log_rate"]) for r in read_rows("admission_model.csv")}


@cache
def mortality_terms() -> dict[str, float]:
    return {r["term"]: float(r["log_rate"]) for r in read_rows("mortality_model.csv")}


@cache
def observation_codes() -> dict[str, tuple[str, str, str, str]]:
    """``observation -> (code, display, unit, ucum)``: the unit as displayed and its UCUM code."""
    return {
        r["observation"]: (r["code"], r["display"], r["unit"], r["ucum"])
        for r in read_rows("observation_codes.csv")
    }
