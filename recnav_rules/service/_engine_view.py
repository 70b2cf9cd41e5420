"""The one place the service reads engine internals (the compiled policy's node types).

The engine is being refactored (its closure fields go away); the service only reads the data
fields named in ``recnav_rules.engine.model`` and two rendering helpers, all from here, so a
change there is fixed here. Everything else in the service uses the public API.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recnav_rules import Policy, PolicyError, load_policy
from recnav_rules.engine import conditions
from recnav_rules.engine.facts import describe_type
from recnav_rules.engine.model import Citation, FieldSpec

__all__ = [
    "CitationView",
    "FactView",
    "FallbackView",
    "FieldView",
    "ParameterView",
    "PolicyView",
    "RuleView",
    "SourceView",
    "load",
    "parameters_from_text",
    "policy_view",
    "supports_parameters",
    "unchecked",
]


def supports_parameters() -> bool:
    """Whether this version's ``load_policy`` takes ``parameters=``."""
    return "parameters" in inspect.signature(load_policy).parameters


def unchecked(policy_id: str) -> Policy:
    """The compiled policy even when a parameter is unset (for showing it, never for deciding)."""
    from recnav_rules.policies import registry

    finder: Any = getattr(registry, "_find_policy", None)
    if finder is None:
        return load_policy(policy_id)
    found: Policy = finder(policy_id, None, None)
    return found


def parameter_specs(policy: Policy) -> Mapping[str, Mapping[str, Any]]:
    specs: Mapping[str, Mapping[str, Any]] = getattr(policy.compiled, "parameter_specs", {})
    return specs


def unset_parameters(policy: Policy) -> tuple[str, ...]:
    return tuple(getattr(policy.compiled, "unset_parameters", ()))


def load(policy_id: str, service_parameters: Mapping[str, str], request_parameters: Mapping[str, Any] | None = None) -> Policy:
    """Load a policy by id for deciding.

    ``service_parameters`` are ``--param`` texts, read as each parameter's declared type and
    applied only to policies that declare them; ``request_parameters`` are JSON values from a
    request, applied as given (a name the policy lacks is a ``PolicyError``).
    """
    if not supports_parameters():
        if request_parameters:
            raise PolicyError.at("<parameters>", None, None, "unknown-parameter", "this version of recnav-rules has no policy parameters")
        return load_policy(policy_id)
    values: dict[str, Any] = {}
    if service_parameters:
        from recnav_rules.policies.parameters import parameter_from_text

        specs = parameter_specs(unchecked(policy_id))
        values = {name: parameter_from_text(specs[name], text) for name, text in service_parameters.items() if name in specs}
    values.update(request_parameters or {})
    loader: Any = load_policy
    loaded: Policy = loader(policy_id, parameters=values or None)
    return loaded


def parameters_from_text(policy: Policy, texts: Mapping[str, str]) -> dict[str, Any]:
    """Parameter values typed as text (a form), read as each declared type; unknown names kept as
    given, so that loading names them."""
    from recnav_rules.policies.parameters import parameter_from_text

    specs = parameter_specs(policy)
    return {name: parameter_from_text(specs.get(name), text) if name in specs else text for name, text in texts.items()}


def declared_anywhere(names: Mapping[str, str]) -> list[str]:
    """The ``--param`` names no offered policy declares (so they would be silently unused)."""
    from recnav_rules import list_policies

    declared: set[str] = set()
    for info in list_policies():
        declared.update(parameter_specs(unchecked(info.id)))
    return [name for name in names if name not in declared]


@dataclass(frozen=True, slots=True)
class CitationView:
    source: str | None
    quote: str | None
    assumption: str | None
    source_title: str | None = None
    """The source's title, publisher and date, where the engine gives it."""


@dataclass(frozen=True, slots=True)
class SourceView:
    key: str
    file: str
    title: str | None


@dataclass(frozen=True, slots=True)
class FieldView:
    """One input: a fact, or one field of the records in a list fact."""

    name: str
    type: str
    type_text: str
    values: tuple[str, ...]
    minimum: float | None
    maximum: float | None


@dataclass(frozen=True, slots=True)
class FactView:
    name: str
    type: str
    type_text: str
    description: str
    values: tuple[str, ...]
    personal: bool
    default_text: str | None
    minimum: float | None
    maximum: float | None
    fields: tuple[FieldView, ...]
    """For a list of records: the records' fields."""


@dataclass(frozen=True, slots=True)
class RuleView:
    number: int
    id: str
    outcome: str
    reason: str
    when: str
    signposts: tuple[str, ...]
    citation: CitationView


@dataclass(frozen=True, slots=True)
class CriterionView:
    id: str
    description: str
    when: str
    citation: CitationView | None


@dataclass(frozen=True, slots=True)
class FallbackView:
    outcome: str
    reason: str
    citation: CitationView


@dataclass(frozen=True, slots=True)
class ParameterView:
    name: str
    type: str
    description: str
    value: str | None
    """The value in force (as text), or None when unset."""


@dataclass(frozen=True, slots=True)
class PolicyView:
    id: str
    version: str
    title: str
    description: str
    digest: str
    effective_from: str | None
    effective_until: str | None
    sources: tuple[SourceView, ...]
    facts: tuple[FactView, ...]
    rules: tuple[RuleView, ...]
    criteria: tuple[CriterionView, ...]
    otherwise: FallbackView
    incomplete: FallbackView
    parameters: tuple[ParameterView, ...]
    ready: bool
    """False when a parameter has no value: the policy cannot decide until one is given."""


def _citation(citation: Citation) -> CitationView:
    return CitationView(citation.source, citation.quote, citation.assumption, getattr(citation, "source_title", None))


def _field(name: str, spec: FieldSpec) -> FieldView:
    return FieldView(name, spec.type, describe_type(spec), tuple(spec.values), spec.minimum, spec.maximum)


def _parameters(policy: Policy) -> tuple[ParameterView, ...]:
    values: Mapping[str, Any] = getattr(policy.compiled, "parameters", {})
    out = []
    for name, spec in parameter_specs(policy).items():
        value = values.get(name)
        text = None if name not in values else (", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value))
        out.append(ParameterView(name, str(spec.get("type", "")), str(spec.get("description", "")).strip(), text))
    return tuple(out)


def policy_view(policy: Policy) -> PolicyView:
    """What the explorer and ``GET /v1/policies/{id}`` show of a policy."""
    compiled = policy.compiled
    facts = []
    for name, info in policy.facts.items():
        fact = compiled.facts[name]
        spec = fact.spec
        if fact.default_as_of:
            default: str | None = "the as-of date"
        elif info.has_default:
            default = repr(fact.default)
        else:
            default = None
        facts.append(
            FactView(
                name=info.name,
                type=info.type,
                type_text=describe_type(spec),
                description=info.description,
                values=tuple(info.values),
                personal=info.personal,
                default_text=default,
                minimum=spec.minimum,
                maximum=spec.maximum,
                fields=tuple(_field(n, s) for n, s in spec.fields.items()),
            )
        )
    rules = tuple(
        RuleView(
            number=index,
            id=rule.id,
            outcome=rule.outcome.value,
            reason=rule.reason,
            when=conditions.render(rule.node),
            signposts=tuple(getattr(compiled.services.get(s), "name", s) for s in rule.signposts),
            citation=_citation(rule.citation),
        )
        for index, rule in enumerate(compiled.rules, start=1)
    )
    criteria = tuple(
        CriterionView(
            c.id, c.description, conditions.render(c.node), _citation(c.citation) if c.citation is not None else None
        )
        for c in compiled.criteria
    )
    titles = {
        c.source: c.source_title
        for c in [r.citation for r in rules] + [c.citation for c in criteria if c.citation is not None]
        if c.source and c.source_title
    }
    return PolicyView(
        id=compiled.id,
        version=compiled.version,
        title=compiled.title,
        description=compiled.description,
        digest=compiled.digest,
        effective_from=compiled.effective_from.isoformat() if compiled.effective_from else None,
        effective_until=compiled.effective_until.isoformat() if compiled.effective_until else None,
        sources=tuple(SourceView(key, file, titles.get(file)) for key, file in compiled.sources.items()),
        facts=tuple(facts),
        rules=rules,
        criteria=criteria,
        otherwise=FallbackView(compiled.otherwise.outcome.value, compiled.otherwise.reason, _citation(compiled.otherwise.citation)),
        incomplete=FallbackView(compiled.incomplete.outcome.value, compiled.incomplete.reason, _citation(compiled.incomplete.citation)),
        parameters=_parameters(policy),
        ready=not unset_parameters(policy),
    )
