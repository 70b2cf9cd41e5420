"""From a located YAML document to compiled policies, or every located error at once.

Stages: JSON Schema (``schemas/policy.schema.json``) for shape, then semantic checks the schema
cannot express (names that must exist, types that must agree, cycles between criteria, one
citation or assumption per rule), then closures for the evaluator. A policy that does not pass
every check never compiles.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from recnav_rules._resources import schema
from recnav_rules.canonical import canonical_json, digest_of
from recnav_rules.decision import Signpost
from recnav_rules.engine import conditions
from recnav_rules.engine.conditions import RefType
from recnav_rules.engine.facts import checker_for, compile_pattern, is_bad, parse_date
from recnav_rules.engine.model import (
    Citation,
    CompiledPolicy,
    Criterion,
    Derived,
    FactSpec,
    Fallback,
    FieldSpec,
    Leaf,
    Logic,
    NextStepSpec,
    Node,
    Outcome,
    Ref,
    Rule,
)
from recnav_rules.engine.schema_check import jsonable, schema_problems
from recnav_rules.engine.source import LocatedDocument, PathKey
from recnav_rules.errors import FactProblem, PolicyError, PolicyProblem, closest
from recnav_rules.policies.parameters import dated_value, record_parameters, resolve_document
from recnav_rules.policies.sources import source_records

__all__ = ["ServiceLookup", "compile_document"]

_LONDON = ZoneInfo("Europe/London")
_PERIOD_UNITS = ("working_days", "calendar_days", "weeks", "calendar_months")

ServiceLookup = Callable[[str], Signpost | None]
"""Service id to its signpost, or None when the directory has no such service."""

Made = tuple[tuple[str, ...], str, "Node | None"]
"""What a derived value's checker returns: (inputs, value type, event filter)."""


class _PolicyCompiler:
    def __init__(
        self,
        doc: LocatedDocument,
        raw: dict[str, Any],
        path: PathKey,
        services: ServiceLookup | None,
        reference: Mapping[str, Any],
    ) -> None:
        self.doc = doc
        self.raw = raw
        self.path = path
        self.services = services
        self.reference = reference
        self.problems: list[PolicyProblem] = []

    # -- helpers --------------------------------------------------------------------------
    def err(self, rel: PathKey, code: str, message: str, suggestion: str | None = None, *, at_key: bool = False) -> None:
        self.problems.append(self.doc.problem((*self.path, *rel), code, message, suggestion, at_key=at_key))

    def line_of(self, rel: PathKey) -> int | None:
        mark = self.doc.mark((*self.path, *rel))
        return mark[0] if mark else None

    def key_line_of(self, rel: PathKey) -> int | None:
        mark = self.doc.key_mark((*self.path, *rel))
        return mark[0] if mark else None

    def citation(self, raw: Mapping[str, Any], rel: PathKey, *, required: bool = True) -> Citation | None:
        cited = raw.get("citation")
        assumed = raw.get("assumption")
        if cited is not None and assumed is not None:
            self.err((*rel, "assumption"), "citation-and-assumption", "give a citation or an assumption, not both", at_key=True)
            return None
        if cited is not None:
            key = cited["source"]
            if key not in self.sources:
                self.err((*rel, "citation", "source"), "unknown-source", f"unknown source '{key}'", closest(key, self.sources))
                return None
            return Citation(self.sources[key], " ".join(str(cited["quote"]).split()), None, self.source_labels[key])
        if assumed is not None:
            return Citation(None, None, " ".join(str(assumed).split()))
        if required:
            self.err(rel, "no-citation", "needs a 'citation' (source and quote) or an 'assumption' saying why")
        return None

    # -- stages ---------------------------------------------------------------------------
    def compile(self) -> CompiledPolicy | None:
        raw = self.raw
        self.sources: dict[str, str] = {k: v["file"] for k, v in raw["sources"].items()}
        records = source_records(raw["sources"])
        self.source_labels = {k: r.label() for k, r in records.items()}
        facts = self.compile_facts(raw["facts"])
        refs: dict[str, RefType] = {
            name: RefType(f.spec.type, f.spec.values, f.personal) for name, f in facts.items()
        }
        derived = self.compile_derived(raw.get("derived", {}), facts, refs)
        criteria = self.compile_criteria(raw.get("criteria", {}), refs)
        rules = self.compile_rules(raw["rules"], refs, criteria)
        otherwise = self.fallback(raw["otherwise"], ("otherwise",))
        incomplete = self.fallback(raw["incomplete"], ("incomplete",))
        next_steps = self.compile_next_steps(raw.get("next_steps", []), facts)
        calendar = raw.get("calendar", {"country": "GB", "subdivision": "ENG"})
        self.check_calendar(calendar)
        convention = self.calendar_convention(calendar)
        effective = raw.get("effective", {})
        for end in ("from", "until"):  # a date the schema's pattern lets through but no calendar has
            if effective.get(end) is not None and parse_date(effective[end]) is None:
                self.err(("effective", end), "bad-date", f"effective {end} is not a real date (YYYY-MM-DD)")
        if incomplete is not None and incomplete.outcome is Outcome.ACCEPT:
            self.err(("incomplete", "outcome"), "unsafe-fallback", "the outcome when facts are missing cannot be accept: a decision that unknown facts could change never accepts")
        self.check_presence(rules, criteria)
        if self.problems or otherwise is None or incomplete is None:
            return None
        digest = digest_of(raw)
        services = {
            sid: found
            for sid in self.signpost_ids
            if (found := self.services(sid) if self.services else None) is not None
        }
        return CompiledPolicy(
            id=raw["id"],
            version=raw["version"],
            title=" ".join(raw["title"].split()),
            description=" ".join(str(raw.get("description", "")).split()),
            effective_from=parse_date(effective.get("from")),
            effective_until=parse_date(effective.get("until")),
            sources=self.sources,
            facts=facts,
            derived=derived,
            criteria=criteria,
            rules=rules,
            otherwise=otherwise,
            incomplete=incomplete,
            next_steps=next_steps,
            calendar_country=calendar["country"],
            calendar_subdivision=calendar.get("subdivision"),
            digest=digest,
            file=self.doc.file,
            reference_data=_with_max_age(self.reference, raw.get("reference_data", {}).get("max_age_months")),
            services=services,
            line=self.line_of(()),
            source_records={k: r.to_dict() for k, r in records.items()},
            glossary={k: " ".join(str(v).split()) for k, v in raw.get("glossary", {}).items()},
            calendar_convention=convention,
        )

    signpost_ids: list[str]

    def field_spec(self, raw: Mapping[str, Any], rel: PathKey) -> FieldSpec:
        kind = raw["type"]
        values = tuple(raw.get("values", ()))
        if kind == "enum" and not values:
            self.err(rel, "missing-key", "an enum needs 'values'")
        if kind != "enum" and values:
            self.err((*rel, "values"), "bad-key", f"'values' applies to enum facts, not {kind}", at_key=True)
        fields: dict[str, FieldSpec] = {}
        if kind == "list":
            if "fields" not in raw:
                self.err(rel, "missing-key", "a list fact needs 'fields' describing its records")
            for name, sub in raw.get("fields", {}).items():
                fields[name] = self.field_spec(sub, (*rel, "fields", name))
        elif "fields" in raw:
            self.err((*rel, "fields"), "bad-key", "'fields' applies to list facts only", at_key=True)
        pattern = raw.get("pattern")
        if pattern is not None:
            try:
                compile_pattern(pattern)
            except ValueError as exc:
                self.err((*rel, "pattern"), "bad-pattern", f"the pattern cannot be used: {exc} (patterns are RE2: no backreferences or lookaround)")
                pattern = None
        return FieldSpec(
            type=kind,
            values=values,
            minimum=raw.get("minimum"),
            maximum=raw.get("maximum"),
            pattern=pattern,
            max_length=raw.get("max_length", 1000),
            max_items=raw.get("max_items", 10_000),
            fields=fields,
        )

    def compile_facts(self, raw: Mapping[str, Any]) -> dict[str, FactSpec]:
        facts: dict[str, FactSpec] = {}
        for name, spec_raw in raw.items():
            rel: PathKey = ("facts", name)
            spec = self.field_spec(spec_raw, rel)
            personal = bool(spec_raw.get("personal", False))
            has_default = "default" in spec_raw
            default = spec_raw.get("default")
            as_of_default = has_default and default == "as_of"
            if as_of_default and spec.type != "date":
                self.err((*rel, "default"), "type-error", "'as_of' is a default for date facts only")
            elif has_default and not as_of_default:
                if personal:
                    self.err((*rel, "default"), "bad-default", "a personal fact cannot have a default")
                found: list[FactProblem] = []
                parsed = checker_for(spec)(default, name, found)
                if is_bad(parsed) or default is None:
                    self.err((*rel, "default"), "type-error", f"default {default!r} is not a valid {spec.type}")
                default = parsed
            facts[name] = FactSpec(
                name=name,
                spec=spec,
                description=" ".join(spec_raw["description"].split()),
                personal=personal,
                default=None if as_of_default else default,
                has_default=has_default,
                default_as_of=as_of_default,
                line=self.key_line_of(rel),
            )
        return facts

    def need_fact(self, facts: Mapping[str, FactSpec], name: str, rel: PathKey, types: tuple[str, ...]) -> FactSpec | None:
        spec = facts.get(name)
        if spec is None:
            self.err(rel, "unknown-fact", f"unknown fact '{name}'", closest(name, facts))
            return None
        if spec.spec.type not in types:
            self.err(rel, "type-error", f"'{name}' is {spec.spec.type}; expected {' or '.join(types)}")
            return None
        return spec

    def compile_derived(
        self, raw: Mapping[str, Any], facts: Mapping[str, FactSpec], refs: dict[str, RefType]
    ) -> tuple[Derived, ...]:
        result: list[Derived] = []
        for name, body in raw.items():
            rel: PathKey = ("derived", name)
            if name in facts:
                self.err(rel, "duplicate-name", f"'{name}' is already a fact", at_key=True)
                continue
            kinds = [k for k in ("age_in_years", "count_events", "lookup") if k in body]
            if len(kinds) != 1:
                self.err(rel, "bad-derived", "a derived value has exactly one of age_in_years, count_events, lookup")
                continue
            kind = kinds[0]
            params = body[kind]
            made = getattr(self, f"derive_{kind}")(name, params, (*rel, kind), facts, refs)
            if made is None:
                continue
            inputs, value_type, filter_node = made
            alternative = body.get("alternative")
            bounds: tuple[float | None, float | None] = (None, None)
            if alternative is not None:
                wanted = ("integer",) if value_type == "integer" else ("string", "ods_code", "enum")
                alt = self.need_fact(facts, alternative, (*rel, "alternative"), wanted)
                if alt is None:
                    continue
                bounds = (alt.spec.minimum, alt.spec.maximum)
            result.append(
                Derived(
                    name=name,
                    kind=kind,
                    type=value_type,
                    description=" ".join(body["description"].split()),
                    inputs=inputs,
                    params=params,
                    alternative=alternative,
                    filter_node=filter_node,
                    filter_key=canonical_json(params.get("where")) if kind == "count_events" else "",
                    bounds=bounds,
                    line=self.key_line_of(rel),
                )
            )
            refs[name] = RefType(value_type)
        return tuple(result)

    def derive_age_in_years(
        self, name: str, params: Mapping[str, Any], rel: PathKey, facts: Mapping[str, FactSpec], refs: Mapping[str, RefType]
    ) -> Made | None:
        birth, on = params["birth_date"], params["on"]
        ok = self.need_fact(facts, birth, (*rel, "birth_date"), ("date",))
        ok2 = self.need_fact(facts, on, (*rel, "on"), ("date",))
        if ok is None or ok2 is None:
            return None
        return (birth, on), "integer", None

    def derive_count_events(
        self, name: str, params: Mapping[str, Any], rel: PathKey, facts: Mapping[str, FactSpec], refs: Mapping[str, RefType]
    ) -> Made | None:
        events, date_field, ending = params["events"], params["date_field"], params["ending"]
        listed = self.need_fact(facts, events, (*rel, "events"), ("list",))
        if self.need_fact(facts, ending, (*rel, "ending"), ("date",)) is None or listed is None:
            return None
        record_fields = listed.spec.fields
        date_spec = record_fields.get(date_field)
        if date_spec is None or date_spec.type not in ("date", "datetime"):
            self.err((*rel, "date_field"), "unknown-field", f"'{date_field}' is not a date field of '{events}'", closest(date_field, record_fields))
            return None
        node: Node | None = None
        if "where" in params:
            field_refs = {n: RefType(f.type, f.values) for n, f in record_fields.items()}
            node = conditions.parse_condition(params["where"], (*self.path, *rel, "where"), self.doc, field_refs, {}, self.problems, ref_key="field")
            if node is None:
                return None
        return (events, ending), "integer", node

    def derive_lookup(
        self, name: str, params: Mapping[str, Any], rel: PathKey, facts: Mapping[str, FactSpec], refs: Mapping[str, RefType]
    ) -> Made | None:
        table, key = params["table"], params["key"]
        if self.need_fact(facts, key, (*rel, "key"), ("ods_code", "string")) is None:
            return None
        if self.reference.get(table) is None:
            self.err((*rel, "table"), "no-reference-data", f"no reference table '{table}' is available to this policy")
            return None
        return (key,), "string", None

    def compile_criteria(self, raw: Mapping[str, Any], refs: Mapping[str, RefType]) -> tuple[Criterion, ...]:
        nodes: dict[str, Node] = {}
        meta: dict[str, tuple[str, Citation | None, int | None]] = {}
        for name, body in raw.items():
            rel: PathKey = ("criteria", name)
            if name in refs:
                self.err(rel, "duplicate-name", f"'{name}' is already a fact or derived value", at_key=True)
                continue
            node = conditions.parse_condition(body["when"], (*self.path, *rel, "when"), self.doc, refs, raw, self.problems)
            cite = self.citation(body, rel, required=False)
            if node is not None:
                nodes[name] = node
                meta[name] = (" ".join(body["description"].split()), cite, self.key_line_of(rel))
        order = self.topological(nodes)
        reads: dict[str, tuple[str, ...]] = {}
        built: list[Criterion] = []
        for name in order:
            node = nodes[name]
            reads[name] = conditions.reads(node, reads)
            description, cite, line = meta[name]
            built.append(Criterion(name, description, node, cite, line, reads[name]))
        self.criteria_reads = reads
        return tuple(built)

    def topological(self, nodes: Mapping[str, Node]) -> list[str]:
        """Criteria in dependency order; a cycle is an error naming it. Iterative (an explicit
        stack), so a chain of any length is fine."""
        order: list[str] = []
        state: dict[str, int] = {}  # 1: on the current path, 2: done
        for root in nodes:
            if state.get(root):
                continue
            path: list[str] = [root]
            pending: list[Iterator[str]] = [iter(conditions.referenced_criteria(nodes[root]))]
            state[root] = 1
            while pending:
                name = next(pending[-1], None)
                if name is None:
                    pending.pop()
                    done = path.pop()
                    state[done] = 2
                    order.append(done)
                    continue
                if name not in nodes or state.get(name) == 2:
                    continue
                if state.get(name) == 1:
                    loop = [*path[path.index(name):], name]
                    cycle = " -> ".join(loop if len(loop) <= 12 else [*loop[:6], f"... ({len(loop) - 11} more)", *loop[-5:]])
                    self.err(("criteria", name), "cycle", f"criteria refer to each other in a cycle: {cycle}", at_key=True)
                    continue
                state[name] = 1
                path.append(name)
                pending.append(iter(conditions.referenced_criteria(nodes[name])))
        return order

    def compile_rules(self, raw: list[Any], refs: Mapping[str, RefType], criteria: tuple[Criterion, ...]) -> tuple[Rule, ...]:
        known = self.raw.get("criteria", {})
        rules: list[Rule] = []
        seen: dict[str, int] = {}
        self.signpost_ids = []
        for index, body in enumerate(raw):
            rel: PathKey = ("rules", index)
            rule_id = body["id"]
            if rule_id in seen:
                self.err((*rel, "id"), "duplicate-rule", f"rule id '{rule_id}' is used twice (first as rule {seen[rule_id] + 1})")
                continue
            seen[rule_id] = index
            node = conditions.parse_condition(body["when"], (*self.path, *rel, "when"), self.doc, refs, known, self.problems)
            cite = self.citation(body, rel)
            signposts = self.check_signposts(body.get("signpost", []), (*rel, "signpost"))
            outcome = Outcome(body["outcome"])
            if outcome is Outcome.SIGNPOST and not signposts:
                self.err(rel, "no-signpost", "a rule whose outcome is signpost must name where to ('signpost: [service-id]')")
            if node is None or cite is None:
                continue
            rules.append(
                Rule(
                    id=rule_id,
                    outcome=outcome,
                    reason=" ".join(body["reason"].split()),
                    node=node,
                    citation=cite,
                    signposts=signposts,
                    line=self.line_of(rel),
                    reads=conditions.reads(node, self.criteria_reads),
                )
            )
        return tuple(rules)

    def check_presence(self, rules: tuple[Rule, ...], criteria: tuple[Criterion, ...]) -> None:
        """``present`` says whether a fact was given, so it is never unknown; an accept must not
        rest on it, or giving the fact could change an accept the decision calls complete. Every
        ``present`` test an accept rule reads (through criteria too) is an error at its place."""
        nodes = {c.id: c.node for c in criteria}
        for rule in rules:
            if rule.outcome is not Outcome.ACCEPT:
                continue
            seen: set[str] = set()
            pending: list[Node] = [rule.node]
            while pending:
                node = pending.pop()
                if isinstance(node, Leaf):
                    if node.op == "present":
                        self.problems.append(
                            PolicyProblem(
                                self.doc.file, node.line, None, "present-in-accept",
                                f"accept rule '{rule.id}' rests on whether '{node.ref}' was given (present:); "
                                "an accept must rest on facts' values: test the value, or decide elsewhere",
                                severity="error",
                            )
                        )
                elif isinstance(node, Ref):
                    if node.criterion not in seen and node.criterion in nodes:
                        seen.add(node.criterion)
                        pending.append(nodes[node.criterion])
                elif isinstance(node, Logic):
                    pending.extend(node.children)

    def check_signposts(self, ids: list[str], rel: PathKey) -> tuple[str, ...]:
        for i, sid in enumerate(ids):
            if self.services is not None and self.services(sid) is None:
                self.err((*rel, i), "unknown-service", f"signposts to unknown service '{sid}'", getattr(self.services, "closest", lambda s: None)(sid))
            self.signpost_ids.append(sid)
        return tuple(ids)

    def fallback(self, raw: Mapping[str, Any], rel: PathKey) -> Fallback | None:
        cite = self.citation(raw, rel)
        signposts = self.check_signposts(raw.get("signpost", []), (*rel, "signpost"))
        if cite is None:
            return None
        return Fallback(Outcome(raw["outcome"]), " ".join(raw["reason"].split()), cite, signposts)

    def compile_next_steps(self, raw: list[Any], facts: Mapping[str, FactSpec]) -> tuple[NextStepSpec, ...]:
        steps: list[NextStepSpec] = []
        actions: set[str] = set()
        for index, body in enumerate(raw):
            rel: PathKey = ("next_steps", index)
            action = body["action"]
            if action in actions:
                self.err((*rel, "action"), "duplicate-action", f"next step '{action}' is declared twice")
                continue
            due = body["due"]
            unit = next(u for u in _PERIOD_UNITS if u in due)
            after = due["after"]
            after_fact = after if isinstance(after, str) else None
            after_step = after.get("step") if isinstance(after, dict) else None
            if after_fact is not None:
                self.need_fact(facts, after_fact, (*rel, "due", "after"), ("date",))
            if after_step is not None and after_step not in actions:
                self.err((*rel, "due", "after", "step"), "unknown-step", f"'{after_step}' is not an earlier next step", closest(after_step, actions))
            actual = body.get("actual")
            if actual is not None:
                self.need_fact(facts, actual, (*rel, "actual"), ("date",))
            window = body.get("window_opens")
            window_start = None
            if window is not None:
                wunit = next(u for u in _PERIOD_UNITS if u in window)
                window_start = (int(window[wunit]), wunit)
            cite = self.citation(body, rel)
            actions.add(action)
            if cite is None:
                continue
            steps.append(
                NextStepSpec(
                    action=action,
                    description=" ".join(body["description"].split()),
                    on=tuple(Outcome(o) for o in body["on"]),
                    amount=int(due[unit]),
                    unit=unit,
                    after_fact=after_fact,
                    after_step=after_step,
                    actual_fact=actual,
                    citation=cite,
                    window_start=window_start,
                )
            )
        return tuple(steps)

    def calendar_convention(self, calendar: Mapping[str, Any]) -> str:
        """The policy's weekend-referral convention (calendar.py): ``day_0`` or ``day_1``."""
        convention = str(calendar.get("received_on_non_working_day", "day_0"))
        if convention not in ("day_0", "day_1"):
            self.err(("calendar", "received_on_non_working_day"), "bad-value", f"unknown convention '{convention}': use day_0 or day_1", closest(convention, ("day_0", "day_1")))
        return convention

    def check_calendar(self, calendar: Mapping[str, Any]) -> None:
        from recnav_rules.engine.calendar import calendar_for

        try:
            calendar_for(calendar["country"], calendar.get("subdivision"))
        except ValueError as exc:
            self.err(("calendar",), "bad-calendar", str(exc))


def _with_max_age(reference: Mapping[str, Any], months: int | None) -> dict[str, Any]:
    """The reference tables, with the policy's staleness limit where it sets one."""
    if months is None:
        return dict(reference)
    return {k: v.with_max_age(months) if hasattr(v, "with_max_age") else v for k, v in reference.items()}


def compile_document(
    doc: LocatedDocument,
    *,
    services: ServiceLookup | None = None,
    reference: Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
    on: dt.date | None = None,
    periods: bool = True,
) -> list[CompiledPolicy]:
    """Compile every policy in a located document, or raise one PolicyError listing all problems.

    ``parameters`` set the policies' declared parameters (see ``policies/parameters.py``);
    every ``{param: NAME}`` is replaced by its value before the schema check. Parameters that
    are not set take the value in force on ``on`` (default: today in London); where a dated
    value changes after the policy takes effect, the policy as in force in each later period is
    compiled too (``CompiledPolicy.periods``), so a decision uses the values in force on its
    own as-of date.
    """
    original = doc
    doc, resolved = resolve_document(doc, parameters, on)
    problems = schema_problems(doc, schema("policy.schema.json"))
    if problems:
        raise PolicyError(problems)
    data = jsonable(doc.data)
    compiled: list[CompiledPolicy] = []
    ids: dict[str, int] = {}
    for index, raw in enumerate(data["policies"]):
        path: PathKey = ("policies", index)
        if raw["id"] in ids:
            problems.append(doc.problem((*path, "id"), "duplicate-policy", f"policy id '{raw['id']}' is used twice in this file"))
            continue
        ids[raw["id"]] = index
        compiler = _PolicyCompiler(doc, raw, path, services, reference or {})
        policy = compiler.compile()
        problems.extend(compiler.problems)
        if policy is not None:
            got = resolved.get(index)
            if got is not None:
                record_parameters(policy.digest, got.values, policy.glossary)
                policy = replace(policy, parameters=got.values, parameter_specs=got.declared, unset_parameters=got.unset)
            compiled.append(policy)
    if problems:
        raise PolicyError(problems)
    if periods:
        compiled = [
            _with_periods(policy, original, services=services, reference=reference, parameters=parameters)
            for policy in compiled
        ]
    return compiled


def _with_periods(
    policy: CompiledPolicy,
    doc: LocatedDocument,
    *,
    services: ServiceLookup | None,
    reference: Mapping[str, Any] | None,
    parameters: Mapping[str, Any] | None,
) -> CompiledPolicy:
    """The policy with the periods in which its dated parameter values differ from its own."""
    given = parameters or {}
    starts: set[dt.date] = set()
    for name, spec in policy.parameter_specs.items():
        if name in given:
            continue
        for start in (spec.get("values") or {}):
            day = start if isinstance(start, dt.date) else parse_date(str(start))
            if day is not None:
                starts.add(day)
    opening = policy.effective_from or (min(starts) if starts else dt.date.min)
    later = {d for d in starts if d > opening}
    if not later:
        return policy  # one set of values for the policy's whole life
    candidates = sorted({opening} | later)
    found: list[tuple[dt.date, CompiledPolicy | None]] = []
    for start in candidates:
        values = {
            name: value
            for name, spec in policy.parameter_specs.items()
            if name not in given
            for ok, value in [dated_value(spec.get("values") or {}, start)]
            if ok
        }
        mine = {k: v for k, v in policy.parameters.items() if k not in given}
        if values == mine:
            found.append((start, None))
            continue
        variants = compile_document(doc, services=services, reference=reference, parameters=parameters, on=start, periods=False)
        found.append((start, next((v for v in variants if v.id == policy.id), None)))
    if all(variant is None for _, variant in found):
        return policy
    return replace(policy, periods=tuple(found))
