"""RFC 9457 problem details (``application/problem+json``): every error the API returns."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.responses import Response

from recnav_rules.errors import FactProblem

__all__ = ["PROBLEM_TYPE", "ProblemResponse", "fact_problems", "problem", "problem_body"]

PROBLEM_TYPE = "urn:recnav-rules:problem:"
"""Each problem's ``type`` is this followed by a stable code (``bad-facts``, ``unknown-policy``, ...)."""

_TITLES = {
    "bad-facts": "The facts cannot be evaluated",
    "bad-request": "The request body is not usable",
    "unknown-policy": "No such policy",
    "unknown-decision": "No such decision",
    "not-found": "Not found",
    "method-not-allowed": "Method not allowed",
    "too-large": "The request body is too large",
    "timeout": "The request took too long",
    "unauthorized": "A bearer token is required",
    "no-log": "The service was started without a decision log",
    "unsupported-media-type": "Unsupported media type",
    "internal": "Internal error",
}


class ProblemResponse(Response):
    media_type = "application/problem+json"


def problem_body(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": _TITLES.get(code, code),
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    listed = [dict(e) for e in errors]
    if listed:
        body["errors"] = listed
    return body


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: Iterable[Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> ProblemResponse:
    """A problem+json response. ``detail`` and ``errors`` must never hold personal values."""
    body = problem_body(status, code, detail, instance=instance, errors=errors)
    return ProblemResponse(json.dumps(body, ensure_ascii=False).encode("utf-8"), status_code=status, headers=headers)


def fact_problems(problems: Iterable[FactProblem]) -> list[dict[str, object]]:
    """A ``FactValidationError``'s problems as the ``errors`` member: field, message, suggestion."""
    return [p.to_dict() for p in problems]
