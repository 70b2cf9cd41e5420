"""Policy test cases written in YAML, and running them.

A case file names a policy, an ``as_of`` date and a ``base`` set of facts; each case overrides
the base (``facts``), leaves some of it out (``without``) and says what the decision must show
(``expect``). So a case reads as "the baseline, but in custody". The same files are run by
``recnav-rules test`` and, through the pytest plugin, by a plain ``pytest``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recnav_rules._resources import schema
from recnav_rules.decision import Decision
from recnav_rules.engine.schema_check import jsonable, schema_problems
from recnav_rules.engine.source import LocatedDocument, load_yaml_file
from recnav_rules.errors import FactValidationError, PolicyError
from recnav_rules.policies.registry import load_policy
from recnav_rules.policy import Policy

__all__ = ["Case", "CaseResult", "case_files", "load_cases", "run_case", "run_cases"]

CASE_SUFFIX = ".cases.yaml"


@dataclass(frozen=True, slots=True)
class Case:
    file: str
    line: int | None
    name: str
    policy: str
    as_of: dt.date
    facts: dict[str, Any]
    expect: dict[str, Any]
    pcn_membership: str | None = None
    """A PCN membership file merged into the built-in register for this case."""
    parameters: dict[str, Any] = field(default_factory=dict)
    """The policy parameters the file sets (``parameters:``), e.g. ``network4_pcn_code``."""

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(slots=True)
class CaseResult:
    case: Case
    failures: list[str] = field(default_factory=list)
    decision: Decision | None = None
    error: FactValidationError | None = None

    @property
    def passed(self) -> bool:
        return not self.failures

    def report(self) -> str:
        """Expected vs actual, then the decision's explanation."""
        lines = [f"{self.case.location}: {self.case.name}"]
        lines += [f"  {failure}" for failure in self.failures]
        if self.decision is not None:
            lines.append("  decision:")
            lines += [f"    {line}" for line in self.decision.explain().splitlines()[:12]]
        if self.error is not None:
            lines.append(f"  facts rejected: {self.error}")
        return "\n".join(lines)


def case_files(paths: Iterable[str | Path]) -> list[Path]:
    """Case files among ``paths`` (folders are searched for ``*.cases.yaml``)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(path.rglob(f"*{CASE_SUFFIX}")))
        else:
            found.append(path)
    return found


def _resolve_policy(name: str, file: Path) -> str:
    if name.endswith((".yaml", ".yml")) or "/" in name:
        base, _, wanted = name.partition("#")
        full = (file.parent / base).resolve()
        return f"{full}#{wanted}" if wanted else str(full)
    return name


def load_cases(path: str | Path) -> list[Case]:
    """Every case in one file, with the base merged in. Raises PolicyError, located."""
    doc: LocatedDocument = load_yaml_file(path)
    problems = schema_problems(doc, schema("cases.schema.json"))
    if problems:
        raise PolicyError(problems)
    data = jsonable(doc.data)
    file = Path(path)
    base: dict[str, Any] = data.get("base", {})
    cases: list[Case] = []
    for index, raw in enumerate(data["cases"]):
        facts: dict[str, Any] = dict(base) if raw.get("use_base", True) else {}
        for name in raw.get("without", []):
            if name not in facts:
                raise doc.error(("cases", index, "without"), "unknown-fact", f"'{name}' is not in the base facts")
            del facts[name]
        facts.update(raw.get("facts", {}))
        as_of_text = raw.get("as_of", data.get("as_of"))
        if as_of_text is None:
            raise doc.error(("cases", index), "missing-key", "give 'as_of' for the file or the case")
        mark = doc.mark(("cases", index))
        cases.append(
            Case(
                file=str(path),
                line=mark[0] if mark else None,
                name=raw["name"],
                policy=_resolve_policy(raw.get("policy", data["policy"]), file),
                as_of=dt.date.fromisoformat(as_of_text),
                facts=facts,
                expect=raw["expect"],
                pcn_membership=str((file.parent / data["pcn_membership"]).resolve()) if "pcn_membership" in data else None,
                parameters=dict(data.get("parameters", {})),
            )
        )
    return cases


def _ids(items: Iterable[Any], attribute: str) -> list[str]:
    return [str(getattr(item, attribute)) for item in items]


def check(decision: Decision, expect: dict[str, Any]) -> list[str]:
    """The ways ``decision`` differs from ``expect`` (empty when it matches)."""
    failures: list[str] = []

    def differ(what: str, wanted: Any, got: Any) -> None:
        failures.append(f"{what}: expected {wanted!r}, got {got!r}")

    if "outcome" in expect and decision.outcome.value != expect["outcome"]:
        differ("outcome", expect["outcome"], decision.outcome.value)
    if "complete" in expect and decision.complete != expect["complete"]:
        differ("complete", expect["complete"], decision.complete)
    reasons = _ids(decision.reasons, "rule_id")
    if "reasons" in expect and not set(expect["reasons"]) <= set(reasons):
        differ("reasons to include", expect["reasons"], reasons)
    if "reasons_exactly" in expect and reasons != expect["reasons_exactly"]:
        differ("reasons", expect["reasons_exactly"], reasons)
    if "missing_facts" in expect and decision.missing_facts != expect["missing_facts"]:
        differ("missing facts", expect["missing_facts"], decision.missing_facts)
    signposts = _ids(decision.signposts, "service_id")
    if "signposts" in expect and not set(expect["signposts"]) <= set(signposts):
        differ("signposts to include", expect["signposts"], signposts)
    if "next_steps" in expect:
        steps = {s.action: s for s in decision.next_steps}
        for action, wanted in expect["next_steps"].items():
            step = steps.get(action)
            if step is None:
                differ(f"next step {action}", wanted, None)
                continue
            want = wanted if isinstance(wanted, dict) else {"due": wanted}
            got = {
                "due": step.due.isoformat() if step.due else None,
                "window_start": step.window_start.isoformat() if step.window_start else None,
                "status": step.status,
            }
            for key, value in want.items():
                if got[key] != value:
                    differ(f"next step {action} {key}", value, got[key])
    if "error_fields" in expect:
        differ("bad facts", expect["error_fields"], "a decision")
    return failures


def policy_for(case: Case) -> Policy:
    """The case's policy, with its PCN membership merged into the built-in register if it names one."""
    parameters = case.parameters or None
    if case.pcn_membership is None:
        return load_policy(case.policy, parameters=parameters)
    from recnav_rules.policies.register import builtin_register, load_pcn_membership

    register = builtin_register().with_pcn_membership(load_pcn_membership(case.pcn_membership))
    return load_policy(case.policy, register=register, parameters=parameters)


def run_case(case: Case, policy: Policy | None = None) -> CaseResult:
    """Run one case (``policy`` saves looking it up again when the caller has it)."""
    policy = policy or policy_for(case)
    result = CaseResult(case)
    try:
        result.decision = policy.evaluate(case.facts, as_of=case.as_of)
    except FactValidationError as exc:
        result.error = exc
        wanted = case.expect.get("error_fields")
        if wanted is None:
            result.failures.append(f"facts rejected: {exc}")
        elif sorted(wanted) != sorted(exc.fields):
            result.failures.append(f"bad fields: expected {sorted(wanted)!r}, got {sorted(exc.fields)!r}")
        return result
    result.failures = check(result.decision, case.expect)
    return result


def run_cases(paths: Iterable[str | Path]) -> Iterator[CaseResult]:
    for file in case_files(paths):
        cases = load_cases(file)
        policies = {(c.policy, c.pcn_membership): policy_for(c) for c in cases}
        for case in cases:
            yield run_case(case, policies[(case.policy, case.pcn_membership)])
