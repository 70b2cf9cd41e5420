"""The recnav-rules command: decisions, JSON, and one clear line for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recnav_rules.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "hiu-referral.json"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_prints_the_explanation(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20", str(EXAMPLE))
    assert (code, err) == (0, "")
    assert "ACCEPT" in out
    assert "initial_contact" in out
    assert "Due 2026-12-01" in out


def test_evaluate_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20", "--json", str(EXAMPLE))
    data = json.loads(out)
    assert code == 0
    assert data["outcome"] == "accept"
    assert data["policy"]["id"] == "bnssg-hiu-pilot"
    assert data["next_steps"][0]["due"] == "2026-12-01"


def test_evaluate_yaml_from_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("age: 16\n"))
    code, out, _ = run(capsys, "evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20", "-")
    assert code == 0
    assert "SIGNPOST" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"agee": 3}', "recnav-rules: bad facts: 1 bad fact: agee: unknown fact (did you mean 'age'?)"),
        ('{"age": 3,\n "in_custody": tru}', "facts.json:2:16: error: Expecting value"),
        ("age: [1\n", "facts.json:2:1: error:"),
        ("- 1\n", "facts.json:1:1: error: facts must be a mapping"),
    ],
)
def test_bad_facts_give_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "facts.json"
    path.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20", str(path))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert message in err
    assert "Traceback" not in err


def test_unknown_policy_and_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "evaluate", "--policy", "bnssg-hiu-pilt", str(EXAMPLE))
    assert code == 2
    assert "did you mean 'bnssg-hiu-pilot'" in err
    code, _, err = run(capsys, "evaluate", "--policy", "bnssg-hiu-pilot", str(tmp_path / "nope.json"))
    assert code == 2
    assert err == f"recnav-rules: error: {tmp_path / 'nope.json'}: cannot read: no such file\n"


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0
    assert out.startswith("bnssg-hiu-pilot\t1.0.0\t")


def test_console_script_runs_as_a_process() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "recnav_rules", "evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20", str(EXAMPLE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "ACCEPT" in result.stdout


def test_evaluate_with_a_register_and_pcn_membership(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    facts = tmp_path / "n4.json"
    facts.write_text(
        json.dumps({"age": 40, "gp_practice_code": "L81024", "referral_source": "gp_practice", "mental_health_severity": "severe",
                    "open_to_secondary_mental_health_services": False, "consent_to_referral": True}),
        encoding="utf-8",
    )
    membership = ROOT / "policies" / "tests" / "network4-membership.FIXTURE.csv"
    national = ROOT / "tests" / "data" / "ods" / "epraccur-2020-01.csv"
    code, out, err = run(
        capsys, "evaluate", "--policy", "bnssg-network4-pcn", "--as-of", "2026-11-20", "--json",
        "--register", str(national), "--register-as-of", "2020-01-01", "--pcn-membership", str(membership),
        "--param", "network4_pcn_code=FIXT004", str(facts),
    )
    assert code == 0, err
    decision = json.loads(out)
    assert decision["outcome"] == "accept"
    assert "PCN membership" in decision["reference_data"]["gp_practices"]["name"]
    code, _, err = run(capsys, "evaluate", "--policy", "bnssg-network4-pcn", "--register", str(national), str(facts))
    assert code == 2 and "--register-as-of" in err


def test_ci_runs_the_readme_commands_exactly() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    blocks = [block.split("```", 1)[0].strip() for block in readme.split("```sh\n")[1:3]]
    install_and_run, install_and_test = blocks
    assert install_and_test in ci.splitlines()
    assert "examples/hiu-referral.json" in install_and_run
