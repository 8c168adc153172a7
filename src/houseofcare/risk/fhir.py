"""FHIR R4 RiskAssessment for everyone a run scored, as bulk-data NDJSON (identifiable).

One resource per person: `subject` and `basis` reference the Patient (with the NHS number
identifier, UK Core style), `method` names the model version, `prediction` gives the calibrated
probability of one or more emergency admissions in the next 12 months, `occurrenceDateTime`
is the run's as-of date, and `note` carries the three plain-English factors. DuckDB writes the
file from one query (`COPY … (FORMAT JSON)`), so a million resources need no Python loop.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from houseofcare.engine import sql_literal
from houseofcare.people_scope import PeopleScope
from houseofcare.risk.model import METHOD

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
METHOD_SYSTEM = "https://houseofcare.org.uk/fhir/CodeSystem/risk-model-version"
SNOMED = "http://snomed.info/sct"


def risk_assessment_sql(
    run_id: str, practice_id: str | None = None, scope: PeopleScope | None = None
) -> str:
    """One row per scored person (of one practice, if given, and in `scope`, whom the reader
    may see); its columns are the resource's top-level elements."""
    run = sql_literal(run_id)
    practice = "" if practice_id is None else f" AND p.practice_id = {sql_literal(practice_id)}"
    if scope is not None:
        practice += " AND " + scope.condition("p.practice_id", "r.patient_id")
    return f"""
SELECT unnest(struct_pack(
    resourceType := 'RiskAssessment',
    id := 'risk-' || replace(r.run_id, ':', '') || '-' || r.patient_id,
    meta := struct_pack(profile := ['http://hl7.org/fhir/StructureDefinition/RiskAssessment']),
    status := 'final',
    subject := struct_pack(
        reference := 'Patient/' || r.patient_id,
        identifier := struct_pack(system := '{NHS_NUMBER_SYSTEM}', value := p.nhs_number)),
    occurrenceDateTime := strftime(run.as_of, '%Y-%m-%d'),
    method := struct_pack(
        coding := [struct_pack(system := '{METHOD_SYSTEM}', code := r.model_version,
                               display := '{METHOD}')],
        text := '{METHOD}, version ' || r.model_version),
    basis := [struct_pack(reference := 'Patient/' || r.patient_id)],
    prediction := [struct_pack(
        outcome := struct_pack(
            coding := [struct_pack(system := '{SNOMED}', code := '183452005',
                                   display := 'Emergency hospital admission')],
            text := 'One or more emergency admissions in the next 12 months'),
        probabilityDecimal := round(r.risk, 4),
        whenPeriod := struct_pack(start := strftime(run.as_of, '%Y-%m-%d'),
                                  "end" := strftime(run.as_of + INTERVAL 12 MONTH, '%Y-%m-%d')),
        rationale := 'Risk percentile ' || CAST(r.percentile AS VARCHAR)
                     || ' in the registered population')],
    note := CASE WHEN r.factor_1 IS NULL
        -- FHIR allows no empty arrays: say why there are no factors instead
        THEN [struct_pack(text := 'No factor raised the risk above the baseline, or the risk is '
                                  || 'below the range the model explains (see docs/risk-model.md)')]
        ELSE list_transform(
            list_filter([r.factor_1, r.factor_2, r.factor_3], lambda f: f IS NOT NULL),
            lambda f: struct_pack(text := 'Raised the risk: ' || f)) END
))
FROM risk_score r
JOIN run ON run.run_id = r.run_id
LEFT JOIN patient p ON p.patient_id = r.patient_id
WHERE r.run_id = {run}{practice}
ORDER BY r.patient_id
"""


def write_risk_assessments(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    out: Path,
    practice_id: str | None = None,
    *,
    scope: PeopleScope | None = None,
) -> int:
    """Write the run's RiskAssessments (one practice's, if given) to `out` (NDJSON); how many
    were written.

    Written to a temporary file and renamed, so a failed export never leaves half a file.
    """
    query = risk_assessment_sql(run_id, practice_id, scope)
    ((count,),) = con.execute(f"SELECT count(*) FROM ({query})").fetchall()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.with_name(f".{out.name}.partial")
    con.execute(f"COPY ({query}) TO {sql_literal(str(work))} (FORMAT JSON)")
    work.replace(out)
    return int(count)
