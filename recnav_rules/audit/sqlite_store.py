"""The decision log in one SQLite file (the standard library's sqlite3, WAL mode).

Writers take the database's write lock with ``BEGIN IMMEDIATE`` before reading the chain's head,
so threads and processes appending to one file keep one chain; a writer waits up to
``BUSY_TIMEOUT_S`` for the lock. WAL mode with ``synchronous=NORMAL``: a committed record
survives the process being killed at any moment; a power cut may lose the last commits, never
the chain's consistency (see docs/audit.md).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from recnav_rules.audit.chain import GENESIS
from recnav_rules.audit.record import PreparedRecord
from recnav_rules.audit.store import COLUMNS, Checkpoint, DecisionLogError, StoredRow, chain_rows, utc_now

__all__ = ["SCHEMA", "SqliteStore"]

BUSY_TIMEOUT_S = 120.0
PAGE = 2000
T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    decision_id TEXT NOT NULL UNIQUE,
    recorded_at TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    as_of TEXT NOT NULL,
    outcome TEXT NOT NULL,
    subject_key TEXT,
    record TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_policy_time ON records (policy_id, recorded_at);
CREATE INDEX IF NOT EXISTS records_time ON records (recorded_at);
CREATE INDEX IF NOT EXISTS records_subject ON records (subject_key) WHERE subject_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS blobs (digest TEXT PRIMARY KEY, kind TEXT NOT NULL, content TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS log_meta (name TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (seq INTEGER NOT NULL, hash TEXT NOT NULL, taken_at TEXT NOT NULL, kind TEXT NOT NULL);
"""


class SqliteStore:
    """A decision log in a SQLite file. One connection, shared by threads under a lock."""

    def __init__(self, path: str, *, create: bool) -> None:
        self.location = path
        self._lock = threading.Lock()
        file = Path(path)
        if not create and not file.is_file():
            raise DecisionLogError(f"no decision log at {path}")
        if create and not file.parent.is_dir():
            raise DecisionLogError(f"cannot create the decision log {path}: its folder does not exist")
        try:
            self._conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise DecisionLogError(f"cannot open the decision log {path}: {exc}") from None
        try:
            self._setup(create)
        except DecisionLogError:
            self._conn.close()
            raise

    def _setup(self, create: bool) -> None:
        def setup() -> None:
            self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "records" in tables and "log_meta" in tables:
                if self._conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
                return
            if tables or not create:
                raise DecisionLogError(f"{self.location} is not a decision log (it has no records table)")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                for name in ("head", "anchor"):
                    self._conn.execute("INSERT OR IGNORE INTO log_meta VALUES (?, 0, ?)", (name, GENESIS))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

        self._guard("open", setup)

    def _guard(self, doing: str, action: Callable[[], T]) -> T:
        try:
            return action()
        except sqlite3.Error as exc:
            if self._conn.in_transaction:
                try:
                    self._conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise DecisionLogError(f"cannot {doing} the decision log {self.location}: {exc}") from None

    def _write(self, doing: str, action: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``action`` in a ``BEGIN IMMEDIATE`` transaction (the write lock), committing at the end."""

        def run() -> T:
            self._conn.execute("BEGIN IMMEDIATE")
            result = action(self._conn)
            self._conn.execute("COMMIT")
            return result

        with self._lock:
            return self._guard(doing, run)

    def _read(self, doing: str, action: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            return self._guard(doing, lambda: action(self._conn))

    def append(self, records: Sequence[PreparedRecord]) -> list[StoredRow]:
        def append(conn: sqlite3.Connection) -> list[StoredRow]:
            seq, head = conn.execute("SELECT seq, hash FROM log_meta WHERE name = 'head'").fetchone()
            rows = chain_rows(records, seq, head)
            conn.executemany(
                f"INSERT INTO records ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (r.seq, r.decision_id, r.recorded_at, r.policy_id, r.as_of, r.outcome, r.subject_key, r.record, r.hash)
                    for r in rows
                ],
            )
            if rows:
                conn.execute("UPDATE log_meta SET seq = ?, hash = ? WHERE name = 'head'", (rows[-1].seq, rows[-1].hash))
            return rows

        return self._write("write to", append)

    def put_blob(self, digest: str, kind: str, content: str) -> None:
        self._write(
            "write to",
            lambda c: c.execute("INSERT OR IGNORE INTO blobs (digest, kind, content) VALUES (?, ?, ?)", (digest, kind, content)),
        )

    def get_blob(self, digest: str) -> str | None:
        found = self._read("read", lambda c: c.execute("SELECT content FROM blobs WHERE digest = ?", (digest,)).fetchone())
        return str(found[0]) if found is not None else None

    def rows(self, after_seq: int = 0) -> Iterator[StoredRow]:
        def page_after(after: int) -> list[Any]:
            return self._read(
                "read",
                lambda c: c.execute(f"SELECT {COLUMNS} FROM records WHERE seq > ? ORDER BY seq LIMIT ?", (after, PAGE)).fetchall(),
            )

        last = after_seq
        while True:
            page = page_after(last)
            for raw in page:
                yield StoredRow(*raw)
            if len(page) < PAGE:
                return
            last = page[-1][0]

    def row(self, decision_id: str) -> StoredRow | None:
        found = self._read(
            "read", lambda c: c.execute(f"SELECT {COLUMNS} FROM records WHERE decision_id = ?", (decision_id,)).fetchone()
        )
        return StoredRow(*found) if found is not None else None

    def find(
        self, *, policy_id: str | None, since: str | None, until: str | None, subject_key: str | None, limit: int | None
    ) -> list[StoredRow]:
        where: list[str] = []
        params: list[Any] = []
        for clause, value in (
            ("policy_id = ?", policy_id),
            ("recorded_at >= ?", since),
            ("recorded_at < ?", until),
            ("subject_key = ?", subject_key),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = f"SELECT {COLUMNS} FROM records" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [StoredRow(*r) for r in self._read("read", lambda c: c.execute(sql, params).fetchall())]

    def _meta(self, name: str) -> tuple[int, str]:
        found = self._read("read", lambda c: c.execute("SELECT seq, hash FROM log_meta WHERE name = ?", (name,)).fetchone())
        if found is None:
            raise DecisionLogError(f"{self.location} has no chain {name}: it is not a decision log, or was damaged")
        return int(found[0]), str(found[1])

    def head(self) -> tuple[int, str]:
        return self._meta("head")

    def anchor(self) -> tuple[int, str]:
        return self._meta("anchor")

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._write(
            "write to",
            lambda c: c.execute(
                "INSERT INTO checkpoints (seq, hash, taken_at, kind) VALUES (?, ?, ?, ?)",
                (checkpoint.seq, checkpoint.hash, checkpoint.taken_at, checkpoint.kind),
            ),
        )

    def checkpoints(self) -> list[Checkpoint]:
        rows = self._read("read", lambda c: c.execute("SELECT seq, hash, taken_at, kind FROM checkpoints ORDER BY seq, taken_at").fetchall())
        return [Checkpoint(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    def prune(self, before: str) -> Checkpoint | None:
        def prune(conn: sqlite3.Connection) -> Checkpoint | None:
            first_kept = conn.execute("SELECT MIN(seq) FROM records WHERE recorded_at >= ?", (before,)).fetchone()[0]
            cut_row = conn.execute(
                "SELECT seq, hash FROM records WHERE seq < ? ORDER BY seq DESC LIMIT 1" if first_kept is not None
                else "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1",
                (first_kept,) if first_kept is not None else (),
            ).fetchone()
            if cut_row is None:
                return None
            seq, digest = int(cut_row[0]), str(cut_row[1])
            conn.execute("DELETE FROM records WHERE seq <= ?", (seq,))
            conn.execute("UPDATE log_meta SET seq = ?, hash = ? WHERE name = 'anchor'", (seq, digest))
            mark = Checkpoint(seq, digest, utc_now(), "prune")
            conn.execute("INSERT INTO checkpoints (seq, hash, taken_at, kind) VALUES (?, ?, ?, ?)", (mark.seq, mark.hash, mark.taken_at, mark.kind))
            return mark

        return self._write("prune", prune)

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
