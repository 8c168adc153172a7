"""Which area a plan covers, from what a user typed: `all`, a locality (a local authority, by
name or code) or a practice (by its analytic id).

A practice's locality is the local authority where most of its people live
(`commissioning.population.practices`), so the choices are exactly the population page's.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Final

import pyarrow.csv as pacsv

from houseofcare.commissioning.plan_model import Area
from houseofcare.commissioning.population import LSOA_FILE, Practice

EVERYONE: Final = Area("all", None, "all practices")
#: How many practices an error message lists before it says how many more there are.
LISTED: Final = 20


class UnknownArea(ValueError):
    """The area names no practice or locality there is; the message lists the choices."""


@cache
def locality_codes() -> dict[str, str]:
    """Local authority name → its ONS code (E06…, E07…, E08…, E09…), from the packaged
    LSOA lookup."""
    table = pacsv.read_csv(
        Path(str(LSOA_FILE)),
        convert_options=pacsv.ConvertOptions(include_columns=["LAD_CODE", "LAD_NAME"]),
    )
    names = table["LAD_NAME"].to_pylist()
    codes = table["LAD_CODE"].to_pylist()
    return {str(n): str(c) for n, c in zip(names, codes, strict=True)}


def localities(practices: Sequence[Practice]) -> list[Area]:
    """The localities with practices, by name. A locality's `code` is its local authority's
    name, as the plan's frames hold it (`plan_people.locality`, `Practice.locality`); its
    ONS code is accepted as another way to name it (`locality_codes`)."""
    names = sorted({p.locality for p in practices if p.locality})
    return [Area("locality", n, n) for n in names]


def resolve_area(choice: str | None, practices: Sequence[Practice]) -> Area:
    """The area `choice` names (case aside), or UnknownArea listing the choices."""
    wanted = (choice or "all").strip()
    key = wanted.casefold()
    if key in {"all", "everyone", ""}:
        return EVERYONE
    for p in practices:
        if p.practice_id.casefold() == key:
            return Area("practice", p.practice_id, p.name)
    codes = locality_codes()
    for area in localities(practices):
        if key in {area.name.casefold(), codes.get(area.name, "").casefold()}:
            return area
    raise UnknownArea(f"no practice or locality {wanted!r}; choose " + choices(practices))


def choices(practices: Sequence[Practice]) -> str:
    """The areas there are, in words (for an error message)."""
    codes = locality_codes()
    places = ", ".join(
        f"{a.name} ({codes[a.name]})" if a.name in codes else a.name for a in localities(practices)
    )
    listed = ", ".join(f"{p.practice_id} ({p.name})" for p in practices[:LISTED])
    more = f" and {len(practices) - LISTED} more" if len(practices) > LISTED else ""
    return f"`all`; a locality: {places or '(none)'}; or a practice id: {listed or '(none)'}{more}"
