"""Batch evaluation: many referrals, streamed in constant memory, in input order, across cores.

``evaluate_many`` is the Python API; ``recnav-rules evaluate --batch IN.jsonl`` the command.
Input is read lazily and at most a few chunks are in flight at once, so memory stays flat however
long the input. With ``jobs > 1`` each worker process loads the policy once (from its file, with
the same reference data) and parses, evaluates and serialises whole chunks. A bad line never
stops the run and is never lost: it becomes an error record with its line number, and at the end
``lines in = decisions + errors``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from recnav_rules.errors import FactValidationError, PolicyError
from recnav_rules.policy import Policy

__all__ = ["BatchResult", "evaluate_many", "run_batch_command"]

MAX_LINE = 1024 * 1024
Item = tuple[int, Any]
"""(1-based line number, facts mapping or raw JSON text)."""


@dataclass(frozen=True, slots=True)
class BatchResult:
    """One input item's result: ``record`` is what a batch output line holds (with ``line``);
    ``error`` is set instead when the item could not be decided."""

    line: int
    record: dict[str, Any] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> str:
        if self.error is not None:
            return json.dumps({"line": self.line, "error": self.error}, ensure_ascii=False)
        return json.dumps(self.record, ensure_ascii=False)


def _summary(decision: Any, line: int, trace: bool) -> dict[str, Any]:
    if trace:
        return {"line": line, **decision.to_dict()}
    return {
        "line": line,
        "outcome": decision.outcome.value,
        "complete": decision.complete,
        "reasons": [r.rule_id for r in decision.reasons],
        "missing_facts": list(decision.missing_facts),
        "signposts": [s.service_id for s in decision.signposts],
        "next_steps": [{"action": n.action, "due": n.due.isoformat() if n.due else None, "status": n.status} for n in decision.next_steps],
        "policy": {"id": decision.policy_id, "version": decision.policy_version, "digest": decision.policy_digest},
        "facts_digest": decision.facts_digest,
        "as_of": decision.as_of.isoformat(),
    }


def _decide(policy: Policy, items: list[Item], as_of: dt.date | None, trace: bool, lines: bool) -> list[BatchResult]:
    """Decide a chunk; with ``lines`` the items are JSON text lines to parse first."""
    results: list[BatchResult] = []
    for line, item in items:
        facts = item
        if lines:
            if not item.strip():
                results.append(BatchResult(line, error="empty line"))
                continue
            if len(item) > MAX_LINE:
                results.append(BatchResult(line, error=f"line longer than {MAX_LINE} characters"))
                continue
            try:
                facts = json.loads(item)
            except json.JSONDecodeError as exc:
                results.append(BatchResult(line, error=f"not JSON: {exc.msg} at column {exc.colno}"))
                continue
            except RecursionError:
                results.append(BatchResult(line, error="JSON nested too deeply"))
                continue
        if not isinstance(facts, Mapping):
            results.append(BatchResult(line, error="facts must be a JSON object"))
            continue
        try:
            decision = policy.evaluate(facts, as_of=as_of)
        except FactValidationError as exc:
            results.append(BatchResult(line, error=str(exc)))
            continue
        results.append(BatchResult(line, record=_summary(decision, line, trace)))
    return results


# --- worker processes ----------------------------------------------------------------------------

_worker_policy: Policy | None = None


def _start_worker(target: str, register: Any) -> None:
    global _worker_policy  # one policy per worker process, loaded once
    from recnav_rules.policies.registry import load_policy

    _worker_policy = load_policy(target, register=register)


def _worker_chunk(items: list[Item], as_of: dt.date | None, trace: bool, lines: bool) -> list[BatchResult]:
    assert _worker_policy is not None, "worker started without a policy"
    return _decide(_worker_policy, items, as_of, trace, lines)


def _chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _evaluate_items(
    policy: Policy, items: Iterable[Item], *, as_of: dt.date | None, jobs: int, trace: bool, chunk_size: int, lines: bool
) -> Iterator[BatchResult]:
    if jobs <= 1:
        for chunk in _chunks(items, chunk_size):
            yield from _decide(policy, chunk, as_of, trace, lines)
        return
    target = f"{policy.file}#{policy.id}"
    register = policy.compiled.reference_data.get("gp_practices")
    with ProcessPoolExecutor(max_workers=jobs, initializer=_start_worker, initargs=(target, register)) as pool:
        pending: deque[Future[list[BatchResult]]] = deque()
        for chunk in _chunks(items, chunk_size):
            pending.append(pool.submit(_worker_chunk, chunk, as_of, trace, lines))
            if len(pending) >= jobs * 3:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


def evaluate_many(
    policy: Policy,
    facts: Iterable[Mapping[str, Any]],
    *,
    as_of: dt.date | None = None,
    jobs: int = 1,
    trace: bool = False,
    chunk_size: int = 500,
) -> Iterator[BatchResult]:
    """Decide every referral in ``facts``, yielding results in input order as they are ready.

    ``jobs`` worker processes (0: one per core). Items are numbered from 1 in ``line``. Bad facts
    give a result with ``error`` set, never an exception.
    """
    jobs = (os.cpu_count() or 1) if jobs == 0 else jobs
    numbered = ((n, item) for n, item in enumerate(facts, start=1))
    return _evaluate_items(policy, numbered, as_of=as_of, jobs=jobs, trace=trace, chunk_size=chunk_size, lines=False)


# --- the command ----------------------------------------------------------------------------------


def _open_out(path: str | None, fallback: TextIO) -> TextIO:
    if path is None or path == "-":
        return fallback
    try:
        return Path(path).open("w", encoding="utf-8")
    except OSError as exc:
        raise PolicyError.at(path, None, None, "unwritable", f"cannot write: {exc.strerror}") from None


def run_batch_command(policy: Policy, args: argparse.Namespace) -> int:
    """``recnav-rules evaluate --policy ID --batch IN.jsonl [--out OUT.jsonl] [--errors E.jsonl]``."""
    source = args.batch
    try:
        stream: TextIO = sys.stdin if source == "-" else Path(source).open(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise PolicyError.at(source, None, None, "unreadable", f"cannot read: {exc.strerror}") from None
    out = _open_out(args.out, sys.stdout)
    errors_path = args.errors or (f"{args.out}.errors.jsonl" if args.out not in (None, "-") else None)
    errors = _open_out(errors_path, sys.stderr)
    jobs = (os.cpu_count() or 1) if args.jobs == 0 else args.jobs
    as_of = args.as_of
    show = sys.stderr.isatty() and out is not sys.stderr
    counts = {"lines": 0, "decisions": 0, "errors": 0}
    started = time.monotonic()
    try:
        numbered = ((n, text.rstrip("\n")) for n, text in enumerate(stream, start=1))
        for result in _evaluate_items(policy, numbered, as_of=as_of, jobs=jobs, trace=args.trace, chunk_size=500, lines=True):
            counts["lines"] += 1
            if result.ok:
                counts["decisions"] += 1
                out.write(result.to_json() + "\n")
            else:
                counts["errors"] += 1
                errors.write(result.to_json() + "\n")
            if show and counts["lines"] % 5000 == 0:
                rate = counts["lines"] / max(time.monotonic() - started, 1e-9)
                sys.stderr.write(f"\r{counts['lines']:,} lines, {rate:,.0f}/s")
    finally:
        if stream is not sys.stdin:
            stream.close()
        for handle in (out, errors):
            if handle not in (sys.stdout, sys.stderr):
                handle.close()
    if show:
        sys.stderr.write("\n")
    sys.stderr.write(f"lines in: {counts['lines']}, decisions: {counts['decisions']}, errors: {counts['errors']}\n")
    return 0
