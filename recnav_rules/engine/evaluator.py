"""Evaluation: facts in, a Decision out; a pure function of (policy, facts, as-of date).

Order: check every fact (all problems at once), fill declared defaults, work out derived values
(ages, counts of events in windows, register look-ups), evaluate every criterion once, then
every rule, and decide by priority:

- the outcome is that of the first rule that holds, or the policy's ``otherwise`` when none does;
- any rule before it whose value is unknown could, if it held, have decided differently: if any
  such rule has another outcome, the facts do not determine the decision, which then takes the
  policy's ``incomplete`` outcome and names the missing facts. So an accept is never given when
  something unknown could have changed it.

The hot path builds no pydantic models and no trace objects: the trace is rendered on demand
from the values recorded here (the evaluation's values are never changed afterwards).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

import orjson

from recnav_rules.canonical import jsonable
from recnav_rules.decision import ConditionResult, Decision, FactReading, NextStep, Reason, Signpost, TraceStep
from recnav_rules.engine import conditions
from recnav_rules.engine.calendar import WorkingDayCalendar, calendar_for
from recnav_rules.engine.codegen import leaf_list, record_makers
from recnav_rules.engine.dates import months_after
from recnav_rules.engine.derive import build_derived
from recnav_rules.engine.facts import check_facts, checker_for, fact_table
from recnav_rules.engine.model import Citation, CompiledPolicy, Env, Node, Outcome, Rule, Tri
from recnav_rules.errors import FactProblem, FactValidationError
from recnav_rules.policies.register import staleness_notes

__all__ = ["Evaluator", "Summary", "truth_text"]

_TEXT = {True: "true", False: "false", None: "unknown"}


def truth_text(value: Tri) -> str:
    return _TEXT[value]


class TraceRecord:
    """What a decision keeps of its evaluation: the values read, every criterion's, rule's and
    leaf condition's truth. The trace objects, its JSON and the explanation are renderings of
    it, made on demand and never recomputed from the facts."""

    __slots__ = ("defaults", "env", "evaluator", "leaves", "rows_given", "values")

    def __init__(
        self,
        evaluator: Evaluator,
        env: Env,
        values: tuple[Tri, ...],
        defaults: list[str],
        leaves: tuple[Tri, ...],
        rows_given: dict[str, Any] | None = None,
    ) -> None:
        self.evaluator = evaluator
        self.env = env
        self.values = values
        self.defaults = defaults
        self.leaves = leaves
        self.rows_given = rows_given
        """The checked facts given as the generated program keeps them (records of some lists
        as rows), when the decision does not hold them made."""

    def steps(self) -> list[TraceStep]:
        return self.evaluator.trace(self.env, self.values, self.defaults, self.leaves)

    def data(self) -> list[dict[str, Any]]:
        return self.evaluator.trace_data(self.env, self.values, self.defaults, self.leaves)

    def json_parts(self) -> list[bytes]:
        return self.evaluator.trace_json_parts(self.env, self.values, self.defaults, self.leaves)

    def given(self) -> dict[str, Any]:
        """The checked, non-personal facts given, in the order given, with the records of lists
        the program keeps as rows made into dicts."""
        return self.evaluator.given_made(self.rows_given or {})

    def truths(self) -> dict[str, Any]:
        env = self.env
        policy = self.evaluator.policy
        return {
            "criteria": {c.id: _TEXT[env[("c", c.id)]] for c in policy.criteria},
            "rules": {r.id: _TEXT[v] for r, v in zip(policy.rules, self.values, strict=True)},
            "conditions": [_TEXT[v] for v in self.leaves],
        }


class Evaluator:
    """The native engine for one compiled policy. Immutable, so safe to share across threads."""

    def __init__(self, policy: CompiledPolicy, engine_version: str) -> None:
        self.policy = policy
        self.engine_version = engine_version
        self.calendar: WorkingDayCalendar = calendar_for(policy.calendar_country, policy.calendar_subdivision)
        self._defaults = tuple(
            (name, spec.default, spec.default_as_of) for name, spec in policy.facts.items() if spec.has_default
        )
        checkers = {name: checker_for(f.spec, personal=f.personal) for name, f in policy.facts.items()}
        self._table = fact_table(policy.facts, checkers)
        self._as_of_facts = tuple(name for name, spec in policy.facts.items() if spec.default_as_of)
        self._derived = tuple((d.name, build_derived(d, policy.reference_data)) for d in policy.derived)
        self._derived_by_name = {d.name: d for d in policy.derived}
        self._criteria = tuple((("c", c.id), conditions.build(c.node)) for c in policy.criteria)
        self._criteria_nodes: dict[str, Node] = {c.id: c.node for c in policy.criteria}
        self._rules = tuple((rule, conditions.build(rule.node)) for rule in policy.rules)
        self._leaves = leaf_list(policy)
        self._leaf_runners = tuple(conditions.build(leaf) for leaf in self._leaves)
        self._leaf_texts = tuple(conditions.render(leaf) for leaf in self._leaves)
        spans: list[tuple[int, int]] = []
        start = 0
        for node in [c.node for c in policy.criteria] + [r.node for r in policy.rules]:
            count = len(conditions.leaves(node))
            spans.append((start, start + count))
            start += count
        self._spans = tuple(spans)
        self._fact_sources = self._sources_of_facts()
        self._templates = self._step_templates()
        self._json_templates = self._step_json_templates()
        self._step_cache: dict[tuple[Any, ...], bytes] = {}
        self._trace_blocks = self._blocks_of_steps()
        self._criteria_keys = tuple(("c", c.id) for c in policy.criteria)
        if any(fact.spec.type == "number" for fact in policy.facts.values()):
            self._step_cache = _TypedKeyCache()  # 1 and 1.0 are equal keys but not equal JSON
        """Blocks of trace steps already written, by everything that varies in them (bounded)."""
        self._reading_prefixes = {
            name: b'{"name":' + orjson.dumps(name) + b',"value":'
            for template in self._templates
            for name in template[6]
        }
        self._rule_list = policy.rules
        self._reasons = {
            rule.id: Reason(rule.id, rule.reason, rule.outcome, rule.citation) for rule in policy.rules
        }
        self._otherwise = Reason("otherwise", policy.otherwise.reason, policy.otherwise.outcome, policy.otherwise.citation)
        self._incomplete = Reason(
            "incomplete", policy.incomplete.reason, policy.incomplete.outcome, policy.incomplete.citation
        )
        register = policy.reference_data.get("gp_practices")
        self._reference: Mapping[str, Mapping[str, str]] = MappingProxyType(
            {"gp_practices": MappingProxyType(dict(register.info()))} if register is not None else {}
        )
        self._stale_from = _stale_after(self._reference)
        self._stale_notes: dict[dt.date, list[str]] = {}
        self._parameters: Mapping[str, Any] = MappingProxyType(
            {name: jsonable(value) for name, value in policy.parameters.items()}
        )
        self._constant_json = {
            id(value): (value, orjson.Fragment(orjson.dumps(jsonable(value))))
            for value in (self._parameters, self._reference)
        }
        """The JSON of the read-only mappings every decision of this policy shares."""
        self.packed = record_makers(policy)
        """List facts whose records the generated program keeps as rows (codegen.packed_lists),
        each with its generated function making the records (dicts) from them."""
        self.identity = (policy.id, policy.version, policy.title, policy.digest)
        """The policy's id, version, title and digest, as every decision records them."""
        self._settled: dict[tuple[Any, ...], _Settled] = {}
        """What each combination of rule values decides (bounded; see ``decide``)."""
        self._presence_names = (*policy.facts, *(d.name for d in policy.derived))
        self._stepping = frozenset(outcome for spec in policy.next_steps for outcome in spec.on)
        self._step_dates = tuple(
            dict.fromkeys(n for spec in policy.next_steps for n in (spec.after_fact, spec.actual_fact) if n is not None)
        )
        self._next_cache: dict[tuple[Any, ...], tuple[NextStep, ...]] = {}
        """Next steps by outcome and the dates they count from (bounded)."""

    def constant_json(self, value: object) -> orjson.Fragment | None:
        """The JSON of ``value`` when it is one of this policy's shared read-only mappings."""
        found = self._constant_json.get(id(value))
        return found[1] if found is not None and found[0] is value else None

    # -- checking ---------------------------------------------------------------------------
    def prepare(self, facts: Mapping[str, Any], as_of: dt.date) -> tuple[Env, dict[str, Any], list[str], list[str], list[str]]:
        """(values, given values, defaults used, personal names given, notes) or raise."""
        if not isinstance(facts, Mapping):
            raise FactValidationError([FactProblem("<facts>", f"facts must be a mapping of names to values, got {type(facts).__name__}")])
        problems: list[FactProblem] = []
        policy = self.policy
        given, personal = check_facts(policy.facts, self._table, facts, problems)
        env: Env = dict(given)
        defaults_used: list[str] = []
        for name, default, default_as_of in self._defaults:
            if name not in env and facts.get(name) is None:
                env[name] = as_of if default_as_of else default
                defaults_used.append(name)
        for name in self._as_of_facts:
            value = env.get(name)
            if value is not None and value > as_of:
                problems.append(FactProblem(name, f"is after the as-of date {as_of.isoformat()}"))
        notes: list[str] = []
        for name, compute in self._derived:
            value = compute(env, problems, notes)
            if value is not None:
                env[name] = value
        if problems:
            raise FactValidationError(problems)
        return env, given, defaults_used, personal, notes

    # -- deciding ---------------------------------------------------------------------------
    def evaluate(self, facts: Mapping[str, Any], as_of: dt.date, engine: str = "interpreter") -> Decision:
        self.check_effective(as_of)
        prepared = self.prepare(facts, as_of)
        env = prepared[0]
        for key, value_of in self._criteria:
            env[key] = value_of(env)
        values = tuple(value_of(env) for _, value_of in self._rules)
        return self.decide(prepared, values, as_of, engine)

    def leaf_values(self, env: Env) -> tuple[Tri, ...]:
        """Every leaf condition's value, in the record's order (criteria' leaves, then rules')."""
        return tuple(run(env) for run in self._leaf_runners)

    def decide(
        self,
        prepared: tuple[Env, dict[str, Any], list[str], list[str], list[str]],
        values: tuple[Tri, ...],
        as_of: dt.date,
        engine: str,
        leaves: tuple[Tri, ...] | None = None,
        floats: bool | None = None,
        rows: bool = False,
    ) -> Decision:
        """The decision from the rules' three-valued values, in priority order.

        Shared by every program: each works out ``values`` its own way (and the criteria's
        values in ``env``), then this one function decides. ``leaves`` is the record of every
        leaf condition's value (worked out here when a program does not give it). ``rows``: the
        given facts are the generated program's, with some lists' records kept as rows
        (``codegen.packed_lists``), made into dicts only when the checked facts are asked for.
        """
        env, given, defaults_used, personal, notes = prepared
        if leaves is None:
            leaves = self.leaf_values(env)
        outcome, complete, missing, reasons, signposts, groups, could_change, assumed = self.settled(env, values, defaults_used, leaves)
        policy_id, policy_version, policy_title, policy_digest = self.identity
        # Decision's fields in order (decision._FIELDS, then _PRIVATE): one tuple, no keywords;
        # the settled parts are shared tuples (a Decision gives each reader a list of its own)
        return Decision._from_fields(
            (
                outcome,
                complete,
                missing,
                reasons,
                signposts,
                self.next_steps_of(env, outcome, complete),
                policy_id,
                policy_version,
                policy_title,
                policy_digest,
                engine,
                self.engine_version,
                as_of,
                defaults_used,
                personal,
                self._reference,
                notes + self.staleness(as_of) if self._stale_from is not None and as_of > self._stale_from else notes,
                groups,
                could_change,
                assumed,
                None,
                self._parameters,
                None if rows and self.packed else given,
                None,
                TraceRecord(self, env, values, defaults_used, leaves, given if rows and self.packed else None),
                floats,
            )
        )

    def settled(self, env: Env, values: tuple[Tri, ...], defaults_used: list[str], leaves: tuple[Tri, ...]) -> _Settled:
        """What the rules' values decide (``_settle``), worked out once per combination and
        remembered: the outcome, completeness, reasons, signposts and assumed defaults depend on
        nothing else, and the missing facts (only asked for when a value is unknown) on the
        leaves' values and on which facts and derived values are present. The tuples are shared
        by every decision settled alike."""
        if not defaults_used:  # the usual case first: every rule known, no default (a key of the values alone)
            found = self._settled.get(values)
            if found is not None:
                return found
        if None in values:
            key: tuple[Any, ...] = (values, leaves, tuple(defaults_used), tuple(map(env.__contains__, self._presence_names)))
        elif defaults_used:
            key = (values, tuple(defaults_used))
        else:
            key = values
        settled = self._settled.get(key)
        if settled is None:
            settled = self._settle(env, values, defaults_used)
            if len(self._settled) >= _SETTLED_CACHE_SIZE:
                self._settled.clear()
            self._settled[key] = settled
        return settled

    def next_steps_of(self, env: Env, outcome: Outcome, complete: bool) -> tuple[NextStep, ...]:
        """The next steps of a decision (only a complete one, with an outcome that has any)."""
        return self._next_step_tuple(env, outcome) if complete and outcome in self._stepping else ()

    def given_made(self, rows_given: dict[str, Any]) -> dict[str, Any]:
        """The checked, non-personal facts given, in the order given, from the generated
        program's: the records of lists it keeps as rows made into dicts (a new dict)."""
        given = dict(rows_given)
        for name, records in self.packed.items():
            rows = given.get(name)
            if rows is not None:
                given[name] = records(rows)
        return given

    def _settle(self, env: Env, values: tuple[Tri, ...], defaults_used: list[str]) -> _Settled:
        """What the rules' values decide: (outcome, complete, missing facts, reasons, signposts,
        missing-fact groups, facts that could change the reasons, assumed defaults)."""
        policy = self.policy
        deciding: Rule | None = None
        held: list[Rule] = []
        open_outcomes: set[Outcome] = set()
        unknown_before: list[Rule] = []
        unknown: list[Rule] = []
        for rule, value in zip(self._rule_list, values, strict=True):
            if value is True:
                held.append(rule)
                if deciding is None:
                    deciding = rule
            elif value is None:
                unknown.append(rule)
                if deciding is None:
                    open_outcomes.add(rule.outcome)
                    unknown_before.append(rule)
        outcome = deciding.outcome if deciding is not None else policy.otherwise.outcome
        complete = open_outcomes <= {outcome}
        groups: list[tuple[str, ...]] = []
        if complete:
            # held is empty exactly when no rule decided, so the fallback is then the only reason
            reasons = [self._reasons[r.id] for r in held] if deciding is not None else [self._otherwise]
        else:
            groups = self.missing_groups(env, [r for r in unknown_before if r.outcome is not outcome])
            outcome = policy.incomplete.outcome
            reasons = [self._incomplete, *(self._reasons[r.id] for r in held if r.outcome is not Outcome.ACCEPT)]
        missing = _flatten(groups)
        could_change: list[str] = []
        if unknown:
            # an unknown rule that held would add its reason and signposts (or decide, if first)
            taken = set(missing)
            could_change = [n for n in _flatten(self.missing_groups(env, unknown)) if n not in taken]
        assumed = self.assumed_facts(defaults_used, deciding) if complete and defaults_used else []
        return (
            outcome,
            complete,
            tuple(missing),
            tuple(reasons),
            tuple(self.signposts(held, outcome, complete)),
            tuple(groups),
            tuple(could_change),
            tuple(assumed),
        )

    def staleness(self, as_of: dt.date) -> list[str]:
        """Notes for reference tables older than their declared age on ``as_of`` (remembered
        for the last 64 as-of dates: a batch decides many referrals on one date)."""
        found = self._stale_notes.get(as_of)
        if found is None:
            found = staleness_notes(self._reference, as_of)
            if len(self._stale_notes) >= 64:
                self._stale_notes.clear()
            self._stale_notes[as_of] = found
        return found

    def check_effective(self, as_of: dt.date) -> None:
        policy = self.policy
        if policy.effective_from is not None and as_of < policy.effective_from:
            raise FactValidationError([FactProblem("as_of", f"{as_of.isoformat()} is before policy '{policy.id}' takes effect ({policy.effective_from.isoformat()})")])
        if policy.effective_until is not None and as_of > policy.effective_until:
            raise FactValidationError([FactProblem("as_of", f"{as_of.isoformat()} is after policy '{policy.id}' ended ({policy.effective_until.isoformat()})")])

    def _sources_of_facts(self) -> dict[str, tuple[str, ...]]:
        """Derived name to the facts it is worked out from (its alternative included)."""
        found: dict[str, tuple[str, ...]] = {}
        for derived in self.policy.derived:
            names = list(derived.inputs)
            if derived.alternative is not None:
                names.append(derived.alternative)
            found[derived.name] = tuple(names)
        return found

    def unknown_groups(self, env: Env) -> Callable[[str], tuple[tuple[str, ...], ...]]:
        """For an unknown fact or derived value, the facts that would settle it, as groups of
        alternatives (any one fact of a group will do for that group; every group is needed)."""

        def groups(name: str) -> tuple[tuple[str, ...], ...]:
            derived = self._derived_by_name.get(name)
            if derived is None:
                return ((name,),) if name not in env else ()
            absent = [n for n in derived.inputs if n not in env]
            alternative = derived.alternative
            if alternative is None:
                return tuple((n,) for n in absent)
            if alternative in env:  # given, yet the value is unknown: nothing more to ask for
                return ()
            if not absent:  # the inputs are there but the value could not be worked out
                return ((alternative,),)
            return tuple((n, alternative) for n in absent)

        return groups

    def missing_groups(self, env: Env, rules: list[Rule]) -> list[tuple[str, ...]]:
        """The groups of absent facts that leave the rules unknown, in the policy's fact order."""
        found: dict[tuple[str, ...], None] = {}
        groups_of = self.unknown_groups(env)
        memo: dict[str, frozenset[tuple[str, ...]]] = {}
        for criterion in self.policy.criteria:  # dependency order: a chain of any length, no deep recursion
            if env[("c", criterion.id)] is None:
                memo[criterion.id] = conditions.missing_inputs(criterion.node, env, self._criteria_nodes, groups_of, memo)
        for rule in rules:
            for group in conditions.missing_inputs(rule.node, env, self._criteria_nodes, groups_of, memo):
                found.setdefault(group, None)
        order = {name: i for i, name in enumerate(self.policy.facts)}
        return sorted(found, key=lambda g: [(order.get(n, len(order)), n) for n in g])

    def missing_facts(self, env: Env, rules: list[Rule]) -> list[str]:
        return _flatten(self.missing_groups(env, rules))

    def assumed_facts(self, defaults_used: list[str], deciding: Rule | None) -> list[str]:
        """Defaults the outcome rests on: read by the deciding rule or by a rule before it that
        did not hold (directly, or through a derived value they read)."""
        defaults = set(defaults_used)
        rules = self._rule_list if deciding is None else self._rule_list[: self._rule_list.index(deciding) + 1]
        found: dict[str, None] = {}
        for rule in rules:
            for name in rule.reads:
                for source in (name, *self._fact_sources.get(name, ())):
                    if source in defaults:
                        found.setdefault(source, None)
        return list(found)

    def signposts(self, held: list[Rule], outcome: Outcome, complete: bool) -> list[Signpost]:
        ids: list[str] = []
        for rule in held:
            ids.extend(rule.signposts)
        fallback = self.policy.otherwise if complete else self.policy.incomplete
        if not held or not complete:
            ids.extend(fallback.signposts)
        if not ids:
            return []
        services = self.policy.services  # the compiler refused any id the directory lacks
        return [services[sid] for sid in dict.fromkeys(ids)]

    def next_steps(self, env: Env, outcome: Outcome, complete: bool) -> list[NextStep]:
        if not complete:
            return []
        return list(self._next_step_tuple(env, outcome))

    def _next_step_tuple(self, env: Env, outcome: Outcome) -> tuple[NextStep, ...]:
        key = (outcome, *map(env.get, self._step_dates))
        found = self._next_cache.get(key)
        if found is None:
            found = tuple(self._next_steps(env, outcome))
            if len(self._next_cache) >= _SETTLED_CACHE_SIZE:
                self._next_cache.clear()
            self._next_cache[key] = found
        return found

    def _next_steps(self, env: Env, outcome: Outcome) -> list[NextStep]:
        steps: list[NextStep] = []
        anchors: dict[str, dt.date | None] = {}
        for spec in self.policy.next_steps:
            if outcome not in spec.on:
                continue
            if spec.after_fact is not None:
                start = env.get(spec.after_fact)
            else:
                start = anchors.get(spec.after_step or "")
            try:
                due = self.add_period(start, spec.amount, spec.unit) if start is not None else None
                window = (
                    self.add_period(start, spec.window_start[0], spec.window_start[1])
                    if start is not None and spec.window_start is not None
                    else None
                )
            except (OverflowError, ValueError):
                raise FactValidationError(
                    [FactProblem(spec.after_fact or "as_of", "is too late: a deadline would fall after 9999-12-31", None, "out-of-range")]
                ) from None
            actual = env.get(spec.actual_fact) if spec.actual_fact is not None else None
            status = None
            if spec.actual_fact is not None:
                if actual is None:
                    status = "pending"
                elif due is not None:
                    status = "met" if actual <= due else "missed"
            anchors[spec.action] = actual if actual is not None else due
            steps.append(NextStep(spec.action, spec.description, due, spec.citation, window, actual, status))  # type: ignore[arg-type]
        return steps

    def add_period(self, start: dt.date, amount: int, unit: str) -> dt.date:
        if unit == "working_days":
            return self.calendar.add_working_days(start, amount, self.policy.calendar_convention)
        if unit == "calendar_days":
            return start + dt.timedelta(days=amount)
        if unit == "weeks":
            return start + dt.timedelta(weeks=amount)
        return months_after(start, amount)

    # -- the trace, on demand ---------------------------------------------------------------
    def _step_templates(self) -> tuple[tuple[Any, ...], ...]:
        """Per criterion and rule, what its JSON trace step holds whatever the facts: worked out
        once per policy so that serialising a decision builds only what varies."""
        templates = []
        steps: list[tuple[str, str, str, str | None, Citation | None, int | None, tuple[str, ...]]] = [
            ("criterion", c.id, c.description, None, c.citation, c.line, c.reads) for c in self.policy.criteria
        ]
        steps += [("rule", r.id, r.reason, r.outcome.value, r.citation, r.line, r.reads) for r in self.policy.rules]
        for index, (kind, step_id, text, outcome, citation, line, reads) in enumerate(steps):
            start, end = self._spans[index]
            conditions_static = tuple((self._leaf_texts[i], self._leaves[i].line) for i in range(start, end))
            cited = citation.to_dict() if citation is not None else None
            templates.append((kind, step_id, text, outcome, cited, line, reads, start, conditions_static))
        return tuple(templates)

    def _step_json_templates(self) -> tuple[tuple[Any, ...], ...]:
        """The JSON text of each trace step around the parts that vary, as bytes: the opening for
        each of the three values, the fact readings' names, the citation, and each condition
        written out for each of its three values."""
        made = []
        for kind, step_id, words, outcome, cited, line, reads, start, static in self._templates:
            head = b'{"kind":' + orjson.dumps(kind) + b',"id":' + orjson.dumps(step_id) + b',"value":'
            middle = b',"text":' + orjson.dumps(words) + b',"outcome":' + orjson.dumps(outcome) + b',"facts":['
            opening = {value: head + text + middle for value, text in _TRUTH_JSON.items()}
            conditions = tuple(
                {
                    value: b'{"condition":' + orjson.dumps(condition) + b',"value":' + text + b',"line":' + orjson.dumps(where) + b"}"
                    for value, text in _TRUTH_JSON.items()
                }
                for condition, where in static
            )
            tail = b'],"citation":' + orjson.dumps(cited) + b',"conditions":['
            end = b'],"line":' + orjson.dumps(line) + b"}"
            made.append((opening, reads, tail, start, conditions, end))
        return tuple(made)

    def _write_step(self, env: Env, defaults: set[str], index: int, value: Tri, leaves: tuple[Tri, ...]) -> bytes:
        opening, reads, tail, start, checks, end = self._json_templates[index]
        read: list[bytes] = []
        for name in reads:
            prefix = self._reading_prefixes[name]
            if name not in env:
                read.append(prefix + b'null,"how":"missing"}')
                continue
            value_of = env[name]
            shown = _SIMPLE_JSON.get(value_of) if value_of.__class__ is bool else None
            if shown is None:
                shown = orjson.dumps(value_of, default=_iso)
            if name in self._derived_by_name:
                how = b',"how":"derived"}'
            elif name in defaults:
                how = b',"how":"default"}'
            else:
                how = b',"how":"given"}'
            read.append(prefix + shown + how)
        return b"".join(
            (
                opening[value],
                b",".join(read),
                tail,
                b",".join([check[leaves[start + i]] for i, check in enumerate(checks)]),
                end,
            )
        )

    def trace_json_parts(
        self, env: Env, values: tuple[Tri, ...], defaults_used: list[str], leaves: tuple[Tri, ...]
    ) -> list[bytes]:
        """The trace as JSON text (a list), equal to ``json.dumps`` of ``trace_data``, in pieces
        to be joined once with the rest of a decision's JSON: the parts that never vary are
        written once per policy, the rest from the record.

        Steps are written in blocks (``_trace_blocks``): a run of steps that read only yes/no and
        enum facts is one block, any other step a block of its own. A block's text depends only
        on the values its steps read (None when missing) and which of those the policy's
        defaults filled in: each step's value and its conditions' values are worked out from
        those alone (a leaf compares a value read with a constant, or asks whether it is present;
        a criterion it refers to reads its values too). So blocks are remembered by those, with
        the steps' own values kept in the key as a check.
        """
        step_values = [*map(env.__getitem__, self._criteria_keys), *values]
        parts: list[bytes] = [b"["]
        add = parts.append
        cache = self._step_cache
        get = env.get
        defaults: set[str] | None = None
        for block, (start, stop, reads, defaulted) in enumerate(self._trace_blocks):
            key = (block, *step_values[start:stop], *map(get, reads))  # an unknown value is absent: None
            if defaulted:
                if defaults is None:
                    defaults = set(defaults_used)
                key += tuple(map(defaults.__contains__, defaulted))
            written = cache.get(key)
            if written is None:
                if defaults is None:
                    defaults = set(defaults_used)
                steps = [self._write_step(env, defaults, index, step_values[index], leaves) for index in range(start, stop)]
                written = (b"," if start else b"") + b",".join(steps)  # each block after the first with its comma
                if len(cache) >= _STEP_CACHE_SIZE:
                    cache.clear()
                cache[key] = written
            add(written)
        add(b"]")
        return parts

    def _blocks_of_steps(self) -> tuple[tuple[int, int, tuple[str, ...], tuple[str, ...]], ...]:
        """The trace's steps in blocks: (first step, past the last, names read, names a default
        may fill). Consecutive steps that read only yes/no and enum facts (few values each) make
        one block, of at most 12 names; every other step is a block of its own."""
        facts = self.policy.facts
        can_default = {name for name, fact in facts.items() if fact.has_default}

        def few_values(name: str) -> bool:
            fact = facts.get(name)
            return fact is not None and fact.spec.type in ("bool", "enum")

        blocks: list[tuple[int, int, tuple[str, ...], tuple[str, ...]]] = []

        def add(start: int, stop: int, names: Iterable[str]) -> None:
            read = tuple(names)
            blocks.append((start, stop, read, tuple(n for n in read if n in can_default)))

        run_start: int | None = None
        run_names: dict[str, None] = {}
        for index, template in enumerate(self._templates):
            reads: tuple[str, ...] = template[6]
            if not all(few_values(name) for name in reads):
                if run_start is not None:
                    add(run_start, index, run_names)
                    run_start = None
                add(index, index + 1, reads)
                continue
            if run_start is not None and len(run_names.keys() | set(reads)) > 12:
                add(run_start, index, run_names)
                run_start = None
            if run_start is None:
                run_start, run_names = index, {}
            run_names.update(dict.fromkeys(reads))
        if run_start is not None:
            add(run_start, len(self._templates), run_names)
        return tuple(blocks)

    def trace_data(
        self, env: Env, values: tuple[Tri, ...], defaults_used: list[str], leaves: tuple[Tri, ...]
    ) -> list[dict[str, Any]]:
        """The trace as JSON-ready dicts (``TraceStep.to_dict()`` of each step), built straight
        from the record without making the step objects."""
        defaults = set(defaults_used)
        derived = self._derived_by_name
        readings: dict[str, dict[str, Any]] = {}
        text = _TEXT
        criteria_count = len(self.policy.criteria)
        out = []
        for index, (kind, step_id, words, outcome, cited, line, reads, start, static) in enumerate(self._templates):
            value = env[("c", step_id)] if index < criteria_count else values[index - criteria_count]
            facts = []
            for name in reads:
                reading = readings.get(name)
                if reading is None:
                    if name not in env:
                        reading = {"name": name, "value": None, "how": _HOW_MISSING}
                    else:
                        how = _HOW_DERIVED if name in derived else (_HOW_DEFAULT if name in defaults else _HOW_GIVEN)
                        reading = {"name": name, "value": _json_value(env[name]), "how": how}
                    readings[name] = reading
                facts.append(dict(reading))
            out.append(
                {
                    "kind": kind,
                    "id": step_id,
                    "value": text[value],
                    "text": words,
                    "outcome": outcome,
                    "facts": facts,
                    "citation": dict(cited) if cited is not None else None,
                    "conditions": [
                        {"condition": condition, "value": text[leaves[start + i]], "line": where}
                        for i, (condition, where) in enumerate(static)
                    ],
                    "line": line,
                }
            )
        return out

    def trace(
        self, env: Env, values: tuple[Tri, ...], defaults_used: list[str], leaves: tuple[Tri, ...]
    ) -> list[TraceStep]:
        defaults = set(defaults_used)
        seen: dict[str, FactReading] = {}

        def reading(name: str) -> FactReading:
            found = seen.get(name)
            if found is None:
                if name not in env:
                    found = FactReading(name, None, "missing")
                elif name in self._derived_by_name:
                    found = FactReading(name, env[name], "derived")
                else:
                    found = FactReading(name, env[name], "default" if name in defaults else "given")
                seen[name] = found
            return found

        texts, lines = self._leaf_texts, self._leaves

        def checks(index: int) -> tuple[ConditionResult, ...]:
            start, end = self._spans[index]
            return tuple(
                ConditionResult(texts[i], _TEXT[leaves[i]], lines[i].line)  # type: ignore[arg-type]
                for i in range(start, end)
            )

        criteria = self.policy.criteria
        steps = [
            TraceStep("criterion", c.id, _TEXT[env[("c", c.id)]], c.description, tuple(map(reading, c.reads)), c.citation, None, checks(i), c.line)  # type: ignore[arg-type]
            for i, c in enumerate(criteria)
        ]
        offset = len(criteria)
        steps.extend(
            TraceStep("rule", rule.id, _TEXT[value], rule.reason, tuple(map(reading, rule.reads)), rule.citation, rule.outcome, checks(offset + i), rule.line)  # type: ignore[arg-type]
            for i, ((rule, _), value) in enumerate(zip(self._rules, values, strict=True))
        )
        return steps


_STEP_CACHE_SIZE = 20_000
_SETTLED_CACHE_SIZE = 4_096
_Settled = tuple[
    Outcome, bool, tuple[str, ...], tuple[Reason, ...], tuple[Signpost, ...], tuple[tuple[str, ...], ...], tuple[str, ...], tuple[str, ...]
]
Summary = tuple[_Settled, tuple[NextStep, ...], dict[str, Any] | None, tuple[str, str, str, str], bool]
"""``NativeEngine.summary``: settled parts, next steps, checked facts given (None: the facts as
written, see ``NativeEngine.summary``), policy identity, floats."""


class _TypedKeyCache(dict[tuple[Any, ...], bytes]):
    """A step cache for policies with ``number`` facts: keys carry each value's type."""

    def get(self, key: tuple[Any, ...], default: Any = None) -> Any:
        return super().get(tuple((v.__class__, v) for v in key), default)

    def __setitem__(self, key: tuple[Any, ...], value: bytes) -> None:
        super().__setitem__(tuple((v.__class__, v) for v in key), value)
_SIMPLE_JSON = {True: b"true", False: b"false"}
_TRUTH_JSON = {True: b'"true"', False: b'"false"', None: b'"unknown"'}


def _iso(value: Any) -> Any:
    return jsonable(value)


_HOW_GIVEN, _HOW_DEFAULT, _HOW_DERIVED, _HOW_MISSING = "given", "default", "derived", "missing"


def _stale_after(reference: Mapping[str, Mapping[str, str]]) -> dt.date | None:
    """The last as-of date on which no reference table is past its declared age (None: never)."""
    limits = [
        months_after(dt.date.fromisoformat(info["as_of"]), int(info["max_age_months"]))
        for info in reference.values()
        if info.get("max_age_months") and info.get("as_of")
    ]
    return min(limits) if limits else None


def _json_value(value: Any) -> Any:
    if value.__class__ is bool or value.__class__ is int or value.__class__ is str:
        return value
    return jsonable(value)


def _flatten(groups: list[tuple[str, ...]]) -> list[str]:
    if not groups:
        return []
    return list(dict.fromkeys(name for group in groups for name in group))
