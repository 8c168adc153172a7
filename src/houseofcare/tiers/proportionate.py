"""The Core20PLUS5 ordering policy (`proportionate.toml`), checked against its schema.

Proportionate universalism: everyone stays on the list, but the people with most to gain are
reached first. The policy is data beside the tiering policy; the code only turns it into an
ordering expression the recall list (and the caseload's candidates) sort by, through the
engine seam, so it runs on DuckDB and Spark alike.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib.resources import files

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from houseofcare.engine import sql_literal


class ProportionateError(ValueError):
    """The policy file does not match its schema (the message names file and field)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Core20(_Strict):
    imd_deciles: tuple[int, ...] = Field(min_length=1)


class Plus(_Strict):
    ethnic_categories: tuple[str, ...] = ()
    registers: tuple[str, ...] = ()


class RecallOrder(_Strict):
    head_start_days: int = Field(ge=0, le=3650)


class CaseloadOrder(_Strict):
    risk_weight: float = Field(ge=1.0, le=10.0)


class Projection(_Strict):
    """What the commissioning plan assumes when it projects the order's effect on the SII
    (`commissioning.plan_inequalities`): the next round of recalls reaches this share of the
    people in each measure's gap, and each person reached has their gap closed (hazard H-081)."""

    capacity_share: float = Field(0.2, gt=0, le=1)
    measures: tuple[str, ...] = ("care_gaps_met", "care_plan")


class ProportionatePolicy(_Strict):
    version: int = Field(ge=1, le=1)
    enabled: bool
    core20: Core20
    plus: Plus
    recall: RecallOrder
    caseload: CaseloadOrder
    projection: Projection = Projection()

    def favoured_joins(self, patient: str, run_id: str, lsoa_table: str) -> str:
        """The LEFT JOINs `favoured_sql` reads, for a `patient` row aliased `patient`
        (`lsoa_table`: the registered LSOA → IMD lookup). Joins, not correlated subqueries,
        so the ordering runs on Spark as on DuckDB."""
        joins = f" LEFT JOIN {lsoa_table} fav_l ON fav_l.lsoa_code = {patient}.lsoa_code"
        if self.plus.registers:
            ids = ", ".join(sql_literal(r) for r in self.plus.registers)
            joins += (
                " LEFT JOIN (SELECT DISTINCT patient_id FROM register "
                f"WHERE run_id = {sql_literal(run_id)} AND register IN ({ids})) fav_r "
                f"ON fav_r.patient_id = {patient}.patient_id"
            )
        return joins

    def favoured_sql(self, patient: str) -> str:
        """SQL true for a person in Core20 or a PLUS group (with `favoured_joins`)."""
        deciles = ", ".join(str(int(d)) for d in self.core20.imd_deciles)
        tests = [f"coalesce(fav_l.imd_decile IN ({deciles}), false)"]
        if self.plus.ethnic_categories:
            codes = ", ".join(sql_literal(c) for c in self.plus.ethnic_categories)
            tests.append(f"coalesce({patient}.ethnic_category IN ({codes}), false)")
        if self.plus.registers:
            tests.append("fav_r.patient_id IS NOT NULL")
        return "(" + " OR ".join(tests) + ")"

    def weighted_risk_sql(self, patient: str, risk: str) -> str:
        """The caseload's candidate order: a favoured person's `risk` weighted by
        `caseload.risk_weight` (with `favoured_joins`); nobody's risk is lowered."""
        weight = sql_literal(float(self.caseload.risk_weight))  # DOUBLE: not a DECIMAL literal
        return f"CASE WHEN {self.favoured_sql(patient)} THEN {risk} * {weight} ELSE {risk} END"

    def frame_joins(self, frame: str, run_id: str) -> str:
        """The LEFT JOINs `frame_favoured_sql` reads, for a people frame aliased `frame` with
        `patient_id` and `core20` (the plan's `plan_people`): the PLUS groups by register and
        by ethnic category, which the frame does not carry."""
        joins = ""
        if self.plus.registers:
            ids = ", ".join(sql_literal(r) for r in self.plus.registers)
            joins += (
                " LEFT JOIN (SELECT DISTINCT patient_id FROM register "
                f"WHERE run_id = {sql_literal(run_id)} AND register IN ({ids})) fav_r "
                f"ON fav_r.patient_id = {frame}.patient_id"
            )
        if self.plus.ethnic_categories:
            joins += (
                " LEFT JOIN (SELECT patient_id, ethnic_category FROM patient) fav_p "
                f"ON fav_p.patient_id = {frame}.patient_id"
            )
        return joins

    def frame_favoured_sql(self, frame: str) -> str:
        """SQL true for a person of the frame in Core20 (the frame's `core20`, which is IMD
        decile 1-2: the same deciles as `core20.imd_deciles` by default; otherwise read from
        `imd_decile`) or a PLUS group (with `frame_joins`)."""
        if tuple(self.core20.imd_deciles) == (1, 2):
            tests = [f"coalesce({frame}.core20, false)"]
        else:
            deciles = ", ".join(str(int(d)) for d in self.core20.imd_deciles)
            tests = [f"coalesce({frame}.imd_decile IN ({deciles}), false)"]
        if self.plus.ethnic_categories:
            codes = ", ".join(sql_literal(c) for c in self.plus.ethnic_categories)
            tests.append(f"coalesce(fav_p.ethnic_category IN ({codes}), false)")
        if self.plus.registers:
            tests.append("fav_r.patient_id IS NOT NULL")
        return "(" + " OR ".join(tests) + ")"


@cache
def packaged_proportionate_policy() -> ProportionatePolicy:
    path = files("houseofcare.tiers") / "proportionate.toml"
    try:
        return ProportionatePolicy.model_validate(tomllib.loads(path.read_text()))
    except ValidationError as exc:
        raise ProportionateError(f"{path}: {exc}") from None
