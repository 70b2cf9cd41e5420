"""MC/DC of policy cases (issue 14): masking MC/DC, unique-cause reported alongside."""

from __future__ import annotations

from pathlib import Path

import pytest

import recnav_rules
from recnav_rules.assurance.mcdc import measure, report_for_results
from recnav_rules.cli import main
from recnav_rules.tools.cases import run_cases

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "assurance"
PLANTED = DATA / "planted.yaml"
AS_OF = "2026-11-20"
BASE = {"age": 40, "lives_in_area": True, "consent": True, "unsafe_at_home": False, "carer_request": False, "need": "moderate"}


def decide(**changes: object) -> recnav_rules.Decision:
    return recnav_rules.load_policy(PLANTED).evaluate({**BASE, **changes}, as_of=AS_OF)


def parts(decisions: dict[str, recnav_rules.Decision]) -> dict[tuple[str, str], tuple[bool, bool]]:
    report = measure(recnav_rules.load_policy(PLANTED).compiled, decisions.items())
    return {(p.owner, p.label): (p.masking, p.unique_cause) for p in report.parts}


def test_a_pair_differing_in_one_part_shows_it_unique_cause() -> None:
    found = parts({"baseline": decide(), "outside": decide(lives_in_area=False)})
    assert found[("rule accept", "'lives_in_area eq true'")] == (True, True)
    assert found[("rule accept", "'consent eq true'")] == (False, False)


def test_masking_accepts_a_pair_where_other_parts_differ_without_masking(tmp_path: Path) -> None:
    # accept = all(adult, in area, consent, any(need is high, carer request))
    text = PLANTED.read_text(encoding="utf-8").replace(
        "- {fact: need, in: [moderate, high]}", "- any: [{fact: need, eq: high}, {fact: carer_request, eq: true}]"
    )
    path = tmp_path / "nested.yaml"
    path.write_text(text, encoding="utf-8")
    policy = recnav_rules.load_policy(path)
    a = policy.evaluate({**BASE, "need": "high"}, as_of=AS_OF)
    b = policy.evaluate({**BASE, "lives_in_area": False, "carer_request": True}, as_of=AS_OF)
    report = measure(policy.compiled, [("a", a), ("b", b)])
    found = {(p.owner, p.label): (p.masking, p.unique_cause) for p in report.parts}
    # lives_in_area flips the condition alone in both cases, though need and carer_request differ too
    assert found[("rule accept", "'lives_in_area eq true'")] == (True, False)
    # consent is the same in both: not shown
    assert found[("rule accept", "'consent eq true'")] == (False, False)
    # a masked part is not shown: outside the area, with no consent, consent alone changes nothing
    c = policy.evaluate({**BASE, "need": "high", "lives_in_area": False, "consent": False}, as_of=AS_OF)
    report = measure(policy.compiled, [("a", a), ("c", c)])
    found = {(p.owner, p.label): (p.masking, p.unique_cause) for p in report.parts}
    assert found[("rule accept", "'consent eq true'")] == (False, False)
    assert found[("rule accept", "'lives_in_area eq true'")] == (False, False)


def test_unknown_shows_nothing() -> None:
    found = parts({"a": decide(), "b": recnav_rules.load_policy(PLANTED).evaluate({**BASE, "consent": None}, as_of=AS_OF)})
    assert found[("rule accept", "'consent eq true'")] == (False, False)


def test_single_part_conditions_are_not_listed() -> None:
    report = measure(recnav_rules.load_policy(PLANTED).compiled, [("a", decide())])
    assert {p.owner for p in report.parts} == {"rule carer-request", "rule accept"}
    assert report.percent == 0.0


def test_the_fixture_cases_miss_one_part_and_the_command_says_where(capsys: pytest.CaptureFixture[str]) -> None:
    text, complete = report_for_results(list(run_cases([DATA / "cases"])))
    assert not complete
    assert "83.3% of 6 part(s)" in text
    assert "planted.yaml:73: criterion adult in rule carer-request not shown to affect it independently" in text
    code = main(["test", "--mcdc", str(DATA / "cases")])
    out = capsys.readouterr().out
    assert code == 1
    assert "criterion adult in rule carer-request not shown" in out


def test_mcdc_with_json_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["test", "--mcdc", "--format", "json", str(DATA / "cases")])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err == "recnav-rules: error: --mcdc reports as text: leave out --format json\n"


def test_part_truths_recombine_to_the_engines_value_on_every_builtin_case() -> None:
    from recnav_rules.assurance._engine import conditions_of, operands, trace_values
    from recnav_rules.assurance.mcdc import _evaluate, _truths
    from recnav_rules.tools.cases import policy_for

    results = [r for r in run_cases([ROOT / "policies" / "tests"]) if r.decision is not None]
    checked = 0
    for result in results:
        assert result.decision is not None
        seen = trace_values(result.decision)
        for condition in conditions_of(policy_for(result.case).compiled):
            engine = (seen.criteria if condition.kind == "criterion" else seen.rules)[condition.id]
            assert _evaluate(condition, _truths(operands(condition.node), seen)) == engine, (result.case.name, condition.owner)
            checked += 1
    assert checked > 1000
