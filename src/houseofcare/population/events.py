"""One relation of every coded, dated event in a record, whatever table it came from.

Registers, care gaps and features all ask the same question — "which of these codes, when?" —
of conditions, medicines, procedures and observations alike. Answering it from one union keeps
each rule a join against a codelist instead of four special cases.

Codes from other systems are translated here, once, so the rules keep speaking SNOMED CT and
dm+d: a LOINC-coded reading or an RxNorm-coded medicine becomes an event with the SNOMED CT /
dm+d code its map names (`houseofcare/terminology/maps/`), keeping its value as recorded.
Code systems are compared by canonical URI (`houseofcare.terminology.code_maps
.canonical_system`), so `https`, a `|version` or `/version/...` tail and letter case do not hide
a code. Anything else — unmapped codes, unknown systems — is not an event.
"""

from __future__ import annotations

from houseofcare.engine import sql_literal
from houseofcare.terminology.code_maps import (
    SNOMED_SYSTEMS,
    CodeMapping,
    canonical_system_sql,
    packaged_code_maps,
)

__all__ = ["CODED_EVENT_SQL", "SNOMED_SYSTEMS"]


def _map_rows_sql(mappings: list[CodeMapping]) -> str:
    """The mappings as a literal relation (system, source_code, target_code, unit)."""
    if not mappings:
        return (
            "SELECT CAST(NULL AS VARCHAR) AS system, CAST(NULL AS VARCHAR) AS source_code, "
            "CAST(NULL AS VARCHAR) AS target_code, CAST(NULL AS VARCHAR) AS unit WHERE 1 = 0"
        )
    return "\n    UNION ALL ".join(
        f"SELECT {sql_literal(m.system)} AS system, {sql_literal(m.source_code)} AS source_code, "
        f"{sql_literal(m.target_code)} AS target_code, "
        f"CAST({sql_literal(m.unit)} AS VARCHAR) AS unit"
        for m in mappings
    )


_MAPPINGS = [m for code_map in packaged_code_maps().values() for m in code_map.mappings]
_SYSTEMS = ", ".join(sql_literal(s) for s in SNOMED_SYSTEMS)
_MAP = _map_rows_sql(_MAPPINGS)


def _systems(table: str) -> str:
    """Each distinct system URI of `table` with its canonical form.

    The canonical form is worked out once per distinct URI, not once per row: a store holds a
    handful of URIs and millions of rows.
    """
    return (
        f"(SELECT raw, {canonical_system_sql('raw')} AS system "
        f"FROM (SELECT DISTINCT code_system AS raw FROM {table}) u)"
    )


CODED_EVENT_SQL = f"""
SELECT c.patient_id, c.code, coalesce(c.onset_date, c.recorded_date) AS event_date,
       'condition' AS source, NULL::DOUBLE AS value_number
FROM condition c
JOIN {_systems("condition")} cs ON cs.raw = c.code_system AND cs.system IN ({_SYSTEMS})
WHERE coalesce(c.verification_status, '') NOT IN ('entered-in-error', 'refuted')
UNION ALL
SELECT md.patient_id, coalesce(mm.target_code, md.code), md.authored_on, 'medication', NULL::DOUBLE
FROM medication md
JOIN {_systems("medication")} ms ON ms.raw = md.code_system
LEFT JOIN ({_MAP}) mm ON mm.system = ms.system AND mm.source_code = md.code
WHERE (ms.system IN ({_SYSTEMS}) OR mm.target_code IS NOT NULL)
  AND coalesce(md.status, '') <> 'entered-in-error'
UNION ALL
SELECT pr.patient_id, pr.code, pr.performed_date, 'procedure', NULL::DOUBLE
FROM procedure pr
JOIN {_systems("procedure")} ps ON ps.raw = pr.code_system AND ps.system IN ({_SYSTEMS})
WHERE coalesce(pr.status, '') <> 'entered-in-error'
UNION ALL
SELECT o.patient_id, coalesce(om.target_code, o.code), o.effective_date, 'observation',
       o.value_number
FROM observation o
JOIN {_systems("observation")} os ON os.raw = o.code_system
LEFT JOIN ({_MAP}) om ON om.system = os.system AND om.source_code = o.code
 AND (om.unit IS NULL OR lower(om.unit) = lower(trim(o.value_unit)))
WHERE (os.system IN ({_SYSTEMS}) OR om.target_code IS NOT NULL)
  AND coalesce(o.status, '') <> 'entered-in-error'
"""
