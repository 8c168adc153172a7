"""Measure a generated population against its targets: QOF prevalence and admission rates.

Used by the tests and to produce the achieved-versus-target table in
docs/synthetic-population.md. Registers follow the QOF shape: alive at the as-of date, inside
the indicator's age denominator, with a diagnosis code from the condition's codelist that is
not followed by a resolved code (the generator marks those rows ``resolved``), dated on or after
the register's date floor where QOF has one, and — where QOF needs it — with a required
medicine issued in the 12 months up to the as-of date.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa

from houseofcare.synth import inputs
from houseofcare.synth.timeline import years_before


def register_codes() -> pa.Table:
    rows = [
        (spec.key, code)
        for spec in inputs.conditions()
        for name in spec.codelists
        for code in inputs.codelist(name)
    ]
    return pa.table({"condition": [r[0] for r in rows], "code": [r[1] for r in rows]})


def treatment_codes() -> pa.Table:
    rows = [
        (spec.key, code)
        for spec in inputs.conditions()
        for name in spec.register_requires
        for code in inputs.codelist(name)
    ]
    return pa.table(
        {"condition": [r[0] for r in rows], "code": [r[1] for r in rows]},
        schema=pa.schema([("condition", pa.string()), ("code", pa.string())]),
    )


def prevalence(folder: Path, as_of: dt.date) -> list[dict[str, object]]:
    """Achieved prevalence per condition over QOF's denominator, next to the QOF figure."""
    out = []
    for condition, target, min_age, den, num in _registers(folder, as_of, by_decile=False):
        out.append(
            {
                "condition": condition,
                "min_age": min_age,
                "target": target,
                "achieved": num / den,
                "register": num,
                "denominator": den,
            }
        )
    return out


def prevalence_by_decile(folder: Path, as_of: dt.date) -> list[dict[str, object]]:
    """Register and denominator per condition and IMD decile of the person's LSOA, next to the
    decile's target (England's 2022-23 figure times England's shape across deciles), for the
    inequality check and its test."""
    shape = inputs.decile_prevalence_shape()
    out = []
    for condition, target, min_age, decile, den, num in _registers(folder, as_of, by_decile=True):
        out.append(
            {
                "condition": condition,
                "min_age": min_age,
                "decile": decile,
                "target": target * float(shape[condition][decile - 1]),
                "register": num,
                "denominator": den,
            }
        )
    return out


def _registers(folder: Path, as_of: dt.date, *, by_decile: bool) -> list[tuple]:
    """(condition, target, min_age, [decile,] denominator, register) rows."""
    con = duckdb.connect()
    codes = register_codes()
    specs = pa.table(
        {
            "condition": [s.key for s in inputs.conditions()],
            "min_age": [s.min_age for s in inputs.conditions()],
            "target": [s.qof_prevalence for s in inputs.conditions()],
            "since": pa.array([s.register_since for s in inputs.conditions()], pa.date32()),
            "needs_treatment": [bool(s.register_requires) for s in inputs.conditions()],
        }
    )
    con.register("codes", codes)
    con.register("treatment", treatment_codes())
    con.register("specs", specs)
    lsoas = inputs.lsoas()
    con.register(
        "imd",
        pa.table({"lsoa_code": lsoas.codes.tolist(), "decile": lsoas.decile.astype("int64")}),
    )
    decile = "a.decile, " if by_decile else ""
    year_before = years_before(as_of, 1)
    sql = f"""
    WITH alive AS (
      SELECT patient_id, i.decile, date_diff('year', birth_date, DATE '{as_of}') -
        CASE WHEN strftime(birth_date, '%m%d') > '{as_of:%m%d}' THEN 1 ELSE 0 END AS age
      FROM read_parquet('{folder}/patient.parquet') LEFT JOIN imd i USING (lsoa_code)
      WHERE death_date IS NULL OR death_date > DATE '{as_of}'),
    treated AS (
      SELECT DISTINCT m.patient_id, t.condition
      FROM read_parquet('{folder}/medication.parquet') m JOIN treatment t USING (code)
      WHERE m.authored_on > DATE '{year_before}' AND m.authored_on <= DATE '{as_of}'),
    reg AS (
      SELECT DISTINCT c.patient_id, k.condition
      FROM read_parquet('{folder}/condition.parquet') c JOIN codes k USING (code)
      JOIN specs s ON s.condition = k.condition
      LEFT JOIN treated t ON t.patient_id = c.patient_id AND t.condition = k.condition
      WHERE c.clinical_status = 'active' AND c.onset_date <= DATE '{as_of}'
        AND (s.since IS NULL OR c.onset_date >= s.since)
        AND (NOT s.needs_treatment OR t.patient_id IS NOT NULL))
    SELECT s.condition, s.target, s.min_age, {decile}
           count(DISTINCT a.patient_id) AS denominator, count(DISTINCT r.patient_id) AS register
    FROM specs s JOIN alive a ON a.age >= s.min_age
    LEFT JOIN reg r ON r.patient_id = a.patient_id AND r.condition = s.condition
    GROUP BY ALL ORDER BY ALL"""
    return con.execute(sql).fetchall()
