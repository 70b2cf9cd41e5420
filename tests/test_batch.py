"""Batch evaluation: order kept, nothing lost, bad lines reported, constant memory."""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import recnav_rules
from recnav_rules import batch
from recnav_rules.batch import MAX_LINE_BYTES, BatchResult, evaluate_many
from recnav_rules.cli import main
from tests.conftest import AS_OF, BASELINE, SOMERSET_PRACTICE

BATCH = ["evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20", "--batch"]


def referrals(count: int) -> list[dict[str, Any]]:
    """Referrals with a mix of outcomes: accept, signpost (under 18, outside BNSSG), reject."""
    out: list[dict[str, Any]] = []
    for i in range(count):
        facts = dict(BASELINE, date_of_birth=f"{1950 + i % 60}-06-15")
        if i % 7 == 3:
            facts["gp_practice_code"] = SOMERSET_PRACTICE
        if i % 5 == 1:
            facts["in_custody"] = True
        if i % 11 == 2:
            del facts["consent_to_referral"]
        out.append(facts)
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- evaluate_many ---------------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 2])
def test_results_come_in_input_order_with_the_same_decisions(hiu: recnav_rules.Policy, jobs: int) -> None:
    facts = referrals(1200)
    results = list(evaluate_many(hiu, facts, as_of=AS_OF, jobs=jobs, chunk_size=100))
    assert [r.line for r in results] == list(range(1, 1201))
    assert all(r.ok and r.decision_dict is not None for r in results)
    got = [(r.decision_dict or {})["outcome"] for r in results]
    expected = [hiu.evaluate(f, as_of=AS_OF).outcome.value for f in facts]
    assert got == expected
    assert {"accept", "reject", "signpost"} <= set(got)


def test_decision_dict_holds_the_summary_fields(hiu: recnav_rules.Policy) -> None:
    facts = dict(BASELINE, in_custody=True)
    [result] = evaluate_many(hiu, [facts], as_of=AS_OF)
    decision = hiu.evaluate(facts, as_of=AS_OF)
    summary = result.decision_dict
    assert summary is not None and result.error is None
    assert summary["outcome"] == "reject" and summary["complete"] is True
    assert summary["reasons"] == ["in-custody"]
    assert summary["missing_facts"] == []
    assert summary["policy"] == {"id": hiu.id, "version": hiu.version, "digest": hiu.digest}
    assert summary["facts_digest"] == decision.facts_digest
    assert "trace" not in summary
    assert result.to_record() == {"line": 1, **summary}


def test_missing_facts_are_reported_not_errors(hiu: recnav_rules.Policy) -> None:
    facts = {k: v for k, v in BASELINE.items() if k != "consent_to_referral"}
    [result] = evaluate_many(hiu, [facts], as_of=AS_OF)
    assert result.decision_dict is not None
    assert result.decision_dict["complete"] is False
    assert "consent_to_referral" in result.decision_dict["missing_facts"]


@pytest.mark.parametrize("jobs", [1, 2])
def test_trace_gives_the_full_decision(hiu: recnav_rules.Policy, jobs: int) -> None:
    [result] = evaluate_many(hiu, [BASELINE], as_of=AS_OF, trace=True, jobs=jobs)
    assert result.decision_dict == hiu.evaluate(BASELINE, as_of=AS_OF).to_dict()
    assert result.decision_dict["trace"]


@pytest.mark.parametrize("jobs", [1, 2])
def test_bad_items_become_errors_not_exceptions(hiu: recnav_rules.Policy, jobs: int) -> None:
    items: list[Any] = [BASELINE, {"agee": 3}, "not a mapping", [1, 2], None, dict(BASELINE, age="x"), BASELINE]
    results = list(evaluate_many(hiu, items, as_of=AS_OF, jobs=jobs, chunk_size=2))
    assert [r.line for r in results] == [1, 2, 3, 4, 5, 6, 7]
    assert [r.ok for r in results] == [True, False, False, False, False, False, True]
    assert "did you mean 'age'" in (results[1].error or "")
    assert results[2].error == "facts must be a JSON object (a mapping), got str"
    assert results[3].error == "facts must be a JSON object (a mapping), got a list"
    assert "age" in (results[5].error or "")
    assert all(r.decision_dict is None for r in results if not r.ok)
    assert json.loads(results[2].to_json()) == {"line": 3, "error": results[2].error, "kind": "not-object"}
    assert results[5].kind == "facts" and results[5].problems[0]["field"] == "age"


@pytest.mark.parametrize("jobs", [1, 2])
def test_consumes_an_endless_input_lazily(hiu: recnav_rules.Policy, jobs: int) -> None:
    pulled = 0

    def endless() -> Iterator[dict[str, Any]]:
        nonlocal pulled
        while True:
            pulled += 1
            yield BASELINE

    results = evaluate_many(hiu, endless(), as_of=AS_OF, jobs=jobs, chunk_size=10)
    first = list(itertools.islice(results, 25))
    assert [r.line for r in first] == list(range(1, 26))
    assert all(r.ok for r in first)
    assert pulled <= 10 * (3 + 3 * jobs)  # the 3 chunks used and at most 3 per worker in flight
    results.close()  # type: ignore[attr-defined]  # a generator: stops the workers


def test_nothing_is_read_before_iteration(hiu: recnav_rules.Policy) -> None:
    def exploding() -> Iterator[dict[str, Any]]:
        raise AssertionError("read too early")
        yield BASELINE  # pragma: no cover

    evaluate_many(hiu, exploding(), as_of=AS_OF)


@pytest.mark.parametrize(("kwargs", "message"), [({"jobs": -1}, "jobs"), ({"chunk_size": 0}, "chunk_size")])
def test_bad_options_raise_at_once(hiu: recnav_rules.Policy, kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate_many(hiu, [BASELINE], **kwargs)  # type: ignore[arg-type]


def _unpicklable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the policy refuse to pickle, as compiled policies holding closures once did."""

    def refuse(value: object, *args: object, **kwargs: object) -> bytes:
        raise TypeError("cannot pickle")

    monkeypatch.setattr(batch.pickle, "dumps", refuse)


def test_workers_receive_the_pickled_policy_when_it_pickles(hiu: recnav_rules.Policy) -> None:
    detached = recnav_rules.Policy(dataclasses.replace(hiu.compiled, file="<memory>"))
    try:
        pickle.dumps(detached)
    except (TypeError, AttributeError):
        pytest.skip("policies do not pickle yet: workers compile them from the file")
    results = list(evaluate_many(detached, [BASELINE, {"agee": 1}], as_of=AS_OF, jobs=2))
    assert [r.ok for r in results] == [True, False]


def test_parallel_run_without_pickling_needs_a_policy_file(hiu: recnav_rules.Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    _unpicklable(monkeypatch)
    detached = recnav_rules.Policy(dataclasses.replace(hiu.compiled, file="<memory>"))
    assert [r.ok for r in evaluate_many(detached, [BASELINE], as_of=AS_OF)] == [True]
    with pytest.raises(recnav_rules.PolicyError, match="needs a policy loaded from a file"):
        list(evaluate_many(detached, [BASELINE], as_of=AS_OF, jobs=2))


def test_workers_refuse_a_policy_file_that_changed(tmp_path: Path, hiu: recnav_rules.Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    _unpicklable(monkeypatch)
    copy = tmp_path / "bnssg.yaml"
    copy.write_text(Path(hiu.file).read_text(encoding="utf-8") + "# a copy\n", encoding="utf-8")
    policy = recnav_rules.load_policy(f"{copy}#bnssg-hiu-pilot")
    text = copy.read_text(encoding="utf-8")
    copy.write_text(text.replace(f"version: {policy.version}", "version: 999.0.0", 1), encoding="utf-8")
    assert policy.file == str(copy) and "999.0.0" in copy.read_text(encoding="utf-8")
    with pytest.raises(recnav_rules.PolicyError, match="changed"):
        list(evaluate_many(policy, [BASELINE], as_of=AS_OF, jobs=2))


def test_batch_result_is_frozen() -> None:
    result = BatchResult(1, error="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.line = 2  # type: ignore[misc]


# --- the command -----------------------------------------------------------------------------------

MIXED_LINES: list[bytes] = [
    json.dumps(BASELINE).encode(),  # 1 accept
    b"{not json",  # 2 error
    b"",  # 3 blank
    b"[1, 2]",  # 4 error: not an object
    json.dumps({"age": "x"}).encode(),  # 5 error: bad facts
    json.dumps(dict(BASELINE, in_custody=True)).encode() + b"\r",  # 6 reject (CRLF line)
    b"   \t",  # 7 blank
    b'{"age": "\xff"}',  # 8 error: not UTF-8
    b"{" + b" " * MAX_LINE_BYTES + b"}",  # 9 error: too long
    json.dumps(dict(BASELINE, gp_practice_code=SOMERSET_PRACTICE)).encode(),  # 10 signpost, no final newline
]


@pytest.mark.parametrize("jobs", ["1", "2", "0"])
def test_batch_command_accounts_for_every_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], jobs: str) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(MIXED_LINES))
    out = tmp_path / "out.jsonl"
    assert main([*BATCH, str(source), "--out", str(out), "--jobs", jobs]) == 0
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == "lines in: 10, decisions: 3, errors: 5, blank: 2"
    decided = read_jsonl(out)
    assert [(d["line"], d["outcome"]) for d in decided] == [(1, "accept"), (6, "reject"), (10, "signpost")]
    assert decided[1]["reasons"] == ["in-custody"]
    errors = read_jsonl(Path(f"{out}.errors.jsonl"))
    assert [e["line"] for e in errors] == [2, 4, 5, 8, 9]
    messages = [e["error"] for e in errors]
    assert messages[0].startswith("not JSON")
    assert messages[1] == "facts must be a JSON object (a mapping), got a list"
    assert "age" in messages[2]
    assert messages[3] == "not UTF-8 text"
    assert messages[4] == f"line longer than {MAX_LINE_BYTES} bytes"
    assert [e["kind"] for e in errors] == ["json", "not-object", "facts", "json", "too-long"]
    # nothing lost: every non-blank line is in exactly one of the two files
    assert sorted([d["line"] for d in decided] + [e["line"] for e in errors]) == [1, 2, 4, 5, 6, 8, 9, 10]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_batch_command_keeps_order_over_many_chunks(tmp_path: Path, capsys: pytest.CaptureFixture[str], hiu: recnav_rules.Policy, jobs: str) -> None:
    facts = referrals(2345)
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(f) + "\n" for f in facts), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    errors = tmp_path / "bad.jsonl"
    assert main([*BATCH, str(source), "--out", str(out), "--errors", str(errors), "--jobs", jobs]) == 0
    assert "lines in: 2345, decisions: 2345, errors: 0, blank: 0" in capsys.readouterr().err
    decided = read_jsonl(out)
    assert [d["line"] for d in decided] == list(range(1, 2346))
    assert [d["outcome"] for d in decided] == [hiu.evaluate(f, as_of=AS_OF).outcome.value for f in facts]
    assert errors.read_text(encoding="utf-8") == ""


def test_batch_trace_gives_full_decisions(tmp_path: Path, hiu: recnav_rules.Policy) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(BASELINE) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main([*BATCH, str(source), "--out", str(out), "--trace"]) == 0
    [record] = read_jsonl(out)
    assert record == {"line": 1, **hiu.evaluate(BASELINE, as_of=AS_OF).to_dict()}
    assert record["trace"]


def test_batch_to_standard_output_with_errors_on_standard_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(BASELINE) + "\n[]\n", encoding="utf-8")
    assert main([*BATCH, str(source)]) == 0
    captured = capsys.readouterr()
    [record] = [json.loads(line) for line in captured.out.splitlines()]
    assert record["line"] == 1 and record["outcome"] == "accept"
    err_lines = captured.err.splitlines()
    assert json.loads(err_lines[0]) == {"line": 2, "error": "facts must be a JSON object (a mapping), got a list", "kind": "not-object"}
    assert err_lines[-1] == "lines in: 2, decisions: 1, errors: 1, blank: 0"


def test_batch_reads_standard_input(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    stdin = io.TextIOWrapper(io.BytesIO((json.dumps(BASELINE) + "\n\n").encode()), encoding="utf-8")
    monkeypatch.setattr("sys.stdin", stdin)
    assert main([*BATCH, "-"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["outcome"] == "accept"
    assert captured.err.splitlines()[-1] == "lines in: 2, decisions: 1, errors: 0, blank: 1"


def test_empty_input_gives_zero_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"")
    out = tmp_path / "out.jsonl"
    assert main([*BATCH, str(source), "--out", str(out)]) == 0
    assert "lines in: 0, decisions: 0, errors: 0, blank: 0" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == ""


def test_batch_input_that_cannot_be_read(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main([*BATCH, str(tmp_path / "missing.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "missing.jsonl" in err and err.count("\n") == 1
    assert main([*BATCH, str(tmp_path)]) == 2  # a directory
    err = capsys.readouterr().err
    assert str(tmp_path) in err and err.count("\n") == 1


def test_batch_output_that_cannot_be_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(BASELINE) + "\n", encoding="utf-8")
    assert main([*BATCH, str(source), "--out", str(tmp_path / "no" / "such" / "dir.jsonl")]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert main([*BATCH, str(source), "--out", str(tmp_path / "ok.jsonl"), "--errors", str(tmp_path)]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert not (tmp_path / "ok.jsonl").exists()


def test_batch_rejects_negative_jobs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(BASELINE) + "\n", encoding="utf-8")
    assert main([*BATCH, str(source), "--jobs", "-1"]) == 2
    assert "--jobs" in capsys.readouterr().err


def test_progress_bar_only_on_a_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "in.jsonl"
    line = json.dumps(BASELINE) + "\n"
    source.write_text(line * 2500, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main([*BATCH, str(source), "--out", str(out)]) == 0
    assert "\r" not in capsys.readouterr().err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main([*BATCH, str(source), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    final = err.split("\r")[-1]
    assert final.startswith("reading: 100%") and "2,500 lines" in final  # tqdm's bar over the input's bytes
    assert err.splitlines()[-1] == "lines in: 2500, decisions: 2500, errors: 0, blank: 0"
