"""The batch command's pipeline: input read as blocks of whole lines (numbered as the lines
are, over-long lines skipped unheld), and each chunk's output written as one blob of JSON lines
that are the records ``decision_summary`` describes."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recnav_rules
from recnav_rules import batch
from recnav_rules.audit import DecisionLog
from recnav_rules.batch import decision_summary
from recnav_rules.cli import main
from tests.conftest import AS_OF, BASELINE
from tests.test_batch import referrals

BATCH = ["evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20", "--batch"]


def classify(number: int, line: bytes, longest: int) -> tuple[int, Any]:
    if len(line) > longest:
        return number, "too-long"
    if not line or line.isspace():
        return number, "blank"
    return number, line


def expected_lines(data: bytes, longest: int) -> list[tuple[int, Any]]:
    """What reading line by line gives: every line numbered, over-long or blank or its bytes."""
    pieces = data.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()  # the text after the last newline, when there is none
    return [classify(number, line, longest) for number, line in enumerate(pieces, start=1)]


class Trickle(io.RawIOBase):
    """A pipe-like stream: each read gives at most the next of ``sizes`` bytes."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self.data, self.sizes, self.at = data, sizes, 0

    def readable(self) -> bool:
        return True

    def read1(self, size: int = -1) -> bytes:
        step = self.sizes[self.at % len(self.sizes)] if self.sizes else size
        self.at += 1
        piece = self.data[: min(size, step)]
        self.data = self.data[len(piece) :]
        return piece


LINES = st.lists(
    st.sampled_from([b"", b" ", b"\t\r", b"{}", b'{"a": 1}', b"x" * 7, b"y" * 12, b"z" * 30, b"\r"]) | st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"")),
    max_size=25,
)


INPUTS = {  # an input and the reader's limits, made small so that every edge is reached
    "lines": LINES,
    "final_newline": st.booleans(),
    "longest": st.integers(1, 16),
    "read_bytes": st.integers(1, 40),
    "per_block": st.integers(1, 6),
    "block_bytes": st.integers(1, 80),
}


@given(**INPUTS, sizes=st.lists(st.integers(1, 50), max_size=5))
@settings(max_examples=600, deadline=None)
def test_blocks_give_every_line_once_in_order(
    lines: list[bytes], final_newline: bool, longest: int, read_bytes: int, per_block: int, block_bytes: int, sizes: list[int]
) -> None:
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    counts = batch._Counts()
    got: list[tuple[int, Any]] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(batch, "MAX_LINE_BYTES", longest)
        patch.setattr(batch, "_READ_BYTES", read_bytes)
        patch.setattr(batch, "_BLOCK_BYTES", block_bytes)
        chunks = list(batch._read_blocks(Trickle(data, sizes), counts, "in.jsonl", per_block))  # type: ignore[arg-type]
        for index, chunk in enumerate(chunks):
            if isinstance(chunk, batch._TooLong):
                got.append((chunk.line, "too-long"))
                continue
            assert 1 <= chunk.count <= per_block
            assert len(chunk.data) <= chunk.count * (longest + read_bytes + 1)  # never a whole over-long line
            pieces = chunk.data.split(b"\n")
            if chunk.data.endswith(b"\n"):
                pieces.pop()
            assert len(pieces) == chunk.count
            following = chunks[index + 1] if index + 1 < len(chunks) else None
            if following is not None and not isinstance(following, batch._TooLong):  # full, unless the bytes ran over
                assert chunk.count == per_block or len(chunk.data) >= block_bytes
            got += [classify(n, line, longest) for n, line in enumerate(pieces, start=chunk.first)]
    assert got == expected_lines(data, longest)
    assert counts.lines == len(got)
    assert counts.read == len(data)


def test_an_over_long_line_is_never_held_whole(tmp_path: Path) -> None:
    huge = b'{"a": "' + b"x" * (3 * batch.MAX_LINE_BYTES) + b'"}'
    counts = batch._Counts()
    chunks = list(batch._read_blocks(io.BytesIO(b"{}\n" + huge + b"\n{}"), counts, "in", 500))
    assert [type(c).__name__ for c in chunks] == ["_Block", "_TooLong", "_Block"]
    assert [getattr(c, "first", getattr(c, "line", None)) for c in chunks] == [1, 2, 3]
    assert max(len(c.data) for c in chunks if isinstance(c, batch._Block)) <= 3
    assert counts.lines == 3 and counts.read == len(huge) + 6




@pytest.mark.parametrize("jobs", ["1", "2"])
def test_each_output_line_is_the_summary_record(tmp_path: Path, hiu: recnav_rules.Policy, monkeypatch: pytest.MonkeyPatch, jobs: str) -> None:
    monkeypatch.setattr(batch, "_LINES_PER_BLOCK", 7)
    facts = referrals(40)
    source = tmp_path / "in.jsonl"
    text = "".join(json.dumps(f) + ("\n\n" if i % 9 == 4 else "\n") for i, f in enumerate(facts))
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main([*BATCH, str(source), "--out", str(out), "--jobs", jobs]) == 0
    written = out.read_bytes()
    assert written.endswith(b"\n") and b"\n\n" not in written
    numbers = [n for n, line in enumerate(text.split("\n"), start=1) if line]
    expected = [{"line": n, **decision_summary(hiu.evaluate(f, as_of=AS_OF))} for n, f in zip(numbers, facts, strict=True)]
    assert [json.loads(line) for line in written.decode("utf-8").splitlines()] == expected


def test_summary_lines_written_from_the_remembered_part_are_each_decisions_own(hiu: recnav_rules.Policy) -> None:
    """The part of a line that decisions settled alike share is remembered by the tuples it was
    written from: decisions on other days, with other next steps, or with a decision id, never
    get another's line."""
    import datetime as dt

    batch._SUMMARIES.clear()
    days = [AS_OF, AS_OF + dt.timedelta(days=1), dt.date(2027, 3, 1)]
    for number, facts in enumerate(referrals(60) * 2, start=1):
        for day in days:
            decision = hiu.evaluate(facts, as_of=day)
            for made in (decision, decision.with_decision_id(f"id-{number}")):
                assert json.loads(batch._decision_line(number, made, False)) == {"line": number, **decision_summary(made)}
    assert 0 < len(batch._SUMMARIES) <= batch._SUMMARIES_SIZE


def test_the_remembered_part_is_bounded_and_not_kept_for_lists(hiu: recnav_rules.Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "_SUMMARIES_SIZE", 3)
    batch._SUMMARIES.clear()
    for facts in referrals(30):
        hiu_decision = hiu.evaluate(facts, as_of=AS_OF)
        batch._decision_line(1, hiu_decision, False)
        assert len(batch._SUMMARIES) <= 3
    decision = hiu.evaluate(BASELINE, as_of=AS_OF)
    batch._SUMMARIES.clear()
    reasons = list(decision.reasons)  # a list could change after it was written
    batch._summary_middle(decision.outcome, True, (), reasons, (), (), AS_OF, ("p", "1", "d"))
    assert batch._SUMMARIES == {}


@settings(max_examples=300, deadline=None, database=None)
@given(st.sampled_from(referrals(80)), st.integers(-400, 400), st.sampled_from(["referral_date", "date_of_birth", "in_custody", None]))
def test_a_line_made_without_the_decision_is_the_decisions_line(facts: dict[str, Any], shift: int, drop: str | None) -> None:
    """Batch lines are made from the engine's parts (``NativeEngine.summary``) without making
    the decision: byte for byte the line of the decision ``evaluate`` makes, on any day."""
    import datetime as dt

    hiu = recnav_rules.load_policy("bnssg-hiu-pilot")
    day = AS_OF + dt.timedelta(days=shift)
    facts = {k: v for k, v in facts.items() if k != drop}
    try:
        decision = hiu.evaluate(facts, as_of=day)
    except recnav_rules.FactValidationError:  # the summary raises too, or hands the facts over (the batch then asks evaluate)
        try:
            assert hiu._summary(facts, day) is None
        except recnav_rules.FactValidationError:
            pass
        return
    summary = hiu._summary(facts, day)
    assert summary is not None
    assert batch._summary_line(3, summary, day) == batch._decision_line(3, decision, False)


def test_a_traced_line_is_the_whole_decision(tmp_path: Path, hiu: recnav_rules.Policy) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("\n" + json.dumps(BASELINE) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main([*BATCH, str(source), "--out", str(out), "--trace"]) == 0
    [line] = out.read_bytes().splitlines()
    assert line.startswith(b'{"line":2,"decision_id":')
    assert json.loads(line) == {"line": 2, **hiu.evaluate(BASELINE, as_of=AS_OF).to_dict()}


def test_records_orjson_cannot_write_are_written_escaped() -> None:
    assert batch._json_line({"error": "bad \ud800 value", "n": 2**70}) == b'{"error":"bad \\ud800 value","n":1180591620717411303424}'
    assert batch._json_line({"error": "é"}) == '{"error":"é"}'.encode()
    assert batch._json_line({"due": AS_OF, "note": "\udfff"}) == b'{"due":"2026-11-20","note":"\\udfff"}'


def test_standard_output_without_a_byte_buffer_gets_text(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(BASELINE) + "\n[]\n", encoding="utf-8")
    stdout, stderr = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "stderr", stderr)
    assert main([*BATCH, str(source)]) == 0
    assert json.loads(stdout.getvalue())["outcome"] == "accept"
    errors = stderr.getvalue().splitlines()
    assert json.loads(errors[0])["kind"] == "not-object"
    assert errors[-1] == "lines in: 2, decisions: 1, errors: 1, blank: 0"


def test_the_log_records_each_decision_with_blank_and_bad_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "_LINES_PER_BLOCK", 4)
    lines = [json.dumps(BASELINE), "", "[]", json.dumps(dict(BASELINE, in_custody=True)), "  ", "{bad", json.dumps(BASELINE)]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out, log_path = tmp_path / "out.jsonl", tmp_path / "log.sqlite"
    assert main([*BATCH, str(source), "--out", str(out), "--jobs", "2", "--log", str(log_path)]) == 0
    assert capsys.readouterr().err.splitlines()[-1] == "lines in: 7, decisions: 3, errors: 2, blank: 2"
    decided = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [d["line"] for d in decided] == [1, 4, 7]
    with DecisionLog(log_path, create=False) as log:
        assert [e.decision_id for e in log.rows()] == [d["decision_id"] for d in decided]


def _dying_block(policy: Any, chunk: Any, *rest: Any) -> Any:
    """A worker that dies (as on a segfault) on a chunk holding a line marked to kill it."""
    lines = batch._lines_of(chunk) if isinstance(chunk, batch._Range) else chunk  # a file's lines, read by the worker
    if isinstance(lines, batch._Block) and b'"die"' in lines.data:
        os._exit(1)
    return _real_decide_block(policy, chunk, *rest)


_real_decide_block = batch._decide_block


@pytest.mark.skipif(sys.platform != "linux", reason="workers inherit the patched function by fork")
def test_a_worker_that_dies_costs_its_chunk_and_every_line_is_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "_decide_block", _dying_block)
    monkeypatch.setattr(batch, "_LINES_PER_BLOCK", 3)
    good = json.dumps(BASELINE)
    lines = [good] * 6 + ['{"die": true}', ""] + [good] * 6
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out, errors = tmp_path / "out.jsonl", tmp_path / "errors.jsonl"
    assert main([*BATCH, str(source), "--out", str(out), "--errors", str(errors), "--jobs", "2"]) == 0
    bad = [json.loads(line) for line in errors.read_text(encoding="utf-8").splitlines()]
    decided = [json.loads(line)["line"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert 7 in [e["line"] for e in bad] and 8 not in [e["line"] for e in bad] + decided  # line 8 is blank
    assert all(e["kind"] == "internal" and "worker process ended" in e["error"] for e in bad)
    assert sorted(decided + [e["line"] for e in bad]) == [n for n in range(1, 15) if n != 8]
    assert decided[:3] == [1, 2, 3]
    summary = capsys.readouterr().err.splitlines()[-1]
    assert summary == f"lines in: 14, decisions: {len(decided)}, errors: {len(bad)}, blank: 1"


def test_batch_lines_of_a_dated_policy_name_the_policy_in_force(tmp_path: Path) -> None:
    """Lines made without the decision pick the parameter values in force on the as-of date and
    refuse a date before the policy takes effect, as ``evaluate`` does."""
    import datetime as dt

    from tests.test_programs import DATED

    path = tmp_path / "dated.yaml"
    path.write_text(DATED, encoding="utf-8")
    policy = recnav_rules.load_policy(path)
    known = batch._known_facts(policy)
    raw = b'{"age": 17}'
    for day in (dt.date(2030, 3, 31), dt.date(2030, 4, 1)):
        is_error, line, _ = batch._decide_raw(policy, known, 4, raw, day, False, None)
        assert not is_error
        assert json.loads(line) == {"line": 4, **decision_summary(policy.evaluate({"age": 17}, as_of=day))}
    before, after = (json.loads(batch._decide_raw(policy, known, 4, raw, d, False, None)[1]) for d in (dt.date(2030, 3, 31), dt.date(2030, 4, 1)))
    assert (before["outcome"], after["outcome"]) == ("reject", "accept") and before["policy"]["digest"] != after["policy"]["digest"]
    is_error, line, _ = batch._decide_raw(policy, known, 4, raw, dt.date(2025, 12, 31), False, None)
    assert is_error and "before policy 'dated' takes effect" in json.loads(line)["error"]


def test_outputs_reach_the_disk_as_they_grow_and_the_file_is_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Every ``_SYNC_EVERY`` bytes a thread asks the disk to catch up (fdatasync), so that the
    last fsync has little left; the output is whole and in order all the same."""
    synced: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(batch, "_SYNC_EVERY", 4096)
    monkeypatch.setattr(batch.os, "fdatasync", lambda fd: (synced.append(fd), real(fd))[1])
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    facts = referrals(40)
    source.write_text("".join(json.dumps(f) + "\n" for f in facts), encoding="utf-8")
    assert main([*BATCH, str(source), "--out", str(out), "--jobs", "1"]) == 0
    assert synced  # 40 lines of some 450 bytes passed 4 KiB several times
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["line"] for line in lines] == list(range(1, 41))
    assert not list(tmp_path.glob(".out.jsonl.*.part"))


def test_a_write_back_failure_met_by_the_thread_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The kernel reports a write-back error once per open file: when the thread meets it, the
    run ends as for a full disk (exit 1, one line, no output file put in place)."""

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(batch, "_SYNC_EVERY", 4096)
    monkeypatch.setattr(batch.os, "fdatasync", failing)
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps(f) + "\n" for f in referrals(40)), encoding="utf-8")
    assert main([*BATCH, str(source), "--out", str(out), "--jobs", "1"]) == 1
    assert "cannot write output: Input/output error" in capsys.readouterr().err
    assert not out.exists()
    assert not list(tmp_path.glob(".out.jsonl.*.part"))  # the temporary file is removed


@given(**INPUTS)
@settings(max_examples=400, deadline=None)
def test_ranges_of_the_file_are_the_blocks(
    lines: list[bytes], final_newline: bool, longest: int, read_bytes: int, per_block: int, block_bytes: int
) -> None:
    """For a regular file with ``jobs > 1`` the main process sends ranges of the file, which the
    worker reads itself: the same lines, numbered alike, as the blocks it would have sent."""
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    file = batch._InputFile("in.jsonl", 1, 2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(batch, "MAX_LINE_BYTES", longest)
        patch.setattr(batch, "_READ_BYTES", read_bytes)
        patch.setattr(batch, "_BLOCK_BYTES", block_bytes)
        blocks = list(batch._read_blocks(io.BytesIO(data), batch._Counts(), "in.jsonl", per_block))
        ranges = list(batch._read_blocks(io.BytesIO(data), batch._Counts(), "in.jsonl", per_block, file))
    assert len(ranges) == len(blocks)
    for block, made in zip(blocks, ranges, strict=True):
        if isinstance(block, batch._TooLong):
            assert made == block
            continue
        assert isinstance(block, batch._Block) and isinstance(made, batch._Range)
        assert (made.first, made.count, made.file) == (block.first, block.count, file)
        assert data[made.offset : made.offset + made.length] == block.data


def _ranges_of(path: Path, per_block: int) -> list[Any]:
    with path.open("rb") as stream:
        file = batch._input_file(str(path), stream, 2)
        assert file is not None
        return list(batch._read_blocks(stream, batch._Counts(), str(path), per_block, file))


def test_a_worker_reads_its_range_and_notices_a_changed_file(tmp_path: Path, hiu: recnav_rules.Policy) -> None:
    source = tmp_path / "in.jsonl"
    good = json.dumps(BASELINE)
    source.write_text("\n".join([good] * 5 + ["", good]) + "\n", encoding="utf-8")
    ranges = _ranges_of(source, 4)
    assert [(r.first, r.count) for r in ranges] == [(1, 4), (5, 3)]
    written = batch._decide_block(hiu, ranges[1], AS_OF, False)
    assert (written.decisions, written.blank) == (2, 1)
    assert [json.loads(line)["line"] for line in written.out.splitlines()] == [5, 7]
    source.write_text("\n".join([good] * 5) + "\n", encoding="utf-8")  # shorter now: line 7 is gone
    with pytest.raises(batch.InputChangedError, match="ends before line 7"):
        batch._lines_of(ranges[1])
    source.write_text(("\n" * 10) + good * 20, encoding="utf-8")  # as long, the lines elsewhere
    with pytest.raises(batch.InputChangedError, match="lines 5 to 7 are not where they were"):
        batch._decide_block(hiu, ranges[1], AS_OF, False)
    other = tmp_path / "other.jsonl"
    other.write_text(good + "\n", encoding="utf-8")
    renamed = batch._InputFile(str(other), ranges[0].file.device, ranges[0].file.inode)  # the name of another file
    with pytest.raises(batch.InputChangedError, match="another file has its name now"):
        batch._open_input_file(renamed)


def test_an_input_file_that_changes_during_the_run_stops_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Workers read their lines from the file: when it is cut short after the main process
    read it, the run stops with exit 2 and one line, and leaves no output."""
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps(BASELINE) + "\n" for _ in range(20)), encoding="utf-8")
    real = batch._read_blocks

    def cut_short(*args: Any) -> Any:
        for number, chunk in enumerate(real(*args)):
            assert isinstance(chunk, batch._Range)  # a regular file with --jobs 2
            if number == 1:
                source.write_bytes(b"")
            yield chunk

    monkeypatch.setattr(batch, "_LINES_PER_BLOCK", 5)
    monkeypatch.setattr(batch, "_read_blocks", cut_short)
    assert main([*BATCH, str(source), "--out", str(out), "--jobs", "2"]) == 2
    err = capsys.readouterr().err
    assert "the input file changed while the batch read it" in err and "Traceback" not in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]
