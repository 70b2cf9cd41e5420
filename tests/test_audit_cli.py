"""``recnav-rules evaluate --log`` and ``recnav-rules log ...``: output and exit codes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from recnav_rules.audit import DecisionLog
from recnav_rules.cli import main
from tests.conftest import BASELINE

NHS = "943 476 5919"


@pytest.fixture
def facts_file(tmp_path: Path) -> Path:
    path = tmp_path / "referral.json"
    path.write_text(json.dumps({**BASELINE, "nhs_number": NHS, "name": "Cli Person"}), encoding="utf-8")
    return path


@pytest.fixture
def logged(tmp_path: Path, facts_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    """A log holding three decisions made through the command line (with a subject key secret)."""
    monkeypatch.setenv("RECNAV_RULES_SUBJECT_KEY", "cli-secret")
    path = tmp_path / "cli.sqlite"
    for _ in range(3):
        assert main(["evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20", "--json", "--log", str(path), str(facts_file)]) == 0
    capsys.readouterr()
    return path


def test_evaluate_log_records_and_prints_the_decision_id(logged: Path, facts_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20", "--json", "--log", str(logged), str(facts_file)]) == 0
    printed = json.loads(capsys.readouterr().out)
    with DecisionLog(logged, create=False) as log:
        entry = log.get(printed["decision_id"])
        assert entry is not None and entry.seq == 4 and entry.outcome == printed["outcome"]


def test_log_verify_intact_and_broken(logged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["log", "verify", str(logged)]) == 0
    assert capsys.readouterr().out.startswith("intact: 3 records intact, head 3 ")
    with sqlite3.connect(logged) as conn:
        conn.execute("DELETE FROM records WHERE seq = 2")
    assert main(["log", "verify", str(logged)]) == 1
    assert capsys.readouterr().out == "BROKEN at record 2: deleted: record 2 deleted: the chain jumps from 1 to 3\n"
    assert main(["log", "verify", "--format", "json", str(logged)]) == 1
    assert json.loads(capsys.readouterr().out)["how"] == "deleted"


def test_log_verify_with_a_checkpoint(logged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["log", "checkpoint", str(logged)]) == 0
    mark = json.loads(capsys.readouterr().out)
    assert mark["seq"] == 3 and mark["verify_with"] == f"3:{mark['hash']}"
    assert main(["log", "verify", "--checkpoint", mark["verify_with"], str(logged)]) == 0
    assert main(["log", "verify", "--checkpoint", "3:" + "0" * 64, str(logged)]) == 1
    assert "checkpoint" in capsys.readouterr().out


def test_log_replay(logged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["log", "replay", str(logged)]) == 0
    assert capsys.readouterr().out == "replayed 3 records: 3 reproduced, 0 not\n"
    with sqlite3.connect(logged) as conn:
        decision_id = conn.execute("SELECT decision_id FROM records WHERE seq = 2").fetchone()[0]
    assert main(["log", "replay", "--id", decision_id, str(logged)]) == 0
    assert capsys.readouterr().out == "replayed 1 records: 1 reproduced, 0 not\n"


def test_log_show_by_id_subject_and_policy(logged: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["log", "show", "--policy", "bnssg-hiu-pilot", "--since", "2000-01-01", str(logged)]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3] and captured.err == "3 records\n"
    assert main(["log", "show", "--id", lines[1]["decision_id"], str(logged)]) == 0
    assert json.loads(capsys.readouterr().out)["seq"] == 2
    assert main(["log", "show", "--id", lines[1]["decision_id"], "--explain", str(logged)]) == 0
    explained = " ".join(capsys.readouterr().out.split())
    assert "ACCEPT" in explained and '"This pilot will create a direct onward referral pathway' in explained  # a quote, from the stored source
    assert main(["log", "show", "--explain", str(logged)]) == 2
    capsys.readouterr()
    assert main(["log", "show", "--nhs-number", NHS, str(logged)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(NHS + "\n"))
    assert main(["log", "show", "--nhs-number", "-", str(logged)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    monkeypatch.delenv("RECNAV_RULES_SUBJECT_KEY")
    assert main(["log", "show", "--nhs-number", NHS, str(logged)]) == 2
    assert "RECNAV_RULES_SUBJECT_KEY" in capsys.readouterr().err


def test_log_export_and_prune(logged: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "export.jsonl"
    assert main(["log", "export", "--format", "jsonl", "--out", str(out), str(logged)]) == 0
    assert [json.loads(line)["seq"] for line in out.read_text(encoding="utf-8").splitlines()] == [1, 2, 3]
    assert capsys.readouterr().err == "exported 3 records\n"
    assert main(["log", "prune", "--before", "2000-01-01", str(logged)]) == 0
    assert capsys.readouterr().out == "nothing recorded before 2000-01-01\n"
    assert main(["log", "prune", "--before", "2999-01-01", str(logged)]) == 0
    mark = json.loads(capsys.readouterr().out)
    assert mark["seq"] == 3 and mark["kind"] == "prune"
    assert main(["log", "verify", "--checkpoint", mark["verify_with"], str(logged)]) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["log", "verify", "{missing}"],
        ["log", "replay", "{missing}"],
        ["log", "show", "--id", "x", "{log}"],
        ["log", "show", "--id", "x", "--policy", "p", "{log}"],
        ["log", "show", "--nhs-number", "123", "{log}"],
        ["log", "show", "--limit", "-1", "{log}"],
        ["log", "replay", "--id", "nope", "{log}"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], logged: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    filled = [a.format(missing=tmp_path / "missing.sqlite", log=logged) for a in argv]
    assert main(filled) == 2
    err = capsys.readouterr().err
    assert err.startswith("recnav-rules: ") and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv", [["log", "verify", "--checkpoint", "nonsense", "x"], ["log", "prune", "x"], ["log", "prune", "--before", "May", "x"]])
def test_bad_options_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("batch", [False, True], ids=["one", "batch"])
@pytest.mark.parametrize(("given", "expected"), [([], None), (["--log-durability", "full"], "full"), (["--log-durability", "normal"], "normal")])
def test_log_durability_reaches_the_log(
    batch: bool, given: list[str], expected: str | None, facts_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import recnav_rules.audit as audit

    opened: list[str | None] = []

    class Spy(DecisionLog):
        def __init__(self, *args: object, durability: str | None = None, **kwargs: object) -> None:
            opened.append(durability)
            super().__init__(*args, durability=durability, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(audit, "DecisionLog", Spy)
    log = tmp_path / "durable.sqlite"
    if batch:
        lines = tmp_path / "in.jsonl"
        lines.write_text(json.dumps(BASELINE) + "\n", encoding="utf-8")
        argv = ["evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20", "--batch", str(lines), "--out", str(tmp_path / "out.jsonl"), "--log", str(log), *given]
    else:
        argv = ["evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20", "--json", "--log", str(log), *given, str(facts_file)]
    assert main(argv) == 0
    assert opened == [expected]
    with DecisionLog(log, create=False) as check:
        assert check.verify().ok


def test_an_unknown_log_durability_is_a_usage_error(facts_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["evaluate", "--policy", "bnssg-hiu-pilot", "--log", str(tmp_path / "x.sqlite"), "--log-durability", "off", str(facts_file)])
    assert exited.value.code == 2
    assert "--log-durability" in capsys.readouterr().err
