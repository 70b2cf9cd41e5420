"""``recnav-rules serve``: the decision service and policy explorer (the ``service`` extra).

Imports nothing from Starlette or uvicorn until the command runs, so the command line works
(and says what to install) where the extra is missing.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

__all__ = ["add_commands", "parse_params", "serve"]

EXIT_USAGE = 2


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from recnav_rules.service.config import DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY, DEFAULT_REQUEST_TIMEOUT

    serve_parser = subparsers.add_parser(
        "serve",
        help="run the HTTP decision service and policy explorer",
        description="Serve the JSON API (/v1, /openapi.json) and the policy explorer (/). See docs/service.md.",
    )
    serve_parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; any other needs --token-file)")
    serve_parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve_parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve_parser.add_argument("--log", metavar="FILE", help="keep every API decision in this decision log (GET /v1/decisions/{id}, the log browser)")
    serve_parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a policy parameter for every policy (repeatable)")
    serve_parser.add_argument("--token-file", metavar="FILE", help="require 'Authorization: Bearer <the token in FILE>' on every request but /healthz")
    serve_parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY, metavar="N", help=f"largest request body or batch line (default {DEFAULT_MAX_BODY})")
    serve_parser.add_argument("--max-batch-bytes", type=int, default=DEFAULT_MAX_BATCH, metavar="N", help=f"largest batch body (default {DEFAULT_MAX_BATCH})")
    serve_parser.add_argument("--request-timeout", type=float, default=DEFAULT_REQUEST_TIMEOUT, metavar="SECONDS", help=f"time limit per request, batches excepted (default {DEFAULT_REQUEST_TIMEOUT:g})")
    serve_parser.set_defaults(run=serve)


def _fail(message: str) -> int:
    sys.stderr.write(f"recnav-rules: {message}\n")
    return EXIT_USAGE


def parse_params(items: list[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings to a mapping. Raises ``ValueError`` naming the bad one."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"--param {item!r}: expected NAME=VALUE")
        if name in out:
            raise ValueError(f"--param {name}: given twice")
        out[name] = value
    return out


class WithholdTracebacks(logging.Filter):
    """Drop exception details from server log records: an exception's text may quote the input."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            kind = record.exc_info[0].__name__ if record.exc_info[0] else "exception"
            record.msg = f"{record.getMessage()} ({kind}; details withheld: they may quote the request)"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def _logging_config() -> dict[str, Any]:
    handler = {
        "class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr", "filters": ["withhold"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"withhold": {"()": WithholdTracebacks}},
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "recnav_rules.service": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }


def serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from recnav_rules.service.app import create_app
    except ModuleNotFoundError as exc:
        return _fail(f"the service needs the 'service' extra ({exc.name} is missing): pip install 'recnav-rules[service]'")
    from recnav_rules.service import _engine_view
    from recnav_rules.service.config import CONFIG_ENV, ServiceConfig, is_loopback

    if not 0 < args.port < 65536:
        return _fail(f"--port {args.port}: must be 1 to 65535")
    if args.workers < 1:
        return _fail(f"--workers {args.workers}: must be 1 or more")
    for name in ("max_body_bytes", "max_batch_bytes", "request_timeout"):
        if getattr(args, name) <= 0:
            return _fail(f"--{name.replace('_', '-')}: must be above 0")
    try:
        parameters = parse_params(args.param)
    except ValueError as exc:
        return _fail(str(exc))
    if parameters and not _engine_view.supports_parameters():
        return _fail("--param: this version of recnav-rules has no policy parameters yet")
    if parameters:
        unused = _engine_view.declared_anywhere(parameters)
        if unused:
            return _fail(f"--param {unused[0]}: no offered policy has this parameter")
    if not is_loopback(args.host) and args.token_file is None:
        return _fail(f"--host {args.host}: serving beyond this machine needs a bearer token; give --token-file FILE")
    if args.log is not None:
        try:
            import recnav_rules.audit  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
        except ModuleNotFoundError:
            return _fail("--log: the decision log (recnav_rules.audit) is not part of this installation")
    config = ServiceConfig(
        host=args.host, port=args.port, workers=args.workers, log_path=args.log, parameters=parameters,
        token_file=args.token_file, max_body_bytes=args.max_body_bytes, max_batch_bytes=args.max_batch_bytes,
        request_timeout=args.request_timeout,
    )
    try:
        app = create_app(config)  # checks the token file, policies and log before binding
    except ValueError as exc:  # PolicyError and FactValidationError are ValueErrors too
        return _fail(str(exc))
    common: dict[str, Any] = {
        "host": config.host, "port": config.port, "access_log": False, "log_config": _logging_config(),
        "server_header": False, "timeout_graceful_shutdown": 10, "proxy_headers": False,
    }
    if config.workers == 1:
        uvicorn.run(app, **common)
        return 0
    os.environ[CONFIG_ENV] = config.to_env()
    from uvicorn.supervisors import Multiprocess

    from recnav_rules.service.workers import TcpConfig

    worker_config = TcpConfig("recnav_rules.service.app:app_from_environment", factory=True, workers=config.workers, **common)
    Multiprocess(worker_config, sockets=[worker_config.bind_socket()]).run()
    return 0
