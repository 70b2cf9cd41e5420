"""The decision log in one SQLite file (the standard library's sqlite3, WAL mode).

Writers take the database's write lock with ``BEGIN IMMEDIATE`` before reading the chain's head,
so threads and processes appending to one file keep one chain; a writer waits up to
``BUSY_TIMEOUT_S`` for the lock. WAL mode, with the durability the log was opened with
(docs/audit.md): ``normal`` (``synchronous=NORMAL``, the default): a committed record survives the
process being killed at any moment; an operating-system crash or power cut may lose the last
commits, never the chain's consistency. ``full`` (``synchronous=FULL``): each commit is also
synced to the disk before it returns, so it survives a power cut too, at a few milliseconds a
commit.

Checkpoints (copying the WAL back into the database, which syncs the disk twice) are kept off the
writer's path: once about ``BACKGROUND_CHECKPOINT_BYTES`` have been appended, a thread of the
store's own, with a connection of its own, runs a ``PASSIVE`` checkpoint, which never blocks
writers and never changes what a commit guarantees. The writer's own automatic checkpoint stays,
at ``WAL_BYTES`` of WAL: it then finds little left to copy, and lets the WAL start again from its
beginning. New logs use pages of ``PAGE_BYTES`` (2 KiB): a record (about 2.5 KB) then fills a
page and part of another instead of most of a 4 KiB page, so a commit writes about half as many
bytes to the WAL and the database (an existing log keeps its page size).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from recnav_rules.audit.chain import GENESIS
from recnav_rules.audit.record import PreparedRecord
from recnav_rules.audit.sql_store import SqlStore
from recnav_rules.audit.store import DecisionLogError

__all__ = ["SCHEMA", "SqliteStore"]

_logger = logging.getLogger("recnav_rules.audit")
BUSY_TIMEOUT_S = 120.0
WAL_BYTES = 40 * 2**20
"""The WAL size at which a commit copies what is left of it into the database itself (SQLite's
``wal_autocheckpoint``, in pages of the log's size): 40 MiB."""
BACKGROUND_CHECKPOINT_BYTES = 4 * 2**20
"""About how many bytes of records appended (each commit counted as its records' text and four
pages more) wake the background checkpoint; 0: no background checkpoints."""
RESTART_BYTES = WAL_BYTES // 2
"""The WAL size past which the background checkpoint, once it has copied what it could without
waiting, also copies the rest while writers wait (``RESTART``), so that the WAL starts again."""
CHECKPOINTER_TIMEOUT_S = 1.0
"""How long the background checkpoint's connection waits for a lock (a passive checkpoint waits
for none; opening the connection may)."""
CHECKPOINTER_IDLE_S = 60.0
"""How often an idle background checkpoint looks whether its log is still there (dropped unclosed: it ends)."""
CACHE_KIB = 16_384
PAGE_BYTES = 2048
"""The page size of a new log (an existing log keeps its own)."""
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
        self._page = PAGE_BYTES
        self._appended = 0
        """Bytes appended (estimated) since the background checkpoint was last woken."""
        self._checkpoint_every = BACKGROUND_CHECKPOINT_BYTES
        self._restart_bytes = RESTART_BYTES
        self._checkpointer: _Checkpointer | None = None
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
            self._conn.execute(f"PRAGMA page_size = {int(PAGE_BYTES)}")
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
        page = int(self._conn.execute("PRAGMA page_size").fetchone()[0])
        self._conn.execute(f"PRAGMA wal_autocheckpoint = {max(WAL_BYTES // page, 1)}")
        self._page = page

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

    def append(self, records: Sequence[PreparedRecord]) -> int:
        seq = super().append(records)
        if self._checkpoint_every > 0:
            self._count_appended(sum([len(r.body_json) for r in records]) + 4 * self._page)
        return seq

    def _count_appended(self, size: int) -> None:
        """Wake the background checkpoint once about ``BACKGROUND_CHECKPOINT_BYTES`` were appended."""
        with self._lock:
            self._appended += size
            if self._appended < self._checkpoint_every:
                return
            self._appended = 0
            if self._checkpointer is None or not self._checkpointer.is_alive():  # first, or after a fork
                self._checkpointer = _Checkpointer(self, self._synchronous, self._restart_bytes)
                self._checkpointer.start()
            self._checkpointer.wake()

    def put_blob(self, digest: str, kind: str, content: str) -> None:
        self._write(
            "write to",
            lambda c: c.execute("INSERT OR IGNORE INTO blobs (digest, kind, content) VALUES (?, ?, ?)", (digest, kind, content)),
        )

    def close(self) -> None:
        with self._lock:
            checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()
        with self._lock:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass


class _Checkpointer(threading.Thread):
    """Copies the WAL into the database (a ``PASSIVE`` checkpoint) whenever woken, on a connection
    of its own, so that writers do not wait for it. A failure is logged and left to the writers'
    own checkpoints; it never affects what a commit guarantees."""

    def __init__(self, owner: SqliteStore, synchronous: str, restart_bytes: int) -> None:
        super().__init__(name="recnav-rules-log-checkpoint", daemon=True)
        self._owner = weakref.ref(owner)
        self._path = owner.location
        self._synchronous = synchronous
        self._woken = threading.Event()
        self._stopping = False
        self._restart_bytes = restart_bytes

    def wake(self) -> None:
        self._woken.set()

    def stop(self) -> None:
        """Finish the checkpoint under way, if any, and end the thread."""
        self._stopping = True
        self._woken.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join()

    @staticmethod
    def _connect(path: str) -> sqlite3.Connection:
        return sqlite3.connect(path, timeout=CHECKPOINTER_TIMEOUT_S, isolation_level=None)

    def run(self) -> None:
        try:
            conn = self._connect(self._path)
        except sqlite3.Error as exc:
            _logger.debug("background checkpoint of %s not started: %s", self._path, exc)
            return
        try:
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            while True:
                if not self._woken.wait(CHECKPOINTER_IDLE_S):
                    if self._owner() is None:  # the log was dropped without being closed
                        return
                    continue
                self._woken.clear()
                if self._stopping:
                    return
                self.checkpoint(conn, self._restart_bytes)
        except sqlite3.Error as exc:
            _logger.debug("background checkpoint of %s stopped: %s", self._path, exc)
        finally:
            conn.close()

    @staticmethod
    def checkpoint(conn: sqlite3.Connection, restart_bytes: int) -> bool:
        """One checkpoint: copy what can be copied without waiting (``PASSIVE``); then, when the
        WAL holds ``restart_bytes`` or more, the rest while writers wait (``RESTART``), so that the
        next writer starts the WAL again rather than copying it itself. Before that, the files are
        synced and what came meanwhile copied, without waiting, so that writers wait only for the
        little left (a few milliseconds rather than tens). Returns whether it restarted."""
        frames = int(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
        if frames * int(conn.execute("PRAGMA page_size").fetchone()[0]) < restart_bytes:
            return False
        _sync_files(str(conn.execute("PRAGMA database_list").fetchone()[2]))
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        return int(conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()[0]) == 0


def _sync_files(path: str) -> None:
    """Write the database file's and its WAL's pages to the disk (``fsync``), as a checkpoint
    would, but without holding any of the log's locks. Where that cannot be done, the checkpoint
    does it all itself."""
    for name in (path, f"{path}-wal"):
        try:
            handle = os.open(name, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(handle)
        except OSError:
            pass
        finally:
            os.close(handle)
