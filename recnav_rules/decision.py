"""The decision a policy returns, and its JSON form.

A ``Decision`` says what should happen (``outcome``), whether the facts given settle it
(``complete``, ``missing_facts``), why (``reasons``, each with its source quote or stated
assumption), where else to go (``signposts``), what happens next and by when
(``next_steps``), and a ``trace`` of every criterion and rule evaluated with the fact values
it read. It records the policy's id, version and digest, the engine, the as-of date and a
digest of the (non-personal) facts, so that an auditor can reproduce it.

Personal facts never reach a decision: it records only their names, in
``personal_facts_withheld``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, ValidationError

from recnav_rules.engine.model import Citation, Outcome
from recnav_rules.errors import FactProblem, FactValidationError

__all__ = [
    "Decision",
    "FactReading",
    "NextStep",
    "Reason",
    "Signpost",
    "TraceStep",
    "canonical_json",
    "facts_digest",
]

TruthText = Literal["true", "false", "unknown"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def canonical_json(value: Any) -> str:
    """Sorted-key compact JSON with dates as ISO strings: the form that digests are taken of."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def facts_digest(values: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of the checked, non-personal facts as given."""
    return hashlib.sha256(canonical_json(values).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Reason:
    """Why: a rule that held (or the policy's fallback), with what it rests on."""

    rule_id: str
    text: str
    outcome: Outcome
    citation: Citation

    @property
    def source(self) -> str | None:
        """The source document's file name, or None for an assumption."""
        return self.citation.source

    @property
    def quote(self) -> str | None:
        return self.citation.quote

    @property
    def assumption(self) -> str | None:
        return self.citation.assumption

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "text": self.text,
            "outcome": self.outcome.value,
            **self.citation.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Signpost:
    """A service from the signposting directory."""

    service_id: str
    name: str
    area: str = ""
    offers: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"service_id": self.service_id, "name": self.name, "area": self.area, "offers": self.offers}


@dataclass(frozen=True, slots=True)
class NextStep:
    """Something that must happen after the decision, and by when.

    ``status`` is ``met`` or ``missed`` when the step's actual date was given (on or before
    ``due`` is met), ``pending`` when it was not, and None when the step has no actual-date fact.
    """

    action: str
    description: str
    due: dt.date | None
    citation: Citation
    window_start: dt.date | None = None
    actual: dt.date | None = None
    status: Literal["met", "missed", "pending"] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "description": self.description,
            "due": _jsonable(self.due),
            "window_start": _jsonable(self.window_start),
            "actual": _jsonable(self.actual),
            "status": self.status,
            **self.citation.to_dict(),
        }


class FactReading(NamedTuple):
    """A value a trace step read: ``how`` is given, default, derived or missing."""

    name: str
    value: Any
    how: Literal["given", "default", "derived", "missing"]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": _jsonable(self.value), "how": self.how}


class TraceStep(NamedTuple):
    """One criterion or rule as evaluated: its three-valued result and what it read.

    (A named tuple: a decision's trace has one per rule and criterion, so it is cheap to build.)
    """

    kind: Literal["criterion", "rule"]
    id: str
    value: TruthText
    text: str
    facts: tuple[FactReading, ...]
    citation: Citation | None
    outcome: Outcome | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "value": self.value,
            "text": self.text,
            "outcome": self.outcome.value if self.outcome is not None else None,
            "facts": [f.to_dict() for f in self.facts],
            "citation": self.citation.to_dict() if self.citation is not None else None,
        }


class Decision:
    """An explainable eligibility decision. Build one with ``Policy.evaluate``."""

    __slots__ = (
        "_facts_digest",
        "_trace",
        "_trace_builder",
        "_values",
        "as_of",
        "complete",
        "decision_id",
        "defaults_used",
        "engine",
        "engine_version",
        "missing_facts",
        "next_steps",
        "notes",
        "outcome",
        "personal_facts_withheld",
        "policy_digest",
        "policy_id",
        "policy_title",
        "policy_version",
        "reasons",
        "reference_data",
        "signposts",
    )

    def __init__(
        self,
        *,
        outcome: Outcome,
        complete: bool,
        missing_facts: list[str],
        reasons: list[Reason],
        signposts: list[Signpost],
        next_steps: list[NextStep],
        policy_id: str,
        policy_version: str,
        policy_title: str,
        policy_digest: str,
        engine: str,
        engine_version: str,
        as_of: dt.date,
        defaults_used: list[str],
        personal_facts_withheld: list[str],
        reference_data: dict[str, dict[str, str]],
        notes: list[str],
        values: Mapping[str, Any] | None = None,
        trace: list[TraceStep] | None = None,
        trace_builder: Callable[[], list[TraceStep]] | None = None,
        facts_digest_value: str | None = None,
        decision_id: str | None = None,
    ) -> None:
        self.decision_id = decision_id
        """Set when the decision was recorded in a ``DecisionLog`` (a UUID), else None."""
        self.outcome = outcome
        self.complete = complete
        self.missing_facts = missing_facts
        self.reasons = reasons
        self.signposts = signposts
        self.next_steps = next_steps
        self.policy_id = policy_id
        self.policy_version = policy_version
        self.policy_title = policy_title
        self.policy_digest = policy_digest
        self.engine = engine
        self.engine_version = engine_version
        self.as_of = as_of
        self.defaults_used = defaults_used
        self.personal_facts_withheld = personal_facts_withheld
        self.reference_data = reference_data
        self.notes = notes
        self._values = values
        self._trace = trace
        self._trace_builder = trace_builder
        self._facts_digest = facts_digest_value

    @property
    def trace(self) -> list[TraceStep]:
        """Every criterion and rule evaluated, in order, with the values each one read."""
        if self._trace is None:
            self._trace = self._trace_builder() if self._trace_builder is not None else []
        return self._trace

    @property
    def checked_facts(self) -> dict[str, Any]:
        """The non-personal facts as given and checked (JSON-ready; defaults and personal facts left out)."""
        return {name: _jsonable(value) for name, value in (self._values or {}).items()}

    @property
    def facts_digest(self) -> str:
        """sha256 of the canonical JSON of the non-personal facts given (defaults excluded)."""
        if self._facts_digest is None:
            self._facts_digest = facts_digest(self._values or {})
        return self._facts_digest

    def with_decision_id(self, decision_id: str) -> Decision:
        """A copy of this decision carrying the id a decision log gave it."""
        copy = object.__new__(Decision)
        for name in Decision.__slots__:
            object.__setattr__(copy, name, getattr(self, name))
        copy.decision_id = decision_id
        return copy

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPT

    def explain(self) -> str:
        """The decision in plain English, rendered from the trace."""
        from recnav_rules.engine.explain import explain

        return explain(self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``schemas/decision.schema.json`` describes it."""
        return {
            "decision_id": self.decision_id,
            "outcome": self.outcome.value,
            "complete": self.complete,
            "missing_facts": list(self.missing_facts),
            "reasons": [r.to_dict() for r in self.reasons],
            "signposts": [s.to_dict() for s in self.signposts],
            "next_steps": [n.to_dict() for n in self.next_steps],
            "policy": {
                "id": self.policy_id,
                "version": self.policy_version,
                "title": self.policy_title,
                "digest": self.policy_digest,
            },
            "engine": {"name": self.engine, "version": self.engine_version},
            "as_of": self.as_of.isoformat(),
            "facts_digest": self.facts_digest,
            "defaults_used": list(self.defaults_used),
            "personal_facts_withheld": list(self.personal_facts_withheld),
            "reference_data": {k: dict(v) for k, v in self.reference_data.items()},
            "notes": list(self.notes),
            "trace": [step.to_dict() for step in self.trace],
        }

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        """Rebuild a decision from ``to_dict()`` output (e.g. parsed JSON). Bad input raises
        ``FactValidationError`` naming each bad field."""
        try:
            model = _DecisionModel.model_validate(data)
        except ValidationError as exc:
            raise FactValidationError(
                [
                    FactProblem(".".join(str(p) for p in err["loc"]) or "<decision>", err["msg"])
                    for err in exc.errors()
                ]
            ) from None
        return model.to_decision()

    @classmethod
    def from_json(cls, text: str) -> Decision:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FactValidationError([FactProblem("<json>", f"not JSON: {exc.msg} at line {exc.lineno}")]) from None
        if not isinstance(data, Mapping):
            raise FactValidationError([FactProblem("<json>", "a decision is a JSON object")])
        return cls.from_dict(data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable-looking value object: compare, don't hash

    def __repr__(self) -> str:
        return (
            f"Decision(outcome={self.outcome.value!r}, complete={self.complete}, "
            f"policy={self.policy_id!r}@{self.policy_version}, "
            f"reasons={[r.rule_id for r in self.reasons]!r})"
        )


# --- the JSON form, validated at the boundary with pydantic ------------------------------

_STRICT = ConfigDict(extra="forbid", frozen=True)


class _CitationModel(BaseModel):
    model_config = _STRICT
    source: str | None
    quote: str | None
    assumption: str | None

    def to_citation(self) -> Citation:
        return Citation(self.source, self.quote, self.assumption)


class _ReasonModel(_CitationModel):
    rule_id: str
    text: str
    outcome: Outcome


class _SignpostModel(BaseModel):
    model_config = _STRICT
    service_id: str
    name: str
    area: str
    offers: str


class _NextStepModel(_CitationModel):
    action: str
    description: str
    due: dt.date | None
    window_start: dt.date | None
    actual: dt.date | None
    status: Literal["met", "missed", "pending"] | None


class _FactReadingModel(BaseModel):
    model_config = _STRICT
    name: str
    value: Any
    how: Literal["given", "default", "derived", "missing"]


class _TraceStepModel(BaseModel):
    model_config = _STRICT
    kind: Literal["criterion", "rule"]
    id: str
    value: TruthText
    text: str
    outcome: Outcome | None
    facts: list[_FactReadingModel]
    citation: _CitationModel | None


class _PolicyRefModel(BaseModel):
    model_config = _STRICT
    id: str
    version: str
    title: str
    digest: str


class _EngineModel(BaseModel):
    model_config = _STRICT
    name: str
    version: str


class _DecisionModel(BaseModel):
    model_config = _STRICT
    decision_id: str | None = None
    outcome: Outcome
    complete: bool
    missing_facts: list[str]
    reasons: list[_ReasonModel]
    signposts: list[_SignpostModel]
    next_steps: list[_NextStepModel]
    policy: _PolicyRefModel
    engine: _EngineModel
    as_of: dt.date
    facts_digest: str
    defaults_used: list[str]
    personal_facts_withheld: list[str]
    reference_data: dict[str, dict[str, str]]
    notes: list[str]
    trace: list[_TraceStepModel]

    def to_decision(self) -> Decision:
        return Decision(
            outcome=self.outcome,
            complete=self.complete,
            missing_facts=list(self.missing_facts),
            reasons=[Reason(r.rule_id, r.text, r.outcome, r.to_citation()) for r in self.reasons],
            signposts=[Signpost(s.service_id, s.name, s.area, s.offers) for s in self.signposts],
            next_steps=[
                NextStep(n.action, n.description, n.due, n.to_citation(), n.window_start, n.actual, n.status)
                for n in self.next_steps
            ],
            policy_id=self.policy.id,
            policy_version=self.policy.version,
            policy_title=self.policy.title,
            policy_digest=self.policy.digest,
            engine=self.engine.name,
            engine_version=self.engine.version,
            as_of=self.as_of,
            defaults_used=list(self.defaults_used),
            personal_facts_withheld=list(self.personal_facts_withheld),
            reference_data={k: dict(v) for k, v in self.reference_data.items()},
            notes=list(self.notes),
            trace=[
                TraceStep(
                    t.kind,
                    t.id,
                    t.value,
                    t.text,
                    tuple(FactReading(f.name, f.value, f.how) for f in t.facts),
                    t.citation.to_citation() if t.citation is not None else None,
                    t.outcome,
                )
                for t in self.trace
            ],
            facts_digest_value=self.facts_digest,
            decision_id=self.decision_id,
        )


def decision_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``Decision.to_dict()``, generated from the pydantic boundary model.

    ``schemas/decision.schema.json`` is this, committed; a test keeps the two equal.
    """
    generated = _DecisionModel.model_json_schema(mode="serialization")
    generated["title"] = "recnav-rules decision"
    generated["description"] = "A decision as Decision.to_dict() writes it. See docs/decisions.md."
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://recnav-rules.invalid/schemas/decision.schema.json",
        **generated,
    }
