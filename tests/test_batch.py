"""Batch evaluation: order kept, nothing lost, bad lines reported, constant memory."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import recnav_rules
from recnav_rules.batch import evaluate_many
from recnav_rules.cli import main
from tests.conftest import AS_OF, BASELINE


def referrals(count: int) -> list[dict[str, Any]]:
    return [dict(BASELINE, date_of_birth=f"{1950 + i % 60}-06-15") for i in range(count)]


@pytest.mark.parametrize("jobs", [1, 2])
def test_results_come_in_input_order(hiu: recnav_rules.Policy, jobs: int) -> None:
    facts = referrals(1200)
    results = list(evaluate_many(hiu, facts, as_of=AS_OF, jobs=jobs, chunk_size=100))
    assert [r.line for r in results] == list(range(1, 1201))
    expected = [hiu.evaluate(f, as_of=AS_OF).outcome.value for f in facts]
    assert [r.record["outcome"] for r in results if r.record] == expected


def test_bad_items_become_errors_not_exceptions(hiu: recnav_rules.Policy) -> None:
    items: list[Any] = [BASELINE, {"agee": 3}, "not a mapping", BASELINE]
    results = list(evaluate_many(hiu, items, as_of=AS_OF))
    assert [r.ok for r in results] == [True, False, False, True]
    assert "did you mean 'age'" in (results[1].error or "")
    assert results[2].error == "facts must be a JSON object"


def test_streams_lazily(hiu: recnav_rules.Policy) -> None:
    def endless() -> Iterator[dict[str, Any]]:
        while True:
            yield BASELINE

    first = list(itertools.islice(evaluate_many(hiu, endless(), as_of=AS_OF, chunk_size=10), 25))
    assert [r.line for r in first] == list(range(1, 26))


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_batch_command_accounts_for_every_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], jobs: str) -> None:
    lines = [json.dumps(BASELINE), "{not json", "", "[1, 2]", json.dumps({"age": "x"}), json.dumps(dict(BASELINE, in_custody=True))]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code = main(["evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20", "--batch", str(source), "--out", str(out), "--jobs", jobs])
    assert code == 0
    err = capsys.readouterr().err
    assert "lines in: 6, decisions: 2, errors: 4" in err
    decided = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(d["line"], d["outcome"]) for d in decided] == [(1, "accept"), (6, "reject")]
    assert decided[1]["reasons"] == ["in-custody"]
    errors = [json.loads(line) for line in Path(f"{out}.errors.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [e["line"] for e in errors] == [2, 3, 4, 5]
    assert errors[0]["error"].startswith("not JSON")
    assert errors[1]["error"] == "empty line"


def test_batch_trace_gives_full_decisions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(BASELINE) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20", "--batch", str(source), "--out", str(out), "--trace"]) == 0
    record = json.loads(out.read_text(encoding="utf-8"))
    assert record["line"] == 1 and record["trace"] and record["policy"]["id"] == "bnssg-hiu-pilot"


def test_batch_input_that_cannot_be_read(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["evaluate", "--policy", "bnssg-hiu-pilot", "--batch", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
