"""Code-system maps as data: LOINC readings and RxNorm medicines translated to the rules' codes.

The rules speak SNOMED CT and dm+d only. A record exported from a US system (Synthea, most
FHIR servers outside the NHS) codes labs and vitals in LOINC and medicines in RxNorm, so
without a map its HbA1c, blood pressure and statin never reach a register or a care gap. Each
map is a CSV described in `maps/index.toml`; every row names the codelist its target belongs
to, and the load checks that the target really is in it, so a map can never point a reading at
a code no rule reads. The translation itself happens once, in the event layer
(`houseofcare.population.events`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType

from houseofcare.datafiles import read_toml
from houseofcare.terminology.codelist import SNOMED_CT_ID, Codelist, packaged_codelists

MAP_DIR = Path(str(files("houseofcare.terminology") / "maps"))

#: Code systems whose codes are SNOMED CT concept ids (dm+d ids are SNOMED CT ids too), as
#: canonical URIs: the rules' own systems, used without a map.
SNOMED_SYSTEMS = ("http://snomed.info/sct", "http://dmd.nhs.uk")

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

#: The source code systems a map may translate from, by canonical URI, with their code format.
SOURCE_CODE_FORMATS: Mapping[str, re.Pattern[str]] = {
    # LOINC: digits, a hyphen and a mod-10 check digit (e.g. 4548-4)
    LOINC: re.compile(r"^[1-9][0-9]{0,6}-[0-9]$"),
    # RxNorm concept unique identifier (RXCUI): digits, no leading zero
    RXNORM: re.compile(r"^[1-9][0-9]{0,8}$"),
}

#: The columns of a map CSV, per source system. An RxNorm map also names each code's term type
#: (`tty`): an ingredient code carries no strength, form or route, a product code does, and a
#: reader (or a test) must be able to tell which a row is.
MAP_COLUMNS: Mapping[str, tuple[str, ...]] = {
    LOINC: ("source_code", "source_display", "target_code", "target_codelist", "unit", "note"),
    RXNORM: (
        "source_code",
        "source_display",
        "tty",
        "target_code",
        "target_codelist",
        "unit",
        "note",
    ),
}

#: RxNorm term types a map row may have: ingredient (IN), clinical drug (SCD), branded drug
#: (SBD), generic and branded pack (GPCK, BPCK). The term type is also checked against the form
#: of the RxNorm normalized name (NLM's naming conventions): a branded name ends in
#: "[Brand]", a pack is written "{...} Pack", an ingredient or clinical drug is neither.
RXNORM_TERM_TYPES = frozenset({"IN", "SCD", "SBD", "GPCK", "BPCK"})


def loinc_check_digit_ok(code: str) -> bool:
    """LOINC's mod-10 check digit (the Luhn scheme, doubling from the rightmost digit)."""
    body, _, check = code.partition("-")
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char) * (2 if position % 2 == 0 else 1)
        total += digit // 10 + digit % 10
    return (10 - total % 10) % 10 == int(check)


class CodeMapError(ValueError):
    """A map file or its index entry is malformed; the message names the file and row."""


@dataclass(frozen=True)
class CodeMapping:
    """One source code and the SNOMED CT / dm+d code the rules should see instead.

    `tty` is the RxNorm term type of the source code (None for LOINC).
    """

    system: str
    source_code: str
    source_display: str
    target_code: str
    target_codelist: str
    unit: str | None
    tty: str | None = None


@dataclass(frozen=True)
class CodeMap:
    """One versioned map from a source code system, with where its meanings were checked."""

    name: str
    system: str
    version: str
    source: str
    mappings: tuple[CodeMapping, ...]


def canonical_system(uri: str) -> str:
    """A code-system URI as the maps and the event layer compare it.

    Case-insensitive, `https` as `http`, without a `|version` or `/version/...` tail or a
    trailing slash, and SNOMED CT's edition URIs (`.../sct/<module>`) as plain SNOMED CT.
    Mirrors `CANONICAL_SYSTEM_SQL` in `houseofcare.population.events`.
    """
    text = uri.strip().lower()
    text = re.sub(r"^https:", "http:", text)
    text = re.sub(r"[|].*$", "", text)
    text = re.sub(r"/version/.*$", "", text)
    text = re.sub(r"/+$", "", text)
    return re.sub(r"^http://snomed[.]info/sct/[0-9]+$", "http://snomed.info/sct", text)


def canonical_system_sql(column: str) -> str:
    """SQL for `canonical_system(column)`, for the event layer.

    Portable (lower, trim and anchored regexp_replace only, no backslashes), so it runs on every
    engine the same way.
    """
    expression = f"lower(trim({column}))"
    for pattern, replacement in (
        ("^https:", "http:"),
        ("[|].*$", ""),
        ("/version/.*$", ""),
        ("/+$", ""),
        ("^http://snomed[.]info/sct/[0-9]+$", "http://snomed.info/sct"),
    ):
        expression = f"regexp_replace({expression}, '{pattern}', '{replacement}')"
    return expression


def unknown_systems(counts: Mapping[str, int]) -> dict[str, int]:
    """Of row counts per recorded system URI, those no rule reads and no map translates,
    per canonical system: the codes that cannot reach a register or a care gap."""
    known = set(SNOMED_SYSTEMS) | {m.system for m in packaged_code_maps().values()}
    unknown: dict[str, int] = {}
    for uri, count in counts.items():
        system = canonical_system(uri)
        if system not in known:
            unknown[system] = unknown.get(system, 0) + count
    return dict(sorted(unknown.items()))


def check_term_type(tty: str, display: str, where: str) -> None:
    """Reject an RxNorm term type that is unknown or that the name's form contradicts."""
    if tty not in RXNORM_TERM_TYPES:
        raise CodeMapError(
            f"{where}: tty {tty!r} is not one of {', '.join(sorted(RXNORM_TERM_TYPES))}"
        )
    branded = display.endswith("]")
    pack = display.startswith("{") and " Pack" in display
    if branded != (tty in {"SBD", "BPCK"}) or pack != (tty in {"GPCK", "BPCK"}):
        raise CodeMapError(
            f"{where}: tty {tty} does not fit the name {display!r} "
            "(a branded name ends in '[Brand]', a pack is written '{...} Pack')"
        )


def read_map_csv(
    path: Path, system: str, codelists: Mapping[str, Codelist]
) -> tuple[CodeMapping, ...]:
    """Read one map CSV, rejecting malformed codes and targets outside their codelist."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CodeMapError(f"{path}: map file not found") from None
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    columns = MAP_COLUMNS[system]
    if header is None or tuple(h.strip().lower() for h in header) != columns:
        raise CodeMapError(f"{path}: row 1: header must be {','.join(columns)!r}")
    source_format = SOURCE_CODE_FORMATS[system]
    seen_at: dict[str, int] = {}
    rows: list[CodeMapping] = []
    for row_number, row in enumerate(reader, start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        where = f"{path}: row {row_number}"
        if len(row) != len(columns):
            raise CodeMapError(f"{where}: expected {len(columns)} fields, found {len(row)}")
        cells = dict(zip(columns, (cell.strip() for cell in row), strict=True))
        source_code, display = cells["source_code"], cells["source_display"]
        target, codelist_name, unit = cells["target_code"], cells["target_codelist"], cells["unit"]
        tty = cells.get("tty")
        if not source_format.match(source_code):
            raise CodeMapError(f"{where}: source_code {source_code!r} is not a code of {system}")
        if system == LOINC and not loinc_check_digit_ok(source_code):
            raise CodeMapError(f"{where}: source_code {source_code} fails the LOINC check digit")
        if not display:
            raise CodeMapError(f"{where}: source_display is empty (name the code as cited)")
        if tty is not None:
            check_term_type(tty, display, where)
        if not SNOMED_CT_ID.match(target):
            raise CodeMapError(f"{where}: target_code {target!r} is not a SNOMED CT concept id")
        codelist = codelists.get(codelist_name)
        if codelist is None:
            raise CodeMapError(f"{where}: target_codelist {codelist_name!r} is not a codelist")
        if target not in codelist:
            raise CodeMapError(f"{where}: target_code {target} is not in {codelist_name}")
        if unit and system != LOINC:
            raise CodeMapError(f"{where}: unit is only for readings (LOINC), not {system}")
        if "'" in unit:
            raise CodeMapError(f"{where}: unit {unit!r} has a quote")
        if source_code in seen_at:
            raise CodeMapError(
                f"{where}: source_code {source_code} is repeated "
                f"(first at row {seen_at[source_code]})"
            )
        seen_at[source_code] = row_number
        rows.append(
            CodeMapping(system, source_code, display, target, codelist_name, unit or None, tty)
        )
    if not rows:
        raise CodeMapError(f"{path}: map has no rows")
    return tuple(rows)


def load_code_maps(
    directory: Path = MAP_DIR, codelists: Mapping[str, Codelist] | None = None
) -> dict[str, CodeMap]:
    """Every map named in `index.toml` of `directory`, validated against `codelists`."""
    known = packaged_codelists() if codelists is None else codelists
    index_path = directory / "index.toml"
    index = read_toml(index_path, CodeMapError, "code map index not found")
    maps: dict[str, CodeMap] = {}
    systems: set[str] = set()
    for position, entry in enumerate(index.get("map", []), start=1):
        where = f"{index_path}: map #{position}"
        missing = {"name", "file", "system", "version", "source"} - entry.keys()
        if missing:
            raise CodeMapError(f"{where}: missing {', '.join(sorted(missing))}")
        name = entry["name"]
        if name in maps:
            raise CodeMapError(f"{where}: map {name!r} is declared twice")
        system = canonical_system(entry["system"])
        if system not in SOURCE_CODE_FORMATS:
            raise CodeMapError(
                f"{where}: system {entry['system']!r} is not one of {sorted(SOURCE_CODE_FORMATS)}"
            )
        if system in systems:
            raise CodeMapError(f"{where}: system {system} has a map already")
        systems.add(system)
        if not str(entry["source"]).strip():
            raise CodeMapError(f"{where}: source is empty (cite where the codes were checked)")
        maps[name] = CodeMap(
            name=name,
            system=system,
            version=str(entry["version"]),
            source=entry["source"],
            mappings=read_map_csv(directory / entry["file"], system, known),
        )
    return maps


@cache
def packaged_code_maps() -> Mapping[str, CodeMap]:
    """The maps shipped in the package (loaded once per process)."""
    return MappingProxyType(load_code_maps())
