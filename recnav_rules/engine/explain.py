"""A decision in plain English, rendered from its recorded reasons and trace.

This is a rendering, not a second computation: everything said here is read off the
decision, so the explanation and the JSON can never disagree.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recnav_rules.decision import Decision, Reason

__all__ = ["explain"]

_HEADLINE = {
    "accept": "ACCEPT: the referral meets the criteria for this service.",
    "reject": "REJECT: the referral cannot be accepted by this service.",
    "signpost": "SIGNPOST: this service is not the right one; the person should be pointed elsewhere.",
}


def _wrap(text: str, indent: str, hang: str = "") -> list[str]:
    return textwrap.wrap(text, width=96, initial_indent=indent, subsequent_indent=indent + hang) or [indent]


def _basis(reason: Reason, indent: str) -> list[str]:
    if reason.assumption is not None:
        return _wrap(f"Assumption (the source is silent): {reason.assumption}", indent)
    return _wrap(f'Source: {reason.source}: "{reason.quote}"', indent)


def _show(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, list):
        return f"{len(value)} record{'s' if len(value) != 1 else ''}"
    return str(value)


def explain(decision: Decision) -> str:
    lines: list[str] = []
    lines.append(f"Policy: {decision.policy_title} ({decision.policy_id} {decision.policy_version})")
    lines.append(f"Decision as of {decision.as_of.isoformat()}")
    lines.append("")
    lines.append(_HEADLINE[decision.outcome.value])
    if not decision.complete:
        missing = ", ".join(decision.missing_facts) or "(see notes)"
        lines.extend(
            _wrap(
                "The facts given do not settle the decision, so the policy's rule for missing"
                f" information applies. Missing: {missing}.",
                "",
            )
        )
    lines.append("")
    lines.append("Why:")
    for number, reason in enumerate(decision.reasons, start=1):
        lines.extend(_wrap(f"{number}. {reason.text} [{reason.rule_id}]", "  ", "   "))
        lines.extend(_basis(reason, "     "))
    if decision.signposts:
        lines.append("")
        lines.append("Signpost to:")
        for sign in decision.signposts:
            detail = f" ({sign.offers})" if sign.offers else ""
            lines.extend(_wrap(f"- {sign.name}{detail} [{sign.service_id}]", "  ", "  "))
    if decision.next_steps:
        lines.append("")
        lines.append("Next steps:")
        for step in decision.next_steps:
            due = step.due.isoformat() if step.due else "no date yet"
            window = f" (window opens {step.window_start.isoformat()})" if step.window_start else ""
            status = f"; {step.status}" if step.status else ""
            actual = f", happened {step.actual.isoformat()}" if step.actual else ""
            lines.extend(_wrap(f"- {step.description} Due {due}{window}{actual}{status}. [{step.action}]", "  ", "  "))
    if decision.notes:
        lines.append("")
        lines.append("Notes:")
        for note in decision.notes:
            lines.extend(_wrap(f"- {note}", "  ", "  "))
    lines.append("")
    lines.append("How each check came out (true / false / unknown):")
    for checked in decision.trace:
        label = "criterion" if checked.kind == "criterion" else f"rule -> {checked.outcome.value if checked.outcome else ''}"
        lines.extend(_wrap(f"- {checked.id} ({label}): {checked.value.upper()}. {checked.text}", "  ", "  "))
        read = "; ".join(
            f"{f.name} = {_show(f.value)}" + ("" if f.how == "given" else f" ({f.how})")
            if f.how != "missing"
            else f"{f.name} not given"
            for f in checked.facts
        )
        if read:
            lines.extend(_wrap(f"read: {read}", "      "))
    if decision.defaults_used:
        lines.append("")
        lines.append("Defaults the policy filled in (not given): " + ", ".join(decision.defaults_used))
    if decision.personal_facts_withheld:
        lines.append(
            "Personal details were checked and withheld from this record: "
            + ", ".join(decision.personal_facts_withheld)
        )
    lines.append("")
    lines.append(f"Policy digest: sha256:{decision.policy_digest}")
    lines.append(f"Facts digest:  sha256:{decision.facts_digest}")
    for name, info in decision.reference_data.items():
        details = ", ".join(f"{k} {v}" for k, v in info.items())
        lines.append(f"Reference data {name}: {details}")
    lines.append(f"Engine: {decision.engine} {decision.engine_version}")
    return "\n".join(lines) + "\n"
