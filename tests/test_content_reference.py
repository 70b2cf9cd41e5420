"""Reference data that says when it is stale, literals the register never holds, Network 4 by PCN
code (a misspelt PCN name no longer matters), YAML 1.2 booleans, and the register API."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

import recnav_rules
from recnav_rules import FactValidationError, Outcome, PolicyError
from recnav_rules.engine.source import load_yaml_text
from recnav_rules.facts_input import parse_facts_text
from recnav_rules.policies.register import DEFAULT_MAX_AGE_MONTHS, staleness_notes
from recnav_rules.tools.validate import validate_paths

AS_OF = dt.date(2026, 11, 20)
ROOT = Path(__file__).resolve().parent.parent
NATIONAL = ROOT / "tests" / "data" / "ods" / "epraccur-2020-01.csv"
PCN = "bnssg-network4-pcn"
N4: dict[str, Any] = {
    "age": 40,
    "gp_practice_code": "L81024",  # Courtside Surgery, Yate: a real BNSSG practice
    "referral_source": "gp_practice",
    "mental_health_severity": "moderate",
    "open_to_secondary_mental_health_services": False,
    "consent_to_referral": True,
}

LOOKUP = """\
policies:
  - id: bnes
    version: 1.0.0
    title: B&NES only
    sources:
      doc: {file: doc.txt, title: A document}
    reference_data: {gp_practices: builtin}
    facts:
      gp_practice_code: {type: ods_code, description: The GP practice.}
    derived:
      gp_sub_icb:
        description: Sub-ICB location of the practice.
        lookup: {table: gp_practices, key: gp_practice_code, field: sub_icb_code}
    rules:
      - id: in-bnes
        when: {fact: gp_sub_icb, CODE}
        outcome: accept
        reason: Registered in B&NES.
        assumption: B&NES practices only.
    otherwise: {outcome: reject, reason: Elsewhere., assumption: B&NES only.}
    incomplete: {outcome: reject, reason: Unknown., assumption: Not accepted when unknown.}
"""


def register_with(tmp_path: Path, rows: str) -> Any:
    membership = tmp_path / "membership.csv"
    membership.write_text("practice_code,pcn_code,pcn_name\n" + rows, encoding="utf-8")
    return recnav_rules.builtin_register().with_pcn_membership(recnav_rules.load_pcn_membership(membership))


# --- Network 4 by PCN code --------------------------------------------------------------------


def test_a_misspelt_pcn_name_no_longer_matters(tmp_path: Path) -> None:
    register = register_with(tmp_path, "L81024,U12345,Netwrk Four (typo)\n")
    policy = recnav_rules.load_policy(PCN, register=register, parameters={"network4_pcn_code": "U12345"})
    decision = policy.evaluate(N4, as_of=AS_OF)
    assert (decision.outcome, decision.complete) == (Outcome.ACCEPT, True)


def test_membership_of_another_pcn_is_settled_outside(tmp_path: Path) -> None:
    register = register_with(tmp_path, "L81024,U99999,Network 4\n")
    policy = recnav_rules.load_policy(PCN, register=register, parameters={"network4_pcn_code": "U12345"})
    decision = policy.evaluate(N4, as_of=AS_OF)
    assert (decision.outcome, decision.complete, [r.rule_id for r in decision.reasons]) == (Outcome.SIGNPOST, True, ["outside-network-4"])


def test_a_practice_outside_bnssg_is_settled_not_incomplete() -> None:
    policy = recnav_rules.load_policy(PCN, parameters={"network4_pcn_code": "U12345"})
    decision = policy.evaluate({**N4, "gp_practice_code": "L85001"}, as_of=AS_OF)  # a Somerset practice
    assert (decision.outcome, decision.complete, decision.missing_facts) == (Outcome.SIGNPOST, True, [])
    assert [r.rule_id for r in decision.reasons] == ["outside-network-4"]


def test_a_bnssg_practice_without_membership_asks_for_the_pcn_code() -> None:
    policy = recnav_rules.load_policy(PCN, parameters={"network4_pcn_code": "U12345"})
    decision = policy.evaluate(N4, as_of=AS_OF)
    assert (decision.outcome, decision.complete) == (Outcome.REJECT, False)
    assert decision.missing_facts == ["gp_pcn_code"]
    assert "gp_pcn_name" not in decision.explain()


def test_network4_review_routes_people_the_source_does_not_exclude() -> None:
    policy = recnav_rules.load_policy(PCN, parameters={"network4_pcn_code": "U12345"})
    facts = {**N4, "gp_pcn_code": "U12345"}
    secondary = policy.evaluate({**facts, "open_to_secondary_mental_health_services": True}, as_of=AS_OF)
    assert secondary.outcome is Outcome.SIGNPOST
    assert [s.service_id for s in secondary.signposts] == ["network4-referral-review"]
    young = policy.evaluate({**facts, "age": 17}, as_of=AS_OF)
    assert [s.service_id for s in young.signposts] == ["network4-referral-review", "children-young-people-mental-health"]


# --- staleness --------------------------------------------------------------------------------


def test_a_decision_long_after_the_register_carries_a_staleness_note() -> None:
    decision = recnav_rules.load_policy("bnssg-hiu-pilot").evaluate({"age": 40}, as_of=AS_OF)
    stale = [n for n in decision.notes if "more than 12 months" in n]
    assert len(stale) == 1 and "2020-01-01" in stale[0]
    assert stale[0] in decision.to_dict()["notes"]
    assert "more than 12 months before this decision" in " ".join(decision.explain().split())
    again = recnav_rules.Decision.from_dict(decision.to_dict())
    assert again.notes == decision.notes


def test_a_current_register_carries_no_note() -> None:
    current = recnav_rules.load_epraccur(NATIONAL, as_of=dt.date(2026, 6, 1))
    decision = recnav_rules.load_policy("bnssg-hiu-pilot", register=current).evaluate({"age": 40}, as_of=AS_OF)
    assert not [n for n in decision.notes if "months" in n]


@pytest.mark.parametrize(("as_of", "stale"), [(dt.date(2021, 1, 1), False), (dt.date(2021, 1, 2), True)])
def test_staleness_boundary_is_the_declared_age(as_of: dt.date, stale: bool) -> None:
    info = {"gp_practices": {"name": "x", "as_of": "2020-01-01", "max_age_months": str(DEFAULT_MAX_AGE_MONTHS)}}
    assert bool(staleness_notes(info, as_of)) is stale
    assert staleness_notes({"gp_practices": {"name": "x", "as_of": "2020-01-01"}}, as_of) == []


def test_the_age_is_a_policy_setting(tmp_path: Path) -> None:
    text = (ROOT / "policies" / "somerset.yaml").read_text(encoding="utf-8").replace("max_age_months: 12", "max_age_months: 120")
    path = tmp_path / "somerset.yaml"
    path.write_text(text, encoding="utf-8")
    policy = recnav_rules.load_policy(f"{path}#somerset-integrated-model")
    decision = policy.evaluate({}, as_of=AS_OF)
    assert decision.reference_data["gp_practices"]["max_age_months"] == "120"
    assert not [n for n in decision.notes if "months before this decision" in n]


# --- literals the register never holds ----------------------------------------------------------


def test_validate_warns_about_a_code_the_register_never_holds(tmp_path: Path) -> None:
    path = tmp_path / "bnes.yaml"
    path.write_text(LOOKUP.replace("CODE", 'eq: "92G"'), encoding="utf-8")
    problems = [p for p in validate_paths([path]) if p.code == "not-in-reference-data"]
    assert [(p.severity, p.line, p.column) for p in problems] == [("warning", 16, 38)]
    assert "'92G'" in problems[0].message and "2020-01-01" in problems[0].message
    path.write_text(LOOKUP.replace("CODE", 'in: ["11E", "92G"]'), encoding="utf-8")
    assert len([p for p in validate_paths([path]) if p.code == "not-in-reference-data"]) == 1
    path.write_text(LOOKUP.replace("CODE", 'eq: "11E"'), encoding="utf-8")
    assert [p for p in validate_paths([path]) if p.code == "not-in-reference-data"] == []


# --- YAML 1.2 booleans ----------------------------------------------------------------------------


def test_yaml_yes_is_a_string_not_true() -> None:
    assert load_yaml_text("a: yes\nb: no\nc: on\nd: true\ne: False\n").data == {"a": "yes", "b": "no", "c": "on", "d": True, "e": False}
    facts = parse_facts_text("consent_to_referral: yes\nage: 40\n", "facts.yaml")
    assert facts["consent_to_referral"] == "yes"
    with pytest.raises(FactValidationError) as caught:
        recnav_rules.load_policy("bnssg-hiu-pilot").evaluate(facts, as_of=AS_OF)
    assert caught.value.fields == ("consent_to_referral",)


def test_an_enum_of_yes_and_no_loads(tmp_path: Path) -> None:
    text = LOOKUP.replace("      gp_practice_code: {type: ods_code, description: The GP practice.}\n",
                          "      gp_practice_code: {type: ods_code, description: The GP practice.}\n"
                          "      answer: {type: enum, values: [yes, no, unsure], description: An answer.}\n")
    text = text.replace("when: {fact: gp_sub_icb, CODE}", "when: {fact: answer, eq: yes}")
    path = tmp_path / "answers.yaml"
    path.write_text(text, encoding="utf-8")
    policy = recnav_rules.load_policy(path)
    assert policy.facts["answer"].values == ("yes", "no", "unsure")
    assert policy.evaluate({"answer": "yes"}, as_of=AS_OF).outcome is Outcome.ACCEPT


def test_the_register_api_is_public() -> None:
    for name in ("builtin_register", "load_epraccur", "load_pcn_membership"):
        assert name in recnav_rules.__all__
    with pytest.raises(PolicyError):
        recnav_rules.load_pcn_membership(ROOT / "tests" / "data" / "ods" / "bad" / "membership-bad-header.csv")
