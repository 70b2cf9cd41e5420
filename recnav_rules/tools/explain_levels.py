"""``evaluate --explain brief|full|fails``: how much of a decision's explanation to print.

``full`` is ``Decision.explain()`` as it is. ``brief`` and ``fails`` are read off the same
decision (its outcome, reasons and trace), never worked out again: brief gives the decision and
the reasons that decided it; fails gives the rules and criteria that did not hold (false or
unknown) with the values they read, the way OPA's ``--explain fails`` shows failed expressions.
"""

from __future__ import annotations

import textwrap

from recnav_rules.decision import Decision, Reason
from recnav_rules.engine.explain import _show  # how the full explanation shows a value read

__all__ = ["LEVELS", "explain_at"]

LEVELS = ("brief", "full", "fails")


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, width=96, initial_indent=indent, subsequent_indent=indent + "  ") or [indent]


def _headline(decision: Decision) -> list[str]:
    settled = "settled by the facts given" if decision.complete else "not settled by the facts given"
    lines = [
        f"{decision.outcome.value.upper()} ({settled})",
        f"Policy: {decision.policy_id} {decision.policy_version}, as of {decision.as_of.isoformat()}",
    ]
    if decision.missing_facts:
        lines.extend(_wrap("Missing: " + ", ".join(decision.missing_facts), ""))
    return lines


def _basis(reason: Reason) -> str:
    if reason.assumption is not None:
        return f"Assumption: {reason.assumption}"
    return f'Source: {reason.source}: "{reason.quote}"'


def brief(decision: Decision) -> str:
    """The decision and the reasons that decided it, with their sources."""
    lines = _headline(decision)
    lines.append("Because:")
    for number, reason in enumerate(decision.reasons, start=1):
        lines.extend(_wrap(f"{number}. {reason.text} [{reason.rule_id}]", "  "))
        lines.extend(_wrap(_basis(reason), "     "))
    return "\n".join(lines) + "\n"


def fails(decision: Decision) -> str:
    """The rules and criteria that did not hold (false or unknown), with what each read."""
    lines = _headline(decision)
    failed = [step for step in decision.trace if step.value != "true"]
    lines.append(f"Did not hold ({len(failed)} of {len(decision.trace)} checks):")
    for step in failed:
        label = "criterion" if step.kind == "criterion" else f"rule -> {step.outcome.value if step.outcome else ''}"
        lines.extend(_wrap(f"- {step.id} ({label}): {step.value.upper()}. {step.text}", "  "))
        read = "; ".join(
            f"{f.name} not given" if f.how == "missing" else f"{f.name} = {_show(f.value)}" + ("" if f.how == "given" else f" ({f.how})")
            for f in step.facts
        )
        if read:
            lines.extend(_wrap(f"read: {read}", "      "))
    return "\n".join(lines) + "\n"


def explain_at(decision: Decision, level: str) -> str:
    """The explanation at ``level``: brief, full or fails."""
    if level == "brief":
        return brief(decision)
    if level == "fails":
        return fails(decision)
    if level == "full":
        return decision.explain()
    raise ValueError(f"unknown explanation level {level!r} (levels: {', '.join(LEVELS)})")
