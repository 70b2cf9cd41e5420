"""``Policy``: a compiled eligibility policy, ready to evaluate many times."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from recnav_rules._version import __version__
from recnav_rules.decision import Decision
from recnav_rules.engine.dates import read_date, today_in_london
from recnav_rules.engine.evaluator import Evaluator, Summary
from recnav_rules.engine.model import CompiledPolicy
from recnav_rules.engine.native import NativeEngine
from recnav_rules.errors import FactProblem, FactValidationError

__all__ = ["FactInfo", "Policy"]

Engine = Literal["native", "interpreter", "durable"]


class DecisionRecorder(Protocol):
    """What ``Policy.evaluate(..., log=)`` needs of a decision log (``recnav_rules.DecisionLog``)."""

    def record(self, decision: Decision, *, policy: Policy, facts: Mapping[str, Any]) -> Decision: ...


@dataclass(frozen=True, slots=True)
class FactInfo:
    """What a policy says about one fact it accepts."""

    name: str
    type: str
    description: str
    values: tuple[str, ...]
    personal: bool
    has_default: bool


class Policy:
    """A compiled policy. Immutable: share one instance across threads.

    >>> import recnav_rules, datetime
    >>> policy = recnav_rules.load_policy("bnssg-hiu-pilot")
    >>> policy.evaluate({"age": 17}, as_of=datetime.date(2026, 11, 20)).outcome.value
    'signpost'
    """

    __slots__ = ("_compiled", "_durable", "_interpreter", "_native", "_periods")

    def __init__(self, compiled: CompiledPolicy) -> None:
        self._compiled = compiled
        self._periods: tuple[tuple[dt.date, Policy | None], ...] = tuple(
            (start, Policy(variant) if variant is not None else None) for start, variant in compiled.periods
        )
        self._interpreter = Evaluator(compiled, __version__)
        self._native = NativeEngine(self._interpreter)
        self._durable: Any = None

    def __reduce__(self) -> tuple[type[Policy], tuple[CompiledPolicy]]:
        """Pickled as its intermediate form only; programs are rebuilt where it is unpickled."""
        return (Policy, (self._compiled,))

    @property
    def id(self) -> str:
        return self._compiled.id

    @property
    def version(self) -> str:
        return self._compiled.version

    @property
    def title(self) -> str:
        return self._compiled.title

    @property
    def description(self) -> str:
        return self._compiled.description

    @property
    def digest(self) -> str:
        """sha256 of the policy's canonical JSON form (comments and layout do not count)."""
        return self._compiled.digest

    @property
    def file(self) -> str:
        return self._compiled.file

    @property
    def compiled(self) -> CompiledPolicy:
        """The compiled form (for tools: docs, coverage, the durable-rules engine)."""
        return self._compiled

    @property
    def facts(self) -> Mapping[str, FactInfo]:
        return {
            name: FactInfo(name, f.spec.type, f.description, f.spec.values, f.personal, f.has_default)
            for name, f in self._compiled.facts.items()
        }

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(rule.id for rule in self._compiled.rules)

    def evaluate(
        self,
        facts: Mapping[str, Any],
        *,
        as_of: dt.date | str | None = None,
        engine: Engine = "native",
        log: DecisionRecorder | None = None,
    ) -> Decision:
        """Decide on one referral.

        ``facts`` maps fact names to JSON-like values (dates as ISO strings). ``as_of`` is the
        date the decision is made on (default: today in Europe/London); the referral date
        defaults to it. ``engine``: ``native`` (the generated program, the default),
        ``interpreter`` (the reference implementation) or ``durable`` (durable-rules; an extra).
        ``log``: a ``DecisionLog`` to record the decision in; the decision returned then
        carries its ``decision_id``. Raises ``FactValidationError`` naming every bad field.
        """
        day = as_of if as_of.__class__ is dt.date else _as_of(as_of)
        if self._periods:
            in_force = self._in_force(day)
            if in_force is not self:
                return in_force.evaluate(facts, as_of=day, engine=engine, log=log)
        if engine == "native":
            decision = self._native.evaluate(facts, day)
        elif engine == "interpreter":
            decision = self._interpreter.evaluate(facts, day)
        elif engine == "durable":
            if self._durable is None:
                from recnav_rules.engine.durable import DurableEvaluator

                self._durable = DurableEvaluator(self._compiled, self._interpreter)
            decision = self._durable.evaluate(facts, day)
        else:
            raise ValueError(f"unknown engine {engine!r}: use 'native', 'interpreter' or 'durable'")
        if log is not None:
            decision = log.record(decision, policy=self, facts=facts)
        return decision

    def _summary(self, facts: Mapping[str, Any], day: dt.date, *, written: bool = False) -> Summary | None:
        """``NativeEngine.summary`` of the policy in force on ``day`` (for batch lines)."""
        if self._periods:
            in_force = self._in_force(day)
            if in_force is not self:
                return in_force._summary(facts, day, written=written)
        return self._native.summary(facts, day, written=written)

    def _in_force(self, day: dt.date) -> Policy:
        """This policy, or the one compiled with the parameter values in force on ``day``."""
        chosen: Policy | None = None
        for start, variant in self._periods:
            if start > day:
                break
            chosen = variant
        if chosen is None:
            return self
        if chosen.compiled.unset_parameters:
            missing = ", ".join(chosen.compiled.unset_parameters)
            raise FactValidationError(
                [FactProblem("as_of", f"policy parameters have no value on {day.isoformat()}: {missing}", None, "no-parameter-value")]
            )
        return chosen

    def program_source(self) -> str:
        """The generated program's Python source, for reviewers (values appear as ``K[i]``)."""
        from recnav_rules.engine.codegen import source_of

        return source_of(self._compiled)

    def __repr__(self) -> str:
        return f"Policy({self.id!r}, version={self.version!r}, digest={self.digest[:12]}...)"


def _as_of(value: dt.date | str | None) -> dt.date:
    """The as-of date: a date, a ``YYYY-MM-DD`` text (read as fact dates are), or today in London."""
    if value is None:
        return today_in_london()
    if isinstance(value, dt.datetime):
        return value.date()
    day = read_date(value)
    if day is None:
        shown = "text that is not a date" if isinstance(value, str) else type(value).__name__
        raise FactValidationError([FactProblem("as_of", f"expected a date (YYYY-MM-DD), got {shown}")])
    return day
