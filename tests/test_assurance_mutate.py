"""Policy mutation testing (issue 14): mutants of the policy document, run against the cases."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recnav_rules
from recnav_rules.assurance._engine import compile_policy_data
from recnav_rules.assurance.mutate import AssuranceError, generate, mutation_test
from recnav_rules.cli import main
from recnav_rules.decision import Decision
from recnav_rules.policy import Policy

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "assurance"
PLANTED = DATA / "planted.yaml"
CASES = DATA / "cases"
BOUNDARY = DATA / "boundary"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_operator_makes_mutants_located_at_the_changed_value() -> None:
    mutants, _ = generate(PLANTED)
    described = {m.description: m for m in mutants}
    threshold = described["criterion adult: threshold 18 becomes 19 in 'age_years gte 18'"]
    assert (threshold.line, threshold.column) == (54, 38)
    assert "criterion adult: 'gte' becomes 'gt' in 'age_years gte 18'" in described
    assert "rule accept: 'all' becomes 'any'" in described
    assert "rule accept: 'consent eq true' dropped from 'all'" in described
    assert "rule accept: 'consent eq true' negated" in described
    assert "rule accept: 'high' removed from 'need in ['moderate', 'high']'" in described
    assert "rule under-16: outcome signpost becomes reject" in described
    assert "rule under-16: signpost children-young-people-mental-health removed" in described
    assert "next step first_contact: due 5 becomes 6 working days" in described
    assert "otherwise: outcome reject becomes accept" in described
    assert "rule unsafe-at-home: 'eq' becomes 'ne' in 'unsafe_at_home eq true'" in described


def test_a_mutant_changes_a_copy_only() -> None:
    mutants, policies = generate(PLANTED)
    mutant = next(m for m in mutants if m.description.startswith("criterion adult: threshold 18 becomes 19"))
    changed = mutant.apply(policies[0])
    assert changed["criteria"]["adult"]["when"] == {"fact": "age_years", "gte": 19}
    assert policies[0]["criteria"]["adult"]["when"] == {"fact": "age_years", "gte": 18}


def test_the_off_by_one_survives_until_the_boundary_case_is_added() -> None:
    before = mutation_test(PLANTED, [CASES], jobs=1)
    survivors = {r.mutant.description for r in before.results if r.status == "survived"}
    assert "criterion adult: threshold 18 becomes 19 in 'age_years gte 18'" in survivors
    assert "criterion adult: 'gte' becomes 'gt' in 'age_years gte 18'" in survivors
    after = mutation_test(PLANTED, [CASES, BOUNDARY], jobs=2)
    status = {r.mutant.description: r.status for r in after.results}
    assert status["criterion adult: threshold 18 becomes 19 in 'age_years gte 18'"] == "killed"
    assert status["criterion adult: 'gte' becomes 'gt' in 'age_years gte 18'"] == "killed"
    assert after.score() > before.score()
    # the two runs (one process, a pool of two) judge every other mutant alike
    assert {r.mutant.description: r.status for r in before.results if "adult" not in r.mutant.description} == {
        d: s for d, s in status.items() if "adult" not in d
    }


def test_outcomes_of_a_rule_that_never_decides_are_proved_equivalent() -> None:
    report = mutation_test(PLANTED, [CASES], jobs=1)
    status = {r.mutant.description: r.status for r in report.results}
    assert status["rule under-10: outcome reject becomes accept"] == "equivalent"
    # a signpost rule without a signpost does not load: invalid, not counted
    assert status["rule under-16: signpost children-young-people-mental-health removed"] == "invalid"
    counted = report.counted("planted-defects")
    assert all(r.status in ("killed", "survived") for r in counted)
    assert report.score() == pytest.approx(100.0 * sum(r.status == "killed" for r in counted) / len(counted))


def test_without_the_solver_the_equivalent_mutant_counts_as_a_survivor() -> None:
    report = mutation_test(PLANTED, [CASES], jobs=1, prove=False)
    status = {r.mutant.description: r.status for r in report.results}
    assert status["rule under-10: outcome reject becomes accept"] == "survived"


def test_a_case_that_fails_on_the_unchanged_policy_stops_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (CASES / "planted.cases.yaml").read_text(encoding="utf-8").replace("../planted.yaml", str(PLANTED))
    text = text.replace("reasons_exactly: [accept], next_steps", "reasons_exactly: [otherwise], next_steps")
    (tmp_path / "wrong.cases.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(AssuranceError, match="the case fails on the unchanged policy"):
        mutation_test(PLANTED, [tmp_path], jobs=1)
    code = main(["mutate", str(PLANTED), "--cases", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"recnav-rules: {tmp_path / 'wrong.cases.yaml'}:14: the case fails on the unchanged policy")


def test_cli_reports_survivors_with_file_line_and_fails_under(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "mutate", str(PLANTED), "--cases", str(CASES), "--jobs", "1", "--fail-under", "100")
    assert code == 1
    assert f"{PLANTED}:54:38: survived: criterion adult: threshold 18 becomes 19 in 'age_years gte 18'" in out
    assert "mutation score" in err and "under 100" in err


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "mutate", str(PLANTED), "--cases", str(CASES), "--cases", str(BOUNDARY), "--jobs", "2", "--format", "json")
    assert code == 0
    data = json.loads(out)
    (policy,) = data["policies"]
    assert policy["id"] == "planted-defects" and policy["cases"] == 13
    assert policy["killed"] + sum(1 for m in data["mutants"] if m["status"] == "survived") == policy["mutants"]
    assert {m["status"] for m in data["mutants"]} <= {"killed", "survived", "equivalent", "invalid"}
    assert all(m["line"] for m in data["mutants"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--cases", "nowhere"], "nowhere"),
        (["--cases", str(CASES), "--policy", "no-such-policy"], "no policy 'no-such-policy'"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, _, err = run(capsys, "mutate", str(PLANTED), *argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cli_refuses_negative_jobs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["mutate", str(PLANTED), "--cases", str(CASES), "--jobs", "-1"])
    assert stop.value.code == 2
    assert "--jobs" in capsys.readouterr().err


def test_a_file_that_is_not_a_policy_file_is_a_located_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    code, _, err = run(capsys, "mutate", str(path), "--cases", str(CASES))
    assert code == 2
    assert err.strip() == f"recnav-rules: {path}:1:1: error: expected a 'policies' list"
    path.write_text("policies:\n  - just text\n", encoding="utf-8")
    code, _, err = run(capsys, "mutate", str(path), "--cases", str(CASES))
    assert code == 2
    assert err.strip() == f"recnav-rules: {path}:2:5: error: each item of 'policies' is a policy (a mapping)"


def test_parameter_values_are_mutated_and_killed_like_literals(tmp_path: Path) -> None:
    text = PLANTED.read_text(encoding="utf-8")
    text = text.replace(
        "    calendar: {country: GB, subdivision: ENG}\n",
        "    calendar: {country: GB, subdivision: ENG}\n"
        "    parameters:\n"
        "      adult_age:\n"
        "        type: integer\n"
        "        description: The age from which a person is an adult.\n"
        "        values:\n"
        "          2024-01-01: 18\n",
    ).replace("when: {fact: age_years, gte: 18}", "when: {fact: age_years, gte: {param: adult_age}}")
    path = tmp_path / "parameters.yaml"
    path.write_text(text, encoding="utf-8")
    cases = tmp_path / "cases"
    cases.mkdir()
    for folder in (CASES, BOUNDARY):
        for file in folder.glob("*.cases.yaml"):
            (cases / file.name).write_text(file.read_text(encoding="utf-8").replace("../planted.yaml", "../parameters.yaml"), encoding="utf-8")
    mutants, _ = generate(path)
    moved = [m for m in mutants if m.description.startswith("parameter adult_age")]
    assert [m.description for m in moved] == ["parameter adult_age (from 2024-01-01): 18 becomes 19", "parameter adult_age (from 2024-01-01): 18 becomes 17"]
    assert (moved[0].line, moved[0].column) == (22, 23)  # the value after "2024-01-01:"
    status = {r.mutant.description: r.status for r in mutation_test(path, [cases], jobs=1).results}
    assert status["parameter adult_age (from 2024-01-01): 18 becomes 19"] == "killed"
    assert status["parameter adult_age (from 2024-01-01): 18 becomes 17"] == "killed"


# --- mutants proved equivalent really decide alike (sampled) ---------------------------------------


@functools.cache
def _planted_equivalents() -> list[tuple[Policy, Policy]]:
    report = mutation_test(PLANTED, [CASES], jobs=1)
    _, policies = generate(PLANTED)
    pairs = []
    for result in report.results:
        if result.status == "equivalent":
            mutant = result.mutant
            original = compile_policy_data(policies[mutant.index], str(DATA), file=str(PLANTED))
            changed = compile_policy_data(mutant.apply(policies[mutant.index]), str(DATA), file=str(PLANTED))
            pairs.append((original, changed))
    return pairs


def _observable(decision: Decision) -> dict[str, object]:
    data = decision.to_dict()
    seen = {k: data[k] for k in ("outcome", "complete", "missing_facts", "signposts", "next_steps")}
    seen["reasons"] = [r["rule_id"] for r in data["reasons"]]
    return seen


PLANTED_FACTS = st.fixed_dictionaries(
    {},
    optional={
        "age": st.integers(0, 130),
        "lives_in_area": st.booleans(),
        "consent": st.booleans(),
        "unsafe_at_home": st.booleans(),
        "carer_request": st.booleans(),
        "need": st.sampled_from(["low", "moderate", "high"]),
    },
)


@settings(max_examples=100, deadline=None)
@given(PLANTED_FACTS)
def test_mutants_proved_equivalent_decide_sampled_referrals_alike(facts: dict[str, object]) -> None:
    pairs = _planted_equivalents()
    assert pairs  # the outcome of under-10, which never decides
    for original, changed in pairs:
        assert _observable(original.evaluate(facts, as_of="2026-11-20")) == _observable(changed.evaluate(facts, as_of="2026-11-20"))


def test_a_survivor_comes_with_a_referral_that_tells_it_apart(capsys: pytest.CaptureFixture[str]) -> None:
    report = mutation_test(PLANTED, [CASES], jobs=1)
    by_description = {r.mutant.description: r for r in report.results}
    hint = by_description["criterion adult: threshold 18 becomes 19 in 'age_years gte 18'"].detail
    assert hint.startswith("tell them apart with {") and hint.endswith(": the policy says accept, the mutant reject")
    facts = json.loads(hint[len("tell them apart with ") : hint.index("}: ") + 1])
    policy = recnav_rules.load_policy(PLANTED)
    assert policy.evaluate(facts, as_of="2026-11-20").outcome.value == "accept"
