"""FHIR R4 in and out: referral Bundles become a policy's facts; decisions become GuidanceResponses.

::

    import datetime, recnav_rules
    from recnav_rules import fhir

    policy = recnav_rules.load_policy("bnssg-hiu-pilot")
    result = fhir.evaluate_bundle(policy, bundle_json, as_of=datetime.date(2026, 11, 20))
    result.decision.outcome        # as Policy.evaluate gives it
    result.guidance_response       # FHIR R4 GuidanceResponse (JSON) for the referring system

Each policy declares its mapping in ``policies/fhir/<policy-id>.fhir.yaml`` (see docs/fhir.md).
A bad bundle is a ``FactValidationError`` naming the resource and the element path; a bad
mapping is a ``PolicyError`` at file:line:col. Needs the ``fhir`` extra (fhir.resources).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import fhir.resources  # noqa: F401  # the R4 models every module here validates with
except ModuleNotFoundError as missing:  # pragma: no cover - depends on the installation
    raise ImportError("recnav_rules.fhir needs the 'fhir' extra: pip install 'recnav-rules[fhir]'") from missing

from recnav_rules.decision import Decision
from recnav_rules.fhir.answer import guidance_response
from recnav_rules.fhir.bundle import BundleEntry, ReadBundle, read_bundle
from recnav_rules.fhir.mapping import FhirMapping, load_mapping, mapping_path
from recnav_rules.policy import Policy

__all__ = [
    "FhirEvaluation",
    "FhirMapping",
    "ReadBundle",
    "bundle_facts",
    "evaluate_bundle",
    "guidance_response",
    "load_mapping",
    "mapping_path",
    "read_bundle",
]

BundleSource = str | bytes | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class FhirEvaluation:
    """A bundle's decision, and the same decision as a FHIR GuidanceResponse."""

    decision: Decision
    guidance_response: dict[str, Any]


def bundle_facts(policy: Policy, bundle: BundleSource | ReadBundle, *, mapping: str | Path | None = None) -> dict[str, Any]:
    """The policy's facts from a FHIR R4 Bundle, through the policy's mapping.

    Raises ``FactValidationError`` (bad bundle) or ``PolicyError`` (missing or bad mapping).
    """
    read = bundle if isinstance(bundle, ReadBundle) else read_bundle(bundle)
    return load_mapping(policy, mapping).facts_from(read)


def evaluate_bundle(
    policy: Policy, bundle: BundleSource, *, as_of: dt.date | str | None = None, mapping: str | Path | None = None
) -> FhirEvaluation:
    """Decide on a referral Bundle: its facts through the mapping, then ``policy.evaluate``."""
    read = read_bundle(bundle)
    checked = load_mapping(policy, mapping)
    facts = checked.facts_from(read)
    decision = policy.evaluate(facts, as_of=as_of)
    answer = guidance_response(
        decision,
        mapping=checked,
        subject_reference=_subject_reference(read.patient, facts, policy),
        request_identifier=_request_identifier(read),
    )
    return FhirEvaluation(decision, answer)


def _subject_reference(patient: BundleEntry | None, facts: Mapping[str, Any], policy: Policy) -> str | None:
    """How the answer points at the Patient: its fullUrl, or Type/id; never if it holds personal data."""
    if patient is None:
        return None
    reference = patient.full_url or (f"Patient/{patient.id}" if patient.id else None)
    if reference is None:
        return None
    personal = [str(facts[name]) for name, info in policy.facts.items() if info.personal and facts.get(name)]
    personal += [str(i.get("value")) for i in patient.resource.get("identifier") or () if isinstance(i, Mapping) and i.get("value")]
    if any(value in reference for value in personal):
        return None
    return reference


def _request_identifier(bundle: ReadBundle) -> dict[str, Any] | None:
    requests = bundle.of_type("ServiceRequest")
    if len(requests) != 1:
        return None
    identifiers = requests[0].resource.get("identifier") or []
    first = identifiers[0] if identifiers else None
    if isinstance(first, Mapping) and isinstance(first.get("value"), str):
        return {k: first[k] for k in ("system", "value") if isinstance(first.get(k), str)}
    return None
