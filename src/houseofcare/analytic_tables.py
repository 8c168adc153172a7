"""The analytic store's clinical tables: the one contract between ingest, synth and the pipeline.

`hoc ingest` fills these tables from FHIR (through the ViewDefinitions in
`houseofcare/ingest/views/`), and `hoc synth --format parquet` writes exactly the same columns
directly, so every downstream query (registers, care gaps, risk features) reads one shape
whichever way the data arrived. A test checks that the views and this contract agree.

Types are DuckDB logical types. Dates that FHIR allows to be partial (``2019`` or ``2019-03``)
are stored as the first day of the period they name. Every table has ``last_updated`` (from
``meta.lastUpdated``) because re-ingest keeps the newer version of a resource.
"""

from __future__ import annotations

from typing import Final

Column = tuple[str, str]

CLINICAL_TABLES: Final[dict[str, list[Column]]] = {
    "patient": [
        ("patient_id", "VARCHAR"),
        ("nhs_number", "VARCHAR"),
        ("given_name", "VARCHAR"),
        ("family_name", "VARCHAR"),
        ("gender", "VARCHAR"),
        ("birth_date", "DATE"),
        ("death_date", "DATE"),
        ("ethnic_category", "VARCHAR"),
        ("lsoa_code", "VARCHAR"),
        ("practice_id", "VARCHAR"),
        ("last_updated", "TIMESTAMP"),
    ],
    "condition": [
        ("condition_id", "VARCHAR"),
        ("patient_id", "VARCHAR"),
        ("encounter_id", "VARCHAR"),
        ("code_system", "VARCHAR"),
        ("code", "VARCHAR"),
        ("display", "VARCHAR"),
        ("clinical_status", "VARCHAR"),
        ("verification_status", "VARCHAR"),
        ("onset_date", "DATE"),
        ("abatement_date", "DATE"),
        ("recorded_date", "DATE"),
        ("last_updated", "TIMESTAMP"),
    ],
    "observation": [
        ("observation_id", "VARCHAR"),
        ("patient_id", "VARCHAR"),
        ("encounter_id", "VARCHAR"),
        ("status", "VARCHAR"),
        ("code_system", "VARCHAR"),
        ("code", "VARCHAR"),
        ("display", "VARCHAR"),
        ("effective_date", "DATE"),
        ("value_number", "DOUBLE"),
        ("value_unit", "VARCHAR"),
        ("value_ucum", "VARCHAR"),
        ("value_code_system", "VARCHAR"),
        ("value_code", "VARCHAR"),
        ("value_display", "VARCHAR"),
        ("last_updated", "TIMESTAMP"),
    ],
    "encounter": [
        ("encounter_id", "VARCHAR"),
        ("patient_id", "VARCHAR"),
        ("status", "VARCHAR"),
        ("class_code", "VARCHAR"),
        ("type_system", "VARCHAR"),
        ("type_code", "VARCHAR"),
        ("type_display", "VARCHAR"),
        ("priority_code", "VARCHAR"),
        ("period_start", "TIMESTAMP"),
        ("period_end", "TIMESTAMP"),
        ("service_provider_id", "VARCHAR"),
        ("last_updated", "TIMESTAMP"),
    ],
    "medication": [
        ("medication_request_id", "VARCHAR"),
        ("patient_id", "VARCHAR"),
        ("encounter_id", "VARCHAR"),
        ("status", "VARCHAR"),
        ("intent", "VARCHAR"),
        ("code_system", "VARCHAR"),
        ("code", "VARCHAR"),
        ("display", "VARCHAR"),
        ("authored_on", "DATE"),
        ("last_updated", "TIMESTAMP"),
    ],
    "procedure": [
        ("procedure_id", "VARCHAR"),
        ("patient_id", "VARCHAR"),
        ("encounter_id", "VARCHAR"),
        ("status", "VARCHAR"),
        ("code_system", "VARCHAR"),
        ("code", "VARCHAR"),
        ("display", "VARCHAR"),
        ("performed_date", "DATE"),
        ("last_updated", "TIMESTAMP"),
    ],
    "organization": [
        ("organization_id", "VARCHAR"),
        ("ods_code", "VARCHAR"),
        ("name", "VARCHAR"),
        ("type_code", "VARCHAR"),
        ("type_display", "VARCHAR"),
        ("last_updated", "TIMESTAMP"),
    ],
    "practitioner": [
        ("practitioner_id", "VARCHAR"),
        ("identifier", "VARCHAR"),
        ("family_name", "VARCHAR"),
        ("given_name", "VARCHAR"),
        ("last_updated", "TIMESTAMP"),
    ],
}

#: The FHIR resource type each clinical table is flattened from.
RESOURCE_TYPE_OF_TABLE: Final[dict[str, str]] = {
    "patient": "Patient",
    "condition": "Condition",
    "observation": "Observation",
    "encounter": "Encounter",
    "medication": "MedicationRequest",
    "procedure": "Procedure",
    "organization": "Organization",
    "practitioner": "Practitioner",
}

#: The column holding the FHIR resource id (the ingest key, with the resource type).
KEY_COLUMN: Final[dict[str, str]] = {table: cols[0][0] for table, cols in CLINICAL_TABLES.items()}

#: Where ingest puts what it could not load: which file, which line, which resource, and why.
QUARANTINE_TABLE: Final[list[Column]] = [
    ("source_file", "VARCHAR"),
    ("line_number", "BIGINT"),
    ("resource_type", "VARCHAR"),
    ("resource_id", "VARCHAR"),
    ("reason", "VARCHAR"),
    ("ingested_at", "TIMESTAMP"),
]


def create_table_sql(name: str, columns: list[Column], *, if_not_exists: bool = True) -> str:
    """DDL for one table of the contract."""
    cols = ", ".join(f'"{c}" {t}' for c, t in columns)
    guard = "IF NOT EXISTS " if if_not_exists else ""
    return f'CREATE TABLE {guard}"{name}" ({cols})'
