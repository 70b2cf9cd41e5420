"""Checking a decision log's hash chain, and saying how it was broken.

Walks the records in chain order from the anchor (seq 0 and the genesis hash, or the last record
``prune`` removed). Each record's text must hash to its stored hash, hold the seq and the
previous record's hash it should, agree with the columns it is found by, and name a context
(``record``: what all records of one loaded policy share, in ``blobs``) that is there and still
hashes to its name; the last record must be the head the log recorded. The first failure is named with its seq and decision id and one of:

- ``edited``: a record's content no longer matches its hash, its columns disagree with its
  content, its context is missing or was changed, or it was changed and re-hashed (the next
  record no longer links to it);
- ``deleted``: a record is missing (later records are not), or the log ends before its head;
- ``reordered``: records are present but out of chain order;
- ``inserted``: a record is in the log that is not part of the chain.

An auditor's checkpoint (``seq`` and ``hash`` kept elsewhere) is checked too: the record at that
seq must still have that hash, which proves nothing before it changed, even if an attacker
rewrote the rest of the chain consistently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from recnav_rules.audit.chain import GENESIS, Header, parse_header, record_hash
from recnav_rules.audit.store import Store, StoredRow

__all__ = ["VerifyResult", "verify_store"]


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of ``DecisionLog.verify()``. True when the chain is intact."""

    ok: bool
    records: int
    """How many records were checked (up to the first failure)."""
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    decision_id: str | None = None
    how: str | None = None
    """``edited``, ``deleted``, ``reordered`` or ``inserted`` when not ok."""
    message: str = ""

    def __bool__(self) -> bool:
        return self.ok

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "records": self.records,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "first_bad_seq": self.first_bad_seq,
            "decision_id": self.decision_id,
            "how": self.how,
            "message": self.message,
        }


def _columns_agree(row: StoredRow, header: Header) -> bool:
    """The lookup columns hold what the (hashed) header says."""
    return (
        header.decision_id == row.decision_id
        and header.recorded_at == row.recorded_at
        and header.seq == row.seq
        and header.index == (row.as_of, row.outcome, row.policy_id, row.subject_key)
    )


class _Walk:
    def __init__(self, store: Store, checkpoint: tuple[int, str] | None) -> None:
        self.store = store
        self.checkpoint = checkpoint
        self.anchor_seq, self.anchor_hash = store.anchor()
        self.count = 0
        self.prev_hash = self.anchor_hash
        self.expected = self.anchor_seq + 1
        self.prev_row: StoredRow | None = None
        self.prev_header: Header | None = None
        self.checkpoint_seen = False
        self.contexts: dict[str, str | None] = {}
        """Each context named so far: None when sound, else what is wrong with it."""

    def fail(self, seq: int, decision_id: str | None, how: str, message: str) -> VerifyResult:
        return VerifyResult(False, self.count, self.expected - 1, self.prev_hash, seq, decision_id, how, message)

    def run(self) -> VerifyResult:
        rows = self.store.rows(0)
        for row in rows:
            header = parse_header(row.record)
            if header is None or record_hash(row.record) != row.hash:
                return self.fail(row.seq, row.decision_id, "edited", f"record {row.seq} was edited: its content no longer matches its hash")
            if header.seq != self.expected:
                return self.out_of_place(row, header, rows)
            if header.prev_hash != self.prev_hash:
                return self.broken_link(row)
            if not _columns_agree(row, header):
                return self.fail(row.seq, row.decision_id, "edited", f"record {row.seq} was edited: its columns disagree with its hashed content")
            problem = self.context_problem(header.context)
            if problem is not None:
                return self.fail(row.seq, row.decision_id, "edited", f"record {row.seq}'s context {problem}")
            if self.checkpoint is not None and row.seq == self.checkpoint[0]:
                self.checkpoint_seen = True
                if row.hash != self.checkpoint[1]:
                    return self.fail(
                        row.seq, row.decision_id, "edited",
                        f"record {row.seq} does not have the checkpoint's hash: the chain up to it was rewritten",
                    )
            self.count += 1
            self.prev_hash = row.hash
            self.prev_row, self.prev_header = row, header
            self.expected += 1
        return self.finish()

    def context_problem(self, digest: str) -> str | None:
        """What is wrong with the context a record names, or None. Each is read and hashed once."""
        if digest not in self.contexts:
            content = self.store.get_blob(digest)
            if content is None:
                self.contexts[digest] = f"({digest[:12]}) is missing from the log"
            elif hashlib.sha256(content.encode("utf-8")).hexdigest() != digest:
                self.contexts[digest] = f"({digest[:12]}) was edited: its content no longer matches its hash"
            else:
                self.contexts[digest] = None
        return self.contexts[digest]

    def out_of_place(self, row: StoredRow, header: Header, rest: Iterator[StoredRow]) -> VerifyResult:
        if header.seq > self.expected:
            later = {h.seq for r in rest if (h := parse_header(r.record)) is not None}
            if any(self.expected <= s < header.seq for s in later):
                return self.fail(
                    row.seq, row.decision_id, "reordered",
                    f"record {self.expected} is out of order: record {header.seq} comes where it should be",
                )
            missing = f"record {self.expected}" if header.seq == self.expected + 1 else f"records {self.expected} to {header.seq - 1}"
            return self.fail(self.expected, None, "deleted", f"{missing} deleted: the chain jumps from {self.expected - 1} to {header.seq}")
        if self.prev_row is not None and self.prev_header is not None and self.prev_header.seq == header.seq:
            return self.fail(
                self.prev_row.seq, self.prev_row.decision_id, "inserted",
                f"record {self.prev_row.seq} was inserted: it is not part of the chain (the next record holds its seq)",
            )
        return self.fail(
            row.seq, row.decision_id, "inserted",
            f"record {row.seq} was inserted: it repeats record {header.seq}, which the chain has already passed",
        )

    def broken_link(self, row: StoredRow) -> VerifyResult:
        if self.prev_row is None:
            return self.fail(
                row.seq, row.decision_id, "edited",
                f"record {row.seq} does not link to the log's anchor (seq {self.anchor_seq}): the anchor or the record was edited",
            )
        return self.fail(
            self.prev_row.seq, self.prev_row.decision_id, "edited",
            f"record {self.prev_row.seq} was edited and its hash recomputed: record {row.seq} no longer links to it",
        )

    def finish(self) -> VerifyResult:
        head_seq, head_hash = self.store.head()
        last = self.expected - 1
        if head_seq > last:
            missing = f"record {head_seq}" if head_seq == last + 1 else f"records {last + 1} to {head_seq}"
            return self.fail(last + 1, None, "deleted", f"{missing} deleted: the log ends at {last} but its head is {head_seq}")
        if head_seq < last or head_hash != self.prev_hash:
            seq = head_seq + 1 if head_seq < last else last
            return self.fail(seq, None, "inserted" if head_seq < last else "edited", f"the log's head (seq {head_seq}) does not match its last record ({last})")
        if self.checkpoint is not None and not self.checkpoint_seen:
            seq, digest = self.checkpoint
            if seq == self.anchor_seq and digest == self.anchor_hash:
                pass
            elif seq > last:
                return self.fail(seq, None, "deleted", f"the checkpoint names record {seq}, but the log ends at {last}")
            elif seq == 0 and digest == GENESIS:
                pass
            elif seq < self.anchor_seq:
                message = f"{self.count} records intact from the prune anchor at seq {self.anchor_seq}; the checkpoint at seq {seq} is before it (pruned)"
                return VerifyResult(True, self.count, last, self.prev_hash, message=message)
            else:
                return self.fail(seq, None, "edited", f"the checkpoint at seq {seq} does not match the log")
        return VerifyResult(True, self.count, last, self.prev_hash, message=f"{self.count} records intact, head {last} {self.prev_hash}")


def verify_store(store: Store, checkpoint: tuple[int, str] | None = None) -> VerifyResult:
    """Check the whole chain (and ``checkpoint``, an auditor's ``(seq, hash)``, when given)."""
    return _Walk(store, checkpoint).run()
