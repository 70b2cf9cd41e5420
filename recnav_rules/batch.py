"""Batch evaluation: many referrals, streamed in constant memory, in input order, across cores.

``evaluate_many`` is the Python API; ``recnav-rules evaluate --batch IN.jsonl`` the command
(``run_batch_command``).

Memory stays flat however long the input: items are read lazily, in chunks, and at most
``3 * jobs`` chunks are in flight at once. With ``jobs > 1`` a ``ProcessPoolExecutor`` runs the
chunks; each worker loads the policy once (from its file, by ``file#id``, with the same GP
practice register as the caller's) and, in the command, parses, evaluates and serialises whole
chunks, so the main process only reads and writes lines. Results always come back in input
order.

A bad item never stops the run and is never lost: it becomes an error result with its 1-based
line number. In the command, blank (whitespace-only) lines are skipped but counted, so the
summary always adds up: ``lines in = decisions + errors + blank``.
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
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO, TypeVar

from recnav_rules.decision import Decision
from recnav_rules.errors import FactValidationError, PolicyError
from recnav_rules.policy import Policy

__all__ = ["MAX_LINE_BYTES", "BatchResult", "evaluate_many", "run_batch_command"]

MAX_LINE_BYTES = 1024 * 1024
"""The longest input line the command accepts (newline excluded); longer lines are errors."""

DEFAULT_CHUNK_SIZE = 500
_IN_FLIGHT_PER_JOB = 3
_SKIP_BLOCK = 64 * 1024

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The result for one input item: a decision or an error, never both.

    ``line`` is the item's 1-based position in the input. ``decision_dict`` holds the outcome,
    completeness, reason rule ids, missing facts, signposts, next steps, as-of date, policy
    id/version/digest and facts digest (the full ``Decision.to_dict()``, trace included, when
    evaluated with ``trace=True``). ``error`` is a one-line message when the item could not be
    decided (not a mapping, or bad facts).
    """

    line: int
    decision_dict: dict[str, Any] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the item was decided."""
        return self.error is None

    def to_record(self) -> dict[str, Any]:
        """The batch output record: ``{"line": N, ...decision}`` or ``{"line": N, "error": ...}``."""
        if self.error is not None:
            return {"line": self.line, "error": self.error}
        return {"line": self.line, **(self.decision_dict or {})}

    def to_json(self) -> str:
        """``to_record()`` as one line of JSON."""
        return json.dumps(self.to_record(), ensure_ascii=False)


def decision_summary(decision: Decision, *, trace: bool = False) -> dict[str, Any]:
    """What a batch output line records of a decision (``to_dict()`` in full with ``trace``)."""
    if trace:
        return decision.to_dict()
    return {
        "outcome": decision.outcome.value,
        "complete": decision.complete,
        "reasons": [r.rule_id for r in decision.reasons],
        "missing_facts": list(decision.missing_facts),
        "signposts": [s.service_id for s in decision.signposts],
        "next_steps": [
            {"action": n.action, "due": n.due.isoformat() if n.due else None, "status": n.status}
            for n in decision.next_steps
        ],
        "as_of": decision.as_of.isoformat(),
        "policy": {"id": decision.policy_id, "version": decision.policy_version, "digest": decision.policy_digest},
        "facts_digest": decision.facts_digest,
    }


# --- deciding one item -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rejected:
    """An input line rejected before parsing (too long); carried through in order."""

    message: str


def _decide_facts(policy: Policy, line: int, facts: object, as_of: dt.date, trace: bool) -> BatchResult:
    if not isinstance(facts, Mapping):
        got = "a list" if isinstance(facts, list) else type(facts).__name__
        return BatchResult(line, error=f"facts must be a JSON object (a mapping), got {got}")
    try:
        decision = policy.evaluate(facts, as_of=as_of)
    except FactValidationError as exc:
        return BatchResult(line, error=str(exc))
    return BatchResult(line, decision_dict=decision_summary(decision, trace=trace))


def _parse_line(raw: bytes | _Rejected) -> tuple[object, str | None]:
    """(facts, None) or (None, error message) for one raw input line."""
    if isinstance(raw, _Rejected):
        return None, raw.message
    try:
        return json.loads(raw), None
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {exc.msg} at column {exc.colno}"
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except RecursionError:
        return None, "JSON nested too deeply"


def _decide_mappings(policy: Policy, items: list[tuple[int, object]], as_of: dt.date, trace: bool) -> list[BatchResult]:
    return [_decide_facts(policy, line, facts, as_of, trace) for line, facts in items]


def _decide_lines(policy: Policy, items: list[tuple[int, bytes | _Rejected]], as_of: dt.date, trace: bool) -> list[tuple[bool, str]]:
    """Parse, decide and serialise a chunk of input lines: (is_error, output JSON line)."""
    out: list[tuple[bool, str]] = []
    for line, raw in items:
        facts, problem = _parse_line(raw)
        result = BatchResult(line, error=problem) if problem is not None else _decide_facts(policy, line, facts, as_of, trace)
        out.append((not result.ok, result.to_json()))
    return out


# --- worker processes ------------------------------------------------------------------------------

_worker_policy: Policy | None = None
_worker_problem: str | None = None


class WorkerError(RuntimeError):
    """A worker process could not load the same policy as the caller."""


def _start_worker(target: str, register: Any, digest: str) -> None:
    """Process-pool initializer: load the policy once per worker process."""
    global _worker_policy, _worker_problem
    from recnav_rules.policies.registry import load_policy

    try:
        policy = load_policy(target, register=register)
    except PolicyError as exc:  # reported on the first chunk: an initializer error only breaks the pool
        _worker_problem = str(exc)
        return
    if policy.digest != digest:
        _worker_problem = f"{target}: the policy file changed while the batch was starting"
        return
    _worker_policy = policy


def _worker_policy_or_fail() -> Policy:
    if _worker_policy is None:
        raise WorkerError(_worker_problem or "worker started without a policy")
    return _worker_policy


def _worker_mappings(items: list[tuple[int, object]], as_of: dt.date, trace: bool) -> list[BatchResult]:
    return _decide_mappings(_worker_policy_or_fail(), items, as_of, trace)


def _worker_lines(items: list[tuple[int, bytes | _Rejected]], as_of: dt.date, trace: bool) -> list[tuple[bool, str]]:
    return _decide_lines(_worker_policy_or_fail(), items, as_of, trace)


# --- the pipeline ----------------------------------------------------------------------------------


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _run(
    policy: Policy,
    items: Iterable[T],
    *,
    local: Callable[[Policy, list[T], dt.date, bool], list[R]],
    remote: Callable[[list[T], dt.date, bool], list[R]],
    as_of: dt.date,
    jobs: int,
    trace: bool,
    chunk_size: int,
) -> Generator[R, None, None]:
    """Apply ``local`` (in this process) or ``remote`` (in ``jobs`` workers) chunk by chunk, in order."""
    if jobs <= 1:
        for chunk in _chunks(items, chunk_size):
            yield from local(policy, chunk, as_of, trace)
        return
    if not Path(policy.file).is_file():
        raise PolicyError.at(policy.file, None, None, "no-file", "jobs > 1 needs a policy loaded from a file; use jobs=1")
    target = f"{policy.file}#{policy.id}"
    register = policy.compiled.reference_data.get("gp_practices")
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_start_worker, initargs=(target, register, policy.digest))
    pending: deque[Future[list[R]]] = deque()
    try:
        for chunk in _chunks(items, chunk_size):
            pending.append(pool.submit(remote, chunk, as_of, trace))
            if len(pending) >= jobs * _IN_FLIGHT_PER_JOB:
                yield from _collect(pending.popleft(), policy)
        while pending:
            yield from _collect(pending.popleft(), policy)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _collect(future: Future[list[R]], policy: Policy) -> list[R]:
    try:
        return future.result()
    except WorkerError as exc:
        raise PolicyError.at(policy.file, None, None, "worker", f"a worker could not load the policy: {exc}") from None


def _check_jobs(jobs: int, chunk_size: int) -> int:
    if jobs < 0:
        raise ValueError(f"jobs must be 0 (one per core) or more, got {jobs}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    return (os.cpu_count() or 1) if jobs == 0 else jobs


def evaluate_many(
    policy: Policy,
    facts: Iterable[object],
    *,
    as_of: dt.date | None = None,
    jobs: int = 1,
    trace: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[BatchResult]:
    """Decide every referral in ``facts``, yielding one ``BatchResult`` per item, in input order.

    ``facts`` may be any iterable, endless included: it is consumed lazily, ``chunk_size``
    items at a time, and at most ``3 * jobs`` chunks are in flight. ``jobs`` is the number of
    worker processes (1: this process; 0: one per core). ``as_of`` defaults to today, fixed once
    for the whole run. An item that is not a mapping, or whose facts are bad, gives a result
    with ``error`` set; it never raises. Raises ``ValueError`` at once for a negative ``jobs`` or
    a ``chunk_size`` below 1, and ``PolicyError`` (when iterated) if workers cannot load the
    policy from its file.
    """
    jobs = _check_jobs(jobs, chunk_size)
    day = as_of if as_of is not None else dt.date.today()
    numbered = enumerate(facts, start=1)
    return _run(
        policy, numbered, local=_decide_mappings, remote=_worker_mappings,
        as_of=day, jobs=jobs, trace=trace, chunk_size=chunk_size,
    )


# --- the command -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Counts:
    lines: int = 0
    blank: int = 0
    decisions: int = 0
    errors: int = 0
    started: float = field(default_factory=time.monotonic)

    def summary(self) -> str:
        return f"lines in: {self.lines}, decisions: {self.decisions}, errors: {self.errors}, blank: {self.blank}"


def _read_lines(stream: BinaryIO, counts: _Counts, source: str) -> Iterator[tuple[int, bytes | _Rejected]]:
    """Numbered non-blank input lines; a line over ``MAX_LINE_BYTES`` is skipped without being held."""
    try:
        while raw := stream.readline(MAX_LINE_BYTES + 1):
            counts.lines += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while (rest := stream.readline(_SKIP_BLOCK)) and not rest.endswith(b"\n"):
                    pass
                yield counts.lines, _Rejected(f"line longer than {MAX_LINE_BYTES} bytes")
            elif raw.isspace():
                counts.blank += 1
            else:
                yield counts.lines, raw
    except OSError as exc:
        raise PolicyError.at(source, counts.lines + 1, None, "unreadable", f"cannot read: {exc.strerror or exc}") from None


def _open_input(source: str) -> BinaryIO:
    if source == "-":
        buffer: BinaryIO | None = getattr(sys.stdin, "buffer", None)
        if buffer is None:
            raise PolicyError.at("<stdin>", None, None, "unreadable", "standard input is not a byte stream")
        return buffer
    try:
        return Path(source).open("rb")
    except OSError as exc:
        raise PolicyError.at(source, None, None, "unreadable", f"cannot read: {exc.strerror or exc}") from None


def _progress(counts: _Counts, final: bool = False) -> None:
    elapsed = max(time.monotonic() - counts.started, 1e-9)
    sys.stderr.write(f"\r{counts.lines:,} lines, {counts.lines / elapsed:,.0f}/s" + ("\n" if final else ""))
    sys.stderr.flush()


def run_batch_command(policy: Policy, args: argparse.Namespace) -> int:
    """``recnav-rules evaluate --policy ID --batch IN.jsonl [--out OUT.jsonl] [--errors E.jsonl] [--jobs N] [--trace]``.

    Writes one JSON decision per input line to ``--out`` (default: standard output), in input
    order, each with ``"line": N``; bad lines (invalid JSON or UTF-8, not an object, bad facts,
    longer than 1 MiB) go to ``--errors`` (default ``OUT.jsonl.errors.jsonl``, or standard error
    when decisions go to standard output) as ``{"line": N, "error": "..."}``. Blank lines are
    skipped and counted. Ends with one summary line on standard error,
    ``lines in: N, decisions: D, errors: E, blank: B`` (N = D + E + B), and a progress counter
    before it when standard error is a terminal. Returns 0, or 1 when an output file cannot be
    written; raises ``PolicyError`` (exit 2) when the input cannot be read or the options are bad.
    """
    engine = getattr(args, "engine", "native")
    if engine != "native":
        raise PolicyError.at("<arguments>", None, None, "usage", f"--batch runs the native engine only, not {engine!r}")
    if args.jobs < 0:
        raise PolicyError.at("<arguments>", None, None, "usage", f"--jobs must be 0 (one per core) or more, got {args.jobs}")
    jobs = _check_jobs(args.jobs, DEFAULT_CHUNK_SIZE)
    as_of: dt.date = args.as_of if args.as_of is not None else dt.date.today()
    to_stdout = args.out in (None, "-")
    errors_path: str | None = args.errors or (None if to_stdout else f"{args.out}.errors.jsonl")
    stream = _open_input(args.batch)
    handles: list[TextIO] = []
    try:
        try:
            out = sys.stdout if to_stdout else Path(args.out).open("w", encoding="utf-8")
            if out is not sys.stdout:
                handles.append(out)
            errors = sys.stderr if errors_path in (None, "-") else Path(str(errors_path)).open("w", encoding="utf-8")
            if errors is not sys.stderr:
                handles.append(errors)
        except OSError as exc:
            sys.stderr.write(f"recnav-rules: cannot write {exc.filename}: {exc.strerror or exc}\n")
            return 1
        counts = _Counts()
        show = sys.stderr.isatty() and errors is not sys.stderr
        next_tick = counts.started + 0.5
        results = _run(
            policy, _read_lines(stream, counts, args.batch), local=_decide_lines, remote=_worker_lines,
            as_of=as_of, jobs=jobs, trace=args.trace, chunk_size=DEFAULT_CHUNK_SIZE,
        )
        done = 0
        try:
            for is_error, text in results:
                if is_error:
                    counts.errors += 1
                    errors.write(text + "\n")
                else:
                    counts.decisions += 1
                    out.write(text + "\n")
                done += 1
                if show and done % 1000 == 0 and time.monotonic() >= next_tick:
                    _progress(counts)
                    next_tick = time.monotonic() + 0.5
            for handle in handles:
                handle.flush()
        except BrokenPipeError:
            raise  # the reader went away (``| head``): the command line ends quietly
        except OSError as exc:
            sys.stderr.write(f"recnav-rules: cannot write output: {exc.strerror or exc}\n")
            return 1
        finally:
            results.close()  # stops the workers at once if writing failed
        if show:
            _progress(counts, final=True)
        sys.stderr.write(counts.summary() + "\n")
        return 0
    finally:
        if args.batch != "-":
            stream.close()
        for handle in handles:
            try:
                handle.close()
            except OSError:
                pass
