"""The one place the assurance tools reach past the public API into the engine.

Everything here leans on engine details that the engine's refactoring (issue 9) may move:
the located YAML loader (``engine.source``), the compiled node types (``engine.model``: only
their data fields), and a decision's trace (the values each rule and criterion read). When
the engine changes, this module is the one to fix.

Mutants are compiled through the public ``load_policy`` from a temporary file holding the one
mutated policy, so the engine's own checks run on every mutant exactly as on a real policy.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from recnav_rules.decision import Decision
from recnav_rules.engine.dates import months_before
from recnav_rules.engine.model import CompiledPolicy, Leaf, Logic, Node, Ref, Tri
from recnav_rules.engine.source import LocatedDocument, PathKey, load_yaml_file
from recnav_rules.policies.registry import load_policy
from recnav_rules.policy import Policy

__all__ = [
    "CompiledPolicy",
    "Condition",
    "Leaf",
    "LocatedDocument",
    "Logic",
    "Node",
    "Operand",
    "PathKey",
    "Ref",
    "TraceValues",
    "Tri",
    "compile_policy_data",
    "conditions_of",
    "filter_holds",
    "leaf_truth",
    "load_document",
    "months_before",
    "node_truth",
    "operands",
    "practices_of",
    "register_for",
    "trace_values",
]


def load_document(path: str | Path) -> LocatedDocument:
    """A policy file as plain data with the line and column of every value (PolicyError if bad)."""
    return load_yaml_file(path)


def register_for(pcn_membership: str | None) -> Any:
    """The built-in GP practice register, with a PCN membership file merged in when named."""
    if pcn_membership is None:
        return None
    from recnav_rules.policies.register import builtin_register, load_pcn_membership

    return builtin_register().with_pcn_membership(load_pcn_membership(pcn_membership))


@functools.cache
def _services() -> Any:
    from recnav_rules.policies import registry

    return registry._services()


@functools.cache
def _reference(register: Any) -> Any:
    from recnav_rules.policies import registry

    return registry._reference(register)


def compile_policy_data(
    policy: Mapping[str, Any],
    folder: str,
    *,
    register: Any = None,
    file: str | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> Policy:
    """Compile one policy given as YAML data (a mutant), with every check a real policy meets.

    Fast path: the data goes straight to the engine's compiler (as if read from ``file``),
    skipping a YAML round trip that costs two thirds of the time. Should the compiler's entry
    point change, the data is written as a one-policy file in ``folder`` and loaded through
    the public ``load_policy``. Raises PolicyError when the data is not a valid policy.
    """
    try:
        from recnav_rules.engine.compiler import compile_document

        services, _ = _services()
        doc = LocatedDocument(file or os.path.join(folder, "mutant.yaml"), {"policies": [dict(policy)]})
        compiled = compile_document(
            doc, services=services, reference=_reference(register), parameters=dict(parameters) if parameters else None
        )
    except (ImportError, TypeError, AttributeError):
        return _compile_through_file(policy, folder, register, parameters)
    if len(compiled) != 1:
        return _compile_through_file(policy, folder, register, parameters)
    return Policy(compiled[0])


def _compile_through_file(policy: Mapping[str, Any], folder: str, register: Any, parameters: Mapping[str, Any] | None) -> Policy:
    text = yaml.safe_dump({"policies": [dict(policy)]}, sort_keys=False, allow_unicode=True)
    handle, name = tempfile.mkstemp(suffix=".yaml", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        if parameters:
            return load_policy(name, register=register, parameters=dict(parameters))
        return load_policy(name, register=register)
    finally:
        os.unlink(name)


def copy_data(data: Any) -> Any:
    return copy.deepcopy(data)


# --- conditions of a compiled policy ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition:
    """A rule's or criterion's condition: its tree and where it stands."""

    owner: str
    """``rule <id>`` or ``criterion <id>``."""
    kind: str
    id: str
    node: Node
    line: int | None


def conditions_of(policy: CompiledPolicy) -> Iterator[Condition]:
    for criterion in policy.criteria:
        yield Condition(f"criterion {criterion.id}", "criterion", criterion.id, criterion.node, criterion.line)
    for rule in policy.rules:
        yield Condition(f"rule {rule.id}", "rule", rule.id, rule.node, rule.line)


Operand = Leaf | Ref


def operands(node: Node) -> list[Operand]:
    """The leaves of a condition's boolean expression: comparisons and criterion references."""
    if isinstance(node, Logic):
        found: list[Operand] = []
        for child in node.children:
            found.extend(operands(child))
        return found
    return [node]


def node_truth(node: Node, value_of: Callable[[Operand, int], Tri], start: int = 0) -> tuple[Tri, int]:
    """Kleene truth of ``node`` given each operand's truth (by operand and its index in order).

    Returns (truth, next index), so operands are numbered in the order ``operands`` lists them.
    """
    if isinstance(node, Logic):
        values: list[Tri] = []
        index = start
        for child in node.children:
            value, index = node_truth(child, value_of, index)
            values.append(value)
        if node.op == "not":
            only = values[0]
            return (None if only is None else not only), index
        if node.op == "all":
            if any(v is False for v in values):
                return False, index
            return (None if any(v is None for v in values) else True), index
        if any(v is True for v in values):
            return True, index
        return (None if any(v is None for v in values) else False), index
    return value_of(node, start), start + 1


def leaf_truth(leaf: Leaf, values: Mapping[str, Any]) -> Tri:
    """The three-valued truth of one comparison, given the values read (absent: unknown)."""
    value = values.get(leaf.ref)
    if leaf.op == "present":
        return (value is not None) is bool(leaf.value)
    if value is None:
        return None
    literal = leaf.value
    if leaf.op in ("in", "not_in"):
        return (value in literal) is (leaf.op == "in")
    if isinstance(literal, dt.date) and isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    if leaf.op == "eq":
        return bool(value == literal)
    if leaf.op == "ne":
        return bool(value != literal)
    if leaf.op == "lt":
        return bool(value < literal)
    if leaf.op == "lte":
        return bool(value <= literal)
    if leaf.op == "gt":
        return bool(value > literal)
    return bool(value >= literal)


_TRUTH: dict[str, Tri] = {"true": True, "false": False, "unknown": None}


@dataclass(frozen=True, slots=True)
class TraceValues:
    """What one decision's trace shows: the values read, and each criterion's and rule's truth."""

    values: Mapping[str, Any]
    criteria: Mapping[str, Tri]
    rules: Mapping[str, Tri]


def trace_values(decision: Decision) -> TraceValues:
    values: dict[str, Any] = {}
    criteria: dict[str, Tri] = {}
    rules: dict[str, Tri] = {}
    for step in decision.trace:
        for reading in step.facts:
            if reading.how != "missing":
                values[reading.name] = reading.value
        (criteria if step.kind == "criterion" else rules)[step.id] = _TRUTH[step.value]
    return TraceValues(values, criteria, rules)


# --- reference data and event filters ----------------------------------------------------------


def practices_of(policy: CompiledPolicy, fields: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """Each practice a look-up can return a value for: its code and the named fields.

    A look-up of any field but ``status`` gives nothing for a practice that is not active
    (the engine leaves the value unknown), so only active practices are listed.
    """
    register = policy.reference_data.get("gp_practices")
    if register is None:
        return []
    rows: list[tuple[str, dict[str, Any]]] = []
    for practice in register:
        if practice.status != "active" and fields != ["status"]:
            continue
        rows.append((practice.code, {name: getattr(practice, name, None) for name in fields}))
    return rows


def filter_holds(where: Any, record: Mapping[str, Any]) -> bool:
    """Whether a record with these field values passes an event filter (the policy's YAML form)."""
    if where is None:
        return True
    if "all" in where:
        return all(filter_holds(part, record) for part in where["all"])
    if "any" in where:
        return any(filter_holds(part, record) for part in where["any"])
    if "not" in where:
        return not filter_holds(where["not"], record)
    value = record.get(str(where.get("field")))
    for op, literal in where.items():
        if op == "field":
            continue
        leaf = Leaf(str(where["field"]), op, frozenset(literal) if isinstance(literal, list) else literal)
        return leaf_truth(leaf, {str(where["field"]): value}) is True
    return False
