"""The fuzzing contract: what must hold for any input, however hostile.

For facts (JSON or YAML text, or a mapping), policy files, case files and batch lines:

- only the library's own errors (``PolicyError``, ``FactValidationError``) or a result come out,
  never another exception;
- a decision can be rendered (``to_json()``, ``explain()``) and a batch line always gives one
  JSON record with its line number;
- no value given for a fact the policy declares personal appears in any message, explanation
  or record.

The per-input time bound is Hypothesis's ``deadline`` (see ``test_fuzz.py``); inputs whose work
can explode (patterns, nesting, shared criteria, durable-rules limits) are bounded by the library.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import recnav_rules
from recnav_rules.batch import _decide_lines, _Rejected
from recnav_rules.errors import FactValidationError, PolicyError
from recnav_rules.facts_input import parse_facts_text
from recnav_rules.policies.registry import compile_file
from recnav_rules.tools.cases import load_cases, run_case
from recnav_rules.tools.lint import warnings_for

__all__ = ["AS_OF", "POLICIES", "check_batch_lines", "check_case_text", "check_facts", "check_facts_text", "check_policy_text"]

AS_OF = dt.date(2026, 11, 20)
_PARAMETERS = {"network4_pcn_code": "FIXT004"}


def _load(policy_id: str) -> recnav_rules.Policy:
    try:
        return recnav_rules.load_policy(policy_id)
    except PolicyError as exc:
        if exc.code != "unset-parameter":
            raise
        load: Any = recnav_rules.load_policy  # parameters= arrived with issue 12
        return load(policy_id, parameters=_PARAMETERS)  # type: ignore[no-any-return]


POLICIES = [_load(info.id) for info in recnav_rules.list_policies() if info.origin == "builtin"]


def _personal_values(policy: recnav_rules.Policy, facts: Mapping[str, Any]) -> list[str]:
    """Values given for personal facts that are distinctive enough to look for in text."""
    found = []
    for name, info in policy.facts.items():
        value = facts.get(name) if isinstance(facts, Mapping) else None
        if info.personal and isinstance(value, str | int) and not isinstance(value, bool):
            text = str(value)
            if len(text) >= 4 and text.strip() and text not in ("true", "false", "null", "None"):
                found.append(text)
    return found


def _texts(policy: recnav_rules.Policy, facts: Any) -> str:
    """Everything a caller could see or store of one evaluation, as one text."""
    try:
        decision = policy.evaluate(facts, as_of=AS_OF)
    except FactValidationError as exc:
        assert exc.problems, "a FactValidationError names at least one field"
        return str(exc) + json.dumps([p.to_dict() for p in exc.problems], ensure_ascii=False)
    return decision.to_json() + decision.explain()


def check_facts(facts: Any) -> None:
    """Every built-in policy decides ``facts`` or names the bad fields; nothing else. A value
    given for a personal fact may appear in the output only where it appears anyway without
    the personal facts (a name such as "2026" is also a year)."""
    for policy in POLICIES:
        seen = _texts(policy, facts)
        leaked = [value for value in _personal_values(policy, facts) if value in seen] if isinstance(facts, Mapping) else []
        if leaked:
            without = {k: v for k, v in facts.items() if not (k in policy.facts and policy.facts[k].personal)}
            anyway = _texts(policy, without)
            for value in leaked:
                assert value in anyway, "a personal value appears in a message, explanation or record"


def check_facts_text(text: str) -> None:
    """Facts text as the command reads it: a located PolicyError, or facts checked as above."""
    try:
        facts = parse_facts_text(text, "<fuzz>")
    except PolicyError as exc:
        assert exc.problems and exc.file == "<fuzz>"
        return
    check_facts(facts)


def _write(text: str | bytes, name: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="recnav-fuzz-"))
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    return path


def check_policy_text(text: str | bytes) -> None:
    """A policy file compiles (and lints) or is refused with a located PolicyError."""
    path = _write(text, "policy.yaml")
    try:
        policies = compile_file(path)
    except PolicyError as exc:
        assert exc.problems and all(p.file == str(path) for p in exc.problems if not p.file.startswith("<"))
        return
    for policy in policies:
        warnings_for(policy.compiled)
        try:
            policy.evaluate({}, as_of=AS_OF)  # nothing given: a decision, complete or not
        except FactValidationError:
            pass  # e.g. the as-of date is outside the policy's effective dates


def check_case_text(text: str | bytes) -> None:
    """A case file loads and runs (pass or fail) or is refused with a PolicyError."""
    path = _write(text, "fuzz.cases.yaml")
    try:
        cases = load_cases(path)
    except PolicyError as exc:
        assert exc.problems
        return
    for case in cases[:5]:
        try:
            run_case(case)
        except (PolicyError, FactValidationError):
            pass


def check_batch_lines(lines: list[bytes]) -> None:
    """Each non-blank batch line gives exactly one JSON record carrying its line number."""
    for policy in POLICIES:
        items: list[tuple[int, bytes | _Rejected]] = [(n, line) for n, line in enumerate(lines, start=1)]
        results = _decide_lines(policy, items, AS_OF, False)
        assert len(results) == len(items)
        for (number, _), (is_error, text, *_) in zip(items, results, strict=True):
            record = json.loads(text)
            assert record["line"] == number
            assert ("error" in record) is is_error
            if is_error:
                assert record["kind"] and len(text) < 20_000
