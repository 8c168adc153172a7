"""SNOMED CT codelists as data: one CSV per cluster, described and versioned in `index.toml`.

Codelists are the NHS primary care domain reference-set clusters the QOF business rules use
(`hyp_cod`, `dm_cod`, …) plus the clusters houseofcare had to build where no public copy
exists; each built cluster records its provenance in the index. Everything is checked when it
is loaded, so a malformed list fails at start-up naming the file and row, never in the middle
of a nightly run.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType

from houseofcare.datafiles import read_toml

#: A SNOMED CT concept id: 6–18 digits, no leading zero (ids are strings, never integers).
SNOMED_CT_ID = re.compile(r"^[1-9][0-9]{5,17}$")

CODELIST_DIR = Path(str(files("houseofcare.terminology") / "codelists"))


class CodelistError(ValueError):
    """A codelist file or its index entry is malformed; the message names the file and row."""


@dataclass(frozen=True)
class Codelist:
    """One cluster of SNOMED CT codes with the terms a clinician would recognise."""

    name: str
    version: str
    source: str
    description: str
    terms: Mapping[str, str] = field(repr=False)

    def __post_init__(self) -> None:
        if not self.terms:
            raise CodelistError(f"codelist {self.name!r} is empty")

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(self.terms)

    def __contains__(self, code: object) -> bool:
        return code in self.terms

    def __len__(self) -> int:
        return len(self.terms)


def read_codelist_csv(path: Path) -> dict[str, str]:
    """Read a `code,term` CSV, rejecting malformed and duplicate codes with file and row."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CodelistError(f"{path}: codelist file not found") from None
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header[:2]] != ["code", "term"]:
        raise CodelistError(f"{path}: row 1: header must be 'code,term', found {header!r}")
    terms: dict[str, str] = {}
    seen_at: dict[str, int] = {}
    for row_number, row in enumerate(reader, start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        code = row[0].strip()
        if not SNOMED_CT_ID.match(code):
            raise CodelistError(
                f"{path}: row {row_number}: {code!r} is not a SNOMED CT concept id "
                "(6-18 digits, no leading zero)"
            )
        if code in terms:
            raise CodelistError(
                f"{path}: row {row_number}: code {code} is repeated (first at row {seen_at[code]})"
            )
        terms[code] = row[1].strip() if len(row) > 1 else ""
        seen_at[code] = row_number
    if not terms:
        raise CodelistError(f"{path}: codelist has no codes")
    return terms


def load_codelists(directory: Path = CODELIST_DIR) -> dict[str, Codelist]:
    """Every codelist named in `index.toml` of `directory`, validated."""
    index_path = directory / "index.toml"
    index = read_toml(index_path, CodelistError, "codelist index not found")
    lists: dict[str, Codelist] = {}
    for position, entry in enumerate(index.get("codelist", []), start=1):
        where = f"{index_path}: codelist #{position}"
        missing = {"name", "file", "version", "source"} - entry.keys()
        if missing:
            raise CodelistError(f"{where}: missing {', '.join(sorted(missing))}")
        name = entry["name"]
        if name in lists:
            raise CodelistError(f"{where}: codelist {name!r} is declared twice")
        terms = read_codelist_csv(directory / entry["file"])
        lists[name] = Codelist(
            name=name,
            version=str(entry["version"]),
            source=entry["source"],
            description=entry.get("description", ""),
            terms=MappingProxyType(terms),
        )
    return lists


@cache
def packaged_codelists() -> Mapping[str, Codelist]:
    """The codelists shipped in the package (loaded once per process)."""
    return MappingProxyType(load_codelists())
