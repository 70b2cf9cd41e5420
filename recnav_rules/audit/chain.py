"""Canonical JSON (RFC 8785) and the hash chain that makes the decision log tamper-evident.

Every record is the canonical JSON of ``{"decision": BODY, "decision_id": ID, "index": {"as_of",
"outcome", "policy_id", "subject_key"}, "prev_hash": H, "recorded_at": T, "seq": N}``; its hash is the sha256 of those bytes, and ``prev_hash`` is the
hash of the record before it (``GENESIS`` for the first). Because the keys sort as written, the
record text is the canonical body with the header appended, so the expensive part (the body) can be
canonicalised anywhere — in a batch worker, outside the database lock — and only the header is
added under the lock. The ``index`` repeats the body's fields that the database's lookup columns
hold, so that verification can check those columns from the header alone, without parsing the body.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = [
    "GENESIS",
    "Header",
    "Index",
    "canonical_json",
    "parse_header",
    "record_hash",
    "record_text",
]

GENESIS = "0" * 64
"""The ``prev_hash`` of a log's first record."""

_HEADER = re.compile(
    r',"decision_id":"([0-9a-f-]{36})",'
    r'"index":\{"as_of":"([0-9]{4}-[0-9]{2}-[0-9]{2})","outcome":"([a-z]+)","policy_id":"([a-z][a-z0-9-]{0,63})",'
    r'"subject_key":(?:null|"([0-9a-f]{64})")\},'
    r'"prev_hash":"([0-9a-f]{64})","recorded_at":"([0-9T:.Z-]{20,32})","seq":([0-9]{1,19})}\Z'
)
_PREFIX = '{"decision":{'


_SAFE_INT = 2**53 - 1


def _plain(value: Any) -> bool:
    """True when the standard library's sorted compact JSON of ``value`` is already RFC 8785: no
    floats, integers within IEEE double precision, and no key character at or above U+E000 (where
    code-point order and RFC 8785's UTF-16 order can differ)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_SAFE_INT <= value <= _SAFE_INT)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not (key.isascii() or max(key) < "\ue000") or not _plain(item):
                return False
        return True
    if kind is list or kind is tuple:
        return all(_plain(item) for item in value)
    return False


def canonical_json(value: Any, *, plain_keys: frozenset[str] = frozenset()) -> str:
    """``value`` in the JSON Canonicalization Scheme (RFC 8785), as text.

    When nothing in ``value`` needs RFC 8785's own number or key-order rules (``_plain``), the
    standard library's C encoder gives the same bytes and is used; otherwise the ``rfc8785``
    package. ``plain_keys`` names top-level keys of a mapping ``value`` whose values the caller
    built from strings, booleans, None, small integers and ASCII identifier keys only, so their
    check is skipped. Raises ``ValueError`` for values JSON cannot hold (NaN, integers beyond
    2**53, lone surrogates, non-JSON types).
    """
    if type(value) is dict and plain_keys:
        plain = all(
            type(key) is str and key.isascii() and (key in plain_keys or _plain(item)) for key, item in value.items()
        )
    else:
        plain = _plain(value)
    if plain:
        try:
            text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a string holds a lone surrogate, which JSON cannot carry") from None
        return text
    try:
        import rfc8785  # a core dependency, imported only when the fast path does not apply
    except ImportError:
        raise ValueError("this value (a float, a very large integer or a key beyond U+E000) needs the rfc8785 package: pip install rfc8785") from None
    try:
        return rfc8785.dumps(value).decode("utf-8")
    except (rfc8785.CanonicalizationError, TypeError, UnicodeError) as exc:
        raise ValueError(f"not canonical JSON: {exc}") from None


class Index(NamedTuple):
    """The body's fields that the lookup columns hold (slug, date, enum and hex values only)."""

    as_of: str
    outcome: str
    policy_id: str
    subject_key: str | None


def record_text(body_json: str, decision_id: str, index: Index, prev_hash: str, recorded_at: str, seq: int) -> str:
    """The canonical JSON of a whole record, from its canonical body and its header fields."""
    subject = "null" if index.subject_key is None else f'"{index.subject_key}"'
    return (
        f'{{"decision":{body_json},"decision_id":"{decision_id}",'
        f'"index":{{"as_of":"{index.as_of}","outcome":"{index.outcome}","policy_id":"{index.policy_id}","subject_key":{subject}}},'
        f'"prev_hash":"{prev_hash}","recorded_at":"{recorded_at}","seq":{seq}}}'
    )


def record_hash(text: str) -> str:
    """sha256 (hex) of a record's canonical JSON."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Header:
    """The chain fields of a stored record, read back from its text."""

    decision_id: str
    index: Index
    prev_hash: str
    recorded_at: str
    seq: int


def parse_header(text: str) -> Header | None:
    """The header of a record's text, or None when the text is not a record's shape."""
    if not text.startswith(_PREFIX):
        return None
    at = text.rfind(',"decision_id":"')  # the header's: a nested key is inside the body, before it
    found = _HEADER.match(text, at) if at > 0 else None
    if found is None:
        return None
    g = found.groups()
    return Header(g[0], Index(g[1], g[2], g[3], g[4]), g[5], g[6], int(g[7]))
