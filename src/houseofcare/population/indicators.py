"""Care-gap indicators: the rules in `rules/indicators.toml`, compiled to one set-based query.

Each indicator is modelled on a published QOF indicator (NHS England, QOF 2023-24 business
rules): a denominator (a register, age limits at the as-of date, a minimum time on the register,
extra coded evidence, an optional risk score such as CHA2DS2-VASc), a numerator (the latest
value of a test against a threshold, the latest paired blood pressure, or any event of a
codelist) looked for in a window of months before the as-of date, and personalised care
adjustment (PCA) exclusions recorded in the same window.

Per person and indicator the outcome is 'met', 'not met' or 'excluded' with the reading or
medicine that decided it and, for an open gap, the date the person became overdue, so recall
lists sort most overdue first. Semantics (docs/indicators.md):

- the window is (as_of - window_months, as_of]: a reading exactly window_months old is out;
- the latest reading in the window decides; readings on the same date: blood pressure takes the
  lowest systolic and the lowest diastolic of that date (QOF), any other value counts against
  the person if any reading that date fails (never a false 'met');
- met beats excluded: an exclusion only removes someone who did not meet the numerator.

The rules become small parameter tables (dates relative to as_of are computed here in Python);
one query of joins, filtered aggregates and window functions does the rest, so it runs on
DuckDB and on Spark (`houseofcare.engine`).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from houseofcare.commissioning.measures import UNCONTROLLED, measure_sql
from houseofcare.datafiles import read_toml, validation_problems
from houseofcare.engine import Engine, Query, sql_literal
from houseofcare.people_scope import PeopleScope
from houseofcare.population.events import CODED_EVENT_SQL
from houseofcare.population.registers import AGE_SQL, _months_before
from houseofcare.population.rules import RULES_DIR, EventSource, RuleError, packaged_register_rules
from houseofcare.terminology.codelist import Codelist, packaged_codelists
from houseofcare.terminology.units import unmeasured
from houseofcare.tiers.proportionate import ProportionatePolicy

ALL_SOURCES: tuple[EventSource, ...] = ("condition", "medication", "procedure", "observation")

#: Outcomes, in the words a practice uses.
MET, NOT_MET, EXCLUDED = "met", "not met", "excluded"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CodedEvidence(_Frozen):
    """Coded evidence in the record, ever or within the last `within_months` of the as-of date."""

    codelists: tuple[str, ...] = Field(min_length=1)
    sources: tuple[EventSource, ...] = ALL_SOURCES
    within_months: int | None = Field(default=None, ge=1, le=600)


class RegisterPoints(_Frozen):
    """Points if the person is on any of `registers` (counted once however many)."""

    registers: tuple[str, ...] = Field(min_length=1)
    points: int = Field(ge=1, le=10)


class AgePoints(_Frozen):
    """Points for an age band at the as-of date (inclusive limits)."""

    min_age: int = Field(ge=0, le=130)
    max_age: int | None = Field(default=None, ge=0, le=130)
    points: int = Field(ge=1, le=10)


class SexPoints(_Frozen):
    gender: Literal["female", "male"]
    points: int = Field(ge=1, le=10)


class Score(_Frozen):
    """A points score built from registers, age and sex (e.g. CHA2DS2-VASc)."""

    id: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,23}$")
    name: str
    citation: str
    register_points: tuple[RegisterPoints, ...] = ()
    age_points: tuple[AgePoints, ...] = ()
    sex_points: tuple[SexPoints, ...] = ()


class Denominator(_Frozen):
    """Who the indicator is about."""

    #: the register id (`register` in the rule file; renamed here as pydantic reserves it)
    register_id: str = Field(alias="register")
    min_age: int | None = Field(default=None, ge=0, le=130)
    max_age: int | None = Field(default=None, ge=0, le=130)
    #: QOF leaves out people first diagnosed in the last few months (time to act).
    min_months_on_register: int = Field(default=0, ge=0, le=120)
    #: issue 13: only people first diagnosed at most this long ago (newly diagnosed: NICE and
    #: QOF expect structured education to be offered within months of diagnosis).
    max_months_on_register: int | None = Field(default=None, ge=1, le=600)
    requires: tuple[CodedEvidence, ...] = ()
    unless: tuple[CodedEvidence, ...] = ()
    score: str | None = None
    min_score: int | None = Field(default=None, ge=0, le=30)

    @model_validator(mode="after")
    def _consistent(self) -> Denominator:
        if self.min_age is not None and self.max_age is not None and self.max_age < self.min_age:
            raise ValueError(f"max_age {self.max_age} is below min_age {self.min_age}")
        if (self.score is None) != (self.min_score is None):
            raise ValueError("score and min_score go together")
        if (
            self.max_months_on_register is not None
            and self.max_months_on_register <= self.min_months_on_register
        ):
            raise ValueError("max_months_on_register must be above min_months_on_register")
        return self


class Numerator(_Frozen):
    """What meets the indicator, looked for in the indicator's window.

    - ``latest_value``: the latest reading of `codelists` compares to `max_value`/`min_value`;
    - ``latest_bp``: the latest date with both a systolic and a diastolic reading;
    - ``any_event``: any event of `codelists` (a review, a test, a medicine issue).
    """

    kind: Literal["latest_value", "latest_bp", "any_event"]
    codelists: tuple[str, ...] = ()
    sources: tuple[EventSource, ...] | None = None
    max_value: float | None = None
    min_value: float | None = None
    systolic: tuple[str, ...] = ()
    diastolic: tuple[str, ...] = ()
    max_systolic: float | None = Field(default=None, gt=0)
    max_diastolic: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _fits_kind(self) -> Numerator:
        if self.kind == "latest_bp":
            if not (self.systolic and self.diastolic):
                raise ValueError("latest_bp needs systolic and diastolic codelists")
            if self.max_systolic is None or self.max_diastolic is None:
                raise ValueError("latest_bp needs max_systolic and max_diastolic")
            if self.codelists or self.max_value is not None or self.min_value is not None:
                raise ValueError("latest_bp takes no codelists, max_value or min_value")
        else:
            if not self.codelists:
                raise ValueError(f"{self.kind} needs codelists")
            if self.systolic or self.diastolic or self.max_systolic or self.max_diastolic:
                raise ValueError(f"{self.kind} takes no systolic/diastolic fields")
        if self.kind == "latest_value" and self.max_value is None and self.min_value is None:
            raise ValueError("latest_value needs max_value or min_value (use any_event otherwise)")
        if self.kind == "any_event" and (self.max_value is not None or self.min_value is not None):
            raise ValueError("any_event takes no threshold")
        return self

    @property
    def event_sources(self) -> tuple[EventSource, ...]:
        if self.sources is not None:
            return self.sources
        return ("observation",) if self.kind != "any_event" else ALL_SOURCES

    def codelist_names(self) -> set[str]:
        return set(self.codelists) | set(self.systolic) | set(self.diastolic)


class Indicator(_Frozen):
    """One care-gap indicator."""

    id: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,23}$")
    name: str
    qof_indicator: str
    condition: str
    source: str
    window_months: int = Field(ge=1, le=120)
    denominator: Denominator
    numerator: Numerator
    exclusions: tuple[str, ...] = ()

    def codelist_names(self) -> set[str]:
        names = self.numerator.codelist_names() | set(self.exclusions)
        for evidence in self.denominator.requires + self.denominator.unless:
            names |= set(evidence.codelists)
        return names


class IndicatorRules(_Frozen):
    scores: tuple[Score, ...]
    indicators: tuple[Indicator, ...]


def load_indicator_rules(
    path: Path = RULES_DIR / "indicators.toml",
    codelists: Mapping[str, Codelist] | None = None,
    registers: set[str] | None = None,
) -> IndicatorRules:
    """Every score and indicator in `path`, checked against the codelists and registers named."""
    known_lists = codelists if codelists is not None else packaged_codelists()
    known_registers = (
        registers if registers is not None else {r.id for r in packaged_register_rules()}
    )
    document = read_toml(path, RuleError, "rule file not found")

    scores: list[Score] = []
    for position, raw in enumerate(document.get("score", []), start=1):
        label = raw.get("id", f"#{position}") if isinstance(raw, dict) else f"#{position}"
        try:
            score = Score.model_validate(raw)
        except ValidationError as exc:
            raise RuleError(f"{path}: score {label}: {validation_problems(exc)}") from None
        for number, group in enumerate(score.register_points):
            unknown = sorted(set(group.registers) - known_registers)
            if unknown:
                raise RuleError(
                    f"{path}: score {label}: register_points.{number}.registers: "
                    f"unknown register(s) {', '.join(unknown)}"
                )
        if any(s.id == score.id for s in scores):
            raise RuleError(f"{path}: score {label}: id is declared twice")
        scores.append(score)

    indicators: list[Indicator] = []
    for position, raw in enumerate(document.get("indicator", []), start=1):
        label = raw.get("id", f"#{position}") if isinstance(raw, dict) else f"#{position}"
        try:
            indicator = Indicator.model_validate(raw)
        except ValidationError as exc:
            raise RuleError(f"{path}: indicator {label}: {validation_problems(exc)}") from None
        if indicator.denominator.register_id not in known_registers:
            raise RuleError(
                f"{path}: indicator {label}: denominator.register: unknown register "
                f"{indicator.denominator.register_id}"
            )
        score_id = indicator.denominator.score
        if score_id is not None and all(s.id != score_id for s in scores):
            raise RuleError(
                f"{path}: indicator {label}: denominator.score: unknown score {score_id}"
            )
        unknown = sorted(indicator.codelist_names() - known_lists.keys())
        if unknown:
            raise RuleError(f"{path}: indicator {label}: unknown codelist(s) {', '.join(unknown)}")
        numerator = indicator.numerator
        compared = () if numerator.kind == "any_event" else numerator.codelist_names()
        no_unit = unmeasured(compared)
        if no_unit:
            raise RuleError(
                f"{path}: indicator {label}: numerator compares values of "
                f"{', '.join(no_unit)}, which has no canonical unit in terminology/units.toml"
            )
        if any(i.id == indicator.id for i in indicators):
            raise RuleError(f"{path}: indicator {label}: id is declared twice")
        indicators.append(indicator)
    if not indicators:
        raise RuleError(f"{path}: no [[indicator]] rules")
    return IndicatorRules(scores=tuple(scores), indicators=tuple(indicators))


@cache
def packaged_indicator_rules() -> IndicatorRules:
    """The indicators shipped in the package."""
    return load_indicator_rules()


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema(list(fields))


def indicator_tables(
    rules: IndicatorRules, codelists: Mapping[str, Codelist], as_of: dt.date
) -> dict[str, pa.Table]:
    """The indicators as parameter tables for one run date."""
    codes: set[tuple[str, str, int, str, str]] = set()

    def add(indicator: str, role: str, part: int, sources: Sequence[str], names: Sequence[str]):
        for name in names:
            for code in codelists[name].codes:
                for source in sources:
                    codes.add((indicator, role, part, source, code))

    evidence: list[tuple[str, str, int, dt.date | None]] = []
    rows: list[dict[str, object]] = []
    for ind in rules.indicators:
        den, num = ind.denominator, ind.numerator
        if num.kind == "latest_bp":
            add(ind.id, "systolic", 0, num.event_sources, num.systolic)
            add(ind.id, "diastolic", 0, num.event_sources, num.diastolic)
        else:
            add(ind.id, "numerator", 0, num.event_sources, num.codelists)
        add(ind.id, "exclusion", 0, ALL_SOURCES, ind.exclusions)
        for role, items in (("requires", den.requires), ("unless", den.unless)):
            for part, item in enumerate(items, start=1):
                add(ind.id, role, part, item.sources, item.codelists)
                start = _months_before(as_of, item.within_months) if item.within_months else None
                evidence.append((ind.id, role, part, start))
        rows.append(
            {
                "indicator": ind.id,
                "register": den.register_id,
                "min_age": den.min_age,
                "max_age": den.max_age,
                "min_months": den.min_months_on_register,
                "registered_by": _months_before(as_of, den.min_months_on_register),
                "registered_after": None
                if den.max_months_on_register is None
                else _months_before(as_of, den.max_months_on_register),
                "requirements": len(den.requires),
                "score": den.score,
                "min_score": den.min_score,
                "kind": num.kind,
                "window_months": ind.window_months,
                "window_start": _months_before(as_of, ind.window_months),
                "max_value": num.max_value,
                "min_value": num.min_value,
                "max_systolic": num.max_systolic,
                "max_diastolic": num.max_diastolic,
            }
        )
    points: list[tuple[str, str, int, str | None, int | None, int | None, str | None, int]] = []
    for score in rules.scores:
        for group, item in enumerate(score.register_points):
            for register in item.registers:
                points.append(
                    (score.id, "register", group, register, None, None, None, item.points)
                )
        for group, band in enumerate(score.age_points, start=len(score.register_points)):
            points.append(
                (score.id, "age", group, None, band.min_age, band.max_age, None, band.points)
            )
        first_sex = len(score.register_points) + len(score.age_points)
        for group, sex in enumerate(score.sex_points, start=first_sex):
            points.append((score.id, "sex", group, None, None, None, sex.gender, sex.points))

    indicator_schema = _schema(
        ("indicator", pa.string()),
        ("register", pa.string()),
        ("min_age", pa.int64()),
        ("max_age", pa.int64()),
        ("min_months", pa.int64()),
        ("registered_by", pa.date32()),
        ("registered_after", pa.date32()),
        ("requirements", pa.int64()),
        ("score", pa.string()),
        ("min_score", pa.int64()),
        ("kind", pa.string()),
        ("window_months", pa.int64()),
        ("window_start", pa.date32()),
        ("max_value", pa.float64()),
        ("min_value", pa.float64()),
        ("max_systolic", pa.float64()),
        ("max_diastolic", pa.float64()),
    )
    code_names = ("indicator", "role", "part", "source", "code")
    code_schema = _schema(
        ("indicator", pa.string()),
        ("role", pa.string()),
        ("part", pa.int64()),
        ("source", pa.string()),
        ("code", pa.string()),
    )
    evidence_names = ("indicator", "role", "part", "window_start")
    evidence_schema = _schema(
        ("indicator", pa.string()),
        ("role", pa.string()),
        ("part", pa.int64()),
        ("window_start", pa.date32()),
    )
    point_names = ("score", "kind", "grp", "register", "min_age", "max_age", "gender", "points")
    point_schema = _schema(
        ("score", pa.string()),
        ("kind", pa.string()),
        ("grp", pa.int64()),
        ("register", pa.string()),
        ("min_age", pa.int64()),
        ("max_age", pa.int64()),
        ("gender", pa.string()),
        ("points", pa.int64()),
    )

    def columns(names: Sequence[str], tuples: Sequence[tuple]) -> dict[str, list]:
        return {name: [t[i] for t in tuples] for i, name in enumerate(names)}

    return {
        "ind_rule": pa.Table.from_pylist(rows, schema=indicator_schema),
        "ind_code": pa.table(columns(code_names, sorted(codes)), schema=code_schema),
        "ind_evidence": pa.table(columns(evidence_names, evidence), schema=evidence_schema),
        "ind_score_point": pa.table(columns(point_names, points), schema=point_schema),
    }


def _plus_months_sql(date_sql: str, months_sql: str, month_counts: Sequence[int]) -> str:
    """`date + n months` for the few n the rules use, as portable interval arithmetic."""
    arms = " ".join(
        f"WHEN {n} THEN CAST({date_sql} + INTERVAL {n} MONTH AS DATE)"
        for n in sorted(set(month_counts))
        if n > 0
    )
    return f"CASE {months_sql} WHEN 0 THEN {date_sql} {arms} END"


def indicator_sql(rules: IndicatorRules, registers: str) -> str:
    """The one query: every person in every denominator, with outcome and evidence."""
    age = AGE_SQL.format(b="p.birth_date")
    windows = [i.window_months for i in rules.indicators]
    on_register = [i.denominator.min_months_on_register for i in rules.indicators]
    lapsed = _plus_months_sql("r_before.event_date", "d.window_months", windows)
    first_eligible = _plus_months_sql("d.first_recorded", "d.min_months", on_register)
    return f"""
WITH coded_event AS ({CODED_EVENT_SQL}),
eligible AS (
    -- who each indicator can be about: every later step joins its rows to the denominator,
    -- which is people on the indicator's register, so events of anyone else are dropped here
    -- (at a million people, 40M medicine and reading rows would otherwise be kept and spilled)
    SELECT DISTINCT r.patient_id, i.indicator
    FROM {registers} r JOIN ind_rule i ON i.register = r.register
),
ev AS (
    SELECT e.patient_id, ic.indicator, ic.role, ic.part, e.code, e.event_date, e.value_number
    FROM coded_event e
    JOIN ind_code ic ON ic.code = e.code AND ic.source = e.source
    WHERE e.event_date <= CAST(:as_of AS DATE)
      AND EXISTS (
          SELECT 1 FROM eligible el
          WHERE el.patient_id = e.patient_id AND el.indicator = ic.indicator)
),
person AS (
    SELECT patient_id, gender, {age} AS age
    FROM patient p
    WHERE p.birth_date <= CAST(:as_of AS DATE)
),
score_part AS (
    SELECT r.patient_id, sp.score, sp.grp, max(sp.points) AS points
    FROM {registers} r JOIN ind_score_point sp ON sp.kind = 'register' AND sp.register = r.register
    GROUP BY r.patient_id, sp.score, sp.grp
    UNION ALL
    SELECT pe.patient_id, sp.score, sp.grp, sp.points
    FROM person pe JOIN ind_score_point sp
      ON (sp.kind = 'age' AND pe.age >= sp.min_age
          AND (sp.max_age IS NULL OR pe.age <= sp.max_age))
      OR (sp.kind = 'sex' AND pe.gender = sp.gender)
),
score_total AS (
    SELECT patient_id, score, sum(points) AS total FROM score_part GROUP BY patient_id, score
),
evidence AS (
    SELECT v.patient_id, v.indicator,
           count(DISTINCT v.part) FILTER (WHERE v.role = 'requires') AS requires_met,
           count(DISTINCT v.part) FILTER (WHERE v.role = 'unless') AS unless_met
    FROM ev v
    JOIN ind_evidence ie ON ie.indicator = v.indicator AND ie.role = v.role AND ie.part = v.part
    WHERE ie.window_start IS NULL OR v.event_date > ie.window_start
    GROUP BY v.patient_id, v.indicator
),
denominator AS (
    SELECT r.patient_id, i.indicator, r.first_recorded, i.window_start, i.window_months,
           i.min_months
    FROM {registers} r
    JOIN ind_rule i ON i.register = r.register
    JOIN person pe ON pe.patient_id = r.patient_id
    LEFT JOIN evidence x ON x.patient_id = r.patient_id AND x.indicator = i.indicator
    LEFT JOIN score_total st ON st.patient_id = r.patient_id AND st.score = i.score
    WHERE (i.min_age IS NULL OR pe.age >= i.min_age)
      AND (i.max_age IS NULL OR pe.age <= i.max_age)
      AND r.first_recorded <= i.registered_by
      AND (i.registered_after IS NULL OR r.first_recorded > i.registered_after)
      AND coalesce(x.requires_met, 0) = i.requirements
      AND coalesce(x.unless_met, 0) = 0
      AND (i.score IS NULL OR coalesce(st.total, 0) >= i.min_score)
),
bp_day AS (
    -- QOF: on the latest date, the lowest systolic and the lowest diastolic of that date
    SELECT patient_id, indicator, event_date,
           min(value_number) FILTER (WHERE role = 'systolic') AS systolic,
           min(value_number) FILTER (WHERE role = 'diastolic') AS diastolic,
           min(code) FILTER (WHERE role = 'systolic') AS code
    FROM ev
    WHERE role IN ('systolic', 'diastolic') AND value_number IS NOT NULL
    GROUP BY patient_id, indicator, event_date
),
reading AS (
    SELECT v.patient_id, v.indicator, v.event_date, v.code,
           -- a converted value (HbA1c from %) is shown to two places, compared unrounded
           CAST(round(v.value_number, 2) AS VARCHAR) AS value,
           CASE WHEN (i.max_value IS NULL OR v.value_number <= i.max_value)
                 AND (i.min_value IS NULL OR v.value_number >= i.min_value)
                THEN 1 ELSE 0 END AS passes,
           v.event_date > i.window_start AS in_window
    FROM ev v JOIN ind_rule i ON i.indicator = v.indicator
    WHERE v.role = 'numerator' AND (i.kind = 'any_event' OR v.value_number IS NOT NULL)
    UNION ALL
    SELECT b.patient_id, b.indicator, b.event_date, b.code,
           CAST(round(b.systolic, 2) AS VARCHAR) || '/' || CAST(round(b.diastolic, 2) AS VARCHAR),
           CASE WHEN b.systolic <= i.max_systolic AND b.diastolic <= i.max_diastolic
                THEN 1 ELSE 0 END,
           b.event_date > i.window_start
    FROM bp_day b JOIN ind_rule i ON i.indicator = b.indicator
    WHERE b.systolic IS NOT NULL AND b.diastolic IS NOT NULL
),
ranked AS (
    SELECT r.*,
           row_number() OVER (
               PARTITION BY patient_id, indicator, in_window
               -- the latest date decides; a failing reading that date counts against the person
               ORDER BY event_date DESC, passes ASC, code
           ) AS rn
    FROM reading r
),
exclusion AS (
    SELECT v.patient_id, v.indicator, v.code, v.event_date,
           row_number() OVER (
               PARTITION BY v.patient_id, v.indicator ORDER BY v.event_date DESC, v.code
           ) AS rn
    FROM ev v JOIN ind_rule i ON i.indicator = v.indicator
    WHERE v.role = 'exclusion' AND v.event_date > i.window_start
),
decided AS (
    SELECT d.patient_id, d.indicator,
           CASE WHEN r_in.passes = 1 THEN '{MET}'
                WHEN x.patient_id IS NOT NULL THEN '{EXCLUDED}'
                ELSE '{NOT_MET}' END AS outcome,
           r_in.code AS in_code, r_in.event_date AS in_date, r_in.value AS in_value,
           r_before.code AS before_code, r_before.event_date AS before_date,
           r_before.value AS before_value,
           x.code AS x_code, x.event_date AS x_date,
           CASE WHEN r_in.patient_id IS NOT NULL THEN r_in.event_date
                WHEN r_before.patient_id IS NOT NULL THEN {lapsed}
                ELSE {first_eligible} END AS overdue_date
    FROM denominator d
    LEFT JOIN ranked r_in ON r_in.patient_id = d.patient_id AND r_in.indicator = d.indicator
         AND r_in.in_window AND r_in.rn = 1
    LEFT JOIN ranked r_before ON r_before.patient_id = d.patient_id
         AND r_before.indicator = d.indicator AND NOT r_before.in_window AND r_before.rn = 1
    LEFT JOIN exclusion x ON x.patient_id = d.patient_id AND x.indicator = d.indicator
         AND x.rn = 1
)
SELECT patient_id, indicator, outcome,
       CASE outcome WHEN '{EXCLUDED}' THEN x_code ELSE coalesce(in_code, before_code) END
           AS evidence_code,
       CASE outcome WHEN '{EXCLUDED}' THEN x_date ELSE coalesce(in_date, before_date) END
           AS evidence_date,
       CASE outcome WHEN '{EXCLUDED}' THEN NULL ELSE coalesce(in_value, before_value) END
           AS evidence_value,
       CASE outcome WHEN '{NOT_MET}' THEN overdue_date END AS overdue_since
FROM decided
"""


def compute_indicators(
    engine: Engine,
    rules: IndicatorRules,
    codelists: Mapping[str, Codelist],
    as_of: dt.date,
    registers: str,
) -> Query:
    """Every person in every indicator's denominator at `as_of`, with outcome and evidence.

    `registers` names a table or view of register membership at the same date (patient_id,
    register, first_recorded), e.g. the pipeline's `run_register_result`.
    """
    for name, table in indicator_tables(rules, codelists, as_of).items():
        engine.register(name, table)
    return Query(
        engine, indicator_sql(rules, registers).replace(":as_of", f"'{as_of.isoformat()}'")
    )


CARE_GAP_COLUMNS = (
    "patient_id, indicator, outcome, evidence_code, evidence_date, evidence_value, overdue_since"
)


def achievement(engine: Engine, run_id: str, *, disclosure_controlled: bool = True) -> Query:
    """Per practice and indicator: met, not met, excluded and achievement % = met/(met+not met).

    With `disclosure_controlled` (the default, for any figure leaving the practice) counts are
    suppressed at 1-7 and rounded to 5, and the percentage is computed from the controlled
    counts so it cannot reveal a suppressed one.
    """
    outcome = "CASE WHEN u.outcome = '{}' THEN 1 ELSE 0 END"
    raw = measure_sql(
        f"""(SELECT p.practice_id, g.indicator, g.outcome
            FROM care_gap g JOIN patient p ON p.patient_id = g.patient_id
            WHERE g.run_id = {sql_literal(run_id)})""",
        by=["practice_id"],
        keys=["indicator"],
        counts={
            "met": outcome.format(MET),
            "not_met": outcome.format(NOT_MET),
            "excluded": outcome.format(EXCLUDED),
        },
        rule=None if disclosure_controlled else UNCONTROLLED,
    )
    # `100 * met / n`, not `100.0 * ...`: `/` is float division on both engines, while a
    # 100.0 literal would make the percentage DECIMAL on Spark
    return Query(
        engine,
        f"""SELECT practice_id, indicator, met, not_met, excluded,
               CASE WHEN met + not_met > 0
                    THEN round(100 * met / (met + not_met), 1) END AS achievement_pct
            FROM {raw} AS a ORDER BY practice_id, indicator""",
    )


def recall_list(
    engine: Engine,
    run_id: str,
    practice_id: str | None = None,
    indicator: str | None = None,
    limit: int | None = None,
    *,
    scope: PeopleScope | None = None,
    favour: ProportionatePolicy | None = None,
) -> Query:
    """People with an open care gap ('not met'), most overdue first (the first `limit`).

    Identifiable: for the practice's own use, never for publication. `scope` is whom the
    reader may see (`careplan.access`); None only for the analytic core's own use. `favour`
    orders by the Core20PLUS5 policy (`tiers/proportionate.toml`): a favoured person's gap
    counts as overdue longer, so they come up the list; nobody leaves it.
    """
    conditions = [f"g.run_id = {sql_literal(run_id)}", "g.outcome = 'not met'"]
    if scope is not None:
        conditions.append(scope.condition("p.practice_id", "g.patient_id"))
    if practice_id is not None:
        conditions.append(f"p.practice_id = {sql_literal(practice_id)}")
    if indicator is not None:
        conditions.append(f"g.indicator = {sql_literal(indicator)}")
    overdue = "g.overdue_since"
    joins = ""
    if favour is not None:
        from houseofcare.commissioning.population import LOOKUP_TABLES, lsoa_lookup

        lsoa_table = LOOKUP_TABLES[0]
        engine.register(lsoa_table, lsoa_lookup())
        joins = favour.favoured_joins("p", run_id, lsoa_table)
        days = int(favour.recall.head_start_days)
        # a favoured person's gap counts as overdue `days` longer: moved up, nobody removed
        overdue = (
            f"CASE WHEN {favour.favoured_sql('p')} THEN g.overdue_since - INTERVAL {days} DAYS "
            "ELSE g.overdue_since END"
        )
    return Query(
        engine,
        f"""SELECT p.practice_id, g.patient_id, p.nhs_number, g.indicator, g.overdue_since,
                  g.evidence_code, g.evidence_date, g.evidence_value
           FROM care_gap g JOIN patient p ON p.patient_id = g.patient_id{joins}
           WHERE {" AND ".join(conditions)}
           ORDER BY {overdue} NULLS FIRST, g.indicator, g.patient_id"""
        + ("" if limit is None else f" LIMIT {int(limit)}"),
    )


def export_recall_csv(
    engine: Engine,
    run_id: str,
    path: Path,
    practice_id: str | None = None,
    indicator: str | None = None,
    *,
    scope: PeopleScope | None = None,
    favour: ProportionatePolicy | None = None,
) -> int:
    """Write the recall list to `path` as CSV (header row, most overdue first); rows written."""
    query = recall_list(engine, run_id, practice_id, indicator, scope=scope, favour=favour)
    rows = query.rows()
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(query.columns)
        writer.writerows(rows)
    return len(rows)
