"""Replaying logged decisions: re-evaluating each from what the log itself stored.

Each record names its context (stored in the log's ``blobs``), which names the sha256 of its
policy source text, parameters and reference-data tables, stored there too; replay compiles the
policy from that text with that register (through ``engine_adapter.compile_from_text``),
evaluates the record's checked facts as of its as-of date, and compares the new record body with
the stored one, field by field, each with its context put back (so the trace is compared
criterion by criterion, rule by rule). The engine version is
recorded but not compared (replay asks whether today's engine decides the same way).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from recnav_rules.audit.chain import canonical_json
from recnav_rules.audit.engine_adapter import GP_PRACTICES, compile_from_text, register_from_table
from recnav_rules.audit.record import context_of, decision_body, expand_body
from recnav_rules.audit.store import Store, StoredRow
from recnav_rules.decision import Decision
from recnav_rules.errors import RecnavError
from recnav_rules.policy import Policy

__all__ = ["ReplayResult", "Replayed", "Replayer"]

_NOT_COMPARED = {"engine", "personal_facts_withheld"}
"""Not compared: the engine version (recorded, expected to move on) and the names of personal facts
the caller gave (never stored, so replay cannot give them)."""


@dataclass(frozen=True, slots=True)
class Replayed:
    """One record replayed: reproduced, or the fields that came out differently."""

    seq: int
    decision_id: str
    reproduced: bool
    differences: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "decision_id": self.decision_id, "reproduced": self.reproduced, "differences": list(self.differences)}


@dataclass(slots=True)
class ReplayResult:
    """Every record replayed; ``ok`` when each one reproduced."""

    checked: int = 0
    failures: list[Replayed] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def __bool__(self) -> bool:
        return self.ok


class Replayer:
    """Replays records of one store, compiling each stored policy once."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._policies: dict[str, tuple[Policy, dict[str, Any]]] = {}

    def _blob(self, digest: str | None, what: str) -> str:
        content = self._store.get_blob(digest) if digest else None
        if content is None:
            raise LookupError(f"the stored {what} ({digest}) is missing from the log")
        return content

    def _policy(self, context_sha: str) -> tuple[Policy, dict[str, Any]]:
        """The policy a record's context names, compiled from the stored source, and the context."""
        found = self._policies.get(context_sha)
        if found is None:
            text = self._blob(context_sha, "record context")
            if hashlib.sha256(text.encode("utf-8")).hexdigest() != context_sha:
                raise LookupError(f"the stored record context ({context_sha}) does not match its digest")
            context: dict[str, Any] = json.loads(text)
            source_sha = context["policy"]["source_sha256"]
            table_sha = (context.get("reference_data", {}).get(GP_PRACTICES) or {}).get("table_sha256")
            source = self._blob(source_sha, "policy source")
            register = register_from_table(json.loads(self._blob(table_sha, "reference table"))) if table_sha else None
            parameters = json.loads(self._blob(context["parameters_sha256"], "parameters"))
            policy = compile_from_text(source, f"<logged policy source {source_sha[:12]}>", context["policy"]["id"], register, parameters)
            found = (policy, context)
            self._policies[context_sha] = found
        return found

    def decision(self, row: StoredRow) -> Decision:
        """The record's decision made again from what the log stored (texts, quotes and trace included).

        Raises ``LookupError`` when a stored source is missing, ``RecnavError`` when it no longer compiles.
        """
        record: dict[str, Any] = json.loads(row.record)
        body: dict[str, Any] = record["decision"]
        return self._policy(record["context"])[0].evaluate(body["checked_facts"], as_of=body["as_of"])

    def replay_row(self, row: StoredRow) -> Replayed:
        try:
            record: dict[str, Any] = json.loads(row.record)
            body: dict[str, Any] = record["decision"]
            policy, context = self._policy(record["context"])
            decision = policy.evaluate(body["checked_facts"], as_of=body["as_of"])
            stored = expand_body(body, context)
        except (RecnavError, LookupError, KeyError, TypeError, ValueError) as exc:
            return Replayed(row.seq, row.decision_id, False, (f"cannot replay: {type(exc).__name__}: {exc}",))
        table_sha = {name: info.get("table_sha256") for name, info in (context.get("reference_data") or {}).items()}
        again_context = context_of(
            policy,
            source_sha256=context["policy"]["source_sha256"],
            parameters=context["parameters"],
            parameters_sha256=context["parameters_sha256"],
            table_sha256=table_sha,
        )
        layout = (tuple(again_context["trace_order"]["criteria"]), tuple(again_context["trace_order"]["rules"]))
        again = decision_body(decision, layout=layout, subject_key=body.get("subject_key"))
        again = expand_body(json.loads(canonical_json(again)), again_context)  # the JSON form, as stored (dates as text)
        differences = tuple(
            sorted(name for name in set(stored) | set(again) if name not in _NOT_COMPARED and stored.get(name) != again.get(name))
        )
        return Replayed(row.seq, row.decision_id, not differences, differences)

    def replay(self, rows: Iterable[StoredRow]) -> ReplayResult:
        result = ReplayResult()
        for row in rows:
            outcome = self.replay_row(row)
            result.checked += 1
            if not outcome.reproduced:
                result.failures.append(outcome)
        return result
