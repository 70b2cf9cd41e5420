"""Exact static analysis of a policy with an SMT solver (z3).

Every fact or derived value a condition reads becomes a pair: *known* (a boolean: "unknown" is
the third state) and its *value* — a boolean, an integer or real within the fact's bounds, an
enum or text as an index into its values (text: the literals the policy compares it with, and
"something else"), a date as a day number. Derived values: an age is known when the date of
birth and the date it is taken on are known, or its alternative is; a count of events is known
when the list and its end date are, or its alternative is (counts over nested windows of the
same list are ordered); a register look-up takes the values the register actually holds, one
class of practices per combination. Conditions are three-valued (Kleene), exactly as the engine
evaluates them; the decision is the engine's priority rule.

``analyse`` proves or refutes, for each policy: every rule can decide a referral; which rules
with different outcomes can hold together (the priority order then decides: listed for review);
that ``otherwise`` and ``incomplete`` can be reached. Each claim that something can happen
comes with a counterexample referral, written as a facts file and re-run through the engine.
``equivalent`` proves two versions of a policy decide every referral alike (mutation testing
uses it to set aside mutants no case could kill).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import z3  # type: ignore[import-untyped]  # z3-solver ships no type information

from recnav_rules.assurance._engine import (
    CompiledPolicy,
    Leaf,
    Node,
    Ref,
    months_before,
    practices_of,
)
from recnav_rules.errors import FactValidationError
from recnav_rules.policy import Policy

__all__ = ["Analysis", "Finding", "Model", "analyse_policy", "equivalent", "telling_apart"]

_OUTCOME_CODE = {"accept": 0, "reject": 1, "signpost": 2}
_EPOCH = dt.date(1900, 1, 1).toordinal()
_OTHER_TEXT = ("ZZZ", "ZZZZZ", "Z99", "X0", "other", "00000", "999")
_CHECK_TIMEOUT_MS = 20_000


@dataclass(frozen=True, slots=True)
class _Value:
    known: z3.BoolRef
    value: Any
    """A z3 expression: Bool, Int or Real; None for a list."""
    kind: str
    """bool, int, real, date, index, list."""


class Model:
    """The solver's variables for one set of facts; shared by every policy encoded over them.

    Built from one compiled policy (the facts and derived values it declares); a mutant of the
    same policy reads the same facts, so both can be encoded over one ``Model``.
    """

    def __init__(self, policy: CompiledPolicy, as_of: dt.date, extra: Sequence[CompiledPolicy] = ()) -> None:
        self.policy = policy
        self.as_of = as_of
        self.constraints: list[z3.BoolRef] = []
        self.realistic: list[z3.BoolRef] = []
        """Preferences for counterexamples (referral on the as-of date, plausible ages), never required."""
        self.vocab: dict[str, list[Any]] = {}
        self.values: dict[str, _Value] = {}
        self.classes: dict[str, tuple[z3.ArithRef, list[tuple[str, dict[str, Any]]]]] = {}
        self.via_inputs: dict[str, z3.BoolRef] = {}
        for source in (policy, *extra):
            for leaf in _all_leaves(source):
                if leaf.op in ("in", "not_in"):
                    for item in sorted(leaf.value, key=str):
                        self._word(leaf.ref, item)
                elif leaf.op in ("eq", "ne") and isinstance(leaf.value, str):
                    self._word(leaf.ref, leaf.value)
        for derived in policy.derived:
            if derived.alternative is not None:
                for word in self.vocab.get(derived.name, []):
                    self._word(derived.alternative, word)
                for word in self.vocab.get(derived.alternative, []):
                    self._word(derived.name, word)
        self._build()

    def _word(self, name: str, word: Any) -> None:
        words = self.vocab.setdefault(name, [])
        if word not in words:
            words.append(word)

    # -- variables ----------------------------------------------------------------------------
    def _fact(self, name: str) -> _Value:
        spec = self.policy.facts[name]
        known = z3.Bool(f"known:{name}")
        kind = spec.spec.type
        if spec.has_default or spec.default_as_of:
            self.constraints.append(known)
        if kind == "bool":
            return _Value(known, z3.Bool(f"value:{name}"), "bool")
        if kind == "integer":
            value = z3.Int(f"value:{name}")
            self._bounds(value, spec.spec.minimum, spec.spec.maximum)
            return _Value(known, value, "int")
        if kind == "number":
            real = z3.Real(f"value:{name}")
            self._bounds(real, spec.spec.minimum, spec.spec.maximum)
            return _Value(known, real, "real")
        if kind in ("date", "datetime"):
            day = z3.Int(f"value:{name}")
            self.constraints.append(day >= 1)
            self.constraints.append(day <= (self.as_of.toordinal() if spec.default_as_of else dt.date.max.toordinal()))
            self.realistic.append(day == self.as_of.toordinal() if spec.default_as_of else day >= _EPOCH)
            return _Value(known, day, "date")
        if kind == "list":
            return _Value(known, None, "list")
        index = z3.Int(f"value:{name}")
        size = len(spec.spec.values) if kind == "enum" else len(self.vocab.get(name, []))
        self.constraints.append(z3.And(index >= (0 if kind == "enum" else -1), index < size))
        return _Value(known, index, "index")

    def _bounds(self, value: z3.ArithRef, low: float | None, high: float | None) -> None:
        if low is not None:
            self.constraints.append(value >= low)
        if high is not None:
            self.constraints.append(value <= high)

    def _build(self) -> None:
        policy = self.policy
        for name in policy.facts:
            self.values[name] = self._fact(name)
        counts: list[tuple[str, tuple[Any, ...], int]] = []
        for derived in policy.derived:
            alt = self.values.get(derived.alternative) if derived.alternative else None
            inputs = z3.And(*[self.values[n].known for n in derived.inputs]) if derived.inputs else z3.BoolVal(True)
            if derived.kind == "lookup":
                value, inputs = self._lookup(derived.name, derived.params, inputs)
                kind = "index"
            else:
                value = z3.Int(f"value:{derived.name}")
                kind = "int"
                self.constraints.append(value >= 0)
                if derived.kind == "count_events":
                    self.constraints.append(z3.Implies(inputs, value <= _max_items(policy, derived.params)))
                    counts.append((derived.name, _window_key(derived.params), _window_days(derived.params)))
                else:  # an age worked out from a date of birth on or after 1 January 1 AD
                    self.realistic.append(value <= 110)
            known = z3.Bool(f"known:{derived.name}")
            self.via_inputs[derived.name] = inputs
            parts = [inputs]
            if alt is not None:
                parts.append(alt.known)
                self.constraints.append(z3.Implies(alt.known, value == alt.value))
            self.constraints.append(known == z3.Or(*parts))
            self.values[derived.name] = _Value(known, value, kind)
        for (a, key_a, days_a), (b, key_b, days_b) in itertools.permutations(counts, 2):
            if key_a == key_b and days_a <= days_b:
                both = z3.And(self.via_inputs[a], self.via_inputs[b])
                self.constraints.append(z3.Implies(both, self.values[a].value <= self.values[b].value))

    def _lookup(self, name: str, params: Mapping[str, Any], inputs: z3.BoolRef) -> tuple[z3.ArithRef, z3.BoolRef]:
        key = str(params["key"])
        if key not in self.classes:
            fields = sorted({str(d.params["field"]) for d in self.policy.derived if d.kind == "lookup" and d.params["key"] == key})
            rows = practices_of(self.policy, fields)
            classes: dict[tuple[Any, ...], tuple[str, dict[str, Any]]] = {}
            for code, row in rows:
                signature = tuple(row[f] if row[f] is None or self._index_of_word(name, row[f]) >= 0 else "\x00other" for f in fields)
                classes.setdefault(signature, (code, row))
            chosen = z3.Int(f"class:{key}")
            self.constraints.append(z3.And(chosen >= -1, chosen < len(classes)))
            self.classes[key] = (chosen, list(classes.values()))
        chosen, listed = self.classes[key]
        field_name = str(params["field"])
        value: Any = z3.IntVal(-1)
        found: Any = z3.BoolVal(False)
        for number, (_, row) in enumerate(listed):
            word = row[field_name]
            index = -1 if word is None else self._index_of_word(name, word)
            value = z3.If(chosen == number, z3.IntVal(index), value)
            if word is not None:
                found = z3.Or(found, chosen == number)
        self.vocab.setdefault(name, [])
        return value, z3.And(inputs, found)

    def _index_of_word(self, name: str, word: Any) -> int:
        words = self.vocab.get(name, [])
        return words.index(word) if word in words else -1

    # -- conditions ---------------------------------------------------------------------------
    def leaf(self, leaf: Leaf) -> tuple[z3.BoolRef, z3.BoolRef]:
        """(holds, fails) of one comparison: neither when the value is unknown."""
        slot = self.values[leaf.ref]
        if leaf.op == "present":
            holds = slot.known if leaf.value else z3.Not(slot.known)
            return holds, z3.Not(holds)
        test = self._compare(leaf, slot)
        return z3.And(slot.known, test), z3.And(slot.known, z3.Not(test))

    def _compare(self, leaf: Leaf, slot: _Value) -> z3.BoolRef:
        if leaf.op in ("in", "not_in"):
            inside = z3.Or(*[slot.value == self._literal(leaf.ref, slot, item) for item in leaf.value]) if leaf.value else z3.BoolVal(False)
            return inside if leaf.op == "in" else z3.Not(inside)
        literal = self._literal(leaf.ref, slot, leaf.value)
        ops = {
            "eq": lambda a, b: a == b,
            "ne": lambda a, b: a != b,
            "lt": lambda a, b: a < b,
            "lte": lambda a, b: a <= b,
            "gt": lambda a, b: a > b,
            "gte": lambda a, b: a >= b,
        }
        result: z3.BoolRef = ops[leaf.op](slot.value, literal)
        return result

    def _literal(self, name: str, slot: _Value, value: Any) -> Any:
        if slot.kind == "bool":
            return z3.BoolVal(bool(value))
        if slot.kind == "date":
            day = value.date() if isinstance(value, dt.datetime) else value
            return z3.IntVal(day.toordinal())
        if slot.kind == "index":
            spec = self.policy.facts.get(name)
            if spec is not None and spec.spec.type == "enum":
                return z3.IntVal(list(spec.spec.values).index(value))
            return z3.IntVal(self._index_of_word(name, value))
        if slot.kind == "real":
            return z3.RealVal(value)
        return z3.IntVal(int(value))

    def example(self, *goals: z3.BoolRef) -> z3.ModelRef | None:
        """A model of the goals that also meets as many preferences as it can, or None."""
        if self.check(*goals) is None:
            return None
        solver = z3.Optimize()
        solver.set("timeout", _CHECK_TIMEOUT_MS)
        solver.add(*self.constraints, *goals)
        for preference in self.realistic:
            solver.add_soft(preference, 10)
        for slot in self.values.values():
            solver.add_soft(z3.Not(slot.known), 1)
        if solver.check() != z3.sat:
            return self.check(*goals)
        return solver.model()

    def check(self, *goals: z3.BoolRef) -> z3.ModelRef | None:
        solver = z3.Solver()
        solver.set("timeout", _CHECK_TIMEOUT_MS)
        solver.add(*self.constraints, *goals)
        verdict = solver.check()
        if verdict == z3.unknown:
            raise TimeoutError(f"the solver gave no answer within {_CHECK_TIMEOUT_MS // 1000} s ({solver.reason_unknown()})")
        return solver.model() if verdict == z3.sat else None

    def pinned(self, values: Mapping[str, Any]) -> list[z3.BoolRef]:
        """Constraints fixing every fact and derived value a condition reads to ``values``
        (absent: unknown), as one evaluation saw them: to check the model against the engine."""
        read = {leaf.ref for leaf in _all_leaves(self.policy)}
        pins: list[z3.BoolRef] = []
        for name in sorted(read):
            slot = self.values[name]
            value = values.get(name)
            if value is None:
                pins.append(z3.Not(slot.known))
                continue
            pins.append(slot.known)
            if slot.kind == "bool":
                pins.append(slot.value == z3.BoolVal(bool(value)))
            elif slot.kind == "date":
                day = dt.date.fromisoformat(value[:10]) if isinstance(value, str) else value
                pins.append(slot.value == (day.date() if isinstance(day, dt.datetime) else day).toordinal())
            elif slot.kind == "index":
                pins.append(slot.value == self._literal(name, slot, value) if value in self._domain(name) else slot.value == -1)
            elif slot.kind == "real":
                pins.append(slot.value == z3.RealVal(value))
            else:
                pins.append(slot.value == int(value))
        return pins

    def _domain(self, name: str) -> list[Any]:
        spec = self.policy.facts.get(name)
        if spec is not None and spec.spec.type == "enum":
            return list(spec.spec.values)
        return self.vocab.get(name, [])

    # -- counterexamples ------------------------------------------------------------------------
    def facts_from(self, model: z3.ModelRef) -> dict[str, Any]:
        """A facts file (JSON-ready) that the engine reads as the model says."""
        policy = self.policy
        def truth(expression: Any) -> bool:
            return bool(z3.is_true(model.eval(expression, model_completion=True)))

        def number(expression: Any) -> Any:
            return model.eval(expression, model_completion=True)

        facts: dict[str, Any] = {}
        computed: set[str] = set()
        for derived in policy.derived:
            computed.update(derived.inputs)
        for name, spec in policy.facts.items():
            slot = self.values[name]
            if spec.personal or (name in computed and spec.spec.type != "date") or not truth(slot.known):
                continue
            if spec.default_as_of and number(slot.value).as_long() == self.as_of.toordinal():
                continue
            facts[name] = self._decode(name, slot, number(slot.value))
        for key, (chosen, listed) in self.classes.items():
            slot = self.values[key]
            if truth(slot.known):  # a practice of the chosen class, or one the register does not hold
                number_of = number(chosen).as_long()
                facts[key] = listed[number_of][0] if number_of >= 0 else self._decode(key, slot, z3.IntVal(-1))
        for derived in policy.derived:
            if derived.kind == "lookup" or not truth(self.via_inputs[derived.name]):
                continue
            value = number(self.values[derived.name].value)
            if derived.kind == "age_in_years":
                on = _day(facts.get(str(derived.params["on"])), self.as_of)
                facts[str(derived.params["birth_date"])] = _years_before(on, value.as_long()).isoformat()
            elif derived.kind == "count_events":
                self._events(derived.params, facts, model)
        return facts

    def _decode(self, name: str, slot: _Value, value: Any) -> Any:
        if slot.kind == "bool":
            return z3.is_true(value)
        if slot.kind == "int":
            return value.as_long()
        if slot.kind == "real":
            return float(value.as_fraction())
        if slot.kind == "date":
            return dt.date.fromordinal(value.as_long()).isoformat()
        spec = self.policy.facts[name].spec
        index = value.as_long()
        if spec.type == "enum":
            return spec.values[index]
        words = self.vocab.get(name, [])
        if 0 <= index < len(words):
            return words[index]
        pattern = re.compile(spec.pattern) if spec.pattern else None
        key_register = self.classes.get(name)
        for word in _OTHER_TEXT:
            if word in words or (pattern is not None and not pattern.fullmatch(word)):
                continue
            if key_register is not None and any(code == word for code, _ in key_register[1]):
                continue
            return word
        return "other"

    def _events(self, params: Mapping[str, Any], facts: dict[str, Any], model: z3.ModelRef) -> None:
        """Events for every count over this list: each count's extra events at its window's start."""
        events = str(params["events"])
        if events in facts:
            return
        same = [d for d in self.policy.derived if d.kind == "count_events" and _window_key(d.params) == _window_key(params)]
        same.sort(key=lambda d: _window_days(d.params))
        ending = _day(facts.get(str(params["ending"])), self.as_of)
        record = _matching_record(self.policy, params)
        listed: list[dict[str, Any]] = []
        placed = 0
        for number, derived in enumerate(same):
            wanted = model.eval(self.values[derived.name].value, model_completion=True).as_long()
            window = derived.params["window"]
            start = months_before(ending, int(window["calendar_months"])) if "calendar_months" in window else ending - dt.timedelta(days=int(window["days"]))
            day = ending if number == 0 else start
            for _ in range(max(0, wanted - placed)):
                listed.append({**record, str(params["date_field"]): f"{day.isoformat()}T12:00:00"})
            placed = max(placed, wanted)
        facts[events] = listed


def _day(text: Any, default: dt.date) -> dt.date:
    return dt.date.fromisoformat(text) if isinstance(text, str) else default


def _years_before(on: dt.date, years: int) -> dt.date:
    try:
        return on.replace(year=on.year - years)
    except ValueError:  # 29 February
        return on.replace(year=on.year - years, day=28)


def _window_key(params: Mapping[str, Any]) -> tuple[Any, ...]:
    return (params["events"], params["date_field"], params["ending"], json.dumps(params.get("where"), sort_keys=True, default=str))


def _window_days(params: Mapping[str, Any]) -> int:
    window = params["window"]
    return int(window["calendar_months"]) * 31 if "calendar_months" in window else int(window["days"])


def _max_items(policy: CompiledPolicy, params: Mapping[str, Any]) -> int:
    return int(policy.facts[str(params["events"])].spec.max_items)


def _matching_record(policy: CompiledPolicy, params: Mapping[str, Any]) -> dict[str, Any]:
    """Field values for one record that passes the count's filter (enum fields tried in turn)."""
    from recnav_rules.assurance._engine import filter_holds

    spec = policy.facts[str(params["events"])].spec
    enums = {name: f.values for name, f in spec.fields.items() if f.type == "enum"}
    names = list(enums)
    for combination in itertools.product(*(enums[n] for n in names)):
        record = dict(zip(names, combination, strict=True))
        if filter_holds(params.get("where"), record):
            return record
    return {}


def _all_leaves(policy: CompiledPolicy) -> list[Leaf]:
    """Every leaf comparison of the criteria, then of the rules (the record's order)."""
    from recnav_rules.engine.codegen import leaf_list

    return leaf_list(policy)


# --- a policy's decision, encoded -------------------------------------------------------------------


class _Decision:
    """The engine's decision for every referral at once, as solver terms over ``model``."""

    def __init__(self, model: Model, policy: CompiledPolicy) -> None:
        self.model = model
        self.policy = policy
        self.criteria: dict[str, tuple[z3.BoolRef, z3.BoolRef]] = {}
        self.missing_memo: dict[tuple[str, str], z3.BoolRef] = {}
        for criterion in policy.criteria:
            self.criteria[criterion.id] = self.node(criterion.node)
        pairs = [self.node(rule.node) for rule in policy.rules]
        self.holds = [h for h, _ in pairs]
        self.fails = [f for _, f in pairs]
        self.unknown = [z3.And(z3.Not(h), z3.Not(f)) for h, f in zip(self.holds, self.fails, strict=True)]
        rules = policy.rules
        outcome = z3.IntVal(_OUTCOME_CODE[policy.otherwise.outcome.value])
        for i in reversed(range(len(rules))):
            outcome = z3.If(self.holds[i], z3.IntVal(_OUTCOME_CODE[rules[i].outcome.value]), outcome)
        self.chosen = outcome
        """The outcome of the first rule that holds, or otherwise's."""
        self.open_before: list[z3.BoolRef] = []
        for i, rule in enumerate(rules):
            after = z3.IntVal(_OUTCOME_CODE[policy.otherwise.outcome.value])
            for j in reversed(range(i + 1, len(rules))):
                after = z3.If(self.holds[j], z3.IntVal(_OUTCOME_CODE[rules[j].outcome.value]), after)
            earlier_false = z3.And(*[z3.Not(self.holds[k]) for k in range(i)]) if i else z3.BoolVal(True)
            self.open_before.append(z3.And(self.unknown[i], earlier_false, after != _OUTCOME_CODE[rule.outcome.value]))
        self.complete = z3.Not(z3.Or(*self.open_before)) if rules else z3.BoolVal(True)
        self.any_holds = z3.Or(*self.holds) if rules else z3.BoolVal(False)

    def node(self, node: Node) -> tuple[z3.BoolRef, z3.BoolRef]:
        if isinstance(node, Leaf):
            return self.model.leaf(node)
        if isinstance(node, Ref):
            return self.criteria[node.criterion]
        parts = [self.node(child) for child in node.children]
        if node.op == "not":
            return parts[0][1], parts[0][0]
        if node.op == "all":
            return z3.And(*[h for h, _ in parts]), z3.Or(*[f for _, f in parts])
        return z3.Or(*[h for h, _ in parts]), z3.And(*[f for _, f in parts])

    def decides(self, i: int) -> z3.BoolRef:
        """Rule ``i`` decides the referral: it holds, no earlier rule does, and the facts settle it."""
        earlier = [z3.Not(self.holds[k]) for k in range(i)]
        return z3.And(self.holds[i], *earlier, self.complete)

    @property
    def otherwise(self) -> z3.BoolRef:
        return z3.And(z3.Not(self.any_holds), self.complete)

    @property
    def outcome(self) -> z3.ArithRef:
        incomplete = _OUTCOME_CODE[self.policy.incomplete.outcome.value]
        result: z3.ArithRef = z3.If(self.complete, self.chosen, z3.IntVal(incomplete))
        return result

    def reasons(self) -> list[z3.BoolRef]:
        """Whether each rule is among the reasons, then otherwise, then incomplete."""
        listed = [
            z3.Or(z3.And(self.complete, self.holds[i]), z3.And(z3.Not(self.complete), self.holds[i]) if rule.outcome.value != "accept" else z3.BoolVal(False))
            for i, rule in enumerate(self.policy.rules)
        ]
        return [*listed, self.otherwise, z3.Not(self.complete)]

    def signposts(self, services: Sequence[str]) -> list[z3.BoolRef]:
        shown: list[z3.BoolRef] = []
        for service in services:
            parts = [self.holds[i] for i, rule in enumerate(self.policy.rules) if service in rule.signposts]
            if service in self.policy.otherwise.signposts:
                parts.append(z3.And(z3.Not(self.any_holds), self.complete))
            if service in self.policy.incomplete.signposts:
                parts.append(z3.Not(self.complete))
            shown.append(z3.Or(*parts) if parts else z3.BoolVal(False))
        return shown

    def missing(self, names: Sequence[str]) -> list[z3.BoolRef]:
        """Whether each name is behind the missing facts (rules left open before the decision)."""
        return [z3.Or(*[z3.And(self.open_before[i], self._missing(rule.node, name)) for i, rule in enumerate(self.policy.rules)]) for name in names]

    def _missing(self, node: Node, name: str) -> z3.BoolRef:
        holds, fails = self.node(node)
        unknown = z3.And(z3.Not(holds), z3.Not(fails))
        if isinstance(node, Leaf):
            return z3.And(unknown, z3.BoolVal(node.ref == name))
        if isinstance(node, Ref):
            key = (node.criterion, name)
            if key not in self.missing_memo:
                target = next(c.node for c in self.policy.criteria if c.id == node.criterion)
                self.missing_memo[key] = self._missing(target, name)
            return self.missing_memo[key]
        return z3.And(unknown, z3.Or(*[self._missing(child, name) for child in node.children]))


# --- the analysis and its report ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    severity: str
    """error, warning or ok."""
    check: str
    """fires, overlap, otherwise, incomplete."""
    message: str
    file: str
    line: int | None
    rules: tuple[str, ...] = ()
    counterexample: dict[str, Any] | None = None
    counterexample_file: str | None = None
    reproduced: bool | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "check": self.check,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "rules": list(self.rules),
            "counterexample": self.counterexample,
            "counterexample_file": self.counterexample_file,
            "reproduced": self.reproduced,
        }


@dataclass(slots=True)
class Analysis:
    policy_id: str
    as_of: dt.date
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy_id,
            "as_of": self.as_of.isoformat(),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [f.to_dict() for f in self.findings],
        }

    def text(self) -> str:
        lines = [f"{self.policy_id} (as of {self.as_of.isoformat()}): {len(self.errors)} error(s), {len(self.warnings)} warning(s)"]
        for finding in self.findings:
            if finding.severity == "ok":
                continue
            lines.append(f"  {finding.where}: {finding.severity}: {finding.message}")
            if finding.counterexample_file is not None:
                lines.append(f"    counterexample: {finding.counterexample_file}")
            elif finding.counterexample is not None:
                lines.append(f"    counterexample: {json.dumps(finding.counterexample, sort_keys=True)}")
        fires = sum(1 for f in self.findings if f.check == "fires" and f.severity == "ok")
        lines.append(f"  {fires} rule(s) proved able to decide a referral")
        return "\n".join(lines) + "\n"


def analyse_policy(policy: Policy, as_of: dt.date, *, out: str | Path | None = None) -> Analysis:
    """Prove or refute the policy's properties; write counterexamples to ``out`` when given."""
    compiled = policy.compiled
    model = Model(compiled, as_of)
    decision = _Decision(model, compiled)
    analysis = Analysis(compiled.id, as_of)
    folder = Path(out) if out is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)

    def example(found: z3.ModelRef, label: str, claim: Any) -> tuple[dict[str, Any], str | None, bool]:
        facts = model.facts_from(found)
        try:
            reproduced = bool(claim(policy.evaluate(facts, as_of=as_of)))
        except FactValidationError:
            reproduced = False
        written = None
        if folder is not None:
            path = folder / f"{compiled.id}--{label}.json"
            path.write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            written = str(path)
        return facts, written, reproduced

    rules = compiled.rules
    for i, rule in enumerate(rules):
        found = model.example(decision.decides(i))
        if found is not None:
            facts, written, ok = example(found, f"fires-{rule.id}", lambda d, rid=rule.id: d.complete and d.reasons[0].rule_id == rid)
            analysis.findings.append(Finding("ok", "fires", f"rule {rule.id} can decide a referral", compiled.file, rule.line, (rule.id,), facts, written, ok))
            continue
        if model.check(decision.holds[i]) is None:
            message = f"rule {rule.id} can never hold: its condition is unsatisfiable for facts within their bounds"
        else:
            shadows = [r.id for k, r in enumerate(rules[:i]) if model.check(decision.holds[i], z3.Not(decision.holds[k])) is None]
            why = f" (whenever it holds, {', '.join(shadows)} holds first)" if shadows else " (whenever it holds, an earlier rule holds or leaves the outcome open)"
            message = f"rule {rule.id} can never decide a referral{why}"
        analysis.findings.append(Finding("error", "fires", message, compiled.file, rule.line, (rule.id,)))
    for i, j in itertools.combinations(range(len(rules)), 2):
        first, second = rules[i], rules[j]
        if first.outcome is second.outcome:
            continue
        found = model.example(decision.holds[i], decision.holds[j])
        if found is None:
            continue
        facts, written, ok = example(
            found, f"overlap-{first.id}--{second.id}", lambda d, a=first.id, b=second.id: _held(d, a) and _held(d, b)
        )
        analysis.findings.append(
            Finding(
                "warning", "overlap",
                f"rules {first.id} ({first.outcome.value}) and {second.id} ({second.outcome.value}) can both hold; the priority order gives {first.outcome.value}",
                compiled.file, second.line, (first.id, second.id), facts, written, ok,
            )
        )
    for label, goal, claim in (
        ("otherwise", decision.otherwise, lambda d: d.complete and d.reasons[0].rule_id == "otherwise"),
        ("incomplete", z3.Not(decision.complete), lambda d: not d.complete),
    ):
        found = model.example(goal)
        if found is None:
            analysis.findings.append(
                Finding("warning", label, f"'{label}' can never be reached" + (": the rules settle every referral whose facts are complete" if label == "otherwise" else ": the facts given always settle the outcome"), compiled.file, compiled.line)
            )
            continue
        facts, written, ok = example(found, label, claim)
        analysis.findings.append(Finding("ok", label, f"'{label}' can be reached", compiled.file, compiled.line, (), facts, written, ok))
    not_reproduced = [f for f in analysis.findings if f.reproduced is False]
    for finding in not_reproduced:
        analysis.findings.append(
            Finding("error", "counterexample", f"internal: the counterexample for '{finding.message}' does not reproduce in the engine", finding.file, finding.line, finding.rules, finding.counterexample)
        )
    return analysis


def _held(decision: Any, rule_id: str) -> bool:
    return any(step.kind == "rule" and step.id == rule_id and step.value == "true" for step in decision.trace)


def equivalent(first: CompiledPolicy, second: CompiledPolicy, as_of: dt.date) -> bool:
    """True when the two versions (same facts) give every referral the same outcome,
    completeness, reasons, signposts and missing facts — proved, not sampled."""
    return _difference(first, second, as_of, want_example=False) is None


def telling_apart(first: CompiledPolicy, second: CompiledPolicy, as_of: dt.date) -> dict[str, Any] | None:
    """A referral (facts, JSON-ready) that the two versions decide differently, or None when
    they are equivalent. Outcome differences are preferred, then reasons, then the rest."""
    return _difference(first, second, as_of, want_example=True)


def _difference(first: CompiledPolicy, second: CompiledPolicy, as_of: dt.date, *, want_example: bool) -> dict[str, Any] | None:
    model = Model(first, as_of, extra=(second,))
    if [r.id for r in first.rules] != [r.id for r in second.rules]:
        raise ValueError("the two versions must have the same rules in the same order")
    one, two = _Decision(model, first), _Decision(model, second)
    services = sorted(
        {s for p in (first, second) for r in p.rules for s in r.signposts}
        | {s for p in (first, second) for s in (*p.otherwise.signposts, *p.incomplete.signposts)}
    )
    names = sorted({leaf.ref for p in (first, second) for leaf in _all_leaves(p)})
    groups = [
        [(one.outcome, two.outcome)],
        [(one.complete, two.complete), *zip(one.reasons(), two.reasons(), strict=True)],
        [*zip(one.signposts(services), two.signposts(services), strict=True), *zip(one.missing(names), two.missing(names), strict=True)],
    ]
    every = z3.Or(*[a != b for group in groups for a, b in group])
    if model.check(every) is None:
        return None
    if not want_example:
        return {}
    for group in groups:
        found = model.example(z3.Or(*[a != b for a, b in group]))
        if found is not None:
            return model.facts_from(found)
    return {}  # pragma: no cover - the disjunction was satisfiable, so one group is
