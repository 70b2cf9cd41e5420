"""Conditions: checked into a small tree, then turned into fast three-valued closures.

A condition is data, never code: ``all`` / ``any`` / ``not``, ``criterion: name``, or a
comparison ``{fact: name, <op>: literal}`` (``field:`` instead of ``fact:`` inside an event
filter). ``parse_condition`` checks names and types against what the policy declares and
reports every problem with its place; ``build`` makes the closure the evaluator calls;
``missing_inputs`` says, on the slow path only, which absent facts left a node unknown.

Three-valued (Kleene) logic: ``all`` is false if any part is false, else unknown if any part
is unknown; ``any`` is its dual; ``not`` swaps true and false and keeps unknown. A
comparison of a value that is not known is unknown; ``present`` is never unknown.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from recnav_rules.engine.facts import parse_date
from recnav_rules.engine.model import Env, Leaf, Logic, Node, Ref, Tri
from recnav_rules.engine.source import LocatedDocument, PathKey
from recnav_rules.errors import PolicyProblem, closest

__all__ = [
    "COMPARISONS",
    "RefType",
    "build",
    "build_filter",
    "kleene_all",
    "kleene_any",
    "leaves",
    "missing_inputs",
    "parse_condition",
    "reads",
    "referenced_criteria",
    "render",
]

COMPARISONS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "present")
_LOGIC = ("all", "any", "not", "criterion")
_ORDERED = {"integer", "number", "date"}
_OPS: Mapping[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}
_WORDS = {
    "eq": "is",
    "ne": "is not",
    "lt": "is less than",
    "lte": "is at most",
    "gt": "is more than",
    "gte": "is at least",
    "in": "is one of",
    "not_in": "is none of",
}


@dataclass(frozen=True, slots=True)
class RefType:
    """What a condition may compare: a value's type and, for enums, its allowed values."""

    type: str
    values: tuple[str, ...] = ()
    personal: bool = False


class _Parser:
    def __init__(
        self,
        doc: LocatedDocument,
        refs: Mapping[str, RefType],
        criteria: Mapping[str, Any],
        problems: list[PolicyProblem],
        ref_key: str,
    ) -> None:
        self.doc = doc
        self.refs = refs
        self.criteria = criteria
        self.problems = problems
        self.ref_key = ref_key

    def err(self, path: PathKey, code: str, message: str, suggestion: str | None = None, *, at_key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, code, message, suggestion, at_key=at_key))

    def parse(self, raw: Any, path: PathKey, depth: int = 0) -> Node | None:
        if depth > 32:
            self.err(path, "too-deep", "condition nested more than 32 levels")
            return None
        if not isinstance(raw, dict) or not raw:
            self.err(path, "bad-condition", "a condition is a mapping: all, any, not, criterion, or a comparison")
            return None
        keys = list(raw)
        logic = [k for k in keys if k in _LOGIC]
        if logic:
            key = logic[0]
            if len(keys) > 1:
                other = next(k for k in keys if k != key)
                self.err((*path, other), "bad-condition", f"'{key}' stands alone; unexpected key '{other}'", at_key=True)
                return None
            return self.parse_logic(key, raw[key], (*path, key), depth)
        if self.ref_key not in raw:
            for key in keys:
                if key not in COMPARISONS and key not in ("fact", "field"):
                    self.err(
                        (*path, key),
                        "unknown-operator",
                        f"unknown operator '{key}'",
                        closest(key, (*_LOGIC, *COMPARISONS, self.ref_key)),
                        at_key=True,
                    )
                    return None
            self.err(path, "bad-condition", f"a comparison needs '{self.ref_key}:' naming what it compares")
            return None
        return self.parse_leaf(raw, path)

    def parse_logic(self, key: str, raw: Any, path: PathKey, depth: int) -> Node | None:
        if key == "criterion":
            if not isinstance(raw, str):
                self.err(path, "bad-condition", "criterion: takes a criterion's name")
                return None
            if raw not in self.criteria:
                self.err(path, "unknown-criterion", f"unknown criterion '{raw}'", closest(raw, self.criteria))
                return None
            return Ref(raw)
        if key == "not":
            child = self.parse(raw, path, depth + 1)
            return Logic("not", (child,)) if child is not None else None
        if not isinstance(raw, list) or not raw:
            self.err(path, "bad-condition", f"'{key}' takes a non-empty list of conditions")
            return None
        children = [self.parse(item, (*path, i), depth + 1) for i, item in enumerate(raw)]
        if any(c is None for c in children):
            return None
        return Logic(key, tuple(c for c in children if c is not None))

    def parse_leaf(self, raw: dict[str, Any], path: PathKey) -> Node | None:
        name = raw[self.ref_key]
        ops = [k for k in raw if k != self.ref_key]
        for key in ops:
            if key not in COMPARISONS:
                self.err((*path, key), "unknown-operator", f"unknown operator '{key}'", closest(key, COMPARISONS), at_key=True)
                return None
        if len(ops) != 1:
            self.err(path, "bad-condition", "a comparison has exactly one operator (eq, ne, lt, lte, gt, gte, in, not_in, present)")
            return None
        op = ops[0]
        mark = self.doc.mark(path)
        line = mark[0] if mark else None
        if not isinstance(name, str) or name not in self.refs:
            shown = name if isinstance(name, str) else repr(name)
            what = "field" if self.ref_key == "field" else "fact"
            self.err((*path, self.ref_key), f"unknown-{what}", f"unknown {what} '{shown}'", closest(str(name), self.refs))
            return None
        ref = self.refs[name]
        if ref.personal:
            self.err((*path, self.ref_key), "personal-fact", f"'{name}' is personal data and cannot decide anything")
            return None
        value = raw[op]
        where = (*path, op)
        if op == "present":
            if not isinstance(value, bool):
                self.err(where, "type-error", "present: takes true or false")
                return None
            return Leaf(name, op, value, line)
        if ref.type in ("list", "datetime"):
            self.err(where, "type-error", f"'{name}' is a {ref.type}; only 'present' applies to it")
            return None
        if op in ("lt", "lte", "gt", "gte") and ref.type not in _ORDERED:
            self.err(where, "type-error", f"'{op}' compares numbers or dates, but '{name}' is {ref.type}")
            return None
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                self.err(where, "type-error", f"'{op}' takes a non-empty list")
                return None
            checked = [self.literal(ref, name, v, (*where, i)) for i, v in enumerate(value)]
            if any(c is _INVALID for c in checked):
                return None
            return Leaf(name, op, frozenset(checked), line)
        literal = self.literal(ref, name, value, where)
        if literal is _INVALID:
            return None
        return Leaf(name, op, literal, line)

    def literal(self, ref: RefType, name: str, value: Any, path: PathKey) -> Any:
        kind = ref.type
        if kind == "bool":
            if isinstance(value, bool):
                return value
        elif kind in ("integer", "number"):
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value
        elif kind == "date":
            parsed = parse_date(value)
            if parsed is not None:
                return parsed
        elif kind == "enum":
            if isinstance(value, str) and value in ref.values:
                return value
            if isinstance(value, str):
                self.err(
                    path,
                    "unknown-value",
                    f"'{value}' is not a value of '{name}' ({', '.join(ref.values)})",
                    closest(value, ref.values),
                )
                return _INVALID
        elif kind in ("string", "ods_code"):
            if isinstance(value, str):
                return value.upper() if kind == "ods_code" else value
        self.err(path, "type-error", f"cannot compare '{name}' ({kind}) with {value!r}")
        return _INVALID


_INVALID = object()


def parse_condition(
    raw: Any,
    path: PathKey,
    doc: LocatedDocument,
    refs: Mapping[str, RefType],
    criteria: Mapping[str, Any],
    problems: list[PolicyProblem],
    *,
    ref_key: str = "fact",
) -> Node | None:
    """Check a raw condition; None (with problems added) when it is not valid."""
    return _Parser(doc, refs, criteria, problems, ref_key).parse(raw, path)


def build(node: Node) -> Callable[[Env], Tri]:
    """A closure computing the node's three-valued truth from one evaluation's values."""
    if isinstance(node, Ref):
        key = ("c", node.criterion)

        def criterion(env: Env) -> Tri:
            result: Tri = env[key]
            return result

        return criterion
    if isinstance(node, Logic):
        parts = tuple(build(child) for child in node.children)
        if node.op == "not":
            (inner,) = parts

            def negate(env: Env) -> Tri:
                value = inner(env)
                return None if value is None else not value

            return negate
        if node.op == "all":

            def all_of(env: Env) -> Tri:
                result: Tri = True
                for part in parts:
                    value = part(env)
                    if value is False:
                        return False
                    if value is None:
                        result = None
                return result

            return all_of

        def any_of(env: Env) -> Tri:
            result: Tri = False
            for part in parts:
                value = part(env)
                if value is True:
                    return True
                if value is None:
                    result = None
            return result

        return any_of
    return _build_leaf(node)


def _build_leaf(leaf: Leaf) -> Callable[[Env], Tri]:
    name, literal = leaf.ref, leaf.value
    if leaf.op == "present":
        wanted = bool(literal)

        def present(env: Env) -> Tri:
            return (name in env) is wanted

        return present
    if leaf.op in ("in", "not_in"):
        members: frozenset[Any] = literal
        inside = leaf.op == "in"

        def member(env: Env) -> Tri:
            value = env.get(name)
            if value is None:
                return None
            return (value in members) is inside

        return member
    compare = _OPS[leaf.op]

    def comparison(env: Env) -> Tri:
        value = env.get(name)
        if value is None:
            return None
        return bool(compare(value, literal))

    return comparison


def build_filter(node: Node) -> Callable[[Env], bool]:
    """A two-valued closure over one record, for event filters (every field is present)."""
    if isinstance(node, Logic):
        parts = tuple(build_filter(child) for child in node.children)
        if node.op == "not":
            inner = parts[0]
            return lambda record: not inner(record)
        if node.op == "all":

            def every(record: Env) -> bool:
                for part in parts:
                    if not part(record):
                        return False
                return True

            return every

        def some(record: Env) -> bool:
            for part in parts:
                if part(record):
                    return True
            return False

        return some
    if not isinstance(node, Leaf):
        raise TypeError("event filters compare record fields only")
    name, literal, op = node.ref, node.value, node.op
    if op == "present":
        return lambda record: (name in record) is bool(literal)
    if op == "in":
        return lambda record: record[name] in literal
    if op == "not_in":
        return lambda record: record[name] not in literal
    if op == "eq":
        return lambda record: bool(record[name] == literal)
    compare = _OPS[op]
    return lambda record: bool(compare(record[name], literal))


def kleene_all(values: Iterable[Tri]) -> Tri:
    """Three-valued AND: false if any is false, else unknown if any is unknown, else true."""
    result: Tri = True
    for value in values:
        if value is False:
            return False
        if value is None:
            result = None
    return result


def kleene_any(values: Iterable[Tri]) -> Tri:
    """Three-valued OR: true if any is true, else unknown if any is unknown, else false."""
    result: Tri = False
    for value in values:
        if value is True:
            return True
        if value is None:
            result = None
    return result


def referenced_criteria(node: Node) -> list[str]:
    """The criteria a condition refers to directly."""
    if isinstance(node, Ref):
        return [node.criterion]
    if isinstance(node, Logic):
        return [name for child in node.children for name in referenced_criteria(child)]
    return []


def leaves(node: Node) -> list[Leaf]:
    if isinstance(node, Leaf):
        return [node]
    if isinstance(node, Logic):
        return [leaf for child in node.children for leaf in leaves(child)]
    return []


def reads(node: Node, criteria_reads: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Every name the node reads, following criteria, in first-seen order."""
    seen: dict[str, None] = {}

    def walk(n: Node) -> None:
        if isinstance(n, Leaf):
            seen.setdefault(n.ref, None)
        elif isinstance(n, Ref):
            for name in criteria_reads.get(n.criterion, ()):
                seen.setdefault(name, None)
        else:
            for child in n.children:
                walk(child)

    walk(node)
    return tuple(seen)


def missing_inputs(
    node: Node,
    env: Env,
    criteria: Mapping[str, Node],
    groups_of: Callable[[str], tuple[tuple[str, ...], ...]],
    memo: dict[str, frozenset[tuple[str, ...]]] | None = None,
) -> frozenset[tuple[str, ...]]:
    """The absent facts that leave ``node`` unknown (empty when it is known), as groups.

    ``groups_of(name)`` names the facts behind an unknown fact or derived value as groups of
    alternatives: a derived age is missing ``(date_of_birth, age)`` — either will do. Shared
    criteria are worked out once (``memo``), so the cost is linear in the size of the policy.
    """
    if memo is None:
        memo = {}
    if isinstance(node, Ref):
        name = node.criterion
        found = memo.get(name)
        if found is None:
            found = (
                frozenset()
                if env[("c", name)] is not None
                else missing_inputs(criteria[name], env, criteria, groups_of, memo)
            )
            memo[name] = found
        return found
    if isinstance(node, Leaf):
        if _value_of(node, env) is not None:
            return frozenset()
        return frozenset(groups_of(node.ref))
    if _value_of(node, env) is not None:
        return frozenset()
    collected: set[tuple[str, ...]] = set()
    for child in node.children:
        collected |= missing_inputs(child, env, criteria, groups_of, memo)
    return frozenset(collected)


def _value_of(node: Node, env: Env) -> Tri:
    """A node's value over values whose criteria are already worked out (no re-evaluation)."""
    if isinstance(node, Ref):
        result: Tri = env[("c", node.criterion)]
        return result
    if isinstance(node, Leaf):
        return _build_leaf(node)(env)
    parts = [_value_of(child, env) for child in node.children]
    if node.op == "not":
        return None if parts[0] is None else not parts[0]
    return kleene_all(parts) if node.op == "all" else kleene_any(parts)


def render(node: Node, describe: Callable[[str], str] | None = None) -> str:
    """The condition in plain words, e.g. ``age_years is at least 18 and not in_custody``."""
    name_of = describe or (lambda n: n)
    if isinstance(node, Ref):
        return f"[{node.criterion.replace('_', ' ')}]"
    if isinstance(node, Logic):
        if node.op == "not":
            return f"not ({render(node.children[0], describe)})"
        joiner = " and " if node.op == "all" else " or "
        parts = [render(child, describe) for child in node.children]
        text = joiner.join(parts)
        return f"({text})" if len(parts) > 1 else text
    if node.op == "present":
        return f"{name_of(node.ref)} is {'known' if node.value else 'not known'}"
    if node.op in ("in", "not_in"):
        values = ", ".join(sorted(_show(v) for v in node.value))
        return f"{name_of(node.ref)} {_WORDS[node.op]} {values}"
    if node.value is True and node.op == "eq":
        return f"{name_of(node.ref)}"
    if node.value is False and node.op == "eq":
        return f"not {name_of(node.ref)}"
    return f"{name_of(node.ref)} {_WORDS[node.op]} {_show(node.value)}"


def _show(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
