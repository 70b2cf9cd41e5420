"""The decision as a FHIR R4 GuidanceResponse, for the referring system.

``status`` is ``success`` when the facts settle the decision and ``data-required`` when they do
not (then ``dataRequirement`` says which resource types the mapping would read the missing
facts from). The outcome, completeness, reasons (rule id, text, source, quote or assumption),
missing facts, signposts, next steps and the policy and facts digests are in a contained
``Parameters`` resource that ``outputParameters`` points to; each reason is also a ``note``.
The response is checked against the R4 model before it is returned. It carries no personal
data: the decision it renders has none, and the subject is only a reference.
"""

from __future__ import annotations

from typing import Any

from recnav_rules.decision import Decision
from recnav_rules.fhir.mapping import FhirMapping

__all__ = ["MODULE_URI_PREFIX", "guidance_response"]

MODULE_URI_PREFIX = "urn:recnav-rules:policy:"
_PARAMETERS_ID = "decision"


def _string_parts(**values: Any) -> list[dict[str, Any]]:
    return [{"name": name, "valueString": value} for name, value in values.items() if value is not None]


def _parameters(decision: Decision) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": "outcome", "valueCode": decision.outcome.value},
        {"name": "complete", "valueBoolean": decision.complete},
    ]
    for reason in decision.reasons:
        parameters.append(
            {
                "name": "reason",
                "part": [
                    {"name": "outcome", "valueCode": reason.outcome.value},
                    *_string_parts(
                        rule_id=reason.rule_id,
                        text=reason.text,
                        source=reason.source,
                        quote=reason.quote,
                        assumption=reason.assumption,
                    ),
                ],
            }
        )
    parameters += [{"name": "missing_fact", "valueString": name} for name in decision.missing_facts]
    parameters += [
        {"name": "signpost", "part": _string_parts(service_id=s.service_id, name=s.name)} for s in decision.signposts
    ]
    for step in decision.next_steps:
        part: list[dict[str, Any]] = _string_parts(action=step.action, description=step.description)
        if step.due is not None:
            part.append({"name": "due", "valueDate": step.due.isoformat()})
        if step.status is not None:
            part.append({"name": "status", "valueCode": step.status})
        parameters.append({"name": "next_step", "part": part})
    parameters += _string_parts(
        policy_id=decision.policy_id,
        policy_version=decision.policy_version,
        policy_digest=decision.policy_digest,
        facts_digest=decision.facts_digest,
    )
    return {"resourceType": "Parameters", "id": _PARAMETERS_ID, "parameter": parameters}


def guidance_response(
    decision: Decision,
    *,
    mapping: FhirMapping | None = None,
    subject_reference: str | None = None,
    request_identifier: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``decision`` as a GuidanceResponse (FHIR R4 JSON), validated against the R4 model.

    ``subject_reference`` (e.g. the bundle Patient's fullUrl) and ``request_identifier`` (the
    ServiceRequest's identifier) link it back to the referral; ``mapping`` lets missing facts
    become data requirements.
    """
    from fhir.resources.R4B.guidanceresponse import GuidanceResponse

    response: dict[str, Any] = {
        "resourceType": "GuidanceResponse",
        "contained": [_parameters(decision)],
        "moduleUri": f"{MODULE_URI_PREFIX}{decision.policy_id}:{decision.policy_version}",
        "status": "success" if decision.complete else "data-required",
        "occurrenceDateTime": decision.as_of.isoformat(),
        "outputParameters": {"reference": f"#{_PARAMETERS_ID}"},
        "note": [{"text": f"{r.outcome.value}: {r.text} (rule {r.rule_id})"} for r in decision.reasons],
    }
    if decision.decision_id is not None:
        response["identifier"] = [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{decision.decision_id}"}]
    if request_identifier is not None:
        response["requestIdentifier"] = request_identifier
    if subject_reference is not None:
        response["subject"] = {"reference": subject_reference}
    requirements = _data_requirements(decision, mapping)
    if requirements:
        response["dataRequirement"] = requirements
    GuidanceResponse.model_validate(response)
    return response


def _data_requirements(decision: Decision, mapping: FhirMapping | None) -> list[dict[str, Any]]:
    if mapping is None or decision.complete:
        return []
    found: list[dict[str, Any]] = []
    for name in decision.missing_facts:
        fact = mapping.fact(name)
        if fact is not None:
            found.append({"type": fact.resource, "mustSupport": [fact.path_text]})
    return found
