"""Unit tests of the engine's small parts, at their boundaries (written to kill mutants)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from recnav_rules.engine import conditions
from recnav_rules.engine.conditions import RefType
from recnav_rules.engine.dates import age_in_years, months_after, months_before
from recnav_rules.engine.model import Leaf, Logic, Ref
from recnav_rules.engine.source import load_yaml_text
from recnav_rules.errors import PolicyProblem

D = dt.date


@pytest.mark.parametrize(
    ("born", "on", "age"),
    [
        (D(2000, 6, 15), D(2018, 6, 14), 17),
        (D(2000, 6, 15), D(2018, 6, 15), 18),
        (D(2000, 6, 15), D(2018, 6, 16), 18),
        (D(2000, 6, 15), D(2018, 5, 20), 17),
        (D(2000, 6, 15), D(2018, 7, 1), 18),
        (D(2008, 2, 29), D(2026, 2, 28), 17),
        (D(2008, 2, 29), D(2026, 3, 1), 18),
        (D(2008, 2, 29), D(2028, 2, 29), 20),
        (D(2026, 1, 1), D(2026, 1, 1), 0),
        (D(1930, 12, 31), D(2026, 1, 1), 95),
    ],
)
def test_age_in_whole_years(born: dt.date, on: dt.date, age: int) -> None:
    assert age_in_years(born, on) == age


@pytest.mark.parametrize(
    ("day", "months", "before", "after"),
    [
        (D(2026, 11, 20), 1, D(2026, 10, 20), D(2026, 12, 20)),
        (D(2026, 3, 31), 1, D(2026, 2, 28), D(2026, 4, 30)),
        (D(2024, 3, 31), 1, D(2024, 2, 29), D(2024, 4, 30)),
        (D(2026, 1, 15), 1, D(2025, 12, 15), D(2026, 2, 15)),
        (D(2026, 5, 31), 3, D(2026, 2, 28), D(2026, 8, 31)),
        (D(2026, 12, 31), 12, D(2025, 12, 31), D(2027, 12, 31)),
        (D(2026, 2, 28), 0, D(2026, 2, 28), D(2026, 2, 28)),
    ],
)
def test_calendar_months_clamp_to_month_end(day: dt.date, months: int, before: dt.date, after: dt.date) -> None:
    assert months_before(day, months) == before
    assert months_after(day, months) == after


REFS = {
    "age": RefType("integer"),
    "member": RefType("bool"),
    "colour": RefType("enum", ("red", "green")),
    "when": RefType("date"),
    "calls": RefType("list"),
    "name": RefType("string", personal=True),
    "code": RefType("ods_code"),
}


def parse(raw: Any) -> tuple[Any, list[PolicyProblem]]:
    doc = load_yaml_text("x: 1\n", "p.yaml")
    problems: list[PolicyProblem] = []
    node = conditions.parse_condition(raw, ("x",), doc, REFS, {"adult": None}, problems)
    return node, problems


@pytest.mark.parametrize(
    ("raw", "code", "message"),
    [
        ([], "bad-condition", "a condition is a mapping: all, any, not, criterion, or a comparison"),
        ({}, "bad-condition", "a condition is a mapping: all, any, not, criterion, or a comparison"),
        ({"fact": "age", "gte": 1, "lt": 3}, "bad-condition", "a comparison has exactly one operator (eq, ne, lt, lte, gt, gte, in, not_in, present)"),
        ({"fact": "age"}, "bad-condition", "a comparison has exactly one operator (eq, ne, lt, lte, gt, gte, in, not_in, present)"),
        ({"gte": 1}, "bad-condition", "a comparison needs 'fact:' naming what it compares"),
        ({"all": []}, "bad-condition", "'all' takes a non-empty list of conditions"),
        ({"any": {"fact": "age", "gte": 1}}, "bad-condition", "'any' takes a non-empty list of conditions"),
        ({"all": [{"fact": "age", "gte": 1}], "any": []}, "bad-condition", "'all' stands alone; unexpected key 'any'"),
        ({"criterion": 3}, "bad-condition", "criterion: takes a criterion's name"),
        ({"criterion": "adlt"}, "unknown-criterion", "unknown criterion 'adlt'"),
        ({"fact": "member", "present": "yes"}, "type-error", "present: takes true or false"),
        ({"fact": "calls", "eq": 3}, "type-error", "'calls' is a list; only 'present' applies to it"),
        ({"fact": "colour", "lt": "red"}, "type-error", "'lt' compares numbers or dates, but 'colour' is enum"),
        ({"fact": "age", "in": []}, "type-error", "'in' takes a non-empty list"),
        ({"fact": "age", "not_in": 3}, "type-error", "'not_in' takes a non-empty list"),
        ({"fact": "age", "eq": "x"}, "type-error", "cannot compare 'age' (integer) with 'x'"),
        ({"fact": "age", "eq": True}, "type-error", "cannot compare 'age' (integer) with True"),
        ({"fact": "when", "eq": "soon"}, "type-error", "cannot compare 'when' (date) with 'soon'"),
        ({"fact": "colour", "eq": "blue"}, "unknown-value", "'blue' is not a value of 'colour' (red, green)"),
        ({"fact": "colour", "eq": 3}, "type-error", "cannot compare 'colour' (enum) with 3"),
        ({"fact": "name", "eq": "x"}, "personal-fact", "'name' is personal data and cannot decide anything"),
        ({"fact": 3, "eq": 1}, "unknown-fact", "unknown fact '3'"),
        ({"fact": "agee", "eq": 1}, "unknown-fact", "unknown fact 'agee'"),
        ({"fact": "age", "equals": 1}, "unknown-operator", "unknown operator 'equals'"),
        ({"fcat": "age", "eq": 1}, "unknown-operator", "unknown operator 'fcat'"),
    ],
)
def test_condition_errors(raw: Any, code: str, message: str) -> None:
    node, problems = parse(raw)
    assert node is None
    assert [(p.code, p.message, p.file) for p in problems][:1] == [(code, message, "p.yaml")]
    assert problems[0].line == 1


def test_deep_conditions_are_refused() -> None:
    raw: Any = {"fact": "age", "gte": 1}
    for _ in range(40):
        raw = {"not": raw}
    node, problems = parse(raw)
    assert node is None
    assert problems[0].code == "too-deep"
    assert problems[0].message == "condition nested more than 32 levels"


def test_valid_conditions_parse_to_their_tree() -> None:
    node, problems = parse(
        {"all": [{"fact": "age", "gte": 18}, {"not": {"criterion": "adult"}}, {"fact": "colour", "in": ["red"]},
                 {"fact": "when", "lt": "2026-01-01"}, {"fact": "code", "eq": "l81004"}, {"fact": "member", "present": False}]}
    )
    assert problems == []
    assert node == Logic(
        "all",
        (
            Leaf("age", "gte", 18),
            Logic("not", (Ref("adult"),)),
            Leaf("colour", "in", frozenset({"red"})),
            Leaf("when", "lt", D(2026, 1, 1)),
            Leaf("code", "eq", "L81004"),
            Leaf("member", "present", False),
        ),
    )


@pytest.mark.parametrize(
    ("leaf", "record", "expected"),
    [
        (Leaf("c", "eq", "a"), {"c": "a"}, True),
        (Leaf("c", "eq", "a"), {"c": "b"}, False),
        (Leaf("c", "ne", "a"), {"c": "a"}, False),
        (Leaf("c", "ne", "a"), {"c": "b"}, True),
        (Leaf("c", "in", frozenset({"a", "b"})), {"c": "b"}, True),
        (Leaf("c", "in", frozenset({"a", "b"})), {"c": "z"}, False),
        (Leaf("c", "not_in", frozenset({"a"})), {"c": "a"}, False),
        (Leaf("c", "not_in", frozenset({"a"})), {"c": "z"}, True),
        (Leaf("n", "lt", 5), {"n": 4}, True),
        (Leaf("n", "lt", 5), {"n": 5}, False),
        (Leaf("n", "lte", 5), {"n": 5}, True),
        (Leaf("n", "lte", 5), {"n": 6}, False),
        (Leaf("n", "gt", 5), {"n": 5}, False),
        (Leaf("n", "gt", 5), {"n": 6}, True),
        (Leaf("n", "gte", 5), {"n": 5}, True),
        (Leaf("n", "gte", 5), {"n": 4}, False),
        (Leaf("c", "present", True), {"c": 1}, True),
        (Leaf("c", "present", True), {}, False),
        (Leaf("c", "present", False), {}, True),
    ],
)
def test_event_filters(leaf: Leaf, record: dict[str, Any], expected: bool) -> None:
    assert conditions.build_filter(leaf)(record) is expected


def test_event_filter_logic() -> None:
    a, b = Leaf("c", "eq", "a"), Leaf("n", "gte", 5)
    both = conditions.build_filter(Logic("all", (a, b)))
    either = conditions.build_filter(Logic("any", (a, b)))
    neither = conditions.build_filter(Logic("not", (Logic("any", (a, b)),)))
    for record, all_, any_ in [
        ({"c": "a", "n": 5}, True, True),
        ({"c": "a", "n": 4}, False, True),
        ({"c": "b", "n": 5}, False, True),
        ({"c": "b", "n": 4}, False, False),
    ]:
        assert (both(record), either(record), neither(record)) == (all_, any_, not any_)
    with pytest.raises(TypeError):
        conditions.build_filter(Ref("x"))


@pytest.mark.parametrize(
    ("node", "text"),
    [
        (Leaf("age", "gte", 18), "age is at least 18"),
        (Leaf("age", "gt", 18), "age is more than 18"),
        (Leaf("age", "lt", 18), "age is less than 18"),
        (Leaf("age", "lte", 18), "age is at most 18"),
        (Leaf("age", "eq", 18), "age is 18"),
        (Leaf("age", "ne", 18), "age is not 18"),
        (Leaf("flag", "eq", True), "flag"),
        (Leaf("flag", "eq", False), "not flag"),
        (Leaf("flag", "ne", True), "flag is not yes"),
        (Leaf("c", "in", frozenset({"b", "a"})), "c is one of a, b"),
        (Leaf("c", "not_in", frozenset({"a"})), "c is none of a"),
        (Leaf("c", "present", True), "c is known"),
        (Leaf("c", "present", False), "c is not known"),
        (Leaf("d", "lt", D(2026, 1, 2)), "d is less than 2026-01-02"),
        (Ref("in_custody_now"), "[in custody now]"),
        (Logic("any", (Leaf("a", "eq", 1), Leaf("b", "eq", 2))), "(a is 1 or b is 2)"),
        (Logic("all", (Leaf("a", "eq", 1),)), "a is 1"),
        (Logic("not", (Leaf("a", "eq", 1),)), "not (a is 1)"),
    ],
)
def test_render(node: Any, text: str) -> None:
    assert conditions.render(node) == text


def test_render_with_descriptions() -> None:
    assert conditions.render(Leaf("age", "gte", 18), lambda n: n.upper()) == "AGE is at least 18"


@pytest.mark.parametrize(
    ("values", "all_", "any_"),
    [
        ([], True, False),
        ([True, True], True, True),
        ([True, False], False, True),
        ([False, None], False, None),
        ([True, None], None, True),
        ([None, None], None, None),
        ([False, False], False, False),
    ],
)
def test_kleene_helpers(values: list[bool | None], all_: bool | None, any_: bool | None) -> None:
    assert conditions.kleene_all(values) is all_
    assert conditions.kleene_any(values) is any_


def test_reads_follow_criteria_in_first_seen_order() -> None:
    node = Logic("all", (Leaf("b", "eq", 1), Ref("c1"), Leaf("a", "eq", 1), Leaf("b", "eq", 2)))
    assert conditions.reads(node, {"c1": ("z", "a")}) == ("b", "z", "a")
    assert conditions.referenced_criteria(node) == ["c1"]
    assert conditions.leaves(node) == [Leaf("b", "eq", 1), Leaf("a", "eq", 1), Leaf("b", "eq", 2)]


def test_nesting_limit_boundary() -> None:
    def chain(levels: int) -> Any:
        raw: Any = {"fact": "age", "gte": 1}
        for _ in range(levels):
            raw = {"not": raw}
        return raw

    assert parse(chain(32))[1] == []
    assert [p.code for p in parse(chain(33))[1]] == ["too-deep"]


def test_errors_about_a_key_point_at_the_key() -> None:
    text = "x: {all: [{fact: age, gte: 1}], any: []}\n"
    doc = load_yaml_text(text, "p.yaml")
    problems: list[PolicyProblem] = []
    conditions.parse_condition(doc.data["x"], ("x",), doc, REFS, {}, problems)
    assert [(p.line, p.column) for p in problems] == [(1, text.index("any") + 1)]
    text = "x: {fact: age, gtee: 1}\n"
    doc = load_yaml_text(text, "p.yaml")
    problems = []
    conditions.parse_condition(doc.data["x"], ("x",), doc, REFS, {}, problems)
    assert [(p.line, p.column, p.suggestion) for p in problems] == [(1, text.index("gtee") + 1, "gte")]
    text = "x: {fcat: age, eq: 1}\n"
    doc = load_yaml_text(text, "p.yaml")
    problems = []
    conditions.parse_condition(doc.data["x"], ("x",), doc, REFS, {}, problems)
    assert [(p.column, p.suggestion) for p in problems] == [(text.index("fcat") + 1, "fact")]
