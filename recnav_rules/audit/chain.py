"""Canonical JSON (RFC 8785) and the hash chain that makes the decision log tamper-evident.

Every record is the canonical JSON of ``{"context": C, "decision": BODY, "decision_id": ID,
"index": {"as_of", "outcome", "policy_id", "subject_key"}, "prev_hash": H, "recorded_at": T,
"seq": N}``; its hash is the sha256 of those bytes, and ``prev_hash`` is the hash of the record
before it (``GENESIS`` for the first). ``context`` is the sha256 of what all records of one loaded
policy share, stored once in the log (``record.py``). Because the keys sort as written, the record
text is the context, the canonical body and the header put together, so the expensive part (the
body) can be canonicalised anywhere — in a batch worker, outside the database lock — and only the
header is added under the lock. The ``index`` repeats the body's fields that the database's lookup
columns hold, so that verification can check those columns, and the context, from the record's
first and last bytes alone, without parsing the body.
"""

from __future__ import annotations

import hashlib
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
_PREFIX = re.compile(r'\{"context":"([0-9a-f]{64})","decision":\{')


def canonical_json(value: Any, *, floats: bool | None = None) -> str:
    """``value`` in the JSON Canonicalization Scheme (RFC 8785), as text: the library's one
    canonical form (``recnav_rules.canonical``; dates become ISO text). ``floats=False`` promises
    the value holds no float. Raises ``ValueError`` for values JSON cannot hold."""
    from recnav_rules.canonical import canonical_bytes

    try:
        return canonical_bytes(value, floats=floats).decode("utf-8")
    except (TypeError, ValueError) as exc:  # orjson's JSONEncodeError is a TypeError; rfc8785's errors are ValueErrors
        raise ValueError(f"not canonical JSON: {exc}") from None


class Index(NamedTuple):
    """The body's fields that the lookup columns hold (slug, date, enum and hex values only)."""

    as_of: str
    outcome: str
    policy_id: str
    subject_key: str | None


def record_text(context: str, body_json: str, decision_id: str, index: Index, prev_hash: str, recorded_at: str, seq: int) -> str:
    """The canonical JSON of a whole record, from its context's sha256, its canonical body and its header fields."""
    subject = "null" if index.subject_key is None else f'"{index.subject_key}"'
    return (
        f'{{"context":"{context}","decision":{body_json},"decision_id":"{decision_id}",'
        f'"index":{{"as_of":"{index.as_of}","outcome":"{index.outcome}","policy_id":"{index.policy_id}","subject_key":{subject}}},'
        f'"prev_hash":"{prev_hash}","recorded_at":"{recorded_at}","seq":{seq}}}'
    )


def record_hash(text: str) -> str:
    """sha256 (hex) of a record's canonical JSON."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(slots=True)  # not frozen: verify makes a million, and a frozen dataclass is slower to make
class Header:
    """The chain fields of a stored record, and the context it names, read back from its text."""

    context: str
    decision_id: str
    index: Index
    prev_hash: str
    recorded_at: str
    seq: int


def parse_header(text: str) -> Header | None:
    """The header of a record's text, or None when the text is not a record's shape."""
    start = _PREFIX.match(text)
    if start is None:
        return None
    at = text.rfind(',"decision_id":"')  # the header's: a nested key is inside the body, before it
    found = _HEADER.match(text, at) if at > 0 else None
    if found is None:
        return None
    g = found.groups()
    return Header(start.group(1), g[0], Index(g[1], g[2], g[3], g[4]), g[5], g[6], int(g[7]))
