"""A decision in plain English, rendered from its recorded reasons and trace.

This is a rendering, not a second computation: everything said here is read off the
decision, so the explanation and the JSON can never disagree. Two things come from the
compiled policy the decision names by digest, when this process compiled it: the glossary
(abbreviations are spelt out on first use, never inside a quoted source sentence) and the
parameter values the policy was loaded with.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from recnav_rules.engine.calendar import DAY_0, describe_convention
from recnav_rules.policies.parameters import glossary_for_digest, parameters_for_digest

if TYPE_CHECKING:
    from recnav_rules.decision import Decision, Reason

__all__ = ["Glossary", "explain"]

_HEADLINE = {
    "accept": "ACCEPT: the referral meets the criteria for this service.",
    "reject": "REJECT: the referral cannot be accepted by this service.",
    "signpost": "SIGNPOST: this service is not the right one; the person should be pointed elsewhere.",
}
_QUOTED = re.compile(r'("[^"]*")')
_WORKING_DAYS = "Working days exclude weekends and public holidays. " + describe_convention(DAY_0)


class Glossary:
    """Spells out each abbreviation the first time it is used outside a quotation."""

    def __init__(self, terms: Mapping[str, str]) -> None:
        self._patterns = {term: re.compile(rf"(?<![\w-]){re.escape(term)}(?![\w-])") for term in terms}
        self._terms = dict(terms)
        self._used: set[str] = set()

    def expand(self, text: str) -> str:
        if len(self._used) == len(self._terms):
            return text
        parts = _QUOTED.split(text)
        for index in range(0, len(parts), 2):  # the odd parts are quotations: left verbatim
            for term, pattern in self._patterns.items():
                if term in self._used:
                    continue
                expansion = self._terms[term]
                part = parts[index]
                found = pattern.search(part)
                if found is None:
                    continue
                self._used.add(term)
                if expansion in part:
                    continue
                parts[index] = f"{part[: found.end()]} ({expansion}){part[found.end():]}"
        return "".join(parts)


def _show(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, list | tuple):  # a list fact's checked records are a tuple
        return f"{len(value)} record{'s' if len(value) != 1 else ''}"
    return str(value)


def _basis_text(reason: Reason) -> str:
    if reason.assumption is not None:
        return f"Assumption (the source is silent): {reason.assumption}"
    title = reason.citation.source_title
    named = f"{title} [{reason.source}]" if title else str(reason.source)
    return f'Source: {named}: "{reason.quote}"'


def explain(decision: Decision) -> str:
    glossary = Glossary(glossary_for_digest(decision.policy_digest))
    lines: list[str] = []

    def wrap(text: str, indent: str, hang: str = "") -> None:
        lines.extend(
            textwrap.wrap(glossary.expand(text), width=96, initial_indent=indent, subsequent_indent=indent + hang, break_on_hyphens=False) or [indent]
        )

    def reason_lines(label: str, reason: Reason) -> None:
        wrap(f"{label}{reason.text} [{reason.rule_id}]", "  ", "   ")
        wrap(_basis_text(reason), "     ")

    lines.extend(textwrap.wrap(f"Policy: {decision.policy_title} ({decision.policy_id} {decision.policy_version})", width=96) or [""])
    lines.append(f"Decision as of {decision.as_of.isoformat()}")
    lines.append("")
    lines.append(_HEADLINE[decision.outcome.value])
    if not decision.complete:
        missing = "; ".join(" or ".join(group) for group in decision.missing_fact_groups) or "(see notes)"
        wrap(
            "The facts given do not settle the decision, so the policy's rule for missing"
            f" information applies. Missing: {missing}.",
            "",
        )
    if decision.could_change:
        wrap(
            "Not given, and could still change the reasons or places to signpost to (not the outcome): "
            + ", ".join(decision.could_change) + ".",
            "",
        )
    if decision.assumed_facts:
        wrap(
            "This outcome rests on defaults the policy declares, not on facts given: "
            + ", ".join(decision.assumed_facts) + " (give them to decide on the facts).",
            "",
        )
    lines.append("")
    lines.append("Why:")
    first: Reason | None = decision.reasons[0] if decision.reasons else None
    others = decision.reasons[1:]
    if first is not None:
        if not decision.complete:
            reason_lines("Undetermined: ", first)
        elif first.rule_id == "otherwise":
            reason_lines("No rule applies: ", first)
        else:
            reason_lines("Decided by: ", first)
    if others:
        lines.append("  Also true:" if decision.complete else "  Also true (could not decide while earlier rules are unknown):")
        for number, reason in enumerate(others, start=1):
            reason_lines(f"{number}. ", reason)
    if decision.signposts:
        lines.append("")
        lines.append("Signpost to:")
        for sign in decision.signposts:
            detail = f" ({sign.offers})" if sign.offers else ""
            wrap(f"- {sign.name}{detail} [{sign.service_id}]", "  ", "  ")
    if decision.next_steps:
        lines.append("")
        lines.append("Next steps:")
        for step in decision.next_steps:
            due = step.due.isoformat() if step.due else "no date yet"
            window = f" (window opens {step.window_start.isoformat()})" if step.window_start else ""
            status = f"; {step.status}" if step.status else ""
            actual = f", happened {step.actual.isoformat()}" if step.actual else ""
            wrap(f"- {step.description} Due {due}{window}{actual}{status}. [{step.action}]", "  ", "  ")
        wrap(_WORKING_DAYS, "  ")
    parameters = getattr(decision, "parameters", None) or parameters_for_digest(decision.policy_digest)
    if parameters:
        lines.append("")
        wrap("Parameters the policy was loaded with: " + "; ".join(f"{k} = {_show(v) if not isinstance(v, list) else ', '.join(map(str, v))}" for k, v in sorted(parameters.items())), "")
    if decision.notes:
        lines.append("")
        lines.append("Notes:")
        for note in decision.notes:
            wrap(f"- {note}", "  ", "  ")
    lines.append("")
    lines.append("How each check came out (true / false / unknown):")
    for checked in decision.trace:
        label = "criterion" if checked.kind == "criterion" else f"rule -> {checked.outcome.value if checked.outcome else ''}"
        wrap(f"- {checked.id} ({label}): {checked.value.upper()}. {checked.text}", "  ", "  ")
        read = "; ".join(
            f"{f.name} = {_show(f.value)}" + ("" if f.how == "given" else f" ({f.how})")
            if f.how != "missing"
            else f"{f.name} not given"
            for f in checked.facts
        )
        if read:
            wrap(f"read: {read}", "      ")
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
        wrap(f"Reference data {name}: {details}", "")
    lines.append(f"Engine: {decision.engine} {decision.engine_version}")
    return "\n".join(lines) + "\n"
