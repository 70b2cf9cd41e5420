"""Warnings about policies that load but say something their owner probably did not mean.

- a rule that can never fire because earlier rules always decide first: the rule's condition
  together with "every earlier rule is false" is unsatisfiable. Comparisons are treated as
  independent yes/no variables (``x eq false`` as the negation of ``x eq true``), which can
  only add possibilities, so a rule reported unreachable really is unreachable;
- a fact or criterion declared but never used.
"""

from __future__ import annotations

from collections.abc import Callable

from recnav_rules.engine.conditions import kleene_all, kleene_any
from recnav_rules.engine.model import CompiledPolicy, Leaf, Logic, Node, Ref, Tri
from recnav_rules.errors import PolicyProblem

__all__ = ["warnings_for"]

Formula = Callable[[dict[int, bool]], Tri]


class _Abstraction:
    """Comparisons as numbered boolean variables; criteria inlined."""

    def __init__(self, policy: CompiledPolicy) -> None:
        self.criteria = {c.id: c.node for c in policy.criteria}
        self.variables: dict[tuple[str, str, str], int] = {}

    def var(self, leaf: Leaf) -> tuple[int, bool]:
        op, value = leaf.op, leaf.value
        negate = False
        if value is False and op in ("eq", "ne"):
            value, negate = True, True
        if op == "ne":
            op, negate = "eq", not negate
        if op == "not_in":
            op, negate = "in", not negate
        key = (leaf.ref, op, repr(sorted(value, key=repr)) if isinstance(value, frozenset) else repr(value))
        index = self.variables.setdefault(key, len(self.variables))
        return index, negate

    def formula(self, node: Node) -> Formula:
        if isinstance(node, Ref):
            return self.formula(self.criteria[node.criterion])
        if isinstance(node, Logic):
            parts = [self.formula(child) for child in node.children]
            if node.op == "not":
                inner = parts[0]
                return lambda a: None if (v := inner(a)) is None else not v
            if node.op == "all":
                return lambda a: kleene_all(p(a) for p in parts)
            return lambda a: kleene_any(p(a) for p in parts)
        index, negate = self.var(node)
        return lambda a: None if index not in a else a[index] is not negate


def _satisfiable(formula: Formula, count: int, budget: list[int]) -> bool | None:
    """Whether some assignment makes ``formula`` true; None when the search budget ran out."""

    def search(assignment: dict[int, bool], next_var: int) -> bool | None:
        budget[0] -= 1
        if budget[0] < 0:
            return None
        value = formula(assignment)
        if value is not None:
            return value
        if next_var >= count:
            return False
        for choice in (True, False):
            assignment[next_var] = choice
            found = search(assignment, next_var + 1)
            del assignment[next_var]
            if found is None or found:
                return found
        return False

    return search({}, 0)


def _rule_fires(own: Formula, before: list[Formula]) -> Formula:
    """The rule holds and every earlier rule does not."""

    def fires(assignment: dict[int, bool]) -> Tri:
        parts: list[Tri] = [own(assignment)]
        for earlier in before:
            value = earlier(assignment)
            parts.append(None if value is None else not value)
        return kleene_all(parts)

    return fires


def _unreachable(policy: CompiledPolicy) -> list[PolicyProblem]:
    abstraction = _Abstraction(policy)
    problems: list[PolicyProblem] = []
    earlier: list[Formula] = []
    for rule in policy.rules:
        own = abstraction.formula(rule.node)
        before = list(earlier)
        combined = _rule_fires(own, before)
        found = _satisfiable(combined, len(abstraction.variables), [200_000])
        if found is False:
            problems.append(
                PolicyProblem(
                    policy.file,
                    rule.line,
                    None,
                    "unreachable-rule",
                    f"rule '{rule.id}' can never fire: earlier rules always decide first",
                    severity="warning",
                )
            )
        earlier.append(own)
    return problems


def _unused(policy: CompiledPolicy) -> list[PolicyProblem]:
    used: set[str] = set()
    criteria_used: set[str] = set()

    def walk(node: Node) -> None:
        if isinstance(node, Leaf):
            used.add(node.ref)
        elif isinstance(node, Ref):
            criteria_used.add(node.criterion)
        else:
            for child in node.children:
                walk(child)

    for rule in policy.rules:
        walk(rule.node)
    for criterion in policy.criteria:
        walk(criterion.node)
    for derived in policy.derived:
        # Working out a derived value reads its inputs, and checks a given alternative agrees.
        used.update(derived.inputs)
        if derived.alternative:
            used.add(derived.alternative)
    for step in policy.next_steps:
        used.update(n for n in (step.after_fact, step.actual_fact) if n)
    problems: list[PolicyProblem] = []
    for name, fact in policy.facts.items():
        if name not in used and not fact.personal:
            problems.append(
                PolicyProblem(policy.file, fact.line, None, "unused-fact", f"fact '{name}' is declared but never used", severity="warning")
            )
    for criterion in policy.criteria:
        if criterion.id not in criteria_used:
            problems.append(
                PolicyProblem(
                    policy.file, criterion.line, None, "unused-criterion",
                    f"criterion '{criterion.id}' is declared but never used", severity="warning",
                )
            )
    return problems


def warnings_for(policy: CompiledPolicy) -> list[PolicyProblem]:
    """Every warning for one compiled policy."""
    return _unreachable(policy) + _unused(policy)

