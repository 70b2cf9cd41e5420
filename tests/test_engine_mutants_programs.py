"""The generated programs at their edges: derived values (ages, event counts, look-ups), and the
program itself, which decides plainly valid facts as the interpreter does and hands over the rest.

Written from mutmut's survivors (docs/testing.md).
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import recnav_rules
from recnav_rules.engine import codegen
from recnav_rules.engine.derive import build_derived, local_date, window_start
from recnav_rules.engine.evaluator import Evaluator
from recnav_rules.engine.model import Derived, Leaf
from recnav_rules.engine.native import NativeEngine
from recnav_rules.errors import FactProblem, FactValidationError

D = dt.date
LONDON = ZoneInfo("Europe/London")


def run(derived: Derived, env: dict[Any, Any], reference: dict[str, Any] | None = None) -> tuple[Any, list[str], list[str]]:
    problems: list[FactProblem] = []
    notes: list[str] = []
    value = build_derived(derived, reference or {})(env, problems, notes)
    return value, [f"{p.field}: {p.message}" for p in problems], notes


def age(bounds: tuple[float | None, float | None] = (None, None), alternative: str | None = None) -> Derived:
    return Derived("age", "age_in_years", "integer", "Age.", ("born", "on"), {}, alternative, bounds=bounds)


def test_local_date_reads_zoned_times_in_london_and_naive_ones_as_written() -> None:
    assert local_date(dt.datetime(2026, 6, 30, 23, 30, tzinfo=dt.UTC)) == D(2026, 7, 1)  # BST
    assert local_date(dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)) == D(2026, 12, 31)  # GMT
    assert local_date(dt.datetime(2026, 6, 30, 23, 30)) == D(2026, 6, 30)
    assert local_date(dt.datetime(9999, 12, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))) is None


@pytest.mark.parametrize(
    ("end", "months", "days", "start"),
    [
        (D(2026, 3, 31), 1, 0, D(2026, 2, 28)),
        (D(2026, 3, 31), 0, 30, D(2026, 3, 1)),
        (D(2026, 3, 31), 12, 5, D(2025, 3, 31)),  # months win over days
        (D(1, 1, 31), 1, 0, D.min),
        (D(1, 1, 5), 0, 10, D.min),
    ],
)
def test_window_start(end: dt.date, months: int, days: int, start: dt.date) -> None:
    assert window_start(end, months, days) == start


def test_an_age_is_unknown_until_both_dates_are_known_and_bounded_by_the_alternative() -> None:
    assert run(age(), {"born": D(2000, 6, 15)}) == (None, [], [])
    assert run(age(), {"on": D(2000, 6, 15)}) == (None, [], [])
    assert run(age(), {"born": D(2000, 6, 15), "on": D(2018, 6, 15)}) == (18, [], [])
    assert run(age(), {"born": D(2000, 6, 15), "on": D(2000, 6, 15)}) == (0, [], [])
    assert run(age(), {"born": D(2000, 6, 16), "on": D(2000, 6, 15)}) == (None, ["born: is after on (2000-06-15)"], [])
    bounded = age((0, 120))
    assert run(bounded, {"born": D(1900, 1, 1), "on": D(2020, 1, 1)}) == (120, [], [])
    assert run(bounded, {"born": D(1900, 1, 1), "on": D(2021, 1, 1)}) == (
        None,
        ["born: gives age outside the range the policy allows"],
        [],
    )
    low = age((18, None))
    assert run(low, {"born": D(2000, 1, 1), "on": D(2018, 1, 1)}) == (18, [], [])
    assert run(low, {"born": D(2000, 1, 2), "on": D(2018, 1, 1)})[0] is None


def test_an_alternative_fills_in_or_must_agree() -> None:
    derived = age(alternative="age_given")
    assert run(derived, {"age_given": 40}) == (40, [], [])
    assert run(derived, {}) == (None, [], [])
    both = {"born": D(2000, 6, 15), "on": D(2018, 6, 15)}
    assert run(derived, {**both, "age_given": 18}) == (18, [], [])
    assert run(derived, {**both, "age_given": 17}) == (
        None,
        ["age_given: 17 disagrees with age = 18 worked out from born and on"],
        [],
    )


def count(window: dict[str, int], where: Leaf | None = None) -> Derived:
    params = {"events": "calls", "date_field": "at", "window": window, "ending": "referred"}
    return Derived("n", "count_events", "integer", "Calls.", ("calls", "referred"), params, filter_node=where, filter_key=str(where))


def test_events_are_counted_inside_the_window_ends_included() -> None:
    calls = [{"at": D(2026, 2, 28), "kind": "a"}, {"at": D(2026, 3, 1), "kind": "b"}, {"at": D(2026, 3, 31), "kind": "a"}, {"at": D(2026, 4, 1), "kind": "a"}]
    env = {"calls": calls, "referred": D(2026, 3, 31)}
    assert run(count({"calendar_months": 1}), dict(env))[0] == 3  # 28 Feb to 31 Mar
    assert run(count({"days": 30}), dict(env))[0] == 2  # 1 Mar to 31 Mar
    assert run(count({"days": 30}, Leaf("kind", "eq", "a")), dict(env))[0] == 1
    assert run(count({"days": 30}), {"referred": D(2026, 3, 31)})[0] is None
    assert run(count({"days": 30}), {"calls": calls})[0] is None


def test_zoned_event_times_count_on_their_london_date_and_unreadable_ones_are_bad_facts() -> None:
    late = dt.datetime(2026, 3, 31, 23, 30, tzinfo=dt.UTC)  # 1 April in London (BST)
    env = {"calls": [{"at": late}], "referred": D(2026, 3, 31)}
    assert run(count({"days": 30}), env)[0] == 0
    far = dt.datetime(9999, 12, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    env = {"calls": [{"at": D(2026, 3, 30)}, {"at": far}], "referred": D(2026, 3, 31)}
    value, found, _ = run(count({"days": 30}), dict(env))
    assert value is None and found == ["calls[1].at: is outside the dates that can be handled"]
    problems: list[FactProblem] = []
    compute = build_derived(count({"days": 30}), {})
    shared = dict(env)
    assert compute(shared, problems, []) is None and [p.code for p in problems] == ["out-of-range"]
    # a second window over the same events in the same evaluation does not report it again
    assert compute(shared, problems, []) is None and len(problems) == 1


def test_an_unknown_derived_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown derived kind 'median'"):
        build_derived(Derived("m", "median", "integer", "M.", (), {}), {})


PROGRAM_POLICY = """\
policies:
  - id: programmed
    version: 1.0.0
    title: A policy for the generated program
    sources:
      doc: {file: doc.txt, title: A document}
    facts:
      age: {type: integer, minimum: 16, maximum: 120, description: Age.}
      member: {type: bool, description: Member.}
      urgent: {type: bool, default: false, description: Urgent.}
      colour: {type: enum, values: [red, green], description: Colour.}
      referred: {type: date, description: Referred.}
      seen: {type: date, default: as_of, description: Seen.}
      born: {type: date, description: Born.}
      given_age: {type: integer, minimum: 0, maximum: 120, description: Age given.}
      name: {type: string, personal: true, description: Name.}
      score: {type: number, minimum: 0, description: Score.}
      calls:
        type: list
        max_items: 3
        description: Calls.
        fields:
          at: {type: datetime}
          kind: {type: enum, values: [a, b]}
          night: {type: bool}
    derived:
      years:
        description: Years.
        age_in_years: {birth_date: born, on: referred}
        alternative: given_age
      a_calls:
        description: Calls of kind a in a month.
        count_events: {events: calls, date_field: at, window: {calendar_months: 1}, ending: referred, where: {all: [{field: kind, eq: a}, {not: {field: night, eq: true}}]}}
      any_calls:
        description: Calls in ten days.
        count_events: {events: calls, date_field: at, window: {days: 10}, ending: referred, where: {any: [{field: kind, in: [a, b]}, {field: night, eq: true}]}}
    criteria:
      adult:
        description: Adult.
        when: {fact: years, gte: 18}
      busy:
        description: Busy.
        when: {any: [{fact: a_calls, gte: 2}, {fact: any_calls, gt: 2}, {fact: urgent, eq: true}]}
    rules:
      - id: young
        when: {not: {criterion: adult}}
        outcome: reject
        reason: Young.
        assumption: A.
      - id: colourful
        when: {all: [{fact: colour, ne: red}, {fact: colour, not_in: [green]}, {fact: member, eq: false}]}
        outcome: reject
        reason: Colour.
        assumption: B.
      - id: seen-early
        when: {all: [{fact: seen, lt: 2026-01-01}, {fact: score, lte: 5}]}
        outcome: reject
        reason: Seen.
        assumption: C.
      - id: fine
        when: {all: [{criterion: adult}, {criterion: busy}, {fact: member, eq: true}, {fact: age, gte: 16}, {fact: colour, in: [red]}]}
        outcome: accept
        reason: Fine.
        assumption: D.
    otherwise:
      outcome: reject
      reason: No.
      assumption: E.
    incomplete:
      outcome: reject
      reason: Unknown.
      assumption: F.
"""

AS_OF = D(2026, 11, 20)
GOOD: dict[str, Any] = {
    "age": 40,
    "member": True,
    "colour": "red",
    "referred": "2026-11-20",
    "born": "1986-01-01",
    "name": "Ann Example",
    "score": 3.5,
    "calls": [
        {"at": "2026-11-01T12:00:00", "kind": "a", "night": False},
        {"at": "2026-11-19T23:30:00+00:00", "kind": "a", "night": False},
        {"at": "2026-11-15 10:00:00", "kind": "b", "night": True},
    ],
}


@pytest.fixture(scope="module")
def programmed(tmp_path_factory: pytest.TempPathFactory) -> recnav_rules.Policy:
    path = tmp_path_factory.mktemp("programmed") / "programmed.yaml"
    path.write_text(PROGRAM_POLICY, encoding="utf-8")
    return recnav_rules.load_policy(path)


def both(policy: recnav_rules.Policy, facts: dict[str, Any]) -> tuple[Any, Any]:
    """The generated program's result (None: handed to the interpreter) and the interpreter's decision."""
    program = codegen.build(policy.compiled)
    result = program(copy.deepcopy(facts), AS_OF)
    try:
        decision: Any = policy.evaluate(copy.deepcopy(facts), as_of=AS_OF, engine="interpreter")
    except FactValidationError as exc:
        decision = exc
    return result, decision


def agree(policy: recnav_rules.Policy, facts: dict[str, Any]) -> tuple[Any, ...]:
    """The program decides plainly valid facts itself, and as the interpreter does."""
    result, decision = both(policy, facts)
    assert result is not None, "plainly valid facts were handed to the interpreter"
    native = policy.evaluate(copy.deepcopy(facts), as_of=AS_OF, engine="native")
    assert native.to_dict() | {"engine": "-"} == decision.to_dict() | {"engine": "-"}
    assert native.truths() == decision.truths()
    # the program returns the facts given with some lists' records as rows; the decision makes them
    assert native._values is not None and decision._values is not None
    assert result[1].__class__ is dict and list(result[1]) == list(native._values)
    assert list(native._values.items()) == list(decision._values.items())
    env, _, defaults, personal, notes, values, leaves = result
    return env, native._values, defaults, personal, notes, values, leaves


def test_the_program_decides_valid_facts_as_the_interpreter_does(programmed: recnav_rules.Policy) -> None:
    env, given, defaults, personal, notes, values, _ = agree(programmed, GOOD)
    assert values == (False, False, False, True)
    assert env["years"] == 40 and env["a_calls"] == 2 and env["any_calls"] == 2
    assert env[("c", "adult")] is True and env[("c", "busy")] is True
    assert defaults == ["urgent", "seen"] and env["urgent"] is False and env["seen"] == AS_OF
    assert personal == ["name"] and "name" not in given and "name" not in env and notes == []
    assert given["referred"] == AS_OF and given["calls"][1]["at"] == dt.datetime(2026, 11, 19, 23, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "change",
    [
        {"age": 16},
        {"age": 120},
        {"given_age": 40},
        {"born": "2008-11-20"},  # 18 today
        {"born": "2008-11-21", "age": 17},  # 17: young
        {"member": False, "colour": "green"},
        {"member": None},
        {"urgent": True, "calls": []},
        {"calls": [{"at": "2026-10-20T00:00:00", "kind": "a", "night": False}] * 3},  # the window's first day
        {"calls": [{"at": "2026-10-19T23:59:00", "kind": "a", "night": False}] * 2},  # the day before
        {"calls": [{"at": "2026-11-10T00:00:00", "kind": "b", "night": False}] * 3},  # ten days: first day
        {"calls": [{"at": "2026-11-09T12:00:00", "kind": "b", "night": False}] * 3},
        {"calls": [{"at": "2026-11-20T12:00:00", "kind": "a", "night": True}] * 3},
        {"calls": ({"at": "2026-11-20T12:00:00", "kind": "a", "night": False},)},
        {"seen": "2025-12-31", "score": 5},
        {"seen": "2025-12-31", "score": 5.5},
        {"seen": "2026-01-01", "score": 0},
        {"colour": None, "born": None},
    ],
)
def test_the_program_agrees_at_the_edges(programmed: recnav_rules.Policy, change: dict[str, Any]) -> None:
    facts = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    agree(programmed, facts)


@pytest.mark.parametrize(
    "change",
    [
        {"age": 15},
        {"age": 121},
        {"age": 40.0},
        {"age": True},
        {"member": 1},
        {"colour": "blue"},
        {"referred": "2026-02-30"},
        {"seen": "2026-11-21"},  # an as-of default in the future
        {"given_age": 39},  # disagrees with the age worked out
        {"born": "2026-11-21"},  # born after the referral
        {"name": 5},
        {"score": -1},
        {"unknown": 1},
        {"calls": {"at": "2026-11-01T12:00:00"}},
        {"calls": [GOOD["calls"][0]] * 4},
        {"calls": [{"at": "2026-11-01T12:00:00", "kind": "a"}]},
        {"calls": [{"at": "2026-11-01T12:00:00", "kind": "c", "night": False}]},
        {"calls": [{"at": "2026-11-01T12:00:00", "kind": "a", "night": 0}]},
        {"calls": [{"at": "2026-11-01", "kind": "a", "night": False}]},
        {"calls": [{"at": "2026-11-01T12:00:00+01:00:30", "kind": "a", "night": False}]},
        {"calls": [{"at": "2026-13-01T12:00:00", "kind": "a", "night": False}]},
        {"calls": [{"at": "9999-12-31T23:30:00-05:00", "kind": "a", "night": False}]},
        {"calls": [["2026-11-01T12:00:00", "a", False]]},
    ],
)
def test_anything_not_plainly_valid_is_handed_to_the_interpreter(programmed: recnav_rules.Policy, change: dict[str, Any]) -> None:
    result, decision = both(programmed, {**GOOD, **change})
    assert result is None
    native: Any
    try:
        native = programmed.evaluate({**GOOD, **change}, as_of=AS_OF)
    except FactValidationError as exc:
        native = exc
    assert type(native) is type(decision)
    if isinstance(decision, FactValidationError):
        assert [p.field for p in native.problems] == [p.field for p in decision.problems]
    else:
        assert native.outcome == decision.outcome


def test_facts_that_are_not_a_dict_are_handed_over() -> None:
    policy = recnav_rules.load_policy("bnssg-hiu-pilot")
    program = codegen.build(policy.compiled)
    assert program([], AS_OF) is None
    assert program({"not_a_fact": 1}, AS_OF) is None


def test_plainly_valid_facts_never_reach_the_interpreters_evaluate(programmed: recnav_rules.Policy) -> None:
    interpreter = Evaluator(programmed.compiled, recnav_rules.__version__)
    native = NativeEngine(interpreter)
    handed: list[Any] = []
    real = interpreter.evaluate

    def spy(facts: Any, as_of: dt.date, engine: str = "interpreter") -> Any:
        handed.append(engine)
        return real(facts, as_of, engine)

    interpreter.evaluate = spy  # type: ignore[method-assign]
    decided = native.evaluate(copy.deepcopy(GOOD), AS_OF)
    assert handed == [] and decided.engine == "native" and decided.outcome is recnav_rules.Outcome.ACCEPT
    # a valid but not plain value (a whole float for an integer) is decided by the interpreter,
    # under the native engine's name
    handed_over = native.evaluate({**copy.deepcopy(GOOD), "age": 40.0}, AS_OF)
    assert handed == ["native"] and handed_over.engine == "native"
    assert handed_over.to_dict() | {"facts_digest": "-"} == decided.to_dict() | {"facts_digest": "-"}
    assert native.evaluate(copy.deepcopy(GOOD), AS_OF, engine="batch").engine == "batch"


def test_the_constants_are_described_for_reviewers(programmed: recnav_rules.Policy) -> None:
    shown = codegen.describe_constants(programmed.compiled)
    assert len(shown) == len(codegen.generate(programmed.compiled).constants)
    texts = list(shown.values())
    assert "'age'" in texts and "16" in texts
    functions = [text for text in texts if text.startswith("<function ")]
    assert functions and all(text.endswith(">") and " at 0x" not in text for text in functions)
