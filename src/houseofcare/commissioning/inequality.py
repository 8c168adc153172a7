"""Inequalities in the key measures of one pipeline run: rates by IMD quintile, ethnic group,
sex and age band with 95% limits, directly age-standardised rates, and the slope and relative
index of inequality across IMD deciles.

The house of care makes tackling health inequalities a central aim of the commissioning plan,
so each key measure (`inequality_measures.toml`, data) is shown the way OHID's Fingertips
shows an indicator (`commissioning.inequalities` holds the statistics). Every count comes out
of the analytic store through `commissioning.measures`: the published counts and the rates
worked out from them are disclosure-controlled; the inputs of the complex statistics (DSR,
SII/RII), which NHS Digital's rule leaves uncontrolled because no count can be read back from
them, are taken uncontrolled (`UNCONTROLLED`, said at the call) and never shown.

The people frame is everyone registered and alive at the run's date, with the dimensions of
`commissioning.measures` and the columns the measures read (`FRAME_COLUMNS`). It is plain SQL
through the engine seam, so the report runs on DuckDB and Spark alike. `report_frame` runs the
same figures over any frame with those columns: the commissioning plan runs them over its
`plan_people` frame, which also has the operational columns (`PLAN_FRAME_COLUMNS`: care plans,
reviews, referrals, unmet need) that the measures marked `frame = "plan_people"` read.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib.resources import files
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from houseofcare.commissioning.disclosure import DisclosureRule
from houseofcare.commissioning.inequalities import (
    Estimate,
    Inequality,
    Quantile,
    ValueType,
    crude_rate,
    dsr,
    esp2013,
    proportion,
    sii,
)
from houseofcare.commissioning.measures import (
    UNCONTROLLED,
    age_band_sql,
    measure_sql,
)
from houseofcare.commissioning.population import (
    PopulationFilter,
    Practice,
    people_sql,
    register_lookups,
)
from houseofcare.engine import Engine, sql_literal
from houseofcare.population.registers import AGE_SQL

#: The columns of the people frame a measure's numerator and denominator may read.
FRAME_COLUMNS: Final = (
    "age",
    "registers",
    "level",
    "gaps",
    "open_gaps",
    "emergency_admissions",
)
#: The further columns of the plan's `plan_people` frame (`commissioning.plan_model.PlanContext`)
#: that only measures marked `frame = "plan_people"` may read: they come from the operational
#: store (care plans, referrals, unmet need), which the run's people frame does not hold.
PLAN_FRAME_COLUMNS: Final = ("risk", "core20", "has_plan", "plan_reviewed", "referrals", "unmet")
#: The dimensions the report splits every measure by, in the order it shows them.
SPLITS: Final = ("imd_quintile", "ethnic_group", "sex", "age_band")
#: An emergency admission as the risk model counts it (`risk/features.toml`).
EMERGENCY_ADMISSION: Final = (
    "e.class_code = 'IMP' AND (e.priority_code = 'EM' OR e.type_code = '183452005') "
    "AND coalesce(e.status, '') NOT IN ('entered-in-error', 'cancelled')"
)


class InequalityMeasureError(ValueError):
    """The measures file does not match its schema (the message names file and field)."""


class InequalityMeasure(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    kind: Literal["proportion", "rate"]
    numerator: str
    denominator: str
    #: For rates: per how many of the denominator (proportions are per 100: a percentage).
    per: int = Field(100, ge=1)
    need: Literal["higher", "lower"]
    #: Which frame has the columns it reads: "people" (the run's, and the plan's too) or
    #: "plan_people" (the plan's only: it reads care plans, referrals or unmet need).
    frame: Literal["people", "plan_people"] = "people"
    #: A few plain words for the plan's sentences ("care plans"); the name when not given.
    short: str | None = None
    #: For a measure of care: the id of the measure of need it answers, so the plan can set
    #: care against need (the inverse care law: care per person in need, by deprivation).
    answers: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]*$")

    @property
    def words(self) -> str:
        """The measure in a few words, for a sentence."""
        return self.short or self.name[0].lower() + self.name[1:]


class InequalityMeasures(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1, le=1)
    measure: tuple[InequalityMeasure, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _answers_a_measure_of_need(self) -> InequalityMeasures:
        by_id = {m.id: m for m in self.measure}
        for m in self.measure:
            if m.answers is None:
                continue
            need = by_id.get(m.answers)
            if need is None or need.answers is not None or need.need != "higher":
                raise ValueError(
                    f"measure {m.id}: answers {m.answers!r}, which is not a measure of need "
                    '(one with need = "higher" that answers nothing)'
                )
        return self


def packaged_measures(
    frame: Literal["people", "plan_people"] = "people",
) -> tuple[InequalityMeasure, ...]:
    """The key measures shipped in `inequality_measures.toml` (checked against the schema)
    that `frame` can compute: the run's people frame computes those marked "people"; the
    plan's `plan_people` frame computes them all."""
    found = _packaged_measures()
    return found if frame == "plan_people" else tuple(m for m in found if m.frame == "people")


@cache
def _packaged_measures() -> tuple[InequalityMeasure, ...]:
    path = files("houseofcare.commissioning") / "inequality_measures.toml"
    try:
        data = InequalityMeasures.model_validate(tomllib.loads(path.read_text()))
    except ValidationError as exc:
        raise InequalityMeasureError(f"{path}: {exc}") from None
    ids = [m.id for m in data.measure]
    if len(set(ids)) != len(ids):
        raise InequalityMeasureError(f"{path}: measure ids repeat")
    return data.measure


@dataclass(frozen=True)
class Group:
    """One group's controlled counts and the rate worked out from them (None: suppressed)."""

    label: str
    numerator: int | None
    denominator: int | None
    estimate: Estimate


@dataclass(frozen=True)
class MeasureInequality:
    """One measure's figures: overall, per split, age-standardised per IMD quintile, SII/RII."""

    measure: InequalityMeasure
    overall: Group
    splits: dict[str, tuple[Group, ...]]
    #: IMD quintile label → DSR (None: fewer than 10 events).
    standardised: tuple[tuple[str, Estimate], ...]
    #: None with `no_slope` saying why (a decile empty, a rate of 0 …).
    slope: Inequality | None
    no_slope: str | None

    @property
    def unit(self) -> str:
        return "%" if self.measure.kind == "proportion" else f"per {self.measure.per:,}"


def esp_band_sql(age: str) -> str:
    """The ESP 2013 band of an age expression."""
    cases = " ".join(f"WHEN {age} >= {b.lower_age} THEN '{b.band}'" for b in reversed(esp2013()))
    return f"CASE {cases} END"


def frame_sql(run_id: str, as_of: dt.date) -> str:
    """Everyone registered and alive at the run's date with the dimensions and the measures'
    columns, as a parenthesised subquery (the lookups of `population` registered)."""
    run = sql_literal(run_id)
    day = f"'{as_of.isoformat()}'"
    age = AGE_SQL.format(b="p.birth_date").replace(":as_of", day)
    year_before = (as_of - dt.timedelta(days=365)).isoformat()
    return f"""(
    SELECT p.patient_id, p.practice_id, p.locality, p.imd_decile, p.imd_quintile,
           p.ethnic_group, p.sex, {age} AS age, {age_band_sql(age)} AS age_band,
           {esp_band_sql(age)} AS esp_band,
           coalesce(r.registers, 0) AS registers, t.level,
           coalesce(g.gaps, 0) AS gaps, coalesce(g.open_gaps, 0) AS open_gaps,
           coalesce(e.admissions, 0) AS emergency_admissions
    FROM {people_sql(PopulationFilter())} p
    LEFT JOIN (SELECT patient_id, count(DISTINCT register) AS registers
               FROM register WHERE run_id = {run} GROUP BY patient_id) r
      ON r.patient_id = p.patient_id
    LEFT JOIN tier t ON t.run_id = {run} AND t.patient_id = p.patient_id
    LEFT JOIN (SELECT patient_id, count(*) AS gaps,
                      sum(CASE WHEN outcome = 'not met' THEN 1 ELSE 0 END) AS open_gaps
               FROM care_gap WHERE run_id = {run} GROUP BY patient_id) g
      ON g.patient_id = p.patient_id
    LEFT JOIN (SELECT e.patient_id, count(*) AS admissions FROM encounter e
               WHERE {EMERGENCY_ADMISSION}
                 AND CAST(e.period_start AS DATE) > DATE '{year_before}'
                 AND CAST(e.period_start AS DATE) <= DATE {day}
               GROUP BY e.patient_id) e
      ON e.patient_id = p.patient_id
    WHERE p.practice_id IS NOT NULL AND p.birth_date <= DATE {day}
      AND (p.death_date IS NULL OR p.death_date > DATE {day})
)"""


def _estimate(measure: InequalityMeasure, numerator: Any, denominator: Any) -> Estimate:
    if numerator is None or denominator is None or not denominator:
        return Estimate(None, None, None)
    if measure.kind == "proportion":
        found = proportion(int(numerator), int(denominator))
        return Estimate(
            *(None if v is None else 100 * v for v in (found.value, found.lower, found.upper))
        )
    return crude_rate(int(numerator), int(denominator), multiplier=measure.per)


def _groups(
    engine: Engine,
    frame: str,
    measure: InequalityMeasure,
    by: Sequence[str],
    *,
    keys: Sequence[str] = (),
    rule: DisclosureRule | None = None,
) -> list[tuple[Any, ...]]:
    """(by…, keys…, numerator, denominator) per group, through the one exit for counts."""
    sql = measure_sql(
        frame,
        by=by,
        keys=keys,
        counts={"numerator": measure.numerator, "denominator": measure.denominator},
        rule=rule,
    )
    return [tuple(r) for r in engine.rows(f"SELECT * FROM {sql} m")]


def _label(split: str, key: Any) -> str:
    if key is None:
        return "Not known"
    if split in ("imd_quintile", "imd_decile"):
        last = 5 if split == "imd_quintile" else 10
        return {1: "1 (most deprived)", last: f"{last} (least deprived)"}.get(int(key), str(key))
    return str(key)


def _order(split: str, key: Any) -> tuple[bool, Any]:
    return (key is None, key if split != "age_band" else int(str(key).split("-")[0].rstrip("+")))


def decile_slope(
    engine: Engine, frame: str, measure: InequalityMeasure
) -> tuple[Inequality | None, str | None]:
    """The measure's SII and RII across IMD deciles of `frame` (None and why when there is
    none). Its inputs are the deciles' uncontrolled counts: a complex statistic, never shown."""
    rows = {r[0]: r[1:] for r in _groups(engine, frame, measure, ["imd_decile"], rule=UNCONTROLLED)}
    quantiles = []
    for decile in range(1, 11):
        numerator, denominator = rows.get(decile, (0, 0))
        if not denominator:
            return None, f"IMD decile {decile} has nobody in it"
        # on the proportion's own 0-1 scale (the regression's), not the report's percentage
        estimate = (
            proportion(int(numerator), int(denominator))
            if measure.kind == "proportion"
            else crude_rate(int(numerator), int(denominator), multiplier=measure.per)
        )
        value, low, high = estimate.value, estimate.lower, estimate.upper
        if value is None or low is None or high is None:
            return None, f"IMD decile {decile} has no rate"
        if measure.kind == "proportion" and not (low > 0 and high < 1 and 0 < value < 1):
            return None, f"IMD decile {decile} is at 0% or 100%, so no logit slope"
        if measure.kind == "rate" and not (low > 0 and value > 0):
            return None, f"IMD decile {decile} has no events, so no log slope"
        quantiles.append(Quantile(float(denominator), value, low, high))
    kind = ValueType.proportion if measure.kind == "proportion" else ValueType.rate
    found = sii(quantiles, value_type=kind, transform=True, repetitions=10_000)
    if measure.kind == "proportion":  # the gap in percentage points, as the rest of the report
        found = replace(
            found,
            sii=found.sii * 100,
            intercept=found.intercept * 100,
            sii_lower=None if found.sii_lower is None else found.sii_lower * 100,
            sii_upper=None if found.sii_upper is None else found.sii_upper * 100,
        )
    return found, None


def report(
    engine: Engine,
    run_id: str,
    known: Sequence[Practice],
    measures: Sequence[InequalityMeasure] | None = None,
) -> list[MeasureInequality]:
    """Every measure's inequalities for the run (`known`: the practices, for the localities)."""
    chosen = packaged_measures() if measures is None else tuple(measures)
    elsewhere = [m.id for m in chosen if m.frame != "people"]
    if elsewhere:
        raise ValueError(
            f"{', '.join(elsewhere)}: read care plans, referrals or unmet need, which only the "
            "commissioning plan's frame holds (report_frame over plan_people)"
        )
    rows = engine.rows(f"SELECT as_of FROM run WHERE run_id = {sql_literal(run_id)}")
    if not rows:
        raise LookupError(f"no pipeline run {run_id!r}; see `hoc run`")
    as_of = rows[0][0]
    as_of = as_of if isinstance(as_of, dt.date) else dt.date.fromisoformat(str(as_of))
    register_lookups(engine, known)
    return report_frame(engine, frame_sql(run_id, as_of), chosen)


def report_frame(
    engine: Engine,
    frame: str,
    measures: Sequence[InequalityMeasure],
    *,
    splits: Sequence[str] = SPLITS,
    standardise: bool = True,
    rule: DisclosureRule | None = None,
) -> list[MeasureInequality]:
    """Every measure's inequalities over `frame` (a table name or a parenthesised query with
    one row per person, the dimensions and the columns the measures read), split by `splits`,
    with the age-standardised rates by IMD quintile when `standardise`; published counts
    under `rule` (None: the packaged rule)."""
    found = []
    for measure in measures:
        overall_row = _groups(engine, frame, measure, [], rule=rule)[0]
        overall = Group(
            "Everyone", overall_row[0], overall_row[1], _estimate(measure, *overall_row)
        )
        by_split = {}
        for split in splits:
            groups = sorted(
                _groups(engine, frame, measure, [split], rule=rule),
                key=lambda r, s=split: _order(s, r[0]),
            )
            by_split[split] = tuple(
                Group(_label(split, key), n, d, _estimate(measure, n, d)) for key, n, d in groups
            )
        standardised = _standardised(engine, frame, measure) if standardise else []
        slope, no_slope = decile_slope(engine, frame, measure)
        found.append(
            MeasureInequality(measure, overall, by_split, tuple(standardised), slope, no_slope)
        )
    return found


def _standardised(
    engine: Engine, frame: str, measure: InequalityMeasure
) -> list[tuple[str, Estimate]]:
    """The measure's DSR per IMD quintile (inputs uncontrolled: a complex statistic)."""
    standardised = []
    by_band: dict[Any, tuple[dict[str, int], dict[str, int]]] = {}
    for quintile, band, n, d in _groups(
        engine, frame, measure, ["imd_quintile"], keys=["esp_band"], rule=UNCONTROLLED
    ):
        events, people = by_band.setdefault(quintile, ({}, {}))
        events[band], people[band] = int(n or 0), int(d or 0)
    for quintile in sorted(by_band, key=lambda q: (q is None, q)):
        events, people = by_band[quintile]
        bands = [b for b in esp2013() if people.get(b.band, 0) > 0]
        standardised.append(
            (
                _label("imd_quintile", quintile),
                dsr(events, people, multiplier=measure.per, standard=bands)
                if bands
                else Estimate(None, None, None),
            )
        )
    return standardised
