"""The compiled form of a policy: immutable data the evaluator reads and never changes.

The compiler (``compiler.py``) builds these from a validated YAML document; the evaluator
(``evaluator.py``) and the durable-rules back end (``durable.py``) both read them, so the two
engines share one reading of the policy. Conditions are kept as a small tree (``Node``) so that
they can be rendered, traced, translated and turned into programs.

Pure data: frozen, picklable, holding no functions. Programs (the generated evaluator, the
interpreter, the durable-rules translation) are built *from* it; batch workers and Spark
executors receive it pickled and never re-read a policy file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "Citation",
    "CompiledPolicy",
    "Criterion",
    "Derived",
    "Env",
    "FactSpec",
    "Fallback",
    "FieldSpec",
    "Leaf",
    "Logic",
    "NextStepSpec",
    "Node",
    "Outcome",
    "Ref",
    "Rule",
    "Tri",
]

Tri = bool | None
"""Three-valued truth: True, False, or None for unknown."""

Env = dict[Any, Any]
"""One evaluation's values: fact and derived names (str) to values; criteria under ('c', name)."""


class Outcome(StrEnum):
    """What a decision says should happen to the referral."""

    ACCEPT = "accept"
    REJECT = "reject"
    SIGNPOST = "signpost"


@dataclass(frozen=True, slots=True)
class Citation:
    """What a rule rests on: a quoted sentence from a source document, or a stated assumption."""

    source: str | None = None
    """The source document's file name (from the policy's ``sources``)."""
    quote: str | None = None
    assumption: str | None = None
    """Set where the source is silent: the policy's explicit assumption and its rationale."""
    source_title: str | None = None
    """The source's title, publisher and date as the policy declares them (``SourceRecord.label``)."""

    @property
    def is_assumption(self) -> bool:
        return self.assumption is not None

    def to_dict(self) -> dict[str, str | None]:
        return {"source": self.source, "quote": self.quote, "assumption": self.assumption, "source_title": self.source_title}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """The type of a fact, or of one field of the records in a list fact."""

    type: str
    """bool, integer, number, string, enum, date, datetime, nhs_number, ods_code, list."""
    values: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    max_length: int = 1000
    max_items: int = 10_000
    fields: Mapping[str, FieldSpec] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FactSpec:
    name: str
    spec: FieldSpec
    description: str
    personal: bool = False
    default: Any = None
    has_default: bool = False
    default_as_of: bool = False
    """A date fact that takes the evaluation's as-of date when not given."""
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Leaf:
    """A comparison of one fact, derived value or record field with a literal."""

    ref: str
    op: str
    """eq, ne, lt, lte, gt, gte, in, not_in, present."""
    value: Any
    line: int | None = field(default=None, compare=False)
    """Where the comparison stands in the policy file (for coverage reports)."""


@dataclass(frozen=True, slots=True)
class Logic:
    op: str
    """all, any, not."""
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference to a named criterion."""

    criterion: str


Node = Leaf | Logic | Ref


@dataclass(frozen=True, slots=True)
class Derived:
    """A value computed from facts: an age, a count of events in a window, or a lookup.

    ``alternative`` names a fact that may give the same value directly; when both are known
    they must agree, or the facts are rejected.
    """

    name: str
    kind: str
    """age_in_years, count_events, lookup."""
    type: str
    """The value's type: integer, string, ..."""
    description: str
    inputs: tuple[str, ...]
    params: Mapping[str, Any]
    alternative: str | None = None
    filter_node: Node | None = None
    """count_events: the parsed ``where`` filter over the event records."""
    filter_key: str = ""
    """count_events: a canonical text of the filter, so equal filters share one pass."""
    bounds: tuple[float | None, float | None] = (None, None)
    """The range the alternative fact declares: a computed value outside it is a bad fact."""
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    outcome: Outcome
    reason: str
    node: Node
    citation: Citation
    signposts: tuple[str, ...] = ()
    line: int | None = None
    reads: tuple[str, ...] = ()
    """Every fact or derived value the condition reads, criteria followed."""


@dataclass(frozen=True, slots=True)
class Criterion:
    id: str
    description: str
    node: Node
    citation: Citation | None
    line: int | None = None
    reads: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NextStepSpec:
    action: str
    description: str
    on: tuple[Outcome, ...]
    amount: int
    unit: str
    """working_days, calendar_days, weeks, calendar_months."""
    after_fact: str | None
    after_step: str | None
    actual_fact: str | None
    citation: Citation
    window_start: tuple[int, str] | None = None
    """For a window (e.g. 3 to 6 months): its opening as (amount, unit) from the same start."""


@dataclass(frozen=True, slots=True)
class Fallback:
    """The outcome when no rule fires, or when the facts leave the outcome undetermined."""

    outcome: Outcome
    reason: str
    citation: Citation
    signposts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    id: str
    version: str
    title: str
    description: str
    effective_from: dt.date | None
    effective_until: dt.date | None
    sources: Mapping[str, str]
    """Source key to file name."""
    facts: Mapping[str, FactSpec]
    derived: tuple[Derived, ...]
    criteria: tuple[Criterion, ...]
    """In dependency order: a criterion comes after those it refers to."""
    rules: tuple[Rule, ...]
    otherwise: Fallback
    incomplete: Fallback
    next_steps: tuple[NextStepSpec, ...]
    calendar_country: str
    calendar_subdivision: str | None
    digest: str
    file: str
    reference_data: Mapping[str, Any] = field(default_factory=dict)
    """Reference tables the policy reads (e.g. ``gp_practices``: a PracticeRegister)."""
    services: Mapping[str, Any] = field(default_factory=dict)
    """Service id to the decision's Signpost for it, for every id the policy names."""
    line: int | None = None
    source_records: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    """Source key to its record: file, title, publisher, date, obtained, sha256, assumption."""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    """Parameter name to the value this compiled form was resolved with."""
    parameter_specs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Parameter name to its declaration (type, description, dated values)."""
    unset_parameters: tuple[str, ...] = ()
    """Parameters with no value: ``load_policy`` refuses the policy until they are set."""
    glossary: Mapping[str, str] = field(default_factory=dict)
    """Abbreviation to its expansion, spelt out on first use in explanations and documents."""
    calendar_convention: str = "day_0"
    """A referral received on a non-working day: is the next working day day 0 or day 1 (calendar.py)."""
    periods: tuple[tuple[dt.date, CompiledPolicy | None], ...] = ()
    """Where dated parameter values change after the policy takes effect: (start date, the
    policy compiled with the values in force from then, or None where they are this policy's
    own). A decision takes the last period starting on or before its as-of date."""

    def fact_names(self) -> tuple[str, ...]:
        return tuple(self.facts)

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)
