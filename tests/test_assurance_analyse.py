"""Exact static analysis with z3 (issue 14): every rule can fire, overlaps, fallbacks."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import z3  # type: ignore[import-untyped]
from hypothesis import HealthCheck, given, settings

import recnav_rules
from recnav_rules.assurance._engine import trace_values
from recnav_rules.assurance.analyse import Model, _Decision, analyse_policy, equivalent
from recnav_rules.cli import main
from tests.strategies import partial_referrals
from tests.test_assurance_mutate import PLANTED_FACTS
from tests.test_language import MINIMAL

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "assurance"
PLANTED = DATA / "planted.yaml"
AS_OF = dt.date(2026, 11, 20)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_shadowed_numeric_rule_is_an_error_naming_the_rule_before_it() -> None:
    analysis = analyse_policy(recnav_rules.load_policy(PLANTED), AS_OF)
    (error,) = analysis.errors
    assert error.rules == ("under-10",)
    assert error.line == 63
    assert error.message == "rule under-10 can never decide a referral (whenever it holds, under-16 holds first)"


def test_overlaps_of_different_outcomes_are_warnings_with_a_reproduced_counterexample() -> None:
    analysis = analyse_policy(recnav_rules.load_policy(PLANTED), AS_OF)
    overlaps = {f.rules: f for f in analysis.warnings if f.check == "overlap"}
    assert set(overlaps) == {
        ("under-16", "under-10"),
        ("under-16", "unsafe-at-home"),
        ("unsafe-at-home", "carer-request"),
        ("unsafe-at-home", "accept"),
    }
    planted = overlaps[("unsafe-at-home", "carer-request")]
    assert planted.reproduced is True
    assert planted.counterexample is not None
    assert planted.counterexample["unsafe_at_home"] is True and planted.counterexample["carer_request"] is True
    # same-outcome pairs (carer-request and accept) are not overlaps to review
    assert ("carer-request", "accept") not in overlaps


def test_every_other_rule_and_both_fallbacks_are_reached_by_runnable_referrals(tmp_path: Path) -> None:
    policy = recnav_rules.load_policy(PLANTED)
    analysis = analyse_policy(policy, AS_OF, out=tmp_path)
    fired = {f.rules[0] for f in analysis.findings if f.check == "fires" and f.severity == "ok"}
    assert fired == {"under-16", "unsafe-at-home", "carer-request", "accept"}
    assert {f.check for f in analysis.findings if f.severity == "ok"} >= {"otherwise", "incomplete"}
    for finding in analysis.findings:
        if finding.counterexample_file is None:
            continue
        facts = json.loads(Path(finding.counterexample_file).read_text(encoding="utf-8"))
        decision = policy.evaluate(facts, as_of=AS_OF)
        if finding.check == "fires":
            assert decision.complete and decision.reasons[0].rule_id == finding.rules[0]
        if finding.check == "incomplete":
            assert not decision.complete
        if finding.check == "otherwise":
            assert decision.complete and decision.reasons[0].rule_id == "otherwise"


def test_a_counterexample_file_reproduces_through_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "analyse", str(PLANTED), "--as-of", "2026-11-20", "--out", str(tmp_path))
    assert code == 1  # the shadowed rule is an error
    assert f"{PLANTED}:63: error: rule under-10 can never decide a referral" in out
    example = tmp_path / "planted-defects--fires-carer-request.json"
    code, out, _ = run(capsys, "evaluate", "--policy", str(PLANTED), "--as-of", "2026-11-20", "--json", str(example))
    assert code == 0
    assert json.loads(out)["reasons"][0]["rule_id"] == "carer-request"


def test_json_format(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "analyse", str(PLANTED), "--as-of", "2026-11-20", "--format", "json")
    (data,) = json.loads(out)
    assert code == 1
    assert data["policy"] == "planted-defects" and data["errors"] == 1 and data["warnings"] == 4
    assert all(f["reproduced"] is not False for f in data["findings"])


def test_a_clean_policy_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "minimal.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    code, out, err = run(capsys, "analyse", str(path), "--as-of", "2026-11-20")
    assert code == 0, out + err
    assert "0 error(s)" in out


def test_numeric_bounds_are_respected() -> None:
    # `age` is 0..130: a rule needing 131 or more could never hold
    text = PLANTED.read_text(encoding="utf-8").replace("when: {fact: unsafe_at_home, eq: true}", "when: {fact: age, gt: 130}")
    policy = _policy_from_text(text)
    analysis = analyse_policy(policy, AS_OF)
    assert any(f.rules == ("unsafe-at-home",) and "can never hold" in f.message for f in analysis.errors)


def _policy_from_text(text: str) -> recnav_rules.Policy:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "changed.yaml"
        path.write_text(text, encoding="utf-8")
        return recnav_rules.load_policy(path)


def test_equivalence_is_proved_or_refuted() -> None:
    original = recnav_rules.load_policy(PLANTED).compiled
    reordered = _policy_from_text(PLANTED.read_text(encoding="utf-8").replace("outcome: reject\n        reason: \"Under 10", "outcome: accept\n        reason: \"Under 10")).compiled
    moved = _policy_from_text(PLANTED.read_text(encoding="utf-8").replace("{fact: age_years, gte: 18}", "{fact: age_years, gte: 19}")).compiled
    assert equivalent(original, reordered, AS_OF)  # under-10 never decides, whatever its outcome
    assert not equivalent(original, moved, AS_OF)  # an 18 year old is decided differently


def test_bad_policy_path_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "analyse", "no/such/policy.yaml")
    assert code == 2 and "no/such/policy.yaml" in err and "Traceback" not in err


# --- the solver's model agrees with the engine (what makes "proved equivalent" trustworthy) -------

_OUTCOMES = {0: "accept", 1: "reject", 2: "signpost"}


def _agrees(policy: recnav_rules.Policy, facts: dict[str, object], as_of: dt.date) -> None:
    """The engine's decision for ``facts`` is the only one the model allows for the values it read."""
    decision = policy.evaluate(facts, as_of=as_of)
    model = Model(policy.compiled, as_of)
    encoded = _Decision(model, policy.compiled)
    pins = model.pinned(trace_values(decision).values)
    found = model.check(*pins)
    assert found is not None, "the model refuses values the engine produced"
    assert _OUTCOMES[found.eval(encoded.outcome).as_long()] == decision.outcome.value
    assert z3.is_true(found.eval(encoded.complete)) == decision.complete
    reasons = [rid for rid, held in zip([*policy.rule_ids, "otherwise", "incomplete"], encoded.reasons(), strict=True) if z3.is_true(found.eval(held))]
    assert sorted(reasons) == sorted(r.rule_id for r in decision.reasons)
    # and no other outcome is possible for those values
    assert model.check(*pins, encoded.outcome != found.eval(encoded.outcome)) is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(partial_referrals())
def test_model_agrees_with_the_engine_on_hiu_referrals(pair: tuple[dict[str, object], dict[str, object]]) -> None:
    _, partial = pair
    _agrees(recnav_rules.load_policy("bnssg-hiu-pilot"), partial, AS_OF)


@settings(max_examples=60, deadline=None)
@given(PLANTED_FACTS)
def test_model_agrees_with_the_engine_on_the_planted_policy(facts: dict[str, object]) -> None:
    _agrees(recnav_rules.load_policy(PLANTED), facts, AS_OF)


def test_without_alternatives_counterexamples_carry_dates_of_birth_and_call_lists(tmp_path: Path) -> None:
    text = (ROOT / "policies" / "bnssg.yaml").read_text(encoding="utf-8")
    for alternative in ("qualifying_calls_1_month", "qualifying_calls_3_months", "age"):
        text = text.replace(f"        alternative: {alternative}\n", "")
    path = tmp_path / "no-alternatives.yaml"
    path.write_text(text, encoding="utf-8")
    policy = recnav_rules.load_policy(f"{path}#bnssg-hiu-pilot")
    analysis = analyse_policy(policy, AS_OF)
    assert analysis.errors == []
    examples = [f.counterexample for f in analysis.findings if f.counterexample is not None]
    assert examples and all(f.reproduced for f in analysis.findings if f.counterexample is not None)
    assert all("age" not in e and "qualifying_calls_1_month" not in e for e in examples)
    assert any("date_of_birth" in e for e in examples)
    assert any("emergency_calls" in e for e in examples)
    # counts over nested windows of one call list are written as calls the engine counts alike
    model = Model(policy.compiled, AS_OF)
    calls_1, calls_3 = model.values["calls_1_month"], model.values["calls_3_months"]
    found = model.example(model.via_inputs["calls_1_month"], calls_1.value == 4, calls_3.value == 12)
    assert found is not None
    facts = model.facts_from(found)
    assert len(facts["emergency_calls"]) == 12
    read = trace_values(policy.evaluate(facts, as_of=AS_OF)).values
    assert (read["calls_1_month"], read["calls_3_months"]) == (4, 12)


def test_an_out_folder_that_cannot_be_written_is_refused_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    code, out, err = run(capsys, "analyse", str(PLANTED), "--out", str(blocker / "examples"))
    assert code == 2 and out == ""
    assert "cannot write" in err and len(err.strip().splitlines()) == 1


def test_a_practice_code_the_register_does_not_hold_is_written_as_such() -> None:
    policy = recnav_rules.load_policy("bnssg-hiu-pilot")
    model = Model(policy.compiled, AS_OF)
    chosen, _ = model.classes["gp_practice_code"]
    found = model.example(model.values["gp_practice_code"].known, chosen == -1)
    assert found is not None
    facts = model.facts_from(found)
    assert facts["gp_practice_code"] not in {p.code for p in policy.compiled.reference_data["gp_practices"]}
    read = trace_values(policy.evaluate(facts, as_of=AS_OF)).values
    assert "gp_sub_icb" not in read  # the look-up leaves it unknown, as the model said
