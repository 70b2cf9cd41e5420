"""Batch evaluation with a decision log: every decision recorded, in input order, in the main process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import recnav_rules
from recnav_rules.audit import DecisionLog, DecisionLogError
from recnav_rules.batch import evaluate_many
from recnav_rules.cli import main
from tests.conftest import AS_OF, BASELINE

NHS = "943 476 5919"


def referrals(count: int) -> list[Any]:
    items: list[Any] = []
    for index in range(count):
        if index % 7 == 3:
            items.append({**BASELINE, "age": "old"})  # bad facts: an error, not logged
        elif index % 11 == 5:
            items.append(["not", "a", "mapping"])
        else:
            items.append({**BASELINE, "nhs_number": NHS, "mhsd_triage_outcome": "self_care" if index % 2 else "signposting"})
    return items


@pytest.mark.parametrize("jobs", [1, 2])
def test_evaluate_many_records_each_decision_in_input_order(tmp_path: Path, hiu: recnav_rules.Policy, jobs: int) -> None:
    items = referrals(60)
    with DecisionLog(tmp_path / f"batch{jobs}.sqlite", subject_key=b"k") as log:
        results = list(evaluate_many(hiu, items, as_of=AS_OF, jobs=jobs, chunk_size=8, log=log))
        decided = [r for r in results if r.ok]
        assert [r.line for r in results] == list(range(1, 61))
        assert len(decided) < 60 and all(r.decision_dict and "decision_id" in r.decision_dict for r in decided)
        entries = list(log.rows())
        assert [e.decision_id for e in entries] == [r.decision_dict["decision_id"] for r in decided if r.decision_dict]
        for entry, result in zip(entries, decided, strict=True):
            assert entry.body["checked_facts"]["mhsd_triage_outcome"] == items[result.line - 1]["mhsd_triage_outcome"]
        assert log.verify().ok
        assert len(log.find_subject(NHS)) == len(decided)
        assert log.replay().ok


def test_evaluate_many_fails_closed_when_the_log_cannot_be_written(tmp_path: Path, hiu: recnav_rules.Policy) -> None:
    log = DecisionLog(tmp_path / "ro.sqlite")
    log.record_maker(hiu)  # sources stored; then the database stops taking writes
    log._store._conn.execute("PRAGMA query_only = ON")  # type: ignore[attr-defined]
    handed_out = []
    with pytest.raises(DecisionLogError, match="cannot write to the decision log"):
        for result in evaluate_many(hiu, referrals(20), as_of=AS_OF, chunk_size=4, log=log):
            handed_out.append(result)
    assert handed_out == []  # nothing was given out as logged
    log.close()


def test_the_batch_command_logs_with_two_workers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = tmp_path / "in.jsonl"
    batch.write_text("".join(json.dumps(item) + "\n" for item in referrals(40)), encoding="utf-8")
    out, errors, log_path = tmp_path / "out.jsonl", tmp_path / "errors.jsonl", tmp_path / "cmd.sqlite"
    argv = ["evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20", "--batch", str(batch), "--out", str(out), "--errors", str(errors), "--jobs", "2", "--log", str(log_path)]
    assert main(argv) == 0
    decided = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert capsys.readouterr().err.endswith(f"lines in: 40, decisions: {len(decided)}, errors: {40 - len(decided)}, blank: 0\n")
    with DecisionLog(log_path, create=False) as log:
        assert [e.decision_id for e in log.rows()] == [d["decision_id"] for d in decided]
        assert log.verify().ok
    assert main(["log", "verify", str(log_path)]) == 0


def test_logged_in_order_stores_a_results_records_before_handing_it_on(tmp_path: Path, hiu: recnav_rules.Policy) -> None:
    from recnav_rules.audit.batching import logged_in_order
    from recnav_rules.audit.record import PreparedRecord

    with DecisionLog(tmp_path / "chunks.sqlite") as log:
        maker = log.record_maker(hiu)
        facts = {**BASELINE, "mhsd_triage_outcome": "signposting"}
        made = [maker.prepare(hiu.evaluate(facts, as_of=AS_OF), facts) for _ in range(11)]
        chunks: list[Any] = [made[0:3], [], made[3:4], made[4], None, made[5:11]]  # several, none, one, one bare, an error, several
        handed: list[Any] = []
        for chunk in logged_in_order(chunks, log, lambda chunk: chunk, block=4):
            stored = {e.decision_id for e in log.rows()}
            mine = [chunk] if isinstance(chunk, PreparedRecord) else chunk or []
            assert all(record.decision_id in stored for record in mine)  # in the log before it is handed on
            handed.append(chunk)
        assert handed == chunks
        assert [e.decision_id for e in log.rows()] == [r.decision_id for r in made]  # in input order
        assert log.verify().ok and log.verify().records == 11
