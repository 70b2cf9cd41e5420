"""The compiler's checks and the intermediate form it builds, at their edges.

Written from mutmut's survivors (docs/testing.md): every semantic check a policy author can
trip is asserted by its code and the line it points at, and the compiled form by the values the
evaluator and the documents read from it.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from typing import Any, ClassVar

import pytest

from recnav_rules.decision import Signpost
from recnav_rules.engine.compiler import compile_document
from recnav_rules.engine.model import CompiledPolicy, FieldSpec, Leaf, Logic, Outcome, Ref
from recnav_rules.engine.source import load_yaml_text
from recnav_rules.errors import PolicyError
from recnav_rules.policies.register import builtin_register

HEAD = """\
policies:
  - id: tiny
    version: 1.0.0
    title: "A   tiny
      policy"
    sources:
      doc: {file: doc.txt, title: A document}
"""

FACTS = """\
    facts:
      age: {type: integer, minimum: 0, maximum: 120, description: Age in years.}
      member: {type: bool, description: Is a member.}
      referred: {type: date, description: "Referral   date."}
"""

RULES = """\
    rules:
      - id: child
        when: {fact: age, lt: 18}
        outcome: reject
        reason: "Too   young."
        citation: {source: doc, quote: "Adults   only."}
"""

TAIL = """\
    otherwise:
      outcome: accept
      reason: Fine.
      assumption: Everyone else.
    incomplete:
      outcome: reject
      reason: Not enough information.
      assumption: Unknown means no.
"""


def policy_text(*, head: str = HEAD, facts: str = FACTS, rules: str = RULES, tail: str = TAIL, extra: str = "") -> str:
    return head + facts + textwrap.indent(textwrap.dedent(extra), "    ") + rules + tail


def compile_text(text: str, **options: Any) -> CompiledPolicy:
    (policy,) = compile_document(load_yaml_text(text, "p.yaml"), on=dt.date(2026, 11, 20), **options)
    return policy


def problems(text: str, **options: Any) -> list[tuple[str, int | None, str]]:
    with pytest.raises(PolicyError) as caught:
        compile_document(load_yaml_text(text, "p.yaml"), on=dt.date(2026, 11, 20), **options)
    return [(p.code, p.line, p.message) for p in caught.value.problems]


def line_of(text: str, needle: str, *, last: bool = False) -> int:
    found = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    return found[-1] if last else found[0]


def test_the_compiled_form_holds_the_policy_with_whitespace_folded() -> None:
    text = policy_text()
    policy = compile_text(text)
    assert (policy.id, policy.version, policy.title) == ("tiny", "1.0.0", "A tiny policy")
    assert policy.description == ""
    assert policy.facts["referred"].description == "Referral date."
    assert policy.facts["age"].spec == FieldSpec(type="integer", minimum=0, maximum=120)
    assert policy.facts["age"].spec.max_length == 1000 and policy.facts["age"].spec.max_items == 10_000
    (rule,) = policy.rules
    assert (rule.id, rule.outcome, rule.reason, rule.line) == ("child", Outcome.REJECT, "Too young.", line_of(text, "- id: child"))
    assert rule.citation.quote == "Adults only." and rule.citation.source == "doc.txt"
    assert rule.citation.source_title is not None and "A document" in rule.citation.source_title
    assert rule.node == Leaf("age", "lt", 18) and rule.reads == ("age",)
    assert policy.otherwise.outcome is Outcome.ACCEPT and policy.otherwise.citation.assumption == "Everyone else."
    assert (policy.calendar_country, policy.calendar_subdivision, policy.calendar_convention) == ("GB", "ENG", "day_0")
    assert policy.effective_from is None and policy.effective_until is None
    assert policy.file == "p.yaml" and policy.line == 2
    assert policy.facts["age"].line == line_of(text, "age:") and policy.rule("child") is rule


def test_defaults_are_parsed_and_personal_facts_may_not_have_one() -> None:
    facts = FACTS + """\
      seen: {type: date, default: as_of, description: Seen.}
      level: {type: integer, default: 3, description: Level.}
      name: {type: string, personal: true, description: Name.}
"""
    policy = compile_text(policy_text(facts=facts))
    seen, level, name = policy.facts["seen"], policy.facts["level"], policy.facts["name"]
    assert (seen.default, seen.has_default, seen.default_as_of) == (None, True, True)
    assert (level.default, level.has_default, level.default_as_of) == (3, True, False)
    assert (name.personal, name.has_default, policy.facts["age"].personal) == (True, False, False)
    bad = FACTS + """\
      when_: {type: integer, default: as_of, description: Not a date.}
      nick: {type: string, personal: true, default: Bob, description: Personal.}
      level: {type: integer, default: lots, description: Level.}
      none_: {type: integer, default: null, description: Null.}
"""
    text = policy_text(facts=bad)
    assert problems(text) == [
        ("type-error", line_of(text, "when_:"), "'as_of' is a default for date facts only"),
        ("bad-default", line_of(text, "nick:"), "a personal fact cannot have a default"),
        ("type-error", line_of(text, "level:"), "default 'lots' is not a valid integer"),
        ("type-error", line_of(text, "none_:"), "default None is not a valid integer"),
    ]


def test_field_specs_check_values_fields_and_patterns() -> None:
    facts = FACTS + """\
      colour: {type: enum, description: No values.}
      size: {type: integer, values: [a], description: Values on an integer.}
      calls: {type: list, description: No fields.}
      flag: {type: bool, fields: {a: {type: bool}}, description: Fields on a bool.}
      code: {type: string, pattern: "(a)\\\\1", description: A backreference.}
"""
    text = policy_text(facts=facts)
    found = problems(text)
    assert [(code, line) for code, line, _ in found] == [
        ("missing-key", line_of(text, "colour:")),
        ("bad-key", line_of(text, "size:")),
        ("missing-key", line_of(text, "calls:")),
        ("bad-key", line_of(text, "flag:")),
        ("bad-pattern", line_of(text, "code:")),
    ]
    assert found[0][2] == "an enum needs 'values'"
    assert found[1][2] == "'values' applies to enum facts, not integer"
    assert found[2][2] == "a list fact needs 'fields' describing its records"
    assert found[3][2] == "'fields' applies to list facts only"
    assert found[4][2].startswith("the pattern cannot be used: ") and found[4][2].endswith("(patterns are RE2: no backreferences or lookaround)")


def test_list_facts_keep_their_record_fields_and_limits() -> None:
    facts = FACTS + """\
      calls:
        type: list
        max_items: 5
        description: Calls.
        fields:
          at: {type: datetime}
          kind: {type: enum, values: [a, b]}
      code: {type: string, pattern: "^[A-Z]+$", max_length: 7, description: Code.}
"""
    policy = compile_text(policy_text(facts=facts))
    calls = policy.facts["calls"].spec
    assert calls.max_items == 5 and set(calls.fields) == {"at", "kind"}
    assert calls.fields["kind"] == FieldSpec(type="enum", values=("a", "b"))
    code = policy.facts["code"].spec
    assert (code.pattern, code.max_length) == ("^[A-Z]+$", 7)


EVENTS = FACTS + """\
      born: {type: date, description: Born.}
      given_age: {type: integer, minimum: 0, maximum: 120, description: Age as given.}
      practice: {type: ods_code, description: Practice.}
      calls:
        type: list
        description: Calls.
        fields:
          at: {type: datetime}
          kind: {type: enum, values: [a, b]}
          note: {type: string}
"""


def test_derived_values_compile_with_their_inputs_bounds_and_filters() -> None:
    extra = """\
    derived:
      age_now:
        description: "Age   now."
        age_in_years: {birth_date: born, on: referred}
        alternative: given_age
      recent:
        description: Recent calls.
        count_events: {events: calls, date_field: at, window: {calendar_months: 3}, ending: referred, where: {field: kind, eq: a}}
      all_calls:
        description: All calls.
        count_events: {events: calls, date_field: at, window: {days: 10}, ending: referred}
"""
    text = policy_text(facts=EVENTS, extra=extra)
    policy = compile_text(text)
    age_now, recent, all_calls = policy.derived
    assert (age_now.kind, age_now.type, age_now.inputs, age_now.alternative) == ("age_in_years", "integer", ("born", "referred"), "given_age")
    assert age_now.bounds == (0, 120) and age_now.description == "Age now." and age_now.filter_node is None
    assert age_now.filter_key == "" and age_now.line == line_of(text, "age_now:")
    assert (recent.kind, recent.inputs, recent.filter_node) == ("count_events", ("calls", "referred"), Leaf("kind", "eq", "a"))
    assert recent.filter_key == '{"eq":"a","field":"kind"}' and recent.bounds == (None, None)
    assert all_calls.filter_node is None and all_calls.filter_key == "null"
    # a derived value can be tested like a fact
    rules = RULES.replace("{fact: age, lt: 18}", "{fact: recent, gte: 3}")
    assert compile_text(policy_text(facts=EVENTS, extra=extra, rules=rules)).rules[0].reads == ("recent",)


@pytest.mark.parametrize(
    ("extra", "code", "needle", "message"),
    [
        ("derived:\n  age:\n    description: Clash.\n    age_in_years: {birth_date: born, on: referred}\n",
         "duplicate-name", "age:", "'age' is already a fact"),
        ("derived:\n  x:\n    description: Two kinds.\n    age_in_years: {birth_date: born, on: referred}\n    lookup: {table: gp_practices, key: practice, field: name}\n",
         "bad-derived", "description: Two kinds.", "a derived value has exactly one of age_in_years, count_events, lookup"),
        ("derived:\n  x:\n    description: Wrong type.\n    age_in_years: {birth_date: age, on: referred}\n",
         "type-error", "birth_date: age", "'age' is integer; expected date"),
        ("derived:\n  x:\n    description: Unknown.\n    age_in_years: {birth_date: born, on: today}\n",
         "unknown-fact", "on: today", "unknown fact 'today'"),
        ("derived:\n  x:\n    description: Not a list.\n    count_events: {events: born, date_field: at, window: {days: 1}, ending: referred}\n",
         "type-error", "events: born", "'born' is date; expected list"),
        ("derived:\n  x:\n    description: Bad end.\n    count_events: {events: calls, date_field: at, window: {days: 1}, ending: member}\n",
         "type-error", "ending: member", "'member' is bool; expected date"),
        ("derived:\n  x:\n    description: Not a date field.\n    count_events: {events: calls, date_field: kind, window: {days: 1}, ending: referred}\n",
         "unknown-field", "date_field: kind", "'kind' is not a date field of 'calls'"),
        ("derived:\n  x:\n    description: No field.\n    count_events: {events: calls, date_field: a_t, window: {days: 1}, ending: referred}\n",
         "unknown-field", "date_field: a_t", "'a_t' is not a date field of 'calls'"),
        ("derived:\n  x:\n    description: Bad filter.\n    count_events: {events: calls, date_field: at, window: {days: 1}, ending: referred, where: {field: kind, eq: c}}\n",
         "unknown-value", "where:", None),
        ("derived:\n  x:\n    description: No table.\n    lookup: {table: gp_practices, key: practice, field: name}\n",
         "no-reference-data", "table: gp_practices", "no reference table 'gp_practices' is available to this policy"),
        ("derived:\n  x:\n    description: Bad key.\n    lookup: {table: gp_practices, key: born, field: name}\n",
         "type-error", "key: born", "'born' is date; expected ods_code or string"),
        ("derived:\n  x:\n    description: Bad alternative.\n    age_in_years: {birth_date: born, on: referred}\n    alternative: member\n",
         "type-error", "alternative: member", "'member' is bool; expected integer"),
    ],
)
def test_derived_value_errors(extra: str, code: str, needle: str, message: str | None) -> None:
    text = policy_text(facts=EVENTS, extra=extra)
    (found,) = problems(text)
    assert (found[0], found[1]) == (code, line_of(text, needle, last=True))
    if message is not None:
        assert found[2] == message


def test_a_derived_value_may_not_be_used_where_its_type_does_not_fit() -> None:
    # a look-up gives text: an alternative for it may be text-like, not a number
    extra = """\
    derived:
      x:
        description: Bad alternative.
        lookup: {table: gp_practices, key: practice, field: name}
        alternative: given_age
"""
    text = policy_text(facts=EVENTS, extra=extra)
    reference = {"gp_practices": builtin_register()}
    assert problems(text, reference=reference) == [
        ("type-error", line_of(text, "alternative: given_age"), "'given_age' is integer; expected string or ods_code or enum")
    ]
    fine = compile_text(policy_text(facts=EVENTS, extra=extra.replace("given_age", "practice")), reference=reference)
    assert fine.derived[0].inputs == ("practice",) and fine.derived[0].type == "string"
    assert fine.reference_data["gp_practices"] is reference["gp_practices"]


def test_criteria_compile_in_dependency_order_with_what_they_read() -> None:
    extra = """\
    criteria:
      grown:
        description: "Grown   up."
        when: {all: [{criterion: adult}, {fact: member, eq: true}]}
        assumption: Members who are adults.
      adult:
        description: Adult.
        when: {fact: age, gte: 18}
"""
    rules = RULES.replace("{fact: age, lt: 18}", "{not: {criterion: grown}}")
    text = policy_text(extra=extra, rules=rules)
    policy = compile_text(text)
    adult, grown = policy.criteria
    assert (adult.id, adult.reads, adult.citation, adult.line) == ("adult", ("age",), None, line_of(text, "adult:", last=True))
    assert (grown.id, grown.description, grown.reads) == ("grown", "Grown up.", ("age", "member"))
    assert grown.citation is not None and grown.citation.assumption == "Members who are adults."
    assert grown.node == Logic("all", (Ref("adult"), Leaf("member", "eq", True)))
    assert policy.rules[0].reads == ("age", "member")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("criteria:\n  age:\n    description: Clash.\n    when: {fact: member, eq: true}\n",
         [("duplicate-name", "age:", "'age' is already a fact or derived value")]),
        ("criteria:\n  one:\n    description: One.\n    when: {criterion: two}\n  two:\n    description: Two.\n    when: {criterion: one}\n",
         [("cycle", "one:", "criteria refer to each other in a cycle: one -> two -> one")]),
        ("criteria:\n  self_:\n    description: Self.\n    when: {any: [{criterion: self_}, {fact: member, eq: true}]}\n",
         [("cycle", "self_:", "criteria refer to each other in a cycle: self_ -> self_")]),
        ("effective: {from: '2026-02-30'}\n", [("bad-date", "2026-02-30", "effective from is not a real date (YYYY-MM-DD)")]),
        ("effective: {from: 2026-01-01, until: '2026-13-01'}\n", [("bad-date", "2026-13-01", "effective until is not a real date (YYYY-MM-DD)")]),
        ("calendar: {country: XX}\n", [("bad-calendar", "calendar:", None)]),
        # the schema's enum words it before the compiler's own check can
        ("calendar: {country: GB, subdivision: ENG, received_on_non_working_day: day_2}\n",
         [("bad-value", "day_2", "'day_2' is not one of: day_0, day_1")]),
    ],
)
def test_policy_level_errors(extra: str, expected: list[tuple[str, str, str | None]]) -> None:
    text = policy_text(extra=textwrap.indent(extra, ""))
    found = problems(text)
    assert [(code, line) for code, line, _ in found] == [(code, line_of(text, needle, last=True)) for code, needle, _ in expected]
    for (_, _, message), (_, _, wanted) in zip(found, expected, strict=True):
        if wanted is not None:
            assert message == wanted


def test_a_long_cycle_is_named_in_short() -> None:
    names = [f"c{i}" for i in range(14)]
    extra = "criteria:\n" + "".join(
        f"  {name}:\n    description: Link.\n    when: {{criterion: {names[(i + 1) % len(names)]}}}\n" for i, name in enumerate(names)
    )
    ((code, _, message),) = problems(policy_text(extra=extra))
    assert code == "cycle"
    assert message == "criteria refer to each other in a cycle: c0 -> c1 -> c2 -> c3 -> c4 -> c5 -> ... (4 more) -> c10 -> c11 -> c12 -> c13 -> c0"
    # twelve names are still written out in full
    names = names[:11]
    extra = "criteria:\n" + "".join(
        f"  {name}:\n    description: Link.\n    when: {{criterion: {names[(i + 1) % len(names)]}}}\n" for i, name in enumerate(names)
    )
    ((_, _, message),) = problems(policy_text(extra=extra))
    assert message.endswith(": " + " -> ".join([*names, "c0"]))


def test_calendar_and_effective_dates_reach_the_compiled_form() -> None:
    extra = "effective: {from: 2026-01-01, until: 2027-01-01}\ncalendar: {country: GB, subdivision: SCT, received_on_non_working_day: day_1}\n"
    policy = compile_text(policy_text(extra=extra))
    assert (policy.effective_from, policy.effective_until) == (dt.date(2026, 1, 1), dt.date(2027, 1, 1))
    assert (policy.calendar_country, policy.calendar_subdivision, policy.calendar_convention) == ("GB", "SCT", "day_1")
    policy = compile_text(policy_text(extra="calendar: {country: GB}\n"))
    assert (policy.calendar_country, policy.calendar_subdivision) == ("GB", None)


class Services:
    """A service lookup as the registry passes one: id to signpost, with a did-you-mean."""

    known: ClassVar[dict[str, Signpost]] = {"talking-therapies": Signpost("talking-therapies", "Talking Therapies")}

    def __call__(self, service_id: str) -> Signpost | None:
        return self.known.get(service_id)

    def closest(self, service_id: str) -> str | None:
        return "talking-therapies" if service_id.startswith("talking") else None


SIGNPOST_RULE = """\
      - id: elsewhere
        when: {fact: member, eq: false}
        outcome: signpost
        reason: Not a member.
        signpost: [talking-therapies]
        assumption: Members only.
"""


def test_signposts_are_checked_against_the_directory_and_kept_in_order() -> None:
    text = policy_text(rules=RULES + SIGNPOST_RULE)
    policy = compile_text(text, services=Services())
    assert policy.rules[1].signposts == ("talking-therapies",) and policy.rules[1].outcome is Outcome.SIGNPOST
    assert policy.services == {"talking-therapies": Services.known["talking-therapies"]}
    # without a directory, ids are kept but not looked up
    assert compile_text(text).services == {} and compile_text(text).rules[1].signposts == ("talking-therapies",)
    bad = policy_text(rules=RULES + SIGNPOST_RULE.replace("[talking-therapies]", "[talking-therapy, gone]"))
    with pytest.raises(PolicyError) as caught:
        compile_document(load_yaml_text(bad, "p.yaml"), services=Services(), on=dt.date(2026, 11, 20))
    found = [(p.code, p.line, p.column, p.message, p.suggestion) for p in caught.value.problems]
    line = line_of(bad, "signpost: [")
    assert found == [
        ("unknown-service", line, 20, "signposts to unknown service 'talking-therapy'", "talking-therapies"),
        ("unknown-service", line, 37, "signposts to unknown service 'gone'", None),
    ]


def test_rule_errors() -> None:
    rules = RULES + """\
      - id: child
        when: {fact: age, lt: 16}
        outcome: reject
        reason: Again.
        assumption: Twice.
      - id: nowhere
        when: {fact: member, eq: false}
        outcome: signpost
        reason: Nowhere.
        assumption: Somewhere.
      - id: both
        when: {fact: member, eq: true}
        outcome: accept
        reason: Both.
        assumption: Assumed.
        citation: {source: doc, quote: "Adults only."}
      - id: unsourced
        when: {fact: member, eq: true}
        outcome: accept
        reason: Unsourced.
        citation: {source: dco, quote: "Adults only."}
      - id: bare
        when: {fact: member, eq: true}
        outcome: accept
        reason: Bare.
"""
    text = policy_text(rules=rules)
    found = problems(text)
    second = [i for i, line in enumerate(text.splitlines(), start=1) if "- id: child" in line][1]
    assert found == [
        ("duplicate-rule", second, "rule id 'child' is used twice (first as rule 1)"),
        ("no-signpost", line_of(text, "- id: nowhere"), "a rule whose outcome is signpost must name where to ('signpost: [service-id]')"),
        ("citation-and-assumption", line_of(text, "assumption: Assumed."), "give a citation or an assumption, not both"),
        ("unknown-source", line_of(text, "source: dco"), "unknown source 'dco'"),
        ("no-citation", line_of(text, "- id: bare"), "needs a 'citation' (source and quote) or an 'assumption' saying why"),
    ]


def test_fallbacks_must_be_cited_and_the_missing_facts_fallback_never_accepts() -> None:
    text = policy_text(tail=TAIL.replace("      assumption: Everyone else.\n", ""))
    assert problems(text) == [
        ("no-citation", line_of(text, "reason: Fine.") - 1, "needs a 'citation' (source and quote) or an 'assumption' saying why"),
    ]
    text = policy_text(tail=TAIL.replace("outcome: reject", "outcome: accept"))
    assert problems(text) == [
        ("unsafe-fallback", line_of(text, "outcome: accept", last=True), "the outcome when facts are missing cannot be accept: a decision that unknown facts could change never accepts"),
    ]
    signposted = TAIL.replace("      assumption: Everyone else.\n", "      assumption: Everyone else.\n      signpost: [talking-therapies]\n")
    policy = compile_text(policy_text(tail=signposted), services=Services())
    assert policy.otherwise.signposts == ("talking-therapies",) and policy.incomplete.signposts == ()
    assert policy.otherwise.reason == "Fine." and policy.incomplete.outcome is Outcome.REJECT
    assert policy.services == {"talking-therapies": Services.known["talking-therapies"]}


def test_present_may_not_decide_an_accept_directly_or_through_criteria() -> None:
    extra = """\
    criteria:
      given:
        description: Given.
        when: {fact: member, present: true}
      wrapped:
        description: Wrapped.
        when: {all: [{criterion: given}, {criterion: given}]}
"""
    accept = RULES + """\
      - id: welcome
        when: {any: [{criterion: wrapped}, {fact: referred, present: true}]}
        outcome: accept
        reason: Welcome.
        assumption: Given means yes.
"""
    text = policy_text(extra=extra, rules=accept)
    found = problems(text)
    assert sorted((code, line) for code, line, _ in found) == [
        ("present-in-accept", line_of(text, "{fact: member, present: true}")),
        ("present-in-accept", line_of(text, "{fact: referred, present: true}")),
    ]
    assert sorted(message for _, _, message in found)[1].startswith("accept rule 'welcome' rests on whether 'referred' was given (present:)")
    # the same test in a reject rule is fine
    compile_text(policy_text(extra=extra, rules=accept.replace("outcome: accept", "outcome: reject")))


def test_two_policies_in_one_file_may_not_share_an_id() -> None:
    one = policy_text()
    text = one + one[len("policies:\n"):]
    assert problems(text) == [("duplicate-policy", line_of(text, "- id: tiny", last=True), "policy id 'tiny' is used twice in this file")]
    two = compile_document(load_yaml_text(one + one[len("policies:\n"):].replace("id: tiny", "id: tinier"), "p.yaml"))
    assert [p.id for p in two] == ["tiny", "tinier"]


STEPS = """\
    next_steps:
      - action: contact
        description: "Make   contact."
        on: [accept, signpost]
        due: {working_days: 7, after: referred}
        actual: contacted
        window_opens: {calendar_days: 2}
        citation: {source: doc, quote: "Within seven working days."}
      - action: review
        description: Review.
        on: [accept]
        due: {calendar_months: 3, after: {step: contact}}
        assumption: A quarterly review.
"""


def test_next_steps_compile_with_their_periods_and_anchors() -> None:
    facts = FACTS + "      contacted: {type: date, description: Contacted.}\n"
    policy = compile_text(policy_text(facts=facts, extra=STEPS))
    contact, review = policy.next_steps
    assert (contact.action, contact.description, contact.on) == ("contact", "Make contact.", (Outcome.ACCEPT, Outcome.SIGNPOST))
    assert (contact.amount, contact.unit, contact.after_fact, contact.after_step, contact.actual_fact) == (7, "working_days", "referred", None, "contacted")
    assert contact.window_start == (2, "calendar_days") and contact.citation.quote == "Within seven working days."
    assert (review.amount, review.unit, review.after_fact, review.after_step, review.actual_fact) == (3, "calendar_months", None, "contact", None)
    assert review.window_start is None and review.citation.assumption == "A quarterly review."


def test_next_step_errors() -> None:
    steps = STEPS.replace("after: {step: contact}", "after: {step: contcat}") + """\
      - action: contact
        description: Again.
        on: [accept]
        due: {weeks: 1, after: member}
        assumption: Twice.
      - action: third
        description: Third.
        on: [accept]
        due: {weeks: 1, after: referred}
"""
    text = policy_text(extra=steps)
    assert problems(text) == [
        ("unknown-fact", line_of(text, "actual: contacted"), "unknown fact 'contacted'"),
        ("unknown-step", line_of(text, "after: {step: contcat}"), "'contcat' is not an earlier next step"),
        ("duplicate-action", line_of(text, "- action: contact", last=True), "next step 'contact' is declared twice"),
        ("no-citation", line_of(text, "- action: third"), "needs a 'citation' (source and quote) or an 'assumption' saying why"),
    ]
    # a step may only follow an earlier one, and 'after' must be a date fact
    later = STEPS.replace("after: referred", "after: {step: review}").replace("        actual: contacted\n", "")
    text = policy_text(extra=later)
    assert [(code, line) for code, line, _ in problems(text)] == [("unknown-step", line_of(text, "after: {step: review}"))]
    wrong = STEPS.replace("after: referred", "after: member").replace("        actual: contacted\n", "")
    text = policy_text(extra=wrong)
    assert problems(text) == [("type-error", line_of(text, "after: member"), "'member' is bool; expected date")]


def test_the_rest_of_the_document_reaches_the_compiled_form() -> None:
    extra = """\
    description: "A policy\\n  for   tests."
    glossary: {GP: "general   practitioner"}
"""
    policy = compile_text(policy_text(extra=extra))
    assert policy.description == "A policy for tests." and policy.glossary == {"GP": "general practitioner"}
    assert policy.sources == {"doc": "doc.txt"}
    assert policy.source_records["doc"]["title"] == "A document"
    assert len(policy.digest) == 64 and policy.digest != compile_text(policy_text()).digest
    assert policy.parameters == {} and policy.unset_parameters == () and policy.periods == ()


PARAMETERS = """\
    parameters:
      adult_age:
        type: integer
        minimum: 0
        maximum: 130
        description: Adult from.
        values:
          2020-01-01: 18
          2027-01-01: 16
      unused:
        type: integer
        description: Changes with no effect on the rules' values.
        values:
          2020-01-01: 1
"""


def test_dated_parameters_compile_one_policy_per_period_in_force() -> None:
    rules = RULES.replace("{fact: age, lt: 18}", "{fact: age, lt: {param: adult_age}}")
    text = policy_text(extra="    effective: {from: 2021-06-01}\n" + PARAMETERS, rules=rules)
    policy = compile_text(text)
    assert policy.parameters == {"adult_age": 18, "unused": 1} and policy.rules[0].node == Leaf("age", "lt", 18)
    assert policy.parameter_specs["adult_age"]["values"] == {"2020-01-01": 18, "2027-01-01": 16}
    (start, own), (later, variant) = policy.periods
    # the policy's own values run from its effective date; a later value gives a second policy
    assert (start, own) == (dt.date(2021, 6, 1), None)
    assert later == dt.date(2027, 1, 1) and variant is not None
    assert variant.parameters["adult_age"] == 16 and variant.rules[0].node == Leaf("age", "lt", 16) and variant.periods == ()
    # a value given by the caller wins for every period: one policy
    fixed = compile_text(text, parameters={"adult_age": 21})
    assert fixed.rules[0].node == Leaf("age", "lt", 21) and fixed.periods == ()
    # without an effective date the first dated value opens the policy's life
    policy = compile_text(policy_text(extra=PARAMETERS, rules=rules))
    assert [day for day, _ in policy.periods] == [dt.date(2020, 1, 1), dt.date(2027, 1, 1)]
    # compiled as of a date in the later period, that period's policy is the one with no variant
    policy = compile_document(load_yaml_text(policy_text(extra=PARAMETERS, rules=rules), "p.yaml"), on=dt.date(2027, 6, 1))[0]
    assert policy.rules[0].node == Leaf("age", "lt", 16)
    assert [(day, variant is None) for day, variant in policy.periods] == [(dt.date(2020, 1, 1), False), (dt.date(2027, 1, 1), True)]
    assert policy.periods[0][1] is not None and policy.periods[0][1].rules[0].node == Leaf("age", "lt", 18)


def test_values_that_change_after_the_policy_ends_or_before_it_starts_give_one_period() -> None:
    rules = RULES.replace("{fact: age, lt: 18}", "{fact: age, lt: {param: adult_age}}")
    early = PARAMETERS.replace("2027-01-01: 16", "2020-06-01: 16")
    policy = compile_text(policy_text(extra="    effective: {from: 2021-01-01}\n" + early, rules=rules))
    assert policy.periods == () and policy.parameters["adult_age"] == 16


def test_a_derived_value_that_fails_is_unknown_to_the_conditions_after_it() -> None:
    extra = """\
    derived:
      years:
        description: Wrong input.
        age_in_years: {birth_date: member, on: referred}
"""
    rules = RULES.replace("{fact: age, lt: 18}", "{fact: years, lt: 18}")
    text = policy_text(facts=EVENTS, extra=extra, rules=rules)
    assert [(code, line) for code, line, _ in problems(text)] == [
        ("type-error", line_of(text, "birth_date: member")),
        ("unknown-fact", line_of(text, "{fact: years, lt: 18}")),
    ]


def test_fact_names_are_in_declaration_order_and_an_unknown_rule_is_named() -> None:
    policy = compile_text(policy_text())
    assert policy.fact_names() == ("age", "member", "referred")
    with pytest.raises(KeyError) as caught:
        policy.rule("adult")
    assert caught.value.args == ("adult",)


def test_a_missing_reference_table_is_reported_at_the_table() -> None:
    extra = """\
    derived:
      practice_name:
        description: Name.
        lookup:
          key: practice
          field: name
          table: gp_practices
"""
    text = policy_text(facts=EVENTS, extra=extra)
    assert problems(text) == [
        ("no-reference-data", line_of(text, "table: gp_practices"), "no reference table 'gp_practices' is available to this policy")
    ]
