"""The decision log in one SQLite file (the standard library's sqlite3, WAL mode).

Writers take the database's write lock with ``BEGIN IMMEDIATE`` before reading the chain's head,
so threads and processes appending to one file keep one chain; a writer waits up to
``BUSY_TIMEOUT_S`` for the lock. WAL mode, with the durability the log was opened with
(docs/audit.md): ``normal`` (``synchronous=NORMAL``, the default): a committed record survives the
process being killed at any moment; an operating-system crash or power cut may lose the last
commits, never the chain's consistency. ``full`` (``synchronous=FULL``): each commit is also
synced to the disk before it returns, so it survives a power cut too, at a few milliseconds a
commit. The WAL is copied back into the database (a checkpoint, which syncs the disk) every
``WAL_PAGES`` pages rather than SQLite's default 1,000, so a stream of one-record commits pays
for a sync once in several thousand records.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from recnav_rules.audit.chain import GENESIS
from recnav_rules.audit.sql_store import SqlStore
from recnav_rules.audit.store import DecisionLogError

__all__ = ["SCHEMA", "SqliteStore"]

BUSY_TIMEOUT_S = 120.0
WAL_PAGES = 10_000
"""Pages the WAL may hold before a commit copies them into the database (40 MB at 4 KiB pages)."""
CACHE_KIB = 16_384
_SYNCHRONOUS = {"normal": "NORMAL", "full": "FULL"}
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
CREATE INDEX IF NOT EXISTS records_subject ON records (subject_key) WHERE subject_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS blobs (digest TEXT PRIMARY KEY, kind TEXT NOT NULL, content TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS log_meta (name TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (seq INTEGER NOT NULL, hash TEXT NOT NULL, taken_at TEXT NOT NULL, kind TEXT NOT NULL);
"""


class SqliteStore(SqlStore):
    """A decision log in a SQLite file. One connection, shared by threads under a lock."""

    def __init__(self, path: str, *, create: bool, durability: str = "normal") -> None:
        self.location = path
        self._synchronous = _SYNCHRONOUS[durability]
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
            self._conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "records" in tables and "log_meta" in tables:
                if self._conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self._conn.execute("PRAGMA journal_mode = WAL")
                self._wal_settings()
                return
            if tables or not create:
                raise DecisionLogError(f"{self.location} is not a decision log (it has no records table)")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._wal_settings()
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

    def _wal_settings(self) -> None:
        self._conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        self._conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_PAGES}")

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

    def put_blob(self, digest: str, kind: str, content: str) -> None:
        self._write(
            "write to",
            lambda c: c.execute("INSERT OR IGNORE INTO blobs (digest, kind, content) VALUES (?, ?, ?)", (digest, kind, content)),
        )

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
