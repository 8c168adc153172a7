"""The commissioning plan's capacity and unit costs as data: `capacity.toml` (planning ratios
and the capacity in post per locality) and `unit_costs.toml` (published unit costs with their
price year and source), each checked against its schema when loaded, so a wrong file fails
with the file and the field named instead of printing a wrong gap to a board.

A unit cost is either verified (an amount, its price year and the source it was read in) or
not (no amount at all, and the reason): the schema makes an unverified figure impossible to
print, so the plan can only say that the cost is not shown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from houseofcare.commissioning.plan_model import Source
from houseofcare.datafiles import read_toml, validation_problems
from houseofcare.population.indicators import Indicator

CAPACITY_FILE: Final = Path(str(files("houseofcare.commissioning") / "capacity.toml"))
UNIT_COSTS_FILE: Final = Path(str(files("houseofcare.commissioning") / "unit_costs.toml"))


class CapacityError(ValueError):
    """A capacity or unit-cost file does not match its schema (the message names the file
    and the field)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CaseManagement(_Frozen):
    """Level 3: people per whole-time case manager (the range and the figure planned at)."""

    caseload_min: int = Field(ge=1, le=500)
    caseload_max: int = Field(ge=1, le=500)
    caseload: int = Field(ge=1, le=500)
    source: str = Field(min_length=1)
    source_year: str = Field(min_length=1)

    @model_validator(mode="after")
    def _in_range(self) -> CaseManagement:
        if not self.caseload_min <= self.caseload <= self.caseload_max:
            raise ValueError(
                f"caseload {self.caseload} must lie within caseload_min {self.caseload_min} "
                f"and caseload_max {self.caseload_max}"
            )
        return self


class Reviews(_Frozen):
    """Level 2: planned reviews, how often (from the indicators), how long, and a WTE's hours."""

    review_sources: tuple[str, ...] = Field(min_length=1)
    #: How often a person on no scheduled register is reviewed (months between reviews).
    default_review_months: int = Field(ge=1, le=120)
    appointments_per_review: int = Field(ge=1, le=10)
    minutes_per_appointment: int = Field(ge=1, le=240)
    hours_per_week: float = Field(gt=0, le=60)
    working_weeks_per_year: float = Field(gt=0, le=52)
    source: str = Field(min_length=1)
    source_year: str = Field(min_length=1)

    @property
    def hours_per_wte_year(self) -> float:
        return self.hours_per_week * self.working_weeks_per_year


class SelfManagement(_Frozen):
    """Level 1: self-management places a person needs a year, and a link worker's caseload."""

    places_per_person: float = Field(gt=0, le=10)
    caseload_min: int = Field(ge=1, le=5000)
    caseload_max: int = Field(ge=1, le=5000)
    caseload: int = Field(ge=1, le=5000)
    source: str = Field(min_length=1)
    source_year: str = Field(min_length=1)

    @model_validator(mode="after")
    def _in_range(self) -> SelfManagement:
        if not self.caseload_min <= self.caseload <= self.caseload_max:
            raise ValueError(
                f"caseload {self.caseload} must lie within caseload_min {self.caseload_min} "
                f"and caseload_max {self.caseload_max}"
            )
        return self


class InPost(_Frozen):
    """Capacity in post in a locality, a year."""

    case_manager_wte: float = Field(ge=0)
    review_appointments: int = Field(ge=0)
    self_management_places: int = Field(ge=0)


class LocalityCapacity(InPost):
    name: str = Field(min_length=1)


class CapacityConfig(_Frozen):
    """The whole `capacity.toml`."""

    version: int = Field(ge=1, le=1)
    #: The locality figures are the shipped example, not an area's own (the plan says so).
    example: bool
    level3: CaseManagement
    level2: Reviews
    level1: SelfManagement
    default: InPost | None = None
    locality: tuple[LocalityCapacity, ...] = ()

    @model_validator(mode="after")
    def _names_once(self) -> CapacityConfig:
        names = [loc.name for loc in self.locality]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"locality {', '.join(repeated)} is listed more than once")
        return self

    def in_post(self, locality: str | None) -> InPost | None:
        """The capacity in post for a locality: its own row, else the default (None: neither)."""
        for row in self.locality:
            if row.name == locality:
                return row
        return self.default


class UnitCost(_Frozen):
    """One published unit cost in pounds at its price year, or a gap that says why."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    what: str = Field(min_length=1)
    unit: str = Field(min_length=1)
    verified: bool
    amount: float | None = Field(default=None, gt=0)
    #: The financial year the amount is priced at, as published ("2023/24").
    price_year: str | None = Field(default=None, pattern=r"^\d{4}/\d{2}$")
    source: str = Field(min_length=1)
    table: str = ""
    url: str = ""
    caveat: str = ""
    reason: str = ""

    @model_validator(mode="after")
    def _verified_or_why_not(self) -> UnitCost:
        if self.verified:
            missing = [
                name for name in ("amount", "price_year", "table", "url") if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"a verified cost needs {', '.join(missing)}")
            if self.reason:
                raise ValueError("a verified cost has no reason (that is for unverified ones)")
        else:
            if self.amount is not None:
                raise ValueError(
                    "an unverified cost must not carry an amount: leave it out and give the reason"
                )
            if not self.reason:
                raise ValueError("an unverified cost needs a reason")
        return self

    @property
    def usable(self) -> bool:
        return self.verified and self.amount is not None

    def price_year_start(self) -> int | None:
        """The calendar year the price year starts in (2023 for 2023/24)."""
        return None if self.price_year is None else int(self.price_year[:4])

    def stale(self, as_of: dt.date, after_years: int) -> bool:
        """The price year ended more than `after_years` before `as_of`."""
        start = self.price_year_start()
        return start is not None and as_of.year - (start + 1) > after_years

    def as_source(self) -> Source:
        citation = self.source + (f" ({self.table})" if self.table else "")
        return Source(
            key=self.id, citation=citation, year=self.price_year or "not verified", url=self.url
        )


class UnitCosts(_Frozen):
    """The whole `unit_costs.toml`."""

    version: int = Field(ge=1, le=1)
    stale_after_years: int = Field(ge=0, le=50)
    cost: tuple[UnitCost, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _ids_once(self) -> UnitCosts:
        ids = [c.id for c in self.cost]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"cost {', '.join(repeated)} is listed more than once")
        return self

    def get(self, cost_id: str) -> UnitCost:
        for c in self.cost:
            if c.id == cost_id:
                return c
        raise CapacityError(f"unit_costs.toml has no cost {cost_id}")


#: The unit costs the plan needs, by id (a file without one of them is an error at load).
NEEDED_COSTS: Final = (
    "case_manager_wte_year",
    "practice_nurse_hour",
    "link_worker_wte_year",
    "non_elective_admission",
)


def load_capacity(path: Path = CAPACITY_FILE) -> CapacityConfig:
    """The capacity file, checked; a problem raises `CapacityError` naming file and field."""
    document = read_toml(path, CapacityError, "capacity file not found")
    try:
        return CapacityConfig.model_validate(document)
    except ValidationError as exc:
        raise CapacityError(f"{path}: {validation_problems(exc)}") from None


def load_unit_costs(path: Path = UNIT_COSTS_FILE) -> UnitCosts:
    """The unit-cost file, checked, with every cost the plan prices present."""
    document = read_toml(path, CapacityError, "unit-cost file not found")
    try:
        costs = UnitCosts.model_validate(document)
    except ValidationError as exc:
        raise CapacityError(f"{path}: {validation_problems(exc)}") from None
    missing = [c for c in NEEDED_COSTS if all(u.id != c for u in costs.cost)]
    if missing:
        raise CapacityError(f"{path}: cost: missing {', '.join(missing)}")
    return costs


@cache
def packaged_capacity() -> CapacityConfig:
    return load_capacity()


@cache
def packaged_unit_costs() -> UnitCosts:
    return load_unit_costs()


def review_windows(
    indicators: Sequence[Indicator], review_sources: Sequence[str]
) -> Mapping[str, int]:
    """Register → the shortest window (months) of its indicators looked for in
    `review_sources`: how often a person on it must be seen (12 / window reviews a year)."""
    windows: dict[str, int] = {}
    for indicator in indicators:
        if not set(indicator.numerator.event_sources) & set(review_sources):
            continue
        register = indicator.denominator.register_id
        windows[register] = min(windows.get(register, 10_000), indicator.window_months)
    return windows
