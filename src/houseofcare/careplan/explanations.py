"""What a result means for the person, in plain English: `explanations.toml`, checked.

The person's own pages ("My care plan", issue 12) explain each of their latest results: what
the test is, why it matters, the value in its one unit and what that value means. The
meaning comes from the measure's bands in `measures.toml` (the thresholds live there only,
shared with the results letter); this file adds the person's words. It is checked when
loaded, failing with the file and the entry named: every entry names a known measure, in
that measure's own unit (a number beside the wrong unit is hazard H-053), and every reason a
reading can be left out has words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from houseofcare.careplan.measures import Measure, packaged_measures
from houseofcare.datafiles import read_toml, validation_problems

EXPLANATIONS_FILE: Final = Path(__file__).with_name("explanations.toml")

#: The reasons the unit-aware event layer gives for a reading it cannot use
#: (`population/events.py`, `value_problem`), plus `other` for anything it adds later.
LEFT_OUT_REASONS: Final = frozenset({"unknown unit", "no unit", "implausible", "other"})


class ExplanationFileError(ValueError):
    """The explanations file is missing, malformed or disagrees with `measures.toml`."""


class Explanation(BaseModel):
    """One measure in the person's words."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    measure: str = Field(min_length=1)
    heading: str = Field(min_length=1)
    unit: str = Field(min_length=1)
    unit_words: str = Field(min_length=1)
    decimals: int = Field(ge=0, le=2)
    what_it_is: str = Field(min_length=1)
    why_it_matters: str = Field(min_length=1)
    converted: str | None = None


class ExplanationsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    left_out: dict[str, str]
    explanation: tuple[Explanation, ...] = Field(min_length=1)


@dataclass(frozen=True)
class Explained:
    """An explanation with its measure (codes and bands) from `measures.toml`."""

    text: Explanation
    measure: Measure

    def shown(self, value: float) -> str:
        """The value as the page writes it (the measure's decimals)."""
        return f"{value:.{self.text.decimals}f}"

    def meaning(self, value: float) -> str:
        """What the value means, chosen from the value as shown: a reading of 47.6 shown as
        "48" is explained as 48, never as "below 48"."""
        return self.measure.meaning(float(self.shown(value)))


@dataclass(frozen=True)
class Explanations:
    """The checked file: the measures in the file's order and the left-out words."""

    source: Path
    measures: tuple[Explained, ...]
    left_out: Mapping[str, str]

    def why_left_out(self, problem: str | None) -> str:
        return self.left_out.get(problem or "", self.left_out["other"])


def load_explanations(
    path: Path = EXPLANATIONS_FILE, measures: tuple[Measure, ...] | None = None
) -> Explanations:
    """Read and check an explanations file against the measures (`measures.toml`)."""
    raw = read_toml(path, ExplanationFileError, "no explanations file here")
    try:
        data = ExplanationsFile.model_validate(raw)
    except ValidationError as exc:
        raise ExplanationFileError(f"{path}: {validation_problems(exc)}") from None
    missing = sorted(LEFT_OUT_REASONS - set(data.left_out))
    if missing:
        raise ExplanationFileError(f"{path}: left_out: no words for {', '.join(missing)}")
    unknown = sorted(set(data.left_out) - LEFT_OUT_REASONS)
    if unknown:
        raise ExplanationFileError(f"{path}: left_out: unknown reason {', '.join(unknown)}")
    known = {m.id: m for m in measures or packaged_measures()}
    explained = []
    for entry in data.explanation:
        measure = known.get(entry.measure)
        if measure is None:
            raise ExplanationFileError(
                f"{path}: {entry.measure}: not a measure of measures.toml "
                f"(known: {', '.join(sorted(known))})"
            )
        if entry.unit != measure.unit:
            raise ExplanationFileError(
                f"{path}: {entry.measure}: unit {entry.unit!r} is not the measure's unit "
                f"{measure.unit!r} (measures.toml)"
            )
        explained.append(Explained(entry, measure))
    ids = [e.text.measure for e in explained]
    if len(set(ids)) != len(ids):
        raise ExplanationFileError(f"{path}: each measure may be explained once, found {ids}")
    return Explanations(source=path, measures=tuple(explained), left_out=dict(data.left_out))


@cache
def packaged_explanations() -> Explanations:
    """The explanations shipped with houseofcare, loaded once."""
    return load_explanations()
