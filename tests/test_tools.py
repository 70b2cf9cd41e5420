"""Policy owners' tools: validate, test cases, coverage, documents, schemas."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

import recnav_rules
from recnav_rules.cli import main
from recnav_rules.decision import decision_json_schema
from recnav_rules.tools.cases import load_cases, run_cases
from recnav_rules.tools.coverage import display_path, measure
from recnav_rules.tools.validate import render_problem, validate_paths
from tests.test_language import MINIMAL

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "tests" / "data" / "broken"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- validate ----------------------------------------------------------------------------------


def test_builtin_policies_validate_cleanly_even_strict(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", "--strict", *map(str, sorted((ROOT / "policies").glob("*.yaml"))))
    assert code == 0, out
    assert out.strip().endswith("0 error(s), 0 warning(s)")


def test_validate_reports_like_a_compiler_with_caret(capsys: pytest.CaptureFixture[str]) -> None:
    path = BROKEN / "misspelt-fact.yaml"
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"{path}:18:22: error: unknown fact 'agee' (did you mean 'age'?)"
    assert lines[1] == "    18 |         when: {fact: agee, lt: 18}"
    assert lines[2] == "       |                      ^"


def test_validate_reports_every_error_in_a_file() -> None:
    problems = validate_paths([BROKEN / "several-errors.yaml"])
    assert [(p.line, p.column, p.code, p.suggestion) for p in problems] == [
        (15, 22, "unknown-fact", "age"),
        (18, 27, "unknown-operator", "gte"),
        (25, 27, "unknown-criterion", "adult"),
    ]


@pytest.mark.parametrize(
    ("name", "code", "line", "column"),
    [
        ("tabs.yaml", "yaml-syntax", 3, 1),
        ("duplicate-key.yaml", "duplicate-key", 4, 5),
        ("empty.yaml", "empty", 1, 1),
        ("not-a-mapping.yaml", "bad-type", 1, 1),
        ("alias-bomb.yaml", "too-large", None, None),
        ("deep.yaml", "too-deep", 1, None),
        ("cycle.yaml", "cycle", None, None),
        ("type-error.yaml", "type-error", 26, 35),
    ],
)
def test_broken_fixtures_give_located_errors(name: str, code: str, line: int | None, column: int | None) -> None:
    problems = validate_paths([BROKEN / name])
    assert problems, name
    first = problems[0]
    assert first.code == code
    assert first.file == str(BROKEN / name)
    if line is not None:
        assert first.line == line
    if column is not None:
        assert first.column == column
    assert first.line is None or first.line >= 1


def test_warnings_unreachable_and_unused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = MINIMAL.replace(
        "      colour: {type: enum, values: [red, green], description: A colour.}\n",
        "      colour: {type: enum, values: [red, green], description: A colour.}\n      spare: {type: bool, description: Unused.}\n",
    ).replace(
        "      - id: ok\n",
        "      - id: child-again\n        when: {fact: age, lt: 18}\n        outcome: reject\n        reason: Again.\n"
        "        assumption: Duplicate on purpose.\n      - id: ok\n",
    )
    path = tmp_path / "warn.yaml"
    path.write_text(text, encoding="utf-8")
    lint = ("unreachable-rule", "unused-fact")  # MINIMAL's source record is incomplete too: not this test's subject
    problems = [p for p in validate_paths([path]) if p.code in lint]
    assert sorted((p.code, p.severity) for p in problems) == [
        ("unreachable-rule", "warning"),
        ("unused-fact", "warning"),
        ("unused-fact", "warning"),
    ]
    assert any("'child-again' can never fire" in p.message for p in problems)
    assert run(capsys, "validate", str(path))[0] == 0
    assert run(capsys, "validate", "--strict", str(path))[0] == 1
    code, out, _ = run(capsys, "validate", "--format", "json", "--strict", str(path))
    data = json.loads(out)
    assert code == 1 and data["ok"] is False
    assert sorted(p["code"] for p in data["problems"] if p["code"] in lint) == ["unreachable-rule", "unused-fact", "unused-fact"]
    assert {p["severity"] for p in data["problems"]} == {"warning"}


def test_render_problem_without_a_line() -> None:
    problem = recnav_rules.PolicyProblem("x.yaml", None, None, "empty", "the file is empty")
    assert render_problem(problem) == "x.yaml: error: the file is empty"


# --- test cases and coverage --------------------------------------------------------------------


def test_builtin_cases_pass_with_full_rule_coverage() -> None:
    results = list(run_cases([ROOT / "policies" / "tests"]))
    failed = [r.report() for r in results if not r.passed]
    assert failed == []
    policy = recnav_rules.load_policy("bnssg-hiu-pilot")
    coverage = measure(policy.compiled, results)
    assert coverage.rule_percent == 100.0, coverage.report()


def test_a_failing_case_shows_expected_actual_and_explanation(tmp_path: Path) -> None:
    cases = tmp_path / "x.cases.yaml"
    cases.write_text(
        "policy: bnssg-hiu-pilot\nas_of: 2026-11-20\ncases:\n  - name: wrong on purpose\n"
        "    facts: {age: 16}\n    expect: {outcome: accept, reasons: [accept]}\n",
        encoding="utf-8",
    )
    (result,) = run_cases([cases])
    assert not result.passed
    report = result.report()
    assert f"{cases}:4: wrong on purpose" in report
    assert "outcome: expected 'accept', got 'signpost'" in report
    assert "reasons to include: expected ['accept'], got ['under-18']" in report
    assert "SIGNPOST" in report


def test_case_files_are_checked_and_located(tmp_path: Path) -> None:
    cases = tmp_path / "bad.cases.yaml"
    cases.write_text("policy: bnssg-hiu-pilot\ncases:\n  - name: x\n    expct: {outcome: accept}\n", encoding="utf-8")
    with pytest.raises(recnav_rules.PolicyError) as caught:
        load_cases(cases)
    assert caught.value.problems[0].suggestion == "expect" or any(p.suggestion == "expect" for p in caught.value.problems)


def test_test_command_with_coverage(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "test", "--coverage", "--fail-under", "100", str(ROOT / "policies" / "tests"))
    assert code == 0, out
    assert "coverage of bnssg-hiu-pilot" in out and "rules 100.0%" in out
    few = tmp_path / "few.cases.yaml"
    few.write_text(
        "policy: bnssg-hiu-pilot\nas_of: 2026-11-20\ncases:\n  - name: one\n    facts: {age: 16}\n    expect: {outcome: signpost}\n",
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "test", "--coverage", "--fail-under", "50", str(few))
    assert code == 1
    assert "rule in-custody never true" in out
    assert "bnssg.yaml:" in out


def _plugin_args() -> list[str]:
    from importlib.metadata import entry_points

    installed = any(ep.value == "recnav_rules.pytest_plugin" for ep in entry_points(group="pytest11"))
    # Installed (as CI installs it), the pytest11 entry point loads the plugin by itself.
    return [] if installed else ["-p", "recnav_rules.pytest_plugin"]


DEMO_CASES = (
    "policy: bnssg-hiu-pilot\nas_of: 2026-11-20\ncases:\n"
    "  - name: child\n    facts: {age: 16}\n    expect: {outcome: signpost}\n"
    "  - name: wrong\n    facts: {age: 16}\n    expect: {outcome: accept}\n"
)


def test_pytest_plugin_collects_case_files_when_opted_in(pytester: pytest.Pytester) -> None:
    pytester.makefile(".cases.yaml", demo=DEMO_CASES)
    pytester.makeini("[pytest]\nrecnav_rules_cases = true\n")
    result = pytester.runpytest(*_plugin_args())
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*outcome: expected 'accept', got 'signpost'*"])


def test_pytest_plugin_collects_nothing_unless_opted_in(pytester: pytest.Pytester) -> None:
    pytester.makefile(".cases.yaml", demo=DEMO_CASES)
    assert pytester.runpytest(*_plugin_args()).ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result = pytester.runpytest(*_plugin_args(), "--recnav-cases")
    result.assert_outcomes(passed=1, failed=1)


def test_pytest_plugin_passes_over_case_files_of_other_tools(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".cases.yaml",
        deploy="stages: [build, ship]\ncases:\n  - {name: canary, weight: 5}\n",
        broken="{{{ not: yaml at all\n",
        binary="\x00\x01cases:",
    )
    pytester.makefile(".cases.yaml", ours="# yaml-language-server: $schema=cases.schema.json\n" + DEMO_CASES)
    pytester.makeini("[pytest]\nrecnav_rules_cases = true\n")
    result = pytester.runpytest(*_plugin_args())
    result.assert_outcomes(passed=1, failed=1)


def test_pytest_plugin_reports_a_broken_case_file_as_located_text(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".cases.yaml",
        typo="# yaml-language-server: $schema=cases.schema.json\npolicy: bnssg-hiu-pilot\ncases:\n  - name: x\n    expct: {outcome: accept}\n",
    )
    result = pytester.runpytest(*_plugin_args(), "--recnav-cases")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*typo.cases.yaml:4:5: error: missing required key 'expect'", "*typo.cases.yaml:5:*: error: *expct*"])
    assert "load_cases" not in result.stdout.str()  # no traceback through the plugin's code


def test_is_case_file(tmp_path: Path) -> None:
    from recnav_rules.pytest_plugin import is_case_file

    shipped = sorted((ROOT / "policies" / "tests").glob("*.cases.yaml"))
    assert shipped and all(is_case_file(path) for path in shipped)
    other = tmp_path / "deploy.cases.yaml"
    other.write_text("cases:\n  - name: x\n", encoding="utf-8")
    assert not is_case_file(other)
    assert not is_case_file(tmp_path / "missing.cases.yaml")
    per_case = tmp_path / "per-case.cases.yaml"
    per_case.write_text("as_of: 2026-11-20\ncases:\n  - policy: bnssg-hiu-pilot\n    name: x\n", encoding="utf-8")
    assert is_case_file(per_case)


# --- the test command: built-in cases, selection, reports -------------------------------------------


def test_test_without_a_path_runs_the_builtin_cases_from_anywhere(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recnav_rules._resources import policies_dir

    total = len(list(run_cases([policies_dir() / "tests"])))
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "test", "--coverage", "--fail-under", "100")
    assert (code, err) == (0, "")
    assert out.startswith(f"{total} passed, 0 failed\n")
    assert "coverage of somerset-waiting-list" in out


def test_keyword_selection_and_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    cases = str(ROOT / "policies" / "tests")
    total = len(list(run_cases([cases])))
    code, out, _ = run(capsys, "test", "-v", "-k", "CUSTODY", "-k", "no consent", cases)
    listed = [line for line in out.splitlines() if line.startswith("PASS ")]
    assert code == 0
    assert listed and all(("custody" in line.lower() or "no consent" in line.lower()) for line in listed)
    assert out.splitlines()[-1] == f"{len(listed)} passed, 0 failed, {total - len(listed)} deselected"
    code, out, _ = run(capsys, "test", "-k", "bnssg-hiu-pilot.cases.yaml::in custody", cases)
    assert (code, out) == (0, f"1 passed, 0 failed, {total - 1} deselected\n")


@pytest.mark.parametrize(
    ("expression", "kept"),
    [
        ("custody", ["in custody", "custody unknown - insufficient information"]),
        ("CUSTODY and not unknown", ["in custody"]),
        ("custody unknown", ["custody unknown - insufficient information"]),
        ("(consent or custody) and not (unknown or given)", ["in custody", "no consent"]),
        ("pilot.cases.yaml::in", ["in custody"]),
    ],
)
def test_keyword_expressions(expression: str, kept: list[str]) -> None:
    from recnav_rules.tools.keywords import matcher

    names = ["in custody", "custody unknown - insufficient information", "no consent", "consent given"]
    test = matcher(expression)
    assert [n for n in names if test(f"bnssg-hiu-pilot.cases.yaml::{n}".casefold())] == kept


@pytest.mark.parametrize(
    ("expression", "problem"),
    [("(custody", "a '(' is not closed"), ("custody and", "ends too soon"), ("custody )", "unexpected ')'"),
     ("and custody", "expected a word, got 'and'"), ("  ", "-k needs a word")],
)
def test_unreadable_keyword_expressions(capsys: pytest.CaptureFixture[str], expression: str, problem: str) -> None:
    code, out, err = run(capsys, "test", "-k", expression, str(ROOT / "policies" / "tests"))
    assert (code, out) == (2, "")
    assert err.strip().endswith(problem) and err.count("\n") == 1


_WORDS = st.sampled_from(["ab", "bc", "cd", "x"])
_EXPRESSIONS = st.recursive(
    _WORDS,
    lambda inner: st.one_of(
        st.tuples(st.just("not"), inner),
        st.tuples(st.sampled_from(["and", "or"]), inner, inner),
    ),
    max_leaves=8,
)


def _render(tree: object) -> str:
    if isinstance(tree, str):
        return tree
    assert isinstance(tree, tuple)
    if tree[0] == "not":
        return f"not ({_render(tree[1])})"
    return f"({_render(tree[1])}) {tree[0]} ({_render(tree[2])})"


def _holds(tree: object, text: str) -> bool:
    if isinstance(tree, str):
        return tree in text
    assert isinstance(tree, tuple)
    if tree[0] == "not":
        return not _holds(tree[1], text)
    if tree[0] == "and":
        return _holds(tree[1], text) and _holds(tree[2], text)
    return _holds(tree[1], text) or _holds(tree[2], text)


@given(_EXPRESSIONS, st.text(alphabet="abcdx ", max_size=12))
def test_keyword_expressions_mean_boolean_logic_over_substrings(tree: object, text: str) -> None:
    from recnav_rules.tools.keywords import matcher

    assert matcher(_render(tree))(text) == _holds(tree, text)


def test_junit_xml_report(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    cases = tmp_path / "x.cases.yaml"
    cases.write_text(DEMO_CASES, encoding="utf-8")
    report = tmp_path / "junit.xml"
    code, _, _ = run(capsys, "test", "--junit-xml", str(report), str(cases))
    assert code == 1
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    child, wrong = suite.findall("testcase")
    assert (child.get("classname"), child.get("name"), child.get("line")) == ("x.cases", "child", "4")
    assert child.find("failure") is None
    failure = wrong.find("failure")
    assert failure is not None
    assert failure.get("message") == "outcome: expected 'accept', got 'signpost'"
    assert "SIGNPOST" in (failure.text or "")
    assert float(wrong.get("time", "-1")) >= 0


def test_coverage_as_json_and_lcov(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    few = tmp_path / "few.cases.yaml"
    few.write_text(
        "policy: bnssg-hiu-pilot\nas_of: 2026-11-20\ncases:\n  - name: one\n    facts: {age: 16}\n    expect: {outcome: signpost}\n",
        encoding="utf-8",
    )
    as_json, as_lcov = tmp_path / "coverage.json", tmp_path / "policy.info"
    code, _, _ = run(capsys, "test", "--coverage", "--coverage-json", str(as_json), "--lcov", str(as_lcov), str(few))
    assert code == 0
    (policy,) = json.loads(as_json.read_text(encoding="utf-8"))["policies"]
    assert policy["policy"] == "bnssg-hiu-pilot" and policy["cases"] == 1
    rules = {r["id"]: r for r in policy["rules"]}
    assert rules["under-18"]["counts"] == {"true": 1, "false": 0, "unknown": 0}
    assert rules["under-18"]["covered"] is False
    assert policy["percent"]["rules"] == 0.0
    hiu = recnav_rules.load_policy("bnssg-hiu-pilot")
    assert [r["id"] for r in policy["rules"]] == list(hiu.rule_ids)
    lines = as_lcov.read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ["TN:", f"SF:{display_path(hiu.file)}"] and lines[-1] == "end_of_record"
    under_18 = hiu.compiled.rule("under-18").line
    assert f"BRDA:{under_18},0,0,1" in lines and f"BRDA:{under_18},0,1,-" in lines
    assert f"DA:{under_18},0" in lines
    data_lines = [line for line in lines if line.startswith("DA:")]
    assert f"LF:{len(data_lines)}" in lines and "LH:0" in lines


def test_coverage_as_cobertura(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    report = tmp_path / "cobertura.xml"
    hiu_cases = str(ROOT / "policies" / "tests" / "bnssg-hiu-pilot.cases.yaml")
    code, _, _ = run(capsys, "test", "--coverage", "--cobertura", str(report), hiu_cases)
    assert code == 0
    root = ET.parse(report).getroot()
    (cls,) = root.iter("class")
    hiu = recnav_rules.load_policy("bnssg-hiu-pilot")
    assert (cls.get("name"), cls.get("filename")) == ("bnssg-hiu-pilot", display_path(hiu.file))
    assert (cls.get("line-rate"), cls.get("branch-rate")) == ("1.0000", "1.0000")  # every rule, criterion, comparison
    lines = {int(line.get("number", "0")): line for line in cls.iter("line")}
    assert {rule.line for rule in hiu.compiled.rules} <= set(lines)
    assert lines[hiu.compiled.rule("under-18").line or 0].get("condition-coverage") == "100% (2/2)"
    code, _, _ = run(capsys, "test", "--coverage", "--cobertura", str(report), "-k", "in custody", hiu_cases)
    root = ET.parse(report).getroot()
    under_18 = next(line for line in root.iter("line") if line.get("number") == str(hiu.compiled.rule("under-18").line))
    assert (under_18.get("hits"), under_18.get("condition-coverage")) == ("0", "50% (1/2)")
    assert float(root.get("line-rate", "1")) < 1


def test_full_coverage_marks_every_rule_line_hit(tmp_path: Path) -> None:
    from recnav_rules.tools.coverage import lcov

    results = list(run_cases([ROOT / "policies" / "tests" / "bnssg-hiu-pilot.cases.yaml"]))
    policy = recnav_rules.load_policy("bnssg-hiu-pilot")
    coverage = measure(policy.compiled, results)
    lines = lcov([coverage]).splitlines()
    for rule in policy.compiled.rules:
        (hit,) = [line for line in lines if line.startswith(f"DA:{rule.line},")]
        assert int(hit.split(",")[1]) == coverage.cases == sum(1 for r in results if r.decision is not None), rule.id


# --- documents and schemas -----------------------------------------------------------------------


def test_policy_documents_are_current(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "docs", "--check", str(ROOT / "docs" / "policies"))
    assert code == 0, out


def test_policy_document_content(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "docs", "bnssg-hiu-pilot")
    assert code == 0
    assert out.startswith("# BNSSG 999 high-intensity user pilot")
    assert "```mermaid" in out
    assert '1. **under-18** → **signpost**' in out
    assert '"Individuals who are in custody at the time of their presentation to 999"' in out
    assert "## Assumptions" in out


def test_docs_check_fails_when_stale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bnssg-hiu-pilot.md").write_text("old\n", encoding="utf-8")
    code, out, _ = run(capsys, "docs", "--check", str(tmp_path), "bnssg-hiu-pilot")
    assert code == 1
    assert "out of date" in out


def test_decision_schema_is_current_and_describes_decisions(hiu: recnav_rules.Policy, baseline: dict[str, object]) -> None:
    committed = json.loads((ROOT / "schemas" / "decision.schema.json").read_text(encoding="utf-8"))
    assert committed == decision_json_schema(), "regenerate: see docs/api.md"
    decision = hiu.evaluate(baseline, as_of="2026-11-20")
    jsonschema.validate(json.loads(decision.to_json()), committed)


def test_policy_files_carry_the_schema_line() -> None:
    for path in sorted((ROOT / "policies").glob("*.yaml")):
        assert path.read_text(encoding="utf-8").startswith("# yaml-language-server: $schema=../schemas/policy.schema.json")
