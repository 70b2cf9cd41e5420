"""Evaluate a policy inside Spark: one decision per row, computed where the data lives.

``evaluate_dataframe(df, policy_id, as_of=...)`` returns ``df`` with the decision's columns
added (``DECISION_COLUMNS``). Each referral's facts are a JSON string or a struct column.
Rows are evaluated with ``mapInArrow``: every Python worker process compiles the policy once
(``_PolicyShipment.load``, cached per process) and then decides whole Arrow batches. A row
whose facts are bad gets ``error`` and ``problems`` (the ``FactValidationError`` problems) and
null decision columns; it never fails the job.

Needs the ``spark`` extra (pyspark, pyarrow). See docs/spark.md.
"""

from __future__ import annotations

import datetime as dt
import json
import pickle
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

try:
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
except ModuleNotFoundError as missing:  # pragma: no cover - depends on the installation
    raise ImportError("recnav_rules.spark needs the 'spark' extra: pip install 'recnav-rules[spark]'") from missing

from recnav_rules.decision import Decision
from recnav_rules.engine.dates import read_date
from recnav_rules.errors import FactProblem, FactValidationError
from recnav_rules.policies.registry import load_policy
from recnav_rules.policy import Policy

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

__all__ = ["DECISION_COLUMNS", "decide_facts", "decision_columns", "evaluate_dataframe"]

_REASON = pa.struct(
    [
        ("rule_id", pa.string()),
        ("text", pa.string()),
        ("outcome", pa.string()),
        ("source", pa.string()),
        ("quote", pa.string()),
        ("assumption", pa.string()),
    ]
)
_SIGNPOST = pa.struct([("service_id", pa.string()), ("name", pa.string()), ("area", pa.string())])
_NEXT_STEP = pa.struct(
    [("action", pa.string()), ("due", pa.date32()), ("window_start", pa.date32()), ("status", pa.string())]
)
_PROBLEM = pa.struct([("field", pa.string()), ("message", pa.string()), ("suggestion", pa.string())])

_ARROW_FIELDS: tuple[pa.Field, ...] = (
    pa.field("outcome", pa.string()),
    pa.field("complete", pa.bool_()),
    pa.field("missing_facts", pa.list_(pa.string())),
    pa.field("reasons", pa.list_(_REASON)),
    pa.field("signposts", pa.list_(_SIGNPOST)),
    pa.field("next_steps", pa.list_(_NEXT_STEP)),
    pa.field("policy_id", pa.string()),
    pa.field("policy_version", pa.string()),
    pa.field("policy_digest", pa.string()),
    pa.field("facts_digest", pa.string()),
    pa.field("error", pa.string()),
    pa.field("problems", pa.list_(_PROBLEM)),
)

DECISION_COLUMNS: tuple[str, ...] = tuple(f.name for f in _ARROW_FIELDS)
"""The columns ``evaluate_dataframe`` adds, in order. ``error``/``problems`` are null on a decided row."""


# --- one row ---------------------------------------------------------------------------------------


def _decision_row(decision: Decision) -> dict[str, Any]:
    return {
        "outcome": decision.outcome.value,
        "complete": decision.complete,
        "missing_facts": list(decision.missing_facts),
        "reasons": [
            {
                "rule_id": r.rule_id,
                "text": r.text,
                "outcome": r.outcome.value,
                "source": r.source,
                "quote": r.quote,
                "assumption": r.assumption,
            }
            for r in decision.reasons
        ],
        "signposts": [{"service_id": s.service_id, "name": s.name, "area": s.area} for s in decision.signposts],
        "next_steps": [
            {"action": n.action, "due": n.due, "window_start": n.window_start, "status": n.status}
            for n in decision.next_steps
        ],
        "policy_id": decision.policy_id,
        "policy_version": decision.policy_version,
        "policy_digest": decision.policy_digest,
        "facts_digest": decision.facts_digest,
        "error": None,
        "problems": None,
    }


def _error_row(problems: Sequence[FactProblem]) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(DECISION_COLUMNS)
    row["error"] = str(FactValidationError(problems))
    row["problems"] = [{"field": p.field, "message": p.message, "suggestion": p.suggestion} for p in problems]
    return row


def _facts_of(value: object, facts_col: str) -> Mapping[str, Any] | FactProblem:
    """A row's facts (JSON text or a struct), or what is wrong with them."""
    if value is None:
        return FactProblem(facts_col, "no facts (null)")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:  # the message gives a position, never the text
            return FactProblem(facts_col, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    if not isinstance(value, Mapping):
        got = "a list" if isinstance(value, list) else type(value).__name__
        return FactProblem(facts_col, f"facts must be a JSON object (a mapping), got {got}")
    return value


def decide_facts(policy: Policy, value: object, *, as_of: dt.date, facts_col: str = "facts") -> dict[str, Any]:
    """The decision columns for one row's facts value (JSON text, a mapping, or None)."""
    facts = _facts_of(value, facts_col)
    if isinstance(facts, FactProblem):
        return _error_row([facts])
    try:
        decision = policy.evaluate(facts, as_of=as_of)
    except FactValidationError as exc:
        return _error_row(exc.problems)
    return _decision_row(decision)


# --- shipping the policy to the executors --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _PolicyShipment:
    """What executors need: the policy's intermediate form, pickled (``Policy.__reduce__`` sends
    only the compiled data), and its digest. Each executor process unpickles it once and builds
    its program; nothing re-reads a policy file, and a policy file that exists only on the driver
    works as well as a built-in one."""

    policy_id: str
    digest: str
    pickled: bytes

    def load(self) -> Policy:
        key = (self.policy_id, self.digest)
        with _cache_lock:
            policy = _process_policies.get(key)
            if policy is None:
                policy = pickle.loads(self.pickled)  # bytes this library made on the driver
                if policy.digest != self.digest:
                    raise RuntimeError(f"policy {self.policy_id!r} arrived with another digest: refusing it")
                _process_policies[key] = policy
            return policy


_cache_lock = threading.Lock()
_process_policies: dict[tuple[str, str], Policy] = {}


def _ship(policy_id: str, parameters: Mapping[str, Any] | None) -> tuple[Policy, _PolicyShipment]:
    """Load (and so check) the policy on the driver, and what executors need to use it too."""
    policy = load_policy(policy_id, parameters=dict(parameters) if parameters else None)
    return policy, _PolicyShipment(policy.id, policy.digest, pickle.dumps(policy))


# --- batches ---------------------------------------------------------------------------------------------


def _decide_batch(policy: Policy, batch: pa.RecordBatch, *, as_of: dt.date, facts_col: str) -> pa.RecordBatch:
    rows = [decide_facts(policy, value, as_of=as_of, facts_col=facts_col) for value in batch.column(facts_col).to_pylist()]
    added = [pa.array([row[f.name] for row in rows], type=f.type) for f in _ARROW_FIELDS]
    schema = pa.schema([*batch.schema, *_ARROW_FIELDS])
    return pa.RecordBatch.from_arrays([*batch.columns, *added], schema=schema)


def _batch_decider(
    shipment: _PolicyShipment, as_of: dt.date, facts_col: str
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def decide(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        policy = shipment.load()
        for batch in batches:
            yield _decide_batch(policy, batch, as_of=as_of, facts_col=facts_col)

    return decide


def decision_columns() -> StructType:
    """The Spark types of ``DECISION_COLUMNS`` (as a struct type whose fields are the columns)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    converted: StructType = from_arrow_schema(pa.schema(list(_ARROW_FIELDS)))
    return converted


def _as_of(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    day = read_date(value)
    if day is None:
        raise FactValidationError([FactProblem("as_of", "expected a date (YYYY-MM-DD)", None, "bad-date")])
    return day


def evaluate_dataframe(
    df: DataFrame,
    policy_id: str,
    *,
    as_of: dt.date | str,
    facts_col: str = "facts",
    parameters: Mapping[str, Any] | None = None,
) -> DataFrame:
    """``df`` with the decision's columns (``DECISION_COLUMNS``) added, one decision per row.

    ``policy_id`` is a built-in or plug-in id, or a policy file path (``file.yaml#id``); the
    policy is loaded here first, so a bad one raises ``PolicyError`` before any job runs.
    ``df[facts_col]`` holds each referral's facts as a JSON string or a struct. ``parameters``
    sets the policy's parameters, as ``load_policy(..., parameters=...)`` does (to test a
    changed threshold against every referral, say); the executors load it with the same ones.
    Raises ``ValueError`` when ``facts_col`` is missing or not a string/struct column, or when
    ``df`` already has a column named like a decision column.
    """
    from pyspark.sql.types import StringType, StructField, StructType

    day = _as_of(as_of)
    if facts_col not in df.columns:
        raise ValueError(f"no column {facts_col!r} in the DataFrame (columns: {', '.join(df.columns)})")
    facts_type = df.schema[facts_col].dataType
    if not isinstance(facts_type, StringType | StructType):
        raise ValueError(f"column {facts_col!r} must hold JSON strings or structs, not {facts_type.simpleString()}")
    clashes = sorted(set(df.columns) & set(DECISION_COLUMNS))
    if clashes:
        raise ValueError(f"the DataFrame already has decision column(s) {', '.join(clashes)}: rename them first")
    _policy, shipment = _ship(policy_id, parameters)
    schema = StructType([*df.schema.fields, *(StructField(f.name, f.dataType, True) for f in decision_columns().fields)])
    return df.mapInArrow(_batch_decider(shipment, day, facts_col), schema)
