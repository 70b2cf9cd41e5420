"""Reading facts from a JSON or YAML file (or standard input), with limits and located errors."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from recnav_rules.engine.source import DEFAULT_LIMITS, load_yaml_text
from recnav_rules.errors import PolicyError, printable

__all__ = ["DuplicateKeyError", "loads_json", "loads_json_unvouched", "parse_facts_text", "read_facts", "read_json_line"]


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice (JSON readers usually keep the last silently)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise DuplicateKeyError(key)
        found[key] = value
    return found


_CAREFUL: Any = object()
"""What ``_fast`` gives when the careful reader must read the text."""

_SHAPES = bytes.maketrans(b"123456789{", b"000000000[")
"""Digits as 0 and braces as brackets, so that one pass finds digit runs and counts brackets."""

_LONG_DIGIT_RUN = b"0" * 19
"""orjson reads an integer beyond 64 bits as a float; json reads it as an int. No integer of
at most 18 digits is beyond 64 bits, so a line with no run of 19 digits anywhere reads alike."""

_MAX_FAST_BRACKETS = 256
"""orjson reads nesting up to 1,024 levels (without limit before 3.9.15); json stops where
Python's recursion limit does. A line with at most this many brackets in all is nested at most
this deep: both read it alike, and deeper lines never reach orjson."""


def _fast(data: bytes) -> Any:
    """``json.loads(data)`` read by orjson, or ``_CAREFUL`` when this function cannot vouch that
    the value is exactly what the careful reader gives and that no object repeats a key.

    The duplicate check is exact: in valid JSON a colon outside a string separates a key from
    its value, and nothing else. orjson writes one colon per member and every colon inside a
    string as it is, so ``orjson.dumps(value)`` holds (members read) + (colons inside strings
    read) colons, while the line holds (members given) + (colons written inside strings). When
    the line escapes no colon (no ``\u003a``), the colons inside strings are the same on both
    sides, and a key given twice leaves one member (and all of its value) out of ``value``:
    the counts differ exactly when a key was repeated. A line that is exactly what orjson writes
    back (compact JSON) needs no count: a repeated key would have made the two differ. Anything
    unusual (an escaped colon, a 19-digit run, deep nesting, anything orjson refuses) goes to
    the careful reader instead.
    """
    shapes = data.translate(_SHAPES)  # first: orjson before 3.9.15 has no nesting limit of its own
    if shapes.count(b"[") > _MAX_FAST_BRACKETS or _LONG_DIGIT_RUN in shapes:
        return _CAREFUL
    return _keys_once(data)


def _keys_once(data: bytes) -> Any:
    """orjson's reading of ``data`` when no object in it repeats a key (``_fast``'s exact
    check), else ``_CAREFUL``; numbers and nesting not looked at."""
    read = _read_once(data, 0)
    return _CAREFUL if read is None else read[0]


def _read_once(data: bytes, option: int) -> tuple[Any, bytes] | None:
    """(orjson's reading of ``data``, the value written back by orjson with ``option``) when no
    object in it repeats a key (``_fast``'s exact check: the colons are counted, and no option
    changes how many there are), else None."""
    if b"\\" in data and b"\\u003" in data:  # \u003a may be an escaped colon
        return None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:  # bad JSON, a BOM, NaN, a lone surrogate, ...: json decides
        return None
    try:
        written = orjson.dumps(value, option=option)
    except orjson.JSONEncodeError:  # pragma: no cover  # orjson writes what it reads
        return None
    if written == data:  # written as orjson writes it: every member read back (no count needed)
        return value, written
    if written.count(b":") != data.count(b":"):  # a key given twice (never a false alarm)
        return None
    return value, written


def loads_json_unvouched(data: bytes) -> Any:
    """orjson's reading of one JSON line with every object's keys checked unique, or None when
    the line needs ``loads_json``. Unlike ``loads_json`` it does not vouch for numbers (an
    integer beyond 64 bits is read as a float) or for nesting deeper than Python's ``json``
    reads: only for facts that a policy without ``number`` facts then accepts in full — its
    generated program refuses every float and anything nested beyond a list of records, so
    what it accepts is exactly what ``loads_json`` gives. Whatever it refuses is read again
    by ``loads_json`` (the batch command does), so the errors are the same too."""
    value = _keys_once(data)
    return None if value is _CAREFUL else value


def read_json_line(data: bytes) -> tuple[Any, bytes] | None:
    """``loads_json_unvouched`` (the same value, the same conditions) with the value written
    back in canonical form: orjson with sorted keys, the RFC 8785 bytes of a value without
    floats (canonical.py) — what a batch line's facts digest is taken of when the facts as
    given are the checked facts (``NativeEngine.summary``). None when the line needs
    ``loads_json``. Costs one sorted write instead of the duplicate check's plain one."""
    return _read_once(data, orjson.OPT_SORT_KEYS)


def loads_json(text: str | bytes) -> Any:
    """``json.loads`` that refuses a key given twice in one object (``DuplicateKeyError``).

    Every JSON the library reads facts from goes through this: a file, a batch line, a request
    body. ``{"consent_to_referral": false, "consent_to_referral": true}`` is an error, never a
    consent.

    Most lines are read by orjson (about four times faster) with an exact check that no key is
    repeated (``_fast``); whatever that check cannot vouch for is read by ``json.loads`` with a
    hook that sees every key. The value and every error are the same either way: the careful
    reader gives the errors.
    """
    if isinstance(text, bytes):
        data: bytes | None = text
    else:
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: json decides
            data = None
    if data is not None:
        value = _fast(data)
        if value is not _CAREFUL:
            return value
    return json.loads(text, object_pairs_hook=_no_duplicates)


def _where(text: str, key: str) -> tuple[int | None, int | None]:
    """Line and column of the last occurrence of ``"key"`` as an object key, best effort."""
    found = None
    for match in re.finditer(re.escape(json.dumps(key)) + r"\s*:", text):
        found = match.start()
    if found is None:
        return None, None
    line = text.count("\n", 0, found) + 1
    return line, found - (text.rfind("\n", 0, found) + 1) + 1


def _depth(value: Any, limit: int, level: int = 0) -> bool:
    if level > limit:
        return False
    if isinstance(value, dict):
        return all(_depth(v, limit, level + 1) for v in value.values())
    if isinstance(value, list):
        return all(_depth(v, limit, level + 1) for v in value)
    return True


def parse_facts_text(text: str, name: str) -> dict[str, Any]:
    """Facts from JSON (when the text starts with '{') or YAML. Raises PolicyError, located."""
    if len(text.encode("utf-8", errors="replace")) > DEFAULT_LIMITS.max_bytes:
        raise PolicyError.at(name, None, None, "too-large", f"facts file is larger than {DEFAULT_LIMITS.max_bytes} bytes")
    if text.lstrip().startswith("{"):
        try:
            data = loads_json(text)
        except DuplicateKeyError as exc:
            line, column = _where(text, exc.key)
            raise PolicyError.at(name, line, column, "duplicate-key", f"key '{printable(exc.key)}' is given twice") from None
        except json.JSONDecodeError as exc:
            raise PolicyError.at(name, exc.lineno, exc.colno, "json-syntax", exc.msg) from None
        except RecursionError:
            raise PolicyError.at(name, None, None, "too-deep", "nesting is too deep to read") from None
        except ValueError:  # an integer of more digits than Python converts (4,300)
            raise PolicyError.at(name, None, None, "json-value", "a value cannot be read (a number too long?)") from None
        if not _depth(data, DEFAULT_LIMITS.max_depth):
            raise PolicyError.at(name, None, None, "too-deep", f"nesting deeper than {DEFAULT_LIMITS.max_depth} levels")
    else:
        data = load_yaml_text(text, name).data
    if not isinstance(data, dict):
        raise PolicyError.at(name, 1, 1, "not-a-mapping", "facts must be a mapping of fact names to values")
    return data


def read_facts(path: str) -> dict[str, Any]:
    """Facts from a file path, or from standard input when ``path`` is '-'."""
    from recnav_rules._io import read_text_bounded

    text = read_text_bounded(path, DEFAULT_LIMITS.max_bytes, what="facts file")
    return parse_facts_text(text, "<stdin>" if path == "-" else path)
