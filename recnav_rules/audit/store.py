"""What a decision-log database does, whichever it is (SQLite or PostgreSQL).

Tables (the same in both):

- ``records``: one row per decision — ``seq`` (the chain position, from 1), ``decision_id``,
  ``recorded_at``, ``policy_id``, ``as_of``, ``outcome``, ``subject_key`` (the columns it is found
  by), ``record`` (its canonical JSON, which holds all of those too) and ``hash``.
- ``blobs``: policy source texts, parameter sets and reference-data tables, each stored once under
  the sha256 of its content.
- ``log_meta``: the chain's ``head`` (last seq and hash) and ``anchor`` (where verification starts:
  seq 0 and the genesis hash, or the last record removed by ``prune``).
- ``checkpoints``: each head hash exported by ``checkpoint`` or left by ``prune``.

Appending chains the new records onto the head and writes them and the new head in one
transaction under the database's write lock, so concurrent writers keep one chain (a writer
reads the head only when another one moved it since its last append: ``SqlStore.append``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from recnav_rules.audit.chain import Index, record_hash, record_text
from recnav_rules.audit.record import PreparedRecord
from recnav_rules.errors import RecnavError

__all__ = ["DURABILITY", "Checkpoint", "DecisionLogError", "Store", "StoredRow", "chain_rows", "utc_now"]


class DecisionLogError(RecnavError):
    """The decision log cannot be opened, read or written (the message says which and why).

    A ``ValueError`` like every recnav_rules error. Raised for a missing log, a bad URL or option,
    a full disk, a read-only file, a lost database connection, or a log of an unknown shape.
    """


class StoredRow(NamedTuple):
    """One row of ``records``, as the database gives it (a tuple: cheap to make a million of)."""

    seq: int
    decision_id: str
    recorded_at: str
    policy_id: str
    as_of: str
    outcome: str
    subject_key: str | None
    record: str
    hash: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A chain position an auditor can keep elsewhere: record ``seq`` has hash ``hash``."""

    seq: int
    hash: str
    taken_at: str
    kind: str = "checkpoint"
    """``checkpoint`` (exported by ``checkpoint``) or ``prune`` (the last record ``prune`` removed)."""

    def to_dict(self) -> dict[str, object]:
        return {"seq": self.seq, "hash": self.hash, "taken_at": self.taken_at, "kind": self.kind}


DURABILITY = ("normal", "full")
"""A log's durability settings (``DecisionLog(durability=...)``; docs/audit.md says what each keeps)."""

COLUMNS = "seq, decision_id, recorded_at, policy_id, as_of, outcome, subject_key, record, hash"


_SECOND: tuple[int, str] = (-1, "")
"""The last whole second ``utc_now`` wrote, and its text (records come many a second)."""


def utc_now() -> str:
    """The current UTC time as ISO 8601 with microseconds and a ``Z`` (``2027-03-01T09:30:00.000000Z``)."""
    global _SECOND
    seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
    known, text = _SECOND  # one tuple read: safe across threads
    if known != seconds:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _SECOND = (seconds, text)
    return f"{text}.{micros:06d}Z"


def chain_rows(records: Sequence[PreparedRecord], head_seq: int, head_hash: str) -> list[StoredRow]:
    """The rows for ``records`` chained onto the head ``(head_seq, head_hash)``, all recorded now."""
    rows: list[StoredRow] = []
    seq, prev = head_seq, head_hash
    at = utc_now()  # the time of the transaction that stores them
    for rec in records:
        seq += 1
        text = record_text(rec.context, rec.body_json, rec.decision_id, Index(rec.as_of, rec.outcome, rec.policy_id, rec.subject_key), prev, at, seq)
        prev = record_hash(text)
        rows.append(StoredRow(seq, rec.decision_id, at, rec.policy_id, rec.as_of, rec.outcome, rec.subject_key, text, prev))
    return rows


class Store(Protocol):
    """The operations the log needs from its database."""

    location: str

    def append(self, records: Sequence[PreparedRecord]) -> int: ...
    def put_blob(self, digest: str, kind: str, content: str) -> None: ...
    def get_blob(self, digest: str) -> str | None: ...
    def rows(self, after_seq: int = 0) -> Iterator[StoredRow]: ...
    def row(self, decision_id: str) -> StoredRow | None: ...
    def find(
        self, *, policy_id: str | None, since: str | None, until: str | None, subject_key: str | None, limit: int | None
    ) -> list[StoredRow]: ...
    def head(self) -> tuple[int, str]: ...
    def anchor(self) -> tuple[int, str]: ...
    def add_checkpoint(self, checkpoint: Checkpoint) -> None: ...
    def checkpoints(self) -> list[Checkpoint]: ...
    def prune(self, before: str) -> Checkpoint | None: ...
    def close(self) -> None: ...
