"""Rendering at its edges: canonical JSON and digests, and the plain-English explanation.

Written from mutmut's survivors (docs/testing.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
import rfc8785

from recnav_rules.canonical import canonical_bytes, canonical_json, digest_of, has_float, jsonable
from recnav_rules.engine.explain import Glossary


def test_jsonable_turns_dates_tuples_sets_and_keys_into_json() -> None:
    value = {1: dt.date(2026, 2, 3), "t": (1, dt.datetime(2026, 2, 3, 4, 5)), "s": frozenset({"b", "a"}), "l": [{2}]}
    assert jsonable(value) == {"1": "2026-02-03", "t": [1, "2026-02-03T04:05:00"], "s": ["a", "b"], "l": [[2]]}
    assert jsonable("x") == "x" and jsonable(None) is None and jsonable(1.5) == 1.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, True),
        (1, False),
        (True, False),
        ("1.0", False),
        ({"a": {"b": [1, 2.5]}}, True),
        ({"a": {"b": [1, 2]}}, False),
        ((1, (2, 0.1)), True),
        ([], False),
        ({}, False),
    ],
)
def test_has_float_looks_everywhere(value: Any, expected: bool) -> None:
    assert has_float(value) is expected


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [True, None, "é\u2028"], "c": {"z": 0, "y": -5}},
        {"f": 1.0, "g": 1e21, "h": 0.1, "i": -0.0},
        {"n": [1, 2.5], "m": "x"},
    ],
)
def test_canonical_bytes_are_rfc8785_whichever_path_is_taken(value: Any) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)
    assert canonical_json(value) == rfc8785.dumps(value).decode("utf-8")
    assert digest_of(value) == hashlib.sha256(rfc8785.dumps(value)).hexdigest()


def test_dates_and_sets_are_written_as_text_and_sorted_lists() -> None:
    value = {"d": dt.date(2026, 2, 3), "t": dt.datetime(2026, 2, 3, 4, 5, 6), "s": {"b", "a"}}
    expected = b'{"d":"2026-02-03","s":["a","b"],"t":"2026-02-03T04:05:06"}'
    assert canonical_bytes(value) == expected
    assert canonical_bytes(value, floats=False) == expected
    assert digest_of(value) == hashlib.sha256(expected).hexdigest()
    # with floats the value goes through rfc8785 after jsonable: the same bytes
    assert canonical_bytes({**value, "x": 0.5}) == expected[:-1] + b',"x":0.5}'


def test_checked_times_use_orjsons_own_text() -> None:
    moment = dt.datetime(2026, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    assert canonical_bytes({"t": moment}, checked_times=True) == b'{"t":"2026-02-03T04:05:06+00:00"}'
    assert digest_of({"t": moment}, checked_times=True) == hashlib.sha256(b'{"t":"2026-02-03T04:05:06+00:00"}').hexdigest()


def test_a_float_promised_away_is_not_looked_for_and_others_are_refused() -> None:
    # floats=False is the caller's promise: the fast path is taken even for a float
    assert canonical_bytes({"x": 1.0}, floats=False) == b'{"x":1.0}'
    assert digest_of({"x": 1.0}, floats=False) == hashlib.sha256(b'{"x":1.0}').hexdigest()
    assert canonical_bytes({"x": 1.0}, floats=True) == b'{"x":1}'
    with pytest.raises(TypeError):
        canonical_bytes({"x": object()})


def test_glossary_spells_out_each_term_once_outside_quotations() -> None:
    glossary = Glossary({"GP": "general practitioner", "MHSD": "Mental Health Specialist Desk"})
    assert glossary.expand('The "GP" said') == 'The "GP" said'
    assert glossary.expand("A GP-led or GPs service") == "A GP-led or GPs service"
    assert glossary.expand("Ask the GP.") == "Ask the GP (general practitioner)."
    assert glossary.expand("Ask the GP again.") == "Ask the GP again."
    assert glossary.expand("MHSD, the Mental Health Specialist Desk") == "MHSD, the Mental Health Specialist Desk"
    assert glossary.expand("MHSD again") == "MHSD again"
