"""Running selected policy test cases, and their reports: text, JSON and JUnit XML.

``recnav-rules test`` selects cases with ``-k`` the way pytest's ``-k`` does (words in the case's
id, ``<file name>::<case name>``, with and / or / not: ``keywords.py``; several ``-k`` keep a
case matching any of them), times each one, and reports them in the form the caller asks for. JUnit XML is what CI services (GitLab, Jenkins, GitHub test reporters) read.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recnav_rules.policy import Policy
from recnav_rules.tools.cases import Case, CaseResult, case_files, load_cases, policy_for, run_case
from recnav_rules.tools.keywords import matcher

__all__ = ["TimedResult", "case_id", "junit_xml", "results_json", "run_selected"]


def case_id(case: Case) -> str:
    """``<file name>::<case name>``, as pytest names the same case through the plugin."""
    return f"{Path(case.file).name}::{case.name}"


@dataclass(frozen=True, slots=True)
class TimedResult:
    result: CaseResult
    seconds: float

    @property
    def passed(self) -> bool:
        return self.result.passed


def run_selected(paths: Iterable[str | Path], keywords: Sequence[str] = ()) -> tuple[list[TimedResult], int]:
    """(results of the selected cases in file order, how many cases were left out by ``keywords``).

    ``keywords`` are ``-k`` expressions (``keywords.py``); a case is kept when it matches any
    (all cases when there are none). Raises KeywordError for an expression that cannot be read.
    """
    tests = [matcher(expression) for expression in keywords]
    results: list[TimedResult] = []
    deselected = 0
    for file in case_files(paths):
        cases = load_cases(file)
        chosen = [case for case in cases if not tests or any(test(case_id(case).casefold()) for test in tests)]
        deselected += len(cases) - len(chosen)
        policies: dict[tuple[str, str | None], Policy] = {}
        for case in chosen:
            key = (case.policy, case.pcn_membership)
            if key not in policies:
                policies[key] = policy_for(case)
            started = time.perf_counter()
            result = run_case(case, policies[key])
            results.append(TimedResult(result, time.perf_counter() - started))
    return results, deselected


def _case_dict(timed: TimedResult) -> dict[str, Any]:
    result = timed.result
    case = result.case
    return {
        "id": case_id(case),
        "file": case.file,
        "line": case.line,
        "name": case.name,
        "policy": case.policy,
        "passed": result.passed,
        "failures": list(result.failures),
        "outcome": result.decision.outcome.value if result.decision is not None else None,
        "rejected_fields": sorted(result.error.fields) if result.error is not None else None,
        "seconds": round(timed.seconds, 6),
    }


def results_json(results: Sequence[TimedResult], deselected: int, coverage: Sequence[dict[str, Any]] | None, ok: bool) -> str:
    """The run as one JSON document (``coverage`` as ``Coverage.to_dict()`` per policy, or null)."""
    passed = sum(1 for r in results if r.passed)
    body = {
        "ok": ok,
        "passed": passed,
        "failed": len(results) - passed,
        "deselected": deselected,
        "cases": [_case_dict(r) for r in results],
        "coverage": list(coverage) if coverage is not None else None,
    }
    return json.dumps(body, indent=2) + "\n"


def junit_xml(results: Sequence[TimedResult]) -> str:
    """A JUnit XML report: one ``testcase`` per case, a ``failure`` holding the case's report."""
    failures = sum(1 for r in results if not r.passed)
    total = sum(r.seconds for r in results)
    suites = ET.Element("testsuites", name="recnav-rules", tests=str(len(results)), failures=str(failures), errors="0", time=f"{total:.6f}")
    suite = ET.SubElement(
        suites, "testsuite", name="recnav-rules policy cases", tests=str(len(results)), failures=str(failures),
        errors="0", skipped="0", time=f"{total:.6f}",
    )
    for timed in results:
        case = timed.result.case
        element = ET.SubElement(
            suite, "testcase", classname=Path(case.file).name.removesuffix(".yaml"), name=case.name,
            file=case.file, time=f"{timed.seconds:.6f}",
        )
        if case.line is not None:
            element.set("line", str(case.line))
        if not timed.passed:
            failure = ET.SubElement(element, "failure", message=timed.result.failures[0])
            failure.text = timed.result.report()
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
