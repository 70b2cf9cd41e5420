"""JSON bytes for responses: ``orjson`` (the service extra) when present, else the standard library."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps", "loads"]

try:
    import orjson
except ModuleNotFoundError:  # pragma: no cover - the service extra installs it
    orjson = None  # type: ignore[assignment]


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON. The same document either way (orjson keeps key order and non-ASCII text)."""
    if orjson is not None:
        try:
            return orjson.dumps(value)
        except TypeError:  # a value orjson does not take (an int over 64 bits): the standard library does
            pass
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def loads(data: bytes) -> Any:
    """Parse JSON; raises ``json.JSONDecodeError`` or ``UnicodeDecodeError`` for a bad document.

    A document orjson refuses is parsed again by the standard library, which also gives the
    error its line and column (and takes what orjson does not, such as integers over 64 bits).
    """
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)
