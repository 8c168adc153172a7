"""The tiering policy as data: thresholds and capacity for the triangle, validated when loaded.

A malformed policy stops `hoc run` before it starts, with the file and the key in the message
(e.g. `policy.toml: level2.complex_registers: unknown register(s) XYZ`), rather than quietly
placing people on the wrong level.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from houseofcare.datafiles import read_toml, validation_problems

POLICY_FILE = Path(__file__).with_name("policy.toml")


class PolicyError(ValueError):
    """The tiering policy is malformed; the message names the file and the key."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Level3(_Frozen):
    top_percent: float | None = Field(default=None, gt=0, le=100)
    min_emergency_admissions_12m: int | None = Field(default=None, ge=1)
    combine: Literal["or", "and"] = "or"
    require_ltc: bool = False

    @model_validator(mode="after")
    def _finds_someone(self) -> Level3:
        if self.top_percent is None and self.min_emergency_admissions_12m is None:
            raise ValueError("set top_percent, min_emergency_admissions_12m or both")
        return self


class Capacity(_Frozen):
    caseload: int = Field(default=50, ge=1, le=1000)
    case_managers: int | None = Field(default=None, ge=0)
    case_managers_per_100k: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_way(self) -> Capacity:
        if self.case_managers is not None and self.case_managers_per_100k is not None:
            raise ValueError("give case_managers or case_managers_per_100k, not both")
        return self

    def places(self, people: int) -> int | None:
        """Level 3 places for a population of `people`; None means no cap."""
        if self.case_managers is not None:
            return self.case_managers * self.caseload
        if self.case_managers_per_100k is not None:
            managers = math.ceil(people / 100_000 * self.case_managers_per_100k)
            return managers * self.caseload
        return None


class Level2(_Frozen):
    complex_registers: tuple[str, ...] = ()
    min_ltcs: int = Field(default=2, ge=2)
    uncontrolled_indicators: tuple[str, ...] = ()


class Level1(_Frozen):
    min_ltcs: int = Field(default=1, ge=1)


class TieringPolicy(_Frozen):
    version: str = Field(min_length=1)
    level3: Level3
    capacity: Capacity
    level2: Level2
    level1: Level1 = Level1()

    @model_validator(mode="after")
    def _levels_nest(self) -> TieringPolicy:
        if self.level2.min_ltcs <= self.level1.min_ltcs:
            raise ValueError("level2.min_ltcs must be greater than level1.min_ltcs")
        return self


def _unknown(names: Iterable[str], known: set[str] | None) -> list[str]:
    return [] if known is None else sorted(set(names) - known)


def load_policy(
    path: Path = POLICY_FILE,
    *,
    registers: set[str] | None = None,
    indicators: set[str] | None = None,
) -> TieringPolicy:
    """The policy file, validated against the register and indicator ids it names."""
    raw = read_toml(path, PolicyError, "tiering policy file not found")
    try:
        policy = TieringPolicy.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(f"{path}: {validation_problems(exc)}") from None
    bad = _unknown(policy.level2.complex_registers, registers)
    if bad:
        raise PolicyError(f"{path}: level2.complex_registers: unknown register(s) {', '.join(bad)}")
    bad = _unknown(policy.level2.uncontrolled_indicators, indicators)
    if bad:
        raise PolicyError(
            f"{path}: level2.uncontrolled_indicators: unknown indicator(s) {', '.join(bad)}"
        )
    return policy


@cache
def packaged_policy() -> TieringPolicy:
    from houseofcare.population.indicators import packaged_indicator_rules
    from houseofcare.population.rules import packaged_register_rules

    return load_policy(
        registers={r.id for r in packaged_register_rules()},
        indicators={i.id for i in packaged_indicator_rules().indicators},
    )
