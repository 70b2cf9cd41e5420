"""A second, independent engine: the same compiled policy evaluated on durable-rules.

What durable-rules computes, and what it does not (so the cross-check is honest):

- **durable-rules decides the truth of every criterion and every rule.** Each criterion and rule
  is translated from the compiled condition tree (not from a second copy of the policy) into two
  durable-rules conditions: one that matches when it is true and one that matches when it is
  false, with negation pushed down to the comparisons. durable-rules treats a condition on an
  absent field as false, so when neither matches the value is *unknown*: that is how three-valued
  logic is checked on an engine that has none. Both matching is an internal error. Criteria that
  refer to other criteria are evaluated in phases (one ruleset per depth), each phase's results
  asserted as fields of the next phase's fact.
- **The shared Python code does the rest**, before and after: checking the facts, defaults,
  derived values (ages, counts of events in calendar windows, register look-ups), and, from the
  rules' truth values, the outcome by priority, the missing facts, signposts and next steps with
  working days. durable-rules cannot express those, and they are tested on their own.

Guards, from what was measured about durable-rules 2.0.28 (see docs/engines.md):

- its ``Host`` layer races its own timer threads, so the C extension is driven directly and the
  Host is never created;
- facts are asserted, never posted (a posted event fires only one rule);
- every rule is anchored on the ``$s`` field being absent, so it never matches the engine's own
  session-state document; one extra rule matches every fact, because deleting the session of an
  assert that matched nothing crashed the C core (measured here: "free(): invalid pointer");
- each decision has its own session id and its session is deleted in ``finally`` (at most 1,024
  sessions may be live per ruleset), and a lock serialises each ruleset's assert / read-actions /
  delete protocol across threads;
- rulesets leak memory when recreated, so each is created once per process and kept in a
  process-wide cache keyed by policy digest;
- typing is loose, so only checked, strictly typed values are handed over: booleans, numbers,
  strings, and dates as ordinal day numbers; field names are prefixed so none is a reserved key
  (``sid``, ``id``, ``$s``).

Limits of the C core, measured here (subprocess probes; figures in docs/reliability.md) and
guarded before the C code is touched:

- **matches per assert**: 66 rules matching one asserted fact aborted the interpreter
  (``munmap_chunk(): invalid pointer``, or SIGSEGV); 65 gave "error code 303" in another layout.
  Every criterion and rule contributes at most one match (its true or its false condition), so
  each depth is split into rulesets of at most ``MAX_MEMBERS_PER_RULESET`` (48) members: at most
  49 matches per assert, whatever the policy's size. Splitting also keeps each ruleset under
  the 256-rule size at which ``create_ruleset`` aborted or hung.
- **fields per fact**: a fact of more than 252 fields (254 with ``sid`` and ``id``) is "error
  code 302". Each ruleset is asserted only the fields its own rules read (smaller asserts);
  a single criterion or rule reading more than ``MAX_FIELDS`` fields is refused when the
  engine is set up (``PolicyError``, code ``durable-limit``).
- **numbers**: the C parser rejects numbers written with an exponent (``1e-05``, ``1e+16``:
  "error code 204", "Could not create ruleset"), and cannot be trusted beyond double precision.
  A number is handed over only if it is an integer of magnitude at most 2**53, or a finite float
  of magnitude in [1e-4, 1e15) (or zero) whose JSON form has no exponent. A policy literal
  outside that is refused at set-up (``PolicyError``); a fact value outside it is a
  ``FactValidationError`` naming the field (the native engine decides such facts).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import threading
from collections.abc import Mapping
from typing import Any

from recnav_rules.decision import Decision
from recnav_rules.engine.conditions import referenced_criteria
from recnav_rules.engine.evaluator import Evaluator
from recnav_rules.engine.model import CompiledPolicy, Criterion, Leaf, Logic, Node, Ref, Tri
from recnav_rules.errors import FactProblem, FactValidationError, PolicyError, PolicyProblem

__all__ = [
    "MAX_FIELDS",
    "MAX_MEMBERS_PER_RULESET",
    "DurableEvaluator",
    "DurableLimitError",
    "DurableUnavailableError",
    "is_available",
    "representable",
    "translate",
]

_INSTALL = (
    "the durable-rules engine is an optional extra: pip install 'recnav-rules[durable]' "
    "(durable-rules 2.0.28 builds on CPython 3.11 and 3.12 only)"
)
_ALWAYS = "always_matches"
Condition = dict[str, Any]


class DurableUnavailableError(RuntimeError):
    """durable-rules is not installed, or cannot be imported on this Python."""


def _engine() -> Any:
    try:
        import durable_rules_engine
    except ImportError as exc:
        raise DurableUnavailableError(f"{_INSTALL} ({exc})") from None
    return durable_rules_engine


def is_available() -> bool:
    try:
        _engine()
    except DurableUnavailableError:
        return False
    return True


# --- translation -----------------------------------------------------------------------------


def _field(name: str) -> str:
    return f"f_{name}"


def _criterion_field(name: str) -> str:
    return f"c_{name}"


def _literal(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.toordinal()
    return value


def _and(parts: list[Condition]) -> Condition:
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _or(parts: list[Condition]) -> Condition:
    return parts[0] if len(parts) == 1 else {"$or": parts}


_NEGATE = {"eq": "ne", "ne": "eq", "lt": "gte", "gte": "lt", "gt": "lte", "lte": "gt", "in": "not_in", "not_in": "in"}
_DURABLE_OP = {"lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}


def _comparison(field: str, op: str, value: Any) -> Condition:
    if op == "eq":
        return {field: _literal(value)}
    if op == "ne":
        return {"$neq": {field: _literal(value)}}
    if op == "in":
        return _or([{field: _literal(v)} for v in sorted(value, key=repr)])
    if op == "not_in":
        return _and([{"$neq": {field: _literal(v)}} for v in sorted(value, key=repr)])
    return {_DURABLE_OP[op]: {field: _literal(value)}}


def translate(node: Node, truth: bool) -> Condition:
    """The durable-rules condition that matches exactly when ``node`` is ``truth`` (not unknown)."""
    if isinstance(node, Ref):
        return {_criterion_field(node.criterion): truth}
    if isinstance(node, Logic):
        if node.op == "not":
            return translate(node.children[0], not truth)
        parts = [translate(child, truth) for child in node.children]
        conjunctive = (node.op == "all") == truth
        return _and(parts) if conjunctive else _or(parts)
    leaf: Leaf = node
    field = _field(leaf.ref)
    if leaf.op == "present":
        present = bool(leaf.value) == truth
        return {"$ex": {field: 1}} if present else {"$nex": {field: 1}}
    op = leaf.op if truth else _NEGATE[leaf.op]
    return _comparison(field, op, leaf.value)


def _anchored(condition: Condition) -> dict[str, Any]:
    return {"all": [{"m": {"$and": [{"$nex": {"$s": 1}}, condition]}}]}


def _depths(criteria: tuple[Criterion, ...]) -> dict[str, int]:
    depth: dict[str, int] = {}
    for criterion in criteria:  # dependency order: referenced criteria come first
        depth[criterion.id] = 1 + max((depth[r] for r in referenced_criteria(criterion.node)), default=-1)
    return depth


# --- the driver --------------------------------------------------------------------------------


class DurableLimitError(PolicyError):
    """A policy the durable-rules engine cannot run safely (it is refused before the C code)."""


MAX_MEMBERS_PER_RULESET = 48
"""Criteria or rules per durable-rules ruleset: each adds at most one match per assert, and 66
matches in one assert crashed the C core (measured)."""

MAX_FIELDS = 252
"""Fields in one asserted fact (besides ``sid`` and ``id``); 253 gave "error code 302"."""

_MAX_INT = 2**53
_MIN_FLOAT, _MAX_FLOAT = 1e-4, 1e15


def representable(value: Any) -> bool:
    """Whether the C core reads ``value`` (a bool, number, string or date) exactly."""
    if isinstance(value, bool | str | dt.date):
        return True
    if isinstance(value, int):
        return abs(value) <= _MAX_INT
    if isinstance(value, float):
        if not math.isfinite(value):
            return False
        size = abs(value)
        return (size == 0 or _MIN_FLOAT <= size < _MAX_FLOAT) and "e" not in json.dumps(value).lower()
    return False


def _literals(node: Node) -> list[Any]:
    if isinstance(node, Leaf):
        if node.op == "present":
            return []
        return list(node.value) if isinstance(node.value, frozenset | tuple | list | set) else [node.value]
    if isinstance(node, Logic):
        return [v for child in node.children for v in _literals(child)]
    return []


def _fields(node: Node) -> set[str]:
    if isinstance(node, Leaf):
        return {_field(node.ref)}
    if isinstance(node, Ref):
        return {_criterion_field(node.criterion)}
    return {f for child in node.children for f in _fields(child)}


class _Ruleset:
    """One durable-rules ruleset: assert one fact per session, read every rule that matched."""

    _sessions = itertools.count(1)

    def __init__(self, name: str, rules: Mapping[str, Condition], fields: frozenset[str]) -> None:
        engine = _engine()
        self._engine = engine
        self._lock = threading.Lock()
        self.fields = fields
        definition = {rule: _anchored(cond) for rule, cond in rules.items()}
        # Deleting the session of an assert that matched nothing crashed the C core here
        # ("free(): invalid pointer"), so one rule matches every fact (but never the state).
        definition[_ALWAYS] = {"all": [{"m": {"$nex": {"$s": 1}}}]}
        if len(definition) > 2 * MAX_MEMBERS_PER_RULESET + 1 or len(fields) > MAX_FIELDS:
            raise RuntimeError(f"ruleset {name} is past the durable-rules limits")  # the packing guarantees it is not
        self._handle = engine.create_ruleset(name, json.dumps(definition))

    def matched(self, fact: Mapping[str, Any]) -> set[str]:
        asserted = {key: value for key, value in fact.items() if key in self.fields}
        if len(asserted) > MAX_FIELDS:
            raise RuntimeError(f"durable-rules cannot take a fact of more than {MAX_FIELDS} fields")
        engine = self._engine
        names: set[str] = set()
        with self._lock:
            sid = str(next(self._sessions))
            payload = json.dumps({**asserted, "sid": sid, "id": sid})
            state = None
            drained = False
            try:
                _, state = engine.assert_fact(self._handle, payload)
                result = engine.start_action_for_state(self._handle, state)
                while result:
                    names.update(json.loads(result[1]))
                    following = engine.complete_and_start_action(self._handle, state)
                    result = (None, following) if following else None
                drained = True
            finally:
                if state is not None and not drained:
                    # Deleting a session with actions still queued crashed the C core: finish
                    # them first (their results are not used: this decision has failed).
                    self._drain(state)
                try:
                    engine.delete_state(self._handle, sid)
                except Exception:  # noqa: BLE001  # the session may never have been created
                    pass
        names.discard(_ALWAYS)
        return names

    def _drain(self, state: Any) -> None:
        engine = self._engine
        try:
            result = engine.start_action_for_state(self._handle, state)
            while result:
                following = engine.complete_and_start_action(self._handle, state)
                result = (None, following) if following else None
        except Exception:  # noqa: BLE001  # best effort; the caller's exception is the one to see
            pass


_cache_lock = threading.Lock()
Members = list[tuple[str, str]]
_rulesets: dict[str, list[tuple[Members, _Ruleset]]] = {}


def _limit_error(policy: CompiledPolicy, line: int | None, message: str) -> DurableLimitError:
    return DurableLimitError([PolicyProblem(policy.file, line, None, "durable-limit", message + "; use the native engine")])


def _check_member(policy: CompiledPolicy, kind: str, key: str, node: Node, line: int | None) -> set[str]:
    what = f"criterion '{key}'" if kind == "c" else f"rule '{policy.rules[int(key)].id}'"
    for value in _literals(node):
        if not representable(value):
            raise _limit_error(
                policy, line,
                f"the durable-rules engine cannot represent the number {value!r} in {what} "
                f"(numbers it reads exactly: integers up to 2**53, decimals from 0.0001 to 1e15)",
            )
    fields = _fields(node)
    if len(fields) > MAX_FIELDS:
        raise _limit_error(policy, line, f"{what} reads {len(fields)} facts; durable-rules takes at most {MAX_FIELDS} in one fact")
    return fields


def _member_line(policy: CompiledPolicy, kind: str, key: str) -> int | None:
    if kind == "r":
        return policy.rules[int(key)].line
    return next((c.line for c in policy.criteria if c.id == key), None)


def _pack(members: list[tuple[str, str, Node, set[str]]]) -> list[list[tuple[str, str, Node, set[str]]]]:
    """Members in order, in groups of at most MAX_MEMBERS_PER_RULESET reading at most MAX_FIELDS fields."""
    groups: list[list[tuple[str, str, Node, set[str]]]] = []
    current: list[tuple[str, str, Node, set[str]]] = []
    fields: set[str] = set()
    for member in members:
        if current and (len(current) >= MAX_MEMBERS_PER_RULESET or len(fields | member[3]) > MAX_FIELDS):
            groups.append(current)
            current, fields = [], set()
        current.append(member)
        fields |= member[3]
    if current:
        groups.append(current)
    return groups


def _build(policy: CompiledPolicy) -> list[tuple[Members, _Ruleset]]:
    depth = _depths(policy.criteria)
    levels = max(depth.values(), default=-1) + 1
    rulesets: list[tuple[Members, _Ruleset]] = []
    for level in range(levels + 1):
        members = (
            [("c", c.id, c.node, _check_member(policy, "c", c.id, c.node, c.line)) for c in policy.criteria if depth[c.id] == level]
            if level < levels
            else [("r", str(i), rule.node, _check_member(policy, "r", str(i), rule.node, rule.line)) for i, rule in enumerate(policy.rules)]
        )
        for part, group in enumerate(_pack(members)):
            rules: dict[str, Condition] = {}
            for kind, key, node, _ in group:
                rules[f"{kind}_{key}_T"] = translate(node, True)
                rules[f"{kind}_{key}_F"] = translate(node, False)
            name = f"recnav_{policy.digest[:16]}_{level}_{part}"
            fields = frozenset(f for *_, used in group for f in used)
            try:
                ruleset = _Ruleset(name, rules, fields)
            except _engine().error as exc:
                raise _limit_error(policy, _member_line(policy, group[0][0], group[0][1]),
                                   f"durable-rules could not set up the rules ({type(exc).__name__}: error code "
                                   f"{str(exc).rsplit(':', 1)[-1].strip()})") from None
            rulesets.append(([(kind, key) for kind, key, _, _ in group], ruleset))
    return rulesets


def _phases(policy: CompiledPolicy) -> list[tuple[Members, _Ruleset]]:
    """[([(kind, id)], ruleset)] in evaluation order. Built once per policy digest per process."""
    with _cache_lock:
        found = _rulesets.get(policy.digest)
        if found is None:
            found = _rulesets[policy.digest] = _build(policy)
        return found


class DurableEvaluator:
    """Evaluates one compiled policy on durable-rules; shares the native engine's Python parts."""

    def __init__(self, policy: CompiledPolicy, native: Evaluator) -> None:
        _engine()  # a clear error now if durable-rules cannot be imported
        self.policy = policy
        self.native = native
        self.phases = _phases(policy)

    def evaluate(self, facts: Mapping[str, Any], as_of: dt.date) -> Decision:
        native = self.native
        native.check_effective(as_of)
        prepared = native.prepare(facts, as_of)
        env = prepared[0]
        unrepresentable = sorted(
            name for name, value in env.items()
            if isinstance(name, str) and _sendable(value) and not representable(value)
        )
        if unrepresentable:
            raise FactValidationError([
                FactProblem(name, "is a number the durable-rules engine cannot read exactly "
                            "(integers up to 2**53, decimals from 0.0001 to 1e15); the native engine can decide it")
                for name in unrepresentable
            ])
        fact: dict[str, Any] = {
            _field(name): _literal(value) for name, value in env.items() if isinstance(name, str) and _sendable(value)
        }
        rule_values: dict[int, Tri] = {}
        for members, ruleset in self.phases:
            matched = ruleset.matched(fact)
            for kind, key in members:
                value = _truth(matched, f"{kind}_{key}")
                if kind == "c":
                    env[("c", key)] = value
                    if value is not None:
                        fact[_criterion_field(key)] = value
                else:
                    rule_values[int(key)] = value
        values = tuple(rule_values[i] for i in range(len(self.policy.rules)))
        return native.decide(prepared, values, as_of, "durable")


def _sendable(value: Any) -> bool:
    return isinstance(value, bool | int | float | str | dt.date)


def _truth(matched: set[str], name: str) -> Tri:
    true, false = f"{name}_T" in matched, f"{name}_F" in matched
    if true and false:
        raise RuntimeError(f"durable-rules found {name} both true and false")
    return True if true else False if false else None
