"""Replaying logged decisions: re-evaluating each from what the log itself stored.

Each record names the sha256 of its policy source text and of its reference-data tables, stored
in the log's ``blobs``; replay compiles the policy from that text with that register (through
``engine_adapter.compile_from_text``), evaluates the record's checked facts as of its as-of date,
and compares the new record body with the stored one, field by field. The engine version is
recorded but not compared (replay asks whether today's engine decides the same way).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from recnav_rules.audit.chain import canonical_json
from recnav_rules.audit.engine_adapter import GP_PRACTICES, compile_from_text, register_from_table
from recnav_rules.audit.record import decision_body
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
        self._policies: dict[tuple[str, str | None, str, str], Policy] = {}

    def _blob(self, digest: str | None, what: str) -> str:
        content = self._store.get_blob(digest) if digest else None
        if content is None:
            raise LookupError(f"the stored {what} ({digest}) is missing from the log")
        return content

    def _policy(self, body: dict[str, Any]) -> Policy:
        source_sha = body["policy"]["source_sha256"]
        table_sha = (body.get("reference_data", {}).get(GP_PRACTICES) or {}).get("table_sha256")
        key = (source_sha, table_sha, body["policy"]["id"], body["parameters_sha256"])
        policy = self._policies.get(key)
        if policy is None:
            text = self._blob(source_sha, "policy source")
            register = register_from_table(json.loads(self._blob(table_sha, "reference table"))) if table_sha else None
            parameters = json.loads(self._blob(body["parameters_sha256"], "parameters"))
            policy = compile_from_text(text, f"<logged policy source {source_sha[:12]}>", body["policy"]["id"], register, parameters)
            self._policies[key] = policy
        return policy

    def decision(self, row: StoredRow) -> Decision:
        """The record's decision made again from what the log stored (texts, quotes and trace included).

        Raises ``LookupError`` when a stored source is missing, ``RecnavError`` when it no longer compiles.
        """
        body: dict[str, Any] = json.loads(row.record)["decision"]
        return self._policy(body).evaluate(body["checked_facts"], as_of=body["as_of"])

    def replay_row(self, row: StoredRow) -> Replayed:
        try:
            body: dict[str, Any] = json.loads(row.record)["decision"]
            decision = self.decision(row)
        except (RecnavError, LookupError, KeyError, TypeError, ValueError) as exc:
            return Replayed(row.seq, row.decision_id, False, (f"cannot replay: {type(exc).__name__}: {exc}",))
        again = decision_body(
            decision,
            source_sha256=body["policy"]["source_sha256"],
            parameters=body["parameters"],
            parameters_sha256=body["parameters_sha256"],
            table_sha256={name: info.get("table_sha256") for name, info in body.get("reference_data", {}).items()},
            subject_key=body.get("subject_key"),
        )
        again = json.loads(canonical_json(again))  # the JSON form, as stored (dates as text, tuples as lists)
        differences = tuple(
            sorted(name for name in set(body) | set(again) if name not in _NOT_COMPARED and body.get(name) != again.get(name))
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
