"""Register rules as data: what puts a person on a disease register.

Each rule is modelled on the QOF business rules (NHS England, QOF v48 register definitions):
a diagnosis codelist, optional resolved codelists (a resolved code recorded *after* the latest
diagnosis takes the person off; a later diagnosis puts them back), an age limit, an optional
earliest diagnosis date, and optional extra evidence (for example asthma treatment in the last
12 months). Rules are validated when loaded, naming the file and field, so a broken rule stops
the run before it starts.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from houseofcare.datafiles import read_toml, validation_problems
from houseofcare.terminology.codelist import Codelist, packaged_codelists

RULES_DIR = Path(str(files("houseofcare.population") / "rules"))

#: The clinical tables a coded event can come from, and the date that dates it.
EventSource = Literal["condition", "medication", "procedure", "observation"]


class RuleError(ValueError):
    """A rule file is malformed; the message names the file and the field."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Evidence(_Frozen):
    """Extra coded evidence a register needs, e.g. asthma medication in the last 12 months."""

    codelists: tuple[str, ...] = Field(min_length=1)
    source: EventSource = "condition"
    within_months: int | None = Field(default=None, ge=1, le=600)


class RegisterRule(_Frozen):
    """One disease register."""

    id: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,15}$")
    name: str
    qof_register: str
    diagnosis: tuple[str, ...] = Field(min_length=1)
    resolved: tuple[str, ...] = ()
    min_age: int = Field(default=0, ge=0, le=120)
    max_age: int | None = Field(default=None, ge=0, le=130)
    diagnosed_on_or_after: dt.date | None = None
    requires: tuple[Evidence, ...] = ()
    #: QOF England prevalence (%) and the age its denominator starts at, for comparison.
    qof_prevalence_pct: float = Field(gt=0, lt=100)
    prevalence_min_age: int = Field(default=0, ge=0)
    qof_source: str
    citation: str = ""

    @model_validator(mode="after")
    def _ages_in_order(self) -> RegisterRule:
        if self.max_age is not None and self.max_age < self.min_age:
            raise ValueError(f"max_age {self.max_age} is below min_age {self.min_age}")
        return self

    @field_validator("diagnosis", "resolved")
    @classmethod
    def _no_repeats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a codelist is named twice")
        return value

    def codelist_names(self) -> set[str]:
        names = set(self.diagnosis) | set(self.resolved)
        for evidence in self.requires:
            names |= set(evidence.codelists)
        return names


def load_register_rules(
    path: Path = RULES_DIR / "registers.toml",
    codelists: dict[str, Codelist] | None = None,
) -> tuple[RegisterRule, ...]:
    """Every register rule in `path`, checked against the codelists it names."""
    known = codelists if codelists is not None else dict(packaged_codelists())
    document = read_toml(path, RuleError, "rule file not found")
    rules: list[RegisterRule] = []
    for position, raw in enumerate(document.get("register", []), start=1):
        label = raw.get("id", f"#{position}") if isinstance(raw, dict) else f"#{position}"
        try:
            rule = RegisterRule.model_validate(raw)
        except ValidationError as exc:
            raise RuleError(f"{path}: register {label}: {validation_problems(exc)}") from None
        unknown = sorted(rule.codelist_names() - known.keys())
        if unknown:
            raise RuleError(f"{path}: register {label}: unknown codelist(s) {', '.join(unknown)}")
        if any(r.id == rule.id for r in rules):
            raise RuleError(f"{path}: register {label}: id is declared twice")
        rules.append(rule)
    if not rules:
        raise RuleError(f"{path}: no [[register]] rules")
    return tuple(rules)


@cache
def packaged_register_rules() -> tuple[RegisterRule, ...]:
    """The register rules shipped in the package."""
    return load_register_rules()
