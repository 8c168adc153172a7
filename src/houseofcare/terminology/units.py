"""Units as data: the canonical unit of every measured codelist and how readings convert to it.

An HbA1c of 9.5 % is about 80 mmol/mol; compared as if it were 9.5 mmol/mol it "meets" a
target of 58 and a person with poorly controlled diabetes drops off the recall list. So every
quantity a rule compares has one canonical UCUM unit (`units.toml`), readings are converted to
it by a declared factor and offset with its source, the UCUM code is preferred over the display
text, and a reading whose unit is unknown or whose converted value is implausible is not a
reading any rule may use. The file is checked when loaded; `conversion_rows` gives the table
as plain rows for the engines (the event layer joins it), and `canonical_value` is the same
rule for one value, which the tests hold the SQL to.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from houseofcare.datafiles import read_toml, validation_problems
from houseofcare.terminology.codelist import Codelist, packaged_codelists

UNITS_FILE: Final = Path(__file__).with_name("units.toml")


class UnitsError(ValueError):
    """The units file is missing, malformed or breaks a rule of its schema."""


class UnitRule(BaseModel):
    """One unit a reading may arrive in, and its conversion to the canonical unit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ucum: str = Field(min_length=1)
    spellings: tuple[str, ...] = Field(min_length=1)
    factor: float = Field(gt=0)
    offset: float = 0.0
    source: str = Field(min_length=1)


class Quantity(BaseModel):
    """A measured codelist: its canonical unit, plausible range and accepted units."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    canonical: str = Field(min_length=1)
    plausible: tuple[float, float]
    implied: bool
    unit: tuple[UnitRule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Quantity:
        low, high = self.plausible
        if not low < high:
            raise ValueError(f"plausible range [{low}, {high}] is empty")
        canonical = [u for u in self.unit if u.ucum == self.canonical]
        if len(canonical) != 1 or canonical[0].factor != 1.0 or canonical[0].offset != 0.0:
            raise ValueError(
                f"the canonical unit {self.canonical!r} must be listed once, factor 1, offset 0"
            )
        seen: set[str] = set()
        for rule in self.unit:
            for key in {rule.ucum.casefold(), *(s.casefold() for s in rule.spellings)}:
                if key in seen:
                    raise ValueError(f"unit {key!r} is listed twice")
                seen.add(key)
        return self


class UnitsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    quantity: dict[str, Quantity]


@dataclass(frozen=True)
class Units:
    """The loaded units file."""

    source: Path
    quantities: dict[str, Quantity]

    def canonical_value(
        self, codelist: str, value: float | None, ucum: str | None, unit: str | None
    ) -> float | None:
        """The reading in its codelist's canonical unit, or None when no rule may use it
        (unknown unit, no unit where none is implied, implausible value)."""
        quantity = self.quantities.get(codelist)
        if quantity is None or value is None:
            return None
        rule = _unit_rule(quantity, ucum, unit)
        if rule is None:
            return None
        converted = rule.factor * (value + rule.offset)
        low, high = quantity.plausible
        return converted if low <= converted <= high else None


def _unit_rule(quantity: Quantity, ucum: str | None, unit: str | None) -> UnitRule | None:
    """The UCUM code decides when there is one; else the display text; else the implied unit."""
    if ucum:
        return next((u for u in quantity.unit if u.ucum == ucum), None)
    if unit:
        key = unit.strip().casefold()
        return next((u for u in quantity.unit if key in {s.casefold() for s in u.spellings}), None)
    if quantity.implied:
        return next(u for u in quantity.unit if u.ucum == quantity.canonical)
    return None


def conversion_rows(units: Units) -> Iterator[tuple[str, str, str, float, float, float, float]]:
    """(codelist, kind, key, factor, offset, low, high): one row per UCUM code ("ucum") and per
    case-folded display spelling ("unit"), and one ("implied", "") where no unit is needed, for
    the event layer to join in SQL on either engine."""
    for codelist, quantity in sorted(units.quantities.items()):
        low, high = quantity.plausible
        for rule in quantity.unit:
            yield codelist, "ucum", rule.ucum, rule.factor, rule.offset, low, high
            for spelling in sorted({s.casefold() for s in rule.spellings}):
                yield codelist, "unit", spelling, rule.factor, rule.offset, low, high
        if quantity.implied:
            yield codelist, "implied", "", 1.0, 0.0, low, high


def quantity_codes(units: Units, codelists: Mapping[str, Codelist]) -> dict[str, str]:
    """code -> the quantity (codelist) whose unit its readings are in.

    A code in two measured codelists would have two canonical units, so it is refused: which
    unit a reading means must never depend on which rule happens to read it.
    """
    owner: dict[str, str] = {}
    for name in sorted(units.quantities):
        codelist = codelists.get(name)
        if codelist is None:
            raise UnitsError(f"{units.source}: quantity names no codelist: {name}")
        for code in sorted(codelist.codes):
            if code in owner:
                raise UnitsError(
                    f"{units.source}: code {code} is in two measured codelists, "
                    f"{owner[code]} and {name}"
                )
            owner[code] = name
    return owner


def unmeasured(codelists: Iterable[str], units: Units | None = None) -> list[str]:
    """Of codelists whose values something compares, those with no canonical unit: such a
    value could be in any unit, so reading it is refused when the rules are loaded."""
    known = (units or packaged_units()).quantities
    return sorted(name for name in set(codelists) if name not in known)


def unit_problem(units: Units, codelist: str, ucum: str) -> str | None:
    """Why `ucum` cannot be the unit a mapped code implies for `codelist`, or None."""
    quantity = units.quantities.get(codelist)
    if quantity is None:
        return f"{codelist} has no quantity in {units.source.name}"
    if not any(rule.ucum == ucum for rule in quantity.unit):
        return f"{ucum!r} is not a unit {codelist} converts from"
    return None


def load_units(path: Path = UNITS_FILE, known_codelists: set[str] | None = None) -> Units:
    """Read and check a units file; errors name the file and the field."""
    raw = read_toml(path, UnitsError, "no units file here")
    try:
        parsed = UnitsFile.model_validate(raw)
    except ValidationError as exc:
        raise UnitsError(f"{path}: {validation_problems(exc)}") from None
    if known_codelists is not None:
        unknown = sorted(set(parsed.quantity) - known_codelists)
        if unknown:
            raise UnitsError(f"{path}: quantity names no packaged codelist: {', '.join(unknown)}")
    return Units(source=path, quantities=dict(parsed.quantity))


@cache
def packaged_units() -> Units:
    """The units file shipped with houseofcare, checked against the packaged codelists."""
    return load_units(known_codelists=set(packaged_codelists()))


@cache
def packaged_quantity_codes() -> dict[str, str]:
    """`quantity_codes` of the packaged units and codelists."""
    return quantity_codes(packaged_units(), packaged_codelists())
