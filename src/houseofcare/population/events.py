"""One relation of every coded, dated event in a record, whatever table it came from.

Registers, care gaps and features all ask the same question — "which of these codes, when?" —
of conditions, medicines, procedures and observations alike. Answering it from one union keeps
each rule a join against a codelist instead of four special cases.
"""

from __future__ import annotations

#: Code systems whose codes are SNOMED CT concept ids (dm+d ids are SNOMED CT ids too).
SNOMED_SYSTEMS = ("http://snomed.info/sct", "https://dmd.nhs.uk")

_SYSTEMS = ", ".join(f"'{s}'" for s in SNOMED_SYSTEMS)

CODED_EVENT_SQL = f"""
SELECT patient_id, code, coalesce(onset_date, recorded_date) AS event_date,
       'condition' AS source, NULL::DOUBLE AS value_number
FROM condition
WHERE code_system IN ({_SYSTEMS})
  AND coalesce(verification_status, '') NOT IN ('entered-in-error', 'refuted')
UNION ALL
SELECT patient_id, code, authored_on, 'medication', NULL::DOUBLE
FROM medication
WHERE code_system IN ({_SYSTEMS}) AND coalesce(status, '') <> 'entered-in-error'
UNION ALL
SELECT patient_id, code, performed_date, 'procedure', NULL::DOUBLE
FROM procedure
WHERE code_system IN ({_SYSTEMS}) AND coalesce(status, '') <> 'entered-in-error'
UNION ALL
SELECT patient_id, code, effective_date, 'observation', value_number
FROM observation
WHERE code_system IN ({_SYSTEMS}) AND coalesce(status, '') <> 'entered-in-error'
"""
