"""Write the FHIR R4 bulk export (NDJSON, UK Core shaped) from the flat tables with DuckDB SQL.

The NDJSON is produced from the same Parquet tables that ``--format parquet`` writes, so both
formats describe one population by construction. Shapes follow docs/fhir-profile.md. Each
resource is built with ``json_object`` and passed through ``json_merge_patch('{}', …)``, which
drops members whose value is null (FHIR JSON must not carry nulls). Rows keep the order of the
Parquet files, so the export is byte-for-byte reproducible.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

UKCORE = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
ETHNIC_EXT = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"
ETHNIC_CS = "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategoryEngland"
HL7 = "http://terminology.hl7.org/CodeSystem/"
LSOA_EXT = "https://houseofcare.org.uk/fhir/StructureDefinition/lsoa-2011"
GMP = "https://fhir.hl7.org.uk/Id/gmp-number"

TS = "'%Y-%m-%dT%H:%M:%S+00:00'"


def _meta(profile: str) -> str:
    return (
        f"'meta', json_object('profile', ['{UKCORE}{profile}'], "
        "'lastUpdated', strftime(last_updated, '%Y-%m-%dT%H:%M:%SZ'))"
    )


def _coding(code: str, display: str, system: str = f"'{SNOMED}'") -> str:
    inner = f"json_object('system', {system}, 'code', {code}, 'display', {display})"
    return f"json_object('coding', [{inner}])"


def _subject() -> str:
    return "'subject', json_object('reference', 'Patient/' || patient_id)"


RESOURCES: dict[str, list[tuple[str, str]]] = {
    "Patient": [
        (
            "patient",
            f"""json_object('resourceType', 'Patient', 'id', patient_id, {_meta("Patient")},
            'extension', [json_object('url', '{ETHNIC_EXT}', 'valueCodeableConcept',
                json_object('coding',
                  [json_object('system', '{ETHNIC_CS}', 'code', ethnic_category)]))],
            'identifier', [json_object('system', '{NHS_NUMBER}', 'value', nhs_number)],
            'name', CASE WHEN family_name IS NOT NULL AND given_name IS NOT NULL THEN
                [json_object('use', 'official', 'family', family_name, 'given', [given_name])]
                END,
            'gender', gender, 'birthDate', strftime(birth_date, '%Y-%m-%d'),
            'deceasedDateTime', strftime(death_date, '%Y-%m-%d'),
            'address', [json_object('use', 'home', 'extension',
                [json_object('url', '{LSOA_EXT}', 'valueCode', lsoa_code)])],
            'generalPractitioner', [json_object('reference', 'Organization/' || practice_id)])""",
        )
    ],
    "Organization": [
        (
            "organization",
            f"""json_object('resourceType', 'Organization', 'id', organization_id,
            {_meta("Organization")},
            'identifier', [json_object('system', '{ODS}', 'value', ods_code)], 'active', true,
            'type', [{_coding("type_code", "type_display", f"'{HL7}organization-type'")}],
            'name', name)""",
        )
    ],
    "Practitioner": [
        (
            "practitioner",
            f"""json_object('resourceType', 'Practitioner', 'id', practitioner_id,
            {_meta("Practitioner")},
            'identifier', [json_object('system', '{GMP}', 'value', identifier)],
            'name', [json_object('family', family_name, 'given', [given_name],
                'prefix', ['Dr'])])""",
        )
    ],
    "Condition": [
        (
            "condition",
            f"""json_object('resourceType', 'Condition', 'id', condition_id, {_meta("Condition")},
            'clinicalStatus', {_coding("clinical_status", "NULL", f"'{HL7}condition-clinical'")},
            'verificationStatus',
              {_coding("verification_status", "NULL", f"'{HL7}condition-ver-status'")},
            'category', [{
                _coding("'problem-list-item'", "'Problem List Item'", f"'{HL7}condition-category'")
            }],
            'code', {_coding("code", "display", "code_system")}, {_subject()},
            'onsetDateTime', strftime(onset_date, '%Y-%m-%d'),
            'abatementDateTime', strftime(abatement_date, '%Y-%m-%d'),
            'recordedDate', strftime(recorded_date, '%Y-%m-%d'))""",
        )
    ],
    "Observation": [
        (
            "bp_panel",
            f"""json_object('resourceType', 'Observation', 'id', observation_id,
            {_meta("Observation")}, 'status', 'final',
            'category', [{
                _coding("'vital-signs'", "'Vital Signs'", f"'{HL7}observation-category'")
            }],
            'code', {_coding("'75367002'", "'Blood pressure'")}, {_subject()},
            'effectiveDateTime', strftime(effective_date, '%Y-%m-%d'),
            'component', [
              json_object('code', {_coding("'72313002'", "'Systolic arterial pressure'")},
                'valueQuantity', json_object('value', systolic, 'unit', 'mmHg',
                  'system', '{UCUM}', 'code', 'mm[Hg]')),
              json_object('code', {_coding("'1091811000000102'", "'Diastolic arterial pressure'")},
                'valueQuantity', json_object('value', diastolic, 'unit', 'mmHg',
                  'system', '{UCUM}', 'code', 'mm[Hg]'))])""",
        ),
        (
            "observation WHERE code NOT IN ('72313002', '1091811000000102')",
            f"""json_object('resourceType', 'Observation', 'id', observation_id,
            {_meta("Observation")}, 'status', status,
            'code', {_coding("code", "display", "code_system")}, {_subject()},
            'effectiveDateTime', strftime(effective_date, '%Y-%m-%d'),
            'valueQuantity', CASE WHEN value_number IS NOT NULL THEN json_object(
                'value', value_number, 'unit', value_unit,
                'system', CASE WHEN value_ucum IS NOT NULL THEN '{UCUM}' END,
                'code', value_ucum) END,
            'valueCodeableConcept', CASE WHEN value_code IS NOT NULL THEN
                {_coding("value_code", "value_display", "value_code_system")} END)""",
        ),
    ],
    "MedicationRequest": [
        (
            "medication",
            f"""json_object('resourceType', 'MedicationRequest', 'id', medication_request_id,
            {_meta("MedicationRequest")}, 'status', status, 'intent', intent,
            'medicationCodeableConcept', {_coding("code", "display", "code_system")},
            {_subject()}, 'authoredOn', strftime(authored_on, '%Y-%m-%d'))""",
        )
    ],
    "Procedure": [
        (
            "procedure",
            f"""json_object('resourceType', 'Procedure', 'id', procedure_id,
            {_meta("Procedure")}, 'status', status,
            'code', {_coding("code", "display", "code_system")}, {_subject()},
            'performedDateTime', strftime(performed_date, '%Y-%m-%d'))""",
        )
    ],
    "Encounter": [
        (
            "encounter",
            f"""json_object('resourceType', 'Encounter', 'id', encounter_id, {_meta("Encounter")},
            'status', status,
            'class', json_object('system', 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
                'code', class_code),
            'type', [{_coding("type_code", "type_display", "type_system")}],
            'priority', {_coding("priority_code", "NULL", f"'{HL7}v3-ActPriority'")},
            {_subject()},
            'period', json_object('start', strftime(period_start, {TS}),
                'end', strftime(period_end, {TS})),
            'serviceProvider', json_object('reference', 'Organization/' || service_provider_id))""",
        )
    ],
}


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    con.execute("SET preserve_insertion_order = true")
    return con


def write_resource(
    con: duckdb.DuckDBPyConnection, staging: Path, out: Path, resource: str, *, gzip: bool
) -> int:
    """Write ``<resource>.ndjson[.gz]`` into ``out``; returns how many resources it holds."""
    suffix = ".ndjson.gz" if gzip else ".ndjson"
    compression = "gzip" if gzip else "none"
    target = out / f"{resource}{suffix}"
    pieces = []
    total = 0
    for k, (source, expression) in enumerate(RESOURCES[resource]):
        table, _, where = source.partition(" WHERE ")
        path = staging / f"{table}.parquet"
        filt = f"WHERE {where}" if where else ""
        piece = out / f".{resource}.{k}{suffix}"
        con.execute(
            f"COPY (SELECT json_merge_patch('{{}}', {expression}) "
            f"FROM read_parquet('{path}') {filt}) TO '{piece}' "
            f"(FORMAT CSV, HEADER false, QUOTE '', ESCAPE '', COMPRESSION {compression})"
        )
        found = con.execute(f"SELECT count(*) FROM read_parquet('{path}') {filt}").fetchone()
        total += int(found[0]) if found else 0
        pieces.append(piece)
    # Parts are concatenated (gzip members concatenate into one valid gzip stream).
    with target.open("wb") as sink:
        for piece in pieces:
            with piece.open("rb") as src:
                shutil.copyfileobj(src, sink, 1 << 22)
            piece.unlink()
    return total
