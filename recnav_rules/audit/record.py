"""What one log record holds, built from a decision.

A record's body is everything an auditor needs to read and replay a decision, and nothing
personal: the policy (id, version, digest and the sha256 of its stored source text), its
parameter values (and the sha256 of their stored copy), the reference data (name, as-of date,
digest and the sha256 of the stored table), the engine and version, the as-of date, the checked
non-personal facts (``Decision.checked_facts``, never the raw facts), the outcome, completeness,
missing facts, notes, and the compact forms of the reasons (rule id and outcome), signposts
(service ids), next steps (action, dates, status) and trace (each criterion's and rule's
three-valued result). Texts and quotes belong to the policy, whose source is stored once; replay
renders them again.

``RecordMaker`` builds bodies and is small and picklable, so batch workers can build them in
parallel; only the chain header is added in the writing process.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recnav_rules.audit.chain import Index, canonical_json
from recnav_rules.audit.engine_adapter import checked_values, compact_trace, may_hold_floats
from recnav_rules.audit.subject import subject_key_of_facts
from recnav_rules.decision import Decision

__all__ = ["RECORD_FORMAT", "PreparedRecord", "RecordMaker", "decision_body", "index_of_body"]

RECORD_FORMAT = 1
@dataclass(frozen=True, slots=True)
class PreparedRecord:
    """A record ready to be chained: its id, canonical body, and the columns it is found by."""

    decision_id: str
    body_json: str
    policy_id: str
    outcome: str
    as_of: str
    subject_key: str | None


def _day(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def decision_body(
    decision: Decision,
    *,
    source_sha256: str,
    parameters: Mapping[str, Any],
    parameters_sha256: str,
    table_sha256: Mapping[str, str],
    subject_key: str | None,
) -> dict[str, Any]:
    """The body of a decision's record (see the module docstring): JSON-ready but for the checked
    facts' dates, which ``canonical_json`` writes as ISO text."""
    return {
        "format": RECORD_FORMAT,
        "policy": {
            "id": decision.policy_id,
            "version": decision.policy_version,
            "digest": decision.policy_digest,
            "source_sha256": source_sha256,
        },
        "parameters": dict(parameters),
        "parameters_sha256": parameters_sha256,
        "reference_data": {
            name: {"name": info.get("name"), "as_of": info.get("as_of"), "digest": info.get("digest"), "table_sha256": table_sha256.get(name)}
            for name, info in decision.reference_data.items()
        },
        "engine": {"name": decision.engine, "version": decision.engine_version},
        "as_of": decision.as_of.isoformat(),
        "checked_facts": checked_values(decision),
        "facts_digest": decision.facts_digest,
        "defaults_used": list(decision.defaults_used),
        "personal_facts_withheld": list(decision.personal_facts_withheld),
        "outcome": decision.outcome.value,
        "complete": decision.complete,
        "missing_facts": list(decision.missing_facts),
        "reasons": [{"rule_id": r.rule_id, "outcome": r.outcome.value} for r in decision.reasons],
        "signposts": [s.service_id for s in decision.signposts],
        "next_steps": [
            {"action": n.action, "due": _day(n.due), "window_start": _day(n.window_start), "actual": _day(n.actual), "status": n.status}
            for n in decision.next_steps
        ],
        "notes": list(decision.notes),
        "trace": compact_trace(decision),
        "subject_key": subject_key,
    }


def index_of_body(body: Mapping[str, Any]) -> Index:
    """A body's lookup fields, as its record's header repeats them."""
    return Index(body["as_of"], body["outcome"], body["policy"]["id"], body.get("subject_key"))


@dataclass(frozen=True, slots=True)
class RecordMaker:
    """Builds records for one policy. Picklable: batch workers get one."""

    source_sha256: str
    parameters: Mapping[str, Any]
    parameters_sha256: str
    table_sha256: Mapping[str, str]
    nhs_facts: tuple[str, ...]
    secret: bytes | None

    def prepare(self, decision: Decision, facts: Mapping[str, Any]) -> PreparedRecord:
        """A new record for ``decision``; ``facts`` (the raw facts) only give the subject key."""
        subject = subject_key_of_facts(facts, self.nhs_facts, self.secret)
        body = decision_body(
            decision,
            source_sha256=self.source_sha256,
            parameters=self.parameters,
            parameters_sha256=self.parameters_sha256,
            table_sha256=self.table_sha256,
            subject_key=subject,
        )
        return PreparedRecord(
            str(uuid.uuid4()), canonical_json(body, floats=may_hold_floats(decision, self.parameters)), decision.policy_id, decision.outcome.value, decision.as_of.isoformat(), subject
        )
