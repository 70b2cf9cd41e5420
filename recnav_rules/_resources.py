"""Where the shipped data lives: the built-in policies and the JSON Schemas.

In a source checkout they are the repository's top-level ``policies/`` and ``schemas/``
folders; a built wheel carries copies under ``recnav_rules/_data/`` (see pyproject.toml's
force-include). This is the one place that knows both.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["policies_dir", "schema", "schemas_dir"]

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    shipped = _PACKAGE / "_data" / name
    if shipped.is_dir():
        return shipped
    checkout = _PACKAGE.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"recnav_rules is installed without its {name}/ folder")


def policies_dir() -> Path:
    """The folder of built-in policy files (``*.yaml``)."""
    return _data_dir("policies")


def schemas_dir() -> Path:
    """The folder of JSON Schemas (policy, decision, services, test cases)."""
    return _data_dir("schemas")


@cache
def schema(name: str) -> dict[str, Any]:
    """A shipped JSON Schema by file name, parsed once."""
    loaded: dict[str, Any] = json.loads((schemas_dir() / name).read_text(encoding="utf-8"))
    return loaded
