"""A person's admission risk from the latest analytic run, as a FHIR RiskAssessment.

The risk model writes a `risk_score` table (and the triangle a `tier` table) per pipeline run
into the analytic store. This module reads the person's row from the latest run, read-only,
and tolerates what is missing: no analytic store, no run, no risk tables yet, or no row for
the person each give `RiskUnavailable` with the reason, which the API answers as a 404
OperationOutcome. Columns are found by name so the API does not break as the model grows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Final

import duckdb

from houseofcare.settings import Settings

SCORE_COLUMNS: Final = ("risk", "probability", "risk_score", "score", "prediction")
PERCENTILE_COLUMNS: Final = ("percentile", "risk_percentile")
LEVEL_COLUMNS: Final = ("level", "tier", "risk_level")
METHOD_COLUMNS: Final = ("model_version", "model", "method", "model_id")
FACTOR_PREFIXES: Final = ("factor", "top_factor", "reason", "explanation")
#: SNOMED CT 183452005 |Emergency hospital admission|: what the model predicts.
OUTCOME: Final = {
    "coding": [
        {
            "system": "http://snomed.info/sct",
            "code": "183452005",
            "display": "Emergency hospital admission",
        }
    ],
    "text": "One or more emergency admissions in the next 12 months",
}


class RiskUnavailable(LookupError):
    """No risk for this person in the analytic store; the message says why."""


@dataclass(frozen=True)
class PersonRisk:
    run_id: str
    as_of: dt.date | None
    probability: float | None
    percentile: float | None
    level: str | None
    method: str | None
    factors: tuple[str, ...] = ()
    source: dict[str, Any] = field(default_factory=dict)


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }


def _row(
    con: duckdb.DuckDBPyConnection, table: str, run_id: str, patient_id: str
) -> dict[str, Any]:
    rel = con.execute(
        f'SELECT * FROM "{table}" WHERE run_id = ? AND patient_id = ? LIMIT 1', [run_id, patient_id]
    )
    names = [d[0] for d in rel.description]
    rows = rel.fetchall()
    return dict(zip(names, rows[0], strict=True)) if rows else {}


def _first(row: dict[str, Any], names: tuple[str, ...]) -> Any:
    return next((row[n] for n in names if row.get(n) is not None), None)


def read_person_risk(settings: Settings, patient_id: str | None) -> PersonRisk:
    """The person's risk in the latest run, or `RiskUnavailable` saying what is missing."""
    if patient_id is None:
        raise RiskUnavailable("this person is not linked to an analytic record")
    path = settings.analytic_db_path
    if not path.exists():
        raise RiskUnavailable(f"no analytic store at {path}; run `hoc ingest` and `hoc run`")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise RiskUnavailable(f"the analytic store cannot be read now ({exc})") from None
    try:
        tables = _tables(con)
        if "run" not in tables:
            raise RiskUnavailable("the analytic store has no pipeline run yet")
        runs = con.execute(
            "SELECT run_id, as_of FROM run ORDER BY finished_at DESC LIMIT 1"
        ).fetchall()
        if not runs:
            raise RiskUnavailable("the analytic store has no pipeline run yet")
        run_id, as_of = runs[0]
        if "risk_score" not in tables:
            raise RiskUnavailable(
                f"run {run_id} has no risk scores (no risk_score table): train and run the "
                "risk model (`hoc model train`, then `hoc run`)"
            )
        row = _row(con, "risk_score", run_id, patient_id)
        if not row:
            raise RiskUnavailable(f"run {run_id} has no risk score for this person")
        tier = _row(con, "tier", run_id, patient_id) if "tier" in tables else {}
    finally:
        con.close()
    factors = tuple(
        str(row[name])
        for name in sorted(row)
        if name.startswith(FACTOR_PREFIXES)
        and row[name] not in (None, "")
        and not isinstance(row[name], list | tuple)
    )
    for name in sorted(row):
        if name.startswith(FACTOR_PREFIXES) and isinstance(row[name], list | tuple):
            factors += tuple(str(v) for v in row[name])
    probability = _first(row, SCORE_COLUMNS)
    percentile = _first(row, PERCENTILE_COLUMNS)
    return PersonRisk(
        run_id=run_id,
        as_of=as_of,
        probability=None if probability is None else float(probability),
        percentile=None if percentile is None else float(percentile),
        level=None
        if (lvl := _first(tier, LEVEL_COLUMNS) or _first(row, LEVEL_COLUMNS)) is None
        else str(lvl),
        method=None if (m := _first(row, METHOD_COLUMNS)) is None else str(m),
        factors=factors,
    )


def risk_assessment(person_id: int, nhs_number: str, risk: PersonRisk) -> dict[str, Any]:
    """FHIR RiskAssessment (id = the person's id: their current assessment)."""
    prediction: dict[str, Any] = {"outcome": OUTCOME}
    if risk.probability is not None:
        prediction["probabilityDecimal"] = round(risk.probability, 6)
    if risk.level is not None:
        prediction["qualitativeRisk"] = {"text": f"level {risk.level}"}
    if risk.percentile is not None:
        prediction["rationale"] = f"risk percentile {risk.percentile:g} in the population"
    resource: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "id": str(person_id),
        "meta": {"versionId": risk.run_id.replace(":", "-")[:64]},
        "identifier": [
            {"system": "https://houseofcare.org.uk/fhir/Id/pipeline-run", "value": risk.run_id}
        ],
        "status": "final",
        "subject": {
            "reference": f"Patient/{person_id}",
            "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs_number},
        },
        "method": {"text": risk.method or "houseofcare admission-risk model"},
        "prediction": [prediction],
    }
    if risk.as_of is not None:
        resource["occurrenceDateTime"] = risk.as_of.isoformat()
    if risk.factors:
        resource["note"] = [{"text": f"Raised by: {factor}"} for factor in risk.factors[:3]]
    return resource
