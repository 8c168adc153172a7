"""Reading the TOML data files of codes, rules and policies, with errors naming the file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError


def read_toml(path: Path, error: type[ValueError], missing: str) -> dict[str, Any]:
    """The parsed file; a missing or malformed file raises `error` naming the path."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: {missing}") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: {exc}") from None


def validation_problems(exc: ValidationError) -> str:
    """Pydantic's errors as one line: `field: message; field: message`."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'rule'}: {e['msg']}" for e in exc.errors()
    )
