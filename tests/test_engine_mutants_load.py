"""Source loading and schema checks at their edges: each error's code, words and place.

Written from mutmut's survivors (docs/testing.md): a check that names the wrong key, points at
the key instead of the value, or loses the file name is a worse error for a policy author.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from recnav_rules.engine.schema_check import jsonable, schema_problems
from recnav_rules.engine.source import Limits, LocatedDocument, load_yaml_file, load_yaml_text
from recnav_rules.errors import PolicyError, PolicyProblem

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z]+$"},
        "colour": {"enum": ["red", "green"]},
        "n": {"type": "integer"},
        "sub": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "deep": {"type": "object", "properties": {"x": {"type": "integer"}}}},
            "required": ["a"],
            "additionalProperties": False,
        },
        "items": {"type": "array", "maxItems": 1},
        "gone": False,
        "open": {"type": "object", "additionalProperties": False},
        "when": {"type": "integer"},
    },
    "required": ["name"],
    "additionalProperties": False,
}


def problems(text: str, schema: dict[str, Any] = SCHEMA) -> list[PolicyProblem]:
    return schema_problems(load_yaml_text(text, "p.yaml"), schema)


def only(text: str, schema: dict[str, Any] = SCHEMA) -> PolicyProblem:
    found = problems(text, schema)
    assert len(found) == 1, found
    return found[0]


def where(p: PolicyProblem) -> tuple[str, str, str | None, int | None, int | None, tuple[str | int, ...] | None]:
    return p.code, p.message, p.suggestion, p.line, p.column, p.path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a value that breaks a pattern: the value's place, not the key's
        ("name: Abc\n", ("bad-value", "'Abc' does not match ^[a-z]+$", None, 1, 7, ("name",))),
        # a misspelt enum value: did-you-mean, at the value
        ("colour: gren\nname: a\n", ("bad-value", "'gren' is not one of: red, green", "green", 1, 9, ("colour",))),
        # an enum value that is not text: the generic message, at the value
        ("name: a\ncolour: 3\n", ("schema", "3 is not one of ['red', 'green'] in 'colour'", None, 2, 9, ("colour",))),
        # the wrong type: named with the key it is under, at the value
        ("n: x\nname: a\n", ("bad-type", "expected integer in 'n', got str", None, 1, 4, ("n",))),
        ("sub:\n  a: x\nname: a\n", ("bad-type", "expected integer in 'a', got str", None, 2, 6, ("sub", "a"))),
        ("sub:\n  a: 1\n  deep:\n    x: y\nname: a\n", ("bad-type", "expected integer in 'x', got str", None, 4, 8, ("sub", "deep", "x"))),
        ("[1]\n", ("bad-type", "expected object, got list", None, 1, 1, ())),
        # any other failure: jsonschema's words and where
        ("items: [1, 2]\nname: a\n", ("schema", "[1, 2] is too long in 'items'", None, 1, 8, ("items",))),
        # additionalProperties with no properties at all: every key is unknown, no suggestion
        ("open:\n  open: 1\nname: a\n", ("unknown-key", "unknown key 'open' in 'open'", None, 2, 3, ("open", "open"))),
    ],
)
def test_each_schema_error_is_worded_and_placed(text: str, expected: tuple[Any, ...]) -> None:
    assert where(only(text)) == expected


def test_a_false_subschema_is_reported_not_a_crash() -> None:
    # jsonschema gives this error no path, so it stands at the top of the file
    assert where(only("gone: 1\nname: a\n")) == ("schema", "False schema does not allow 1", None, 1, 1, ())


def test_missing_and_unknown_keys_name_the_key_and_point_where_it_belongs() -> None:
    missing, unknown = problems("naem: a\n")
    # a missing key is reported at the mapping that lacks it; an unknown key at the key itself
    assert where(missing) == ("missing-key", "missing required key 'name'", None, 1, 1, ())
    assert where(unknown) == ("unknown-key", "unknown key 'naem'", "name", 1, 1, ("naem",))
    missing, unknown = problems("name: a\nsub: {b: 1}\n")
    assert where(missing) == ("missing-key", "missing required key 'a' in 'sub'", None, 2, 6, ("sub",))
    assert where(unknown) == ("unknown-key", "unknown key 'b' in 'sub'", None, 2, 7, ("sub", "b"))


def test_a_missing_key_is_placed_at_its_mapping_not_at_the_key_naming_it() -> None:
    missing = only("name: a\nsub:\n  deep: {}\n")
    # the mapping under 'sub' starts on line 3 column 3; the key 'sub' is at line 2 column 1
    assert (missing.code, missing.line, missing.column) == ("missing-key", 3, 3)


def test_conditions_are_left_to_the_compiler_and_repeats_are_reported_once() -> None:
    # 'when' is a condition key: its errors are the compiler's to report
    assert problems("name: a\nwhen: x\n") == []
    schema = {"type": "object", "allOf": [{"required": ["k"]}, {"required": ["k"]}]}
    assert [p.message for p in problems("a: 1\n", schema)] == ["missing required key 'k'"]


def test_jsonable_writes_dates_as_iso_text_at_any_depth() -> None:
    doc = load_yaml_text("a: 2026-02-03\nb: [2026-02-04, {c: 2026-02-05T10:00:00}]\nd: text\n", "p.yaml")
    assert jsonable(doc.data) == {"a": "2026-02-03", "b": ["2026-02-04", {"c": "2026-02-05T10:00:00"}], "d": "text"}


def test_values_keep_their_types_and_every_value_its_place() -> None:
    text = "a: 1\nb: [x, 2.5, true, null]\nc:\n  d: 2026-02-03\n  e: 2026-02-03T04:05:06\n  f: yes\n  g: '7'\n"
    doc = load_yaml_text(text, "p.yaml")
    assert doc.data == {
        "a": 1,
        "b": ["x", 2.5, True, None],
        "c": {"d": dt.date(2026, 2, 3), "e": dt.datetime(2026, 2, 3, 4, 5, 6), "f": "yes", "g": "7"},
    }
    assert doc.marks[()] == (1, 1)
    assert doc.marks[("b",)] == (2, 4) and doc.marks[("b", 1)] == (2, 8) and doc.marks[("b", 3)] == (2, 19)
    assert doc.marks[("c",)] == (4, 3) and doc.marks[("c", "e")] == (5, 6)
    assert doc.key_marks[("c", "e")] == (5, 3) and doc.key_marks[("a",)] == (1, 1)
    assert doc.lines == tuple(text.splitlines()) and doc.file == "p.yaml"
    # a path below a scalar takes its nearest ancestor's place; a key's place falls back to its value's
    assert doc.mark(("b", 1, "deeper")) == (2, 8) and doc.mark(("nowhere",)) == (1, 1)
    assert doc.key_mark(("b", 1)) == (2, 8)
    assert doc.source_line(1) == "a: 1" and doc.source_line(7) == "  g: '7'"
    assert doc.source_line(0) is None and doc.source_line(8) is None


def test_a_problem_is_located_at_the_value_or_the_key_with_its_severity() -> None:
    doc = load_yaml_text("a:\n  b: 1\n", "p.yaml")
    problem = doc.problem(("a", "b"), "bad", "Bad.", "good")
    assert (problem.file, problem.line, problem.column, problem.code, problem.message) == ("p.yaml", 2, 6, "bad", "Bad.")
    assert (problem.suggestion, problem.severity, problem.path) == ("good", "error", ("a", "b"))
    at_key = doc.problem(("a", "b"), "bad", "Bad.", at_key=True, severity="warning")
    assert (at_key.line, at_key.column, at_key.severity, at_key.suggestion) == (2, 3, "warning", None)
    empty = LocatedDocument("q.yaml", {})
    assert (empty.problem(("x",), "c", "m").line, empty.problem(("x",), "c", "m").column) == (None, None)
    (value,) = doc.error(("a", "b"), "bad", "Bad.").problems
    assert (value.line, value.column, value.suggestion) == (2, 6, None)
    (error,) = doc.error(("a",), "bad", "Bad.", "good", at_key=True).problems
    assert (error.line, error.column, error.suggestion, error.code, error.message) == (1, 1, "good", "bad", "Bad.")


@pytest.mark.parametrize(
    ("text", "code", "line", "column", "message"),
    [
        ("a: 1\na: 2\n", "duplicate-key", 2, 1, "duplicate key 'a'"),
        ("a: !!python/name:os.system x\n", "yaml-tag", 1, 4, "unsupported YAML tag 'tag:yaml.org,2002:python/name:os.system'"),
        ("base: &b {x: 1}\nc:\n  <<: *b\n", "yaml-merge", 3, 3, "YAML merge keys ('<<') are not supported"),
        ("? [a, b]\n: 1\n", "yaml-key", 1, 3, "mapping keys must be plain text"),
        ("a: 2026-02-30\n", "yaml-value", 1, 4, None),
        ('a: "\\ud800"\n', "yaml-value", 1, 4, "text holds an unpaired surrogate (a \\ud800-\\udfff escape): not valid Unicode"),
        ("a: [1\n", "yaml-syntax", 2, 1, None),
        ("a:\n\t- 1\n", "yaml-syntax", 2, 1, None),
        ("", "empty", 1, 1, "the file is empty"),
    ],
)
def test_unreadable_yaml_is_a_located_error(text: str, code: str, line: int, column: int, message: str | None) -> None:
    with pytest.raises(PolicyError) as caught:
        load_yaml_text(text, "p.yaml")
    (problem,) = caught.value.problems
    assert (problem.file, problem.code, problem.line, problem.column) == ("p.yaml", code, line, column)
    if message is not None:
        assert problem.message == message
    if "\t" in text:
        assert problem.message.endswith(" (YAML does not allow tabs for indentation)")


@pytest.mark.parametrize(
    ("limits", "text", "code", "message"),
    [
        (Limits(max_bytes=10), "a: 12345678\n", "too-large", "file is larger than 10 bytes"),
        (Limits(max_depth=2), "a: {b: {c: 1}}\n", "too-deep", "nesting deeper than 2 levels"),
        (Limits(max_nodes=3), "a: [1, 2]\n", "too-large", "the document expands to more than 3 values (YAML aliases are expanded; an alias bomb is refused)"),
    ],
)
def test_limits_are_enforced_just_past_their_bound(limits: Limits, text: str, code: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load_yaml_text(text, "p.yaml", limits)
    (problem,) = caught.value.problems
    assert (problem.code, problem.message, problem.file) == (code, message, "p.yaml")
    # one more allowed: read
    bigger = Limits(max_bytes=limits.max_bytes + 2, max_depth=limits.max_depth + 1, max_nodes=limits.max_nodes + 1)
    assert load_yaml_text(text, "p.yaml", bigger).data is not None
    assert Limits() == Limits(max_bytes=2 * 1024 * 1024, max_depth=64, max_nodes=200_000)


def test_a_file_is_read_with_its_name_and_limits(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("a: [1, 2]\n", encoding="utf-8")
    doc = load_yaml_file(path)
    assert doc.file == str(path) and doc.data == {"a": [1, 2]}
    with pytest.raises(PolicyError) as caught:
        load_yaml_file(path, Limits(max_nodes=2))
    (problem,) = caught.value.problems
    assert (problem.code, problem.file, problem.line) == ("too-large", str(path), 1)
