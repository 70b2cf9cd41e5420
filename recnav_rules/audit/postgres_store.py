"""The decision log in PostgreSQL (psycopg 3; the optional extra ``recnav-rules[postgres]``).

The same tables as the SQLite store. Writers serialise on a transaction-level advisory lock
(``pg_advisory_xact_lock``) before reading the chain's head, so writers on several hosts keep one
chain. A lost connection is a ``DecisionLogError``; the next call connects again. Durability is the
server's (``synchronous_commit``) unless the log was opened with ``durability``: ``full`` sets
``synchronous_commit`` on for its connection, ``normal`` off (a server crash may then lose the last
commits, never the chain's consistency).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from recnav_rules.audit.chain import GENESIS
from recnav_rules.audit.sql_store import SqlStore
from recnav_rules.audit.store import DecisionLogError

__all__ = ["LOCK_KEY", "PostgresStore"]

LOCK_KEY = 0x7265636E6176  # "recnav": the advisory lock every writer of a decision log takes
CONNECT_TIMEOUT_S = 10
T = TypeVar("T")

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS records (
        seq BIGINT PRIMARY KEY,
        decision_id TEXT NOT NULL UNIQUE,
        recorded_at TEXT NOT NULL,
        policy_id TEXT NOT NULL,
        as_of TEXT NOT NULL,
        outcome TEXT NOT NULL,
        subject_key TEXT,
        record TEXT NOT NULL,
        hash TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS records_policy_time ON records (policy_id, recorded_at)",
    "CREATE INDEX IF NOT EXISTS records_subject ON records (subject_key) WHERE subject_key IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS blobs (digest TEXT PRIMARY KEY, kind TEXT NOT NULL, content TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS log_meta (name TEXT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS checkpoints (seq BIGINT NOT NULL, hash TEXT NOT NULL, taken_at TEXT NOT NULL, kind TEXT NOT NULL)",
)


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


class PostgresStore(SqlStore):
    """A decision log in a PostgreSQL database. One connection, shared by threads under a lock."""

    PLACEHOLDER = "%s"

    def __init__(self, url: str, *, create: bool, durability: str | None = None) -> None:
        try:
            import psycopg
        except ImportError:
            raise DecisionLogError("a postgresql:// decision log needs psycopg: pip install 'recnav-rules[postgres]'") from None
        self._psycopg = psycopg
        self._url = url
        self.location = redact(url)
        self._lock = threading.Lock()
        self._conn: Any = None
        self._synchronous_commit = {None: None, "normal": "off", "full": "on"}[durability]
        with self._lock:
            self._guard("open", lambda: self._setup(create))

    def _connect(self) -> Any:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                try:
                    self._conn.close()
                except self._psycopg.Error:
                    pass
            conn = self._psycopg.connect(self._url, connect_timeout=CONNECT_TIMEOUT_S)
            if self._synchronous_commit is not None:  # for this session
                conn.execute("SELECT set_config('synchronous_commit', %s, false)", (self._synchronous_commit,))
                conn.commit()
            self._conn = conn
        return self._conn

    def _setup(self, create: bool) -> None:
        conn = self._connect()
        with conn.transaction():
            found = conn.execute("SELECT to_regclass('records') IS NOT NULL AND to_regclass('log_meta') IS NOT NULL").fetchone()[0]
            if found:
                return
            if not create:
                raise DecisionLogError(f"{self.location} is not a decision log (it has no records table)")
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            for statement in SCHEMA:
                conn.execute(statement)
            for name in ("head", "anchor"):
                conn.execute("INSERT INTO log_meta VALUES (%s, 0, %s) ON CONFLICT DO NOTHING", (name, GENESIS))

    def _guard(self, doing: str, action: Callable[[], T]) -> T:
        try:
            return action()
        except self._psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DecisionLogError(f"cannot {doing} the decision log {self.location}: lost the connection to PostgreSQL ({reason})") from None
        except self._psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DecisionLogError(f"cannot {doing} the decision log {self.location}: {reason}") from None

    def _write(self, doing: str, action: Callable[[Any], T]) -> T:
        def run() -> T:
            conn = self._connect()
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                return action(conn)

        with self._lock:
            return self._guard(doing, run)

    def _read(self, doing: str, action: Callable[[Any], T]) -> T:
        def run() -> T:
            conn = self._connect()
            with conn.transaction():
                return action(conn)

        with self._lock:
            return self._guard(doing, run)

    def _write_aside(self, doing: str, action: Callable[[Any], T]) -> T:
        """Blobs and checkpoints are written in a transaction of their own, without the chain's advisory lock."""
        return self._read(doing, action)

    def _insert_many(self, conn: Any, sql: str, params: Sequence[tuple[Any, ...]]) -> None:
        with conn.cursor() as cursor:
            cursor.executemany(sql, params)

    def put_blob(self, digest: str, kind: str, content: str) -> None:
        self._write_aside(
            "write to",
            lambda c: c.execute(
                "INSERT INTO blobs (digest, kind, content) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", (digest, kind, content)
            ),
        )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                except self._psycopg.Error:
                    pass
