"""Impact analysis: what a change of policy does to a caseload, before it is made.

Every referral of a caseload (JSON Lines, one facts object per line) is decided under both
versions, in parallel worker processes as ``recnav-rules evaluate --batch`` does. The report:
how many referrals change outcome, by transition (old -> new) with counts, the rules whose
truth changed for them, example line numbers; next steps whose due date moved; lines one
version refuses and the other decides; and a structural diff of the two policies (rules added,
removed or changed; thresholds moved).

The JSON form is a contract::

    {"changed": N, "compared": N, "transitions": [{"from": OUTCOME, "to": OUTCOME, "count": N,
     "rules": [{"rule": ID, "count": N}], "examples": [LINE, ...]}], "due_dates": [...],
     "errors": {...}, "structure": {...}}
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recnav_rules.assurance._engine import CompiledPolicy, Leaf, Logic, Node, Ref
from recnav_rules.batch import evaluate_many
from recnav_rules.errors import PolicyError
from recnav_rules.policy import Policy

__all__ = ["Impact", "impact", "structural_diff"]

EXAMPLES = 5
"""Example line numbers kept per transition or moved due date."""


@dataclass(slots=True)
class _Transition:
    old: str
    new: str
    count: int = 0
    rules: Counter[str] = field(default_factory=Counter)
    examples: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.old,
            "to": self.new,
            "count": self.count,
            "rules": [{"rule": rule, "count": n} for rule, n in sorted(self.rules.items(), key=lambda kv: (-kv[1], kv[0]))],
            "examples": self.examples,
        }


@dataclass(slots=True)
class Impact:
    old: dict[str, str]
    new: dict[str, str]
    as_of: dt.date
    compared: int = 0
    changed: int = 0
    completeness_changed: int = 0
    transitions: dict[tuple[str, str], _Transition] = field(default_factory=dict)
    due_dates: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, list[int]] = field(default_factory=lambda: {"both": [], "old_only": [], "new_only": []})
    structure: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "as_of": self.as_of.isoformat(),
            "compared": self.compared,
            "changed": self.changed,
            "completeness_changed": self.completeness_changed,
            "transitions": [t.to_dict() for t in sorted(self.transitions.values(), key=lambda t: (-t.count, t.old, t.new))],
            "due_dates": [{"action": action, **moved} for action, moved in sorted(self.due_dates.items())],
            "errors": {key: {"count": len(lines), "examples": lines[:EXAMPLES]} for key, lines in self.errors.items()},
            "structure": self.structure,
        }

    def text(self) -> str:
        data = self.to_dict()
        lines = [
            f"{self.old['id']} {self.old['version']} -> {self.new['id']} {self.new['version']} (as of {self.as_of.isoformat()}):"
            f" {self.changed} of {self.compared} referral(s) change outcome"
            + (f"; {self.completeness_changed} more change completeness only" if self.completeness_changed else "")
        ]
        for t in data["transitions"]:
            rules = ", ".join(f"{r['rule']} ({r['count']})" for r in t["rules"]) or "none"
            lines.append(f"  {t['from']} -> {t['to']}: {t['count']}; rules whose truth changed: {rules}; e.g. line(s) {_lines(t['examples'])}")
        for moved in data["due_dates"]:
            lines.append(f"  next step {moved['action']}: due date moved for {moved['count']}; e.g. " + "; ".join(f"line {e['line']}: {e['from']} -> {e['to']}" for e in moved["examples"]))
        for key, found in data["errors"].items():
            if found["count"]:
                lines.append(f"  bad facts ({key.replace('_', ' ')}): {found['count']}; e.g. line(s) {_lines(found['examples'])}")
        lines.append("  structure:")
        lines += [f"    {line}" for line in _structure_lines(self.structure)] or ["    no change to rules, criteria, derived values or next steps"]
        return "\n".join(lines) + "\n"

    def markdown(self) -> str:
        data = self.to_dict()
        out = [
            f"# Impact of {self.old['id']} {self.old['version']} -> {self.new['id']} {self.new['version']}",
            "",
            f"As of {self.as_of.isoformat()}: **{self.changed}** of {self.compared} referrals change outcome.",
            "",
            "| from | to | referrals | rules whose truth changed | example lines |",
            "|---|---|---|---|---|",
        ]
        for t in data["transitions"]:
            rules = ", ".join(f"`{r['rule']}` ({r['count']})" for r in t["rules"]) or "none"
            out.append(f"| {t['from']} | {t['to']} | {t['count']} | {rules} | {_lines(t['examples'])} |")
        if data["due_dates"]:
            out += ["", "## Next-step due dates", "", "| step | moved | examples |", "|---|---|---|"]
            for moved in data["due_dates"]:
                examples = "; ".join(f"line {e['line']}: {e['from']} → {e['to']}" for e in moved["examples"])
                out.append(f"| {moved['action']} | {moved['count']} | {examples} |")
        out += ["", "## Policy changes", ""]
        out += [f"- {line}" for line in _structure_lines(self.structure)] or ["- none"]
        return "\n".join(out) + "\n"


def _lines(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers) or "-"


def _structure_lines(structure: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for kind, label in (("rules", "rule"), ("criteria", "criterion"), ("derived", "derived value"), ("next_steps", "next step")):
        part = structure.get(kind, {})
        for name in part.get("added", []):
            lines.append(f"{label} {name} added")
        for name in part.get("removed", []):
            lines.append(f"{label} {name} removed")
        for change in part.get("changed", []):
            lines.append(f"{label} {change['id']} changed: {'; '.join(change['what'])}")
    for fallback in structure.get("fallbacks", []):
        lines.append(f"{fallback['id']} outcome {fallback['old']} -> {fallback['new']}")
    if structure.get("order_changed"):
        lines.append("rule priority order changed")
    for threshold in structure.get("thresholds", []):
        lines.append(f"threshold in {threshold['in']}: {threshold['fact']} {threshold['old']} -> {threshold['new']}")
    return lines


# --- the structural diff -------------------------------------------------------------------------


def _render(node: Node) -> str:
    if isinstance(node, Leaf):
        value = sorted(str(v) for v in node.value) if isinstance(node.value, frozenset) else node.value
        return f"{node.ref} {node.op} {_plain(value)}"
    if isinstance(node, Ref):
        return f"criterion {node.criterion}"
    assert isinstance(node, Logic)
    if node.op == "not":
        return f"not ({_render(node.children[0])})"
    return f"{node.op}(" + ", ".join(_render(c) for c in node.children) + ")"


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    return str(value)


def _leaves(node: Node) -> list[Leaf]:
    if isinstance(node, Leaf):
        return [node]
    if isinstance(node, Logic):
        return [leaf for child in node.children for leaf in _leaves(child)]
    return []


def _thresholds(where: str, old: Node, new: Node) -> list[dict[str, Any]]:
    """Comparisons of the same fact, in the same place, whose operator or literal moved."""
    old_leaves, new_leaves = _leaves(old), _leaves(new)
    if len(old_leaves) != len(new_leaves):
        return []
    found = []
    for a, b in zip(old_leaves, new_leaves, strict=True):
        if a.ref == b.ref and (a.op, a.value) != (b.op, b.value):
            found.append({"in": where, "fact": a.ref, "old": f"{a.op} {_plain(_listed(a.value))}", "new": f"{b.op} {_plain(_listed(b.value))}"})
    return found


def _listed(value: Any) -> Any:
    return sorted(value, key=str) if isinstance(value, frozenset) else value


def structural_diff(old: CompiledPolicy, new: CompiledPolicy) -> dict[str, Any]:
    """Rules, criteria, derived values and next steps added, removed or changed; thresholds moved."""
    result: dict[str, Any] = {"thresholds": []}

    def compare(kind: str, before: dict[str, Any], after: dict[str, Any], describe: Any) -> None:
        changed = []
        for name in before:
            if name in after:
                what = describe(before[name], after[name])
                if what:
                    changed.append({"id": name, "what": what})
        result[kind] = {
            "added": [n for n in after if n not in before],
            "removed": [n for n in before if n not in after],
            "changed": changed,
        }

    def rule_change(a: Any, b: Any) -> list[str]:
        what = []
        if a.node != b.node:
            what.append(f"condition {_render(a.node)} -> {_render(b.node)}")
            result["thresholds"].extend(_thresholds(f"rule {a.id}", a.node, b.node))
        if a.outcome != b.outcome:
            what.append(f"outcome {a.outcome.value} -> {b.outcome.value}")
        if a.signposts != b.signposts:
            what.append(f"signposts {list(a.signposts)} -> {list(b.signposts)}")
        return what

    def criterion_change(a: Any, b: Any) -> list[str]:
        if a.node == b.node:
            return []
        result["thresholds"].extend(_thresholds(f"criterion {a.id}", a.node, b.node))
        return [f"condition {_render(a.node)} -> {_render(b.node)}"]

    def derived_change(a: Any, b: Any) -> list[str]:
        what = []
        if (a.kind, dict(a.params)) != (b.kind, dict(b.params)):
            what.append(f"{a.kind} {_plain(json.dumps(dict(a.params), default=str, sort_keys=True))} -> {b.kind} {json.dumps(dict(b.params), default=str, sort_keys=True)}")
        if a.alternative != b.alternative:
            what.append(f"alternative {a.alternative} -> {b.alternative}")
        return what

    def step_change(a: Any, b: Any) -> list[str]:
        what = []
        if (a.amount, a.unit) != (b.amount, b.unit):
            what.append(f"due {a.amount} {a.unit} -> {b.amount} {b.unit}")
        if (a.after_fact, a.after_step) != (b.after_fact, b.after_step):
            what.append(f"counted from {a.after_fact or a.after_step} -> {b.after_fact or b.after_step}")
        if a.on != b.on:
            what.append(f"on {[o.value for o in a.on]} -> {[o.value for o in b.on]}")
        return what

    compare("rules", {r.id: r for r in old.rules}, {r.id: r for r in new.rules}, rule_change)
    compare("criteria", {c.id: c for c in old.criteria}, {c.id: c for c in new.criteria}, criterion_change)
    compare("derived", {d.name: d for d in old.derived}, {d.name: d for d in new.derived}, derived_change)
    compare("next_steps", {s.action: s for s in old.next_steps}, {s.action: s for s in new.next_steps}, step_change)
    common = [r.id for r in old.rules if r.id in {n.id for n in new.rules}]
    result["order_changed"] = common != [r.id for r in new.rules if r.id in set(common)]
    for key, before, after in (("otherwise", old.otherwise, new.otherwise), ("incomplete", old.incomplete, new.incomplete)):
        if before.outcome != after.outcome:
            result.setdefault("fallbacks", []).append({"id": key, "old": before.outcome.value, "new": after.outcome.value})
    return result


# --- evaluating the caseload ---------------------------------------------------------------------


def _caseload(path: str | Path) -> Iterator[object]:
    """Each line of a JSON Lines file, parsed (a line that is not JSON is passed on as text,
    so the batch reports it as an error at its own line number)."""
    try:
        handle = open(path, encoding="utf-8")  # closed by the generator
    except OSError as exc:
        raise PolicyError.at(str(path), None, None, "unreadable", f"cannot read caseload: {exc.strerror}") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                yield f"line {number} is not JSON"


def _rule_truths(decision: dict[str, Any]) -> dict[str, str]:
    return {step["id"]: step["value"] for step in decision.get("trace", []) if step.get("kind") == "rule"}


def _dues(decision: dict[str, Any]) -> dict[str, str | None]:
    return {step["action"]: step.get("due") for step in decision.get("next_steps", [])}


def impact(old: Policy, new: Policy, caseload: str | Path, *, as_of: dt.date, jobs: int = 1) -> Impact:
    """Decide every referral of ``caseload`` under both policies and compare."""
    report = Impact(
        {"id": old.id, "version": old.version, "digest": old.digest},
        {"id": new.id, "version": new.version, "digest": new.digest},
        as_of,
    )
    try:
        with open(caseload, "rb"):
            pass
    except OSError as exc:
        raise PolicyError.at(str(caseload), None, None, "unreadable", f"cannot read caseload: {exc.strerror}") from None
    report.structure = structural_diff(old.compiled, new.compiled)
    before = evaluate_many(old, _caseload(caseload), as_of=as_of, jobs=jobs, trace=True)
    after = evaluate_many(new, _caseload(caseload), as_of=as_of, jobs=jobs, trace=True)
    for a, b in zip(before, after, strict=True):
        if not a.ok or not b.ok:
            key = "both" if not a.ok and not b.ok else ("old_only" if not a.ok else "new_only")
            report.errors[key].append(a.line)
            continue
        da, db = a.decision_dict, b.decision_dict
        assert da is not None and db is not None
        report.compared += 1
        if da["outcome"] != db["outcome"]:
            report.changed += 1
            transition = report.transitions.setdefault((da["outcome"], db["outcome"]), _Transition(da["outcome"], db["outcome"]))
            transition.count += 1
            if len(transition.examples) < EXAMPLES:
                transition.examples.append(a.line)
            old_truth, new_truth = _rule_truths(da), _rule_truths(db)
            for rule in dict.fromkeys([*old_truth, *new_truth]):
                if old_truth.get(rule) != new_truth.get(rule):
                    transition.rules[rule] += 1
        elif da["complete"] != db["complete"]:
            report.completeness_changed += 1
        old_due, new_due = _dues(da), _dues(db)
        for action in old_due.keys() & new_due.keys():
            if old_due[action] != new_due[action]:
                moved = report.due_dates.setdefault(action, {"count": 0, "examples": []})
                moved["count"] += 1
                if len(moved["examples"]) < EXAMPLES:
                    moved["examples"].append({"line": a.line, "from": old_due[action], "to": new_due[action]})
    return report
