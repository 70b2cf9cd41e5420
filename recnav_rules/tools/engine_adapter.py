"""The one place the policy owners' tools reach into the engine beyond the public API.

Coverage lists every comparison (``Leaf``) of a policy, even those no case reached, so it walks
the compiled policy's condition trees (data fields only: ``criteria``, ``rules``, ``node``) with
the engine's tree helpers, in the order a decision's trace records them
(``TraceStep.conditions``: criteria first, then rules, leaves left to right). Values always come
from decisions, never from evaluating anything here. When the engine's helpers move, this module
is the only one to change.
"""

from __future__ import annotations

from dataclasses import dataclass

from recnav_rules.engine import conditions
from recnav_rules.engine.model import CompiledPolicy

__all__ = ["Comparison", "comparisons"]


@dataclass(frozen=True, slots=True)
class Comparison:
    """One comparison in a criterion or rule: whose it is, what it says, where it stands."""

    kind: str
    """criterion or rule."""
    owner: str
    """The criterion's or rule's id."""
    text: str
    """As the trace words it, e.g. ``age_years is less than 18``."""
    line: int | None


def comparisons(policy: CompiledPolicy) -> dict[tuple[str, str], tuple[Comparison, ...]]:
    """(kind, id) of each criterion and rule -> its comparisons, in the trace's order."""
    found: dict[tuple[str, str], tuple[Comparison, ...]] = {}
    for kind, items in (("criterion", policy.criteria), ("rule", policy.rules)):
        for item in items:
            found[(kind, item.id)] = tuple(
                Comparison(kind, item.id, conditions.render(leaf), leaf.line) for leaf in conditions.leaves(item.node)
            )
    return found
