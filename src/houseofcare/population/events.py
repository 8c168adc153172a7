"""One relation of every coded, dated event in a record, whatever table it came from.

Registers, care gaps and features all ask the same question — "which of these codes, when?" —
of conditions, medicines, procedures and observations alike. Answering it from one union keeps
each rule a join against a codelist instead of four special cases.

Codes from other systems are translated here, once, so the rules keep speaking SNOMED CT and
dm+d: a LOINC-coded reading or an RxNorm-coded medicine becomes an event with the SNOMED CT /
dm+d code its map names (`houseofcare/terminology/maps/`). Code systems are compared by
canonical URI (`houseofcare.terminology.code_maps.canonical_system`), so `https`, a `|version`
or `/version/...` tail and letter case do not hide a code. Anything else — unmapped codes,
unknown systems — is not an event.

Values are made comparable here too: a reading's value is converted to its codelist's canonical
unit (`houseofcare/terminology/units.toml`), so an HbA1c in % and one in mmol/mol meet the same
threshold the same way; a reading whose unit is unknown or whose value is implausible has no
value and says why (`value_problem`), and codes that are not a measured quantity carry none.
"""

from __future__ import annotations

from houseofcare.engine import sql_literal
from houseofcare.terminology.code_maps import (
    SNOMED_SYSTEMS,
    CodeMapping,
    canonical_system_sql,
    packaged_code_maps,
)
from houseofcare.terminology.units import (
    conversion_rows,
    packaged_quantity_codes,
    packaged_units,
)

__all__ = ["CODED_EVENT_SQL", "READING_SQL", "SNOMED_SYSTEMS", "reading_sql"]


def _literal_relation(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Rows of SQL literals as one `VALUES` relation with named columns.

    One VALUES list, not a UNION ALL of one-row SELECTs: Spark analyses a union of a hundred
    projections for every reference to the event layer (seconds per query); a VALUES list is
    one local relation on both engines.
    """
    names = ", ".join(columns)
    if not rows:
        nulls = ", ".join(f"CAST(NULL AS VARCHAR) AS {c}" for c in columns)
        return f"SELECT {nulls} WHERE 1 = 0"
    values = ",\n    ".join(f"({', '.join(row)})" for row in rows)
    return f"SELECT {names} FROM (VALUES\n    {values}\n) AS t({names})"


def _map_rows_sql(mappings: list[CodeMapping]) -> str:
    """The mappings as a literal relation (system, source_code, target_code, unit)."""
    return _literal_relation(
        ("system", "source_code", "target_code", "unit"),
        [
            (
                sql_literal(m.system),
                sql_literal(m.source_code),
                sql_literal(m.target_code),
                f"CAST({sql_literal(m.unit)} AS VARCHAR)",
            )
            for m in mappings
        ],
    )


_MAPPINGS = [m for code_map in packaged_code_maps().values() for m in code_map.mappings]
_SYSTEMS = ", ".join(sql_literal(s) for s in SNOMED_SYSTEMS)
_MAP = _map_rows_sql(_MAPPINGS)


def _systems(table: str, *, snomed: bool) -> str:
    """The raw system URIs of `table` whose canonical form is (or is not) SNOMED CT / dm+d.

    The canonical form is worked out once per distinct URI, not once per row (a store holds a
    handful of URIs and millions of rows), and used as an `IN` filter: a semi-join whose hash
    table is built from this handful of URIs, so the millions of SNOMED-coded rows stream
    through untouched (a plain join let the planner build on the big table: `hoc run` at 1M
    people rose from 7.4 to 9.3 GB).
    """
    test = "IN" if snomed else "NOT IN"
    return f"SELECT raw FROM {_canonical(table)} s WHERE s.system {test} ({_SYSTEMS})"


def _canonical(table: str) -> str:
    """(raw, system): every distinct system URI of `table` with its canonical form."""
    return (
        f"(SELECT raw, {canonical_system_sql('raw')} AS system "
        f"FROM (SELECT DISTINCT code_system AS raw FROM {table}) u)"
    )


def _mapped(table: str, alias: str, map_rows: str = _MAP) -> str:
    """The join of `table`'s non-SNOMED rows to the maps (rows already narrowed by `IN`)."""
    return (
        f"JOIN {_canonical(table)} {alias}s ON {alias}s.raw = {alias}.code_system\n"
        f"JOIN ({map_rows}) {alias}m ON {alias}m.system = {alias}s.system "
        f"AND {alias}m.source_code = {alias}.code"
    )


def _quantity_rows_sql(codes: frozenset[str] | None = None) -> str:
    """(code, quantity): every SNOMED CT code whose readings are a measured quantity (only
    those in `codes`, when given)."""
    return _literal_relation(
        ("code", "quantity"),
        [
            (sql_literal(c), sql_literal(q))
            for c, q in sorted(packaged_quantity_codes().items())
            if codes is None or c in codes
        ],
    )


def _double(number: float) -> str:
    """A DOUBLE literal the same on every engine (`10.929` alone is DECIMAL on Spark)."""
    return f"CAST('{number!r}' AS DOUBLE)"


def _unit_rows_sql(quantities: frozenset[str] | None = None) -> str:
    """(quantity, kind, unit_key, factor, shift, low, high): `units.conversion_rows` (of
    `quantities` only, when given)."""
    return _literal_relation(
        ("quantity", "kind", "unit_key", "factor", "shift", "low", "high"),
        [
            (sql_literal(q), sql_literal(kind), sql_literal(key), _double(factor),
             _double(offset), _double(low), _double(high))
            for q, kind, key, factor, offset, low, high in conversion_rows(packaged_units())
            if quantities is None or q in quantities
        ],
    )  # fmt: skip


_QUANTITY = _quantity_rows_sql()
_UNIT = _unit_rows_sql()
_TEXT_UNIT = "nullif(lower(trim(o.value_unit)), '')"


def _reading(code: str, implied_ucum: str) -> str:
    """The readings of `observation o` whose code (after any map) is `code`, each with the
    unit it is in: its UCUM code if it has one, else its display text, else the unit its
    source code implies (`implied_ucum`, a map's unit), else the quantity's implied unit."""
    return f"""(SELECT o.patient_id, {code} AS code, o.effective_date, o.value_number,
       CASE WHEN o.value_ucum IS NOT NULL THEN 'ucum'
            WHEN {_TEXT_UNIT} IS NOT NULL THEN 'unit'
            WHEN {implied_ucum} IS NOT NULL THEN 'ucum'
            ELSE 'implied' END AS kind,
       coalesce(o.value_ucum, {_TEXT_UNIT}, {implied_ucum}, '') AS unit_key"""


def _canonical_value(reading: str, quantity_rows: str, unit_rows: str) -> str:
    """A reading in its quantity's canonical unit, with why it cannot be used when it cannot.

    `value_number` is the converted value, or NULL when no rule may use it; `value_problem`
    says why ("unknown unit", "no unit", "implausible") for the counts `hoc run` and
    `hoc status` report. Codes that are not a measured quantity carry no value at all: a value
    is used only in the unit it means (hazard H-043).
    """
    converted = "u.factor * (r.value_number + u.shift)"
    return f"""SELECT r.patient_id, r.code, r.effective_date AS event_date,
       'observation' AS source,
       CASE WHEN {converted} BETWEEN u.low AND u.high THEN {converted} END AS value_number,
       CASE WHEN r.value_number IS NULL OR q.quantity IS NULL THEN NULL
            WHEN u.factor IS NULL AND r.kind = 'implied' THEN 'no unit'
            WHEN u.factor IS NULL THEN 'unknown unit'
            WHEN NOT ({converted} BETWEEN u.low AND u.high) THEN 'implausible'
       END AS value_problem,
       q.quantity
FROM {reading} r
LEFT JOIN ({quantity_rows}) q ON q.code = r.code
LEFT JOIN ({unit_rows}) u ON u.quantity = q.quantity AND u.kind = r.kind
 AND u.unit_key = r.unit_key"""


def _snomed_reading() -> str:
    return f"""{_reading("o.code", "CAST(NULL AS VARCHAR)")}
FROM observation o
WHERE o.code_system IN ({_systems("observation", snomed=True)})
  AND coalesce(o.status, '') <> 'entered-in-error')"""


def _mapped_reading(map_rows: str) -> str:
    return f"""{_reading("om.target_code", "om.unit")}
FROM observation o
{_mapped("observation", "o", map_rows)}
WHERE o.code_system IN ({_systems("observation", snomed=False)})
  AND coalesce(o.status, '') <> 'entered-in-error')"""


def reading_sql(codes: frozenset[str] | None = None) -> str:
    """Every reading (observation value) in its canonical unit: (patient_id, code,
    event_date, source, value_number, value_problem, quantity).

    With `codes`, the same layer with its literal relations (maps, quantities, units) cut to
    the rows that can yield those SNOMED CT codes: a page asking for one person's four
    measures then plans a query a fraction of the size (DuckDB's parsing and planning of the
    whole layer's literals cost ~30 ms, far longer than reading one person's rows). Each
    reading of those codes comes out exactly as from the whole layer (tests/spec); rows of
    other codes may come out too, without a value: the caller keeps its own codes' rows.
    """
    if codes is None:
        return f"""{_canonical_value(_snomed_reading(), _QUANTITY, _UNIT)}
UNION ALL
{_canonical_value(_mapped_reading(_MAP), _QUANTITY, _UNIT)}"""
    # the two kinds of reading joined to the units once, not once each: half the literals
    # to plan again (the whole layer keeps two joins, the shape `hoc run` is measured with)
    quantities = frozenset(q for c, q in packaged_quantity_codes().items() if c in codes)
    readings = f"""({_snomed_reading()}
UNION ALL
{_mapped_reading(_map_rows_sql([m for m in _MAPPINGS if m.target_code in codes]))})"""
    return _canonical_value(readings, _quantity_rows_sql(codes), _unit_rows_sql(quantities))


_NO_VALUE = "CAST(NULL AS DOUBLE) AS value_number, CAST(NULL AS VARCHAR) AS value_problem, " + (
    "CAST(NULL AS VARCHAR) AS quantity"
)

#: Every reading (observation value) in its canonical unit: (patient_id, code, event_date,
#: source, value_number, value_problem, quantity), the observation part of CODED_EVENT_SQL.
#: Risk features and the results summary read values from here, never from `observation`.
READING_SQL = reading_sql()


CODED_EVENT_SQL = (
    f"""
SELECT c.patient_id, c.code, coalesce(c.onset_date, c.recorded_date) AS event_date,
       'condition' AS source, {_NO_VALUE}
FROM condition c
WHERE c.code_system IN ({_systems("condition", snomed=True)})
  AND coalesce(c.verification_status, '') NOT IN ('entered-in-error', 'refuted')
UNION ALL
SELECT md.patient_id, md.code, md.authored_on, 'medication', {_NO_VALUE}
FROM medication md
WHERE md.code_system IN ({_systems("medication", snomed=True)})
  AND coalesce(md.status, '') <> 'entered-in-error'
UNION ALL
SELECT md.patient_id, mdm.target_code, md.authored_on, 'medication', {_NO_VALUE}
FROM medication md
{_mapped("medication", "md")}
WHERE md.code_system IN ({_systems("medication", snomed=False)})
  AND coalesce(md.status, '') <> 'entered-in-error'
UNION ALL
SELECT pr.patient_id, pr.code, pr.performed_date, 'procedure', {_NO_VALUE}
FROM procedure pr
WHERE pr.code_system IN ({_systems("procedure", snomed=True)})
  AND coalesce(pr.status, '') <> 'entered-in-error'
UNION ALL
"""
    + READING_SQL
)
