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


class ProportionatePolicy(_Strict):
    version: int = Field(ge=1, le=1)
    enabled: bool
    core20: Core20
    plus: Plus
    recall: RecallOrder
    caseload: CaseloadOrder

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


@cache
def packaged_proportionate_policy() -> ProportionatePolicy:
    path = files("houseofcare.tiers") / "proportionate.toml"
    try:
        return ProportionatePolicy.model_validate(tomllib.loads(path.read_text()))
    except ValidationError as exc:
        raise ProportionateError(f"{path}: {exc}") from None
