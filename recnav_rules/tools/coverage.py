"""Rule coverage: which rules and which comparisons the test cases made true, false, unknown.

For every case that produced a decision, the policy's values are worked out again (facts,
defaults, derived values, criteria) and every rule and every comparison in rules and criteria
is evaluated against them. A rule is *covered* when some case made it true and some case made
it false; each comparison's report says which of true / false / unknown were seen. Gaps are
listed with the file and line of the rule or comparison.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from recnav_rules._version import __version__
from recnav_rules.engine import conditions
from recnav_rules.engine.evaluator import Evaluator, truth_text
from recnav_rules.engine.model import CompiledPolicy, Leaf, Node
from recnav_rules.tools.cases import CaseResult

__all__ = ["Coverage", "Item", "measure"]

VALUES = ("true", "false", "unknown")


@dataclass(slots=True)
class Item:
    """One rule or comparison, and the values the cases gave it."""

    kind: str
    """rule or condition."""
    label: str
    file: str
    line: int | None
    seen: set[str] = field(default_factory=set)

    @property
    def where(self) -> str:
        file = os.path.relpath(self.file) if os.path.isabs(self.file) and self.file.startswith(os.getcwd()) else self.file
        return f"{file}:{self.line}" if self.line else file

    def gaps(self) -> list[str]:
        return [v for v in VALUES if v not in self.seen]


@dataclass(slots=True)
class Coverage:
    policy_id: str
    rules: list[Item]
    conditions: list[Item]
    criteria: list[Item] = field(default_factory=list)
    cases: int = 0

    @property
    def rule_percent(self) -> float:
        """Percentage of rules seen both true and false."""
        return _both_ways(self.rules)

    @property
    def criteria_percent(self) -> float:
        """Percentage of criteria seen both true and false."""
        return _both_ways(self.criteria)

    @property
    def condition_percent(self) -> float:
        """Percentage of (comparison, value) pairs seen, over true / false / unknown."""
        if not self.conditions:
            return 100.0
        seen = sum(len(item.seen & set(VALUES)) for item in self.conditions)
        return 100.0 * seen / (3 * len(self.conditions))

    def report(self) -> str:
        lines = [
            f"coverage of {self.policy_id} over {self.cases} case(s): rules {self.rule_percent:.1f}%"
            f" (true and false), criteria {self.criteria_percent:.1f}% (true and false),"
            f" conditions {self.condition_percent:.1f}% (true / false / unknown)"
        ]
        for item in [*self.rules, *self.criteria]:
            gaps = item.gaps()
            if gaps:
                lines.append(f"  {item.where}: {item.kind} {item.label} never {' / '.join(gaps)}")
        for item in self.conditions:
            gaps = item.gaps()
            if gaps:
                lines.append(f"  {item.where}: condition {item.label} never {' / '.join(gaps)}")
        return "\n".join(lines)


def _both_ways(items: list[Item]) -> float:
    if not items:
        return 100.0
    return 100.0 * sum(1 for item in items if {"true", "false"} <= item.seen) / len(items)


def _leaves_with_owner(policy: CompiledPolicy) -> list[tuple[str, Leaf]]:
    found: list[tuple[str, Leaf]] = []

    def walk(owner: str, node: Node) -> None:
        for leaf in conditions.leaves(node):
            found.append((owner, leaf))

    for criterion in policy.criteria:
        walk(f"criterion {criterion.id}", criterion.node)
    for rule in policy.rules:
        walk(f"rule {rule.id}", rule.node)
    return found


def measure(policy: CompiledPolicy, results: Iterable[CaseResult]) -> Coverage:
    """Coverage of one policy by the cases (results of other policies are ignored)."""
    evaluator = Evaluator(policy, __version__)
    rules = [Item("rule", rule.id, policy.file, rule.line) for rule in policy.rules]
    leaves = _leaves_with_owner(policy)
    items = [
        Item("condition", f"'{conditions.render(leaf)}' in {owner}", policy.file, leaf.line) for owner, leaf in leaves
    ]
    runners = [conditions.build(leaf) for _, leaf in leaves]
    criteria = [Item("criterion", c.id, policy.file, c.line) for c in policy.criteria]
    coverage = Coverage(policy.id, rules, items, criteria)
    for result in results:
        if result.decision is None or result.decision.policy_digest != policy.digest:
            continue
        coverage.cases += 1
        env, *_ = evaluator.prepare(result.case.facts, result.case.as_of)
        for item, criterion in zip(criteria, policy.criteria, strict=True):
            env[("c", criterion.id)] = criterion.value(env)
            item.seen.add(truth_text(env[("c", criterion.id)]))
        for item, rule in zip(rules, policy.rules, strict=True):
            item.seen.add(truth_text(rule.value(env)))
        for item, run in zip(items, runners, strict=True):
            item.seen.add(truth_text(run(env)))
    return coverage
