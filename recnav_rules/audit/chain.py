"""Canonical JSON (RFC 8785) and the hash chain that makes the decision log tamper-evident.

Every record is the canonical JSON of ``{"decision": BODY, "decision_id": ID, "prev_hash": H,
"recorded_at": T, "seq": N}``; its hash is the sha256 of those bytes, and ``prev_hash`` is the
hash of the record before it (``GENESIS`` for the first). Because the keys sort as written, the
record text is the canonical body with the header appended, so the expensive part (the body) can be
canonicalised anywhere — in a batch worker, outside the database lock — and only the header is
added under the lock.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GENESIS",
    "Header",
    "canonical_json",
    "parse_header",
    "record_hash",
    "record_text",
]

GENESIS = "0" * 64
"""The ``prev_hash`` of a log's first record."""

_HEADER = re.compile(
    r',"decision_id":"([0-9a-f-]{36})","prev_hash":"([0-9a-f]{64})","recorded_at":"([0-9T:.Z-]{20,32})","seq":([0-9]{1,19})}\Z'
)
_PREFIX = '{"decision":{'


# In the standard library's sorted compact output, a float (or an integer beyond IEEE double
# precision) is a number token with a fraction or exponent (or of 16+ digits) between JSON
# punctuation; characters at or above U+E000 are where code-point and UTF-16 key order can differ.
# Either sends the value to the full RFC 8785 encoder; a false alarm (such text inside a string)
# only costs time.
_NOT_PLAIN = re.compile(
    r"(?:\A|[:,\[])-?(?:[0-9]+(?:\.[0-9]+(?:e[-+]?[0-9]+)?|e[-+]?[0-9]+)|[0-9]{16,})(?=[,\]}]|\Z)|[\ue000-\U0010ffff]"
)


def canonical_json(value: Any) -> str:
    """``value`` in the JSON Canonicalization Scheme (RFC 8785), as text.

    The common case (no floats, no very large integers, nothing at or above U+E000) takes the
    standard library's C encoder, whose sorted compact output is then byte-for-byte RFC 8785;
    anything else goes through the ``rfc8785`` package. Raises ``ValueError`` for values JSON
    cannot hold (NaN, integers beyond 2**53, lone surrogates, non-JSON types).
    """
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if _NOT_PLAIN.search(text) is None:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a string holds a lone surrogate, which JSON cannot carry") from None
        return text
    import rfc8785  # to be a core dependency; imported lazily until it is

    try:
        return rfc8785.dumps(value).decode("utf-8")
    except (rfc8785.CanonicalizationError, TypeError, UnicodeError) as exc:
        raise ValueError(f"not canonical JSON: {exc}") from None


def record_text(body_json: str, decision_id: str, prev_hash: str, recorded_at: str, seq: int) -> str:
    """The canonical JSON of a whole record, from its canonical body and its header fields."""
    return (
        f'{{"decision":{body_json},"decision_id":"{decision_id}","prev_hash":"{prev_hash}",'
        f'"recorded_at":"{recorded_at}","seq":{seq}}}'
    )


def record_hash(text: str) -> str:
    """sha256 (hex) of a record's canonical JSON."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Header:
    """The chain fields of a stored record, read back from its text."""

    decision_id: str
    prev_hash: str
    recorded_at: str
    seq: int


def parse_header(text: str) -> Header | None:
    """The header of a record's text, or None when the text is not a record's shape."""
    if not text.startswith(_PREFIX):
        return None
    found = _HEADER.search(text)
    if found is None:
        return None
    return Header(found.group(1), found.group(2), found.group(3), int(found.group(4)))
