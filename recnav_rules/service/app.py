"""The ASGI application: the JSON API and the explorer behind the access log, token and limits."""

from __future__ import annotations

import logging
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from recnav_rules.service import api, explorer
from recnav_rules.service.config import ServiceConfig, read_token
from recnav_rules.service.middleware import AccessLog, BearerToken, Limits, SecurityHeaders
from recnav_rules.service.problems import ProblemResponse, problem
from recnav_rules.service.store import PolicyStore, UnknownPolicy

__all__ = ["app_from_environment", "create_app", "open_log"]

logger = logging.getLogger("recnav_rules.service")


def open_log(path: str) -> Any:
    """The decision log at ``path`` (``recnav_rules.audit.DecisionLog``, imported when asked for)."""
    from recnav_rules.audit import DecisionLog  # type: ignore[import-not-found,unused-ignore]

    return DecisionLog(path)


def _is_api(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/v1/") or path in ("/healthz", "/openapi.json")


async def _api_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, api.ApiProblem)
    if not _is_api(request):
        return explorer.render_error(request, exc.status, "There is a problem", exc.detail)
    return ProblemResponse(
        api.json_response(api.problem_for(exc, request.url.path)).body, status_code=exc.status
    )


async def _unknown_policy(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UnknownPolicy)
    hint = f" (did you mean '{exc.suggestion}'?)" if exc.suggestion else ""
    if _is_api(request):
        return problem(404, "unknown-policy", f"no policy with id '{exc.policy_id}'{hint}", instance=request.url.path)
    return explorer.render_error(request, 404, "Policy not found", f"There is no policy with id '{exc.policy_id}'{hint}.")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "bad-request")
    if _is_api(request) or request.method != "GET":
        return problem(exc.status_code, code, str(exc.detail), instance=request.url.path, headers=exc.headers)
    return explorer.render_error(request, exc.status_code, "Page not found" if exc.status_code == 404 else "There is a problem", str(exc.detail))


async def _internal(request: Request, exc: Exception) -> Response:
    # The exception's text may quote input; log its type and the route only.
    logger.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return problem(500, "internal", "the service failed on this request; it has been logged", instance=request.url.path)


def create_app(config: ServiceConfig | None = None, *, store: PolicyStore | None = None) -> Starlette:
    """The application. Loads (compiles) every offered policy now, and opens the log if configured.

    Raises ``ValueError`` for an unusable token file, ``PolicyError`` for a policy that does not load.
    """
    config = config or ServiceConfig()
    token = read_token(config.token_file) if config.token_file else None
    if config.needs_token and token is None:
        raise ValueError(f"binding to {config.host} needs a bearer token: give --token-file")
    if store is None:
        log = open_log(config.log_path) if config.log_path else None
        store = PolicyStore.load(config.parameters, log)
    middleware = [Middleware(AccessLog), Middleware(SecurityHeaders)]
    if token is not None:
        middleware.append(Middleware(BearerToken, token=token))
    middleware.append(
        Middleware(Limits, max_body=config.max_body_bytes, max_batch=config.max_batch_bytes, timeout=config.request_timeout)
    )
    app = Starlette(
        routes=[*api.routes(), *explorer.routes()],
        middleware=middleware,
        exception_handlers={
            api.ApiProblem: _api_problem,
            UnknownPolicy: _unknown_policy,
            HTTPException: _http_error,
            Exception: _internal,
        },
    )
    app.state.store = store
    app.state.config = config
    return app


def app_from_environment() -> Starlette:
    """uvicorn's factory for worker processes: the configuration comes from ``CONFIG_ENV``."""
    return create_app(ServiceConfig.from_env())
