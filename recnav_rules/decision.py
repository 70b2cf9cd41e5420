"""The decision a policy returns, and its JSON form.

A ``Decision`` says what should happen (``outcome``), whether the facts given settle it
(``complete``, ``missing_facts``), why (``reasons``, each with its source quote or stated
assumption), where else to go (``signposts``), what happens next and by when
(``next_steps``), and a ``trace`` of every criterion and rule evaluated with the fact values
it read. It records the policy's id, version and digest, the engine, the as-of date and a
digest of the (non-personal) facts, so that an auditor can reproduce it.

Personal facts never reach a decision: it records only their names, in
``personal_facts_withheld``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import orjson

from recnav_rules.canonical import canonical_json, digest_of
from recnav_rules.engine.model import Citation, Outcome
from recnav_rules.errors import FactProblem, FactValidationError

__all__ = [
    "ConditionResult",
    "Decision",
    "FactReading",
    "NextStep",
    "Reason",
    "Signpost",
    "TraceStep",
    "canonical_json",
    "decision_json_schema",
    "facts_digest",
]

TruthText = Literal["true", "false", "unknown"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def facts_digest(values: Mapping[str, Any], *, floats: bool | None = None) -> str:
    """sha256 of the RFC 8785 canonical JSON of the checked, non-personal facts as given (their
    date-times came through ``read_datetime``)."""
    return digest_of(values, floats=floats, checked_times=True)


@dataclass(frozen=True, slots=True)
class Reason:
    """Why: a rule that held (or the policy's fallback), with what it rests on."""

    rule_id: str
    text: str
    outcome: Outcome
    citation: Citation

    @property
    def source(self) -> str | None:
        """The source document's file name, or None for an assumption."""
        return self.citation.source

    @property
    def quote(self) -> str | None:
        return self.citation.quote

    @property
    def assumption(self) -> str | None:
        return self.citation.assumption

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "text": self.text,
            "outcome": self.outcome.value,
            **self.citation.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Signpost:
    """A service from the signposting directory."""

    service_id: str
    name: str
    area: str = ""
    offers: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"service_id": self.service_id, "name": self.name, "area": self.area, "offers": self.offers}


@dataclass(frozen=True, slots=True)
class NextStep:
    """Something that must happen after the decision, and by when.

    ``status`` is ``met`` or ``missed`` when the step's actual date was given (on or before
    ``due`` is met), ``pending`` when it was not, and None when the step has no actual-date fact.
    """

    action: str
    description: str
    due: dt.date | None
    citation: Citation
    window_start: dt.date | None = None
    actual: dt.date | None = None
    status: Literal["met", "missed", "pending"] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "description": self.description,
            "due": _jsonable(self.due),
            "window_start": _jsonable(self.window_start),
            "actual": _jsonable(self.actual),
            "status": self.status,
            **self.citation.to_dict(),
        }


class FactReading(NamedTuple):
    """A value a trace step read: ``how`` is given, default, derived or missing."""

    name: str
    value: Any
    how: Literal["given", "default", "derived", "missing"]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": _jsonable(self.value), "how": self.how}


class ConditionResult(NamedTuple):
    """One leaf condition of a criterion or rule, as evaluated: what it tests and its value."""

    text: str
    value: TruthText
    line: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"condition": self.text, "value": self.value, "line": self.line}


class TraceStep(NamedTuple):
    """One criterion or rule as evaluated: its three-valued result and what it read.

    (A named tuple: a decision's trace has one per rule and criterion, so it is cheap to build.)
    """

    kind: Literal["criterion", "rule"]
    id: str
    value: TruthText
    text: str
    facts: tuple[FactReading, ...]
    citation: Citation | None
    outcome: Outcome | None = None
    conditions: tuple[ConditionResult, ...] = ()
    """Each leaf condition's value: the record the step's value was worked out from."""
    line: int | None = None
    """Where the criterion or rule stands in the policy file."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "value": self.value,
            "text": self.text,
            "outcome": self.outcome.value if self.outcome is not None else None,
            "facts": [f.to_dict() for f in self.facts],
            "citation": self.citation.to_dict() if self.citation is not None else None,
            "conditions": [c.to_dict() for c in self.conditions],
            "line": self.line,
        }


_FIELDS = (
    "outcome",
    "complete",
    "missing_facts",
    "reasons",
    "signposts",
    "next_steps",
    "policy_id",
    "policy_version",
    "policy_title",
    "policy_digest",
    "engine",
    "engine_version",
    "as_of",
    "defaults_used",
    "personal_facts_withheld",
    "reference_data",
    "notes",
    "missing_fact_groups",
    "could_change",
    "assumed_facts",
    "decision_id",
    "parameters",
)


_EMPTY_TRACE = b'"trace":[]}'
_FRAGMENTS: dict[int, tuple[Any, orjson.Fragment]] = {}
"""JSON of reasons, signposts and next steps already written, by the object (kept alive by its
entry, so an id is never reused while it is here; bounded)."""


def _fragment(item: Reason | Signpost | NextStep) -> orjson.Fragment:
    """An immutable part of a decision (a frozen dataclass of immutable fields) as JSON, written
    once per object."""
    found = _FRAGMENTS.get(id(item))
    if found is not None and found[0] is item:
        return found[1]
    made = orjson.Fragment(orjson.dumps(item.to_dict(), default=_jsonable))
    if len(_FRAGMENTS) >= 4096:
        _FRAGMENTS.clear()
    _FRAGMENTS[id(item)] = (item, made)
    return made


def _no_constant(value: object) -> None:
    return None


def _frozen_reference(data: Mapping[str, Mapping[str, str]]) -> Mapping[str, Mapping[str, str]]:
    if isinstance(data, MappingProxyType):
        return data
    return MappingProxyType({k: MappingProxyType(dict(v)) for k, v in data.items()})


class Decision:
    """An explainable eligibility decision: an immutable value. Build one with ``Policy.evaluate``.

    Attributes cannot be set; the lists it holds are its own (no two decisions share one), and
    ``reference_data`` is read-only.
    """

    __slots__ = ("_c", "_d")

    if TYPE_CHECKING:
        outcome: Outcome
        complete: bool
        missing_facts: list[str]
        """Every fact whose absence leaves the outcome open (flat; see ``missing_fact_groups``)."""
        reasons: list[Reason]
        signposts: list[Signpost]
        next_steps: list[NextStep]
        policy_id: str
        policy_version: str
        policy_title: str
        policy_digest: str
        engine: str
        engine_version: str
        as_of: dt.date
        defaults_used: list[str]
        personal_facts_withheld: list[str]
        reference_data: Mapping[str, Mapping[str, str]]
        notes: list[str]
        missing_fact_groups: list[list[str]]
        """``missing_facts`` as groups: any one fact of a group settles that group, e.g.
        ``[["date_of_birth", "age"], ["in_custody"]]``."""
        could_change: list[str]
        """Facts not given whose absence leaves the reasons or signposts open even where the outcome
        is settled (an age that would add the under-18 service, say)."""
        assumed_facts: list[str]
        """Defaults the policy declares that the outcome rests on (not given, filled in)."""
        decision_id: str | None
        """Set when the decision was recorded in a ``DecisionLog`` (a UUID), else None."""
        parameters: Mapping[str, Any]
        """The policy parameters the decision was made with (read-only)."""
        _values: Mapping[str, Any] | None
        _trace_builder: Callable[[], list[TraceStep]] | None
        _record: Any
        _floats: bool | None

    _d: tuple[Any, ...]
    _c: list[Any]
    """Worked out on first use: [the rendered trace, the facts digest, the checked facts]."""

    def __init__(
        self,
        *,
        outcome: Outcome,
        complete: bool,
        missing_facts: list[str],
        reasons: list[Reason],
        signposts: list[Signpost],
        next_steps: list[NextStep],
        policy_id: str,
        policy_version: str,
        policy_title: str,
        policy_digest: str,
        engine: str,
        engine_version: str,
        as_of: dt.date,
        defaults_used: list[str],
        personal_facts_withheld: list[str],
        reference_data: Mapping[str, Mapping[str, str]],
        notes: list[str],
        values: Mapping[str, Any] | None = None,
        trace: list[TraceStep] | None = None,
        trace_builder: Callable[[], list[TraceStep]] | None = None,
        facts_digest_value: str | None = None,
        decision_id: str | None = None,
        missing_fact_groups: list[list[str]] | None = None,
        could_change: list[str] | None = None,
        assumed_facts: list[str] | None = None,
        floats: bool | None = None,
        record: Any = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        object.__setattr__(
            self,
            "_d",
            (
                outcome,
                complete,
                missing_facts,
                reasons,
                signposts,
                next_steps,
                policy_id,
                policy_version,
                policy_title,
                policy_digest,
                engine,
                engine_version,
                as_of,
                defaults_used,
                personal_facts_withheld,
                _frozen_reference(reference_data),
                notes,
                missing_fact_groups if missing_fact_groups is not None else [[n] for n in missing_facts],
                could_change if could_change is not None else [],
                assumed_facts if assumed_facts is not None else [],
                decision_id,
                parameters if isinstance(parameters, MappingProxyType) else MappingProxyType(dict(parameters or {})),
                values,
                trace_builder,
                record,
                floats,
            ),
        )
        object.__setattr__(self, "_c", [trace, facts_digest_value, None])

    @classmethod
    def _from_fields(cls, fields: tuple[Any, ...]) -> Decision:
        """A decision from its fields in ``_FIELDS`` + ``_PRIVATE`` order, already checked (the
        engine's fast path: one tuple, no keyword matching)."""
        made = _new(cls)
        _set_fields(made, fields)
        _set_cache(made, [None, None, None])
        return made

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a Decision is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a Decision is immutable: cannot delete {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Decision.from_dict, (self.to_dict(),))

    @property
    def trace(self) -> list[TraceStep]:
        """Every criterion and rule evaluated, in order, with the values each one read and the
        value of each of its conditions. Rendered from the decision's record on first use."""
        made = self._c[0]
        if made is None:
            if self._record is not None:
                made = self._record.steps()
            else:
                made = self._trace_builder() if self._trace_builder is not None else []
            self._c[0] = made
        return list(made)

    def truths(self) -> dict[str, Any]:
        """The compact record of the evaluation: each criterion's and rule's value by id, and
        every leaf condition's value in the trace's order (``true``/``false``/``unknown``)."""
        if self._c[0] is None and self._record is not None:
            found: dict[str, Any] = self._record.truths()
            return found
        steps = self.trace
        return {
            "criteria": {s.id: s.value for s in steps if s.kind == "criterion"},
            "rules": {s.id: s.value for s in steps if s.kind == "rule"},
            "conditions": [c.value for s in steps for c in s.conditions],
        }

    def with_decision_id(self, decision_id: str) -> Decision:
        """A copy of this decision carrying the id a decision log gave it."""
        fields = list(self._d)
        fields[_DECISION_ID] = decision_id
        made = Decision._from_fields(tuple(fields))
        made._c[:] = self._c
        return made

    @property
    def checked_facts(self) -> dict[str, Any]:
        """The non-personal facts as given and checked (JSON-ready; defaults and personal facts left out)."""
        return {name: _jsonable(value) for name, value in (self._values or {}).items()}

    @property
    def facts_digest(self) -> str:
        """sha256 of the RFC 8785 canonical JSON of the non-personal facts given (defaults excluded)."""
        found: str | None = self._c[1]
        if found is None:
            found = facts_digest(self._values or {}, floats=self._floats)
            self._c[1] = found
        return found

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPT

    def explain(self) -> str:
        """The decision in plain English, rendered from its record."""
        from recnav_rules.engine.explain import explain

        return explain(self)

    def to_dict(self, *, trace: bool = True) -> dict[str, Any]:
        """A JSON-ready dict; ``schemas/decision.schema.json`` describes it. ``trace=False``
        leaves the trace out (an empty list)."""
        return {
            "decision_id": self.decision_id,
            "outcome": self.outcome.value,
            "complete": self.complete,
            "missing_facts": list(self.missing_facts),
            "missing_fact_groups": [list(g) for g in self.missing_fact_groups],
            "could_change": list(self.could_change),
            "assumed_facts": list(self.assumed_facts),
            "reasons": [r.to_dict() for r in self.reasons],
            "signposts": [s.to_dict() for s in self.signposts],
            "next_steps": [n.to_dict() for n in self.next_steps],
            "policy": {
                "id": self.policy_id,
                "version": self.policy_version,
                "title": self.policy_title,
                "digest": self.policy_digest,
            },
            "engine": {"name": self.engine, "version": self.engine_version},
            "parameters": _jsonable(dict(self.parameters)),
            "as_of": self.as_of.isoformat(),
            "facts_digest": self.facts_digest,
            "defaults_used": list(self.defaults_used),
            "personal_facts_withheld": list(self.personal_facts_withheld),
            "reference_data": {k: dict(v) for k, v in self.reference_data.items()},
            "notes": list(self.notes),
            "trace": self._trace_dicts() if trace else [],
        }

    def _trace_dicts(self) -> list[dict[str, Any]]:
        if self._c[0] is None and self._record is not None:
            data: list[dict[str, Any]] = self._record.data()
            return data
        return [step.to_dict() for step in self.trace]

    def to_json_bytes(self, *, trace: bool = True) -> bytes:
        """The decision as compact UTF-8 JSON (``to_dict()``), the fastest form: for logs,
        batch output and HTTP responses. The same bytes as ``orjson.dumps(to_dict())``: the
        parts that never change (each reason, signpost and next step, the policy's parameters
        and reference data) are written once and reused."""
        d = self._d
        record = self._record
        constant = record.evaluator.constant_json if record is not None else _no_constant
        parameters = constant(d[21])
        reference = constant(d[15])
        pieces: list[bytes] | None = None
        steps: Any = []
        if trace:
            if self._c[0] is None and record is not None:
                pieces = record.json_parts()  # joined once below, with the rest
            else:
                steps = self._trace_dicts()
        # the keys and values of to_dict(), in its order (a test holds the two equal)
        written = orjson.dumps(
            {
                "decision_id": d[20],
                "outcome": d[0].value,
                "complete": d[1],
                "missing_facts": d[2],
                "missing_fact_groups": d[17],
                "could_change": d[18],
                "assumed_facts": d[19],
                "reasons": [_fragment(r) for r in d[3]],
                "signposts": [_fragment(s) for s in d[4]],
                "next_steps": [_fragment(n) for n in d[5]],
                "policy": {"id": d[6], "version": d[7], "title": d[8], "digest": d[9]},
                "engine": {"name": d[10], "version": d[11]},
                "parameters": parameters if parameters is not None else _jsonable(dict(d[21])),
                "as_of": d[12].isoformat(),
                "facts_digest": self.facts_digest,
                "defaults_used": d[13],
                "personal_facts_withheld": d[14],
                "reference_data": reference if reference is not None else {k: dict(v) for k, v in d[15].items()},
                "notes": d[16],
                "trace": steps,
            },
            default=_jsonable,
        )
        if pieces is None:
            return written
        # "trace" is the last key: its pieces go in place of the empty list
        return b"".join([written[: -len(_EMPTY_TRACE)], b'"trace":', *pieces, b"}"])

    def to_json(self, *, indent: int | None = None, trace: bool = True) -> str:
        """The decision as JSON text (``to_dict()``); compact unless ``indent`` is given."""
        if indent is None:
            return self.to_json_bytes(trace=trace).decode("utf-8")
        return json.dumps(self.to_dict(trace=trace), indent=indent, ensure_ascii=False, default=_jsonable)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        """Rebuild a decision from ``to_dict()`` output (e.g. parsed JSON). Bad input raises
        ``FactValidationError`` naming each bad field."""
        from recnav_rules.decision_model import decision_from_dict

        return decision_from_dict(data)

    @classmethod
    def from_json(cls, text: str) -> Decision:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FactValidationError([FactProblem("<json>", f"not JSON: {exc.msg} at line {exc.lineno}")]) from None
        if not isinstance(data, Mapping):
            raise FactValidationError([FactProblem("<json>", "a decision is a JSON object")])
        return cls.from_dict(data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # compared by value, and holds lists: not hashable

    def __repr__(self) -> str:
        return (
            f"Decision(outcome={self.outcome.value!r}, complete={self.complete}, "
            f"policy={self.policy_id!r}@{self.policy_version}, "
            f"reasons={[r.rule_id for r in self.reasons]!r})"
        )


_new = object.__new__
_set_fields = Decision.__dict__["_d"].__set__  # the slots' own setters: Decision.__setattr__ refuses
_set_cache = Decision.__dict__["_c"].__set__

_PRIVATE = ("_values", "_trace_builder", "_record", "_floats")
def _field(index: int, name: str) -> property:
    if name in _LISTS:  # held as given (a tuple from the engine); each read is a list of the caller's own

        def read(self: Decision) -> Any:
            return list(self._d[index])

    elif name == "missing_fact_groups":

        def read(self: Decision) -> Any:
            return [list(group) for group in self._d[index]]

    else:

        def read(self: Decision) -> Any:
            return self._d[index]

    read.__name__ = name
    return property(read, doc=f"The decision's {name.strip('_').replace('_', ' ')} (read-only).")


_DECISION_ID = _FIELDS.index("decision_id")

_LISTS = frozenset({"missing_facts", "reasons", "signposts", "next_steps", "could_change", "assumed_facts"})


for _index, _name in enumerate(_FIELDS + _PRIVATE):
    setattr(Decision, _name, _field(_index, _name))
del _index, _name


_VALUES, _RECORD = (_FIELDS + _PRIVATE).index("_values"), (_FIELDS + _PRIVATE).index("_record")


def _checked_values(self: Decision) -> Mapping[str, Any] | None:
    """The checked, non-personal facts given: held by the decision, or read from the engine's
    record on first use (the generated program does not build them apart)."""
    found: Mapping[str, Any] | None = self._d[_VALUES]
    if found is None and self._d[_RECORD] is not None:
        found = self._c[2]
        if found is None:
            found = self._d[_RECORD].given()
            self._c[2] = found
    return found


Decision._values = property(_checked_values, doc="The checked, non-personal facts given (read-only).")  # type: ignore[assignment]


def decision_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``Decision.to_dict()``, generated from the pydantic boundary model.

    ``schemas/decision.schema.json`` is this, committed; a test keeps the two equal.
    """
    from recnav_rules.decision_model import decision_json_schema as generated

    return generated()
