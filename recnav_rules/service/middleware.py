"""Pure ASGI middleware: access log without facts, bearer token, body-size and time limits.

Order (outermost first): access log, then the token check, then the limits, then the routes.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from recnav_rules.service.problems import problem

__all__ = ["AccessLog", "BearerToken", "Limits", "SecurityHeaders"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_logger = logging.getLogger("recnav_rules.service.access")

UNPROTECTED = frozenset({"/healthz"})
STREAMING_SUFFIX = "/batch"


class AccessLog:
    """One line per request: method, path (never the query string, which may carry facts), status, ms.

    Replaces uvicorn's access log, which prints the query string and the client address.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        logged = False

        def log() -> None:
            nonlocal logged
            logged = True
            if access_logger.isEnabledFor(logging.INFO):
                elapsed = (time.perf_counter() - started) * 1000
                access_logger.info("%s %s %d %.1fms", scope["method"], scope["path"], status, elapsed)

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body", False) and not logged:
                log()  # before the last bytes go out, so the line is written by the time the client has the answer
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if not logged:
                log()


class SecurityHeaders:
    """Headers on every response: nothing cached (answers may hold personal facts), no referrer
    (a shared link's query string holds facts), scripts and styles from this server only."""

    HEADERS = (
        (b"cache-control", b"no-store"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    )
    STATIC = ((b"x-content-type-options", b"nosniff"),)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.STATIC if scope["path"].startswith("/static/") else self.HEADERS

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, sending)


class BearerToken:
    """Every request but ``/healthz`` must carry ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNPROTECTED:
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
                break
        if not hmac.compare_digest(given, self.expected):
            response = problem(
                401, "unauthorized", "send the service's token as 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": 'Bearer realm="recnav-rules"'},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class _TooLarge(Exception):
    pass


class Limits:
    """413 for a body over the limit (declared or streamed), 503 for a request over the time limit.

    Batch routes (paths ending in ``/batch``) stream: a declared length is held to the batch limit
    here, the bytes streamed are counted by the route (which reports an overrun in its output),
    and they have no overall time limit.
    """

    def __init__(self, app: ASGIApp, *, max_body: int, max_batch: int, timeout: float) -> None:
        self.app = app
        self.max_body = max_body
        self.max_batch = max_batch
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        streaming = scope["path"].endswith(STREAMING_SUFFIX)
        limit = self.max_batch if streaming else self.max_body
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > limit:
                    await problem(413, "too-large", f"the body must be at most {limit} bytes")(scope, receive, send)
                    return
        received = 0
        started = False

        async def receiving() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request" and not streaming:
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            if streaming:
                await self.app(scope, receiving, sending)
            else:
                async with asyncio.timeout(self.timeout):  # cheaper than anyio.fail_after on every request
                    await self.app(scope, receiving, sending)
        except _TooLarge:
            if not started:
                await problem(413, "too-large", f"the body must be at most {limit} bytes")(scope, receive, send)
        except TimeoutError:
            if not started:
                await problem(503, "timeout", f"the request took longer than {self.timeout:g} seconds")(scope, receive, send)
