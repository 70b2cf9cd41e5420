"""Rule coverage: which rules and which comparisons the test cases made true, false, unknown.

Everything is read off each decision's trace: the value the engine recorded for every criterion
and rule, and for every comparison inside them (``TraceStep.conditions``). The list of
comparisons, reached or not, comes from the compiled policy (``engine_adapter``). A rule is
*covered* when some case made it true and some case made it false; each comparison's report says
which of true / false / unknown were seen. Gaps are listed with the file and line of the rule or
comparison.

Reports: text (``Coverage.report``), JSON (``coverage_json``), LCOV (``lcov``) and Cobertura XML
(``cobertura``), so CI services and editors show the policy file's lines as covered or not.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from recnav_rules.engine.model import CompiledPolicy
from recnav_rules.tools.cases import CaseResult
from recnav_rules.tools.engine_adapter import comparisons

__all__ = ["Coverage", "Item", "cobertura", "coverage_json", "lcov", "measure"]

VALUES = ("true", "false", "unknown")


def display_path(file: str) -> str:
    """A policy file's path relative to the working folder when it lies inside it."""
    if os.path.isabs(file) and file.startswith(os.getcwd() + os.sep):
        return os.path.relpath(file)
    return file


@dataclass(slots=True)
class Item:
    """One rule, criterion or comparison, and how many cases gave it each value."""

    kind: str
    """rule, criterion or condition."""
    label: str
    file: str
    line: int | None
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def seen(self) -> set[str]:
        return set(self.counts)

    @property
    def wanted(self) -> tuple[str, ...]:
        """The values that cover it: true and false for rules and criteria, all three for comparisons."""
        return VALUES if self.kind == "condition" else ("true", "false")

    @property
    def covered(self) -> bool:
        return all(value in self.counts for value in self.wanted)

    @property
    def where(self) -> str:
        file = display_path(self.file)
        return f"{file}:{self.line}" if self.line else file

    def gaps(self) -> list[str]:
        return [v for v in VALUES if v not in self.counts]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.label,
            "file": display_path(self.file),
            "line": self.line,
            "counts": {value: self.counts.get(value, 0) for value in VALUES},
            "covered": self.covered,
        }


@dataclass(slots=True)
class Coverage:
    policy_id: str
    rules: list[Item]
    conditions: list[Item]
    criteria: list[Item] = field(default_factory=list)
    cases: int = 0
    file: str = ""

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy_id,
            "file": display_path(self.file),
            "cases": self.cases,
            "percent": {
                "rules": round(self.rule_percent, 2),
                "criteria": round(self.criteria_percent, 2),
                "conditions": round(self.condition_percent, 2),
            },
            "rules": [item.to_dict() for item in self.rules],
            "criteria": [item.to_dict() for item in self.criteria],
            "conditions": [item.to_dict() for item in self.conditions],
        }


def _both_ways(items: list[Item]) -> float:
    if not items:
        return 100.0
    return 100.0 * sum(1 for item in items if {"true", "false"} <= item.seen) / len(items)


def measure(policy: CompiledPolicy, results: Iterable[CaseResult]) -> Coverage:
    """Coverage of one policy by the cases (results of other policies are ignored)."""
    rules = {rule.id: Item("rule", rule.id, policy.file, rule.line) for rule in policy.rules}
    criteria = {c.id: Item("criterion", c.id, policy.file, c.line) for c in policy.criteria}
    steps = {
        key: [Item("condition", f"'{c.text}' in {c.kind} {c.owner}", policy.file, c.line) for c in found]
        for key, found in comparisons(policy).items()
    }
    items = [item for found in steps.values() for item in found]
    coverage = Coverage(policy.id, list(rules.values()), items, list(criteria.values()), file=policy.file)
    for result in results:
        decision = result.decision
        if decision is None or decision.policy_digest != policy.digest:
            continue
        coverage.cases += 1
        for step in decision.trace:
            (rules if step.kind == "rule" else criteria)[step.id].counts[step.value] += 1
            for item, checked in zip(steps[(step.kind, step.id)], step.conditions, strict=True):
                item.counts[checked.value] += 1
    return coverage


def coverage_json(coverages: Sequence[Coverage]) -> str:
    """Every policy's coverage as one JSON document: percentages, then each item's value counts."""
    return json.dumps({"policies": [c.to_dict() for c in coverages]}, indent=2) + "\n"


@dataclass(frozen=True, slots=True)
class _Line:
    """One policy-file line as a coverage tool sees it: hits, and its values as branches."""

    number: int
    hits: int
    """Cases that evaluated it when everything on it is covered, else 0."""
    branches: int
    taken: int


def _lines(items: Sequence[Item]) -> list[_Line]:
    on_line: dict[int, list[Item]] = {}
    for item in items:
        if item.line is not None:
            on_line.setdefault(item.line, []).append(item)
    found: list[_Line] = []
    for number in sorted(on_line):
        group = on_line[number]
        hits = max(sum(item.counts.values()) for item in group) if all(item.covered for item in group) else 0
        branches = sum(len(item.wanted) for item in group)
        taken = sum(1 for item in group for value in item.wanted if item.counts.get(value))
        found.append(_Line(number, hits, branches, taken))
    return found


def _items(coverage: Coverage) -> list[Item]:
    return [*coverage.rules, *coverage.criteria, *coverage.conditions]


def lcov(coverages: Sequence[Coverage]) -> str:
    """An LCOV tracefile: a policy file's rule, criterion and comparison lines as lines and branches.

    A line's hit count is the number of cases that evaluated it when all it holds is covered,
    else 0 (so an editor marks a half-tested rule as not covered); each value an item must take
    (true and false; for comparisons unknown too) is a branch, taken as often as cases gave it.
    """
    by_file: dict[str, list[Item]] = {}
    for coverage in coverages:
        by_file.setdefault(display_path(coverage.file), []).extend(i for i in _items(coverage) if i.line is not None)
    out: list[str] = []
    for file, items in by_file.items():
        out += ["TN:", f"SF:{file}"]
        for block, item in enumerate(items):
            for branch, value in enumerate(item.wanted):
                count = item.counts.get(value, 0)
                out.append(f"BRDA:{item.line},{block},{branch},{count if count else '-'}")
        lines = _lines(items)
        out += [f"BRF:{sum(line.branches for line in lines)}", f"BRH:{sum(line.taken for line in lines)}"]
        out += [f"DA:{line.number},{line.hits}" for line in lines]
        out += [f"LF:{len(lines)}", f"LH:{sum(1 for line in lines if line.hits)}", "end_of_record"]
    return "\n".join(out) + "\n"


def _rates(lines: Sequence[_Line]) -> dict[str, str]:
    valid, covered = len(lines), sum(1 for line in lines if line.hits)
    branches, taken = sum(line.branches for line in lines), sum(line.taken for line in lines)
    return {
        "line-rate": f"{covered / valid if valid else 1.0:.4f}",
        "branch-rate": f"{taken / branches if branches else 1.0:.4f}",
        "lines-covered": str(covered),
        "lines-valid": str(valid),
        "branches-covered": str(taken),
        "branches-valid": str(branches),
    }


def cobertura(coverages: Sequence[Coverage], *, timestamp_ms: int | None = None) -> str:
    """A Cobertura XML report (what GitLab, Azure DevOps and Jenkins read): one package per policy
    file, one class per policy, lines and branches as in ``lcov``."""
    import time
    import xml.etree.ElementTree as ET

    every = [line for coverage in coverages for line in _lines(_items(coverage))]
    stamp = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    root = ET.Element("coverage", {**_rates(every), "version": "recnav-rules", "timestamp": str(stamp), "complexity": "0"})
    ET.SubElement(ET.SubElement(root, "sources"), "source").text = os.getcwd()
    packages = ET.SubElement(root, "packages")
    by_file: dict[str, list[Coverage]] = {}
    for coverage in coverages:
        by_file.setdefault(display_path(coverage.file), []).append(coverage)
    for file, group in by_file.items():
        lines = [line for coverage in group for line in _lines(_items(coverage))]
        package = ET.SubElement(packages, "package", {"name": file, **_rates(lines), "complexity": "0"})
        classes = ET.SubElement(package, "classes")
        for coverage in group:
            own = _lines(_items(coverage))
            cls = ET.SubElement(classes, "class", {"name": coverage.policy_id, "filename": file, **_rates(own), "complexity": "0"})
            ET.SubElement(cls, "methods")
            xml_lines = ET.SubElement(cls, "lines")
            for line in own:
                percent = round(100 * line.taken / line.branches) if line.branches else 100
                ET.SubElement(xml_lines, "line", {
                    "number": str(line.number), "hits": str(line.hits), "branch": "true",
                    "condition-coverage": f"{percent}% ({line.taken}/{line.branches})",
                })
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
