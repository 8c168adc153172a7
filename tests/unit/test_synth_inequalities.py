"""The synthetic population's inequalities look like England's (issue 14).

One 100,000-person Parquet population: its age structure by IMD decile follows the published
shares the generator was fitted to (`synth/data/age_by_deprivation.csv`), and each register's
prevalence by deprivation follows the figures it was calibrated to (England's QOF 2022-23
prevalence times the QOF 2019-20 shape across deciles, `synth/data/prevalence_by_deprivation.csv`)
within sampling error, with every clear gradient pointing England's way.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from houseofcare.synth import generate_population, inputs
from houseofcare.synth.validate import prevalence_by_decile

AS_OF = dt.date(2026, 3, 31)
N = 100_000
#: Quintiles compared: most deprived fifth (deciles 1-2) and least deprived (9-10).
MOST, LEAST = (1, 2), (9, 10)
#: Allowance for what the generator's calibration does not model exactly (links between
#: conditions, deaths, resolution), on top of sampling error.
SYSTEMATIC = 0.12


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth-ineq") / "pop"
    generate_population(patients=N, seed=5, as_of=AS_OF, out=out, fmt="parquet")
    return out


@pytest.fixture(scope="module")
def cells(population: Path) -> list[dict[str, object]]:
    return [r for r in prevalence_by_decile(population, AS_OF) if r["decile"] is not None]


def pooled(cells: list[dict[str, object]], condition: str, deciles: tuple[int, ...]) -> tuple:
    """(observed register, expected register) over some deciles for one condition."""
    rows = [r for r in cells if r["condition"] == condition and r["decile"] in deciles]
    observed = sum(int(r["register"]) for r in rows)
    expected = sum(float(r["target"]) * int(r["denominator"]) for r in rows)
    return observed, expected


def counts(
    cells: list[dict[str, object]], condition: str, deciles: tuple[int, ...]
) -> tuple[int, int]:
    """(register, people in the denominator) over some deciles for one condition."""
    rows = [r for r in cells if r["condition"] == condition and r["decile"] in deciles]
    return sum(int(r["register"]) for r in rows), sum(int(r["denominator"]) for r in rows)


def england_quintile_ratio(condition: str) -> float:
    """England's most/least deprived quintile ratio, from the file the generator reads."""
    rows = [
        r for r in inputs.read_rows("prevalence_by_deprivation.csv") if r["condition"] == condition
    ]

    def rate(deciles: tuple[int, ...]) -> float:
        chosen = [r for r in rows if int(r["imd_decile"]) in deciles]
        return sum(float(r["register"]) for r in chosen) / sum(
            float(r["list_size"]) for r in chosen
        )

    return rate(MOST) / rate(LEAST)


def within(observed: int, expected: float) -> bool:
    """Observed within 4 Poisson standard errors plus the systematic allowance."""
    return abs(observed - expected) <= 4 * math.sqrt(expected) + SYSTEMATIC * expected


def test_every_register_is_on_its_calibrated_figures(cells: list[dict[str, object]]) -> None:
    off = {}
    for spec in inputs.conditions():
        for deciles in (tuple(range(1, 11)), MOST, LEAST):
            observed, expected = pooled(cells, spec.key, deciles)
            if not within(observed, expected):
                off[(spec.key, deciles)] = (observed, round(expected))
    assert off == {}


@pytest.mark.parametrize(
    "condition",
    [k for k in ("copd", "diabetes", "smi", "learning_disability", "pad", "epilepsy", "depression",
                 "dementia", "atrial_fibrillation", "cancer", "osteoporosis")],
)  # fmt: skip
def test_clear_gradients_point_englands_way(cells: list[dict[str, object]], condition: str) -> None:
    """Registers whose England quintile ratio is 1.15 or more, or 1/1.15 or less (among them
    the ones the old generator got backwards): ours points the same way and is within 25%
    relative (the issue's target) where the sample allows, else within 3 standard errors."""
    england = england_quintile_ratio(condition)
    assert abs(math.log(england)) > math.log(1.15)  # a clear gradient in England
    (most, most_people), (least, least_people) = (
        counts(cells, condition, q) for q in (MOST, LEAST)
    )
    ours = (most / most_people) / (least / least_people)
    assert (ours > 1) == (england > 1), (ours, england)
    log_se = math.sqrt(1 / most + 1 / least)
    assert abs(math.log(ours / england)) <= max(math.log(1.25), 3 * log_se), (ours, england)


def test_flat_registers_stay_flat(cells: list[dict[str, object]]) -> None:
    """Hypertension, CKD and heart failure are flat across deprivation in England (quintile
    ratio 0.9 to 1.15); the old generator made them steep."""
    for condition in ("hypertension", "ckd", "heart_failure"):
        england = england_quintile_ratio(condition)
        assert 0.9 < england < 1.15
        (most, most_people), (least, least_people) = (
            counts(cells, condition, q) for q in (MOST, LEAST)
        )
        ours = (most / most_people) / (least / least_people)
        assert abs(math.log(ours / england)) <= math.log(1.25), (condition, ours, england)


def test_people_in_deprived_areas_are_younger(population: Path) -> None:
    """Share aged 50+ by quintile against the decile pyramids the generator drew from (England's
    registered lists: about 29% in decile 1, 43% in decile 10)."""
    con = duckdb.connect()
    lsoas = inputs.lsoas()
    con.register(
        "imd",
        pa.table({"lsoa_code": lsoas.codes.tolist(), "decile": lsoas.decile.astype(np.int64)}),
    )
    shares = dict(
        con.execute(
            f"""SELECT decile, avg((date_diff('year', birth_date, DATE '{AS_OF}') >= 50)::int)
            FROM read_parquet('{population}/patient.parquet') JOIN imd USING (lsoa_code)
            WHERE death_date IS NULL OR death_date > DATE '{AS_OF}'
            GROUP BY 1"""
        ).fetchall()
    )
    pyr = inputs.decile_pyramids()
    expected = pyr.male[:, 50:].sum(axis=1) + pyr.female[:, 50:].sum(axis=1)
    assert 0.27 < expected[0] < 0.31 and 0.41 < expected[9] < 0.46
    for decile in (1, 10):
        assert abs(shares[decile] - expected[decile - 1]) < 0.02, (decile, shares[decile])
    assert shares[10] - shares[1] > 0.1
