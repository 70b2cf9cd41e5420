"""Source loading and schema checks at their edges: each error's code, words and place.

Written from mutmut's survivors (docs/testing.md): a check that names the wrong key, points at
the key instead of the value, or loses the file name is a worse error for a policy author.
"""

from __future__ import annotations

from typing import Any

import pytest

from recnav_rules.engine.schema_check import jsonable, schema_problems
from recnav_rules.engine.source import load_yaml_text
from recnav_rules.errors import PolicyProblem

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
