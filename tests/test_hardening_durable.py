"""The durable-rules engine never takes the process down: its C core's limits are guarded.

Each case runs in a subprocess, so a crash of the C core (abort, SIGSEGV, a hang) fails the test
instead of killing the test run. Before the guards: 65 matching rules aborted the interpreter
(``munmap_chunk(): invalid pointer``, exit 134), 127 or more rules crashed or hung, a number of
``1e-05`` gave "error code 204", and 253 fields "error code 302".
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recnav_rules.engine import durable

pytest.importorskip("durable_rules_engine")

AS_OF = "2026-11-20"

RUN = """
import json, sys
import recnav_rules
policy = recnav_rules.load_policy(sys.argv[1])
facts = json.load(open(sys.argv[2]))
native = policy.evaluate(facts, as_of="2026-11-20")
other = policy.evaluate(facts, as_of="2026-11-20", engine="durable")
print(json.dumps([native.outcome.value, [r.rule_id for r in native.reasons], other.outcome.value, [r.rule_id for r in other.reasons]]))
"""


def policy_text(rules: int, *, facts: int | None = None, wide: int = 0, number: str | None = None) -> str:
    """``rules`` reject rules, rule i true when bool fact f(i mod facts) is; optionally one rule
    reading ``wide`` integer facts at once, and one comparing a number fact with ``number``."""
    count = facts or rules
    lines = [f"      f{i}: {{type: bool, description: Fact {i}.}}" for i in range(count)]
    lines += [f"      w{i}: {{type: integer, description: Wide {i}.}}" for i in range(wide)]
    if number is not None:
        lines.append("      n: {type: number, description: A number.}")
    body = [
        f"      - id: r{i}\n        when: {{fact: f{i % count}, eq: true}}\n        outcome: reject\n        reason: Rule {i}.\n        assumption: Test."
        for i in range(rules)
    ]
    if wide:
        leaves = "\n".join(f"            - {{fact: w{i}, gte: 0}}" for i in range(wide))
        body.append(f"      - id: wide\n        when:\n          all:\n{leaves}\n        outcome: reject\n        reason: Wide.\n        assumption: Test.")
    if number is not None:
        body.append(f"      - id: num\n        when: {{fact: n, gt: {number}}}\n        outcome: reject\n        reason: Number.\n        assumption: Test.")
    facts_block = "\n".join(lines)
    rules_block = "\n".join(body)
    return f"""policies:
  - id: generated
    version: 1.0.0
    title: Generated
    sources:
      doc: {{file: doc.txt, title: A document}}
    facts:
{facts_block}
    rules:
{rules_block}
    otherwise:
      outcome: accept
      reason: None.
      assumption: Test.
    incomplete:
      outcome: reject
      reason: Unknown.
      assumption: Test.
"""


def run(tmp_path: Path, policy: str, facts: dict[str, object], *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "generated.yaml"
    path.write_text(policy, encoding="utf-8")
    facts_path = tmp_path / "facts.json"
    facts_path.write_text(json.dumps(facts), encoding="utf-8")
    command = [sys.executable, "-c", RUN, str(path), str(facts_path)] if not args else [
        sys.executable, "-m", "recnav_rules.cli", "evaluate", "--policy", str(path), "--as-of", AS_OF, *args, str(facts_path)
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize(
    ("rules", "matching"),
    [(48, 48), (49, 49), (64, 64), (65, 65), (127, 0), (130, 130), (300, 7)],
)
def test_many_rules_and_many_matches_decide_like_the_native_engine(tmp_path: Path, rules: int, matching: int) -> None:
    facts = {f"f{i}": i < matching for i in range(rules)}
    done = run(tmp_path, policy_text(rules), facts)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-300:]}"
    native_outcome, native_reasons, durable_outcome, durable_reasons = json.loads(done.stdout)
    assert (durable_outcome, durable_reasons) == (native_outcome, native_reasons)
    assert len(native_reasons) == (matching if matching else 1)


def test_rulesets_stay_under_the_match_limit() -> None:
    assert durable.MAX_MEMBERS_PER_RULESET + 1 < 65  # each member matches true or false (not both), plus one always-rule


@pytest.mark.parametrize(("wide", "refused"), [(durable.MAX_FIELDS, False), (durable.MAX_FIELDS + 1, True)])
def test_a_rule_reading_too_many_facts_is_refused_before_the_c_core(tmp_path: Path, wide: int, refused: bool) -> None:
    facts: dict[str, object] = {"f0": False, **{f"w{i}": 1 for i in range(wide)}}
    done = run(tmp_path, policy_text(1, wide=wide), facts, "--engine", "durable")
    if refused:
        assert done.returncode == 2, done.stderr[-300:]
        assert f"reads {wide} facts; durable-rules takes at most {durable.MAX_FIELDS}" in done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    else:
        assert done.returncode == 0, done.stderr[-300:]
        assert "reject" in done.stdout.lower()


@pytest.mark.parametrize("literal", ["0.00001", "1.0e-05", "1.0e+16", "10000000000000000.0", "9007199254740993"])
def test_a_policy_number_the_c_core_cannot_read_is_refused(tmp_path: Path, literal: str) -> None:
    done = run(tmp_path, policy_text(1, number=literal), {"f0": False, "n": 1}, "--engine", "durable")
    assert done.returncode == 2, done.stderr[-300:]
    assert "durable-rules engine cannot represent the number" in done.stderr and "rule 'num'" in done.stderr
    native = run(tmp_path, policy_text(1, number=literal), {"f0": False, "n": 1}, "--engine", "native")
    assert native.returncode == 0, native.stderr[-300:]


@pytest.mark.parametrize(
    ("value", "by_durable"),
    [(0.0001, False), (1.5, False), (1e-05, True), (9.5e-05, True), (1e16, None), (2**53 + 1, None)],
)
def test_a_fact_number_the_c_core_cannot_read_is_a_named_bad_fact(tmp_path: Path, value: float, by_durable: bool | None) -> None:
    """``by_durable``: False decided, True refused by the durable guard (the native engine decides
    it), None refused by the fact check itself (the I-JSON range) on either engine."""
    done = run(tmp_path, policy_text(1, number="0.5"), {"f0": False, "n": value}, "--engine", "durable")
    if by_durable is False:
        assert done.returncode == 0, done.stderr[-300:]
        return
    assert done.returncode == 2, done.stderr[-300:]
    assert done.stderr.count("\n") == 1 and "n: " in done.stderr and "Traceback" not in done.stderr
    if by_durable:
        assert "n: is a number the durable-rules engine cannot read exactly" in done.stderr
        assert str(value) not in done.stderr
        native = run(tmp_path, policy_text(1, number="0.5"), {"f0": False, "n": value}, "--engine", "native")
        assert native.returncode == 0, native.stderr[-300:]
