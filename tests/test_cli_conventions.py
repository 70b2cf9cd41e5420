"""The command line's conventions (docs/cli.md): one exit-code rule, --format on every command
that prints results, refused option combinations, -V, python -m, --explain levels, the schema
locator and the pre-commit hooks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import recnav_rules
from recnav_rules._resources import schemas_dir
from recnav_rules.cli import main
from recnav_rules.tools.explain_levels import explain_at

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = str(ROOT / "examples" / "hiu-referral.json")
POLICY_FILES = [str(p) for p in sorted((ROOT / "policies").glob("*.yaml"))]
CASES = str(ROOT / "policies" / "tests")
EVALUATE = ("evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of the command, argparse's own exits included."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    return err.strip()


# --- version and python -m ------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version_flag(capsys: pytest.CaptureFixture[str], flag: str) -> None:
    code, out, _ = run(capsys, flag)
    assert (code, out) == (0, f"recnav-rules {recnav_rules.__version__}\n")


def test_python_dash_m_runs_the_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "recnav_rules", "evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20",
         "--format", "json", EXAMPLE],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outcome"] == "accept"
    missing = subprocess.run([sys.executable, "-m", "recnav_rules", "validate", "nope.yaml"],
                             capture_output=True, text=True, check=False, cwd=tmp_path)
    assert (missing.returncode, missing.stderr) == (2, "recnav-rules: error: nope.yaml: cannot read: no such file\n")


# --- --format on every command that prints results ---------------------------------------------------


def test_evaluate_json_and_format_json_are_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    outputs = [run(capsys, *EVALUATE, flag, *extra, EXAMPLE) for flag, *extra in (["--json"], ["--format", "json"])]
    assert outputs[0] == outputs[1]
    code, out, _ = outputs[0]
    assert code == 0 and json.loads(out)["outcome"] == "accept"
    code, out, _ = run(capsys, *EVALUATE, "--format", "text", EXAMPLE)
    assert code == 0 and out.startswith("Policy: ") and "ACCEPT" in out


def test_list_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "--format", "json")
    rows = json.loads(out)
    assert code == 0
    assert [r["id"] for r in rows] == [p.id for p in recnav_rules.list_policies()]
    assert rows[0] == {
        "id": "bnssg-hiu-pilot", "version": "1.0.0", "title": rows[0]["title"], "file": rows[0]["file"], "origin": "builtin"
    }
    assert Path(rows[0]["file"]).name == "bnssg.yaml"


def test_services_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "services", "--area", "somerset", "--format", "json")
    rows = json.loads(out)
    assert code == 0 and rows
    assert {r["area"] for r in rows} == {"somerset"}
    assert set(rows[0]) == {"id", "name", "area", "offers", "for_whom", "limits", "source", "quote", "assumption"}
    code, text, _ = run(capsys, "services", "--area", "somerset")
    assert [line.split("\t")[0] for line in text.splitlines()] == [r["id"] for r in rows]
    code, out, err = run(capsys, "services", "--area", "somrset")
    assert (code, out) == (2, "")
    assert one_error_line(err).startswith("recnav-rules: error: unknown area 'somrset' (did you mean 'somerset'?); areas: ")


def test_test_command_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "test", "--format", "json", "--coverage", "-k", "custody", CASES)
    data = json.loads(out)
    assert code == 0 and data["ok"] is True
    assert data["passed"] == len(data["cases"]) >= 2 and data["failed"] == 0 and data["deselected"] > 0
    assert all("custody" in c["id"].lower() for c in data["cases"])
    assert data["coverage"][0]["policy"] == "bnssg-hiu-pilot"
    assert set(data["coverage"][0]["percent"]) == {"rules", "criteria", "conditions"}


def test_docs_check_as_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "docs", "--check", str(ROOT / "docs" / "policies"), "--format", "json")
    assert (code, json.loads(out)) == (0, {"ok": True, "stale": []})
    code, out, _ = run(capsys, "docs", "--check", str(tmp_path), "bnssg-hiu-pilot", "--format", "json")
    assert (code, json.loads(out)) == (1, {"ok": False, "stale": [str(tmp_path / "bnssg-hiu-pilot.md")]})


def test_schemas_command_prints_where_the_schemas_are(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schemas")
    folder = Path(out.strip())
    assert code == 0 and folder == schemas_dir().resolve()
    assert (folder / "policy.schema.json").is_file()
    code, out, _ = run(capsys, "schemas", "--format", "json")
    data = json.loads(out)
    assert {"cases.schema.json", "decision.schema.json", "policy.schema.json", "services.schema.json"} <= set(data["schemas"])
    for path in data["schemas"].values():
        assert json.loads(Path(path).read_text(encoding="utf-8"))["$schema"].startswith("http")


# --- one exit-code rule, per command ---------------------------------------------------------------


def test_exit_codes_per_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad_case = tmp_path / "bad.cases.yaml"
    bad_case.write_text("policy: bnssg-hiu-pilot\ncases:\n  - name: x\n    expct: {outcome: accept}\n", encoding="utf-8")
    failing_case = tmp_path / "fail.cases.yaml"
    failing_case.write_text(
        "policy: bnssg-hiu-pilot\nas_of: 2026-11-20\ncases:\n  - name: wrong\n    facts: {age: 16}\n    expect: {outcome: accept}\n",
        encoding="utf-8",
    )
    broken_policy = ROOT / "tests" / "data" / "broken" / "misspelt-fact.yaml"
    empty = tmp_path / "empty"
    empty.mkdir()
    a_file = tmp_path / "a-file"
    a_file.write_text("x", encoding="utf-8")
    missing = str(tmp_path / "missing")
    expected = [
        (0, ("list",)),
        (0, ("services",)),
        (2, ("services", "--area", "somrset")),
        (0, (*EVALUATE, EXAMPLE)),
        (2, (*EVALUATE, missing)),
        (2, (*EVALUATE, str(tmp_path))),
        (2, ("evaluate", "--policy", "no-such-policy", EXAMPLE)),
        (2, (*EVALUATE, "--batch", EXAMPLE, "--out", str(tmp_path / "no" / "dir" / "out.jsonl"))),
        (2, (*EVALUATE, "--batch", EXAMPLE, "--out", str(tmp_path))),
        (2, (*EVALUATE, "--batch", missing)),
        (0, ("validate", *POLICY_FILES)),
        (1, ("validate", str(broken_policy))),
        (2, ("validate", missing)),
        (0, ("test", CASES)),
        (1, ("test", str(failing_case))),
        (1, ("test", "--coverage", "--fail-under", "100", str(failing_case))),
        (2, ("test", str(bad_case))),
        (2, ("test", missing)),
        (2, ("test", str(empty))),
        (2, ("test", "-k", "no case is called this", CASES)),
        (2, ("test", "--junit-xml", str(tmp_path / "no" / "dir" / "junit.xml"), CASES)),
        (0, ("docs", "--check", str(ROOT / "docs" / "policies"))),
        (1, ("docs", "--check", str(empty), "bnssg-hiu-pilot")),
        (2, ("docs", "--check", missing)),
        (2, ("docs", "--out", str(a_file / "sub"))),
        (0, ("schemas",)),
        (2, ("no-such-command",)),
    ]
    for want, argv in expected:
        code, out, err = run(capsys, *argv)
        assert code == want, (argv, out, err)
        if want == 2:
            one_error_line(err)


def test_an_internal_error_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import recnav_rules._resources as resources

    def broken() -> Path:
        raise RuntimeError("boom")

    monkeypatch.setattr(resources, "schemas_dir", broken)
    code, out, err = run(capsys, "schemas")
    assert (code, out) == (1, "")
    assert one_error_line(err) == "recnav-rules: internal error: RuntimeError: boom"


# --- options that would be ignored are refused ------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((*EVALUATE, "--out", "o.jsonl", EXAMPLE), "recnav-rules: error: --out needs --batch"),
        ((*EVALUATE, "--errors", "e.jsonl", EXAMPLE), "recnav-rules: error: --errors needs --batch"),
        ((*EVALUATE, "--trace", EXAMPLE), "recnav-rules: error: --trace needs --batch"),
        ((*EVALUATE, "--jobs", "2", EXAMPLE), "recnav-rules: error: --jobs needs --batch"),
        ((*EVALUATE, "--out", "o", "--jobs", "2", EXAMPLE), "recnav-rules: error: --out, --jobs need --batch"),
        ((*EVALUATE, "--batch", EXAMPLE, EXAMPLE), "not both"),
        ((*EVALUATE, "--batch", EXAMPLE, "--json"), "--batch writes JSON lines"),
        ((*EVALUATE, "--batch", EXAMPLE, "--jobs", "-1"), "--jobs must be 0 (one per core) or more, got -1"),
        ((*EVALUATE, "--register-as-of", "2020-01-01", EXAMPLE), "recnav-rules: error: --register-as-of needs --register"),
        ((*EVALUATE, "--fail-on-error", EXAMPLE), "recnav-rules: error: --fail-on-error needs --batch"),
        ((*EVALUATE, "--fhir-out", "r.json", EXAMPLE), "recnav-rules: error: --fhir-out needs --fhir"),
        ((*EVALUATE, "--fhir", EXAMPLE, "--jobs", "2"), "recnav-rules: error: --jobs needs --batch"),
        ((*EVALUATE, "--fhir", EXAMPLE, "--explain", "brief"), "--fhir prints the whole explanation"),
        ((*EVALUATE, "--explain", "brief", "--json", EXAMPLE), "--explain shapes the text explanation"),
        ((*EVALUATE,), "give a facts FILE"),
        (("test", "--fail-under", "90", CASES), "recnav-rules: error: --fail-under needs --coverage"),
        (("test", "--lcov", "x.info", CASES), "recnav-rules: error: --lcov needs --coverage"),
        (("test", "--cobertura", "c.xml", "--coverage-json", "c.json", CASES), "error: --coverage-json, --cobertura need --coverage"),
        (("test", "--coverage", "--fail-under", "101", CASES), "a percentage is between 0 and 100, got 101"),
        (("test", "--coverage", "--fail-under", "-1", CASES), "a percentage is between 0 and 100, got -1"),
        (("test", "--coverage", "--fail-under", "most", CASES), "not a percentage: 'most'"),
        (("docs", "bnssg-hiu-pilot", "--format", "json"), "a policy document is Markdown"),
        (("docs",), "name one POLICY"),
        (("evaluate", "--policy", "bnssg-hiu-pilot", "--bogus", EXAMPLE), "unrecognized arguments: --bogus"),
    ],
)
def test_refused_options(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert message in one_error_line(err)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_fail_under_accepts_exactly_0_to_100(value: float) -> None:
    import argparse

    from recnav_rules.tools.commands import _percent

    if 0 <= value <= 100:
        assert _percent(repr(value)) == value
    else:
        with pytest.raises(argparse.ArgumentTypeError, match="between 0 and 100"):
            _percent(repr(value))


# --- --explain brief|full|fails ---------------------------------------------------------------------


def test_explain_full_is_the_whole_explanation(capsys: pytest.CaptureFixture[str]) -> None:
    decision = recnav_rules.load_policy("bnssg-hiu-pilot").evaluate(json.loads(Path(EXAMPLE).read_text()), as_of="2026-11-20")
    _, default, _ = run(capsys, *EVALUATE, EXAMPLE)
    _, full, _ = run(capsys, *EVALUATE, "--explain", "full", EXAMPLE)
    assert default == full == decision.explain()


def test_explain_brief_gives_the_decision_and_its_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *EVALUATE, "--explain", "brief", EXAMPLE)
    assert code == 0
    lines = out.splitlines()
    assert lines[:3] == ["ACCEPT (settled by the facts given)", "Policy: bnssg-hiu-pilot 1.0.0, as of 2026-11-20", "Because:"]
    assert "[accept]" in out and "Source: " in out
    assert "under-18" not in out and "How each check came out" not in out


def test_explain_brief_names_missing_facts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    facts = json.loads(Path(EXAMPLE).read_text(encoding="utf-8"))
    del facts["in_custody"]
    path = tmp_path / "f.json"
    path.write_text(json.dumps(facts), encoding="utf-8")
    code, out, _ = run(capsys, *EVALUATE, "--explain", "brief", str(path))
    assert code == 0
    assert out.splitlines()[0] == "REJECT (not settled by the facts given)"
    assert "Missing: in_custody" in out


def test_explain_fails_lists_exactly_the_checks_that_did_not_hold(capsys: pytest.CaptureFixture[str]) -> None:
    decision = recnav_rules.load_policy("bnssg-hiu-pilot").evaluate(json.loads(Path(EXAMPLE).read_text()), as_of="2026-11-20")
    code, out, _ = run(capsys, *EVALUATE, "--explain", "fails", EXAMPLE)
    listed = re.findall(r"^  - (\S+) \((?:criterion|rule -> \w+)\): (FALSE|UNKNOWN)\.", out, re.MULTILINE)
    not_held = [(step.id, step.value.upper()) for step in decision.trace if step.value != "true"]
    assert code == 0
    assert listed == not_held and listed
    assert f"Did not hold ({len(not_held)} of {len(decision.trace)} checks):" in out
    assert "accept (rule" not in out  # the rule that decided held, so it is not listed
    assert "read: age_years = 38 (derived)" in out


def test_no_explanation_level_shows_personal_details(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    facts = json.loads(Path(EXAMPLE).read_text(encoding="utf-8"))
    personal = {"name": "Alexandra Quinlan", "nhs_number": "9434765919", "contact_details": "07700 900123"}
    facts.update(personal)
    path = tmp_path / "referral.json"
    path.write_text(json.dumps(facts), encoding="utf-8")
    decision = recnav_rules.load_policy("bnssg-hiu-pilot").evaluate(facts, as_of="2026-11-20")
    outputs = [explain_at(decision, level) for level in ("brief", "full", "fails")]
    outputs += [run(capsys, *EVALUATE, *options, str(path))[1] for options in (["--explain", "fails"], ["--format", "json"])]
    for text in outputs:
        assert text
        for value in (facts["date_of_birth"], *personal.values()):
            assert value not in text
    with pytest.raises(ValueError, match="unknown explanation level 'short'"):
        explain_at(decision, "short")


def test_an_unknown_explanation_level_is_refused() -> None:
    decision = recnav_rules.load_policy("bnssg-hiu-pilot").evaluate(json.loads(Path(EXAMPLE).read_text()), as_of="2026-11-20")
    with pytest.raises(ValueError, match="unknown explanation level 'short' \\(levels: brief, full, fails\\)"):
        explain_at(decision, "short")


# --- pre-commit hooks -------------------------------------------------------------------------------


def test_pre_commit_hooks_run_the_commands(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    hooks = {hook["id"]: hook for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))}
    assert set(hooks) == {"recnav-rules-validate", "recnav-rules-test"}
    monkeypatch.chdir(ROOT)
    tracked = ["policies/bnssg.yaml", "policies/somerset.yaml", "policies/tests/bnssg-hiu-pilot.cases.yaml", "README.md"]
    for hook in hooks.values():
        assert hook["language"] == "python"
        program, *entry = hook["entry"].split()
        assert program == "recnav-rules"
        files = [
            f for f in tracked
            if re.search(hook["files"], f) and not ("exclude" in hook and re.search(hook["exclude"], f))
        ]
        passed = files if hook.get("pass_filenames", True) else []
        code, out, err = run(capsys, *entry, *hook.get("args", []), *passed)
        assert code == 0, (hook["id"], out, err)
    validate = hooks["recnav-rules-validate"]
    assert [f for f in tracked if re.search(validate["files"], f) and not re.search(validate["exclude"], f)] == [
        "policies/bnssg.yaml", "policies/somerset.yaml"
    ]
