"""The JSON API, ``/v1/...``: policies, decisions (one or a stream), the decision log, health."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict
from typing import Any

import anyio.to_thread
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from recnav_rules import FactProblem, FactValidationError
from recnav_rules.engine.dates import read_date, today_in_london
from recnav_rules.service import _engine_view
from recnav_rules.service._json import dumps, loads
from recnav_rules.service.problems import fact_problems, problem_body
from recnav_rules.service.store import PolicyStore

__all__ = ["ApiProblem", "json_response", "routes"]

INLINE_BODY = 64 * 1024
"""Bodies up to this size are decided on the event loop (fastest); larger ones in a thread, so the
time limit can still answer."""

_DECISION_KEYS = frozenset({"facts", "as_of", "parameters"})


class ApiProblem(Exception):
    """An error the API reports as problem+json (the app's exception handler renders it)."""

    def __init__(self, status: int, code: str, detail: str, errors: list[dict[str, object]] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors or []


def json_response(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status_code=status, media_type="application/json")


def _store(request: Request) -> PolicyStore:
    store: PolicyStore = request.app.state.store
    return store


async def _json_body(request: Request) -> Any:
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind not in ("application/json", "") and not kind.endswith("+json"):
        raise ApiProblem(415, "unsupported-media-type", "send the request as application/json")
    raw = await request.body()
    try:
        return loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise ApiProblem(400, "bad-request", f"the body is not JSON{where}") from None


def decision_request(body: Any) -> tuple[Mapping[str, Any], Any, Mapping[str, Any]]:
    """``(facts, as_of, parameters)`` from a decision request body; every shape problem at once."""
    if not isinstance(body, dict):
        raise ApiProblem(422, "bad-facts", "the body must be a JSON object", [FactProblem("<body>", "expected an object with 'facts'", code="wrong-type").to_dict()])
    problems: list[dict[str, object]] = []
    for key in body:
        if key not in _DECISION_KEYS:
            from recnav_rules.errors import closest

            problems.append(FactProblem(str(key), "unknown member", closest(str(key), sorted(_DECISION_KEYS)), code="unknown-member").to_dict())
    facts = body.get("facts")
    if not isinstance(facts, dict):
        problems.append(FactProblem("facts", "is required: an object of fact names to values", code="required").to_dict())
    as_of = body.get("as_of")
    if as_of is not None and not isinstance(as_of, str):
        problems.append(FactProblem("as_of", "expected a date (YYYY-MM-DD)", code="wrong-type").to_dict())
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        problems.append(FactProblem("parameters", "expected an object of parameter names to values", code="wrong-type").to_dict())
    if problems:
        raise ApiProblem(422, "bad-facts", f"{len(problems)} problem{'s' if len(problems) > 1 else ''} in the request", problems)
    assert isinstance(facts, dict) and isinstance(parameters, dict)
    return facts, as_of, parameters


def _bad_facts(exc: FactValidationError) -> ApiProblem:
    count = len(exc.problems)
    return ApiProblem(422, "bad-facts", f"{count} bad fact{'s' if count > 1 else ''}", fact_problems(exc.problems))


async def list_policies(request: Request) -> Response:
    store = _store(request)
    return json_response(
        {
            "policies": [
                {"id": i.id, "version": i.version, "title": i.title, "origin": i.origin, "href": f"/v1/policies/{i.id}"}
                for i in store.infos.values()
            ]
        }
    )


def policy_document(view: _engine_view.PolicyView) -> dict[str, Any]:
    """``GET /v1/policies/{id}``: facts with types, rules with citations, criteria, parameters."""
    data = asdict(view)
    return data


async def get_policy(request: Request) -> Response:
    policy = _store(request).get(request.path_params["policy_id"])
    return json_response(policy_document(_engine_view.policy_view(policy)))


async def decide(request: Request) -> Response:
    store = _store(request)
    policy_id = request.path_params["policy_id"]
    store.get(policy_id)  # 404 before reading the body
    body = await _json_body(request)
    facts, as_of, parameters = decision_request(body)

    def run() -> bytes:
        try:
            decision = store.evaluate(store.deciding(policy_id, parameters), facts, as_of)
        except FactValidationError as exc:
            raise _bad_facts(exc) from None
        return dumps(decision.to_dict())

    length = int(request.headers.get("content-length") or 0)
    payload = run() if length <= INLINE_BODY else await anyio.to_thread.run_sync(run)
    return Response(payload, media_type="application/json")


class DuplexStream(StreamingResponse):
    """A streamed response whose body is produced while the request body is still being read.

    Starlette's own ``StreamingResponse`` listens for a disconnect by calling ``receive`` in a
    second task, which would take request-body messages from the route; here only the route reads.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.stream_response(send)
        except OSError:
            return


async def _lines(request: Request, limit_line: int, limit_total: int) -> AsyncIterator[bytes | str]:
    """The body's lines; a ``str`` in their place reports a line (or the body) over its limit."""
    pending = b""
    total = 0
    skipping = False
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit_total:
            yield f"the body is over the batch limit of {limit_total} bytes; stopped here"
            return
        pending += chunk
        while True:
            cut = pending.find(b"\n")
            if cut < 0:
                break
            line, pending = pending[:cut], pending[cut + 1 :]
            if skipping:
                skipping = False
                continue
            yield line if len(line) <= limit_line else f"line longer than {limit_line} bytes"
        if len(pending) > limit_line and not skipping:
            yield f"line longer than {limit_line} bytes"
            pending, skipping = b"", True
        elif skipping:
            pending = b""
    if pending and not skipping:
        yield pending


async def batch(request: Request) -> Response:
    """JSON lines in (one facts object per line), JSON lines out in the same order:
    ``{"line": N, ...decision}`` or ``{"line": N, "error": ..., "errors": [...]}``; blank lines are skipped."""
    store = _store(request)
    try:
        policy = store.deciding(request.path_params["policy_id"])
    except FactValidationError as exc:
        raise _bad_facts(exc) from None
    as_of_text = request.query_params.get("as_of")
    as_of = read_date(as_of_text) if as_of_text else today_in_london()
    if as_of is None:
        raise ApiProblem(422, "bad-facts", "as_of must be a date (YYYY-MM-DD)", [FactProblem("as_of", "expected a date (YYYY-MM-DD)", code="bad-date").to_dict()]) from None
    config = request.app.state.config

    async def results() -> AsyncIterator[bytes]:
        try:
            async for out in _results():
                yield out
        except ClientDisconnect:
            return

    async def _results() -> AsyncIterator[bytes]:
        number = 0
        async for line in _lines(request, config.max_body_bytes, config.max_batch_bytes):
            number += 1
            record: dict[str, Any]
            if isinstance(line, str):
                record = {"line": number, "error": line}
            elif not line.strip():
                continue
            else:
                record = _batch_record(store, policy, number, line, as_of)
            yield dumps(record) + b"\n"

    return DuplexStream(results(), media_type="application/x-ndjson")


def _batch_record(store: PolicyStore, policy: Any, number: int, line: bytes, as_of: dt.date) -> dict[str, Any]:
    try:
        facts = loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"line": number, "error": "not JSON"}
    if not isinstance(facts, dict):
        return {"line": number, "error": "expected a JSON object of facts"}
    try:
        decision = store.evaluate(policy, facts, as_of)
    except FactValidationError as exc:
        return {"line": number, "error": str(exc), "errors": fact_problems(exc.problems)}
    return {"line": number, **decision.to_dict()}


async def get_decision(request: Request) -> Response:
    log = _store(request).log
    if log is None:
        raise ApiProblem(404, "no-log", "start the service with --log FILE to keep and look up decisions")
    entry = log.get(request.path_params["decision_id"])
    if entry is None:
        raise ApiProblem(404, "unknown-decision", "no decision with this id in the log")
    return json_response(entry.to_dict())


async def healthz(request: Request) -> Response:
    store = _store(request)
    return json_response({"status": "ok", "policies": len(store.policies), "log": store.log is not None})


async def openapi(request: Request) -> Response:
    from recnav_rules.service.openapi import openapi_document

    return json_response(openapi_document())


def routes() -> list[Route]:
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/v1/policies", list_policies, methods=["GET"]),
        Route("/v1/policies/{policy_id}", get_policy, methods=["GET"]),
        Route("/v1/policies/{policy_id}/decisions", decide, methods=["POST"]),
        Route("/v1/policies/{policy_id}/batch", batch, methods=["POST"]),
        Route("/v1/decisions/{decision_id}", get_decision, methods=["GET"]),
    ]


def problem_for(exc: ApiProblem, path: str) -> dict[str, Any]:
    return problem_body(exc.status, exc.code, exc.detail, instance=path, errors=exc.errors)
