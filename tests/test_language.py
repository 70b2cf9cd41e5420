"""The policy language: located errors with did-you-mean, safe YAML, three-valued logic."""

from __future__ import annotations

import datetime as dt
import itertools
import textwrap
from pathlib import Path

import pytest

import recnav_rules
from recnav_rules import Outcome, PolicyError
from recnav_rules.engine import conditions
from recnav_rules.engine.model import Leaf, Logic, Tri

MINIMAL = """\
policies:
  - id: tiny
    version: 1.0.0
    title: A tiny policy
    sources:
      doc: {file: doc.txt, title: A document}
    facts:
      age: {type: integer, minimum: 0, description: Age in years.}
      member: {type: bool, description: Is a member.}
      colour: {type: enum, values: [red, green], description: A colour.}
    criteria:
      adult:
        description: Grown up.
        when: {fact: age, gte: 18}
    rules:
      - id: child
        when: {fact: age, lt: 18}
        outcome: reject
        reason: Too young.
        citation: {source: doc, quote: "Adults only."}
      - id: ok
        when:
          all:
            - {criterion: adult}
            - {fact: member, eq: true}
        outcome: accept
        reason: An adult member.
        assumption: Members are assumed eligible.
    otherwise:
      outcome: reject
      reason: Not a member.
      assumption: Only members.
    incomplete:
      outcome: reject
      reason: Not enough information.
      assumption: Unknown means no.
"""


def write(tmp_path: Path, text: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> PolicyError:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as caught:
        recnav_rules.load_policy(path)
    return caught.value


def test_minimal_policy_loads_and_evaluates(tmp_path: Path) -> None:
    policy = recnav_rules.load_policy(write(tmp_path, MINIMAL))
    assert policy.id == "tiny"
    assert policy.evaluate({"age": 18, "member": True}, as_of=dt.date(2026, 1, 1)).outcome is Outcome.ACCEPT
    assert policy.evaluate({"age": 17}, as_of=dt.date(2026, 1, 1)).outcome is Outcome.REJECT
    decision = policy.evaluate({"age": 40}, as_of=dt.date(2026, 1, 1))
    assert (decision.complete, decision.missing_facts) == (False, ["member"])
    accepted = policy.evaluate({"age": 40, "member": True}, as_of=dt.date(2026, 1, 1))
    assert accepted.reasons[0].assumption == "Members are assumed eligible."
    assert "Assumption (the source is silent): Members are assumed eligible." in accepted.explain()


def line_col(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based line and column of the n-th occurrence of ``needle``."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


@pytest.mark.parametrize(
    ("old", "new", "code", "needle", "suggestion"),
    [
        ("{fact: age, lt: 18}", "{fact: agee, lt: 18}", "unknown-fact", "agee", "age"),
        ("{fact: age, lt: 18}", "{fact: age, gtee: 18}", "unknown-operator", "gtee", "gte"),
        ("{criterion: adult}", "{criterion: adlt}", "unknown-criterion", "adlt", "adult"),
        ("outcome: accept", "outcome: acept", "bad-value", "acept", "accept"),
        ("reason: Too young.", "reasn: Too young.", "unknown-key", "reasn", "reason"),
        ("{source: doc, quote", "{source: dc, quote", "unknown-source", "dc", "doc"),
    ],
)
def test_errors_point_at_the_node_and_suggest_the_fix(
    tmp_path: Path, old: str, new: str, code: str, needle: str, suggestion: str
) -> None:
    text = MINIMAL.replace(old, new, 1)
    error = load_error(tmp_path, text)
    problem = next(p for p in error.problems if p.code == code)
    assert (problem.line, problem.column) == line_col(text, needle)
    assert problem.suggestion == suggestion
    assert error.file.endswith("policy.yaml")
    assert f"(did you mean '{suggestion}'?)" in problem.render()


def test_a_far_off_name_gets_no_suggestion(tmp_path: Path) -> None:
    error = load_error(tmp_path, MINIMAL.replace("{fact: age, lt: 18}", "{fact: zzzzqqq, lt: 18}"))
    assert error.problems[0].suggestion is None


def test_type_errors_are_load_time_errors(tmp_path: Path) -> None:
    text = MINIMAL.replace("{fact: member, eq: true}", "{fact: member, gte: 18}")
    error = load_error(tmp_path, text)
    assert error.code == "type-error"
    assert "'gte' compares numbers or dates, but 'member' is bool" in str(error)
    text = MINIMAL.replace("{fact: member, eq: true}", "{fact: member, eq: 18}")
    assert "cannot compare 'member' (bool) with 18" in str(load_error(tmp_path, text))
    text = MINIMAL.replace("{fact: member, eq: true}", "{fact: colour, eq: blu}")
    error = load_error(tmp_path, text)
    assert error.code == "unknown-value" and error.suggestion is None
    text = MINIMAL.replace("{fact: member, eq: true}", "{fact: colour, in: [gren]}")
    assert load_error(tmp_path, text).suggestion == "green"


def test_cycles_between_criteria_are_errors(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "        when: {fact: age, gte: 18}\n",
        "        when: {criterion: grown}\n      grown:\n        description: Cycle.\n        when: {criterion: adult}\n",
    )
    error = load_error(tmp_path, text)
    assert error.code == "cycle"
    assert "adult -> grown -> adult" in str(error)


def test_every_error_in_a_file_is_reported(tmp_path: Path) -> None:
    text = MINIMAL.replace("{fact: age, lt: 18}", "{fact: agee, lt: 18}").replace(
        "{fact: member, eq: true}", "{fact: membr, eq: true}"
    )
    error = load_error(tmp_path, text)
    assert [p.suggestion for p in error.problems] == ["age", "member"]
    assert "(and 1 more error)" in str(error)


def test_rule_needs_a_citation_or_an_assumption_not_both(tmp_path: Path) -> None:
    text = MINIMAL.replace('        citation: {source: doc, quote: "Adults only."}\n', "")
    assert load_error(tmp_path, text).code == "no-citation"
    text = MINIMAL.replace(
        '        citation: {source: doc, quote: "Adults only."}\n',
        '        citation: {source: doc, quote: "Adults only."}\n        assumption: Also this.\n',
    )
    assert load_error(tmp_path, text).code == "citation-and-assumption"


def test_duplicate_rule_ids_and_personal_facts_in_conditions(tmp_path: Path) -> None:
    text = MINIMAL.replace("- id: ok", "- id: child")
    assert load_error(tmp_path, text).code == "duplicate-rule"
    text = MINIMAL.replace(
        "      member: {type: bool, description: Is a member.}",
        "      member: {type: bool, personal: true, description: Is a member.}",
    )
    assert load_error(tmp_path, text).code == "personal-fact"


def test_signpost_to_an_unknown_service_does_not_load(tmp_path: Path) -> None:
    text = MINIMAL.replace("outcome: reject\n        reason: Too young.", "outcome: signpost\n        reason: Too young.\n        signpost: [no-such-service]")
    error = load_error(tmp_path, text)
    assert error.code == "unknown-service"


@pytest.mark.parametrize(
    ("text", "code", "line", "column"),
    [
        ("policies:\n\t- id: x\n", "yaml-syntax", 2, 1),
        ("policies: []\npolicies: []\n", "duplicate-key", 2, 1),
        ("", "empty", 1, 1),
        ("# only a comment\n", "empty", 1, 1),
        ("policies: [1, 2\n", "yaml-syntax", 2, 1),
        ("- just\n- a list\n", "bad-type", 1, 1),
        ("policies: !!python/object/apply:os.system ['true']\n", "yaml-tag", 1, 11),
    ],
)
def test_malformed_yaml_gives_a_located_error(tmp_path: Path, text: str, code: str, line: int, column: int) -> None:
    error = load_error(tmp_path, text)
    assert (error.code, error.line, error.column) == (code, line, column)


def test_alias_bombs_are_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    error = load_error(tmp_path, "\n".join(lines) + "\n")
    assert error.code == "too-large"


def test_deep_nesting_and_huge_files_are_refused(tmp_path: Path) -> None:
    assert load_error(tmp_path, "[" * 200 + "]" * 200).code in {"too-deep", "yaml-syntax"}
    big = "policies:\n" + "# padding\n" * 300_000
    assert load_error(tmp_path, big).code == "too-large"


def test_one_file_many_policies(tmp_path: Path) -> None:
    second = textwrap.indent(MINIMAL.split("policies:\n", 1)[1], "").replace("id: tiny", "id: tiny-two", 1)
    path = write(tmp_path, MINIMAL + second)
    with pytest.raises(PolicyError, match="holds several policies"):
        recnav_rules.load_policy(path)
    assert recnav_rules.load_policy(f"{path}#tiny-two").id == "tiny-two"
    with pytest.raises(PolicyError) as caught:
        recnav_rules.load_policy(f"{path}#tiny-tw")
    assert caught.value.suggestion == "tiny-two"
    same = write(tmp_path, MINIMAL + second.replace("id: tiny-two", "id: tiny"), "dup.yaml")
    with pytest.raises(PolicyError, match="policy id 'tiny' is used twice"):
        recnav_rules.load_policy(same)


def test_unknown_builtin_id_suggests(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        recnav_rules.load_policy("bnssg-hiu-pilott")
    assert caught.value.suggestion == "bnssg-hiu-pilot"


def test_list_policies_includes_builtins() -> None:
    ids = {p.id for p in recnav_rules.list_policies()}
    assert "bnssg-hiu-pilot" in ids


def test_compiled_once_per_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECNAV_RULES_NO_COMPILE_CACHE", raising=False)
    path = write(tmp_path, MINIMAL)
    assert recnav_rules.load_policy(path) is recnav_rules.load_policy(path)
    path.write_text(MINIMAL.replace("1.0.0", "1.0.1"), encoding="utf-8")
    changed = recnav_rules.load_policy(path)
    assert changed.version == "1.0.1"


# --- three-valued logic -----------------------------------------------------------------------

TRI: tuple[Tri, ...] = (True, False, None)


def kleene_and(a: Tri, b: Tri) -> Tri:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def kleene_or(a: Tri, b: Tri) -> Tri:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def env_for(a: Tri, b: Tri) -> dict[object, object]:
    env: dict[object, object] = {}
    if a is not None:
        env["a"] = a
    if b is not None:
        env["b"] = b
    return env


A = Leaf("a", "eq", True)
B = Leaf("b", "eq", True)


@pytest.mark.parametrize(("a", "b"), list(itertools.product(TRI, TRI)))
def test_kleene_truth_tables(a: Tri, b: Tri) -> None:
    env = env_for(a, b)
    assert conditions.build(Logic("all", (A, B)))(env) is kleene_and(a, b)
    assert conditions.build(Logic("any", (A, B)))(env) is kleene_or(a, b)
    assert conditions.build(Logic("not", (A,)))(env) is (None if a is None else not a)
    assert conditions.build(Leaf("a", "present", True))(env) is (a is not None)
    assert conditions.build(Leaf("a", "present", False))(env) is (a is None)


@pytest.mark.parametrize(
    ("op", "literal", "value", "expected"),
    [
        ("eq", 18, 18, True),
        ("ne", 18, 18, False),
        ("lt", 18, 17, True),
        ("lt", 18, 18, False),
        ("lte", 18, 18, True),
        ("lte", 18, 19, False),
        ("gt", 18, 18, False),
        ("gt", 18, 19, True),
        ("gte", 18, 18, True),
        ("gte", 18, 17, False),
        ("in", frozenset({1, 2}), 2, True),
        ("in", frozenset({1, 2}), 3, False),
        ("not_in", frozenset({1, 2}), 3, True),
        ("not_in", frozenset({1, 2}), 1, False),
    ],
)
def test_comparisons_at_their_boundaries(op: str, literal: object, value: object, expected: bool) -> None:
    run = conditions.build(Leaf("x", op, literal))
    assert run({"x": value}) is expected
    assert run({}) is None


def test_missing_inputs_names_only_what_matters() -> None:
    node = Logic("any", (A, B))
    assert conditions.missing_inputs(node, {"a": True}, {}, lambda n: (n,)) == set()
    assert conditions.missing_inputs(node, {"a": False}, {}, lambda n: (n,)) == {"b"}
    assert conditions.missing_inputs(node, {}, {}, lambda n: (n,)) == {"a", "b"}
    both = Logic("all", (A, B))
    assert conditions.missing_inputs(both, {"a": False}, {}, lambda n: (n,)) == set()


def test_render_reads_as_words() -> None:
    node = Logic("all", (Leaf("age", "gte", 18), Logic("not", (Leaf("in_custody", "eq", True),))))
    assert conditions.render(node) == "(age is at least 18 and not (in_custody))"


def test_plugin_policies_are_found_through_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    from recnav_rules.policies import registry

    path = write(tmp_path, MINIMAL.replace("id: tiny", "id: plugin-tiny"))
    module = tmp_path / "tiny_plugin.py"
    module.write_text(f"def files():\n    return [{str(path)!r}]\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = EntryPoint(name="tiny", value="tiny_plugin:files", group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [entry] if group == registry.ENTRY_POINT_GROUP else [])
    assert recnav_rules.load_policy("plugin-tiny").id == "plugin-tiny"
    origins = {p.id: p.origin for p in recnav_rules.list_policies()}
    assert origins["plugin-tiny"] == "plugin:tiny" and origins["bnssg-hiu-pilot"] == "builtin"
