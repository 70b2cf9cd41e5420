"""The generated evaluator: Python source specialised to one policy, compiled once.

The technique fastjsonschema, attrs and dataclasses use. From the intermediate form
(``model.CompiledPolicy``) this module writes one function, ``program(facts, as_of)``, that
checks the facts inline, fills defaults, works out derived values and computes every leaf
condition, criterion and rule in three-valued logic as straight-line code, then returns what
the shared decision step needs. When anything about the facts is not plainly valid (an unknown
name, a wrong type, a value out of range, facts that disagree), it returns ``None`` and the
caller hands the same facts to the interpreter, which gives the full diagnosis: error messages
come from one place.

The safety rule (tested): the generated text contains only names this module makes
(``K``, ``v3``, ``l12``, ``c2``, ``r7``, ...), Python keywords and operators, and integer
indexes. Every value that comes from a policy file — fact names, strings, numbers, dates, enum
values, patterns, quotes — reaches the code through the constants tuple ``K`` and is never
written into the source. The namespace the code runs in holds no builtins, so even a mistake in
this module could not reach ``__import__`` or ``open``. ``source_of(policy)`` returns the text
for reviewers (``recnav-rules program POLICY`` prints it).
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from recnav_rules.engine import conditions
from recnav_rules.engine.dates import odd_offset, read_date
from recnav_rules.engine.derive import build_derived, local_date, window_start
from recnav_rules.engine.facts import checker_for, is_bad, ods_code_of
from recnav_rules.engine.model import CompiledPolicy, Leaf, Logic, Node, Ref

__all__ = ["Generated", "Program", "generate", "leaf_list", "source_of"]

Program = Callable[[Any, dt.date], "tuple[Any, ...] | None"]
"""program(facts, as_of) -> (env, given, defaults_used, personal, notes, rule values, record) or None.

``given``: the checked facts given, in the order given, with the records of lists that no
condition reads kept as rows (``packed_lists``; ``TraceRecord.given`` makes them into dicts
when a caller asks for the checked facts)."""

_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


def leaf_list(policy: CompiledPolicy) -> list[Leaf]:
    """Every leaf condition of the criteria, then of the rules, in order: the record's order."""
    found: list[Leaf] = []
    for criterion in policy.criteria:
        found.extend(conditions.leaves(criterion.node))
    for rule in policy.rules:
        found.extend(conditions.leaves(rule.node))
    return found


def _plain_records(spec: Any) -> bool:
    """Whether every field of a list's records can be checked inline."""
    return bool(spec.fields) and all(sub.type in ("bool", "enum", "date", "datetime") for sub in spec.fields.values())


def packed_lists(policy: CompiledPolicy) -> dict[str, tuple[str, ...]]:
    """List facts whose checked records the generated program keeps as rows (tuples of the
    fields' values, in the fields' order) rather than dicts: those it checks inline and that no
    condition reads (only the facts given, made on demand, show them: ``TraceRecord.given``).
    Fact name to its field names."""
    read = {leaf.ref for leaf in leaf_list(policy)}
    return {
        name: tuple(fact.spec.fields)
        for name, fact in policy.facts.items()
        if fact.spec.type == "list" and not fact.personal and name not in read and _plain_records(fact.spec)
    }


def records_source(fields: tuple[str, ...]) -> Generated:
    """The source of ``make(K)`` returning ``records(rows)``: each row (a tuple of the fields'
    values) as a dict, all rows as a tuple. The same safety rule as the program's."""
    w = _Writer()
    pairs = ", ".join(f"{w.const(name)}: row[{index}]" for index, name in enumerate(fields))
    lines = ["def make(K):"]
    lines += [f"    k{i} = K[{i}]" for i in range(len(w.constants))]
    lines += ["    def records(rows):", f"        return (*[{{{pairs}}} for row in rows],)", "    return records"]
    return Generated("\n".join(lines) + "\n", tuple(w.constants))


def record_makers(policy: CompiledPolicy) -> dict[str, Callable[[tuple[tuple[Any, ...], ...]], tuple[dict[str, Any], ...]]]:
    """For each list fact the program keeps as rows (``packed_lists``), the compiled function
    making its records (dicts) from them."""
    return {name: _compile(records_source(fields)) for name, fields in packed_lists(policy).items()}


@dataclass(frozen=True, slots=True)
class Generated:
    source: str
    constants: tuple[Any, ...]


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: list[Any] = []
        self._index: dict[tuple[type, Any], int] = {}
        self._temps = 0

    def const(self, value: Any) -> str:
        """``K[i]`` for a value; equal values of the same type share one slot."""
        try:
            key = (type(value), value)
            found = self._index.get(key)
        except TypeError:  # unhashable: a slot of its own
            key, found = None, None
        if found is None:
            found = len(self.constants)
            self.constants.append(value)
            if key is not None:
                self._index[key] = found
        return f"k{found}"

    def temp(self) -> str:
        self._temps += 1
        return f"t{self._temps}"

    def emit(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)


class _Generator:
    def __init__(self, policy: CompiledPolicy, *, as_given: bool = False) -> None:
        self.policy = policy
        self.as_given = as_given
        """Also work out ``same`` (see ``build``): whether the facts as given are, in JSON, the
        checked facts given."""
        self.w = _Writer()
        self.local_of: dict[str, str] = {}
        """Fact or derived name to the local holding its value (None when unknown)."""
        self.criterion_local: dict[str, str] = {}
        self.leaf_locals: list[str] = []
        self.days_local: dict[tuple[str, str, str], str] = {}
        self.window_days: dict[str, str] = {}
        self.packed = packed_lists(policy)
        """count_events derived name to the local list of its qualifying events' dates."""

    def generate(self) -> Generated:
        w = self.w
        policy = self.policy
        w.emit(0, "def program(facts, as_of):  # constants: see the signature at the end")
        body = 1
        known = w.const(frozenset(policy.facts))
        w.emit(body, f"if facts.__class__ is not {w.const(dict)} or not {known}.issuperset(facts):")
        w.emit(body + 1, "return None")
        # the values start as a copy of the facts given (bools, enum values and integers are
        # kept as given once checked); "not known" (None) is left out, personal facts are removed
        # once checked, and values read into another form (dates, records) are put back below
        w.emit(body, "env = facts.copy()")
        if self.as_given:
            w.emit(body, "same = True")
        w.emit(body, "if None in env.values():")
        w.emit(body + 1, f"env = {w.const(_without_unknowns)}(env)")
        self.not_same(body + 1)  # "not known" is given but left out of the checked facts
        w.emit(body, "personal = []")
        w.emit(body, "p = []")
        self.check_bools(body)
        for index, (name, fact) in enumerate(policy.facts.items()):
            self.check_fact(body, index, name, fact.spec.type, fact)
        # so far env holds exactly the checked facts given, in the order given
        given = w.temp()
        w.emit(body, f"{given} = env.copy()")
        w.emit(body, "defaults = []")
        for name, fact in policy.facts.items():
            if not fact.has_default:
                continue
            key = w.const(name)
            value = "as_of" if fact.default_as_of else w.const(fact.default)
            w.emit(body, f"if {key} not in env:")
            w.emit(body + 1, f"env[{key}] = {value}")
            w.emit(body + 1, f"defaults.append({key})")
        for name, fact in policy.facts.items():
            if fact.default_as_of:
                key = w.const(name)
                t = w.temp()
                w.emit(body, f"{t} = env.get({key})")
                w.emit(body, f"if {t} is not None and {t} > as_of:")
                w.emit(body + 1, "return None")
        w.emit(body, "notes = []")
        for derived in policy.derived:
            self.derive(body, derived)
        w.emit(body, "if p:")
        w.emit(body + 1, "return None")
        # the values every condition reads, each loaded once
        fact_index = {name: index for index, name in enumerate(policy.facts)}
        for name in self.names_read():
            declared = policy.facts.get(name)
            if declared is not None and not declared.personal and not declared.has_default:
                # a fact with no default is in env exactly as checked above: its local holds it
                self.local_of[name] = f"f{fact_index[name]}"
                continue
            local = f"v{len(self.local_of)}"
            self.local_of[name] = local
            w.emit(body, f"{local} = env.get({w.const(name)})")
        for criterion in policy.criteria:
            result = self.node(body, criterion.node)
            local = f"c{len(self.criterion_local)}"
            w.emit(body, f"{local} = {result}")
            self.criterion_local[criterion.id] = local
            w.emit(body, f"env[{w.const(('c', criterion.id))}] = {local}")
        rule_locals = []
        for index, rule in enumerate(policy.rules):
            result = self.node(body, rule.node)
            w.emit(body, f"r{index} = {result}")
            rule_locals.append(f"r{index}")
        values = _tuple(rule_locals)
        leaves = _tuple(self.leaf_locals)
        same = ", same" if self.as_given else ""
        w.emit(body, f"return (env, {given}, defaults, personal, notes, {values}, {leaves}{same})")
        # every constant is a variable of the enclosing function ``make``, bound to the constants
        # tuple K by index (no value is ever written into this text); the program reads them as
        # free variables, which costs nothing per call (keyword-only defaults cost a dictionary
        # look-up each per call: about 1 us for a policy's 90 constants)
        w.lines[0] = "def program(facts, as_of):"
        lines = ["def make(K):"]
        lines += [f"    k{i} = K[{i}]" for i in range(len(w.constants))]
        lines += ["    " + line for line in w.lines]
        lines.append("    return program")
        return Generated("\n".join(lines) + "\n", tuple(w.constants))

    def names_read(self) -> Iterator[str]:
        seen: dict[str, None] = {}
        for criterion in self.policy.criteria:
            for leaf in conditions.leaves(criterion.node):
                seen.setdefault(leaf.ref, None)
        for rule in self.policy.rules:
            for leaf in conditions.leaves(rule.node):
                seen.setdefault(leaf.ref, None)
        return iter(seen)

    # -- facts ------------------------------------------------------------------------------
    def not_same(self, depth: int, test: str | None = None) -> None:
        """With ``as_given``: the facts as given are not (``test``: may not be) the checked facts."""
        if not self.as_given:
            return
        if test is None:
            self.w.emit(depth, "same = False")
        else:
            self.w.emit(depth, f"if {test}:")
            self.w.emit(depth + 1, "same = False")

    def check_bools(self, depth: int) -> None:
        """Every plain yes/no fact read and checked at once: each must be True, False or None
        (by identity, so 1 and 1.0 are refused as the interpreter refuses them)."""
        w = self.w
        names = [n for n, f in self.policy.facts.items() if f.spec.type == "bool" and not f.personal]
        if not names:
            return
        index = {name: i for i, name in enumerate(self.policy.facts)}
        read = w.temp()
        w.emit(depth, f"{read} = (*{w.const(map)}(facts.get, {w.const(tuple(names))}),)")
        w.emit(depth, f"if not {w.const(_BOOL_IDS)}.issuperset({w.const(map)}({w.const(id)}, {read})):")
        w.emit(depth + 1, "return None")
        w.emit(depth, f"{_tuple([f'f{index[n]}' for n in names])} = {read}")

    def check_fact(self, depth: int, index: int, name: str, kind: str, fact: Any) -> None:
        w = self.w
        if kind == "bool" and not fact.personal:
            return  # checked with the others by check_bools
        key = w.const(name)
        v = f"f{index}"
        w.emit(depth, f"{v} = facts.get({key})")
        w.emit(depth, f"if {v} is not None:")
        inner = depth + 1
        spec = fact.spec
        if fact.personal:
            checker = w.const(checker_for(spec, personal=True))
            w.emit(inner, f"if {w.const(is_bad)}({checker}({v}, {key}, p)):")
            w.emit(inner + 1, "return None")
            w.emit(inner, f"personal.append({key})")
            w.emit(inner, f"del env[{key}]")
            self.not_same(inner)  # given, but never among the checked facts
            return
        if kind == "enum":
            allowed = w.const(frozenset(spec.values))
            w.emit(inner, f"if {v}.__class__ is not {w.const(str)} or {v} not in {allowed}:")
            w.emit(inner + 1, "return None")
            return  # kept as it was given
        if kind == "integer":
            tests = [f"{v}.__class__ is not {w.const(int)}"]
            if spec.minimum is not None:
                tests.append(f"{v} < {w.const(spec.minimum)}")
            if spec.maximum is not None:
                tests.append(f"{v} > {w.const(spec.maximum)}")
            w.emit(inner, f"if {' or '.join(tests)}:")
            w.emit(inner + 1, "return None")
            return  # kept as it was given
        if kind == "date":
            # read_date, inline: YYYY-MM-DD text (length and hyphens fixed) or a date; either
            # way JSON writes the date read as it was given (with ``as_given``, still the same)
            w.emit(inner, f"if {v}.__class__ is {w.const(str)}:")
            w.emit(inner + 1, f"if {w.const(len)}({v}) != {w.const(10)} or {v}[{w.const(4)}] != {w.const('-')} or {v}[{w.const(7)}] != {w.const('-')}:")
            w.emit(inner + 2, "return None")
            w.emit(inner + 1, "try:")
            w.emit(inner + 2, f"{v} = {w.const(dt.date.fromisoformat)}({v})")
            w.emit(inner + 1, f"except {w.const(ValueError)}:")
            w.emit(inner + 2, "return None")
            w.emit(inner, f"elif {v}.__class__ is not {w.const(dt.date)}:")
            w.emit(inner + 1, "return None")
        elif kind == "ods_code":
            # check_ods, inline: text, trimmed and upper-cased, of the code's shape
            w.emit(inner, f"if {v}.__class__ is not {w.const(str)}:")
            w.emit(inner + 1, "return None")
            w.emit(inner, f"{v} = {w.const(ods_code_of)}({v})")
            w.emit(inner, f"if {v} is None:")
            w.emit(inner + 1, "return None")
            self.not_same(inner, f"{v} != facts[{key}]")  # trimmed or upper-cased
        elif kind == "list" and _plain_records(spec):
            self.check_list(inner, v, key, name, spec)
        else:  # number, string, datetime, ods_code, list: the shared checker, failure hands over
            checker = w.const(checker_for(spec))
            w.emit(inner, f"{v} = {checker}({v}, {key}, p)")
            w.emit(inner, "if p:")
            w.emit(inner + 1, "return None")
            self.not_same(inner, f"{v} is not facts[{key}]")  # read into another form
        w.emit(inner, f"env[{key}] = {v}")

    def check_list(self, depth: int, v: str, key: str, name: str, spec: Any) -> None:
        """Records checked inline; the local dates each event window needs, collected as we go."""
        w = self.w
        t_list = w.temp()
        w.emit(depth, f"if ({v}.__class__ is not {w.const(list)} and {v}.__class__ is not {w.const(tuple)}) or {w.const(len)}({v}) > {w.const(spec.max_items)}:")
        w.emit(depth + 1, "return None")
        w.emit(depth, f"{t_list} = []")
        windows = [d for d in self.policy.derived if d.kind == "count_events" and d.inputs[0] == name]
        groups: dict[tuple[str, str], str] = {}
        for derived in windows:
            group = (derived.params["date_field"], derived.filter_key)
            if group not in groups:
                groups[group] = f"days{len(self.days_local)}"
                self.days_local[(*group, name)] = groups[group]
            self.window_days[derived.name] = groups[group]
        for local in groups.values():
            w.emit(depth, f"{local} = []")
        # each field read by subscript (a missing one ends the loop through KeyError, as the
        # length test and the field tests would: the program hands the facts over)
        w.emit(depth, "try:")
        w.emit(depth + 1, f"for rec in {v}:")
        body = depth + 2
        w.emit(body, f"if rec.__class__ is not {w.const(dict)} or {w.const(len)}(rec) != {w.const(len(spec.fields))}:")
        w.emit(body + 1, "return None")
        field_locals: dict[str, str] = {}
        for field_name, sub in spec.fields.items():
            local = w.temp()
            field_locals[field_name] = local
            w.emit(body, f"{local} = rec[{w.const(field_name)}]")
            if sub.type == "bool":
                w.emit(body, f"if {local} is not True and {local} is not False:")
                w.emit(body + 1, "return None")
            elif sub.type == "enum":
                w.emit(body, f"if {local}.__class__ is not {w.const(str)} or {local} not in {w.const(frozenset(sub.values))}:")
                w.emit(body + 1, "return None")
            elif sub.type == "datetime":
                # read_datetime, inline: the same tests, then the same parser
                # (characters 4, 7, 10 and 13 read at once: "-", "-", "T" or a space, ":")
                valid = f"{local}.__class__ is not {w.const(str)} or not ({w.const(16)} <= {w.const(len)}({local}) <= {w.const(40)}) or {local}[{w.const(4)}:{w.const(14)}:{w.const(3)}] not in {w.const(_DATETIME_MARKS)}"
                # The usual text first, YYYY-MM-DDTHH:MM:SS: 19 characters with "-", "-", "T",
                # ":" and ":" at 4, 7, 10, 13 and 16 (read at once), which passes those tests.
                # Of such text fromisoformat reads only digits in the other places, with no
                # offset, so JSON writes the time read exactly as it was given (isoformat(),
                # canonical.py; a test holds the two to it): with ``as_given``, other text is
                # made into JSON anew (not the same).
                w.emit(body, f"if {local}.__class__ is not {w.const(str)} or {w.const(len)}({local}) != {w.const(19)} or {local}[{w.const(4)}:{w.const(17)}:{w.const(3)}] != {w.const('--T::')}:")
                w.emit(body + 1, f"if {valid}:")
                w.emit(body + 2, "return None")
                self.not_same(body + 1)
                w.emit(body, "try:")
                w.emit(body + 1, f"{local} = {w.const(dt.datetime.fromisoformat)}({local})")
                w.emit(body, f"except {w.const(ValueError)}:")
                w.emit(body + 1, "return None")
                w.emit(body, f"if {local}.tzinfo is not None and {w.const(odd_offset)}({local}):")
                w.emit(body + 1, "return None")
            else:
                w.emit(body, f"{local} = {w.const(read_date)}({local})")
                w.emit(body, f"if {local} is None:")
                w.emit(body + 1, "return None")
        if name in self.packed:  # a row: the fields' values in order (see packed_lists)
            w.emit(body, f"{t_list}.append({_tuple([field_locals[n] for n in spec.fields])})")
        else:
            pairs = ", ".join(f"{w.const(n)}: {field_locals[n]}" for n in spec.fields)
            w.emit(body, f"{t_list}.append({{{pairs}}})")
        for (date_field, _), days in groups.items():
            derived = next(d for d in windows if d.params["date_field"] == date_field and self.window_days[d.name] == days)
            moment = field_locals[date_field]
            inner = body
            if derived.filter_node is not None:
                w.emit(body, f"if {self.record_test(derived.filter_node, field_locals)}:")
                inner = body + 1
            if spec.fields[date_field].type == "datetime":
                day = w.temp()
                w.emit(inner, f"if {moment}.tzinfo is None:")
                w.emit(inner + 1, f"{days}.append({moment}.date())")
                w.emit(inner, "else:")
                w.emit(inner + 1, f"{day} = {w.const(local_date)}({moment})")
                w.emit(inner + 1, f"if {day} is None:")
                w.emit(inner + 2, "return None")
                w.emit(inner + 1, f"{days}.append({day})")
            else:
                w.emit(inner, f"{days}.append({moment})")
        w.emit(depth, f"except {w.const(KeyError)}:")
        w.emit(depth + 1, "return None")
        w.emit(depth, f"{v} = {w.const(tuple)}({t_list})")

    def record_test(self, node: Node, fields: Mapping[str, str]) -> str:
        """A two-valued test of one record's fields (every field is present)."""
        w = self.w
        if isinstance(node, Logic):
            if node.op == "not":
                return f"(not {self.record_test(node.children[0], fields)})"
            joiner = " and " if node.op == "all" else " or "
            return "(" + joiner.join(self.record_test(c, fields) for c in node.children) + ")"
        assert isinstance(node, Leaf)
        if node.op == "present":
            return "True" if node.value else "False"
        value = fields[node.ref]
        if node.op == "in":
            return f"({value} in {w.const(node.value)})"
        if node.op == "not_in":
            return f"({value} not in {w.const(node.value)})"
        return f"({value} {_COMPARE[node.op]} {w.const(node.value)})"

    def derive(self, depth: int, derived: Any) -> None:
        """A derived value: ages and event counts inline, look-ups through their function."""
        w = self.w
        value = w.temp()
        if derived.kind == "age_in_years":
            birth, on = (w.temp(), w.temp())
            w.emit(depth, f"{birth} = env.get({w.const(derived.inputs[0])})")
            w.emit(depth, f"{on} = env.get({w.const(derived.inputs[1])})")
            w.emit(depth, f"if {birth} is not None and {on} is not None:")
            w.emit(depth + 1, f"if {birth} > {on}:")
            w.emit(depth + 2, "return None")
            w.emit(depth + 1, f"{value} = {on}.year - {birth}.year - (({on}.month, {on}.day) < ({birth}.month, {birth}.day))")
            lowest, highest = derived.bounds
            tests = []
            if lowest is not None:
                tests.append(f"{value} < {w.const(lowest)}")
            if highest is not None:
                tests.append(f"{value} > {w.const(highest)}")
            if tests:
                w.emit(depth + 1, f"if {' or '.join(tests)}:")
                w.emit(depth + 2, "return None")
            w.emit(depth, "else:")
            w.emit(depth + 1, f"{value} = None")
        elif derived.kind == "count_events" and derived.name in self.window_days:
            days = self.window_days[derived.name]
            end = w.temp()
            window = derived.params["window"]
            w.emit(depth, f"{end} = env.get({w.const(derived.inputs[1])})")
            listed = f"f{list(self.policy.facts).index(derived.inputs[0])}"  # the list as given and checked, or None
            w.emit(depth, f"if {end} is not None and {listed} is not None:")
            start = w.temp()
            w.emit(depth + 1, f"{start} = {w.const(window_start)}({end}, {w.const(window.get('calendar_months') or 0)}, {w.const(window.get('days') or 0)})")
            w.emit(depth + 1, f"{value} = 0")
            w.emit(depth + 1, f"for day in {days}:")
            w.emit(depth + 2, f"if {start} <= day <= {end}:")
            w.emit(depth + 3, f"{value} += 1")
            w.emit(depth, "else:")
            w.emit(depth + 1, f"{value} = None")
        elif derived.kind == "lookup":
            # the register's entry, read directly when it gives the value; otherwise (not in the
            # register, or not active) the look-up function, which also writes the note
            plain = replace(derived, alternative=None)
            compute = w.const(build_derived(plain, self.policy.reference_data))
            params = derived.params
            register = self.policy.reference_data[params["table"]]
            code, entry = w.temp(), w.temp()
            w.emit(depth, f"{code} = env.get({w.const(derived.inputs[0])})")
            w.emit(depth, f"if {code} is None:")
            w.emit(depth + 1, f"{value} = None")
            w.emit(depth, "else:")
            w.emit(depth + 1, f"{entry} = {w.const(register.lookup)}({code})")
            usable = f"{entry} is not None"
            if params["field"] != "status":
                usable += f" and {w.const(operator.attrgetter('status'))}({entry}) == {w.const('active')}"
            w.emit(depth + 1, f"if {usable}:")
            w.emit(depth + 2, f"{value} = {w.const(operator.attrgetter(params['field']))}({entry})")
            w.emit(depth + 1, "else:")
            w.emit(depth + 2, f"{value} = {compute}(env, p, notes)")
        else:
            plain = replace(derived, alternative=None)
            compute = w.const(build_derived(plain, self.policy.reference_data))
            w.emit(depth, f"{value} = {compute}(env, p, notes)")
        if derived.alternative is not None:
            alternative = w.temp()
            w.emit(depth, f"{alternative} = env.get({w.const(derived.alternative)})")
            w.emit(depth, f"if {value} is None:")
            w.emit(depth + 1, f"{value} = {alternative}")
            w.emit(depth, f"elif {alternative} is not None and {alternative} != {value}:")
            w.emit(depth + 1, "return None")
        w.emit(depth, f"if {value} is not None:")
        w.emit(depth + 1, f"env[{w.const(derived.name)}] = {value}")

    # -- conditions -------------------------------------------------------------------------
    def node(self, depth: int, node: Node) -> str:
        """Emit code for a node; return the expression (a local name) holding its value."""
        w = self.w
        if isinstance(node, Ref):
            return self.criterion_local[node.criterion]
        if isinstance(node, Leaf):
            if self.yes_no(node) and (node.op == "eq") == node.value:
                # "is yes" of a yes/no value: the value itself (True, False or None)
                alias = self.local_of[node.ref]
                self.leaf_locals.append(alias)
                return alias
            local = f"l{len(self.leaf_locals)}"
            self.leaf_locals.append(local)
            w.emit(depth, f"{local} = {self.leaf(node)}")
            return local
        assert isinstance(node, Logic)
        parts = [self.node(depth, child) for child in node.children]
        t = w.temp()
        if node.op == "not":
            (inner,) = parts
            w.emit(depth, f"{t} = None if {inner} is None else not {inner}")
            return t
        if len(parts) == 1:
            return parts[0]
        stop, go = ("False", "True") if node.op == "all" else ("True", "False")
        if len(parts) > 2:
            # every part is True, False or None: membership in the tuple tests by identity first
            # and no other value is equal to these three, so this is the Kleene rule in one pass
            together = w.temp()
            w.emit(depth, f"{together} = {_tuple(parts)}")
            w.emit(depth, f"{t} = {stop} if {stop} in {together} else (None if None in {together} else {go})")
            return t
        any_stop = " or ".join(f"{part} is {stop}" for part in parts)
        any_unknown = " or ".join(f"{part} is None" for part in parts)
        w.emit(depth, f"{t} = {stop} if {any_stop} else (None if {any_unknown} else {go})")
        return t

    def yes_no(self, leaf: Leaf) -> bool:
        """Whether the leaf compares a yes/no fact (never anything but True, False or None in
        env: checked, or its declared default) with True or False by eq or ne."""
        fact = self.policy.facts.get(leaf.ref)
        return (
            fact is not None
            and fact.spec.type == "bool"
            and leaf.op in ("eq", "ne")
            and (leaf.value is True or leaf.value is False)
            and (not fact.has_default or fact.default is True or fact.default is False)
        )

    def leaf(self, leaf: Leaf) -> str:
        w = self.w
        if self.yes_no(leaf):  # "is no" of a yes/no value (the "is yes" form is the value itself)
            v = self.local_of[leaf.ref]
            return f"None if {v} is None else not {v}"
        if leaf.op == "present":
            key = w.const(leaf.ref)
            return f"{key} in env" if leaf.value else f"{key} not in env"
        v = self.local_of[leaf.ref]
        literal = w.const(leaf.value)
        if leaf.op == "in":
            return f"None if {v} is None else {v} in {literal}"
        if leaf.op == "not_in":
            return f"None if {v} is None else {v} not in {literal}"
        return f"None if {v} is None else {v} {_COMPARE[leaf.op]} {literal}"


_BOOL_IDS = frozenset({id(True), id(False), id(None)})
_DATETIME_MARKS = frozenset({"--T:", "-- :"})


def _without_unknowns(facts: dict[str, Any]) -> dict[str, Any]:
    """The facts less those given as None ("not known")."""
    return {name: value for name, value in facts.items() if value is not None}


def _tuple(names: list[str]) -> str:
    if not names:
        return "()"
    return "(" + ", ".join(names) + ",)"


def generate(policy: CompiledPolicy, *, as_given: bool = False) -> Generated:
    """The source and constants of a policy's program (no code is run); see ``build``."""
    return _Generator(policy, as_given=as_given).generate()


def source_of(policy: CompiledPolicy) -> str:
    """The generated source, for reviewers (constants shown by index, never inlined)."""
    return generate(policy).source


def build(policy: CompiledPolicy, *, as_given: bool = False) -> Program:
    """Compile the generated source once; the function runs with no builtins at all.

    ``as_given=True`` builds the program batch lines use: it returns one more value, ``same``,
    True when the facts as given are, written as JSON, exactly the checked facts given (none
    is personal or "not known", and none was read into another form that JSON writes
    differently: a trimmed code, a date-time not written as ``isoformat()`` writes it). The
    digest of the checked facts is then the digest of the facts as given, which the batch
    reader has already written in canonical form (``batch._summary_line``)."""
    program: Program = _compile(generate(policy, as_given=as_given))
    return program


def _compile(made: Generated) -> Any:
    """The function ``make(K)`` of generated source returns, compiled once with no builtins."""
    namespace: dict[str, Any] = {"__builtins__": {}}
    code = compile(made.source, "<recnav-rules generated program>", "exec", dont_inherit=True)
    exec(code, namespace)  # compiler-made text only: see the module docstring
    return namespace["make"](made.constants)


def describe_constants(policy: CompiledPolicy) -> Mapping[int, str]:
    """``K[i]`` to a short description, to print beside the source."""
    made = generate(policy)
    shown: dict[int, str] = {}
    for index, value in enumerate(made.constants):
        if callable(value):
            shown[index] = f"<function {getattr(value, '__qualname__', type(value).__name__)}>"
        else:
            shown[index] = repr(value)
    return shown
