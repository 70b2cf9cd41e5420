"""Canonical JSON (RFC 8785, the JSON Canonicalization Scheme) and the digests taken of it.

Every digest the library records — of a policy, of the facts a decision read, of a decision-log
record — is the sha256 of the RFC 8785 form of a JSON value, so an auditor can recompute it with
any JCS implementation. Dates and date-times are written as ISO 8601 text first (JSON has no
dates).

Speed: for values that hold no floating-point numbers, orjson with sorted keys writes exactly
the RFC 8785 bytes (the tests check this against the ``rfc8785`` package with Hypothesis): keys
here are ASCII names, so code-point order is UTF-16 order, and orjson escapes strings as JCS
does. Floats are formatted differently by the two (JCS follows ECMAScript), so a value that may
hold a float goes through ``rfc8785`` itself. Integers must lie in the I-JSON range (±2⁵³−1).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

import orjson
import rfc8785

__all__ = ["MAX_SAFE_INTEGER", "canonical_bytes", "canonical_json", "digest_of", "digest_of_canonical", "has_float", "jsonable"]

MAX_SAFE_INTEGER = 2**53 - 1
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
_SORTED = orjson.OPT_SORT_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, dt.date):  # dt.datetime is a dt.date
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(value, key=repr)
    raise TypeError(f"{type(value).__name__} is not JSON")


def jsonable(value: Any) -> Any:
    """The value with dates as ISO text, tuples and sets as lists, keys as text."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, frozenset | set):
        return [jsonable(v) for v in sorted(value, key=repr)]
    return value


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, Mapping):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_float(v) for v in value)
    return False


has_float = _has_float  # public name: whether a JSON-like value holds a float anywhere


def canonical_bytes(value: Any, *, floats: bool | None = None, checked_times: bool = False) -> bytes:
    """The RFC 8785 bytes of a JSON-like value (dates allowed).

    ``floats=False`` is the caller's promise that the value holds no float (a policy with no
    ``number`` facts, say): the check is skipped. ``None`` looks. ``checked_times=True`` is the
    promise that every date-time came through ``read_datetime`` (no offset with seconds), so
    orjson's own ISO 8601 text, which then equals ``isoformat()``, is used.
    """
    if floats is None:
        floats = _has_float(value)
    if not floats:
        return orjson.dumps(value, default=_default, option=_SORTED if checked_times else _OPTIONS)
    return rfc8785.dumps(jsonable(value))


def canonical_json(value: Any) -> str:
    """The RFC 8785 text of a JSON-like value."""
    return canonical_bytes(value).decode("utf-8")


def digest_of(value: Any, *, floats: bool | None = None, checked_times: bool = False) -> str:
    """sha256 (hex) of the RFC 8785 form of ``value``."""
    if floats is False and checked_times:  # a decision's facts digest: ``canonical_bytes`` inlined
        return _sha256(orjson.dumps(value, default=_default, option=_SORTED)).hexdigest()
    return _sha256(canonical_bytes(value, floats=floats, checked_times=checked_times)).hexdigest()


def digest_of_canonical(data: bytes) -> str:
    """``digest_of`` a value whose RFC 8785 bytes the caller already holds (the batch reader's
    sorted write of a float-free line: ``facts_input.read_json_line``)."""
    return _sha256(data).hexdigest()


_sha256 = hashlib.sha256
