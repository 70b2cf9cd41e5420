"""Hypothesis fuzzing of facts, policy files, case files and batch lines (contract: harness.py).

Bounded for CI: ``RECNAV_FUZZ_EXAMPLES`` examples per target (default 60) and a per-input
deadline of ``RECNAV_FUZZ_DEADLINE_MS`` (default 5,000 ms, generous for a loaded 2-core CI
machine). Run longer, e.g. overnight::

    RECNAV_FUZZ_EXAMPLES=200000 .venv/bin/python -m pytest tests/fuzz -p no:cacheprovider

An input that fails is shrunk by Hypothesis and printed; save it under ``corpus/<kind>/`` (see
``test_corpus.py``), fix the library, and it is replayed on every run from then on.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import BASELINE
from tests.fuzz import harness

EXAMPLES = int(os.environ.get("RECNAV_FUZZ_EXAMPLES", "60"))
DEADLINE = dt.timedelta(milliseconds=int(os.environ.get("RECNAV_FUZZ_DEADLINE_MS", "5000")))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=DEADLINE, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
SEEDS = Path(__file__).parent / "seeds"

NAMES = sorted({name for policy in harness.POLICIES for name in policy.facts} | {"age", "agee", "", "__proto__", "constructor"})
HOSTILE_TEXT = [
    "", " ", "\n", "'", '"', "\\", "{", "[", "]", "}", ":", "- ", "#", "&a", "*a", "!!python/object/apply:os.system [ls]",
    "~", "null", "yes", "no", "on", "true", "1e999", "-0", "0.00001", "NaN", "9" * 5000, "2030-02-30", "0001-01-01",
    "9999-12-31", "2026-11-20T25:61:00", "9999-12-31T23:30:00-01:00", "0001-01-01T00:00:00+14:00", "\x1b[31m", "\u202e",
    "\ud800", "\x00", "a" * 2000, "<script>alert(1)</script>", "^(a|a)*$", "([a-", "L81004", "John Smith", "943 476 5919",
]
DATES = st.sampled_from(["2026-11-20", "2026-02-29", "2024-02-29", "0001-01-01", "9999-12-31", "2026-13-01", "20261120"])
SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**20), max_value=10**20), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(HOSTILE_TEXT), st.text(max_size=30), DATES,
)
CALLS = st.lists(
    st.fixed_dictionaries(
        {"at": st.one_of(st.sampled_from(HOSTILE_TEXT), st.sampled_from(["2026-11-01T10:00:00Z", "2026-10-20T09:00:00", "2026-03-29T01:30:00"]))},
        optional={"category": st.sampled_from(["emergency", "urgent", "other", "x"]), "location": st.sampled_from(["private_dwelling", "other", 1])},
    ),
    max_size=8,
)
JSONISH: st.SearchStrategy[Any] = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@st.composite
def referrals(draw: st.DrawFn) -> dict[str, Any]:
    """The baseline with some facts removed, replaced by hostile values, or added under odd names."""
    facts: dict[str, Any] = dict(BASELINE) if draw(st.booleans()) else {}
    for name in draw(st.lists(st.sampled_from(NAMES), max_size=6)):
        facts[name] = draw(st.one_of(SCALARS, JSONISH, CALLS))
    for name in draw(st.lists(st.sampled_from(sorted(facts) or ["age"]), max_size=3)):
        facts.pop(name, None)
    if draw(st.booleans()):
        facts["emergency_calls"] = draw(CALLS)
    return facts


def mutate(text: str, draw: st.DrawFn) -> str:
    """Line-level mutations: replace a token, delete, duplicate or swap lines, insert hostile text."""
    lines = text.splitlines()
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        action = draw(st.sampled_from(["replace", "delete", "duplicate", "insert", "swap", "indent"]))
        hostile = draw(st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=12)))
        line = lines[index]
        if action == "replace" and ":" in line:
            key, _, _ = line.partition(":")
            lines[index] = f"{key}: {json.dumps(hostile) if draw(st.booleans()) else hostile}"
        elif action == "delete" and len(lines) > 1:
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, line)
        elif action == "insert":
            lines.insert(index, line[: len(line) - len(line.lstrip())] + hostile)
        elif action == "swap":
            other = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        else:
            lines[index] = " " + line
    return "\n".join(lines) + "\n"


@FUZZ
@given(referrals())
def test_facts_as_a_mapping(facts: dict[str, Any]) -> None:
    harness.check_facts(facts)


@FUZZ
@given(referrals(), st.sampled_from(["json", "yaml", "cut"]))
def test_facts_as_text(facts: dict[str, Any], form: str) -> None:
    text = json.dumps(facts, default=str) if form != "yaml" else yaml.safe_dump(json.loads(json.dumps(facts, default=str)))
    if form == "cut":
        text = text[: len(text) // 2]
    harness.check_facts_text(text)


@FUZZ
@given(st.data())
def test_policy_files(data: st.DataObject) -> None:
    harness.check_policy_text(mutate((SEEDS / "policy.yaml").read_text(encoding="utf-8"), data.draw))


@FUZZ
@given(st.data())
def test_case_files(data: st.DataObject) -> None:
    harness.check_case_text(mutate((SEEDS / "hiu.casefile.yaml").read_text(encoding="utf-8"), data.draw))


@FUZZ
@given(st.lists(st.one_of(
    referrals().map(lambda f: json.dumps(f, default=str).encode("utf-8", "surrogatepass")),
    referrals().map(lambda f: json.dumps(f, default=str)[: len(json.dumps(f, default=str)) // 2].encode("utf-8", "surrogatepass")),
    st.binary(max_size=60),
    st.sampled_from([b"[]", b"null", b'"x"', b"1e999", b'{"age": ' + b"9" * 5000 + b"}", b'{"a": 1, "a": 2}', b"[" * 5000]),
), min_size=1, max_size=6))
def test_batch_lines(lines: list[bytes]) -> None:
    harness.check_batch_lines([line for line in lines if line.strip()])
