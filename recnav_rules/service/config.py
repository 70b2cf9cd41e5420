"""What one running service is configured with, and how it reaches uvicorn's worker processes."""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CONFIG_ENV", "ServiceConfig", "is_loopback", "read_token"]

CONFIG_ENV = "RECNAV_RULES_SERVICE_CONFIG"
"""With ``--workers`` above 1, uvicorn starts fresh processes; they read the configuration here (JSON).
It holds the token file's path, never the token."""

DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_MAX_BATCH = 256 * 1024 * 1024
DEFAULT_REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """The service's settings. ``parameters`` are passed to ``load_policy`` for every policy."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_path: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    token_file: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY
    """The largest request body (one decision, a form, or one line of a batch)."""
    max_batch_bytes: int = DEFAULT_MAX_BATCH
    """The largest streamed batch body."""
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    """Seconds a request (batches excepted) may take, body reading included; then 503."""

    def to_env(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_env(cls, text: str | None = None) -> ServiceConfig:
        raw = text if text is not None else os.environ.get(CONFIG_ENV)
        if not raw:
            return cls()
        data: dict[str, Any] = json.loads(raw)
        return cls(**data)

    @property
    def needs_token(self) -> bool:
        return not is_loopback(self.host)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; any other address (0.0.0.0 included) is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(path: str) -> str:
    """The bearer token in ``path`` (surrounding whitespace removed). Raises ``ValueError`` naming the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the token file ({exc.__class__.__name__})") from None
    token = text.strip()
    if len(token) < 16:
        raise ValueError(f"{path}: the token must be at least 16 characters")
    if any(ch.isspace() for ch in token):
        raise ValueError(f"{path}: the token must be one line without spaces")
    return token
