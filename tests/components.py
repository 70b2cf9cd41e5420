"""Optional real components (PostgreSQL, Chromium, Java for Spark, ...): skip or fail.

On a developer's machine without a component, its tests skip with a reason. CI sets
``RECNAV_RULES_REQUIRE_COMPONENTS=1`` (see ``.ci/run``), which turns every such skip into a
failure, so a green CI run proves those tests really ran.
"""

from __future__ import annotations

import os

import pytest

__all__ = ["REQUIRE_ENV", "require"]

REQUIRE_ENV = "RECNAV_RULES_REQUIRE_COMPONENTS"


def require(available: bool, component: str, reason: str) -> None:
    """Skip (or, under CI's switch, fail) the calling test when ``component`` is missing."""
    if available:
        return
    message = f"{component} is not available: {reason}"
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{message} ({REQUIRE_ENV} is set, so this cannot be skipped)", pytrace=False)
    pytest.skip(message)
