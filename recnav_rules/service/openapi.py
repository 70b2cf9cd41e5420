"""The OpenAPI 3.1 document served at ``/openapi.json``."""

from __future__ import annotations

import functools
import json
from typing import Any

from recnav_rules._version import __version__

__all__ = ["openapi_document"]


def _hoist(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """Move a JSON Schema's ``$defs`` into ``components.schemas`` and point its refs there."""
    defs = schema.pop("$defs", {})
    text = json.dumps(schema).replace('"#/$defs/', '"#/components/schemas/')
    for name, sub in defs.items():
        components[name] = json.loads(json.dumps(sub).replace('"#/$defs/', '"#/components/schemas/'))
    hoisted: dict[str, Any] = json.loads(text)
    return hoisted


_PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details. For bad facts, `errors` lists every bad field.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "examples": ["urn:recnav-rules:problem:bad-facts"]},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "description": "One problem, as FactProblem.to_dict(): where (field), what (code, message), did-you-mean (suggestion).",
                "required": ["field", "code", "message"],
                "properties": {
                    "field": {"type": "string", "examples": ["emergency_calls[2].at", "parameters.network4_pcn_code"]},
                    "code": {"type": "string", "examples": ["wrong-type", "unknown-fact"]},
                    "severity": {"type": "string"},
                    "message": {"type": "string"},
                    "suggestion": {"type": ["string", "null"]},
                },
            },
        },
    },
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


_POLICY_ID = {"name": "policy_id", "in": "path", "required": True, "schema": {"type": "string"}, "example": "bnssg-hiu-pilot"}
_AUTH = {"401": _problem("A bearer token is required (the service is bound to a non-loopback address).")}


@functools.cache
def openapi_document() -> dict[str, Any]:
    from recnav_rules.decision import decision_json_schema

    components: dict[str, Any] = {"Problem": _PROBLEM}
    components["Decision"] = _hoist(dict(decision_json_schema()), components)
    components["DecisionRequest"] = {
        "type": "object",
        "required": ["facts"],
        "additionalProperties": False,
        "properties": {
            "facts": {"type": "object", "description": "Fact names to JSON values; see GET /v1/policies/{policy_id}."},
            "as_of": {"type": "string", "format": "date", "description": "Decide as of this date (default: today)."},
            "parameters": {"type": "object", "description": "Policy parameters, over the service's --param values."},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "recnav-rules decision service",
            "version": __version__,
            "description": "Explainable eligibility decisions for mental-health referrals. See docs/service.md.",
        },
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"bearer": []}],
        "paths": {
            "/healthz": {"get": {"summary": "Liveness", "security": [{}], "responses": {"200": {"description": "The service is up."}}}},
            "/v1/policies": {
                "get": {"summary": "The policies offered", "responses": {"200": {"description": "id, version, title, origin of each."}, **_AUTH}}
            },
            "/v1/policies/{policy_id}": {
                "get": {
                    "summary": "One policy: facts with types, rules in priority order with citations, criteria, parameters",
                    "parameters": [_POLICY_ID],
                    "responses": {"200": {"description": "The policy."}, "404": _problem("No such policy."), **_AUTH},
                }
            },
            "/v1/policies/{policy_id}/decisions": {
                "post": {
                    "summary": "Decide on one referral",
                    "parameters": [_POLICY_ID],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DecisionRequest"}}}},
                    "responses": {
                        "200": {"description": "The decision, exactly Decision.to_dict().", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Decision"}}}},
                        "400": _problem("The body is not JSON."),
                        "404": _problem("No such policy."),
                        "413": _problem("The body is over the size limit."),
                        "415": _problem("The body is not application/json."),
                        "422": _problem("Bad facts: every bad field listed in `errors`."),
                        "503": _problem("The request took longer than the time limit."),
                        **_AUTH,
                    },
                }
            },
            "/v1/policies/{policy_id}/batch": {
                "post": {
                    "summary": "Decide on a stream of referrals: JSON lines in (one facts object each), JSON lines out in order",
                    "parameters": [_POLICY_ID, {"name": "as_of", "in": "query", "schema": {"type": "string", "format": "date"}}],
                    "requestBody": {"required": True, "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
                    "responses": {
                        "200": {"description": 'One line per input line: {"line": N, ...decision} or {"line": N, "error": ..., "errors": [...]}.', "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
                        "404": _problem("No such policy."),
                        "413": _problem("The declared body length is over the batch limit."),
                        **_AUTH,
                    },
                }
            },
            "/v1/decisions/{decision_id}": {
                "get": {
                    "summary": "A recorded decision (when the service was started with --log)",
                    "parameters": [{"name": "decision_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}],
                    "responses": {"200": {"description": "The decision.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Decision"}}}}, "404": _problem("No such decision, or no log."), **_AUTH},
                }
            },
        },
    }
