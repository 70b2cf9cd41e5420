"""Reading batch lines: the orjson fast path of ``loads_json`` gives exactly what ``json.loads``
with the duplicate-key hook gives (the value, or the same error), and never lets a repeated
key through."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from recnav_rules.facts_input import _CAREFUL, DuplicateKeyError, _fast, _no_duplicates, loads_json
from tests.conftest import BASELINE


def careful(text: str | bytes) -> Any:
    """The reader every line was read with before the fast path: json.loads seeing every key."""
    return json.loads(text, object_pairs_hook=_no_duplicates)


def shape(value: Any) -> Any:
    """A value with its types spelt out, so that 1 != 1.0 != True and -0.0 != 0.0."""
    if isinstance(value, dict):
        return ("dict", [(k, shape(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [shape(v) for v in value])
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else value.hex())
    return (type(value).__name__, value)


def outcome(read: Any, text: str | bytes) -> tuple[Any, ...]:
    try:
        return ("value", shape(read(text)))
    except DuplicateKeyError as exc:
        return ("duplicate", exc.key)
    except Exception as exc:  # noqa: BLE001  # the same error, whatever it is
        return ("error", type(exc).__name__, str(exc))


def same_as_careful(text: str | bytes) -> None:
    assert outcome(loads_json, text) == outcome(careful, text)


KEYS = st.sampled_from(["a", "b", "at", "a:b", ":", "", "\\", '"', "é", "\u003a", "x\u2028y", "😀"]) | st.text(max_size=6)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from([":", '"', "\\", "\n", "\x00", "\x7f"]), max_size=12)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=25,
)


@st.composite
def json_texts(draw: st.DrawFn, values: st.SearchStrategy[Any] = VALUES) -> bytes:
    value = draw(values)
    ensure_ascii = draw(st.booleans())
    separators = draw(st.sampled_from([(", ", ": "), (",", ":"), (" ,\t", "\r\n:\n")]))
    text = json.dumps(value, ensure_ascii=ensure_ascii, separators=separators)
    return text.encode("utf-8", "surrogatepass") if draw(st.booleans()) else text.encode("utf-8", "replace")


@given(json_texts())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_json_reads_as_json_loads_reads_it(text: bytes) -> None:
    same_as_careful(text)
    same_as_careful(text + b"\n")
    try:
        as_text = text.decode("utf-8")
    except UnicodeDecodeError:
        return
    same_as_careful(as_text)


@given(json_texts())
@settings(max_examples=300, deadline=None)
def test_the_fast_path_vouches_only_for_the_careful_value(text: bytes) -> None:
    fast = _fast(text)
    if fast is not _CAREFUL:
        assert shape(fast) == shape(careful(text))


@st.composite
def repeated_keys(draw: st.DrawFn) -> tuple[bytes, str]:
    """An object text, maybe nested in others, that gives one key twice; the key's second
    spelling may be escaped, and other members may hold escaped colons and colons."""
    key = draw(KEYS)
    first, second = draw(VALUES), draw(VALUES)
    others = draw(st.dictionaries(KEYS.filter(lambda k: k != key), VALUES, max_size=3))
    members = [json.dumps(key) + ":" + json.dumps(first)]
    members.append(
        (json.dumps(key, ensure_ascii=True) if draw(st.booleans()) else json.dumps(key, ensure_ascii=False)) + ":" + json.dumps(second)
    )
    members += [json.dumps(k) + ":" + json.dumps(v) for k, v in others.items()]
    if draw(st.booleans()):
        members.append('"pad":"\\u003a\\u003A' + ":" * draw(st.integers(0, 3)) + '"')
    order = draw(st.permutations(members))
    text = "{" + ",".join(order) + "}"
    for _ in range(draw(st.integers(0, 3))):
        text = draw(st.sampled_from(['{"outer":%s}', "[1,%s]", '{"x":[{"y":%s}],"z":":"}'])) % text
    return text.encode("utf-8", "surrogatepass"), key


@given(repeated_keys())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_key_given_twice_is_always_refused_and_named(case: tuple[bytes, str]) -> None:
    text, key = case
    expected = outcome(careful, text)
    assume(expected[0] == "duplicate")  # (a text json cannot read at all is another test's business)
    assert expected == ("duplicate", key)
    with pytest.raises(DuplicateKeyError) as caught:
        loads_json(text)
    assert caught.value.key == key
    assert _fast(text) is _CAREFUL


@pytest.mark.parametrize(
    "text",
    [
        b'{"consent_to_referral": false, "consent_to_referral": true}',
        b'{"a":1,"a":2,"b":"\\u003a"}',  # an escaped colon makes up for the member lost
        b'{"a":1,"\\u0061":2}',  # the same key spelt two ways
        b'{"calls":[{"at":"10:00","at":"11:00"}]}',
        b'{"a:":1,"a:":2}',
        b'{"x":{"k":{"k":1,"k":2}}}',
    ],
)
def test_known_repeated_keys_are_refused(text: bytes) -> None:
    with pytest.raises(DuplicateKeyError):
        loads_json(text)
    with pytest.raises(DuplicateKeyError):
        loads_json(text.decode("utf-8"))


@pytest.mark.parametrize(
    "text",
    [
        b'{"age": 123456789012345678901234567890}',  # beyond 64 bits: an int, never a float
        b'{"n": 18446744073709551616, "m": -9223372036854775809}',
        b'{"n": 9999999999999999999}',
        b'{"age": ' + b"9" * 5000 + b"}",  # past Python's digit limit: the same ValueError
        b'{"x": 1e400}',  # inf in json, an error in orjson
        b'{"x": NaN, "y": -Infinity}',
        b"\xef\xbb\xbf{}",  # a UTF-8 byte order mark
        b'{"a": "\\ud800"}',  # a lone surrogate, escaped
        b'{"a": "\xed\xa0\x80"}',  # a surrogate encoded in UTF-8
        b'{"a": "\xff"}',
        b"[" * 300 + b"]" * 300,  # deeper than the fast path reads
        b"[" * 1000 + b"]" * 1000,  # orjson reads it, json does not: json's answer
        b"[" * 5000 + b"]" * 5000,  # deeper than json reads
        b'{"a": 1,}',
        b'{"a": 1} x',
        b"",
        b"  \t",
        b'{"a": -0, "b": -0.0, "c": 1E5, "d": 4.9e-324, "e": 2.2250738585072011e-308, "f": 1.7976931348623157e308}',
        b'{"a": 0.1e-400, "b": 123456789012345678.5, "c": 1234567890123456789.0}',
        b'"\\u0000\\/\\b"',
        '{"name": "Zoë", "x": "\u2028"}'.encode(),
        b'{"a": "\x01"}',  # a raw control character in a string
        b'{"a": "\t", "b": "\x7f"}',
        b'{"a": "\xc0\xaf"}',  # an overlong UTF-8 encoding
        b'{"a": "\xf4\x90\x80\x80"}',  # beyond U+10FFFF
        b'{"a": "\\x41"}',
        b'"\\ude00\\ud83d"',  # surrogates the wrong way round
        b'[01]',
        b'[1.]',
        b'[.1]',
        b'[+1]',
        b'[-]',
        b'[tRue]',
        b'[1e-7, 5e-324, 1e-400, 1E+5]',
        b'\x00{"a": 1}',
        b'{"a": 1}\x00',
        b'1\x00',
    ],
)
def test_edge_cases_read_as_json_loads_reads_them(text: bytes) -> None:
    same_as_careful(text)


def test_referral_lines_read_fast() -> None:
    for facts in (BASELINE, dict(BASELINE, emergency_calls=[{"at": "2026-11-01T10:00:00Z", "category": "emergency"}] * 40)):
        for text in (json.dumps(facts), json.dumps(facts, separators=(",", ":"))):
            assert _fast(text.encode()) == facts


def test_lines_with_an_escape_still_read_fast_unless_a_colon_may_be_escaped() -> None:
    assert _fast(b'{"name": "Zo\\u00eb", "note": "a\\nb"}') == {"name": "Zoë", "note": "a\nb"}
    assert _fast(b'{"note": "\\u003a"}') is _CAREFUL
    assert _fast(b'{"n": 1234567890123456789}') is _CAREFUL
    assert _fast(b'{"n": 123456789012345678}') == {"n": 123456789012345678}


@given(st.binary(max_size=60) | json_texts().flatmap(lambda t: st.tuples(st.just(t), st.integers(0, max(len(t) - 1, 0)), st.binary(max_size=3)).map(lambda c: c[0][: c[1]] + c[2] + c[0][c[1] + 1 :])))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_bytes_give_the_careful_readers_value_or_error(text: bytes) -> None:
    same_as_careful(text)


HOSTILE = [
    2**64,
    -(2**63) - 1,
    10**25,
    -(10**30),
    18446744073709551615,
    1.5,
    17.0,
    "1" * 25,
    None,
    [],
    {},
]


def _nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


@st.composite
def hostile_lines(draw: st.DrawFn) -> bytes:
    """A referral line with one value made hostile: an integer beyond 64 bits (orjson reads a
    float), a float, deep nesting (orjson and json differ past ~1,000 levels), a repeated key."""
    from tests.test_batch import referrals

    facts = dict(draw(st.sampled_from(referrals(12))))
    where = draw(st.sampled_from(["age", "in_custody", "gp_practice_code", "call", "unknown", "emergency_calls", "referral_date"]))
    value = json.dumps(draw(st.sampled_from(HOSTILE)))
    nested = draw(st.sampled_from([None, 10, 300, 990, 1000, 1030, 3000]))
    if nested is not None:
        value = _nested(nested)
    marker = '"__hostile__"'
    if where == "call":
        facts["emergency_calls"] = [{"at": "2026-11-01T10:00:00", "category": "__hostile__", "location": "public_place"}]
    else:
        facts[where if where != "unknown" else "not_a_fact"] = "__hostile__"
    text = json.dumps(facts, separators=draw(st.sampled_from([(", ", ": "), (",", ":")]))).replace(marker, value)
    if draw(st.integers(0, 5)) == 0:  # a key given twice
        text = text.replace('{"', '{"in_custody": true, "', 1) if "in_custody" in text else text
    return text.encode()


@given(hostile_lines())
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_batch_lines_read_unvouched_are_decided_as_the_careful_reader_decides_them(raw: bytes) -> None:
    """The batch command reads lines for a policy without number facts unvouched
    (``loads_json_unvouched``) and lets the generated program accept them; what it refuses is read
    again by ``loads_json``. Either way a line ends exactly as if read by ``loads_json`` first."""
    import recnav_rules
    from recnav_rules import batch
    from tests.conftest import AS_OF

    policy = recnav_rules.load_policy("bnssg-hiu-pilot")
    assert not policy._native.floats
    known = batch._known_facts(policy)
    facts, problem = batch._parse_line(raw)
    if problem is not None:
        expected = (True, batch._error_line(batch.BatchResult(5, error=problem.message, kind=problem.kind)))
    else:
        found = batch._evaluate(policy, known, 5, facts, AS_OF, None)
        expected = (True, batch._error_line(found)) if isinstance(found, batch.BatchResult) else (False, batch._decision_line(5, found[0], False))
    assert batch._decide_raw(policy, known, 5, raw, AS_OF, False, None)[:2] == expected


def test_unvouched_reading_still_refuses_a_repeated_key() -> None:
    from recnav_rules.facts_input import loads_json_unvouched

    assert loads_json_unvouched(b'{"a": 1, "a": 2}') is None
    assert loads_json_unvouched(b'{"c": [{"a": 1, "a": 1}]}') is None
    assert loads_json_unvouched(b'{"n": 18446744073709551616}') == {"n": 1.8446744073709552e19}  # not vouched for: a float
    assert loads_json_unvouched(b'{"n": 1}') == {"n": 1}


def test_compact_lines_read_back_exactly_need_no_count_and_a_repeat_still_shows() -> None:
    compact = json.dumps(BASELINE, separators=(",", ":")).encode()
    assert _fast(compact) == BASELINE
    repeated = compact.replace(b'{"', b'{"in_custody":false,"', 1)
    assert _fast(repeated) is _CAREFUL
    with pytest.raises(DuplicateKeyError):
        loads_json(repeated)
