"""Policy mutation testing: change a policy in small ways and check that its cases notice.

Each mutant is one small change to the policy DOCUMENT (the YAML data), compiled by the real
loader: a threshold moved by one, a comparison relaxed or tightened, ``all`` and ``any``
swapped, a condition dropped or negated, a value taken out of an ``in`` list, a rule's outcome
swapped, a counting window or a deadline moved by one unit, a signpost removed, a parameter's
value moved by one (or an item taken out of a list parameter). The policy's
cases are run against each mutant; a mutant is *killed* when some case fails, *survives* when
every case still passes (a gap in the cases, or a change that makes no difference), and is
*invalid* when the changed policy does not load (not counted). Mutants run in a process pool.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recnav_rules.assurance._engine import PathKey, compile_policy_data, copy_data, load_document, register_for
from recnav_rules.errors import FactValidationError, PolicyError, RecnavError
from recnav_rules.tools.cases import Case, case_files, load_cases, policy_for, run_case

__all__ = ["Mutant", "MutantResult", "MutationReport", "generate", "mutation_test"]

_SWAP = {"gte": "gt", "gt": "gte", "lt": "lte", "lte": "lt", "eq": "ne", "ne": "eq"}
_COMPARISONS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "present")
_OUTCOMES = ("accept", "reject", "signpost")
_DELETE = "delete"
_SET = "set"


class AssuranceError(RecnavError):
    """The assurance run cannot start: e.g. the unmutated policy already fails its own cases."""


@dataclass(frozen=True, slots=True)
class Mutant:
    """One change: at ``path`` inside policy number ``index`` of the file, set or delete."""

    policy_id: str
    index: int
    path: PathKey
    action: str
    value: Any
    description: str
    file: str
    line: int | None
    column: int | None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}:{self.column}" if self.line else self.file

    def apply(self, policy: Mapping[str, Any]) -> dict[str, Any]:
        """A changed copy of the policy data."""
        changed: dict[str, Any] = copy_data(dict(policy))
        parent: Any = changed
        for key in self.path[:-1]:
            parent = parent[key]
        last = self.path[-1]
        if self.action == _DELETE:
            del parent[last]
        else:
            parent[last] = copy_data(self.value)
        return changed


@dataclass(frozen=True, slots=True)
class MutantResult:
    mutant: Mutant
    status: str
    """killed, survived, equivalent (proved; not counted) or invalid (does not load; not counted)."""
    detail: str = ""
    """The case that killed it; why it is invalid; for a survivor the solver could tell apart
    from the policy, a referral that does so (a case to add)."""

    def to_dict(self) -> dict[str, Any]:
        m = self.mutant
        return {
            "policy": m.policy_id,
            "mutation": m.description,
            "file": m.file,
            "line": m.line,
            "column": m.column,
            "status": self.status,
            "detail": self.detail,
        }


@dataclass(slots=True)
class MutationReport:
    file: str
    results: list[MutantResult] = field(default_factory=list)
    cases: dict[str, int] = field(default_factory=dict)
    """Cases run per policy id."""

    def counted(self, policy_id: str | None = None) -> list[MutantResult]:
        return [
            r for r in self.results
            if r.status not in ("invalid", "equivalent") and (policy_id is None or r.mutant.policy_id == policy_id)
        ]

    def score(self, policy_id: str | None = None) -> float:
        """Percentage of valid mutants killed (100 when there are none)."""
        counted = self.counted(policy_id)
        if not counted:
            return 100.0
        return 100.0 * sum(1 for r in counted if r.status == "killed") / len(counted)

    def _count(self, policy_id: str, status: str) -> int:
        return sum(1 for r in self.results if r.mutant.policy_id == policy_id and r.status == status)

    @property
    def policy_ids(self) -> list[str]:
        return list(dict.fromkeys(r.mutant.policy_id for r in self.results))

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "score": round(self.score(), 2),
            "policies": [
                {
                    "id": pid,
                    "cases": self.cases.get(pid, 0),
                    "mutants": len(self.counted(pid)),
                    "killed": sum(1 for r in self.counted(pid) if r.status == "killed"),
                    "equivalent": self._count(pid, "equivalent"),
                    "invalid": self._count(pid, "invalid"),
                    "score": round(self.score(pid), 2),
                }
                for pid in self.policy_ids
            ],
            "mutants": [r.to_dict() for r in self.results],
        }

    def text(self, *, verbose: bool = False) -> str:
        lines: list[str] = []
        for pid in self.policy_ids:
            counted = self.counted(pid)
            killed = sum(1 for r in counted if r.status == "killed")
            invalid, same = self._count(pid, "invalid"), self._count(pid, "equivalent")
            lines.append(
                f"{pid}: {killed} of {len(counted)} mutants killed ({self.score(pid):.1f}%) by {self.cases.get(pid, 0)} case(s)"
                + (f"; {same} proved equivalent" if same else "")
                + (f"; {invalid} invalid (do not load)" if invalid else "")
            )
            for r in self.results:
                if r.mutant.policy_id != pid:
                    continue
                if r.status == "survived" or verbose:
                    lines.append(f"  {r.mutant.where}: {r.status}: {r.mutant.description}" + (f" ({r.detail})" if r.detail else ""))
        lines.append(f"mutation score: {self.score():.1f}%")
        return "\n".join(lines) + "\n"


# --- generating mutants ----------------------------------------------------------------------------


class _Maker:
    def __init__(self, doc_file: str, marks: Any, index: int, policy_id: str) -> None:
        self.file = doc_file
        self.marks = marks
        self.index = index
        self.policy_id = policy_id
        self.found: list[Mutant] = []

    def add(self, rel: PathKey, action: str, value: Any, description: str, at: PathKey | None = None) -> None:
        mark = self.marks(("policies", self.index, *(at if at is not None else rel)))
        line, column = mark if mark is not None else (None, None)
        self.found.append(Mutant(self.policy_id, self.index, rel, action, value, description, self.file, line, column))


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return f"'{value}'"
    return str(value)


def _leaf_op(cond: Mapping[str, Any]) -> str | None:
    for op in _COMPARISONS:
        if op in cond:
            return op
    return None


def _condition(make: _Maker, cond: Any, rel: PathKey, where: str, parent_size: int) -> None:
    if not isinstance(cond, dict):
        return
    for logic in ("all", "any"):
        if logic in cond and isinstance(cond[logic], list):
            other = "any" if logic == "all" else "all"
            make.add(rel, _SET, {other: cond[logic]}, f"{where}: '{logic}' becomes '{other}'")
            for i, child in enumerate(cond[logic]):
                if len(cond[logic]) >= 2:
                    make.add((*rel, logic, i), _DELETE, None, f"{where}: {_describe(child)} dropped from '{logic}'")
                _condition(make, child, (*rel, logic, i), where, len(cond[logic]))
            return
    if "not" in cond:
        make.add(rel, _SET, cond["not"], f"{where}: 'not' removed from 'not {_describe(cond['not'])}'")
        _condition(make, cond["not"], (*rel, "not"), where, 1)
        return
    make.add(rel, _SET, {"not": cond}, f"{where}: {_describe(cond)} negated")
    op = _leaf_op(cond)
    if op is None or "fact" not in cond:
        return
    value = cond[op]
    if op in _SWAP:
        swapped = {(_SWAP[op] if k == op else k): v for k, v in cond.items()}
        make.add(rel, _SET, swapped, f"{where}: '{op}' becomes '{_SWAP[op]}' in {_describe(cond)}", (*rel, op))
    if op in _SWAP and not isinstance(value, bool) and isinstance(value, int | dt.date):
        for step in (1, -1):
            moved = value + step if isinstance(value, int) else value + dt.timedelta(days=step)
            make.add(
                (*rel, op), _SET, moved, f"{where}: threshold {_show(value)} becomes {_show(moved)} in {_describe(cond)}"
            )
    if op in ("in", "not_in") and isinstance(value, list) and len(value) >= 2:
        for i, item in enumerate(value):
            make.add((*rel, op, i), _DELETE, None, f"{where}: {_show(item)} removed from {_describe(cond)}")


def _describe(cond: Any) -> str:
    if not isinstance(cond, dict):
        return repr(cond)
    if "criterion" in cond:
        return f"criterion {cond['criterion']}"
    if "not" in cond:
        return f"not {_describe(cond['not'])}"
    for logic in ("all", "any"):
        if logic in cond:
            return f"{logic}[{len(cond[logic])}]"
    op = _leaf_op(cond)
    if op is None:
        return "condition"
    value = cond[op]
    shown = "[" + ", ".join(_show(v) for v in value) + "]" if isinstance(value, list) else _show(value)
    return f"'{cond.get('fact')} {op} {shown}'"


def _policy_mutants(make: _Maker, policy: Mapping[str, Any]) -> None:
    for name, criterion in (policy.get("criteria") or {}).items():
        if isinstance(criterion, dict) and "when" in criterion:
            _condition(make, criterion["when"], ("criteria", name, "when"), f"criterion {name}", 1)
    for i, rule in enumerate(policy.get("rules") or []):
        if not isinstance(rule, dict):
            continue
        rid = rule.get("id", str(i))
        if "when" in rule:
            _condition(make, rule["when"], ("rules", i, "when"), f"rule {rid}", 1)
        _outcomes(make, rule, ("rules", i), f"rule {rid}")
    for key in ("otherwise", "incomplete"):
        fallback = policy.get(key)
        if isinstance(fallback, dict):
            _outcomes(make, fallback, (key,), key)
    for name, parameter in (policy.get("parameters") or {}).items():
        values = parameter.get("values") if isinstance(parameter, dict) else None
        for since, value in (values or {}).items():
            rel = ("parameters", name, "values", since)
            if isinstance(value, int) and not isinstance(value, bool):
                for moved in (value + 1, value - 1):
                    make.add(rel, _SET, moved, f"parameter {name} (from {since}): {value} becomes {moved}")
            elif isinstance(value, list) and len(value) >= 2:
                for j, item in enumerate(value):
                    make.add((*rel, j), _DELETE, None, f"parameter {name} (from {since}): {_show(item)} removed")
    for name, derived in (policy.get("derived") or {}).items():
        window = derived.get("count_events", {}).get("window", {}) if isinstance(derived, dict) else {}
        for unit in ("calendar_months", "days"):
            if isinstance(window.get(unit), int):
                _amount(make, ("derived", name, "count_events", "window", unit), window[unit], f"derived {name}: window of {{n}} {unit.replace('_', ' ')}")
    for i, step in enumerate(policy.get("next_steps") or []):
        if not isinstance(step, dict):
            continue
        action = step.get("action", str(i))
        for part in ("due", "window_opens"):
            period = step.get(part)
            if not isinstance(period, dict):
                continue
            for unit in ("working_days", "calendar_days", "weeks", "calendar_months"):
                if isinstance(period.get(unit), int):
                    _amount(make, ("next_steps", i, part, unit), period[unit], f"next step {action}: {part.replace('_', ' ')} {{n}} {unit.replace('_', ' ')}")


def _outcomes(make: _Maker, item: Mapping[str, Any], rel: PathKey, where: str) -> None:
    outcome = item.get("outcome")
    for other in _OUTCOMES:
        if other != outcome:
            make.add((*rel, "outcome"), _SET, other, f"{where}: outcome {outcome} becomes {other}")
    signposts = item.get("signpost")
    if isinstance(signposts, list):
        for j, service in enumerate(signposts):
            make.add((*rel, "signpost", j), _DELETE, None, f"{where}: signpost {service} removed")


def _amount(make: _Maker, rel: PathKey, value: int, template: str) -> None:
    for moved in (value + 1, value - 1):
        if moved >= 1:
            make.add(rel, _SET, moved, template.format(n=f"{value} becomes {moved}"))


def generate(path: str | Path) -> tuple[list[Mutant], list[dict[str, Any]]]:
    """Every mutant of every policy in the file, and the file's policies as data."""
    doc = load_document(path)
    policies = doc.data.get("policies") if isinstance(doc.data, dict) else None
    if not isinstance(policies, list):
        raise PolicyError.at(str(path), 1, 1, "not-a-policy-file", "expected a 'policies' list")
    found: list[Mutant] = []
    for index, policy in enumerate(policies):
        if not isinstance(policy, dict):
            raise doc.error(("policies", index), "not-a-policy", "each item of 'policies' is a policy (a mapping)")
        make = _Maker(str(path), doc.mark, index, str(policy.get("id", index)))
        _policy_mutants(make, policy)
        found.extend(make.found)
    return found, policies


# --- running the cases against each mutant --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Suite:
    """The cases of one policy that share a register (PCN membership file or none)."""

    policy_id: str
    membership: str | None
    parameters: tuple[tuple[str, Any], ...]
    cases: tuple[Case, ...]


_worker: dict[str, Any] = {}


def _start(policies: list[dict[str, Any]], suites: list[_Suite], folder: str, prove: bool) -> None:
    _worker.clear()
    _worker["prove"] = prove
    _worker["policies"] = policies
    _worker["suites"] = suites
    _worker["registers"] = {s.membership: register_for(s.membership) for s in suites}
    _worker["folder"] = folder


def _run_one(mutant: Mutant) -> MutantResult:
    policies: list[dict[str, Any]] = _worker["policies"]
    changed = mutant.apply(policies[mutant.index])
    compiled: list[tuple[Any, Any, dt.date]] = []
    for suite in _worker["suites"]:
        if suite.policy_id != mutant.policy_id:
            continue
        register = _worker["registers"][suite.membership]
        try:
            policy = compile_policy_data(
                changed, _worker["folder"], register=register, file=mutant.file, parameters=dict(suite.parameters)
            )
        except PolicyError as exc:
            first = exc.problems[0] if exc.problems else None
            return MutantResult(mutant, "invalid", first.message if first is not None else str(exc))
        for case in suite.cases:
            try:
                result = run_case(case, policy)
            except (FactValidationError, PolicyError) as exc:
                return MutantResult(mutant, "killed", f"{case.location}: {exc}")
            if not result.passed:
                return MutantResult(mutant, "killed", f"{case.location}: {case.name}")
        compiled.append((suite, policy, suite.cases[0].as_of))
    if _worker["prove"] and compiled and _provable(mutant):
        from recnav_rules.assurance.analyse import telling_apart

        originals: dict[Any, Any] = _worker.setdefault("originals", {})
        for suite, policy, as_of in compiled:
            key = (suite.policy_id, suite.membership, suite.parameters)
            if key not in originals:
                originals[key] = compile_policy_data(
                    policies[mutant.index],
                    _worker["folder"],
                    register=_worker["registers"][suite.membership],
                    file=mutant.file,
                    parameters=dict(suite.parameters),
                )
            try:
                facts = telling_apart(originals[key].compiled, policy.compiled, as_of)
            except TimeoutError:
                return MutantResult(mutant, "survived")
            if facts is not None:
                return MutantResult(mutant, "survived", _hint(originals[key], policy, facts, as_of))
        return MutantResult(mutant, "equivalent", "proved by the solver to decide every referral alike")
    return MutantResult(mutant, "survived")


def _hint(original: Any, mutant: Any, facts: dict[str, Any], as_of: dt.date) -> str:
    """A referral a new case could use, checked by running both versions on it."""
    try:
        before, after = original.evaluate(facts, as_of=as_of), mutant.evaluate(facts, as_of=as_of)
    except FactValidationError:
        return ""
    def seen(d: Any) -> tuple[Any, ...]:
        return (d.outcome.value, d.complete, [r.rule_id for r in d.reasons], d.missing_facts, [s.service_id for s in d.signposts])

    if seen(before) == seen(after):
        return ""
    what = (
        f"the policy says {before.outcome.value}, the mutant {after.outcome.value}"
        if before.outcome != after.outcome
        else f"the policy gives reasons {seen(before)[2]}, the mutant {seen(after)[2]}"
        if seen(before)[2] != seen(after)[2]
        else "they differ in completeness, missing facts or signposts"
    )
    return f"tell them apart with {json.dumps(facts, sort_keys=True)}: {what}"


def _provable(mutant: Mutant) -> bool:
    """Changes the solver encodes exactly: conditions, outcomes, signposts (not windows or deadlines)."""
    return mutant.path[0] in ("criteria", "rules", "otherwise", "incomplete")


def _suites(policy_ids: Sequence[str], cases_paths: Iterable[str | Path]) -> list[_Suite]:
    grouped: dict[tuple[str, str | None, tuple[tuple[str, Any], ...]], list[Case]] = {}
    for file in case_files(cases_paths):
        for case in load_cases(file):
            original = policy_for(case)
            if original.id not in policy_ids:
                continue
            failures = run_case(case, original).failures
            if failures:
                raise AssuranceError(f"{case.location}: the case fails on the unchanged policy ({failures[0]}); fix it before mutation testing")
            parameters = tuple(sorted(getattr(case, "parameters", {}).items()))
            grouped.setdefault((original.id, case.pcn_membership, parameters), []).append(case)
    return [_Suite(pid, membership, parameters, tuple(cases)) for (pid, membership, parameters), cases in grouped.items()]


def mutation_test(
    path: str | Path,
    cases: Iterable[str | Path],
    *,
    jobs: int = 1,
    policy_ids: Sequence[str] | None = None,
    prove: bool = True,
) -> MutationReport:
    """Generate every mutant of the policies in ``path`` and run their cases against each.

    ``jobs``: worker processes (0: one per core). With ``prove``, a surviving mutant of a
    condition, outcome or signpost is handed to the solver (``analyse.equivalent``): one proved
    to decide every referral exactly as the original does is *equivalent* — no case could kill
    it — and is not counted. Raises PolicyError for a bad policy or case
    file, and AssuranceError when a case already fails on the unchanged policy.
    """
    if jobs < 0:
        raise ValueError("jobs must be 0 (one per core) or more")
    mutants, policies = generate(path)
    wanted = list(policy_ids) if policy_ids else [str(p.get("id")) for p in policies]
    unknown = [pid for pid in wanted if pid not in {str(p.get("id")) for p in policies}]
    if unknown:
        raise PolicyError.at(str(path), None, None, "unknown-policy", f"no policy '{unknown[0]}' in this file")
    mutants = [m for m in mutants if m.policy_id in wanted]
    suites = _suites(wanted, cases)
    report = MutationReport(str(path))
    for suite in suites:
        report.cases[suite.policy_id] = report.cases.get(suite.policy_id, 0) + len(suite.cases)
    workers = jobs or (os.cpu_count() or 1)
    report.results = list(_results(mutants, policies, suites, workers, prove))
    return report


def _results(
    mutants: list[Mutant], policies: list[dict[str, Any]], suites: list[_Suite], workers: int, prove: bool
) -> Iterator[MutantResult]:
    with tempfile.TemporaryDirectory(prefix="recnav-mutants-") as folder:
        if workers == 1 or len(mutants) < 2:
            _start(policies, suites, folder, prove)
            yield from map(_run_one, mutants)
            return
        chunk = max(1, len(mutants) // (workers * 8))
        with ProcessPoolExecutor(max_workers=workers, initializer=_start, initargs=(policies, suites, folder, prove)) as pool:
            yield from pool.map(_run_one, mutants, chunksize=chunk)
