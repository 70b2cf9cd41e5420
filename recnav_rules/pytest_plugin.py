"""A pytest plugin: ``*.cases.yaml`` policy test cases run under a plain ``pytest``.

Registered through the ``pytest11`` entry point, so any project that installs recnav_rules
gets it: each case becomes a test item, and a failure shows expected vs actual and the
decision's explanation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recnav_rules.tools.cases import CASE_SUFFIX, Case, load_cases, run_case


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.name.endswith(CASE_SUFFIX):
        result: pytest.Collector = PolicyCaseFile.from_parent(parent, path=file_path)
        return result
    return None


class PolicyCaseFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        for case in load_cases(self.path):
            yield PolicyCaseItem.from_parent(self, name=case.name, case=case)


class PolicyCaseFailure(AssertionError):
    """A policy test case whose decision differs from what it expects."""


class PolicyCaseItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        result = run_case(self.case)
        if not result.passed:
            raise PolicyCaseFailure(result.report())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, PolicyCaseFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, (self.case.line - 1) if self.case.line else None, f"policy case: {self.case.name}"
