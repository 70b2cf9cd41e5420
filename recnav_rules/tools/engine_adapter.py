"""The one place the policy owners' tools reach into engine internals.

Condition coverage needs the value of every single comparison (``Leaf``) for a case, which the
public ``Decision`` does not record (its trace stops at criteria and rules). Everything here
reads the compiled policy's data fields only (``node``, ``criteria``, ``rules``) and uses the
evaluator's fact preparation and the condition builder; when the engine's internals move, this
module is the only one to change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from recnav_rules._version import __version__
from recnav_rules.engine import conditions
from recnav_rules.engine.evaluator import Evaluator
from recnav_rules.engine.model import CompiledPolicy, Leaf, Tri

__all__ = ["ConditionProbe", "render_leaf"]


def render_leaf(leaf: Leaf) -> str:
    """The comparison in plain words, as the policy documents say it."""
    return conditions.render(leaf)


class ConditionProbe:
    """Every comparison in a policy's criteria and rules (in order), and their values for a case."""

    def __init__(self, policy: CompiledPolicy) -> None:
        self._evaluator = Evaluator(policy, __version__)
        self._criteria = tuple((("c", c.id), conditions.build(c.node)) for c in policy.criteria)
        found: list[tuple[str, Leaf]] = []
        for criterion in policy.criteria:
            found.extend((f"criterion {criterion.id}", leaf) for leaf in conditions.leaves(criterion.node))
        for rule in policy.rules:
            found.extend((f"rule {rule.id}", leaf) for leaf in conditions.leaves(rule.node))
        self.leaves: tuple[tuple[str, Leaf], ...] = tuple(found)
        """(owner, comparison): owner is e.g. ``rule in-custody`` or ``criterion adult``."""
        self._runners: tuple[Callable[[dict[Any, Any]], Tri], ...] = tuple(conditions.build(leaf) for _, leaf in found)

    def values(self, facts: Mapping[str, Any], as_of: dt.date) -> tuple[Tri, ...]:
        """Each comparison's three-valued result for these facts (raises FactValidationError)."""
        env = self._evaluator.prepare(facts, as_of)[0]
        for key, value_of in self._criteria:
            env[key] = value_of(env)
        return tuple(run(env) for run in self._runners)
