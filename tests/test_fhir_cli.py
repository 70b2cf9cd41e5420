"""``recnav-rules evaluate --fhir BUNDLE.json [--fhir-out FILE]``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recnav_rules.cli import main

DATA = Path(__file__).parent / "data" / "fhir"
ACCEPT = str(DATA / "hiu-referral-accept.json")


def test_evaluate_a_bundle_and_write_the_guidance_response(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "response.json"
    code = main(["evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20", "--fhir", ACCEPT, "--fhir-out", str(out), "--json"])
    printed = capsys.readouterr()
    assert code == 0
    decision = json.loads(printed.out)
    response = json.loads(out.read_text(encoding="utf-8"))
    assert decision["outcome"] == "accept"
    assert response["resourceType"] == "GuidanceResponse"
    assert response["contained"][0]["parameter"][0] == {"name": "outcome", "valueCode": "accept"}
    assert "9000000009" not in printed.out + out.read_text(encoding="utf-8")


def test_fhir_out_dash_prints_the_response(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["evaluate", "--policy", "somerset-waiting-list", "--as-of", "2026-11-20", "--fhir", str(DATA / "ctt-waiting-list-referral.json"), "--fhir-out", "-"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["status"] == "success"


def test_a_bad_bundle_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = json.loads(Path(ACCEPT).read_text(encoding="utf-8"))
    bad["entry"][0]["resource"]["birthDate"] = "1988-02-30x"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    code = main(["evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20", "--fhir", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "entry[0].resource(Patient).birthDate" in err
    assert "1988-02-30x" not in err


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--fhir", "/no/such/bundle.json"], "bundle: cannot read /no/such/bundle.json: No such file or directory"),
        (["--fhir", ACCEPT, "facts.json"], "--fhir reads one bundle; it does not go with a facts FILE"),
        (["--fhir", ACCEPT, "--engine", "durable"], "--fhir reads one bundle; it does not go with --engine durable"),
        (["--fhir", ACCEPT, "--log", "decisions.db"], "--fhir reads one bundle; it does not go with --log"),
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], extra: list[str], expected: str) -> None:
    code = main(["evaluate", "--policy", "bnssg-hiu-pilot", *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err
    assert err.count("\n") == 1


def test_a_policy_without_a_mapping(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["evaluate", "--policy", "somerset-integrated-model", "--fhir", ACCEPT])
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot read the FHIR mapping for policy 'somerset-integrated-model': no such file" in err
