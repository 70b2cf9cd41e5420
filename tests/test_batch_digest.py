"""The facts digest in every batch output line: sha256 of the RFC 8785 form of the checked
facts, however ``digest_of`` takes its fast path."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from recnav_rules.canonical import MAX_SAFE_INTEGER, digest_of, jsonable

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
