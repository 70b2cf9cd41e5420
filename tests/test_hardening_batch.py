"""Batch evaluation under hostile input and careless operation: nothing lost, nothing crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import recnav_rules
from recnav_rules import batch
from recnav_rules.batch import MAX_PROBLEMS_REPORTED, MAX_UNKNOWN_FACTS, evaluate_many
from recnav_rules.cli import main
from tests.conftest import AS_OF, BASELINE

BATCH = ["evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20", "--batch"]
CALL = {"at": "2026-11-01T10:00:00Z", "category": "emergency", "location": "private_dwelling"}
NO_BIRTH = {k: v for k, v in BASELINE.items() if k != "date_of_birth"}

# Lines that once ended the whole run ("internal error", exit 1, output empty).
HOSTILE_LINES = [
    json.dumps(dict(NO_BIRTH, referral_date="0001-01-05", emergency_calls=[dict(CALL, at="0001-01-01T10:00:00Z")])),
    json.dumps(dict(BASELINE, emergency_calls=[dict(CALL, at="9999-12-31T23:30:00-01:00")])),
    '{"gp_practice_code": "\\ud800", "consent_to_referral": "\\udfff"}',
    '{"age": ' + "9" * 5000 + "}",
    json.dumps({f"agee{i}": True for i in range(40_000)}),
]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_hostile_lines_end_as_error_records_and_good_lines_are_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str], jobs: str) -> None:
    good = json.dumps(BASELINE)
    source = write_lines(tmp_path / "in.jsonl", [good, *HOSTILE_LINES, good])
    out, errors = tmp_path / "out.jsonl", tmp_path / "errors.jsonl"
    assert main([*BATCH, str(source), "--out", str(out), "--errors", str(errors), "--jobs", jobs]) == 0
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    decided, bad = read_jsonl(out), read_jsonl(errors)
    decided_lines, error_lines = [d["line"] for d in decided], [e["line"] for e in bad]
    # every line is in exactly one file; year-1 and year-9999 lines may be decided or refused
    assert sorted(decided_lines + error_lines) == [1, 2, 3, 4, 5, 6, 7]
    assert {1, 7} <= set(decided_lines) and {4, 5, 6} <= set(error_lines)
    assert summary == f"lines in: 7, decisions: {len(decided)}, errors: {len(bad)}, blank: 0"
    by_line = {e["line"]: e for e in bad}
    assert by_line[5]["kind"] == "json"
    assert by_line[6]["kind"] == "too-many-unknown-facts"
    assert "40,000 fact names" in by_line[6]["error"]
    assert "agee" not in json.dumps(by_line[6])  # no name or value from the line
    assert len(errors.read_bytes()) < 10_000  # a 40,000-key line gives a short record


class _Exploding:
    """A policy whose evaluation raises something the library never meant to raise."""

    def __init__(self, real: recnav_rules.Policy) -> None:
        self.real = real
        self.compiled = real.compiled

    def evaluate(self, facts: Any, *, as_of: Any = None) -> Any:
        if facts.get("explode"):
            raise OSError("secret-value-from-the-line /etc/passwd")
        return self.real.evaluate(facts, as_of=as_of)


def test_an_unexpected_exception_is_an_error_record_with_its_type_only(hiu: recnav_rules.Policy) -> None:
    items = [BASELINE, {"explode": "secret-value-from-the-line"}, BASELINE]
    results = list(evaluate_many(_Exploding(hiu), items, as_of=AS_OF))  # type: ignore[arg-type]
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].kind == "internal"
    assert results[1].error == "internal error while deciding this line (OSError); the line was not decided"
    assert "secret" not in results[1].to_json()


def test_many_bad_facts_are_reported_up_to_a_bound(hiu: recnav_rules.Policy) -> None:
    facts = dict(BASELINE, **{f"ag{i:02d}": 1 for i in range(MAX_UNKNOWN_FACTS)})
    [result] = evaluate_many(hiu, [facts], as_of=AS_OF)
    assert result.kind == "facts"
    assert len(result.problems) == MAX_PROBLEMS_REPORTED
    assert result.more == MAX_UNKNOWN_FACTS - MAX_PROBLEMS_REPORTED
    assert result.error is not None and result.error.endswith(f"; and {MAX_UNKNOWN_FACTS - MAX_PROBLEMS_REPORTED:,} more")
    record = json.loads(result.to_json())
    assert record["more"] == MAX_UNKNOWN_FACTS - MAX_PROBLEMS_REPORTED and len(record["problems"]) == MAX_PROBLEMS_REPORTED


def test_just_past_the_unknown_fact_bound_is_refused_unchecked(hiu: recnav_rules.Policy) -> None:
    facts = dict(BASELINE, **{f"ag{i:03d}": 1 for i in range(MAX_UNKNOWN_FACTS + 1)})
    [result] = evaluate_many(hiu, [facts], as_of=AS_OF)
    assert result.kind == "too-many-unknown-facts" and result.problems == ()


def test_a_key_given_twice_is_an_error_record_not_last_wins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = json.dumps(BASELINE)[:-1] + ', "consent_to_referral": false, "consent_to_referral": true}'
    source = write_lines(tmp_path / "in.jsonl", [line])
    out = tmp_path / "out.jsonl"
    assert main([*BATCH, str(source), "--out", str(out)]) == 0
    [record] = read_jsonl(Path(f"{out}.errors.jsonl"))
    assert record == {"line": 1, "error": "a key is given twice in one JSON object", "kind": "json"}
    assert read_jsonl(out) == []


def test_a_lone_surrogate_is_written_escaped(tmp_path: Path) -> None:
    result = batch.BatchResult(1, error="bad \ud800 value", kind="facts")
    text = result.to_json()
    text.encode("utf-8")  # would raise if the surrogate were written raw
    assert json.loads(text)["error"] == "bad \ud800 value"


# --- outputs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--out", "--errors"])
def test_an_output_that_is_the_input_is_refused_and_the_input_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str) -> None:
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(BASELINE)] * 3)
    before = source.read_bytes()
    link = tmp_path / "link.jsonl"
    link.symlink_to(source)
    for target in (source, link):
        assert main([*BATCH, str(source), option, str(target)]) == 2
        err = capsys.readouterr().err
        assert f"{option} would overwrite the input" in err and err.count("\n") == 1
        assert source.read_bytes() == before


def test_both_outputs_naming_one_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(BASELINE)])
    same = tmp_path / "same.jsonl"
    assert main([*BATCH, str(source), "--out", str(same), "--errors", str(same)]) == 2
    assert "--errors would overwrite the --out file" in capsys.readouterr().err
    assert not same.exists()


def test_an_output_that_is_the_policy_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], hiu: recnav_rules.Policy) -> None:
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(BASELINE)])
    before = Path(hiu.file).read_bytes()
    assert main([*BATCH, str(source), "--out", hiu.file]) == 2
    assert "would overwrite the policy file" in capsys.readouterr().err
    assert Path(hiu.file).read_bytes() == before


def test_outputs_appear_only_when_complete(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(BASELINE)] * 1200)
    out = tmp_path / "out.jsonl"
    out.write_text("previous run\n", encoding="utf-8")
    real = batch._decide_block
    calls = {"n": 0}

    def interrupted(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(batch, "_decide_block", interrupted)
    monkeypatch.setattr(batch, "_LINES_PER_BLOCK", 500)
    assert main([*BATCH, str(source), "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "interrupted (SIGINT) after 500 lines finished (500 decisions, 0 errors)" in err
    assert out.read_text(encoding="utf-8") == "previous run\n"  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]  # no temporary left
    monkeypatch.setattr(batch, "_decide_block", real)
    assert main([*BATCH, str(source), "--out", str(out)]) == 0
    assert len(read_jsonl(out)) == 1200
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl", "out.jsonl.errors.jsonl"]


def test_fail_on_error_makes_bad_lines_an_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = write_lines(tmp_path / "clean.jsonl", [json.dumps(BASELINE)])
    mixed = write_lines(tmp_path / "mixed.jsonl", [json.dumps(BASELINE), "[]"])
    out = str(tmp_path / "out.jsonl")
    assert main([*BATCH, str(mixed), "--out", out]) == 0
    assert main([*BATCH, str(mixed), "--out", out, "--fail-on-error"]) == 1
    assert main([*BATCH, str(clean), "--out", out, "--fail-on-error"]) == 0
    assert capsys.readouterr().err.splitlines()[-1] == "lines in: 1, decisions: 1, errors: 0, blank: 0"


def test_a_device_is_refused_as_batch_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*BATCH, "/dev/zero"]) == 2
    assert "not a file" in capsys.readouterr().err


# --- signals and dying parents (in subprocesses) --------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_batch(tmp_path: Path) -> tuple[subprocess.Popen[bytes], list[int]]:
    """A --jobs 2 batch reading a pipe that stays open: workers started, main waiting for input."""
    process = subprocess.Popen(
        [sys.executable, "-m", "recnav_rules.cli", *BATCH, "-", "--out", str(tmp_path / "out.jsonl"), "--jobs", "2"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a shell's '&' would leave it ignored
    )
    assert process.stdin is not None
    process.stdin.write((json.dumps(BASELINE) + "\n").encode() * (batch._LINES_PER_BLOCK + 400))  # a block sent, more to come
    process.stdin.flush()
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while time.monotonic() < deadline:
        workers = [c for c in _children(process.pid) if _alive(c)]
        if len(workers) >= 2:
            break
        time.sleep(0.1)
    assert len(workers) >= 2, "the workers never started"
    return process, workers


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to find worker processes")
def test_workers_end_when_the_main_process_is_killed(tmp_path: Path) -> None:
    process, workers = _start_batch(tmp_path)
    try:
        process.kill()
        process.wait()
        assert _wait_gone(workers, 20) == []
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if process.stdin:
            process.stdin.close()


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to find worker processes")
@pytest.mark.parametrize(("sig", "code", "name"), [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_a_signal_reports_how_many_lines_were_finished(tmp_path: Path, sig: signal.Signals, code: int, name: str) -> None:
    process, workers = _start_batch(tmp_path)
    try:
        time.sleep(1.0)  # let the first chunks be decided and written
        process.send_signal(sig)
        _, err = process.communicate(timeout=60)
        assert process.returncode == code
        text = err.decode()
        assert f"interrupted ({name}) after" in text and "lines finished" in text
        assert "Traceback" not in text
        assert not (tmp_path / "out.jsonl").exists()
        assert [p.name for p in tmp_path.iterdir() if p.suffix == ".part"] == []
        assert _wait_gone(workers, 20) == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _dying(policy: Any, items: list[tuple[int, object]], as_of: Any, trace: bool, *rest: Any) -> Any:
    """A worker that dies (as on a segfault) on a referral marked to kill it."""
    if any(isinstance(facts, dict) and facts.get("die") for _, facts in items):
        os._exit(1)
    return _real_decide_mappings(policy, items, as_of, trace, *rest)


_real_decide_mappings = batch._decide_mappings


@pytest.mark.skipif(sys.platform != "linux", reason="workers inherit the patched function by fork")
def test_a_worker_that_dies_costs_only_its_chunk(hiu: recnav_rules.Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "_decide_mappings", _dying)
    items: list[Any] = [BASELINE] * 6 + [{"die": True}] + [BASELINE] * 6
    results = list(evaluate_many(hiu, items, as_of=AS_OF, jobs=2, chunk_size=3))
    assert [r.line for r in results] == list(range(1, 14))
    failed = [r.line for r in results if not r.ok]
    assert 7 in failed and set(failed) <= {4, 5, 6, 7, 8, 9, 10, 11, 12, 13}  # the dying chunk, and chunks lost with the pool
    assert all(r.kind == "internal" and "worker process ended" in (r.error or "") for r in results if not r.ok)
    assert [r.ok for r in results[:3]] == [True, True, True]


def test_outputs_get_the_permissions_an_ordinary_file_would(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(BASELINE)])
    out = tmp_path / "out.jsonl"
    old = os.umask(0o027)
    try:
        assert main([*BATCH, str(source), "--out", str(out)]) == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o640
    out.chmod(0o600)
    assert main([*BATCH, str(source), "--out", str(out)]) == 0
    assert out.stat().st_mode & 0o777 == 0o600  # an existing file keeps its permissions
