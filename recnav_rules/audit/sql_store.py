"""What the SQLite and PostgreSQL decision logs share: the queries, written once.

A store subclasses ``SqlStore``, sets ``PLACEHOLDER`` (``?`` or ``%s``) and supplies the dialect's
parts: how it opens, ``_write`` (a transaction under the chain's write lock), ``_read`` (a
transaction without it), ``_write_aside`` (how a blob or checkpoint is written: these need not take
the chain's lock), ``put_blob`` (the dialect's insert-or-ignore) and ``close``. The queries here
are written with ``?`` and given to the database with the store's placeholder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from recnav_rules.audit.record import PreparedRecord
from recnav_rules.audit.store import COLUMNS, Checkpoint, DecisionLogError, StoredRow, chain_rows, utc_now

__all__ = ["PAGE", "SqlStore"]

PAGE = 2000
T = TypeVar("T")


class SqlStore:
    """The queries of a decision log in an SQL database, with the dialect's parts left to a subclass."""

    PLACEHOLDER = "?"
    location: str

    def _q(self, sql: str) -> str:
        """``sql`` (written with ``?``) with this database's placeholder."""
        return sql if self.PLACEHOLDER == "?" else sql.replace("?", self.PLACEHOLDER)

    def _write(self, doing: str, action: Callable[[Any], T]) -> T:
        raise NotImplementedError

    def _read(self, doing: str, action: Callable[[Any], T]) -> T:
        raise NotImplementedError

    def _write_aside(self, doing: str, action: Callable[[Any], T]) -> T:
        """Write what is not part of the chain (a blob, a checkpoint): under the write lock unless the dialect says otherwise."""
        return self._write(doing, action)

    def _insert_many(self, conn: Any, sql: str, params: Sequence[tuple[Any, ...]]) -> None:
        conn.executemany(sql, params)

    _head: tuple[int, str] | None = None
    """The chain's head as this connection last wrote it (seq, hash), or None: see ``append``."""

    def append(self, records: Sequence[PreparedRecord]) -> int:
        """Chain ``records`` onto the head and store them in one transaction; returns the new head's seq.

        Under the write lock, the head is moved only if it is still the one this connection last
        wrote (``UPDATE ... WHERE seq = ? AND hash = ?``), saving a read of it; when another writer
        (thread, process or host) moved it since, that update changes no row, and the head is read
        and the records chained onto it instead. Either way the chain stays one.
        """
        insert = self._q(f"INSERT INTO records ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
        move = self._q("UPDATE log_meta SET seq = ?, hash = ? WHERE name = 'head'")
        move_from = self._q("UPDATE log_meta SET seq = ?, hash = ? WHERE name = 'head' AND seq = ? AND hash = ?")

        def append(conn: Any) -> int:
            known = self._head
            self._head = None  # forgotten should this transaction fail before the end
            rows = None
            if known is not None and records:
                rows = chain_rows(records, *known)
                if conn.execute(move_from, (rows[-1].seq, rows[-1].hash, *known)).rowcount != 1:
                    rows = None  # another writer moved the head
            if rows is None:
                seq, head = conn.execute("SELECT seq, hash FROM log_meta WHERE name = 'head'").fetchone()
                rows = chain_rows(records, int(seq), str(head))
                if not rows:
                    return int(seq)
                conn.execute(move, (rows[-1].seq, rows[-1].hash))
            if len(rows) == 1:  # a StoredRow is the row's values in COLUMNS order
                conn.execute(insert, rows[0])
            else:
                self._insert_many(conn, insert, rows)
            self._head = (rows[-1].seq, rows[-1].hash)  # a hint only: the next append checks it under the lock
            return rows[-1].seq

        return self._write("write to", append)

    def get_blob(self, digest: str) -> str | None:
        found = self._read("read", lambda c: c.execute(self._q("SELECT content FROM blobs WHERE digest = ?"), (digest,)).fetchone())
        return str(found[0]) if found is not None else None

    def rows(self, after_seq: int = 0) -> Iterator[StoredRow]:
        sql = self._q(f"SELECT {COLUMNS} FROM records WHERE seq > ? ORDER BY seq LIMIT ?")

        def page_after(after: int) -> list[Any]:
            return self._read("read", lambda c: c.execute(sql, (after, PAGE)).fetchall())

        last = after_seq
        while True:
            page = page_after(last)
            yield from map(StoredRow._make, page)
            if len(page) < PAGE:
                return
            last = page[-1][0]

    def row(self, decision_id: str) -> StoredRow | None:
        found = self._read(
            "read", lambda c: c.execute(self._q(f"SELECT {COLUMNS} FROM records WHERE decision_id = ?"), (decision_id,)).fetchone()
        )
        return StoredRow(*found) if found is not None else None

    def _policy_ids(self, conn: Any) -> list[str]:
        """Every policy id in the log, each found by one seek in the (policy_id, recorded_at) index."""
        found: list[str] = []
        last = conn.execute("SELECT MIN(policy_id) FROM records").fetchone()[0]
        while last is not None:
            found.append(str(last))
            last = conn.execute(self._q("SELECT MIN(policy_id) FROM records WHERE policy_id > ?"), (last,)).fetchone()[0]
        return found

    def _by_time(self, conn: Any, policy_id: str | None) -> tuple[str, list[Any]]:
        """A condition on ``policy_id`` that lets a query on ``recorded_at`` use the (policy_id,
        recorded_at) index, the only one by time (one index fewer to write with each record):
        the policy given, or every policy in the log."""
        ids = [policy_id] if policy_id is not None else self._policy_ids(conn)
        if not ids:
            return "0 = 1", []
        return f"policy_id IN ({', '.join('?' * len(ids))})", ids

    def find(
        self, *, policy_id: str | None, since: str | None, until: str | None, subject_key: str | None, limit: int | None
    ) -> list[StoredRow]:
        def find(conn: Any) -> list[Any]:
            where: list[str] = []
            params: list[Any] = []
            if policy_id is not None or since is not None or until is not None:
                clause, ids = self._by_time(conn, policy_id)
                where.append(clause)
                params.extend(ids)
            for clause, value in (("recorded_at >= ?", since), ("recorded_at < ?", until), ("subject_key = ?", subject_key)):
                if value is not None:
                    where.append(clause)
                    params.append(value)
            sql = f"SELECT {COLUMNS} FROM records" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
            if limit is not None:
                sql += " LIMIT ?"
                params.append(limit)
            return list(conn.execute(self._q(sql), params).fetchall())

        return list(map(StoredRow._make, self._read("read", find)))

    def _meta(self, name: str) -> tuple[int, str]:
        found = self._read("read", lambda c: c.execute(self._q("SELECT seq, hash FROM log_meta WHERE name = ?"), (name,)).fetchone())
        if found is None:
            raise DecisionLogError(f"{self.location} has no chain {name}: it is not a decision log, or was damaged")
        return int(found[0]), str(found[1])

    def head(self) -> tuple[int, str]:
        return self._meta("head")

    def anchor(self) -> tuple[int, str]:
        return self._meta("anchor")

    def _insert_checkpoint(self, conn: Any, checkpoint: Checkpoint) -> None:
        conn.execute(
            self._q("INSERT INTO checkpoints (seq, hash, taken_at, kind) VALUES (?, ?, ?, ?)"),
            (checkpoint.seq, checkpoint.hash, checkpoint.taken_at, checkpoint.kind),
        )

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._write_aside("write to", lambda c: self._insert_checkpoint(c, checkpoint))

    def checkpoints(self) -> list[Checkpoint]:
        rows = self._read("read", lambda c: c.execute("SELECT seq, hash, taken_at, kind FROM checkpoints ORDER BY seq, taken_at").fetchall())
        return [Checkpoint(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    def prune(self, before: str) -> Checkpoint | None:
        def prune(conn: Any) -> Checkpoint | None:
            clause, ids = self._by_time(conn, None)
            first_kept = conn.execute(self._q(f"SELECT MIN(seq) FROM records WHERE {clause} AND recorded_at >= ?"), (*ids, before)).fetchone()[0]
            if first_kept is not None:
                cut_row = conn.execute(
                    self._q("SELECT seq, hash FROM records WHERE seq < ? ORDER BY seq DESC LIMIT 1"), (first_kept,)
                ).fetchone()
            else:
                cut_row = conn.execute("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
            if cut_row is None:
                return None
            seq, digest = int(cut_row[0]), str(cut_row[1])
            conn.execute(self._q("DELETE FROM records WHERE seq <= ?"), (seq,))
            conn.execute(self._q("UPDATE log_meta SET seq = ?, hash = ? WHERE name = 'anchor'"), (seq, digest))
            mark = Checkpoint(seq, digest, utc_now(), "prune")
            self._insert_checkpoint(conn, mark)
            return mark

        return self._write("prune", prune)
