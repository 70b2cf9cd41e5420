"""``DecisionLog``: an append-only, tamper-evident, replayable log of decisions.

::

    with recnav_rules.DecisionLog("decisions.sqlite") as log:     # or "postgresql://..."
        decision = log.record(policy.evaluate(facts, as_of=day), policy=policy, facts=facts)
        decision.decision_id                  # the record's UUID
        log.verify()                          # VerifyResult: True when the chain is intact
        log.replay()                          # ReplayResult: True when every record reproduces

See docs/audit.md for what is kept (and what never is), verification, replay and retention.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from recnav_rules.audit.chain import canonical_json
from recnav_rules.audit.engine_adapter import (
    GP_PRACTICES,
    compile_from_text,
    policy_parameters,
    policy_register,
    policy_source,
    register_table,
)
from recnav_rules.audit.record import CONTEXT_KIND, PreparedRecord, RecordMaker, expand_body, maker_for
from recnav_rules.audit.replay import Replayer, ReplayResult
from recnav_rules.audit.store import DURABILITY, Checkpoint, DecisionLogError, Store, StoredRow, utc_now
from recnav_rules.audit.subject import SUBJECT_KEY_ENV, normalise_nhs_number, secret_from_env, subject_key
from recnav_rules.audit.verify import VerifyResult, verify_store
from recnav_rules.decision import Decision
from recnav_rules.errors import RecnavError
from recnav_rules.policy import Policy

__all__ = ["DecisionLog", "LogEntry"]

_logger = logging.getLogger("recnav_rules.audit")
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One stored record: where it sits in the chain, its content as stored (``record``, parsed:
    the text its hash covers) and its decision with its context put back (``body``)."""

    seq: int
    decision_id: str
    recorded_at: str
    policy_id: str
    as_of: str
    outcome: str
    hash: str
    record: dict[str, Any]
    body: dict[str, Any]
    """The decision part of the record (policy, facts, outcome, reasons, trace, ...) with its
    context (policy source digest, parameters, reference data, the trace by id) put back
    (``record.expand_body``); as stored when its context is missing from the log."""

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, **self.record, "decision": self.body}


class _Contexts:
    """The log's record contexts (``blobs`` of kind ``context``), each read once."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._found: dict[str, dict[str, Any] | None] = {}

    def get(self, digest: object) -> dict[str, Any] | None:
        if not isinstance(digest, str):
            return None
        if digest not in self._found:
            text = self._store.get_blob(digest)
            found = json.loads(text) if text is not None and _sha256(text) == digest else None
            self._found[digest] = found if isinstance(found, dict) else None
        return self._found[digest]

    def entry(self, row: StoredRow) -> LogEntry:
        record = json.loads(row.record)
        body = record.get("decision") if isinstance(record, dict) else None
        expanded: dict[str, Any] = body if isinstance(body, dict) else {}
        context = self.get(record.get("context") if isinstance(record, dict) else None)
        if context is not None:
            try:
                expanded = expand_body(expanded, context)
            except (ValueError, AttributeError, TypeError):
                pass
        return LogEntry(row.seq, row.decision_id, row.recorded_at, row.policy_id, row.as_of, row.outcome, row.hash, record, expanded)


def _open_store(target: str, create: bool, durability: str | None) -> Store:
    if durability is not None and durability not in DURABILITY:
        raise DecisionLogError(f"durability must be one of {', '.join(DURABILITY)}, got {durability!r}")
    if target.startswith(_POSTGRES_SCHEMES):
        from recnav_rules.audit.postgres_store import PostgresStore

        return PostgresStore(target, create=create, durability=durability)
    if "://" in target:
        raise DecisionLogError(f"unknown decision log URL scheme in {target.split('://')[0]}://: use a file path or postgresql://")
    from recnav_rules.audit.sqlite_store import SqliteStore

    return SqliteStore(target, create=create, durability=durability or "normal")


def _moment(value: str | dt.date | None) -> str | None:
    """A bound on ``recorded_at`` (UTC ISO text, which sorts as time does)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.isoformat()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class DecisionLog:
    """An append-only log of decisions in SQLite (a file path) or PostgreSQL (a ``postgresql://`` URL).

    ``fail_closed`` (default): when a decision cannot be recorded, ``record`` raises
    ``DecisionLogError``; otherwise it logs a warning and returns the decision without a
    ``decision_id``. ``subject_key`` is the secret for subject keys (default: the environment
    variable ``RECNAV_RULES_SUBJECT_KEY``); it is never stored. ``create=False`` opens an existing
    log only. ``durability`` (docs/audit.md): ``"normal"`` (SQLite's default here): a recorded
    decision survives the process being killed at any moment, and an operating-system crash or
    power cut may lose the last ones but never the chain's consistency; ``"full"``: each record is
    synced to the disk before ``record`` returns (survives a power cut; a few milliseconds each).
    On PostgreSQL, None leaves the server's ``synchronous_commit``; ``"full"``/``"normal"`` set it
    on/off for the log's connection. Safe to share across threads.
    """

    def __init__(
        self,
        path_or_url: str | os.PathLike[str],
        *,
        fail_closed: bool = True,
        subject_key: bytes | None = None,
        create: bool = True,
        durability: str | None = None,
    ) -> None:
        self.fail_closed = fail_closed
        self._secret = subject_key if subject_key is not None else secret_from_env()
        self._store = _open_store(os.fspath(path_or_url), create, durability)
        self.location = self._store.location
        """The log's file path, or its URL without the password."""
        self._makers: dict[tuple[str, str, str], RecordMaker] = {}
        self._last_maker: tuple[Policy, RecordMaker] | None = None
        self._lock = threading.Lock()
        self._contexts = _Contexts(self._store)

    # --- writing -------------------------------------------------------------------------------

    def record_maker(self, policy: Policy) -> RecordMaker:
        """The record builder for ``policy``, storing its source text and reference table first.

        The stored source is compiled once to check it is the text the policy came from.
        """
        last = self._last_maker  # the policy asked for before, as the same (immutable) object: no key to work out
        if last is not None and last[0] is policy:
            return last[1]
        register = policy_register(policy)
        key = (policy.digest, register.digest if register is not None else "", policy.file)
        with self._lock:
            maker = self._makers.get(key)
        if maker is not None:
            self._last_maker = (policy, maker)
            return maker
        try:
            text = policy_source(policy).decode("utf-8")
        except UnicodeDecodeError:
            raise DecisionLogError(f"the policy source {policy.file} is not UTF-8 text") from None
        except RecnavError as exc:
            raise DecisionLogError(str(exc)) from None
        parameters = policy_parameters(policy)
        try:
            again = compile_from_text(text, policy.file, policy.id, register, parameters)
        except RecnavError:
            again = None
        if again is None or again.digest != policy.digest:
            raise DecisionLogError(f"{policy.file} changed since policy '{policy.id}' was loaded; load it again to log its decisions")
        source_sha = _sha256(text)
        self._store.put_blob(source_sha, "policy-source", text)
        tables: dict[str, str | None] = {}
        if register is not None:
            table = canonical_json(register_table(register))
            table_sha = tables[GP_PRACTICES] = _sha256(table)
            self._store.put_blob(table_sha, f"reference:{GP_PRACTICES}", table)
        parameters_json = canonical_json(parameters)
        parameters_sha = _sha256(parameters_json)
        self._store.put_blob(parameters_sha, "parameters", parameters_json)
        maker, context = maker_for(
            policy, source_sha256=source_sha, parameters=parameters, parameters_sha256=parameters_sha, table_sha256=tables, secret=self._secret,
        )
        self._store.put_blob(maker.context_sha256, CONTEXT_KIND, context)
        with self._lock:
            self._makers[key] = maker
        self._last_maker = (policy, maker)
        return maker

    def record(self, decision: Decision, *, policy: Policy, facts: Mapping[str, Any]) -> Decision:
        """Store ``decision`` and return it with its new ``decision_id``.

        ``facts`` (the raw facts given) are used only for the subject key; the record keeps the
        decision's checked non-personal facts. Raises ``DecisionLogError`` when the decision could
        not be recorded (unless ``fail_closed`` is False: then it is returned without an id).
        """
        try:
            if decision.policy_digest != policy.digest:
                raise DecisionLogError(f"the decision was not made by policy '{policy.id}' (digests differ)")
            try:
                prepared = self.record_maker(policy).prepare(decision, facts)
            except ValueError as exc:
                if isinstance(exc, DecisionLogError):
                    raise
                raise DecisionLogError(f"cannot record the decision: {exc}") from None
            self._store.append([prepared])
        except DecisionLogError as exc:
            if self.fail_closed:
                raise
            _logger.warning("decision not logged (fail_closed is off): %s", exc)
            return decision
        return decision.with_decision_id(prepared.decision_id)

    def append(self, records: Sequence[PreparedRecord]) -> None:
        """Chain and store records built by ``record_maker(policy).prepare`` (batch evaluation)."""
        if records:
            self._store.append(records)

    # --- reading ---------------------------------------------------------------------------------

    def get(self, decision_id: str) -> LogEntry | None:
        """The record of one decision, or None."""
        row = self._store.row(str(decision_id))
        return self._contexts.entry(row) if row is not None else None

    def find(
        self,
        policy_id: str | None = None,
        since: str | dt.date | None = None,
        until: str | dt.date | None = None,
        limit: int | None = 1000,
    ) -> list[LogEntry]:
        """Records in chain order, by policy and by recording time (UTC): ``since`` inclusive,
        ``until`` exclusive, each a date, a UTC date-time or ISO text."""
        if limit is not None and limit < 0:
            raise DecisionLogError(f"limit must be 0 or more, got {limit}")
        rows = self._store.find(policy_id=policy_id, since=_moment(since), until=_moment(until), subject_key=None, limit=limit)
        return [self._contexts.entry(r) for r in rows]

    def find_subject(self, nhs_number: str) -> list[LogEntry]:
        """One person's decisions, found by their subject key. Needs the secret."""
        if self._secret is None:
            raise DecisionLogError(
                f"no subject key secret: set {SUBJECT_KEY_ENV} to the secret the decisions were recorded with "
                "(without it no subject keys were recorded and none can be looked up)"
            )
        digits = normalise_nhs_number(nhs_number)
        if digits is None:
            raise DecisionLogError("nhs_number: not a valid NHS number (10 digits with a valid check digit)")
        key = subject_key(digits, self._secret)
        return [self._contexts.entry(r) for r in self._store.find(policy_id=None, since=None, until=None, subject_key=key, limit=None)]

    def explain(self, decision_id: str) -> str:
        """The plain-English explanation of a logged decision, made again from the stored policy
        source, parameters, reference data and checked facts (``Decision.explain()``)."""
        row = self._store.row(decision_id)
        if row is None:
            raise DecisionLogError(f"no decision {decision_id} in the log")
        try:
            return Replayer(self._store).decision(row).with_decision_id(row.decision_id).explain()
        except (LookupError, RecnavError) as exc:
            raise DecisionLogError(f"cannot explain decision {decision_id}: {exc}") from None

    def rows(self) -> Iterator[LogEntry]:
        """Every record in chain order."""
        return (self._contexts.entry(r) for r in self._store.rows(0))

    # --- checking ---------------------------------------------------------------------------------

    def verify(self, checkpoint: tuple[int, str] | None = None) -> VerifyResult:
        """Check the hash chain (and an auditor's ``(seq, hash)`` checkpoint, when given)."""
        return verify_store(self._store, checkpoint)

    def replay(self, decision_id: str | None = None) -> ReplayResult:
        """Re-evaluate every record (or one) from its stored policy source, parameters and reference data."""
        if decision_id is None:
            return Replayer(self._store).replay(self._store.rows(0))
        row = self._store.row(decision_id)
        if row is None:
            raise DecisionLogError(f"no decision {decision_id} in the log")
        return Replayer(self._store).replay([row])

    # --- retention ----------------------------------------------------------------------------------

    def checkpoint(self) -> Checkpoint:
        """The chain's head now, also stored in the log; keep it elsewhere to prove later that
        nothing up to it changed."""
        seq, digest = self._store.head()
        mark = Checkpoint(seq, digest, utc_now())
        self._store.add_checkpoint(mark)
        return mark

    def checkpoints(self) -> list[Checkpoint]:
        return self._store.checkpoints()

    def prune(self, before: str | dt.date) -> Checkpoint | None:
        """Remove the records made before ``before`` (a date, a UTC date-time or ISO text), oldest first.

        Verification then starts from the last removed record, which is returned (and stored as a
        ``prune`` checkpoint): keep it. None when nothing was removed.
        """
        return self._store.prune(str(_moment(before)))

    def export_jsonl(self, stream: IO[str]) -> int:
        """Write every record, in chain order, as one JSON line each (with its seq and hash). Returns the count."""
        count = 0
        for row in self._store.rows(0):
            stream.write(f'{{"seq":{row.seq},"hash":"{row.hash}","record":{row.record}}}\n')
            count += 1
        return count

    # --- lifetime ------------------------------------------------------------------------------------

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DecisionLog({self.location!r})"
