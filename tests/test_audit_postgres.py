"""The decision log on a real PostgreSQL server (a throwaway cluster; see tests/postgres_server.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import recnav_rules
from recnav_rules.audit import DecisionLog, DecisionLogError
from tests.components import require
from tests.conftest import AS_OF, BASELINE
from tests.postgres_server import PostgresServer, unavailable_reason
from tests.test_audit_concurrency import run_in_processes

SECRET = b"postgres-test-secret"
NHS = "9434765919"


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer | None]:
    reason = unavailable_reason()
    if reason is not None:
        yield None
        return
    started = PostgresServer().start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def url(server: PostgresServer | None) -> str:
    require(server is not None, "PostgreSQL server", unavailable_reason() or "")
    assert server is not None
    try:
        import psycopg  # noqa: F401
    except ImportError:
        require(False, "psycopg", "pip install 'recnav-rules[postgres]'")
    return server.create_database(f"log_{uuid.uuid4().hex[:12]}")


def _record(log: DecisionLog, policy: recnav_rules.Policy, facts: dict[str, Any]) -> recnav_rules.Decision:
    return log.record(policy.evaluate(facts, as_of=AS_OF), policy=policy, facts=facts)


def test_record_verify_replay_and_lookups(url: str, hiu: recnav_rules.Policy) -> None:
    given = {**BASELINE, "nhs_number": NHS, "name": "Ada Postgres"}
    with DecisionLog(url, subject_key=SECRET) as log:
        ids = [_record(log, hiu, given).decision_id for _ in range(3)]
        _record(log, hiu, BASELINE)
        assert [e.decision_id for e in log.find_subject(NHS)] == ids
        assert log.get(str(ids[1])) is not None and log.get(str(ids[1])).seq == 2  # type: ignore[union-attr]
        assert len(log.find(policy_id="bnssg-hiu-pilot")) == 4
        assert log.verify().ok and log.verify().records == 4
        assert log.replay().ok
        mark = log.checkpoint()
        assert log.verify((mark.seq, mark.hash)).ok
    with DecisionLog(url, create=False) as again:  # the same schema and chain, reopened
        assert again.verify().head_seq == 4


@pytest.mark.parametrize(("durability", "expected"), [("normal", "off"), ("full", "on")])
def test_durability_sets_synchronous_commit_for_the_logs_connection(url: str, hiu: recnav_rules.Policy, durability: str, expected: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        server_default = conn.execute("SHOW synchronous_commit").fetchone()[0]
    with DecisionLog(url, durability=durability) as log:
        _record(log, hiu, BASELINE)
        assert log._store._conn.execute("SHOW synchronous_commit").fetchone()[0] == expected  # type: ignore[attr-defined]
        _terminate_others(url)
        with pytest.raises(DecisionLogError, match="lost the connection"):
            _record(log, hiu, BASELINE)
        _record(log, hiu, BASELINE)  # connected again: the setting is made again
        assert log._store._conn.execute("SHOW synchronous_commit").fetchone()[0] == expected  # type: ignore[attr-defined]
        assert log.verify().records == 2
    with DecisionLog(url, create=False) as log:  # without it: the server's own setting
        assert log._store._conn.execute("SHOW synchronous_commit").fetchone()[0] == server_default  # type: ignore[attr-defined]


def test_tampering_is_found(url: str, hiu: recnav_rules.Policy) -> None:
    import psycopg

    with DecisionLog(url) as log:
        for _ in range(4):
            _record(log, hiu, BASELINE)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE records SET record = replace(record, '\"outcome\":\"accept\"', '\"outcome\":\"reject\"') WHERE seq = 2")
        conn.execute("DELETE FROM records WHERE seq = 4")
    with DecisionLog(url, create=False) as log:
        result = log.verify()
        assert (result.ok, result.how, result.first_bad_seq) == (False, "edited", 2)


def _writer(url: str, count: int) -> None:
    policy = recnav_rules.load_policy("bnssg-hiu-pilot")
    with DecisionLog(url) as log:
        for _ in range(count):
            _record(log, policy, BASELINE)


def test_concurrent_processes_keep_one_chain(url: str) -> None:
    DecisionLog(url).close()
    run_in_processes(_writer, [(url, 150)] * 4)
    with DecisionLog(url, create=False) as log:
        result = log.verify()
        assert result.ok and result.records == 600, result.message


def _terminate_others(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")


def test_a_lost_connection_fails_closed_then_reconnects(url: str, hiu: recnav_rules.Policy) -> None:
    with DecisionLog(url) as log:
        _record(log, hiu, BASELINE)
        _terminate_others(url)
        with pytest.raises(DecisionLogError, match="lost the connection to PostgreSQL"):
            _record(log, hiu, BASELINE)
        assert _record(log, hiu, BASELINE).decision_id is not None  # the next call connects again
        assert log.verify().records == 2


def test_a_lost_connection_with_fail_open_returns_the_decision_unlogged(url: str, hiu: recnav_rules.Policy) -> None:
    with DecisionLog(url, fail_closed=False) as log:
        _record(log, hiu, BASELINE)
        _terminate_others(url)
        decision = _record(log, hiu, BASELINE)
        assert decision.decision_id is None and decision.outcome.value == "accept"


def test_an_unreachable_server_is_a_clear_error(server: PostgresServer | None) -> None:
    require(server is not None, "PostgreSQL server", unavailable_reason() or "")
    assert server is not None
    with pytest.raises(DecisionLogError, match=r"cannot open the decision log postgresql://recnav:\*\*\*@"):
        DecisionLog(f"postgresql://recnav:hunter2@127.0.0.1:{server.port}/no_such_database")
    with DecisionLog(server.url().replace("recnav@", "recnav:hunter2@")) as log:
        assert "hunter2" not in repr(log) and "hunter2" not in log.location


def test_a_database_without_a_log_is_refused_when_reading(url: str) -> None:
    with pytest.raises(DecisionLogError, match="is not a decision log"):
        DecisionLog(url, create=False)
