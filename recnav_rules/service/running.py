"""Run the service in this process, on a free loopback port, for tests and embedding.

>>> with running_service(ServiceConfig()) as base_url:   # doctest: +SKIP
...     httpx.get(base_url + "/healthz")
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette

from recnav_rules.service.app import create_app
from recnav_rules.service.config import ServiceConfig

__all__ = ["free_port", "running_service"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_service(config: ServiceConfig, *, app: Starlette | None = None, start_timeout: float = 60.0) -> Iterator[str]:
    """A real uvicorn server in a thread; yields its base URL (no trailing slash); shuts down on exit."""
    port = config.port if config.port else free_port(config.host)
    application = app if app is not None else create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(
            application, host=config.host, port=port, access_log=False, log_config=None,
            server_header=False, timeout_graceful_shutdown=5, lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, name=f"recnav-rules-service-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the service did not start on {config.host}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{config.host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
