"""Canonical JSON is RFC 8785 byte for byte; record texts and their headers round-trip."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recnav_rules.audit.chain import GENESIS, Index, canonical_json, parse_header, record_hash, record_text
from recnav_rules.audit.subject import normalise_nhs_number, subject_key, subject_key_of_facts

rfc8785 = pytest.importorskip("rfc8785", reason="rfc8785 (the reference RFC 8785 encoder) is not installed: pip install rfc8785")

_keys = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)  # keys are ASCII names (recnav_rules.canonical)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
)
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_canonical_json_is_rfc_8785(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value).decode("utf-8")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": [True, None, "x"]}, '{"a":[true,null,"x"],"b":1}'),
        ({"n": 1.0, "m": 1e21, "s": 0.1}, '{"m":1e+21,"n":1,"s":0.1}'),  # ES6 number forms
        ({"t": "line\nbreak \u2028 \x7f \"q\""}, '{"t":"line\\nbreak \u2028 \x7f \\"q\\""}'),
        ({"v": "version 1.5, ratio:2.0,"}, '{"v":"version 1.5, ratio:2.0,"}'),  # looks like floats inside a string
    ],
)
def test_canonical_json_examples(value: Any, expected: str) -> None:
    assert canonical_json(value) == expected


@pytest.mark.parametrize("bad", [{"x": math.nan}, {"x": object()}, {"x": "\ud800"}])
def test_values_json_cannot_hold_are_value_errors(bad: Any) -> None:
    with pytest.raises(ValueError):
        canonical_json(bad)


def test_record_text_is_the_canonical_json_of_the_whole_record() -> None:
    body = {"outcome": "accept", "z": [1, 2], "decision_id": "inner keys do not confuse the header"}
    index = Index("2026-11-20", "accept", "bnssg-hiu-pilot", "ab" * 32)
    context = "cd" * 32
    text = record_text(context, canonical_json(body), "6f1c1f4e-8f0e-4b51-9d1a-2b8f7c7e2a11", index, GENESIS, "2026-11-20T10:00:00.000001Z", 7)
    whole = {
        "context": context,
        "decision": body, "decision_id": "6f1c1f4e-8f0e-4b51-9d1a-2b8f7c7e2a11",
        "index": {"as_of": "2026-11-20", "outcome": "accept", "policy_id": "bnssg-hiu-pilot", "subject_key": "ab" * 32},
        "prev_hash": GENESIS, "recorded_at": "2026-11-20T10:00:00.000001Z", "seq": 7,
    }
    assert text == rfc8785.dumps(whole).decode("utf-8")
    assert json.loads(text) == whole
    header = parse_header(text)
    assert header is not None and (header.seq, header.prev_hash, header.decision_id, header.context) == (7, GENESIS, whole["decision_id"], context)
    assert header.index == index
    unkeyed = record_text(context, canonical_json(body), whole["decision_id"], index._replace(subject_key=None), GENESIS, "2026-11-20T10:00:00.000001Z", 7)
    assert json.loads(unkeyed)["index"]["subject_key"] is None and parse_header(unkeyed) is not None
    assert len(record_hash(text)) == 64 and record_hash(text) != record_hash(text.replace("accept", "reject"))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{}",
        '{"decision":{}}',
        '{"decision":{},"decision_id":"x","prev_hash":"y","recorded_at":"z","seq":1}',
        '{"context":"short","decision":{},"decision_id":"6f1c1f4e-8f0e-4b51-9d1a-2b8f7c7e2a11","index":{"as_of":"2026-11-20",'
        '"outcome":"accept","policy_id":"p","subject_key":null},"prev_hash":"' + "0" * 64 + '","recorded_at":"2026-11-20T10:00:00.000001Z","seq":1}',
    ],
)
def test_texts_that_are_not_records_have_no_header(text: str) -> None:
    assert parse_header(text) is None


@pytest.mark.parametrize("value", ["943 476 5919", "943-476-5919", "9434765919", 9434765919])
def test_nhs_numbers_normalise_to_ten_digits(value: object) -> None:
    assert normalise_nhs_number(value) == "9434765919"


@settings(max_examples=500, deadline=None)
@given(st.text("0123456789", min_size=10, max_size=10), st.sampled_from(["", " ", "-"]))
def test_nhs_numbers_are_valid_as_python_stdnum_says(digits: str, separator: str) -> None:
    from stdnum.gb import nhs

    written = f"{digits[:3]}{separator}{digits[3:6]}{separator}{digits[6:]}"
    assert normalise_nhs_number(written) == (digits if nhs.is_valid(digits) else None)


@pytest.mark.parametrize("value", ["943 476 5918", "94347659", "943 476 59199", "abc", None, True, 94.3, "٩٤٣٤٧٦٥٩١٩", "943  476 5919"])
def test_invalid_nhs_numbers_give_no_subject(value: object) -> None:
    assert normalise_nhs_number(value) is None
    assert subject_key_of_facts({"nhs_number": value}, ("nhs_number",), b"secret") is None


def test_subject_keys_are_hmacs_under_the_secret() -> None:
    import hashlib
    import hmac

    assert subject_key("9434765919", b"k") == hmac.new(b"k", b"9434765919", hashlib.sha256).hexdigest()
    assert subject_key_of_facts({"nhs_number": "943 476 5919"}, ("nhs_number",), None) is None
    assert subject_key_of_facts({"nhs_number": "943 476 5919"}, ("nhs_number",), b"k") == subject_key("9434765919", b"k")
    assert subject_key("9434765919", b"k") != subject_key("9434765919", b"other")
