"""Admission-risk features at an index date D, from the record strictly before D, as one query.

What a case manager would look at before deciding who to see: age, sex, deprivation and
ethnic group; the disease registers, LTC count, Cambridge Multimorbidity Score and frailty (the
existing population rules, evaluated on the day before D) and coded frailty findings at any age;
use of care — emergency and elective admissions, A&E, outpatient and GP contacts in the last 3,
6, 12, 24 and 36 months, emergency bed days and days since the last emergency admission;
prescribing (distinct medicines, polypharmacy); and the latest HbA1c, systolic BP and eGFR.

D is the *start* of the index day (00:00). A feature may only use what was recorded before that
instant; the label, "one or more emergency admissions in the 12 months after D", counts
admissions starting in [D, D + 12 months). Nothing here loops over people: the registers and
scores are the population module's set-based queries, and everything else is one SQL query of
joins and filtered aggregates (portable SQL; `arg_max` style functions are avoided).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.csv as pacsv
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from houseofcare.datafiles import read_toml, validation_problems
from houseofcare.engine import Engine, Query
from houseofcare.population.events import CODED_EVENT_SQL, READING_SQL
from houseofcare.population.multimorbidity import (
    MultimorbidityRules,
    compute_multimorbidity,
    packaged_multimorbidity_rules,
)
from houseofcare.population.registers import AGE_SQL, _months_before, compute_registers
from houseofcare.population.rules import RegisterRule, packaged_register_rules
from houseofcare.terminology.codelist import Codelist, packaged_codelists
from houseofcare.terminology.units import unmeasured

FEATURES_FILE = Path(str(files("houseofcare.risk") / "features.toml"))
LSOA_FILE = files("houseofcare.reference") / "lsoa_imd2019.csv"

#: Ethnic groups in the order of their integer codes (the model treats them as categories).
ETHNIC_GROUPS: Final = ("white", "mixed", "asian", "black", "other", "not_stated")
FRAILTY_LEVELS: Final = {"fit": 0, "mild": 1, "moderate": 2, "severe": 3}
#: Reporting age bands (lower bound, label): children, working age, and the older bands where
#: most admissions are.
AGE_BANDS: Final = (
    (0, "0-17"),
    (18, "18-44"),
    (45, "45-64"),
    (65, "65-74"),
    (75, "75-84"),
    (85, "85+"),
)
#: Columns that describe the person for reporting and linking; never model inputs.
PERSON_COLUMNS: Final = (
    "patient_id",
    "practice_id",
    "sex",
    "age_band",
    "imd_quintile",
    "ethnic_group_name",
)


class FeatureError(ValueError):
    """The features file is malformed; the message names the file and the key."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EncounterKind(_Frozen):
    """Which encounters are, say, emergency admissions: a class and optional priority/type codes."""

    kind: str = Field(pattern=r"^[a-z][a-z_]{1,40}$")
    class_code: str = Field(min_length=1)
    priority_codes: tuple[str, ...] = ()
    type_codes: tuple[str, ...] = ()


class Measure(_Frozen):
    """A latest reading used as a feature, e.g. the last HbA1c."""

    feature: str = Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")
    codelists: tuple[str, ...] = Field(min_length=1)


class FeatureSpec(_Frozen):
    """The features file: windows, encounter kinds, measures, ethnic groups."""

    lookback_months: int = Field(ge=1, le=120)
    windows_months: tuple[int, ...] = Field(min_length=1)
    readings_within_months: int = Field(ge=1, le=120)
    medicines_within_months: int = Field(ge=1, le=120)
    polypharmacy_min_medicines: int = Field(ge=2)
    encounter_kind: tuple[EncounterKind, ...] = Field(min_length=1)
    measure: tuple[Measure, ...] = ()
    ethnic_groups: dict[str, tuple[str, ...]]

    @model_validator(mode="after")
    def _consistent(self) -> FeatureSpec:
        if any(m < 1 or m > self.lookback_months for m in self.windows_months):
            raise ValueError(
                f"windows_months must lie within 1..lookback_months ({self.lookback_months})"
            )
        if self.medicines_within_months > self.lookback_months:
            raise ValueError("medicines_within_months is longer than lookback_months")
        if self.readings_within_months > self.lookback_months:
            raise ValueError("readings_within_months is longer than lookback_months")
        kinds = [k.kind for k in self.encounter_kind]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"encounter_kind: a kind is named twice in {kinds}")
        if "emergency_admission" not in kinds:
            raise ValueError("encounter_kind: 'emergency_admission' is required (it is the label)")
        for i, a in enumerate(self.encounter_kind):
            for b in self.encounter_kind[i + 1 :]:
                if _overlap(a, b):
                    raise ValueError(
                        f"encounter_kind: {a.kind} and {b.kind} can match the same "
                        "encounter; give them distinct priority or type codes"
                    )
        unknown = set(self.ethnic_groups) - set(ETHNIC_GROUPS)
        if unknown:
            raise ValueError(
                f"ethnic_groups: unknown group(s) {sorted(unknown)}; use {list(ETHNIC_GROUPS[:-1])}"
            )
        return self


def _overlap(a: EncounterKind, b: EncounterKind) -> bool:
    """Whether one encounter could match both kinds (an empty list matches anything)."""
    if a.class_code != b.class_code:
        return False

    def meets(x: tuple[str, ...], y: tuple[str, ...]) -> bool:
        return not x or not y or bool(set(x) & set(y))

    return meets(a.priority_codes, b.priority_codes) and meets(a.type_codes, b.type_codes)


def load_feature_spec(
    path: Path = FEATURES_FILE, codelists: Mapping[str, Codelist] | None = None
) -> FeatureSpec:
    """The features file, validated; errors name the file and the key."""
    raw = read_toml(path, FeatureError, "features file not found")
    try:
        spec = FeatureSpec.model_validate(raw)
    except ValidationError as exc:
        raise FeatureError(f"{path}: {validation_problems(exc)}") from None
    known = packaged_codelists() if codelists is None else codelists
    for measure in spec.measure:
        missing = [name for name in measure.codelists if name not in known]
        if missing:
            raise FeatureError(f"{path}: measure.{measure.feature}: unknown codelist(s) {missing}")
        no_unit = unmeasured(measure.codelists)
        if no_unit:
            raise FeatureError(
                f"{path}: measure.{measure.feature}: {', '.join(no_unit)} has no canonical unit "
                "in terminology/units.toml"
            )
    return spec


@cache
def packaged_feature_spec() -> FeatureSpec:
    return load_feature_spec()


@cache
def lsoa_deprivation() -> pa.Table:
    """LSOA code -> IMD 2019 decile (1 = most deprived), from the packaged lookup."""
    table = pacsv.read_csv(
        Path(str(LSOA_FILE)),
        convert_options=pacsv.ConvertOptions(include_columns=["LSOA_CODE", "IMD_OVERALL"]),
    )
    return pa.table(
        {
            "lsoa_code": table["LSOA_CODE"].cast(pa.string()),
            "imd_decile": table["IMD_OVERALL"].cast(pa.int64()),
        }
    )


def _register_column(register: str) -> str:
    return f"register_{register.lower()}"


def model_features(spec: FeatureSpec, registers: Sequence[str]) -> list[str]:
    """The model's input columns, in order (the order is part of a trained model's contract)."""
    names = ["age", "female", "imd_decile", "ethnic_group"]
    names += [_register_column(r) for r in registers]
    names += ["ltc_count", "cms_score", "efi_deficits", "frailty_level", "frailty_findings"]
    for kind in spec.encounter_kind:
        names += [f"{kind.kind}_{m}m" for m in spec.windows_months]
    names += ["emergency_bed_days_12m", "days_since_emergency_admission"]
    names += ["medicines_12m", "polypharmacy"]
    names += [m.feature for m in spec.measure]
    return names


#: Features the model treats as unordered categories.
CATEGORICAL_FEATURES: Final = ("ethnic_group",)


def _parameter_tables(
    spec: FeatureSpec,
    codelists: Mapping[str, Codelist],
    multimorbidity: MultimorbidityRules | None = None,
) -> dict[str, pa.Table]:
    kinds: dict[str, list[str | None]] = {
        "kind": [],
        "class_code": [],
        "priority_code": [],
        "type_code": [],
    }
    for k in spec.encounter_kind:
        for priority in k.priority_codes or (None,):
            for type_code in k.type_codes or (None,):
                kinds["kind"].append(k.kind)
                kinds["class_code"].append(k.class_code)
                kinds["priority_code"].append(priority)
                kinds["type_code"].append(type_code)
    measure_rows = sorted(
        {
            (m.feature, code)
            for m in spec.measure
            for name in m.codelists
            for code in codelists[name].codes
        }
    )
    efi = (multimorbidity or packaged_multimorbidity_rules()).efi
    finding_rows = sorted(
        {
            (deficit, code)
            for deficit, names in efi.deficits_from_codelists.items()
            for name in names
            for code in codelists[name].codes
        }
    )
    ethnic_rows = sorted(
        (letter, ETHNIC_GROUPS.index(group))
        for group, letters in spec.ethnic_groups.items()
        for letter in letters
    )
    string = pa.string()
    return {
        "risk_encounter_kind": pa.table({k: pa.array(v, string) for k, v in kinds.items()}),
        "risk_measure_code": pa.table(
            {
                "feature": pa.array([f for f, _ in measure_rows], string),
                "code": pa.array([c for _, c in measure_rows], string),
            }
        ),
        "risk_frailty_finding_code": pa.table(
            {
                "deficit": pa.array([d for d, _ in finding_rows], string),
                "code": pa.array([c for _, c in finding_rows], string),
            }
        ),
        "risk_ethnic_group": pa.table(
            {
                "ethnic_category": pa.array([e for e, _ in ethnic_rows], string),
                "ethnic_code": pa.array([g for _, g in ethnic_rows], pa.int64()),
            }
        ),
        "risk_lsoa_imd": lsoa_deprivation(),
    }


def encounter_kinds_table(spec: FeatureSpec) -> pa.Table:
    """The encounter kinds as the parameter table `risk_encounter_kind` (NULL = any code)."""
    return _parameter_tables(spec, packaged_codelists())["risk_encounter_kind"]


#: A day in microseconds, the unit time spans are counted in (`date_diff('microsecond', …)`
#: means the same on both engines; engine_dialect.toml, `epoch`).
MICROSECONDS_PER_DAY: Final = 86_400_000_000


def _ts(day: dt.date) -> str:
    return f"TIMESTAMP '{day.isoformat()} 00:00:00'"


def _years_after(day: dt.date, years: int) -> dt.date:
    return _months_before(day, -12 * years)


def feature_sql(
    spec: FeatureSpec,
    registers: Sequence[str],
    index_date: dt.date,
    *,
    register_table: str,
    scores_table: str,
    with_label: bool,
) -> str:
    """The one query: a row per person alive at the start of `index_date`.

    `register_table` and `scores_table` hold the registers and multimorbidity scores on the
    day before the index date (see `compute_features`).
    """
    d = index_date
    start = _months_before(d, spec.lookback_months)
    readings_from = _months_before(d, spec.readings_within_months)
    year_ago = _months_before(d, 12)
    medicines_from = _months_before(d, spec.medicines_within_months)
    counts = []
    for kind in spec.encounter_kind:
        for months in spec.windows_months:
            since = _months_before(d, months)
            counts.append(
                f"count(*) FILTER (WHERE kind = '{kind.kind}' AND period_start >= {_ts(since)})"
                f" AS {kind.kind}_{months}m"
            )
    count_aggregates = ",\n           ".join(counts)
    not_stated = ETHNIC_GROUPS.index("not_stated")
    ethnic_names = " ".join(f"WHEN {i} THEN '{g}'" for i, g in enumerate(ETHNIC_GROUPS))
    register_flags = ",\n           ".join(
        f"max(CASE WHEN register = '{r}' THEN 1 ELSE 0 END) AS {_register_column(r)}"
        for r in registers
    )
    register_columns = ",\n       ".join(
        f"coalesce(rg.{_register_column(r)}, 0) AS {_register_column(r)}" for r in registers
    )
    count_columns = ",\n       ".join(
        f"coalesce(u.{k.kind}_{m}m, 0) AS {k.kind}_{m}m"
        for k in spec.encounter_kind
        for m in spec.windows_months
    )
    measure_columns = "".join(f",\n       ms.{m.feature} AS {m.feature}" for m in spec.measure)
    measure_pivot = (
        ",\n           ".join(
            f"max(value_number) FILTER (WHERE feature = '{m.feature}') AS {m.feature}"
            for m in spec.measure
        )
        or "NULL AS no_measure"
    )
    age = AGE_SQL.format(b="p.birth_date").replace(":as_of", f"'{d.isoformat()}'")
    bands = " ".join(f"WHEN c.age >= {low} THEN '{label}'" for low, label in reversed(AGE_BANDS))
    frailty = " ".join(f"WHEN '{name}' THEN {level}" for name, level in FRAILTY_LEVELS.items())
    label_cte = label_column = label_join = ""
    if with_label:
        label_end = _years_after(d, 1)
        label_cte = f""",
future_admission AS (
    SELECT e.patient_id, count(*) AS admissions
    FROM encounter e
    JOIN risk_encounter_kind k ON k.class_code = e.class_code
     AND (k.priority_code IS NULL OR k.priority_code = e.priority_code)
     AND (k.type_code IS NULL OR k.type_code = e.type_code)
    WHERE k.kind = 'emergency_admission'
      AND e.period_start >= {_ts(d)} AND e.period_start < {_ts(label_end)}
      AND coalesce(e.status, '') NOT IN ('entered-in-error', 'cancelled')
    GROUP BY e.patient_id
)"""
        label_column = ",\n       CASE WHEN fa.admissions > 0 THEN 1 ELSE 0 END AS label"
        label_join = "\nLEFT JOIN future_admission fa ON fa.patient_id = c.patient_id"
    return f"""
WITH cohort AS (
    SELECT p.patient_id, p.practice_id, p.gender, p.ethnic_category, p.lsoa_code, {age} AS age
    FROM patient p
    WHERE p.birth_date < DATE '{d.isoformat()}'
      AND (p.death_date IS NULL OR p.death_date >= DATE '{d.isoformat()}')
),
past_encounter AS (
    SELECT e.patient_id, k.kind, e.period_start,
           least(coalesce(e.period_end, {_ts(d)}), {_ts(d)}) AS seen_end
    FROM encounter e
    JOIN risk_encounter_kind k ON k.class_code = e.class_code
     AND (k.priority_code IS NULL OR k.priority_code = e.priority_code)
     AND (k.type_code IS NULL OR k.type_code = e.type_code)
    WHERE e.period_start >= {_ts(start)} AND e.period_start < {_ts(d)}
      AND coalesce(e.status, '') NOT IN ('entered-in-error', 'cancelled')
),
utilisation AS (
    SELECT patient_id,
           {count_aggregates},
           -- whole microseconds summed, then divided once: exact and in any order, so both
           -- engines give the same days (epoch() is whole seconds on Spark; engine_dialect.toml)
           sum(CASE WHEN kind = 'emergency_admission' AND seen_end > {_ts(year_ago)}
                    THEN greatest(date_diff('microsecond',
                                            greatest(period_start, {_ts(year_ago)}), seen_end),
                                  0)
                    ELSE 0 END) / {MICROSECONDS_PER_DAY} AS emergency_bed_days_12m,
           max(period_start) FILTER (WHERE kind = 'emergency_admission') AS last_emergency
    FROM past_encounter
    GROUP BY patient_id
),
prescribing AS (
    SELECT patient_id, count(DISTINCT code) AS medicines_12m
    FROM medication
    WHERE authored_on >= DATE '{medicines_from.isoformat()}'
      AND authored_on < DATE '{d.isoformat()}'
      AND coalesce(status, '') <> 'entered-in-error'
    GROUP BY patient_id
),
reading AS (
    -- values in their canonical unit; a reading no rule may use is NULL (population/events.py)
    SELECT o.patient_id, mc.feature, o.event_date AS effective_date, o.value_number
    FROM ({READING_SQL}) o
    JOIN risk_measure_code mc ON mc.code = o.code
    WHERE o.event_date >= DATE '{readings_from.isoformat()}'
      AND o.event_date < DATE '{d.isoformat()}'
      AND o.value_number IS NOT NULL
),
latest_day AS (
    SELECT patient_id, feature, max(effective_date) AS effective_date
    FROM reading GROUP BY patient_id, feature
),
latest_reading AS (
    SELECT r.patient_id, r.feature, max(r.value_number) AS value_number
    FROM reading r
    JOIN latest_day l ON l.patient_id = r.patient_id AND l.feature = r.feature
     AND l.effective_date = r.effective_date
    GROUP BY r.patient_id, r.feature
),
measures AS (
    SELECT patient_id,
           {measure_pivot}
    FROM latest_reading GROUP BY patient_id
),
register_flags AS (
    SELECT patient_id,
           {register_flags}
    FROM {register_table}
    GROUP BY patient_id
),
frailty_finding AS (
    SELECT ev.patient_id, count(DISTINCT fc.deficit) AS frailty_findings
    FROM ({CODED_EVENT_SQL}) ev
    JOIN risk_frailty_finding_code fc ON fc.code = ev.code
    WHERE ev.event_date < DATE '{d.isoformat()}'
    GROUP BY ev.patient_id
){label_cte}
SELECT c.patient_id,
       c.practice_id,
       CASE c.gender WHEN 'female' THEN 'female' WHEN 'male' THEN 'male' ELSE 'other/unknown'
            END AS sex,
       CASE {bands} END AS age_band,
       CAST(ceil(imd.imd_decile / 2) AS BIGINT) AS imd_quintile,
       CASE coalesce(eg.ethnic_code, {not_stated}) {ethnic_names} END AS ethnic_group_name,
       CAST(c.age AS DOUBLE) AS age,
       CASE c.gender WHEN 'female' THEN 1 ELSE 0 END AS female,
       imd.imd_decile,
       coalesce(eg.ethnic_code, {not_stated}) AS ethnic_group,
       {register_columns},
       coalesce(sc.ltc_count, 0) AS ltc_count,
       coalesce(sc.cms_score, 0) AS cms_score,
       sc.efi_deficits,
       CASE sc.frailty_category {frailty} END AS frailty_level,
       coalesce(ff.frailty_findings, 0) AS frailty_findings,
       {count_columns},
       coalesce(u.emergency_bed_days_12m, 0) AS emergency_bed_days_12m,
       CAST(floor(date_diff('microsecond', u.last_emergency, {_ts(d)}) / {MICROSECONDS_PER_DAY})
            AS DOUBLE) AS days_since_emergency_admission,
       coalesce(rx.medicines_12m, 0) AS medicines_12m,
       CASE WHEN coalesce(rx.medicines_12m, 0) >= {spec.polypharmacy_min_medicines} THEN 1 ELSE 0
            END AS polypharmacy{measure_columns}{label_column}
FROM cohort c
LEFT JOIN risk_lsoa_imd imd ON imd.lsoa_code = c.lsoa_code
LEFT JOIN risk_ethnic_group eg ON eg.ethnic_category = c.ethnic_category
LEFT JOIN register_flags rg ON rg.patient_id = c.patient_id
LEFT JOIN {scores_table} sc ON sc.patient_id = c.patient_id
LEFT JOIN utilisation u ON u.patient_id = c.patient_id
LEFT JOIN prescribing rx ON rx.patient_id = c.patient_id
LEFT JOIN measures ms ON ms.patient_id = c.patient_id
LEFT JOIN frailty_finding ff ON ff.patient_id = c.patient_id{label_join}
"""


def compute_features(
    engine: Engine,
    index_date: dt.date,
    *,
    with_label: bool = False,
    spec: FeatureSpec | None = None,
    register_rules: Sequence[RegisterRule] | None = None,
    codelists: Mapping[str, Codelist] | None = None,
    day_before: tuple[str, str] | None = None,
) -> Query:
    """Features (and optionally the label) for every person alive at the start of `index_date`.

    Registers and scores are the population rules evaluated on the day before the index date,
    whose windows end on that day inclusive: so they, too, see only what was recorded before D.
    `day_before` names tables that already hold them (registers, then multimorbidity scores,
    on that day: a run's own, when it scores the day after its as-of date), so they are not
    computed a second time. The relation has `PERSON_COLUMNS`, then `model_features(...)`,
    then `label` if asked.
    """
    spec = spec or packaged_feature_spec()
    register_rules = register_rules or packaged_register_rules()
    codelists = codelists or packaged_codelists()
    if day_before is None:
        on = index_date - dt.timedelta(days=1)
        registers = compute_registers(engine, register_rules, codelists, on)
        engine.materialise("risk_register", registers.sql)
        scores = compute_multimorbidity(
            engine, packaged_multimorbidity_rules(), on, "risk_register", codelists
        )
        engine.materialise("risk_scores", scores.sql)
        day_before = ("risk_register", "risk_scores")
    for name, table in _parameter_tables(spec, codelists).items():
        engine.register(name, table)
    sql = feature_sql(
        spec,
        [r.id for r in register_rules],
        index_date,
        register_table=day_before[0],
        scores_table=day_before[1],
        with_label=with_label,
    )
    return Query(engine, sql)


def features_digest() -> str:
    """A digest of the features file and this module, recorded with every trained model."""
    digest = hashlib.sha256(FEATURES_FILE.read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]
