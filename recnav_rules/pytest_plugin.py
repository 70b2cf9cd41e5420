"""A pytest plugin: ``*.cases.yaml`` policy test cases run under a plain ``pytest``.

Registered through the ``pytest11`` entry point, so any project that installs recnav_rules has
it, but it collects nothing until the project opts in, in its pytest configuration::

    [tool.pytest.ini_options]
    recnav_rules_cases = true

or for one run with ``pytest --recnav-cases``. Even then, a ``*.cases.yaml`` file that is not a
recnav case file (say a deployment tool's ``deploy.cases.yaml``) is passed over, never failed:
a recnav case file points at ``cases.schema.json`` in its first line, or has top-level
``cases:`` and a ``policy:`` key. Each case becomes a test item; a failure shows expected vs
actual and the decision's explanation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recnav_rules.errors import PolicyError
from recnav_rules.tools.cases import CASE_SUFFIX, Case, load_cases, run_case

INI_OPTION = "recnav_rules_cases"
FLAG = "--recnav-cases"

_SCHEMA_LINE = re.compile(r"^#.*\bcases\.schema\.json\b")
_CASES_KEY = re.compile(r"^cases\s*:", re.MULTILINE)
_POLICY_KEY = re.compile(r"^(?:\s*-\s+|\s*)policy\s*:", re.MULTILINE)
_SNIFF_BYTES = 1024 * 1024


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(INI_OPTION, type="bool", default=False, help="collect recnav-rules policy test cases (*.cases.yaml)")
    group = parser.getgroup("recnav-rules")
    group.addoption(FLAG, action="store_true", default=False, help="collect recnav-rules policy test cases (*.cases.yaml)")


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("recnav_cases") or config.getini(INI_OPTION))


def is_case_file(path: Path) -> bool:
    """Does this ``*.cases.yaml`` look like a recnav-rules case file (without running it)?"""
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return False
    text = head.decode("utf-8", errors="replace")
    first = text.split("\n", 1)[0]
    if _SCHEMA_LINE.match(first):
        return True
    return bool(_CASES_KEY.search(text) and _POLICY_KEY.search(text))


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if not file_path.name.endswith(CASE_SUFFIX) or not _enabled(parent.config) or not is_case_file(file_path):
        return None
    result: pytest.Collector = PolicyCaseFile.from_parent(parent, path=file_path)
    return result


class PolicyCaseFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        for case in load_cases(self.path):
            yield PolicyCaseItem.from_parent(self, name=case.name, case=case)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """A broken case file is reported as ``file:line:col: error: ...`` lines, not a traceback."""
        if isinstance(excinfo.value, PolicyError):
            return "\n".join(problem.render() for problem in excinfo.value.problems)
        return str(super().repr_failure(excinfo))


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
