"""Policy parameters: declared, typed, dated; set through load_policy, --param and case files;
a needed parameter nobody set is a clear error at load; decisions use and record the values."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

import recnav_rules
from recnav_rules import PolicyError
from recnav_rules.cli import main
from recnav_rules.policies.parameters import parameters_for_digest, parameters_from_options
from recnav_rules.tools.cases import load_cases, run_case

AS_OF = dt.date(2026, 11, 20)
ROOT = Path(__file__).resolve().parent.parent
PCN = "bnssg-network4-pcn"

POLICY = """\
policies:
  - id: dated
    version: 1.0.0
    title: A policy with parameters
    sources:
      doc: {file: doc.txt, title: A document}
    parameters:
      age_limit:
        type: integer
        minimum: 0
        maximum: 130
        description: The lowest age served.
        values:
          2020-01-01: 18
          2999-01-01: 21
      area_code:
        type: string
        pattern: "^[0-9A-Z]{3}$"
        description: Set by the deployment.
    facts:
      age: {type: integer, minimum: 0, description: Age in years.}
      area: {type: string, description: Area code.}
    rules:
      - id: too-young
        when: {fact: age, lt: {param: age_limit}}
        outcome: reject
        reason: Too young.
        assumption: The limit is a parameter.
      - id: in-area
        when: {fact: area, eq: {param: area_code}}
        outcome: accept
        reason: In the area.
        assumption: The area is a parameter.
    otherwise: {outcome: reject, reason: Not in the area., assumption: Only the area.}
    incomplete: {outcome: reject, reason: Unknown., assumption: Not accepted when unknown.}
"""


@pytest.fixture()
def dated(tmp_path: Path) -> Path:
    path = tmp_path / "dated.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return path


def test_a_needed_parameter_nobody_set_is_an_error_at_load_naming_it_and_how(dated: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        recnav_rules.load_policy(dated)
    assert caught.value.code == "unset-parameter"
    message = str(caught.value)
    assert "'area_code'" in message and "--param area_code=VALUE" in message and "parameters=" in message
    with pytest.raises(PolicyError) as builtin:
        recnav_rules.load_policy(PCN)
    assert "network4_pcn_code" in str(builtin.value)


def test_values_are_checked_against_the_declared_type(dated: Path) -> None:
    for bad in ("abcd", 123, None):
        with pytest.raises(PolicyError) as caught:
            recnav_rules.load_policy(dated, parameters={"area_code": bad})
        assert caught.value.code == "bad-parameter" and "area_code" in str(caught.value)
    with pytest.raises(PolicyError, match=r"outside 0\.\.130"):
        recnav_rules.load_policy(dated, parameters={"area_code": "92G", "age_limit": 131})
    with pytest.raises(PolicyError, match="expected an integer"):
        recnav_rules.load_policy(dated, parameters={"area_code": "92G", "age_limit": True})


def test_an_undeclared_parameter_is_refused_with_a_suggestion(dated: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        recnav_rules.load_policy(dated, parameters={"area_code": "92G", "age_limt": 18})
    assert caught.value.code == "unknown-parameter"
    assert caught.value.suggestion == "age_limit"


def test_a_use_of_an_undeclared_parameter_is_located(dated: Path) -> None:
    dated.write_text(POLICY.replace("{param: age_limit}", "{param: age_limitt}"), encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        recnav_rules.load_policy(dated, parameters={"area_code": "92G"})
    assert (caught.value.code, caught.value.line, caught.value.column) == ("unknown-parameter", 25, 31)
    assert caught.value.suggestion == "age_limit"


def test_the_value_in_effect_today_is_used_and_the_decision_uses_it(dated: Path) -> None:
    policy = recnav_rules.load_policy(dated, parameters={"area_code": "92G"})
    assert policy.compiled.parameters == {"age_limit": 18, "area_code": "92G"}
    assert policy.evaluate({"age": 18, "area": "92G"}, as_of=AS_OF).outcome.value == "accept"
    assert policy.evaluate({"age": 17, "area": "92G"}, as_of=AS_OF).outcome.value == "reject"
    older = recnav_rules.load_policy(dated, parameters={"area_code": "92G", "age_limit": 16})
    assert older.evaluate({"age": 17, "area": "92G"}, as_of=AS_OF).outcome.value == "accept"
    assert older.digest != policy.digest
    assert parameters_for_digest(older.digest) == {"age_limit": 16, "area_code": "92G"}
    assert "Parameters the policy was loaded with: age_limit = 16; area_code = 92G" in older.evaluate({"age": 17}, as_of=AS_OF).explain()


def test_network4_by_pcn_code_set_as_a_parameter() -> None:
    policy = recnav_rules.load_policy(PCN, parameters={"network4_pcn_code": "U12345"})
    facts = {"age": 40, "gp_pcn_code": "U12345", "referral_source": "gp_practice", "mental_health_severity": "moderate",
             "open_to_secondary_mental_health_services": False, "consent_to_referral": True}
    assert policy.evaluate(facts, as_of=AS_OF).outcome.value == "accept"
    other = policy.evaluate({**facts, "gp_pcn_code": "U99999"}, as_of=AS_OF)
    assert (other.outcome.value, other.complete, [r.rule_id for r in other.reasons]) == ("signpost", True, ["outside-network-4"])


def test_working_day_counts_are_parameters() -> None:
    facts: dict[str, Any] = json.loads((ROOT / "examples" / "hiu-referral.json").read_text(encoding="utf-8"))
    standard = recnav_rules.load_policy("bnssg-hiu-pilot").evaluate(facts, as_of=AS_OF)
    longer = recnav_rules.load_policy("bnssg-hiu-pilot", parameters={"initial_contact_working_days": 10}).evaluate(facts, as_of=AS_OF)
    assert standard.outcome.value == longer.outcome.value == "accept"
    assert (standard.next_steps[0].due, longer.next_steps[0].due) == (dt.date(2026, 12, 1), dt.date(2026, 12, 4))


def test_command_line_param(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    facts = tmp_path / "n4.json"
    facts.write_text(json.dumps({"age": 40, "gp_pcn_code": "U12345", "referral_source": "gp_practice",
                                 "mental_health_severity": "severe", "open_to_secondary_mental_health_services": False,
                                 "consent_to_referral": True}), encoding="utf-8")
    base = ["evaluate", "--policy", PCN, "--as-of", "2026-11-20", "--format", "json", str(facts)]
    assert main([*base[:-1], "--param", "network4_pcn_code=U12345", str(facts)]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "accept"
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "network4_pcn_code" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main([*base[:-1], "--param", "network4_pcn_code", str(facts)]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err


def test_option_text_is_read_as_the_declared_type(dated: Path) -> None:
    options = parameters_from_options(["area_code=92G", "age_limit=16"])
    assert recnav_rules.load_policy(dated, parameters=options).compiled.parameters == {"age_limit": 16, "area_code": "92G"}
    with pytest.raises(PolicyError, match="expected an integer"):
        recnav_rules.load_policy(dated, parameters=parameters_from_options(["area_code=92G", "age_limit=sixteen"]))
    with pytest.raises(PolicyError, match="given twice"):
        parameters_from_options(["a=1", "a=2"])


def test_case_files_set_parameters(tmp_path: Path) -> None:
    cases = tmp_path / "dated.cases.yaml"
    (tmp_path / "dated.yaml").write_text(POLICY, encoding="utf-8")
    cases.write_text(
        "policy: dated.yaml\nas_of: 2026-11-20\nparameters: {area_code: 92G, age_limit: 16}\n"
        "cases:\n  - name: seventeen is old enough here\n    facts: {age: 17, area: 92G}\n    expect: {outcome: accept}\n",
        encoding="utf-8",
    )
    [case] = load_cases(cases)
    assert case.parameters == {"area_code": "92G", "age_limit": 16}
    assert run_case(case).failures == []


def test_only_a_parameter_a_rule_uses_must_be_set(dated: Path) -> None:
    dated.write_text(POLICY.replace("{fact: area, eq: {param: area_code}}", "{fact: area, eq: \"92G\"}"), encoding="utf-8")
    policy = recnav_rules.load_policy(dated)
    assert policy.compiled.unset_parameters == ()
    assert policy.compiled.parameters == {"age_limit": 18}
