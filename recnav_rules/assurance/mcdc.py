"""MC/DC: do the cases show each condition's parts independently deciding it?

For every rule and criterion whose condition has two or more parts (comparisons or criterion
references), each part must be shown to matter by a pair of cases. This module uses
**masking MC/DC** (as in DO-178C guidance, CAST-6): a pair of cases shows a part when

- the part is true in one case and false in the other,
- the condition is true in one and false in the other, and
- in each case, flipping only that part (the others as they were) would change the condition
  (to its opposite, or to unknown): the other parts do not mask it.

**Unique-cause MC/DC** (every other part equal in both cases) is stricter and impossible when
two parts read the same fact; it is reported too, as information. Values are three-valued: a
part or condition that is unknown in a case shows nothing in that case. Each part's truth is
worked out from the values the decision's trace shows it read.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from recnav_rules.assurance._engine import (
    CompiledPolicy,
    Condition,
    Leaf,
    Operand,
    Ref,
    TraceValues,
    Tri,
    conditions_of,
    leaf_truth,
    node_truth,
    operands,
    trace_values,
)
from recnav_rules.decision import Decision

__all__ = ["McdcReport", "Part", "measure", "report_for_results"]

VARIANT = "masking"


@dataclass(slots=True)
class Part:
    """One part of a condition, and whether the cases show it independently affecting it."""

    owner: str
    label: str
    file: str
    line: int | None
    masking: bool = False
    unique_cause: bool = False
    pair: tuple[str, str] | None = None
    """The two cases that show it (masking), by name."""

    @property
    def where(self) -> str:
        file = os.path.relpath(self.file) if os.path.isabs(self.file) and self.file.startswith(os.getcwd()) else self.file
        return f"{file}:{self.line}" if self.line else file

    def to_dict(self) -> dict[str, Any]:
        return {
            "condition": self.owner,
            "part": self.label,
            "file": self.file,
            "line": self.line,
            "shown": self.masking,
            "unique_cause": self.unique_cause,
            "pair": list(self.pair) if self.pair else None,
        }


@dataclass(slots=True)
class McdcReport:
    policy_id: str
    cases: int = 0
    parts: list[Part] = field(default_factory=list)

    @property
    def percent(self) -> float:
        if not self.parts:
            return 100.0
        return 100.0 * sum(1 for p in self.parts if p.masking) / len(self.parts)

    @property
    def unique_cause_percent(self) -> float:
        if not self.parts:
            return 100.0
        return 100.0 * sum(1 for p in self.parts if p.unique_cause) / len(self.parts)

    def text(self) -> str:
        lines = [
            f"MC/DC ({VARIANT}) of {self.policy_id} over {self.cases} case(s): {self.percent:.1f}% of"
            f" {len(self.parts)} part(s) of conditions with two or more parts shown"
            f" (unique-cause: {self.unique_cause_percent:.1f}%)"
        ]
        lines += [f"  {p.where}: {p.label} in {p.owner} not shown to affect it independently" for p in self.parts if not p.masking]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy_id,
            "variant": VARIANT,
            "cases": self.cases,
            "percent": round(self.percent, 2),
            "unique_cause_percent": round(self.unique_cause_percent, 2),
            "parts": [p.to_dict() for p in self.parts],
        }


def _label(operand: Operand) -> str:
    if isinstance(operand, Ref):
        return f"criterion {operand.criterion}"
    value = operand.value
    if isinstance(value, frozenset):
        shown = "[" + ", ".join(sorted(str(v) for v in value)) + "]"
    elif isinstance(value, bool):
        shown = "true" if value else "false"
    elif isinstance(value, dt.date):
        shown = value.isoformat()
    else:
        shown = str(value)
    return f"'{operand.ref} {operand.op} {shown}'"


def _truths(operand_list: Sequence[Operand], seen: TraceValues) -> list[Tri]:
    return [
        seen.criteria.get(o.criterion) if isinstance(o, Ref) else leaf_truth(o, seen.values) if isinstance(o, Leaf) else None
        for o in operand_list
    ]


def _evaluate(condition: Condition, truths: Sequence[Tri]) -> Tri:
    return node_truth(condition.node, lambda _operand, index: truths[index])[0]


def _determines(condition: Condition, truths: list[Tri], index: int) -> bool:
    """Flipping part ``index`` alone changes the (known) condition.

    The flipped value may be unknown: in ``all(X present, X not in [...])`` with X absent, the
    guard alone makes the condition false, and flipping it leaves it unknown — the guard is
    what decided it, though its sibling can never be known while it is false.
    """
    here = _evaluate(condition, truths)
    flipped = list(truths)
    flipped[index] = not truths[index]
    return here is not None and _evaluate(condition, flipped) != here


def measure(policy: CompiledPolicy, decisions: Iterable[tuple[str, Decision]]) -> McdcReport:
    """MC/DC of ``policy`` over named decisions (those of other policies are ignored)."""
    report = McdcReport(policy.id)
    seen: list[tuple[str, TraceValues]] = [
        (name, trace_values(decision)) for name, decision in decisions if decision.policy_digest == policy.digest
    ]
    report.cases = len(seen)
    for condition in conditions_of(policy):
        parts = operands(condition.node)
        if len(parts) < 2:
            continue
        rows: list[tuple[str, list[Tri], Tri]] = []
        for name, values in seen:
            truths = _truths(parts, values)
            rows.append((name, truths, _evaluate(condition, truths)))
        for index, operand in enumerate(parts):
            part = Part(condition.owner, _label(operand), policy.file, operand.line if isinstance(operand, Leaf) else condition.line)
            for (name_a, a, out_a), (name_b, b, out_b) in itertools.combinations(rows, 2):
                if a[index] is None or b[index] is None or a[index] == b[index]:
                    continue
                if out_a is None or out_b is None or out_a == out_b:
                    continue
                if not (_determines(condition, a, index) and _determines(condition, b, index)):
                    continue
                if not part.masking:
                    part.masking, part.pair = True, (name_a, name_b)
                if all(x == y for k, (x, y) in enumerate(zip(a, b, strict=True)) if k != index):
                    part.unique_cause = True
                    break
            report.parts.append(part)
    return report


def report_for_results(results: Sequence[Any]) -> tuple[str, bool]:
    """For ``recnav-rules test --mcdc``: the report for each policy the case results cover,
    and whether every part was shown."""
    from recnav_rules.tools.cases import policy_for

    text: list[str] = []
    complete = True
    done: set[str] = set()
    named = [(f"{r.case.location} {r.case.name}", r.decision) for r in results if r.decision is not None]
    for result in results:
        if result.decision is None or result.decision.policy_digest in done:
            continue
        done.add(result.decision.policy_digest)
        report = measure(policy_for(result.case).compiled, named)
        text.append(report.text())
        complete = complete and report.percent >= 100.0
    return "".join(text), complete
