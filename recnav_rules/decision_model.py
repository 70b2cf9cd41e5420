"""The JSON form of a decision, validated at the boundary with pydantic.

Imported only where it is used — ``Decision.from_dict`` and the JSON Schema generation — so
that evaluating decisions, and starting the command line, never pays for pydantic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from recnav_rules.decision import (
    ConditionResult,
    Decision,
    FactReading,
    NextStep,
    Reason,
    Signpost,
    TraceStep,
    TruthText,
)
from recnav_rules.engine.model import Citation, Outcome
from recnav_rules.errors import FactProblem, FactValidationError

__all__ = ["decision_from_dict", "decision_json_schema"]


_STRICT = ConfigDict(extra="forbid", frozen=True)


class _CitationModel(BaseModel):
    model_config = _STRICT
    source: str | None
    quote: str | None
    assumption: str | None
    source_title: str | None = None

    def to_citation(self) -> Citation:
        return Citation(self.source, self.quote, self.assumption, self.source_title)


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


class _ConditionModel(BaseModel):
    model_config = _STRICT
    condition: str
    value: TruthText
    line: int | None


class _TraceStepModel(BaseModel):
    model_config = _STRICT
    kind: Literal["criterion", "rule"]
    id: str
    value: TruthText
    text: str
    outcome: Outcome | None
    facts: list[_FactReadingModel]
    citation: _CitationModel | None
    conditions: list[_ConditionModel] = []
    line: int | None = None


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
    missing_fact_groups: list[list[str]] = []
    could_change: list[str] = []
    assumed_facts: list[str] = []
    parameters: dict[str, Any] = {}
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
                    tuple(ConditionResult(c.condition, c.value, c.line) for c in t.conditions),
                    t.line,
                )
                for t in self.trace
            ],
            facts_digest_value=self.facts_digest,
            decision_id=self.decision_id,
            missing_fact_groups=[list(g) for g in self.missing_fact_groups],
            could_change=list(self.could_change),
            assumed_facts=list(self.assumed_facts),
            parameters=dict(self.parameters),
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


def decision_from_dict(data: Mapping[str, Any]) -> Decision:
    """Rebuild a decision from its JSON form, or raise FactValidationError naming each bad field."""
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
