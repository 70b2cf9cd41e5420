"""``recnav-rules validate``: every error and warning in policy files, compiler style.

    policies/bnssg.yaml:42:7: error: unknown fact 'agee' (did you mean 'age'?)
       42 |         when: {fact: agee, lt: 18}
          |                      ^
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from recnav_rules.engine.source import load_yaml_file
from recnav_rules.errors import PolicyError, PolicyProblem
from recnav_rules.policies.register import reference_literal_warnings
from recnav_rules.policies.registry import compile_file
from recnav_rules.policies.sources import quote_problems
from recnav_rules.tools.lint import warnings_for

__all__ = ["render_problem", "validate_paths"]


def validate_paths(paths: Iterable[str | Path]) -> list[PolicyProblem]:
    """Every problem (errors and warnings) in the given policy files.

    A file that compiles is then checked against its sources (every quote verbatim, see
    ``policies/sources.py``) and its reference data (literals the table never holds).
    """
    problems: list[PolicyProblem] = []
    for path in paths:
        try:
            policies = compile_file(path)
        except PolicyError as exc:
            problems.extend(exc.problems)
            continue
        doc = load_yaml_file(path)
        problems.extend(quote_problems(doc))
        for policy in policies:
            problems.extend(warnings_for(policy.compiled))
            problems.extend(reference_literal_warnings(policy.compiled, doc))
    return problems


def _source_line(file: str, line: int) -> str | None:
    try:
        lines = Path(file).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return lines[line - 1] if 1 <= line <= len(lines) else None


def render_problem(problem: PolicyProblem) -> str:
    """The problem line, then the source line and a caret under the column when known."""
    text = problem.render()
    if problem.line is None:
        return text
    source = _source_line(problem.file, problem.line)
    if source is None:
        return text
    gutter = f"{problem.line:>6} | "
    text += f"\n{gutter}{source}"
    if problem.column is not None:
        text += "\n" + " " * (len(gutter) - 2) + "| " + " " * (problem.column - 1) + "^"
    return text


def report(problems: list[PolicyProblem], *, as_json: bool, strict: bool) -> tuple[str, int]:
    """(text to print, exit code): 1 on any error, or any warning under ``strict``."""
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity == "warning"]
    failed = bool(errors) or (strict and bool(warnings))
    if as_json:
        body = json.dumps({"ok": not failed, "problems": [p.to_dict() for p in problems]}, indent=2)
        return body + "\n", int(failed)
    parts = [render_problem(p) for p in problems]
    parts.append(f"{len(errors)} error(s), {len(warnings)} warning(s)")
    return "\n".join(parts) + "\n", int(failed)
