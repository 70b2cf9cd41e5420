"""``Policy``: a compiled eligibility policy, ready to evaluate many times."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from recnav_rules._version import __version__
from recnav_rules.decision import Decision
from recnav_rules.engine.evaluator import Evaluator
from recnav_rules.engine.model import CompiledPolicy
from recnav_rules.errors import FactProblem, FactValidationError

__all__ = ["FactInfo", "Policy"]

Engine = Literal["native", "durable"]


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

    __slots__ = ("_compiled", "_durable", "_native")

    def __init__(self, compiled: CompiledPolicy) -> None:
        self._compiled = compiled
        self._native = Evaluator(compiled, __version__)
        self._durable: Any = None

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
    ) -> Decision:
        """Decide on one referral.

        ``facts`` maps fact names to JSON-like values (dates as ISO strings). ``as_of`` is the
        date the decision is made on (default: today); the referral date defaults to it.
        Raises ``FactValidationError`` naming every bad field.
        """
        day = _as_of(as_of)
        if engine == "native":
            return self._native.evaluate(facts, day)
        if engine == "durable":
            if self._durable is None:
                from recnav_rules.engine.durable import DurableEvaluator

                self._durable = DurableEvaluator(self._compiled, self._native)
            result: Decision = self._durable.evaluate(facts, day)
            return result
        raise ValueError(f"unknown engine {engine!r}: use 'native' or 'durable'")

    def __repr__(self) -> str:
        return f"Policy({self.id!r}, version={self.version!r}, digest={self.digest[:12]}...)"


def _as_of(value: dt.date | str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise FactValidationError([FactProblem("as_of", f"expected a date (YYYY-MM-DD), got {value!r}")])
