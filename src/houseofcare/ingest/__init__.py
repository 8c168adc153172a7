"""FHIR R4 bulk data (NDJSON), Bundles and FHIR XML into the analytic store's clinical tables.

`ingest_paths` is the whole public surface: `hoc ingest` and the tests call it directly. The
flattening is declared as SQL-on-FHIR ViewDefinitions in `views/`; see docs/ingest.md.
"""

from houseofcare.ingest.loader import IngestReport, ResourceCounts, ingest_paths

__all__ = ["IngestReport", "ResourceCounts", "ingest_paths"]
