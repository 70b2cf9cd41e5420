"""Batch evaluation: many referrals, streamed in constant memory, in input order, across cores.

``evaluate_many`` is the Python API; ``recnav-rules evaluate --batch IN.jsonl`` the command
(``run_batch_command``).

Memory stays flat however long the input: items are read lazily, in chunks, and at most
``3 * jobs`` chunks are in flight at once. With ``jobs > 1`` a ``ProcessPoolExecutor`` runs the
chunks; each worker gets the policy once (pickled when the policy can be pickled, otherwise
loaded from its file by ``file#id`` with the caller's GP practice register, and its digest
checked). In the command the main process reads the input a megabyte at a time and only finds
line ends: for a regular file it sends each worker the place of a block of 2,000 whole lines (at
most 4 MiB; ``_Range``), which the worker reads from the file itself (checked to be the same file
with its lines in place, else the run stops); a pipe's blocks are sent as one bytes object each.
The worker splits, parses (orjson, with an exact duplicate-key check), decides and serialises
(orjson) the lines and sends back the chunk's decision lines and error lines as one blob each,
which the main process writes as they are. Results always come back in input order. Without
``--trace`` or a decision log a line's summary is written from the engine's parts
(``NativeEngine.summary``) without making the decision, the same bytes, its facts digest taken of
the line's facts as read when they are the checked facts (docs/engines.md, "Batch lines without
the decision").

Nothing is lost and nothing stops the run: every item ends as a decision or as an error record
with its 1-based line number, whatever happens inside (bad JSON, bad facts, an unexpected
exception while deciding, a worker process that dies). Error records name the kind of problem
and never repeat a value from the line, except what ``FactValidationError`` itself says (which
never repeats a personal value); they are bounded in size (``MAX_PROBLEMS_REPORTED`` problems,
then "and N more"). In the command, blank (whitespace-only) lines are skipped but counted, so
the summary always adds up: ``lines in = decisions + errors + blank``.

Outputs are written to a temporary file beside the final one and renamed into place when the
run ends, so an interrupted run never leaves a half-written file under the final name; an
output that is the input, the policy file or the other output is refused before anything is
opened for writing. Workers ignore SIGINT (the main process handles it and reports how many
lines were finished) and end by themselves within a second when the main process dies.
"""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import gc
import itertools
import json
import os
import pickle
import signal
import stat
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO, TextIO, TypeVar

import orjson

from recnav_rules.canonical import digest_of_canonical
from recnav_rules.decision import _FIELDS as _DECISION_FIELDS
from recnav_rules.decision import Decision, facts_digest
from recnav_rules.engine.dates import today_in_london
from recnav_rules.engine.evaluator import Summary
from recnav_rules.errors import FactValidationError, PolicyError
from recnav_rules.facts_input import DuplicateKeyError, loads_json, read_json_line
from recnav_rules.policy import Policy

__all__ = [
    "MAX_LINE_BYTES",
    "MAX_PROBLEMS_REPORTED",
    "MAX_UNKNOWN_FACTS",
    "BatchResult",
    "decision_summary",
    "evaluate_many",
    "run_batch_command",
]

MAX_LINE_BYTES = 1024 * 1024
"""The longest input line the command accepts (newline excluded); longer lines are errors."""

MAX_PROBLEMS_REPORTED = 20
"""An error record lists at most this many problems, then says how many more there were."""

MAX_UNKNOWN_FACTS = 100
"""A referral with more fact names than this that the policy does not know is refused unchecked
(checking each for a did-you-mean would make one hostile line cost seconds)."""

MAX_ERROR_CHARS = 4000
"""The longest ``error`` text an error record carries."""

DEFAULT_CHUNK_SIZE = 500
_LINES_PER_BLOCK = 2000
"""The command sends workers blocks of this many input lines (fewer when ``_BLOCK_BYTES`` is
reached first): larger blocks cost the main process less per line (a million HIU lines: 2.7 s of
its CPU time with 2,000, 4.4 s with 500), and at most ``3 * jobs`` are in flight."""
_IN_FLIGHT_PER_JOB = 3
_READ_BYTES = 1024 * 1024
_BLOCK_BYTES = 4 * 1024 * 1024
"""A block of input lines is sent when it has ``_LINES_PER_BLOCK`` lines or this many bytes."""
_MAX_POOL_RESTARTS = 8
_SYNC_EVERY = 64 * 1024 * 1024
"""An output file is asked to reach the disk (in a thread) after each this many bytes (``_Output``)."""
_PARENT_POLL_SECONDS = 0.5

T = TypeVar("T", bound=tuple[int, Any])
C = TypeVar("C")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The result for one input item: a decision or an error, never both.

    ``line`` is the item's 1-based position in the input. ``decision_dict`` holds the outcome,
    completeness, reason rule ids, missing facts, signposts, next steps, as-of date, policy
    id/version/digest and facts digest (the full ``Decision.to_dict()``, trace included, when
    evaluated with ``trace=True``). ``error`` is a one-line message when the item could not be
    decided; ``kind`` says why (``json``, ``not-object``, ``too-long``, ``facts``,
    ``too-many-unknown-facts``, ``internal``); ``problems`` holds the bad fields as data
    (``field``, ``message``, ``suggestion``), at most ``MAX_PROBLEMS_REPORTED`` of them, and
    ``more`` how many were left out.
    """

    line: int
    decision_dict: dict[str, Any] | None = None
    error: str | None = None
    kind: str | None = None
    problems: tuple[dict[str, Any], ...] = ()
    more: int = 0
    record: Any = field(default=None, compare=False, repr=False)
    """With a decision log: this decision's prepared record, stored by the main process (recnav_rules.audit)."""

    @property
    def ok(self) -> bool:
        """True when the item was decided."""
        return self.error is None

    def to_record(self) -> dict[str, Any]:
        """The batch output record: ``{"line": N, ...decision}`` or ``{"line": N, "error": ..., "kind": ...}``."""
        if self.error is not None:
            record: dict[str, Any] = {"line": self.line, "error": self.error, "kind": self.kind or "error"}
            if self.problems:
                record["problems"] = list(self.problems)
            if self.more:
                record["more"] = self.more
            return record
        return {"line": self.line, **(self.decision_dict or {})}

    def to_json(self) -> str:
        """``to_record()`` as one line of compact JSON (UTF-8 safe: a lone surrogate is written escaped)."""
        return _json_line(self.to_record()).decode("utf-8")


def _json_line(record: object) -> bytes:
    """One compact JSON line, UTF-8: orjson's bytes, or, for what orjson will not write (a lone
    surrogate, an integer beyond 64 bits), ``json.dumps`` with every non-ASCII character escaped."""
    try:
        return orjson.dumps(record)
    except orjson.JSONEncodeError:
        return json.dumps(record, ensure_ascii=True, separators=(",", ":"), default=_iso).encode("ascii")


def _iso(value: object) -> str:
    if isinstance(value, dt.date):  # dt.datetime is a dt.date
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def decision_summary(decision: Decision, *, trace: bool = False) -> dict[str, Any]:
    """What a batch output line records of a decision (``to_dict()`` in full with ``trace``)."""
    if trace:
        return decision.to_dict()
    return {
        **({"decision_id": decision.decision_id} if decision.decision_id is not None else {}),
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


_OUTCOME, _COMPLETE, _MISSING, _REASONS, _SIGNPOSTS, _STEPS = range(6)
_POLICY_ID, _POLICY_VERSION, _POLICY_DIGEST, _AS_OF, _DECISION_ID = (
    _DECISION_FIELDS.index(name) for name in ("policy_id", "policy_version", "policy_digest", "as_of", "decision_id")
)
assert _DECISION_FIELDS[:6] == ("outcome", "complete", "missing_facts", "reasons", "signposts", "next_steps")

_SUMMARIES: dict[tuple[Any, ...], tuple[Any, Any, Any, Any, bytes]] = {}
"""The middle of summary lines already written (``_summary_middle``), with the tuples they were
written from (kept alive by this, so their ids are not reused while they are here)."""
_SUMMARIES_SIZE = 4096


def _summary_middle(
    outcome: Any, complete: bool, missing: Any, reasons: Any, signposts: Any, steps: Any, as_of: dt.date, policy: tuple[str, str, str]
) -> bytes:
    """A decision's summary line from ``"outcome"`` to ``"policy"``: all but the line number,
    the decision id and the facts digest. It depends only on the outcome, the reasons,
    signposts, missing facts and next steps, which the engine shares between decisions that
    settle alike (the same tuples), the as-of date and the policy (id, version, digest):
    written once for each and remembered (bounded, safe across threads, no personal data)."""
    key = (id(reasons), id(signposts), id(missing), id(steps), outcome, complete, as_of, *policy)
    found = _SUMMARIES.get(key)
    if found is not None and found[0] is reasons and found[1] is signposts and found[2] is missing and found[3] is steps:
        return found[4]
    middle = _json_line(
        {
            "outcome": outcome.value,
            "complete": complete,
            "reasons": [r.rule_id for r in reasons],
            "missing_facts": list(missing),
            "signposts": [s.service_id for s in signposts],
            "next_steps": [{"action": n.action, "due": n.due, "status": n.status} for n in steps],
            "as_of": as_of,
            "policy": {"id": policy[0], "version": policy[1], "digest": policy[2]},
        }
    )[1:-1]
    if all(part.__class__ is tuple for part in (missing, reasons, signposts, steps)):  # never a list that could change
        if len(_SUMMARIES) >= _SUMMARIES_SIZE:
            _SUMMARIES.clear()
        _SUMMARIES[key] = (reasons, signposts, missing, steps, middle)
    return middle


def _decision_line(line: int, decision: Decision, trace: bool) -> bytes:
    """The batch output line of a decision: ``{"line": N, ...decision_summary(decision)}`` as
    compact JSON, or with ``trace`` the whole decision. Built here from the decision's fields
    rather than through ``decision_summary`` (a third of the time), the part that decisions
    settled alike share written once (``_summary_middle``); orjson writes the dates as
    ``isoformat()`` does. A test holds the two to the same JSON."""
    if trace:  # the decision's own fast JSON, the line number put first
        return b'{"line":%d,' % line + decision.to_json_bytes(trace=True)[1:]
    f = decision._d
    middle = _summary_middle(
        f[_OUTCOME], f[_COMPLETE], f[_MISSING], f[_REASONS], f[_SIGNPOSTS], f[_STEPS], f[_AS_OF], (f[_POLICY_ID], f[_POLICY_VERSION], f[_POLICY_DIGEST])
    )
    digest = decision.facts_digest.encode("ascii")  # hexadecimal
    found = f[_DECISION_ID]
    if found is None:
        return b'{"line":%d,%s,"facts_digest":"%s"}' % (line, middle, digest)
    return b'{"line":%d,"decision_id":%s,%s,"facts_digest":"%s"}' % (line, _json_line(found), middle, digest)


def _summary_line(line: int, summary: Summary, as_of: dt.date, written: bytes | None = None) -> bytes:
    """``_decision_line`` of the decision ``NativeEngine.summary`` describes, without making it:
    the same bytes (a test holds them to it). ``written``: the facts as given in canonical JSON
    (``read_json_line``), whose digest is the facts digest when the summary has no checked
    facts of its own (``NativeEngine.summary(written=True)``)."""
    settled, steps, given, identity, floats = summary
    middle = _summary_middle(settled[0], settled[1], settled[2], settled[3], settled[4], steps, as_of, (identity[0], identity[1], identity[3]))
    if given is None:
        if written is None:
            raise ValueError("a summary of facts as written needs what was written")
        digest = digest_of_canonical(written).encode("ascii")
    else:
        digest = facts_digest(given, floats=floats).encode("ascii")  # hexadecimal
    return b'{"line":%d,%s,"facts_digest":"%s"}' % (line, middle, digest)


# --- deciding one item -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rejected:
    """An input line rejected before parsing (too long); carried through in order."""

    message: str
    kind: str


def _fact_error(line: int, exc: FactValidationError) -> BatchResult:
    problems = exc.problems
    shown = problems[:MAX_PROBLEMS_REPORTED]
    more = len(problems) - len(shown)
    count = len(problems)
    text = f"{count:,} bad fact{'s' if count > 1 else ''}: " + "; ".join(p.render() for p in shown)
    if more:
        text += f"; and {more:,} more"
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 20] + " ... (shortened)"
    return BatchResult(line, error=text, kind="facts", problems=tuple(p.to_dict() for p in shown), more=more)


def _internal_error(line: int, exc: BaseException) -> BatchResult:
    """An unexpected exception while deciding one line: its type and a generic message only
    (an exception's text can hold a value from the line)."""
    return BatchResult(
        line,
        error=f"internal error while deciding this line ({type(exc).__name__}); the line was not decided",
        kind="internal",
    )


def _evaluate(
    policy: Policy, known: frozenset[str], line: int, facts: object, as_of: dt.date, recorder: Any
) -> BatchResult | tuple[Decision, Any]:
    """(decision, decision log record or None), or an error result. Never raises."""
    if type(facts) is not dict and not isinstance(facts, Mapping):
        got = "a list" if isinstance(facts, list) else type(facts).__name__
        return BatchResult(line, error=f"facts must be a JSON object (a mapping), got {got}", kind="not-object")
    try:
        unknown = sum(1 for name in facts if name not in known) if len(facts) > MAX_UNKNOWN_FACTS else 0
        if unknown > MAX_UNKNOWN_FACTS:
            return BatchResult(
                line,
                error=f"{unknown:,} fact names the policy does not know (more than {MAX_UNKNOWN_FACTS}); the line was not checked further",
                kind="too-many-unknown-facts",
            )
        decision = policy.evaluate(facts, as_of=as_of)
        if recorder is None:
            return decision, None
        record = recorder.prepare(decision, facts)  # a decision log's RecordMaker (recnav_rules.audit)
        return decision.with_decision_id(record.decision_id), record
    except FactValidationError as exc:
        return _fact_error(line, exc)
    except Exception as exc:  # noqa: BLE001  # one line never ends the run (RecursionError and MemoryError included)
        return _internal_error(line, exc)


def _decide_facts(
    policy: Policy, known: frozenset[str], line: int, facts: object, as_of: dt.date, trace: bool, recorder: Any = None
) -> BatchResult:
    found = _evaluate(policy, known, line, facts, as_of, recorder)
    if isinstance(found, BatchResult):
        return found
    decision, record = found
    try:
        return BatchResult(line, decision_dict=decision_summary(decision, trace=trace), record=record)
    except Exception as exc:  # noqa: BLE001  # e.g. a trace that cannot be rendered
        return _internal_error(line, exc)


def _parse_line(raw: bytes | _Rejected) -> tuple[object, _Rejected | None]:
    """(facts, None) or (None, why) for one raw input line. Never raises."""
    if isinstance(raw, _Rejected):
        return None, raw
    try:
        return loads_json(raw), None
    except DuplicateKeyError:  # last-wins would decide on the second value unseen
        return None, _Rejected("a key is given twice in one JSON object", "json")
    except json.JSONDecodeError as exc:
        return None, _Rejected(f"not JSON: {exc.msg} at column {exc.colno}", "json")
    except UnicodeDecodeError:
        return None, _Rejected("not UTF-8 text", "json")
    except RecursionError:
        return None, _Rejected("JSON nested too deeply", "json")
    except ValueError:  # e.g. an integer of more digits than Python converts
        return None, _Rejected("a JSON value cannot be read (a number too long?)", "json")
    except Exception as exc:  # noqa: BLE001  # one line never ends the run
        return None, _Rejected(f"the line cannot be read ({type(exc).__name__})", "json")


def _known_facts(policy: Policy) -> frozenset[str]:
    return frozenset(policy.compiled.facts)


def _decide_mappings(policy: Policy, items: list[tuple[int, object]], as_of: dt.date, trace: bool, recorder: Any = None) -> list[BatchResult]:
    known = _known_facts(policy)
    return [_decide_facts(policy, known, line, facts, as_of, trace, recorder) for line, facts in items]


def _error_line(result: BatchResult) -> bytes:
    try:
        return _json_line(result.to_record())
    except Exception as exc:  # noqa: BLE001  # a record that cannot be written is an internal error record
        return _json_line(_internal_error(result.line, exc).to_record())


def _decide_raw(
    policy: Policy, known: frozenset[str], line: int, raw: bytes | _Rejected, as_of: dt.date, trace: bool, recorder: Any
) -> tuple[bool, bytes, Any]:
    """Parse, decide and serialise one input line: (is_error, output JSON line, decision log record or None)."""
    if not trace and recorder is None and isinstance(raw, bytes):
        # The summary line straight from the engine's parts, no decision made. Without number
        # facts the line is read unvouched (read_json_line, as loads_json_unvouched: what the
        # program accepts is what loads_json gives); whatever the program hands over to the
        # interpreter is read again in full and decided (or diagnosed) below.
        written: bytes | None = None
        if policy._native.floats:
            facts = _parse_line(raw)[0]
        else:  # the facts and their canonical JSON, whose digest the facts digest may be
            read = read_json_line(raw)
            facts, written = (None, None) if read is None else read
        if facts.__class__ is dict and len(facts) <= MAX_UNKNOWN_FACTS:
            try:
                summary = policy._summary(facts, as_of, written=written is not None)
                if summary is not None:
                    return False, _summary_line(line, summary, as_of, written), None
            except FactValidationError as exc:
                return True, _error_line(_fact_error(line, exc)), None
            except Exception as exc:  # noqa: BLE001  # one line never ends the run
                return True, _error_line(_internal_error(line, exc)), None
    facts, problem = _parse_line(raw)
    if problem is not None:
        return True, _error_line(BatchResult(line, error=problem.message, kind=problem.kind)), None
    found = _evaluate(policy, known, line, facts, as_of, recorder)
    if isinstance(found, BatchResult):
        return True, _error_line(found), None
    decision, record = found
    try:
        return False, _decision_line(line, decision, trace), record
    except Exception as exc:  # noqa: BLE001  # a decision that cannot be written is an error record
        return True, _error_line(_internal_error(line, exc)), None


def _decide_lines(
    policy: Policy, items: list[tuple[int, bytes | _Rejected]], as_of: dt.date, trace: bool, recorder: Any = None
) -> list[tuple[bool, str, Any]]:
    """Parse, decide and serialise numbered input lines: (is_error, output JSON line, decision log record or None)."""
    known = _known_facts(policy)
    out: list[tuple[bool, str, Any]] = []
    for line, raw in items:
        is_error, text, record = _decide_raw(policy, known, line, raw, as_of, trace, recorder)
        out.append((is_error, text.decode("utf-8"), record))
    return out


@dataclass(frozen=True, slots=True)
class _Block:
    """Whole input lines as read (blank ones included, each ending with a newline except perhaps
    the input's last), numbered from ``first``: what a worker is sent."""

    first: int
    data: bytes
    count: int


@dataclass(frozen=True, slots=True)
class _TooLong:
    """An input line over ``MAX_LINE_BYTES``, skipped as it was read: only its number is sent."""

    line: int


@dataclass(frozen=True, slots=True)
class _InputFile:
    """The batch's input file, as workers open it: its path, and its device and inode, which
    the file a worker opens must have."""

    path: str
    device: int
    inode: int


@dataclass(frozen=True, slots=True)
class _Range:
    """A block of whole input lines (as ``_Block``) that the worker reads from the input file
    itself: ``length`` bytes from ``offset``, ``count`` lines numbered from ``first``. Sent for
    a regular file with ``jobs > 1``, so that the lines cross no pipe on their way in."""

    first: int
    offset: int
    length: int
    count: int
    file: _InputFile


class InputChangedError(RuntimeError):
    """The input file changed while the batch read it (a worker found other lines there)."""


_Chunk = _Block | _TooLong | _Range


@dataclass(frozen=True, slots=True)
class _Written:
    """What a chunk of input lines gives: the decision lines and the error lines, each joined
    into one blob of JSON lines, the counts, and with a decision log the decisions' records in
    order, for the main process to store before it writes the lines."""

    out: bytes = b""
    errors: bytes = b""
    decisions: int = 0
    error_count: int = 0
    blank: int = 0
    records: tuple[Any, ...] = ()


def _too_long(line: int) -> bytes:
    return _json_line(BatchResult(line, error=f"line longer than {MAX_LINE_BYTES} bytes", kind="too-long").to_record())


def _joined(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n" if lines else b""


def _decide_block(policy: Policy, chunk: _Chunk, as_of: dt.date, trace: bool, recorder: Any = None) -> _Written:
    """Split, parse, decide and serialise a chunk of input lines."""
    if isinstance(chunk, _TooLong):
        return _Written(errors=_too_long(chunk.line) + b"\n", error_count=1)
    if isinstance(chunk, _Range):
        chunk = _lines_of(chunk)
    known = _known_facts(policy)
    lines = chunk.data.split(b"\n")
    if chunk.data.endswith(b"\n"):
        lines.pop()  # the empty text after the last newline is not a line
    if len(lines) != chunk.count:  # only a block read from the file again can differ
        raise InputChangedError(f"lines {chunk.first:,} to {chunk.first + chunk.count - 1:,} are not where they were")
    out: list[bytes] = []
    errors: list[bytes] = []
    records: list[Any] = []
    blank = 0
    for line, raw in enumerate(lines, start=chunk.first):
        if len(raw) > MAX_LINE_BYTES:
            errors.append(_too_long(line))
        elif not raw or raw.isspace():
            blank += 1
        else:
            is_error, text, record = _decide_raw(policy, known, line, raw, as_of, trace, recorder)
            if is_error:
                errors.append(text)
            else:
                out.append(text)
                if record is not None:
                    records.append(record)
    return _Written(_joined(out), _joined(errors), len(out), len(errors), blank, tuple(records))


def _block_failed(chunk: _Chunk, why: str) -> _Written:
    """Every line of a chunk that could not be decided (its worker died): an internal error record."""
    if isinstance(chunk, _TooLong):
        return _Written(errors=_too_long(chunk.line) + b"\n", error_count=1)
    if isinstance(chunk, _Range):
        try:
            chunk = _lines_of(chunk)
        except InputChangedError as exc:
            raise _input_changed(chunk, exc) from None
    lines = chunk.data.split(b"\n")
    if chunk.data.endswith(b"\n"):
        lines.pop()
    errors: list[bytes] = []
    blank = 0
    for line, raw in enumerate(lines, start=chunk.first):  # as _decide_block sorts them
        if len(raw) > MAX_LINE_BYTES:
            errors.append(_too_long(line))
        elif not raw or raw.isspace():
            blank += 1
        else:
            errors.append(_json_line(BatchResult(line, error=why, kind="internal").to_record()))
    return _Written(errors=_joined(errors), error_count=len(errors), blank=blank)


def _mapping_failed(chunk: list[tuple[int, object]], why: str) -> list[BatchResult]:
    return [BatchResult(line, error=why, kind="internal") for line, _ in chunk]


# --- worker processes ------------------------------------------------------------------------------

_worker_policy: Policy | None = None
_worker_problem: str | None = None


class WorkerError(RuntimeError):
    """A worker process could not load the same policy as the caller."""


@dataclass(frozen=True, slots=True)
class _PolicySource:
    """How a worker gets the caller's policy: its pickle when it pickles, else file#id + register."""

    digest: str
    pickled: bytes | None = None
    target: str | None = None
    register: Any = None


def _policy_source(policy: Policy) -> _PolicySource:
    """Workers receive ``pickle.dumps(policy)`` when the policy pickles; until then (compiled
    policies hold closures) they compile it from its file, and the digest is checked."""
    try:
        return _PolicySource(policy.digest, pickled=pickle.dumps(policy))
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
        pass
    if not Path(policy.file).is_file():
        raise PolicyError.at(policy.file, None, None, "no-file", "jobs > 1 needs a policy loaded from a file; use jobs=1")
    register = policy.compiled.reference_data.get("gp_practices")
    return _PolicySource(policy.digest, target=f"{policy.file}#{policy.id}", register=register)


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(_PARENT_POLL_SECONDS)
        if os.getppid() != parent:
            os._exit(1)  # the main process is gone: nobody will read this worker's results


def _start_worker(source: _PolicySource, parent: int) -> None:
    """Process-pool initializer: ignore SIGINT (the main process handles it), end with the
    parent, and get the policy once per worker process."""
    global _worker_policy, _worker_problem
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), name="recnav-parent-watch", daemon=True).start()
    try:
        if source.pickled is not None:
            policy: Policy = pickle.loads(source.pickled)  # bytes this library made in the parent
        else:
            from recnav_rules.policies.registry import load_policy

            policy = load_policy(str(source.target), register=source.register)
    except PolicyError as exc:  # reported on the first chunk: an initializer error only breaks the pool
        _worker_problem = str(exc)
        return
    if policy.digest != source.digest:
        _worker_problem = f"{source.target}: the policy file changed while the batch was starting"
        return
    _worker_policy = policy
    # The policy, its register (thousands of practices) and the modules live as long as the
    # worker: out of the collector's sight, a full collection no longer walks them each time
    # (about 15% of a worker's time on the HIU pilot's batch).
    gc.collect()
    gc.freeze()


def _worker_policy_or_fail() -> Policy:
    if _worker_policy is None:
        raise WorkerError(_worker_problem or "worker started without a policy")
    return _worker_policy


def _worker_mappings(items: list[tuple[int, object]], as_of: dt.date, trace: bool, recorder: Any = None) -> list[BatchResult]:
    return _decide_mappings(_worker_policy_or_fail(), items, as_of, trace, recorder)


def _worker_block(chunk: _Chunk, as_of: dt.date, trace: bool, recorder: Any = None) -> _Written:
    return _decide_block(_worker_policy_or_fail(), chunk, as_of, trace, recorder)


_input_descriptors: dict[_InputFile, int] = {}
"""A worker's descriptor of the input file, opened once for all its blocks."""
_input_lock = threading.Lock()


def _open_input_file(file: _InputFile) -> int:
    """A new descriptor of the input file; InputChangedError when the path now names another
    file (replaced while the batch ran) or cannot be opened."""
    try:
        descriptor = os.open(file.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputChangedError(f"cannot open it again: {exc.strerror or exc}") from None
    opened = os.fstat(descriptor)
    if (opened.st_dev, opened.st_ino) != (file.device, file.inode):
        os.close(descriptor)
        raise InputChangedError("another file has its name now")
    return descriptor


def _lines_of(chunk: _Range) -> _Block:
    """The block of lines a range holds, read from the input file: in a worker through the
    descriptor it keeps for its next blocks, elsewhere (the main process, for a block whose
    worker died) through one opened for it."""
    if _worker_policy is not None:
        found = _input_descriptors.get(chunk.file)
        if found is None:
            with _input_lock:
                found = _input_descriptors.get(chunk.file)
                if found is None:
                    found = _input_descriptors[chunk.file] = _open_input_file(chunk.file)
        return _read_range(chunk, found)
    descriptor = _open_input_file(chunk.file)
    try:
        return _read_range(chunk, descriptor)
    finally:
        os.close(descriptor)


def _input_changed(chunk: object, exc: InputChangedError) -> PolicyError:
    where = chunk.file.path if isinstance(chunk, _Range) else "<input>"
    return PolicyError.at(where, None, None, "input-changed", f"the input file changed while the batch read it: {exc}; run again")


def _read_range(chunk: _Range, descriptor: int) -> _Block:
    """The lines of a range, read from the input file (InputChangedError when it is shorter now)."""
    data = os.pread(descriptor, chunk.length, chunk.offset)
    while len(data) < chunk.length:  # a regular file gives it all at once, but a read may stop short
        more = os.pread(descriptor, chunk.length - len(data), chunk.offset + len(data))
        if not more:
            raise InputChangedError(f"it ends before line {chunk.first + chunk.count - 1:,}")
        data += more
    return _Block(chunk.first, data, chunk.count)


# --- the pipeline ----------------------------------------------------------------------------------


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _run(
    policy: Policy,
    chunks: Iterable[C],
    *,
    local: Callable[[Policy, C, dt.date, bool, Any], R],
    remote: Callable[[C, dt.date, bool, Any], R],
    failed: Callable[[C, str], R],
    as_of: dt.date,
    jobs: int,
    trace: bool,
    recorder: Any = None,
) -> Generator[R, None, None]:
    """Apply ``local`` (in this process) or ``remote`` (in ``jobs`` workers) to each chunk, giving
    the chunks' results in order.

    A chunk whose worker process died, or whose results could not come back, gives ``failed``
    for its lines; the pool is restarted and the other chunks in flight are sent again.
    """
    if jobs <= 1:
        for chunk in chunks:
            yield local(policy, chunk, as_of, trace, recorder)
        return
    source = _policy_source(policy)

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=jobs, initializer=_start_worker, initargs=(source, os.getpid()))

    pool = new_pool()
    restarts = 0
    pending: deque[tuple[C, Future[R]]] = deque()

    def collect() -> R:
        nonlocal pool, restarts
        chunk, future = pending.popleft()
        try:
            return future.result()
        except WorkerError as exc:
            raise PolicyError.at(policy.file, None, None, "worker", f"a worker could not load the policy: {exc}") from None
        except InputChangedError as exc:
            raise _input_changed(chunk, exc) from None
        except BrokenProcessPool:
            restarts += 1
            if restarts > _MAX_POOL_RESTARTS:
                raise PolicyError.at(
                    policy.file, None, None, "worker", f"worker processes died {restarts} times; the run was stopped"
                ) from None
            pool.shutdown(wait=True, cancel_futures=True)
            pool = new_pool()
            again = [(c, pool.submit(remote, c, as_of, trace, recorder)) for c, _ in pending]
            pending.clear()
            pending.extend(again)
            return failed(chunk, "a worker process ended while deciding this part of the input; the line was not decided")
        except Exception as exc:  # noqa: BLE001  # results that could not come back: error records, not the end
            return failed(chunk, f"internal error while deciding this line ({type(exc).__name__}); the line was not decided")

    try:
        for chunk in chunks:
            pending.append((chunk, pool.submit(remote, chunk, as_of, trace, recorder)))
            if len(pending) >= jobs * _IN_FLIGHT_PER_JOB:
                yield collect()
        while pending:
            yield collect()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _check_jobs(jobs: int, chunk_size: int) -> int:
    if jobs < 0:
        raise ValueError(f"jobs must be 0 (one per core) or more, got {jobs}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    return (os.cpu_count() or 1) if jobs == 0 else jobs


def _flat(chunks: Iterator[list[BatchResult]]) -> Generator[BatchResult, None, None]:
    try:
        for results in chunks:
            yield from results
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # stops the workers at once when the caller stops early


def evaluate_many(
    policy: Policy,
    facts: Iterable[object],
    *,
    as_of: dt.date | None = None,
    jobs: int = 1,
    trace: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    log: Any = None,
) -> Iterator[BatchResult]:
    """Decide every referral in ``facts``, yielding one ``BatchResult`` per item, in input order.

    ``facts`` may be any iterable, endless included: it is consumed lazily, ``chunk_size``
    items at a time, and at most ``3 * jobs`` chunks are in flight. ``jobs`` is the number of
    worker processes (1: this process; 0: one per core). ``as_of`` defaults to today, fixed once
    for the whole run. An item that is not a mapping, whose facts are bad, or whose evaluation
    raises anything at all gives a result with ``error`` set; it never raises. Raises
    ``ValueError`` at once for a negative ``jobs`` or a ``chunk_size`` below 1, and
    ``PolicyError`` (when iterated) if workers cannot load the policy from its file.
    """
    jobs = _check_jobs(jobs, chunk_size)
    day = as_of if as_of is not None else today_in_london()
    chunks = _chunks(enumerate(facts, start=1), chunk_size)
    if log is not None:  # a DecisionLog: each decision is recorded, in input order, in this process
        from recnav_rules.audit.batching import logged_in_order

        results = _run(
            policy, chunks, local=_decide_mappings, remote=_worker_mappings, failed=_mapping_failed,
            as_of=day, jobs=jobs, trace=trace, recorder=log.record_maker(policy),
        )
        return logged_in_order(_flat(results), log, lambda result: result.record)
    return _flat(_run(
        policy, chunks, local=_decide_mappings, remote=_worker_mappings, failed=_mapping_failed,
        as_of=day, jobs=jobs, trace=trace,
    ))


# --- the command -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Counts:
    lines: int = 0
    blank: int = 0
    decisions: int = 0
    errors: int = 0
    read: int = 0
    """Bytes of input read so far (for the progress bar)."""
    started: float = field(default_factory=time.monotonic)

    def summary(self) -> str:
        return f"lines in: {self.lines}, decisions: {self.decisions}, errors: {self.errors}, blank: {self.blank}"


def _read_blocks(stream: BinaryIO, counts: _Counts, source: str, lines_per_block: int, file: _InputFile | None = None) -> Iterator[_Chunk]:
    """The input as blocks of ``lines_per_block`` whole lines (fewer at the end, or when a block
    reaches ``_BLOCK_BYTES``), numbered, read ``_READ_BYTES`` at a time. A line that grows past
    ``MAX_LINE_BYTES`` before its newline is skipped as it is read, never held: a ``_TooLong``
    marks its place. The main process only finds line ends here; workers split the lines, skip
    blank ones and decide the rest. With ``file`` (the stream is that regular file, read from
    its start) each block is a ``_Range`` of it, which the worker reads itself."""
    read = getattr(stream, "read1", None) or stream.read  # read1: what a pipe has, without waiting for more
    pieces: list[bytes | memoryview] = []  # whole lines not sent yet (the start of the first may be an earlier read's tail)
    whole = 0  # how many
    held = 0  # their bytes
    tail = b""  # the start of a line whose newline has not come yet
    skipping = False
    begin = 0  # where in the input the next block begins

    def block() -> _Block | _Range:
        nonlocal pieces, whole, held, begin
        made: _Block | _Range
        if file is None:
            made = _Block(counts.lines + 1, b"".join(pieces), whole)
        else:
            length = sum(map(len, pieces))
            made = _Range(counts.lines + 1, begin, length, whole, file)
            begin += length
        counts.lines += whole
        pieces, whole, held = [], 0, 0
        return made

    try:
        while data := read(_READ_BYTES):
            counts.read += len(data)
            if skipping:  # the rest of an over-long line
                end = data.find(b"\n")
                if end < 0:
                    begin += len(data)
                    continue
                skipping = False
                begin += end + 1
                data = data[end + 1 :]
            find = data.find
            sent = at = 0  # data[:sent] is in blocks or pieces; data[:at] is whole lines
            if tail and find(b"\n") < 0:  # no line ends here: the line begun before goes on (rare)
                tail += data
                at = sent = len(data)
            elif tail:  # the line begun in an earlier read ends here: its start goes first
                pieces.append(tail)
                held += len(tail)
                tail = b""
            view = memoryview(data)  # pieces are views, copied once when their block is joined
            while (end := find(b"\n", at)) >= 0:
                at = end + 1
                whole += 1
                if whole >= lines_per_block:
                    pieces.append(view[sent:at])
                    sent = at
                    yield block()
            if at > sent:
                pieces.append(view[sent:at])
                held += at - sent
            if at < len(data):  # the start of a line whose newline has not come yet
                tail = data[at:]
            if pieces and (held >= _BLOCK_BYTES or len(tail) > MAX_LINE_BYTES):
                yield block()
            if len(tail) > MAX_LINE_BYTES:
                counts.lines += 1
                yield _TooLong(counts.lines)
                begin += len(tail)
                tail, skipping = b"", True
        if tail:  # the last line, with no newline after it
            pieces.append(tail)
            whole += 1
        if pieces:
            yield block()
    except OSError as exc:
        raise PolicyError.at(source, counts.lines + 1, None, "unreadable", f"cannot read: {exc.strerror or exc}") from None


def _input_file(source: str, stream: BinaryIO, jobs: int) -> _InputFile | None:
    """The input as workers open it themselves (``_Range``): with ``jobs > 1``, for a regular
    file; None for a pipe or standard input, whose lines the main process sends."""
    if jobs <= 1 or source == "-":
        return None
    try:
        found = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    if not stat.S_ISREG(found.st_mode):
        return None
    return _InputFile(os.path.abspath(source), found.st_dev, found.st_ino)


def _open_input(source: str) -> BinaryIO:
    """The input stream: standard input for '-', else a regular file or a pipe (never a device
    or a directory, which would never end or cannot be read)."""
    if source == "-":
        buffer: BinaryIO | None = getattr(sys.stdin, "buffer", None)
        if buffer is None:
            raise PolicyError.at("<stdin>", None, None, "unreadable", "standard input is not a byte stream")
        return buffer
    try:
        mode = os.stat(source).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            kind = "a directory" if stat.S_ISDIR(mode) else "a device or socket"
            raise PolicyError.at(source, None, None, "not-a-file", f"cannot read: {kind}, not a file")
        return Path(source).open("rb")
    except OSError as exc:
        raise PolicyError.at(source, None, None, "unreadable", f"cannot read: {exc.strerror or exc}") from None


def _identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of an existing file, symlinks followed; None when there is none."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _stdin_identity() -> tuple[int, int] | None:
    try:
        found = os.fstat(sys.stdin.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return (found.st_dev, found.st_ino) if stat.S_ISREG(found.st_mode) else None


def _refuse_clobbering(source: str, outputs: dict[str, str], policy_file: str) -> None:
    """An output may not be the input, the policy file or the other output (same device and
    inode, through symlinks too; or the same resolved path when it does not exist yet)."""
    protected: dict[str, tuple[tuple[int, int] | None, str]] = {
        "the input": (_stdin_identity() if source == "-" else _identity(source), "" if source == "-" else os.path.realpath(source)),
        "the policy file": (_identity(policy_file), os.path.realpath(policy_file)),
    }
    seen: dict[str, tuple[tuple[int, int] | None, str]] = {}
    for option, path in outputs.items():
        ident, real = _identity(path), os.path.realpath(path)
        for what, (other_ident, other_real) in [*protected.items(), *seen.items()]:
            if (ident is not None and ident == other_ident) or (real and real == other_real):
                raise PolicyError.at(path, None, None, "usage", f"{option} would overwrite {what}; give another file")
        seen[f"the {option} file"] = (ident, real)


def _umask() -> int:
    """The process umask, read without changing it (os.umask would race other threads)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


class _Output:
    """One output file, written to a temporary file in the same folder and renamed into place
    by ``commit()``, once it is on disk (fsync); ``discard()`` removes the temporary file.

    So that the last fsync has little left to do, every ``_SYNC_EVERY`` bytes a thread asks
    the disk to catch up (fdatasync) while the run goes on; a failure it meets is raised by
    ``commit()`` (the kernel reports a write-back error once per open file, so the thread's
    report is the only one)."""

    def __init__(self, path: str) -> None:
        self.path = path
        if os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, "it is a folder", path)
        folder = os.path.dirname(os.path.abspath(path))
        fd, self.temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".part")
        try:  # the permissions an ordinary open() would give: the old file's, else 0666 less the umask
            try:
                mode = stat.S_IMODE(os.stat(path).st_mode)
            except FileNotFoundError:
                mode = 0o666 & ~_umask()
            os.chmod(self.temporary, mode)
        except OSError:
            pass
        self.handle: BinaryIO = os.fdopen(fd, "wb")
        self._unsynced = 0
        self._syncing: threading.Thread | None = None
        self._sync_failed: OSError | None = None

    def write(self, data: bytes) -> int:
        written = self.handle.write(data)
        self._unsynced += len(data)
        if self._unsynced >= _SYNC_EVERY and (self._syncing is None or not self._syncing.is_alive()):
            self.handle.flush()
            self._unsynced = 0
            self._syncing = threading.Thread(target=self._sync, args=(self.handle.fileno(),), name="recnav-output-sync", daemon=True)
            self._syncing.start()
        return written

    def _sync(self, fd: int) -> None:
        try:
            os.fdatasync(fd)
        except OSError as exc:
            self._sync_failed = exc

    def _synced(self) -> None:
        """Wait for the thread (it uses the file descriptor); raise what it met."""
        if self._syncing is not None:
            self._syncing.join()
            self._syncing = None
        if self._sync_failed is not None:
            raise self._sync_failed

    def commit(self) -> None:
        self._synced()
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.temporary, self.path)

    def discard(self) -> None:
        try:
            self._synced()
        except OSError:
            pass
        try:
            self.handle.close()
        except OSError:
            pass
        try:
            os.unlink(self.temporary)
        except OSError:
            pass


def _text_writer(text: TextIO) -> Callable[[bytes], object]:
    """Write UTF-8 bytes to a text stream (standard output or error): to its byte buffer, after
    what was written to it as text so that the order holds, or as text when it has none."""
    buffer: BinaryIO | None = getattr(text, "buffer", None)
    if buffer is None:
        return lambda data: text.write(data.decode("utf-8"))
    under = buffer

    def write(data: bytes) -> object:
        text.flush()
        return under.write(data)

    return write


def _progress_bar(stream: BinaryIO) -> Any:
    """A tqdm progress bar on standard error over the input's bytes (its size, when it is a
    file; a running count for a pipe)."""
    from tqdm import tqdm

    try:
        size: int | None = os.fstat(stream.fileno()).st_size or None
    except (OSError, ValueError, AttributeError):
        size = None
    return tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, desc="reading", file=sys.stderr, mininterval=0.5, leave=True)


def _progress(bar: Any, counts: _Counts) -> None:
    elapsed = max(time.monotonic() - counts.started, 1e-9)
    bar.set_postfix_str(f"{counts.lines:,} lines, {counts.lines / elapsed:,.0f}/s", refresh=False)
    bar.update(counts.read - bar.n)


class _Terminated(BaseException):
    """SIGTERM arrived: stop like SIGINT, cleanly."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def _open_log(args: argparse.Namespace) -> Any:
    """The decision log of ``--log LOG`` (recnav_rules.audit), or None."""
    if getattr(args, "log", None) is None:
        return None
    from recnav_rules.audit import DecisionLog

    return DecisionLog(args.log, durability=getattr(args, "log_durability", None))


def run_batch_command(policy: Policy, args: argparse.Namespace) -> int:
    """``recnav-rules evaluate --policy ID --batch IN.jsonl [--out OUT.jsonl] [--errors E.jsonl] [--jobs N] [--trace] [--fail-on-error]``.

    Writes one JSON decision per input line to ``--out`` (default: standard output), in input
    order, each with ``"line": N``; bad lines (invalid JSON or UTF-8, not an object, bad facts,
    longer than 1 MiB, or an unexpected failure while deciding) go to ``--errors`` (default
    ``OUT.jsonl.errors.jsonl``, or standard error when decisions go to standard output) as
    ``{"line": N, "error": "...", "kind": "..."}``. Blank lines are skipped and counted. Ends
    with one summary line on standard error, ``lines in: N, decisions: D, errors: E, blank: B``
    (N = D + E + B), and a progress counter before it when standard error is a terminal.

    Exit status: 0 when every line was read and ended as a decision or an error record (bad
    lines included, unless ``--fail-on-error``: then 1 when there was any); 1 when writing an
    output fails part-way (a full disk); 2 (``PolicyError``) when the input cannot be read, an
    output cannot be created, or the options are bad (an output that is the input, the policy
    or the other output); 130 on SIGINT and 143 on
    SIGTERM, after a line saying how many lines were finished (no output file is left).
    """
    engine = getattr(args, "engine", "native")
    if engine != "native":
        raise PolicyError.at("<arguments>", None, None, "usage", f"--batch runs the native engine only, not {engine!r}")
    if args.jobs < 0:
        raise PolicyError.at("<arguments>", None, None, "usage", f"--jobs must be 0 (one per core) or more, got {args.jobs}")
    jobs = _check_jobs(args.jobs, DEFAULT_CHUNK_SIZE)
    as_of: dt.date = args.as_of if args.as_of is not None else today_in_london()
    to_stdout = args.out in (None, "-")
    errors_path: str | None = args.errors or (None if to_stdout else f"{args.out}.errors.jsonl")
    files = {name: path for name, path in (("--out", args.out), ("--errors", errors_path)) if path not in (None, "-")}
    _refuse_clobbering(args.batch, files, policy.file)
    stream = _open_input(args.batch)
    outputs: dict[str, _Output] = {}
    log: Any = None
    counts = _Counts()
    previous_sigterm: Any = None
    in_main_thread = threading.current_thread() is threading.main_thread()
    try:
        try:
            for name, path in files.items():
                outputs[name] = _Output(path)
        except OSError as exc:  # bad input, like a missing input file (the CLI's convention)
            raise PolicyError.at(path, None, None, "unwritable", f"cannot write: {exc.strerror or exc}") from None
        out = outputs["--out"].write if "--out" in outputs else _text_writer(sys.stdout)
        errors = outputs["--errors"].write if "--errors" in outputs else _text_writer(sys.stderr)
        if in_main_thread:
            previous_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
        bar = _progress_bar(stream) if sys.stderr.isatty() and "--errors" in outputs else None
        log = _open_log(args)
        results: Generator[_Written, None, None] = _run(
            policy, _read_blocks(stream, counts, args.batch, _LINES_PER_BLOCK, _input_file(args.batch, stream, jobs)), local=_decide_block,
            remote=_worker_block, failed=_block_failed, as_of=as_of, jobs=jobs, trace=args.trace,
            recorder=log.record_maker(policy) if log is not None else None,
        )
        if log is not None:  # --log: each chunk's decisions are recorded, in input order, before it is written
            from recnav_rules.audit.batching import logged_in_order

            results = logged_in_order(results, log, lambda written: written.records, block=1)  # type: ignore[assignment]
        try:
            for written in results:
                if written.errors:
                    errors(written.errors)
                if written.out:
                    out(written.out)
                counts.decisions += written.decisions
                counts.errors += written.error_count
                counts.blank += written.blank
                if bar is not None:
                    _progress(bar, counts)
            for name in ("--errors", "--out"):
                if name in outputs:
                    outputs[name].commit()  # a failure leaves it to discard() (the temporary file removed)
                    del outputs[name]
            if to_stdout:
                sys.stdout.flush()
        except BrokenPipeError:
            raise  # the reader went away (``| head``): the command line ends quietly
        except OSError as exc:
            sys.stderr.write(f"recnav-rules: cannot write output: {exc.strerror or exc}\n")
            return 1
        finally:
            results.close()  # stops the workers at once if writing failed
        if bar is not None:
            _progress(bar, counts)
            bar.close()
        sys.stderr.write(counts.summary() + "\n")
        if getattr(args, "fail_on_error", False) and counts.errors:
            return 1
        return 0
    except (KeyboardInterrupt, _Terminated) as exc:
        finished = counts.decisions + counts.errors
        signal_name = "SIGTERM" if isinstance(exc, _Terminated) else "SIGINT"
        sys.stderr.write(
            f"recnav-rules: interrupted ({signal_name}) after {finished:,} lines finished "
            f"({counts.decisions:,} decisions, {counts.errors:,} errors) of {counts.lines:,} read; "
            "no output file was written: run again to produce them\n"
        )
        return 143 if isinstance(exc, _Terminated) else 130
    finally:
        if in_main_thread and previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)
        for output in outputs.values():
            output.discard()
        if args.batch != "-":
            stream.close()
        if log is not None:
            log.close()
