"""Warnings about policies that load but say something their owner probably did not mean.

- a rule that can never fire because earlier rules always decide first: the rule's condition
  together with "every earlier rule is false" is unsatisfiable. Comparisons are treated as
  independent yes/no variables (``x eq false`` as the negation of ``x eq true``), which can
  only add possibilities, so a rule reported unreachable really is unreachable;
- a fact or criterion declared but never used.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, cast

from recnav_rules.engine.conditions import kleene_all, kleene_any
from recnav_rules.engine.model import CompiledPolicy, Leaf, Logic, Node, Ref, Tri
from recnav_rules.errors import PolicyProblem

__all__ = ["warnings_for"]

Formula = Callable[[dict[int, bool]], Tri]


class _Abstraction:
    """Comparisons as numbered boolean variables; criteria inlined (each built once)."""

    def __init__(self, policy: CompiledPolicy) -> None:
        self.criteria = {c.id: c.node for c in policy.criteria}
        self.variables: dict[tuple[str, str, str], int] = {}
        self.built: dict[str, tuple[Formula, frozenset[int]]] = {}

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

    def formula(self, node: Node) -> tuple[Formula, frozenset[int]]:
        """The node as a function of an assignment, and the variables it reads."""
        if isinstance(node, Ref):
            found = self.built.get(node.criterion)
            if found is None:
                inner, used = self.formula(self.criteria[node.criterion])
                found = self.built[node.criterion] = (_once_per_assignment(inner), used)
            return found
        if isinstance(node, Logic):
            built = [self.formula(child) for child in node.children]
            parts = [f for f, _ in built]
            used = frozenset().union(*(v for _, v in built))
            if node.op == "not":
                inner = parts[0]
                return (lambda a: None if (v := inner(a)) is None else not v), used
            if node.op == "all":
                return (lambda a: kleene_all(p(a) for p in parts)), used
            return (lambda a: kleene_any(p(a) for p in parts)), used
        index, negate = self.var(node)
        return (lambda a: None if index not in a else a[index] is not negate), frozenset((index,))


_stamps = itertools.count()
_STAMP = -1
"""The assignment's key for a number that changes whenever the assignment does."""


def _once_per_assignment(formula: Formula) -> Formula:
    """A criterion used in several places is worked out once per assignment, so criteria that
    share criteria cost linear, not exponential, time."""
    last: list[Any] = [None, None]

    def cached(assignment: dict[int, bool]) -> Tri:
        stamp = assignment.get(_STAMP)
        if stamp is not None and last[0] == stamp:
            return cast(Tri, last[1])
        value = formula(assignment)
        last[0], last[1] = stamp, value
        return value

    return cached


class _Budget:
    """Search steps left for the whole policy (each step weighs the number of rules it evaluates)."""

    def __init__(self, steps: int) -> None:
        self.left = steps

    def spend(self, weight: int) -> bool:
        self.left -= weight
        return self.left >= 0


def _satisfiable(formula: Formula, variables: list[int], budget: _Budget, weight: int) -> bool | None:
    """Whether some assignment of ``variables`` makes ``formula`` true; None when the budget ran
    out. Depth-first, iterative (no recursion however many variables), stopping as soon as the
    formula is decided."""
    assignment: dict[int, Any] = {_STAMP: next(_stamps)}
    stack: list[tuple[int, bool]] = [(0, False), (0, True)] if variables else []
    if not budget.spend(weight):
        return None
    value = formula(assignment)
    if value is not None or not variables:
        return bool(value)
    while stack:
        depth, choice = stack.pop()
        for stale in variables[depth:]:
            assignment.pop(stale, None)
        assignment[variables[depth]] = choice
        assignment[_STAMP] = next(_stamps)
        if not budget.spend(weight):
            return None
        value = formula(assignment)
        if value is True:
            return True
        if value is None and depth + 1 < len(variables):
            stack.append((depth + 1, False))
            stack.append((depth + 1, True))
    return False


def _none_fire(own: Formula | None, before: list[Formula]) -> Formula:
    """``own`` holds (when given) and none of the ``before`` rules does."""

    def fires(assignment: dict[int, bool]) -> Tri:
        result: Tri = True if own is None else own(assignment)
        if result is False:
            return False
        for earlier in before:
            value = earlier(assignment)
            if value is True:
                return False  # an earlier rule decides: stop at once
            if value is None:
                result = None
        return result

    return fires


SEARCH_BUDGET = 5_000_000
"""Rule evaluations the unreachable-rule search may spend on one policy (about 2 s here)."""


class _Components:
    """Union-find over variables: rules that share no variable cannot constrain each other."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, item: int) -> int:
        root = self.parent.setdefault(item, item)
        while root != self.parent[root]:
            root = self.parent[root]
        while item != root:
            self.parent[item], item = root, self.parent[item]
        return root

    def join(self, items: frozenset[int]) -> int | None:
        roots = [self.find(i) for i in items]
        for other in roots[1:]:
            self.parent[self.find(other)] = self.find(roots[0])
        return self.find(roots[0]) if roots else None


def _unreachable(policy: CompiledPolicy) -> list[PolicyProblem]:
    """A rule is unreachable when it cannot hold while every earlier rule fails. Rules are
    grouped by shared variables, so each check involves only the earlier rules that can
    interfere; ``blocked`` notes when the earlier rules always decide between them."""
    abstraction = _Abstraction(policy)
    components = _Components()
    budget = _Budget(SEARCH_BUDGET)
    problems: list[PolicyProblem] = []
    earlier: list[tuple[Formula, frozenset[int]]] = []
    blocked = False

    def group(used: frozenset[int]) -> tuple[list[Formula], list[int]]:
        root = components.join(used)
        members = [(f, v) for f, v in earlier if v and root is not None and components.find(next(iter(v))) == root]
        variables = sorted(used.union(*(v for _, v in members)))
        return [f for f, _ in members], variables

    for rule in policy.rules:
        own, used = abstraction.formula(rule.node)
        if blocked:
            found: bool | None = False
        else:
            before, variables = group(used)
            found = _satisfiable(_none_fire(own, before), variables, budget, len(before) + 1)
        if found is None:
            problems.append(
                PolicyProblem(
                    policy.file, rule.line, None, "search-stopped",
                    f"the unreachable-rule search stopped at rule '{rule.id}' after {SEARCH_BUDGET:,} steps: "
                    "it and the rules after it were not checked",
                    severity="note",
                )
            )
            return problems
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
        earlier.append((own, used))
        if not blocked:
            # Can every rule so far fail at once? If not, earlier rules always decide.
            before, variables = group(used)
            still = _satisfiable(_none_fire(None, before), variables, budget, len(before))
            blocked = still is False
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
    """Every warning for one compiled policy (and a ``note`` when a check could not finish)."""
    try:
        reachability = _unreachable(policy)
    except RecursionError:
        reachability = [
            PolicyProblem(policy.file, policy.line, None, "search-stopped", "conditions nest too deeply for the unreachable-rule search; it was skipped", severity="note")
        ]
    return reachability + _unused(policy)

