"""Multimorbidity and frailty per person: LTC count, Cambridge Multimorbidity Score, eFI.

Weights, windows and cut-offs are data (`rules/multimorbidity.toml`); this module turns them
into parameter tables and one set-based query over the run's registers, run by any engine
(`houseofcare.engine`).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from houseofcare.engine import Engine, Query
from houseofcare.population.events import CODED_EVENT_SQL
from houseofcare.population.registers import AGE_SQL, _months_before
from houseofcare.population.rules import RULES_DIR, RuleError
from houseofcare.terminology.codelist import Codelist


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


#: The one eFI deficit found from prescribing volume rather than from codes.
POLYPHARMACY = "Polypharmacy"


class CmsCondition(_Frozen):
    """One Cambridge score condition and the evidence that shows it.

    A condition is present when any one of its sources shows it: the register; a code from
    `codelists` recorded at any time; or, for "treated" conditions, at least
    `min_prescriptions` issues from the `medicines` codelists in the last `within_months`
    (the CPRD@Cambridge definitions count four or more prescriptions in a year).
    """

    condition: str
    register_id: str = Field(default="", alias="register")
    weight: float
    diagnosed_within_years: int | None = Field(default=None, ge=1)
    codelists: tuple[str, ...] = ()
    medicines: tuple[str, ...] = ()
    min_prescriptions: int = Field(default=1, ge=1)
    within_months: int = Field(default=12, ge=1)

    @model_validator(mode="after")
    def _has_evidence(self) -> CmsCondition:
        if not (self.register_id or self.codelists or self.medicines):
            raise ValueError(f"{self.condition}: needs a register, codelists or medicines")
        return self


class FrailtyIndex(_Frozen):
    min_age: int = Field(ge=0)
    deficits_total: int = Field(ge=1)
    mild_from: int = Field(ge=1)
    moderate_from: int
    severe_from: int
    polypharmacy_min_medicines: int = Field(ge=2)
    deficits_from_registers: dict[str, tuple[str, ...]]
    #: deficit name -> codelists, a code from any of which recorded at any time shows it
    deficits_from_codelists: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _deficits_fit(self) -> FrailtyIndex:
        named = (
            set(self.deficits_from_registers) | set(self.deficits_from_codelists) | {POLYPHARMACY}
        )
        if len(named) > self.deficits_total:
            raise ValueError(
                f"{len(named)} deficits are defined but deficits_total is {self.deficits_total}"
            )
        return self

    @model_validator(mode="after")
    def _cut_offs_rise(self) -> FrailtyIndex:
        if not self.mild_from < self.moderate_from < self.severe_from <= self.deficits_total:
            raise ValueError("cut-offs must rise: mild_from < moderate_from < severe_from")
        return self


class MultimorbidityRules(_Frozen):
    cms: tuple[CmsCondition, ...] = Field(min_length=1)
    efi: FrailtyIndex


def load_multimorbidity_rules(
    path: Path = RULES_DIR / "multimorbidity.toml",
    registers: set[str] | None = None,
    codelists: set[str] | None = None,
) -> MultimorbidityRules:
    """The scores' rules, checked against the register ids and codelists they name."""
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
    if codelists is not None:
        named = {name for c in rules.cms for name in (*c.codelists, *c.medicines)}
        for names in rules.efi.deficits_from_codelists.values():
            named |= set(names)
        unknown = sorted(named - codelists)
        if unknown:
            raise RuleError(f"{path}: unknown codelist(s) {', '.join(unknown)}")
    return rules


@cache
def packaged_multimorbidity_rules() -> MultimorbidityRules:
    from houseofcare.population.rules import packaged_register_rules
    from houseofcare.terminology.codelist import packaged_codelists

    return load_multimorbidity_rules(
        registers={r.id for r in packaged_register_rules()},
        codelists=set(packaged_codelists()),
    )


def score_tables(
    rules: MultimorbidityRules, codelists: Mapping[str, Codelist], as_of: dt.date
) -> dict[str, pa.Table]:
    """The scores' rules as parameter tables for one run date (codelists expanded to codes)."""
    by_register = [c for c in rules.cms if c.register_id]
    cms = pa.table(
        {
            "condition": [c.condition for c in by_register],
            "register": [c.register_id for c in by_register],
            "weight": [c.weight for c in by_register],
            "diagnosed_since": [
                _months_before(as_of, 12 * c.diagnosed_within_years)
                if c.diagnosed_within_years
                else None
                for c in by_register
            ],
        },
        schema=pa.schema(
            [
                ("condition", pa.string()),
                ("register", pa.string()),
                ("weight", pa.float64()),
                ("diagnosed_since", pa.date32()),
            ]
        ),
    )
    coded = [
        (c.condition, c.weight, code)
        for c in rules.cms
        for name in c.codelists
        for code in codelists[name].codes
    ]
    treated = [
        (c.condition, c.weight, code, c.min_prescriptions, _months_before(as_of, c.within_months))
        for c in rules.cms
        for name in c.medicines
        for code in codelists[name].codes
    ]
    register_pairs = [
        (deficit, register)
        for deficit, registers in rules.efi.deficits_from_registers.items()
        for register in registers
    ]
    code_pairs = sorted(
        {
            (deficit, code)
            for deficit, names in rules.efi.deficits_from_codelists.items()
            for name in names
            for code in codelists[name].codes
        }
    )
    return {
        "cms_weight": cms,
        "cms_code": pa.table(
            {
                "condition": pa.array([c for c, _, _ in coded], pa.string()),
                "weight": pa.array([w for _, w, _ in coded], pa.float64()),
                "code": pa.array([k for _, _, k in coded], pa.string()),
            }
        ),
        "cms_medicine": pa.table(
            {
                "condition": pa.array([t[0] for t in treated], pa.string()),
                "weight": pa.array([t[1] for t in treated], pa.float64()),
                "code": pa.array([t[2] for t in treated], pa.string()),
                "min_prescriptions": pa.array([t[3] for t in treated], pa.int64()),
                "window_start": pa.array([t[4] for t in treated], pa.date32()),
            }
        ),
        "efi_deficit_register": pa.table(
            {
                "deficit": pa.array([d for d, _ in register_pairs], pa.string()),
                "register": pa.array([r for _, r in register_pairs], pa.string()),
            }
        ),
        "efi_deficit_code": pa.table(
            {
                "deficit": pa.array([d for d, _ in code_pairs], pa.string()),
                "code": pa.array([c for _, c in code_pairs], pa.string()),
            }
        ),
    }


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
    SELECT patient_id, count(DISTINCT register) AS ltc_count FROM mm_register GROUP BY patient_id
),
coded_event AS ({CODED_EVENT_SQL}),
event_to_date AS (
    SELECT patient_id, code, event_date, source FROM coded_event
    WHERE event_date <= CAST(:as_of AS DATE)
),
cms_condition AS (
    SELECT r.patient_id, w.condition, w.weight
    FROM mm_register r JOIN cms_weight w ON w.register = r.register
    WHERE w.diagnosed_since IS NULL OR r.latest_recorded > w.diagnosed_since
    UNION
    SELECT e.patient_id, c.condition, c.weight
    FROM event_to_date e JOIN cms_code c ON c.code = e.code
    UNION
    SELECT patient_id, condition, weight FROM (
        SELECT e.patient_id, c.condition, c.weight, c.min_prescriptions, count(*) AS issues
        FROM event_to_date e JOIN cms_medicine c ON c.code = e.code
        WHERE e.source = 'medication' AND e.event_date > c.window_start
        GROUP BY e.patient_id, c.condition, c.weight, c.min_prescriptions
    ) issued
    WHERE issues >= min_prescriptions
),
cms AS (
    SELECT patient_id, sum(weight) AS cms_score FROM cms_condition GROUP BY patient_id
),
register_deficit AS (
    SELECT r.patient_id, d.deficit
    FROM mm_register r JOIN efi_deficit_register d ON d.register = r.register
    UNION
    SELECT e.patient_id, d.deficit
    FROM event_to_date e JOIN efi_deficit_code d ON d.code = e.code
),
polypharmacy AS (
    SELECT patient_id, '{POLYPHARMACY}' AS deficit
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
            THEN round(coalesce(d.efi_deficits, 0) / {efi.deficits_total}, 4) END
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
    engine: Engine,
    rules: MultimorbidityRules,
    as_of: dt.date,
    registers: str,
    codelists: Mapping[str, Codelist] | None = None,
) -> Query:
    """Scores for every living person, from the register relation named `registers`."""
    from houseofcare.terminology.codelist import packaged_codelists

    codelists = packaged_codelists() if codelists is None else codelists
    for name, table in score_tables(rules, codelists, as_of).items():
        engine.register(name, table)
    engine.view("mm_register", f"SELECT * FROM {registers}")
    return Query(engine, multimorbidity_sql(rules, as_of))
