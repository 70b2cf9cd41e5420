"""pytest plugin for scripts/mutation.py: run the tests most likely to kill a mutant first.

mutmut runs a mutant's tests with ``-x`` in the order it lists them (a set's order), so a
killed mutant costs whatever runs before the first failure. This puts the targeted
``tests/test_engine_mutants_*.py`` first and every other test fastest first, by the durations
mutmut recorded (``mutmut-stats.json`` in its ``mutants/`` folder, the tests' working directory).
Only the order changes: the same tests run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    stats = Path("mutmut-stats.json")
    durations: dict[str, float] = {}
    if stats.is_file():
        try:
            durations = json.loads(stats.read_text(encoding="utf-8")).get("duration_by_test", {})
        except (OSError, ValueError):
            durations = {}
    items.sort(key=lambda item: ("/test_engine_mutants_" not in f"/{item.nodeid}", durations.get(item.nodeid, 0.0)))
