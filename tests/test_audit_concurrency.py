"""Concurrent writers keep one chain and lose nothing; kill -9 while writing leaves a log that verifies."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import recnav_rules
from recnav_rules.audit import DecisionLog
from tests.conftest import AS_OF, BASELINE

_fork = multiprocessing.get_context("fork")


def _writer(path: str, count: int, tag: int) -> None:
    policy = recnav_rules.load_policy("bnssg-hiu-pilot")
    facts = {**BASELINE, "mhsd_triage_outcome": "self_care" if tag % 2 else "signposting"}
    with DecisionLog(path) as log:
        for _ in range(count):
            log.record(policy.evaluate(facts, as_of=AS_OF), policy=policy, facts=facts)


def run_in_processes(target: Callable[..., None], calls: Sequence[tuple[Any, ...]]) -> None:
    """Run ``target`` in a forked process for each tuple of arguments, at once; each must exit 0."""
    workers = [_fork.Process(target=target, args=args) for args in calls]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=600)
        assert worker.exitcode == 0


def _endless_writer(path: str) -> None:
    _writer(path, 10**9, 0)


def test_four_processes_writing_1000_decisions_each_keep_one_chain(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    DecisionLog(path).close()
    run_in_processes(_writer, [(path, 1000, tag) for tag in range(4)])
    with DecisionLog(path, create=False) as log:
        result = log.verify()
        assert result.ok, result.message
        assert result.records == 4000 and result.head_seq == 4000
        entries = list(log.rows())
        assert [e.seq for e in entries] == list(range(1, 4001))
        assert len({e.decision_id for e in entries}) == 4000
        assert sorted({e.body["checked_facts"]["mhsd_triage_outcome"] for e in entries}) == ["self_care", "signposting"]


def test_threads_sharing_one_log_keep_one_chain(tmp_path: Path, hiu: recnav_rules.Policy) -> None:
    ids: list[str] = []
    lock = threading.Lock()

    with DecisionLog(tmp_path / "threads.sqlite") as log:

        def write() -> None:
            for _ in range(100):
                decision = log.record(hiu.evaluate(BASELINE, as_of=AS_OF), policy=hiu, facts=BASELINE)
                with lock:
                    ids.append(str(decision.decision_id))

        threads = [threading.Thread(target=write) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result = log.verify()
        assert result.ok and result.records == 400
        assert sorted(e.decision_id for e in log.rows()) == sorted(ids)


def test_kill_9_while_writing_leaves_a_log_that_verifies(tmp_path: Path) -> None:
    path = str(tmp_path / "killed.sqlite")
    DecisionLog(path).close()
    chooser = random.Random(os.getpid())
    seen = 0
    for _ in range(6):
        worker = _fork.Process(target=_endless_writer, args=(path,))
        worker.start()
        time.sleep(0.3 + chooser.random() * 0.7)  # at a random moment, mid-transaction or not
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        worker.join(timeout=60)
        assert worker.exitcode == -signal.SIGKILL
        with DecisionLog(path, create=False) as log:
            result = log.verify()
            assert result.ok, result.message
            assert result.records >= seen
            seen = result.records
    assert seen > 0
