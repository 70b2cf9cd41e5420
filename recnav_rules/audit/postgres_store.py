"""The decision log in PostgreSQL (psycopg 3; the optional extra ``recnav-rules[postgres]``).

The same tables as the SQLite store. Writers serialise on a transaction-level advisory lock
(``pg_advisory_xact_lock``) before reading the chain's head, so writers on several hosts keep one
chain. A lost connection is a ``DecisionLogError``; the next call connects again.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from recnav_rules.audit.chain import GENESIS
from recnav_rules.audit.record import PreparedRecord
from recnav_rules.audit.store import COLUMNS, Checkpoint, DecisionLogError, StoredRow, chain_rows, utc_now

__all__ = ["LOCK_KEY", "PostgresStore"]

LOCK_KEY = 0x7265636E6176  # "recnav": the advisory lock every writer of a decision log takes
PAGE = 2000
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
    "CREATE INDEX IF NOT EXISTS records_time ON records (recorded_at)",
    "CREATE INDEX IF NOT EXISTS records_subject ON records (subject_key) WHERE subject_key IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS blobs (digest TEXT PRIMARY KEY, kind TEXT NOT NULL, content TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS log_meta (name TEXT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS checkpoints (seq BIGINT NOT NULL, hash TEXT NOT NULL, taken_at TEXT NOT NULL, kind TEXT NOT NULL)",
)


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


class PostgresStore:
    """A decision log in a PostgreSQL database. One connection, shared by threads under a lock."""

    def __init__(self, url: str, *, create: bool) -> None:
        try:
            import psycopg
        except ImportError:
            raise DecisionLogError("a postgresql:// decision log needs psycopg: pip install 'recnav-rules[postgres]'") from None
        self._psycopg = psycopg
        self._url = url
        self.location = redact(url)
        self._lock = threading.Lock()
        self._conn: Any = None
        with self._lock:
            self._guard("open", lambda: self._setup(create))

    def _connect(self) -> Any:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                try:
                    self._conn.close()
                except self._psycopg.Error:
                    pass
            self._conn = self._psycopg.connect(self._url, connect_timeout=CONNECT_TIMEOUT_S)
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

    def append(self, records: Sequence[PreparedRecord]) -> list[StoredRow]:
        def append(conn: Any) -> list[StoredRow]:
            seq, head = conn.execute("SELECT seq, hash FROM log_meta WHERE name = 'head'").fetchone()
            rows = chain_rows(records, int(seq), str(head))
            with conn.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO records ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        (r.seq, r.decision_id, r.recorded_at, r.policy_id, r.as_of, r.outcome, r.subject_key, r.record, r.hash)
                        for r in rows
                    ],
                )
            if rows:
                conn.execute("UPDATE log_meta SET seq = %s, hash = %s WHERE name = 'head'", (rows[-1].seq, rows[-1].hash))
            return rows

        return self._write("write to", append)

    def put_blob(self, digest: str, kind: str, content: str) -> None:
        self._read(
            "write to",
            lambda c: c.execute(
                "INSERT INTO blobs (digest, kind, content) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", (digest, kind, content)
            ),
        )

    def get_blob(self, digest: str) -> str | None:
        found = self._read("read", lambda c: c.execute("SELECT content FROM blobs WHERE digest = %s", (digest,)).fetchone())
        return str(found[0]) if found is not None else None

    def rows(self, after_seq: int = 0) -> Iterator[StoredRow]:
        def page_after(after: int) -> list[Any]:
            return self._read(
                "read",
                lambda c: c.execute(f"SELECT {COLUMNS} FROM records WHERE seq > %s ORDER BY seq LIMIT %s", (after, PAGE)).fetchall(),
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
            "read", lambda c: c.execute(f"SELECT {COLUMNS} FROM records WHERE decision_id = %s", (decision_id,)).fetchone()
        )
        return StoredRow(*found) if found is not None else None

    def find(
        self, *, policy_id: str | None, since: str | None, until: str | None, subject_key: str | None, limit: int | None
    ) -> list[StoredRow]:
        where: list[str] = []
        params: list[Any] = []
        for clause, value in (
            ("policy_id = %s", policy_id),
            ("recorded_at >= %s", since),
            ("recorded_at < %s", until),
            ("subject_key = %s", subject_key),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = f"SELECT {COLUMNS} FROM records" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        return [StoredRow(*r) for r in self._read("read", lambda c: c.execute(sql, params).fetchall())]

    def _meta(self, name: str) -> tuple[int, str]:
        found = self._read("read", lambda c: c.execute("SELECT seq, hash FROM log_meta WHERE name = %s", (name,)).fetchone())
        if found is None:
            raise DecisionLogError(f"{self.location} has no chain {name}: it is not a decision log, or was damaged")
        return int(found[0]), str(found[1])

    def head(self) -> tuple[int, str]:
        return self._meta("head")

    def anchor(self) -> tuple[int, str]:
        return self._meta("anchor")

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._read(
            "write to",
            lambda c: c.execute(
                "INSERT INTO checkpoints (seq, hash, taken_at, kind) VALUES (%s, %s, %s, %s)",
                (checkpoint.seq, checkpoint.hash, checkpoint.taken_at, checkpoint.kind),
            ),
        )

    def checkpoints(self) -> list[Checkpoint]:
        rows = self._read("read", lambda c: c.execute("SELECT seq, hash, taken_at, kind FROM checkpoints ORDER BY seq, taken_at").fetchall())
        return [Checkpoint(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    def prune(self, before: str) -> Checkpoint | None:
        def prune(conn: Any) -> Checkpoint | None:
            first_kept = conn.execute("SELECT MIN(seq) FROM records WHERE recorded_at >= %s", (before,)).fetchone()[0]
            if first_kept is not None:
                cut_row = conn.execute("SELECT seq, hash FROM records WHERE seq < %s ORDER BY seq DESC LIMIT 1", (first_kept,)).fetchone()
            else:
                cut_row = conn.execute("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
            if cut_row is None:
                return None
            seq, digest = int(cut_row[0]), str(cut_row[1])
            conn.execute("DELETE FROM records WHERE seq <= %s", (seq,))
            conn.execute("UPDATE log_meta SET seq = %s, hash = %s WHERE name = 'anchor'", (seq, digest))
            mark = Checkpoint(seq, digest, utc_now(), "prune")
            conn.execute(
                "INSERT INTO checkpoints (seq, hash, taken_at, kind) VALUES (%s, %s, %s, %s)", (mark.seq, mark.hash, mark.taken_at, mark.kind)
            )
            return mark

        return self._write("prune", prune)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                except self._psycopg.Error:
                    pass
