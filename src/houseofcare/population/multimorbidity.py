"""Multimorbidity and frailty per person: LTC count, Cambridge Multimorbidity Score, eFI.

Weights, windows and cut-offs are data (`rules/multimorbidity.toml`); this module turns them
into parameter tables and one set-based query over the run's registers.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from houseofcare.population.registers import AGE_SQL, _months_before
from houseofcare.population.rules import RULES_DIR, RuleError


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CmsCondition(_Frozen):
    condition: str
    #: The register that shows the condition; "" while no register exists for it.
    register_id: str = Field(alias="register")
    weight: float
    diagnosed_within_years: int | None = Field(default=None, ge=1)


class FrailtyIndex(_Frozen):
    min_age: int = Field(ge=0)
    deficits_total: int = Field(ge=1)
    mild_from: int = Field(ge=1)
    moderate_from: int
    severe_from: int
    polypharmacy_min_medicines: int = Field(ge=2)
    deficits_from_registers: dict[str, tuple[str, ...]]

    @model_validator(mode="after")
    def _cut_offs_rise(self) -> FrailtyIndex:
        if not self.mild_from < self.moderate_from < self.severe_from <= self.deficits_total:
            raise ValueError("cut-offs must rise: mild_from < moderate_from < severe_from")
        return self


class MultimorbidityRules(_Frozen):
    cms: tuple[CmsCondition, ...] = Field(min_length=1)
    efi: FrailtyIndex


def load_multimorbidity_rules(
    path: Path = RULES_DIR / "multimorbidity.toml", registers: set[str] | None = None
) -> MultimorbidityRules:
    """The scores' rules, checked against the register ids they name."""
    try:
        rules = MultimorbidityRules.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (ValidationError, tomllib.TOMLDecodeError) as exc:
        raise RuleError(f"{path}: {exc}") from None
    if registers is not None:
        named = {c.register_id for c in rules.cms if c.register_id}
        for regs in rules.efi.deficits_from_registers.values():
            named |= set(regs)
        unknown = sorted(named - registers)
        if unknown:
            raise RuleError(f"{path}: unknown register(s) {', '.join(unknown)}")
    return rules


@cache
def packaged_multimorbidity_rules() -> MultimorbidityRules:
    from houseofcare.population.rules import packaged_register_rules

    return load_multimorbidity_rules(registers={r.id for r in packaged_register_rules()})


def score_tables(rules: MultimorbidityRules, as_of: dt.date) -> dict[str, pa.Table]:
    scored = [c for c in rules.cms if c.register_id]
    cms = pa.table(
        {
            "register": [c.register_id for c in scored],
            "weight": [c.weight for c in scored],
            "diagnosed_since": [
                _months_before(as_of, 12 * c.diagnosed_within_years)
                if c.diagnosed_within_years
                else None
                for c in scored
            ],
        },
        schema=pa.schema(
            [("register", pa.string()), ("weight", pa.float64()), ("diagnosed_since", pa.date32())]
        ),
    )
    pairs = [
        (deficit, register)
        for deficit, registers in rules.efi.deficits_from_registers.items()
        for register in registers
    ]
    efi = pa.table({"deficit": [d for d, _ in pairs], "register": [r for _, r in pairs]})
    return {"cms_weight": cms, "efi_deficit_register": efi}


def multimorbidity_sql(rules: MultimorbidityRules, as_of: dt.date) -> str:
    """Per living person: ltc_count, cms_score, and (65+) eFI deficits, score and category."""
    efi = rules.efi
    window_start = _months_before(as_of, 12).isoformat()
    age = AGE_SQL.format(b="p.birth_date")
    return f"""
WITH living AS (
    SELECT p.patient_id, {age} AS age
    FROM patient p
    WHERE p.birth_date <= CAST(:as_of AS DATE)
      AND (p.death_date IS NULL OR p.death_date > CAST(:as_of AS DATE))
),
ltc AS (
    SELECT patient_id, count(DISTINCT register) AS ltc_count FROM run_register GROUP BY patient_id
),
cms AS (
    SELECT r.patient_id, sum(w.weight) AS cms_score
    FROM run_register r JOIN cms_weight w ON w.register = r.register
    WHERE w.diagnosed_since IS NULL OR r.latest_recorded > w.diagnosed_since
    GROUP BY r.patient_id
),
register_deficit AS (
    SELECT DISTINCT r.patient_id, d.deficit
    FROM run_register r JOIN efi_deficit_register d ON d.register = r.register
),
polypharmacy AS (
    SELECT patient_id, 'Polypharmacy' AS deficit
    FROM medication
    WHERE authored_on > DATE '{window_start}' AND authored_on <= CAST(:as_of AS DATE)
      AND coalesce(status, '') <> 'entered-in-error'
    GROUP BY patient_id
    HAVING count(DISTINCT code) >= {efi.polypharmacy_min_medicines}
),
deficits AS (
    SELECT patient_id, count(*) AS efi_deficits
    FROM (SELECT * FROM register_deficit UNION ALL SELECT * FROM polypharmacy) all_deficits
    GROUP BY patient_id
)
SELECT l.patient_id,
       coalesce(ltc.ltc_count, 0) AS ltc_count,
       round(coalesce(cms.cms_score, 0), 2) AS cms_score,
       CASE WHEN l.age >= {efi.min_age} THEN coalesce(d.efi_deficits, 0) END AS efi_deficits,
       CASE WHEN l.age >= {efi.min_age}
            THEN round(coalesce(d.efi_deficits, 0) / {float(efi.deficits_total)}, 4) END
            AS efi_score,
       CASE WHEN l.age < {efi.min_age} THEN NULL
            WHEN coalesce(d.efi_deficits, 0) >= {efi.severe_from} THEN 'severe'
            WHEN coalesce(d.efi_deficits, 0) >= {efi.moderate_from} THEN 'moderate'
            WHEN coalesce(d.efi_deficits, 0) >= {efi.mild_from} THEN 'mild'
            ELSE 'fit' END AS frailty_category
FROM living l
LEFT JOIN ltc ON ltc.patient_id = l.patient_id
LEFT JOIN cms ON cms.patient_id = l.patient_id
LEFT JOIN deficits d ON d.patient_id = l.patient_id
""".replace(":as_of", f"'{as_of.isoformat()}'")


def compute_multimorbidity(
    con: duckdb.DuckDBPyConnection, rules: MultimorbidityRules, as_of: dt.date, registers: str
) -> duckdb.DuckDBPyRelation:
    """Scores for every living person, from the register relation named `registers`."""
    for name, table in score_tables(rules, as_of).items():
        con.register(name, table)
    con.execute(f"CREATE OR REPLACE TEMP VIEW run_register AS SELECT * FROM {registers}")
    return con.sql(multimorbidity_sql(rules, as_of))
