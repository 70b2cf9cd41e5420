"""The native engine: the generated program first, the interpreter when the facts need a diagnosis.

``NativeEngine.evaluate`` runs the policy's generated program (``codegen.py``). The program
handles facts that are plainly valid; for anything else — an unknown name, a wrong type, a
value out of range, facts that disagree — it returns None and the interpreter
(``evaluator.py``), the reference implementation, evaluates the same facts: it either raises
the full ``FactValidationError`` or, for facts that are valid in a less plain form (``17.0`` for
an integer, a ``Mapping`` that is not a ``dict``), decides exactly as the program would have.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from recnav_rules.decision import Decision
from recnav_rules.engine import codegen
from recnav_rules.engine.evaluator import Evaluator, Summary

__all__ = ["NativeEngine"]


class NativeEngine:
    """One policy's generated program with its interpreter. Immutable: share across threads."""

    __slots__ = ("_as_given", "_dated", "floats", "interpreter", "program")

    def __init__(self, interpreter: Evaluator) -> None:
        self.interpreter = interpreter
        self.program = codegen.build(interpreter.policy)
        self._as_given: codegen.Program | None = None
        """The program batch lines use (``codegen.build(as_given=True)``), built when first asked for."""
        self.floats = _may_hold_floats(interpreter)
        """Whether checked facts can hold a float (the policy has ``number`` facts or fields)."""
        policy = interpreter.policy
        self._dated = policy.effective_from is not None or policy.effective_until is not None

    def evaluate(self, facts: Mapping[str, Any], as_of: dt.date, engine: str = "native") -> Decision:
        interpreter = self.interpreter
        if self._dated:
            interpreter.check_effective(as_of)
        result = self.program(facts, as_of)
        if result is None:
            return interpreter.evaluate(facts, as_of, engine)
        env, given, defaults, personal, notes, values, leaves = result
        return interpreter.decide((env, given, defaults, personal, notes), values, as_of, engine, leaves, self.floats, rows=True)

    def summary(self, facts: Mapping[str, Any], as_of: dt.date, *, written: bool = False) -> Summary | None:
        """What a decision's summary (``batch.decision_summary``) needs, without the decision:
        (the settled parts, next steps, checked facts given, the policy's id, version, title and
        digest, whether the facts may hold floats); None when the program hands the facts over
        to the interpreter (``evaluate`` then diagnoses or decides them). Raises as ``evaluate``
        does for an as-of date outside the policy's dates. Used for batch lines, where no one
        asks for the rest of the decision.

        ``written=True`` is the caller's word that it holds the facts written as canonical JSON
        (the batch reader does): the checked facts given are then None when the facts as given
        are exactly them in JSON (``codegen.build(as_given=True)``), and their digest is the
        digest of what the caller holds; nothing is made of them here."""
        interpreter = self.interpreter
        if self._dated:
            interpreter.check_effective(as_of)
        program = self.program
        if written:
            program = self._as_given or self._build_as_given()
        result = program(facts, as_of)
        if result is None:
            return None
        env, given, defaults, _personal, _notes, values, leaves = result[:7]
        if written and result[7]:  # the facts as given are the checked facts (``same``)
            given = None
        settled = interpreter.settled(env, values, defaults, leaves)
        return (
            settled,
            interpreter.next_steps_of(env, settled[0], settled[1]),
            None if given is None else interpreter.given_made(given) if interpreter.packed else given,
            interpreter.identity,
            self.floats,
        )


    def _build_as_given(self) -> codegen.Program:
        """The program batch lines use, built once (two threads at once build equal programs)."""
        self._as_given = codegen.build(self.interpreter.policy, as_given=True)
        return self._as_given


def _may_hold_floats(interpreter: Evaluator) -> bool:
    """Whether checked facts can hold a float (a ``number`` fact or record field)."""
    for fact in interpreter.policy.facts.values():
        spec = fact.spec
        if spec.type == "number" or any(sub.type == "number" for sub in spec.fields.values()):
            return True
    return False
