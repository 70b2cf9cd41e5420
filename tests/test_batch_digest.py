"""The facts digest in every batch output line: sha256 of the RFC 8785 form of the checked
facts, however ``digest_of`` takes its fast path, and when it is taken of the line's facts as
read (``read_json_line``, ``NativeEngine.summary(written=True)``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import orjson
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

import recnav_rules
from recnav_rules import batch
from recnav_rules.canonical import MAX_SAFE_INTEGER, digest_of, jsonable
from recnav_rules.engine import codegen
from recnav_rules.facts_input import read_json_line
from tests.conftest import AS_OF, BASELINE, calls

ZONES = st.sampled_from([None, dt.UTC, dt.timezone(dt.timedelta(hours=1)), dt.timezone(dt.timedelta(hours=-9, minutes=-30))])
MOMENTS = st.builds(
    lambda moment, zone: moment.replace(tzinfo=zone),
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
    ZONES,
)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=10)
    | st.dates()
    | MOMENTS
)
FACTS = st.dictionaries(
    st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
    st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=3).map(tuple) | st.dictionaries(st.from_regex(r"[a-z]{1,4}", fullmatch=True), inner, max_size=3), max_leaves=12),
    max_size=12,
)


def rfc8785_digest(value: Any) -> str:
    return hashlib.sha256(rfc8785.dumps(jsonable(value))).hexdigest()


@given(FACTS)
@settings(max_examples=150, deadline=None)
def test_the_float_free_digest_is_sha256_of_rfc8785(facts: dict[str, Any]) -> None:
    assert digest_of(facts, floats=False, checked_times=True) == rfc8785_digest(facts)
    assert digest_of(facts) == rfc8785_digest(facts)


@given(FACTS, st.floats(allow_nan=False, allow_infinity=False))
@settings(max_examples=50, deadline=None)
def test_a_value_with_a_float_takes_the_rfc8785_path(facts: dict[str, Any], number: float) -> None:
    facts = dict(facts, zz_number=number)
    assert digest_of(facts) == rfc8785_digest(facts)
    assert digest_of(facts, floats=True, checked_times=True) == rfc8785_digest(facts)


# -- the digest of a line's facts as read -----------------------------------------------------
# A batch line's facts digest is taken of the line's facts as read, written in canonical form
# (read_json_line), when the generated program says they are the checked facts (``same``):
# every test below holds the line so made to the decision's own line, digest included.

_HIU = recnav_rules.load_policy("bnssg-hiu-pilot")
_AS_GIVEN = codegen.build(_HIU.compiled, as_given=True)


def _same(facts: dict[str, Any]) -> bool | None:
    """The as-given program's ``same`` for the facts as the batch reads them; None when it hands them over."""
    read = read_json_line(json.dumps(facts).encode())
    assert read is not None
    result = _AS_GIVEN(read[0], AS_OF)
    return None if result is None else bool(result[-1])


def _line_as_read(facts: dict[str, Any], raw: bytes | None = None) -> bytes | None:
    """The batch line of one referral made from the facts as read (None when handed over)."""
    read = read_json_line(raw if raw is not None else json.dumps(facts).encode())
    assert read is not None
    summary = _HIU._summary(read[0], AS_OF, written=True)
    return None if summary is None else batch._summary_line(4, summary, AS_OF, read[1])


def _line_decided(facts: dict[str, Any]) -> bytes:
    return batch._decision_line(4, _HIU.evaluate(json.loads(json.dumps(facts)), as_of=AS_OF), False)


def _with_call(at: str) -> dict[str, Any]:
    return {**BASELINE, "emergency_calls": [*calls("2026-11-01"), {"at": at, "category": "urgent", "location": "public_place"}]}


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ({}, True),
        ({"emergency_calls": calls("2026-11-01", "2026-10-02")}, True),
        ({"gp_practice_code": BASELINE["gp_practice_code"].lower()}, False),  # read upper-cased
        ({"gp_practice_code": " " + BASELINE["gp_practice_code"]}, False),  # read trimmed
        ({"in_custody": None}, False),  # "not known": given, never a checked fact
        ({"nhs_number": "9434765919"}, False),  # personal: checked, never among the checked facts
        ({"gender": "Woman"}, False),
    ],
)
def test_the_facts_as_read_are_the_checked_facts_only_when_json_writes_both_alike(change: dict[str, Any], same: bool) -> None:
    facts = {**BASELINE, **change}
    assert _same(facts) is same
    assert _line_as_read(facts) == _line_decided(facts)


@pytest.mark.parametrize(
    ("at", "same"),
    [
        ("2026-11-03T10:15:00", True),
        ("2026-11-03 10:15:00", False),  # a space: isoformat writes T
        ("2026-11-03T10:15", False),  # no seconds
        ("2026-11-03T10:15.00", False),  # read as a fraction of a minute's second: 10:15:00
        ("2026-11-03T10:15,50", False),
        ("2026-11-03T10:15:00.000", False),
        ("2026-11-03T10:15:00Z", False),  # zoned: written +00:00
        ("2026-11-03T10:15:00+00:00", False),
        ("2026-11-03T10:15:00+01:00", False),
        ("2026-11-03T101500", None),  # refused by the program (the interpreter diagnoses it)
    ],
)
def test_a_call_time_counts_as_given_only_in_the_form_json_writes(at: str, same: bool | None) -> None:
    facts = _with_call(at)
    assert _same(facts) is same
    made = _line_as_read(facts)
    if same is None:
        assert made is None
    else:
        assert made == _line_decided(facts)


@given(
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2026, 11, 20)),
    st.sampled_from(["T", " "]),
    st.text(alphabet="0123456789:.,+-Z", min_size=0, max_size=6),
    st.integers(0, 8),
)
@settings(max_examples=400, deadline=None)
def test_whatever_a_call_time_looks_like_the_line_as_read_is_the_decisions(moment: dt.datetime, mark: str, tail: str, cut: int) -> None:
    """Call times of every shape near the canonical one (cut short, a fraction, an offset, odd
    separators): whenever the program accepts the facts, the line made from them as read is the
    decision's line, byte for byte (its facts digest included)."""
    text = moment.strftime(f"%Y-%m-%d{mark}%H:%M:%S")[: 19 - cut] + tail
    facts = _with_call(text)
    made = _line_as_read(facts)
    if made is not None:
        assert made == _line_decided(facts)
        if _same(facts):  # counted as given: JSON writes the time read exactly as it was given
            assert orjson.dumps(dt.datetime.fromisoformat(text)) == b'"' + text.encode() + b'"'


def test_a_line_in_any_key_order_or_spacing_has_one_digest() -> None:
    """The facts digest is of the canonical form: key order and spacing in the line change nothing."""
    facts = _with_call("2026-11-03T10:15:00")
    spaced = json.dumps(facts).encode()
    compact = json.dumps(dict(reversed(list(facts.items()))), separators=(",", ":")).encode()
    assert _line_as_read(facts, spaced) == _line_as_read(facts, compact) == _line_decided(facts)


def test_text_of_the_usual_shape_that_python_reads_is_written_back_as_given() -> None:
    """The generated program counts a call time as given when it has the usual shape (19
    characters, "-", "-", "T", ":", ":" at 4, 7, 10, 13, 16): every such text fromisoformat
    reads, whatever the other characters, has no offset and is written back as it was given."""
    import itertools

    alphabet = "0129:.,+-ZT W"  # digits at the edges of the fields and every other kind of character
    shapes = ("2026-11-03T10:{}{}:{}{}", "2026-11-03T{}{}:15:{}{}", "{}{}26-{}1-0{}T10:15:00", "2026-{}{}-{}{}T10:15:00")
    read = 0
    for shape in shapes:
        for chars in itertools.product(alphabet, repeat=4):
            text = shape.format(*chars)
            assert len(text) == 19 and text[4:17:3] == "--T::"
            try:
                moment = dt.datetime.fromisoformat(text)
            except ValueError:
                continue
            read += 1
            assert moment.tzinfo is None and orjson.dumps(moment) == b'"' + text.encode() + b'"', text
    assert read > 400  # the shapes hold many texts Python reads
