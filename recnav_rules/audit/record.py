"""What one log record holds, built from a decision.

A record's body (format 2) is everything an auditor needs to read and replay a decision, and
nothing personal. What varies per decision is written in the record: the policy (id, version,
digest), the engine and version, the as-of date, the checked non-personal facts
(``Decision.checked_facts``, never the raw facts) and their digest, the outcome, completeness,
missing facts, notes, and the compact forms of the reasons (rule id and outcome), signposts
(service ids), next steps (action, dates, status) and trace (each criterion's and rule's
three-valued result as one letter, ``t``/``f``/``u``, in the policy's order).

What is the same for every decision of one loaded policy is its **context**, stored once in the
log's ``blobs`` under the sha256 of its canonical JSON, which the record names (its top-level
``context``, beside the body: ``chain.py``) and so covers by its hash: the policy's id, version,
digest and the sha256 of its stored source text, its parameter values (and the sha256 of their
stored copy), the reference data (name, as-of date, digest and the sha256 of the stored table) and
the order of the criteria and rules that the trace letters follow. ``expand_body`` puts the two together again (what ``LogEntry.body`` and
``log show`` give). Texts and quotes belong to the policy, whose source is stored once; replay
renders them again.

``RecordMaker`` builds bodies and is small and picklable, so batch workers can build them in
parallel; only the chain header is added in the writing process.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from recnav_rules.audit.chain import Index, canonical_json
from recnav_rules.audit.engine_adapter import (
    checked_facts_json,
    checked_values,
    may_hold_floats,
    nhs_fact_names,
    reference_info,
    trace_layout,
    trace_letters,
)
from recnav_rules.audit.subject import subject_key_of_facts
from recnav_rules.canonical import canonical_bytes
from recnav_rules.decision import _FIELDS as _DECISION_FIELDS
from recnav_rules.decision import Decision
from recnav_rules.engine.model import Outcome
from recnav_rules.policy import Policy

__all__ = [
    "CONTEXT_KIND",
    "RECORD_FORMAT",
    "PreparedRecord",
    "RecordMaker",
    "context_of",
    "decision_body",
    "expand_body",
    "index_of_body",
    "maker_for",
    "new_decision_id",
]

RECORD_FORMAT = 2
CONTEXT_KIND = "context"
"""The ``blobs.kind`` of a record context."""
_LETTER_VALUE = {"t": "true", "f": "false", "u": "unknown"}
_VALUE: dict[Outcome, str] = {o: o.value for o in Outcome}


class PreparedRecord(NamedTuple):
    """A record ready to be chained: its id, its context's sha256, its canonical body, and the
    columns it is found by. A tuple, so that sending one from a batch worker to the writing process
    pickles little."""

    decision_id: str
    context: str
    """The sha256 of the record's context (stored once in the log)."""
    body_json: str
    policy_id: str
    outcome: str
    as_of: str
    subject_key: str | None


def new_decision_id() -> str:
    """A random UUID whose first 48 bits are the Unix time in milliseconds (RFC 9562 version 7).

    74 random bits make it as unguessable as needed; the time prefix makes ids recorded one after
    another sort together, so the database's index of decision ids grows at its end instead of
    at a random page for each record (the standard library has ``uuid7`` only from Python 3.14).
    """
    value = int.from_bytes(os.urandom(10), "big")
    value = (time.time_ns() // 1_000_000) << 80 | 0x7 << 76 | (value >> 64 & 0xFFF) << 64 | 0b10 << 62 | value & (1 << 62) - 1
    h = f"{value:032x}"  # as str(uuid.UUID(int=value)), without building the object
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _day(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def context_of(
    policy: Policy,
    *,
    source_sha256: str,
    parameters: Mapping[str, Any],
    parameters_sha256: str,
    table_sha256: Mapping[str, str | None],
) -> dict[str, Any]:
    """What every record of one loaded policy shares (see the module docstring), JSON-ready."""
    criteria, rules = trace_layout(policy)
    return {
        "format": RECORD_FORMAT,
        "policy": {"id": policy.id, "version": policy.version, "digest": policy.digest, "source_sha256": source_sha256},
        "parameters": dict(parameters),
        "parameters_sha256": parameters_sha256,
        "reference_data": {
            name: {"name": info.get("name"), "as_of": info.get("as_of"), "digest": info.get("digest"), "table_sha256": table_sha256.get(name)}
            for name, info in reference_info(policy).items()
        },
        "trace_order": {"criteria": list(criteria), "rules": list(rules)},
    }


def decision_body(
    decision: Decision,
    *,
    layout: tuple[Sequence[str], Sequence[str]],
    subject_key: str | None,
    checked: tuple[Any, str] | None = None,
) -> dict[str, Any]:
    """The stored body of a decision's record (see the module docstring): JSON-ready but for the
    checked facts' dates, which the canonical encoder writes as ISO text, and its lists, which may
    be tuples. ``checked``: the checked facts and their digest when already written
    (``engine_adapter.checked_facts_json``)."""
    criteria, rules = trace_letters(decision, layout)
    facts, digest = checked if checked is not None else (checked_values(decision), decision.facts_digest)
    # the decision's fields, read from its tuple once (each property read is a call, and its
    # lists are copies); the encoder writes tuples as arrays
    (outcome, complete, missing, reasons, signposts, steps, policy_id, version, _title, policy_digest,
     engine, engine_version, as_of, defaults_used, personal, _reference, notes) = decision._d[:17]  # fmt: skip
    return {
        "format": RECORD_FORMAT,
        "policy": {"id": policy_id, "version": version, "digest": policy_digest},
        "engine": {"name": engine, "version": engine_version},
        "as_of": as_of.isoformat(),
        "checked_facts": facts,
        "facts_digest": digest,
        "defaults_used": defaults_used,
        "personal_facts_withheld": personal,
        "outcome": _VALUE[outcome],
        "complete": complete,
        "missing_facts": missing,
        "reasons": [{"rule_id": r.rule_id, "outcome": _VALUE[r.outcome]} for r in reasons],
        "signposts": [s.service_id for s in signposts],
        "next_steps": [
            {"action": n.action, "due": _day(n.due), "window_start": _day(n.window_start), "actual": _day(n.actual), "status": n.status}
            for n in steps
        ],
        "notes": notes,
        "trace": {"criteria": criteria, "rules": rules},
        "subject_key": subject_key,
    }


assert _DECISION_FIELDS[:17] == (
    "outcome", "complete", "missing_facts", "reasons", "signposts", "next_steps", "policy_id", "policy_version", "policy_title",
    "policy_digest", "engine", "engine_version", "as_of", "defaults_used", "personal_facts_withheld", "reference_data", "notes",
)  # fmt: skip


def _trace_values(letters: object, ids: object) -> dict[str, str]:
    if not isinstance(letters, str) or not isinstance(ids, list) or len(letters) != len(ids):
        raise ValueError("the record's trace does not fit its context's criteria and rules")
    return {str(name): _LETTER_VALUE[letter] for name, letter in zip(ids, letters, strict=True)}


def expand_body(body: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """A stored body with its context put back: the policy's ``source_sha256``, the parameters,
    the reference data, and the trace as each criterion's and rule's value by id
    (``true``/``false``/``unknown``). Raises ``ValueError`` when they do not fit together."""
    order = context.get("trace_order") or {}
    trace = body.get("trace") or {}
    try:
        values = {part: _trace_values(trace.get(part), order.get(part)) for part in ("criteria", "rules")}
    except KeyError:
        raise ValueError("the record's trace holds a letter other than t, f and u") from None
    policy = dict(body.get("policy") or {})
    policy["source_sha256"] = (context.get("policy") or {}).get("source_sha256")
    return {
        **body,
        "policy": policy,
        "parameters": context.get("parameters"),
        "parameters_sha256": context.get("parameters_sha256"),
        "reference_data": context.get("reference_data"),
        "trace": values,
    }


def index_of_body(body: Mapping[str, Any]) -> Index:
    """A body's lookup fields, as its record's header repeats them."""
    return Index(body["as_of"], body["outcome"], body["policy"]["id"], body.get("subject_key"))


@dataclass(frozen=True, slots=True)
class RecordMaker:
    """Builds records for one policy. Picklable: batch workers get one."""

    context_sha256: str
    layout: tuple[tuple[str, ...], tuple[str, ...]]
    nhs_facts: tuple[str, ...]
    secret: bytes | None

    def prepare(self, decision: Decision, facts: Mapping[str, Any]) -> PreparedRecord:
        """A new record for ``decision``; ``facts`` (the raw facts) only give the subject key."""
        subject = subject_key_of_facts(facts, self.nhs_facts, self.secret) if self.secret is not None else None
        written = checked_facts_json(decision)
        checked = (orjson.Fragment(written[0]), written[1]) if written is not None else None
        body = decision_body(decision, layout=self.layout, subject_key=subject, checked=checked)
        try:
            if written is not None:  # no float in the body (parameters are the context's): orjson's bytes are RFC 8785's
                text = canonical_bytes(body, floats=False, checked_times=True).decode("utf-8")
            else:
                text = canonical_bytes(body, floats=may_hold_floats(decision)).decode("utf-8")
        except (TypeError, ValueError) as exc:  # orjson's JSONEncodeError is a TypeError
            raise ValueError(f"not canonical JSON: {exc}") from None
        return PreparedRecord(new_decision_id(), self.context_sha256, text, decision.policy_id, body["outcome"], body["as_of"], subject)


def maker_for(
    policy: Policy,
    *,
    source_sha256: str,
    parameters: Mapping[str, Any],
    parameters_sha256: str,
    table_sha256: Mapping[str, str | None],
    secret: bytes | None,
) -> tuple[RecordMaker, str]:
    """A ``RecordMaker`` for ``policy`` and the canonical JSON of its context (to store under its sha256)."""
    context = context_of(
        policy, source_sha256=source_sha256, parameters=parameters, parameters_sha256=parameters_sha256, table_sha256=table_sha256,
    )
    text = canonical_json(context)
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return RecordMaker(sha, trace_layout(policy), nhs_fact_names(policy), secret), text
