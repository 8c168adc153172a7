"""The help pages' words: what each page does and who can see what, per role.

The words are data (`help.toml` beside this module), checked when loaded: every role has an
entry and every page names a declared page route (`api/route_access.py`) and the roles that
may open it. What a role may do, for whom, is read from the access policy itself
(`web.home.permissions`), as the home page does, so that part of the help cannot drift from
the rules; a test checks the pages' role lists against the running app (hazard H-057).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from houseofcare.api.route_access import ROUTE_ACCESS
from houseofcare.careplan.policy import Policy
from houseofcare.datafiles import read_toml, validation_problems
from houseofcare.store.models import Role
from houseofcare.web.home import Permission, permissions

HELP_FILE: Final = Path(__file__).with_name("help.toml")


class HelpError(ValueError):
    """The help file is missing, malformed or names a page or role that does not exist."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HelpPage(_Frozen):
    """One page as the help describes it."""

    key: str = Field(pattern=r"^[a-z-]+$")
    name: str = Field(min_length=1)
    path: str = Field(min_length=1)
    roles: tuple[Role, ...] = Field(min_length=1)
    what: str = Field(min_length=1)
    who: str = Field(min_length=1)

    @model_validator(mode="after")
    def _declared(self) -> HelpPage:
        if ("GET", self.path) not in ROUTE_ACCESS:
            raise ValueError(f"{self.path} is not a declared page (api/route_access.py)")
        return self


class HelpRole(_Frozen):
    """One role's words."""

    name: str = Field(min_length=1)
    intro: str = Field(min_length=1)
    never: str = Field(min_length=1)


class HelpFile(_Frozen):
    version: int = Field(ge=1)
    page: tuple[HelpPage, ...]
    roles: dict[Role, HelpRole]

    @model_validator(mode="after")
    def _every_role(self) -> HelpFile:
        missing = sorted(set(Role) - set(self.roles))
        if missing:
            raise ValueError(f"every role needs an entry; missing: {', '.join(missing)}")
        keys = [p.key for p in self.page]
        if len(keys) != len(set(keys)):
            raise ValueError("two pages share a key")
        return self


def load_help(path: Path = HELP_FILE) -> HelpFile:
    """Read and check a help file; errors name the file and the field."""
    raw = read_toml(path, HelpError, "no help file here")
    try:
        return HelpFile.model_validate(raw)
    except ValidationError as exc:
        raise HelpError(f"{path}: {validation_problems(exc)}") from None


@cache
def packaged_help() -> HelpFile:
    return load_help()


@dataclass(frozen=True)
class RoleHelp:
    """One role's help page."""

    role: Role
    words: HelpRole
    #: The pages the role may open.
    pages: tuple[HelpPage, ...]
    #: What the policy lets the role do, for whom (empty for a role barred from identifiable
    #: data: its only grants are aggregate figures).
    permissions: tuple[Permission, ...]
    identifiable: bool


def role_help(policy: Policy, role: Role) -> RoleHelp:
    """The help for `role`, its permissions read from `policy`."""
    data = packaged_help()
    return RoleHelp(
        role=role,
        words=data.roles[role],
        pages=tuple(p for p in data.page if role in p.roles),
        permissions=tuple(permissions(policy, role)),
        identifiable=policy.identifiable(role),
    )


def role_names() -> dict[Role, str]:
    """Each role's name as the help says it, in the order of `Role`."""
    data = packaged_help()
    return {role: data.roles[role].name for role in Role}
