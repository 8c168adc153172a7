"""A person's admission risk from the latest analytic run, as a FHIR RiskAssessment.

The risk model writes a `risk_score` table (and the triangle a `tier` table) per pipeline run
into the analytic store; `houseofcare.results` reads the person's rows from the latest run,
read-only. What is missing (no analytic store, no run, no risk scores yet, no row for the
person) gives `RiskUnavailable` with the reason, which the API answers as a 404
OperationOutcome. The route has decided access (`risk.read`) before it asks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Final

from houseofcare.results import AnalyticResults, ResultsUnavailable
from houseofcare.settings import Settings

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


def read_person_risk(settings: Settings, patient_id: str | None) -> PersonRisk:
    """The person's risk in the latest run, or `RiskUnavailable` saying what is missing."""
    if patient_id is None:
        raise RiskUnavailable("this person is not linked to an analytic record")
    try:
        with AnalyticResults.open(settings) as results:
            run = results.latest_run()
            if run is None:
                raise RiskUnavailable("the analytic store has no pipeline run yet")
            if not results.has("risk_score"):
                raise RiskUnavailable(
                    f"run {run.run_id} has no risk scores (no risk_score table): train and run "
                    "the risk model (`hoc model train`, then `hoc run`)"
                )
            risk = results.risk(run.run_id, patient_id)
            if risk is None:
                raise RiskUnavailable(f"run {run.run_id} has no risk score for this person")
            level = results.level(run.run_id, patient_id)
    except ResultsUnavailable as exc:
        raise RiskUnavailable(str(exc)) from None
    return PersonRisk(
        run_id=run.run_id,
        as_of=run.as_of,
        probability=risk.risk,
        percentile=risk.percentile,
        level=None if level is None else str(level.level),
        method=risk.model_version,
        factors=risk.factors,
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
