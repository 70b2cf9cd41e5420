"""The SQLite store's own choices: the page size of a new log, checkpoints kept off the writer's path; recording times."""

from __future__ import annotations

import datetime as dt
import gc
import re
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest

import recnav_rules
from recnav_rules.audit import DecisionLog, sqlite_store
from recnav_rules.audit.store import utc_now
from tests.conftest import AS_OF, BASELINE

CHECKPOINTER = "recnav-rules-log-checkpoint"


def record(log: DecisionLog, policy: recnav_rules.Policy, count: int) -> None:
    for _ in range(count):
        log.record(policy.evaluate(BASELINE, as_of=AS_OF), policy=policy, facts=BASELINE)


def records_in_the_database_file(path: Path, copy: Path) -> int:
    """How many records the database file itself holds, leaving its WAL aside (a copy of the file alone)."""
    shutil.copyfile(path, copy)
    with sqlite3.connect(copy) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])
        except sqlite3.OperationalError:  # the table itself is still only in the WAL
            return 0


def checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == CHECKPOINTER]


def wait_for_records_in_the_file(path: Path, copy: Path, count: int) -> int:
    """The records in the database file once it holds ``count`` of them, or after ten seconds."""
    deadline = time.monotonic() + 10
    found = records_in_the_database_file(path, copy)
    while found < count and time.monotonic() < deadline:
        time.sleep(0.02)
        found = records_in_the_database_file(path, copy)
    return found


def test_a_new_log_has_2_kib_pages_and_an_existing_log_keeps_its_own(tmp_path: Path, hiu: recnav_rules.Policy) -> None:
    with DecisionLog(tmp_path / "new.sqlite") as log:
        record(log, hiu, 3)
        assert log._store._conn.execute("PRAGMA page_size").fetchone()[0] == 2048  # type: ignore[attr-defined]
        assert log._store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 40 * 2**20 // 2048  # type: ignore[attr-defined]
    old = tmp_path / "old.sqlite"
    with sqlite3.connect(old) as conn:  # a log made before (4 KiB pages): the schema as the store makes it
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(sqlite_store.SCHEMA)
        conn.executemany("INSERT INTO log_meta VALUES (?, 0, ?)", [("head", "0" * 64), ("anchor", "0" * 64)])
    with DecisionLog(old, create=False) as log:
        record(log, hiu, 3)
        assert log._store._conn.execute("PRAGMA page_size").fetchone()[0] == 4096  # type: ignore[attr-defined]
        assert log._store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 40 * 2**20 // 4096  # type: ignore[attr-defined]
        result = log.verify()
        assert result.ok and result.records == 3


@pytest.mark.parametrize("background", [True, False])
def test_the_background_checkpoint_copies_the_wal_into_the_database(
    tmp_path: Path, hiu: recnav_rules.Policy, monkeypatch: pytest.MonkeyPatch, background: bool
) -> None:
    monkeypatch.setattr(sqlite_store, "WAL_BYTES", 2**40)  # the writer's own checkpoint never comes
    monkeypatch.setattr(sqlite_store, "BACKGROUND_CHECKPOINT_BYTES", 1 if background else 0)
    path = tmp_path / "bg.sqlite"
    with DecisionLog(path) as log:
        record(log, hiu, 20)
        found = wait_for_records_in_the_file(path, tmp_path / "copy.sqlite", 20) if background else records_in_the_database_file(path, tmp_path / "copy.sqlite")
        assert found == (20 if background else 0)
        assert len(checkpointers()) == (1 if background else 0)
        assert log.verify().records == 20
    assert checkpointers() == []  # closing the log ends its checkpoint thread


def test_the_checkpoint_waits_for_enough_appended(tmp_path: Path, hiu: recnav_rules.Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_store, "WAL_BYTES", 2**40)
    with DecisionLog(tmp_path / "few.sqlite") as log:
        record(log, hiu, 5)  # far below 4 MiB
        assert checkpointers() == []
        assert log._store._appended > 5 * 4 * 2048  # type: ignore[attr-defined]  # counted: records and four pages a commit


def test_threads_writing_while_the_checkpoint_runs_keep_one_chain(tmp_path: Path, hiu: recnav_rules.Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_store, "BACKGROUND_CHECKPOINT_BYTES", 1)  # woken after every append
    monkeypatch.setattr(sqlite_store, "WAL_BYTES", 64 * 2048)  # and the writers' own checkpoints often, too
    path = tmp_path / "busy.sqlite"
    with DecisionLog(path) as log:
        threads = [threading.Thread(target=record, args=(log, hiu, 60)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result = log.verify()
        assert result.ok and result.records == 240, result.message
    with DecisionLog(path, create=False) as reopened:
        assert [e.seq for e in reopened.rows()] == list(range(1, 241))


def test_a_checkpoint_that_cannot_run_leaves_recording_alone(tmp_path: Path, hiu: recnav_rules.Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_store, "BACKGROUND_CHECKPOINT_BYTES", 1)

    def cannot_connect(*args: object, **kwargs: object) -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    path = tmp_path / "nock.sqlite"
    with DecisionLog(path) as log:
        monkeypatch.setattr(sqlite_store._Checkpointer, "_connect", staticmethod(cannot_connect))
        record(log, hiu, 10)  # each append finds the thread ended and starts another, which ends at once
        result = log.verify()
        assert result.ok and result.records == 10


def test_recorded_times_are_utc_iso_text_with_microseconds(tmp_path: Path, hiu: recnav_rules.Policy) -> None:
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with DecisionLog(tmp_path / "times.sqlite") as log:
        record(log, hiu, 2)
        stamps = [e.recorded_at for e in log.rows()]
    after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for stamp in [*stamps, utc_now()]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp), stamp
        moment = dt.datetime.fromisoformat(stamp[:-1])
        assert before - dt.timedelta(seconds=1) <= moment <= after + dt.timedelta(seconds=1)
    assert stamps == sorted(stamps)


def test_the_checkpoint_thread_ends_when_its_log_is_dropped_unclosed(tmp_path: Path, hiu: recnav_rules.Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_store, "BACKGROUND_CHECKPOINT_BYTES", 1)
    monkeypatch.setattr(sqlite_store, "CHECKPOINTER_IDLE_S", 0.01)
    log = DecisionLog(tmp_path / "dropped.sqlite")
    record(log, hiu, 2)
    [thread] = checkpointers()
    del log
    gc.collect()
    thread.join(timeout=10)
    assert not thread.is_alive()


def wal_frames(conn: sqlite3.Connection) -> int:
    """The frames in the WAL now (a checkpoint that copies what it can, which says how many there are)."""
    return int(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


class CommitAfterPassive:
    """A connection on which another decision is recorded just after each ``PASSIVE`` checkpoint
    while a reader is reading, so that the writer cannot start the WAL again, as when writers
    commit while the background checkpoint runs."""

    def __init__(self, conn: sqlite3.Connection, log: DecisionLog, policy: recnav_rules.Policy, path: Path) -> None:
        self.conn, self.log, self.policy, self.path = conn, log, policy, path
        self.commits = 0

    def execute(self, sql: str) -> sqlite3.Cursor:
        if "PASSIVE" not in sql:
            return self.conn.execute(sql)
        with sqlite3.connect(self.path, isolation_level=None) as reader:
            reader.execute("BEGIN")
            reader.execute("SELECT COUNT(*) FROM records").fetchone()  # reads the WAL, as it is before the checkpoint
            found = self.conn.execute(sql).fetchone()
            record(self.log, self.policy, 1)
            self.commits += 1
            reader.execute("COMMIT")
        return self.conn.execute("SELECT ?, ?, ?", found)


@pytest.mark.parametrize("restart", [True, False])
def test_a_checkpoint_past_the_restart_size_lets_the_wal_start_again(
    tmp_path: Path, hiu: recnav_rules.Policy, monkeypatch: pytest.MonkeyPatch, restart: bool
) -> None:
    monkeypatch.setattr(sqlite_store, "BACKGROUND_CHECKPOINT_BYTES", 0)  # no thread: the checkpoint is run here
    monkeypatch.setattr(sqlite_store, "WAL_BYTES", 2**40)  # nor any by the writer
    path = tmp_path / "restart.sqlite"
    with DecisionLog(path) as log, sqlite3.connect(path, isolation_level=None) as conn:
        record(log, hiu, 10)
        before = (Path(f"{path}-wal").stat().st_size - 32) // (2048 + 24)  # not yet checkpointed: all the WAL holds
        during = CommitAfterPassive(conn, log, hiu, path)
        restarted = sqlite_store._Checkpointer.checkpoint(during, 2048 if restart else 2**40)  # type: ignore[arg-type]
        assert restarted is restart
        assert during.commits == (2 if restart else 1)  # a second pass without waiting before the restart
        record(log, hiu, 1)
        after = wal_frames(conn)
        if restart:
            assert after < 20  # one commit's pages: the WAL started again
        else:
            assert after > before  # the commit made during the checkpoint was left to copy: the WAL went on growing
        result = log.verify()
        assert result.ok and result.records == 11 + during.commits


def test_syncing_the_files_ahead_of_a_restart_passes_over_missing_ones(tmp_path: Path, hiu: recnav_rules.Policy) -> None:
    sqlite_store._sync_files(str(tmp_path / "absent.sqlite"))  # neither file: nothing to sync, no error
    with DecisionLog(tmp_path / "synced.sqlite") as log:
        record(log, hiu, 2)
        sqlite_store._sync_files(log.location)  # both files there, one connection writing
        result = log.verify()
        assert result.ok and result.records == 2


def test_the_time_text_follows_the_clock_across_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole second's text is kept between records: it must change with the clock, forward
    and back (a clock set back), and never hand one second's text to another."""
    from recnav_rules.audit import store

    moments = [1_790_000_000_999_999_000, 1_790_000_001_000_000_000, 1_790_000_001_500_000_000, 1_789_999_999_000_001_000]
    for ns in moments:
        monkeypatch.setattr(store.time, "time_ns", lambda ns=ns: ns)
        seconds, micros = divmod(ns // 1000, 1_000_000)
        expected = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{micros:06d}Z"
        assert utc_now() == expected
