"""Measure explanations as data: which codes make a measure and what each result means.

`measures.toml` beside this module lists the measures of the Year of Care results summary
(HbA1c, blood pressure, eGFR, cholesterol, BMI) with plain-language bands. It is checked when
loaded: an unknown codelist, a band gap or overlap fails naming the file and the measure.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from itertools import pairwise
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from houseofcare.datafiles import read_toml, validation_problems
from houseofcare.terminology.codelist import Codelist, packaged_codelists
from houseofcare.terminology.units import Units, packaged_units, unmeasured

MEASURES_FILE = Path(str(files("houseofcare.careplan") / "measures.toml"))


class MeasureFileError(ValueError):
    """The measures file is malformed; the message names the file and the measure."""


class Band(BaseModel):
    """Values from `lower` (inclusive) up to `below` (exclusive) mean `meaning`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    lower: float | None = Field(default=None, alias="from")
    below: float | None = None
    meaning: str = Field(min_length=1)

    def holds(self, value: float) -> bool:
        return (self.lower is None or value >= self.lower) and (
            self.below is None or value < self.below
        )


class Measure(BaseModel):
    """One measure of the results summary."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")
    label: str
    codelists: tuple[str, ...] = Field(min_length=1)
    unit: str
    about: str
    source: str
    band: tuple[Band, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _bands_cover_every_value(self) -> Measure:
        bands = self.band
        if bands[0].lower is not None or bands[-1].below is not None:
            raise ValueError("the first band needs no `from` and the last no `below`")
        for earlier, later in pairwise(bands):
            if earlier.below is None or earlier.below != later.lower:
                raise ValueError(
                    f"band ending {earlier.below} and band starting {later.lower} must meet"
                )
        return self

    def meaning(self, value: float) -> str:
        """The plain-language meaning of `value`."""
        return next(band.meaning for band in self.band if band.holds(value))

    def all_codes(self, codelists: Mapping[str, Codelist]) -> frozenset[str]:
        codes: set[str] = set()
        for name in self.codelists:
            codes |= codelists[name].codes
        return frozenset(codes)


def _unit_problem(measure: Measure, units: Units) -> str | None:
    """A measure shows values in one unit: its codelists' shared canonical unit, as spelled."""
    no_unit = unmeasured(measure.codelists, units)
    if no_unit:
        return f"{', '.join(no_unit)} has no canonical unit in terminology/units.toml"
    quantities = [units.quantities[name] for name in measure.codelists]
    canonical = {q.canonical for q in quantities}
    if len(canonical) > 1:
        return f"codelists in different units {sorted(canonical)}"
    rule = next(u for u in quantities[0].unit if u.ucum == quantities[0].canonical)
    if measure.unit != rule.ucum and measure.unit not in rule.spellings:
        return f"unit {measure.unit!r} is not how {rule.ucum!r} (the canonical unit) is written"
    return None


def load_measures(
    path: Path = MEASURES_FILE,
    codelists: Mapping[str, Codelist] | None = None,
    units: Units | None = None,
) -> tuple[Measure, ...]:
    """Every measure in `path`, checked (codelists must exist in `codelists`)."""
    known = codelists if codelists is not None else packaged_codelists()
    data = read_toml(path, MeasureFileError, "measure explanations file not found")
    measures: list[Measure] = []
    for index, raw in enumerate(data.get("measure", [])):
        name = raw.get("id", f"measure #{index + 1}") if isinstance(raw, dict) else index
        try:
            measure = Measure.model_validate(raw)
        except ValidationError as exc:
            raise MeasureFileError(f"{path}: {name}: {validation_problems(exc)}") from None
        unknown = [c for c in measure.codelists if c not in known]
        if unknown:
            raise MeasureFileError(f"{path}: {name}: unknown codelist(s) {unknown}")
        problem = _unit_problem(measure, units or packaged_units())
        if problem:
            raise MeasureFileError(f"{path}: {name}: {problem}")
        measures.append(measure)
    ids = [m.id for m in measures]
    if len(set(ids)) != len(ids):
        raise MeasureFileError(f"{path}: measure ids must be unique, found {ids}")
    if not measures:
        raise MeasureFileError(f"{path}: no [[measure]] entries")
    return tuple(measures)


@cache
def packaged_measures() -> tuple[Measure, ...]:
    """The measures shipped in the package (loaded once per process)."""
    return load_measures()


@cache
def measure_codes() -> Mapping[str, frozenset[str]]:
    """Each packaged measure's SNOMED CT codes (its codelists'), by measure id: what a run
    keeps each person's readings of (`population/person_readings.py`)."""
    codelists = packaged_codelists()
    return {m.id: m.all_codes(codelists) for m in packaged_measures()}
