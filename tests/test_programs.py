"""The compiled form and its programs: the safety rule of generated code, pickling, digests,
the decision record, and the defects found in the engine (issue 9), each with its test."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import io
import json
import pickle
import re
import tokenize
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

import recnav_rules
from recnav_rules import FactValidationError, Outcome, Policy, PolicyError
from recnav_rules.canonical import MAX_SAFE_INTEGER, canonical_bytes, canonical_json
from recnav_rules.engine import codegen, conditions
from recnav_rules.facts_input import parse_facts_text
from tests.conftest import AS_OF, BASELINE, calls

NETWORK4 = {"network4_pcn_code": "FIXT004"}


def builtins() -> list[Policy]:
    found = []
    for info in recnav_rules.list_policies():
        if info.origin == "builtin":
            found.append(recnav_rules.load_policy(info.id, parameters=NETWORK4 if "network4" in info.id else None))
    return found


# -- the safety rule of generated code ---------------------------------------------------------

_ALLOWED_NAMES = re.compile(
    r"(k|v|l|c|r|t|f|days)\d+|K|make|program|records|rows|row|facts|as_of|personal|p|env|defaults|notes|rec|day|same"
    r"|None|True|False|and|or|not|is|in|if|elif|else|for|return|try|except|def"
    # attributes and methods of values the program reads: types, dicts, lists, dates
    r"|__class__|issuperset|get|copy|append|year|month|date|tzinfo|values|del"
)

HOSTILE_STRINGS = [
    'a "quoted" value',
    "back\\slash",
    "new\nline",
    'triple """ quotes',
    "__import__('os').system('touch /tmp/recnav-pwned')",
    "{} {0} %s",
]


def assert_safe(source: str) -> None:
    """Only compiler-made names, keywords, operators and integer indexes; no text at all."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME:
            assert _ALLOWED_NAMES.fullmatch(token.string), f"unexpected name {token.string!r}"
        elif token.type == tokenize.STRING:
            pytest.fail(f"a string literal in generated code: {token.string!r}")
        elif token.type == tokenize.NUMBER:
            assert token.string.isdigit(), f"a non-index number: {token.string!r}"
        elif token.type == tokenize.COMMENT:
            pytest.fail(f"a comment in generated code: {token.string!r}")


@pytest.mark.parametrize("policy", builtins(), ids=lambda p: p.id)
def test_generated_source_of_every_builtin_policy_is_safe(policy: Policy) -> None:
    assert_safe(policy.program_source())
    assert_safe(codegen.generate(policy.compiled, as_given=True).source)  # the batch lines' program
    for fields in codegen.packed_lists(policy.compiled).values():  # the record makers' source too
        assert_safe(codegen.records_source(fields).source)


def test_records_are_made_from_rows_by_generated_code_with_hostile_field_names() -> None:
    fields = tuple(HOSTILE_STRINGS)
    made = codegen.records_source(fields)
    assert_safe(made.source)
    records = codegen._compile(made)
    rows = ((1, 2, 3, 4, 5, 6), (True, None, "x", 0, [], {}))
    assert records(rows) == tuple(dict(zip(fields, row, strict=True)) for row in rows)
    assert records(()) == ()


def hostile_policy(tmp_path: Path) -> Path:
    values = ", ".join(json.dumps(v) for v in HOSTILE_STRINGS)
    text = f"""\
policies:
  - id: hostile
    version: 1.0.0
    title: {json.dumps("A policy whose strings try to escape: " + HOSTILE_STRINGS[4])}
    sources:
      doc: {{file: doc.txt, title: {json.dumps(HOSTILE_STRINGS[3])}}}
    facts:
      kind: {{type: enum, values: [{values}], description: {json.dumps(HOSTILE_STRINGS[2])}}}
      note: {{type: string, description: {json.dumps(HOSTILE_STRINGS[0])}}}
    rules:
      - id: injected
        when: {{fact: kind, eq: {json.dumps(HOSTILE_STRINGS[4])}}}
        outcome: reject
        reason: {json.dumps(HOSTILE_STRINGS[5] + HOSTILE_STRINGS[1])}
        assumption: {json.dumps(HOSTILE_STRINGS[3])}
      - id: noted
        when: {{fact: note, eq: {json.dumps(HOSTILE_STRINGS[3] + HOSTILE_STRINGS[2])}}}
        outcome: accept
        reason: {json.dumps(HOSTILE_STRINGS[0])}
        assumption: {json.dumps(HOSTILE_STRINGS[1])}
    otherwise:
      outcome: reject
      reason: Nothing matched.
      assumption: {json.dumps(HOSTILE_STRINGS[4])}
    incomplete:
      outcome: reject
      reason: Unknown.
      assumption: {json.dumps(HOSTILE_STRINGS[2])}
"""
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_hostile_strings_decide_correctly_and_run_nothing(tmp_path: Path) -> None:
    policy = recnav_rules.load_policy(hostile_policy(tmp_path))
    assert_safe(policy.program_source())
    assert_safe(codegen.generate(policy.compiled, as_given=True).source)
    marker = Path("/tmp/recnav-pwned")
    marker.unlink(missing_ok=True)
    for value in HOSTILE_STRINGS:
        for note in (None, HOSTILE_STRINGS[3] + HOSTILE_STRINGS[2], "plain"):
            facts: dict[str, Any] = {"kind": value} if note is None else {"kind": value, "note": note}
            native = policy.evaluate(facts, as_of=AS_OF)
            reference = policy.evaluate(facts, as_of=AS_OF, engine="interpreter")
            assert native.to_dict(trace=True) | {"engine": None} == reference.to_dict() | {"engine": None}
            expected = "reject" if value == HOSTILE_STRINGS[4] else ("accept" if note == HOSTILE_STRINGS[3] + HOSTILE_STRINGS[2] else "reject")
            assert native.outcome.value == expected
    assert not marker.exists()


def test_the_program_runs_without_builtins(hiu: Policy) -> None:
    program = hiu._native.program
    assert program.__globals__["__builtins__"] == {}
    assert set(program.__globals__) == {"__builtins__", "make"}
    assert program.__code__.co_freevars and all(name.startswith("k") for name in program.__code__.co_freevars)


def test_cli_prints_the_program(capsys: pytest.CaptureFixture[str]) -> None:
    from recnav_rules.cli import main

    assert main(["program", "bnssg-hiu-pilot", "--constants"]) == 0
    out = capsys.readouterr().out
    assert "def make(K):\n    k0 = K[0]\n" in out
    assert "\n    def program(facts, as_of):\n" in out
    assert "# K[1] = " in out
    assert "# K[" in out and "= <function ods_code_of>" in out  # functions shown by their own names


# -- the intermediate form is data --------------------------------------------------------------


@pytest.mark.parametrize("policy", builtins(), ids=lambda p: p.id)
def test_policies_pickle_as_their_intermediate_form(policy: Policy) -> None:
    copied = pickle.loads(pickle.dumps(policy))
    assert copied.digest == policy.digest
    assert dataclasses.replace(copied.compiled, reference_data={}) == dataclasses.replace(policy.compiled, reference_data={})
    assert {k: v.digest for k, v in copied.compiled.reference_data.items()} == {
        k: v.digest for k, v in policy.compiled.reference_data.items()
    }
    facts = BASELINE if policy.id == "bnssg-hiu-pilot" else {}
    assert copied.evaluate(facts, as_of=AS_OF) == policy.evaluate(facts, as_of=AS_OF)


def test_the_compiled_form_holds_no_functions(hiu: Policy) -> None:
    seen: set[int] = set()

    def walk(value: Any, where: str) -> None:
        if id(value) in seen or isinstance(value, str | int | float | bool | dt.date | type(None)):
            return
        seen.add(id(value))
        assert not callable(value) or isinstance(value, type), f"a function in the compiled form at {where}"
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{where}[{key!r}]")
        elif isinstance(value, list | tuple | frozenset):
            for index, item in enumerate(value):
                walk(item, f"{where}[{index}]")
        elif hasattr(value, "__dataclass_fields__"):
            for name in value.__dataclass_fields__:
                walk(getattr(value, name), f"{where}.{name}")

    walk(hiu.compiled, "policy")


# -- digests: RFC 8785 -------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_bytes_are_rfc8785(value: Any) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_take_the_rfc8785_path(number: float) -> None:
    assert canonical_bytes({"x": [number]}) == rfc8785.dumps({"x": [number]})


def test_dates_are_iso_text_in_digests() -> None:
    assert canonical_json({"b": dt.date(2026, 1, 2), "a": 1}) == '{"a":1,"b":"2026-01-02"}'


def test_facts_digest_is_recomputable_from_the_checked_facts(hiu: Policy) -> None:
    decision = hiu.evaluate(BASELINE | {"emergency_calls": calls("2026-11-01")}, as_of=AS_OF)
    import hashlib

    assert decision.facts_digest == hashlib.sha256(rfc8785.dumps(decision.checked_facts)).hexdigest()


# -- the decision record ------------------------------------------------------------------------


def test_the_trace_carries_every_leaf_condition_with_its_place(hiu: Policy) -> None:
    decision = hiu.evaluate(BASELINE | {"in_custody": True}, as_of=AS_OF)
    step = next(s for s in decision.trace if s.id == "in-custody")
    assert step.value == "true" and step.line is not None
    assert [(c.text, c.value) for c in step.conditions] == [("in_custody", "true")]
    data = decision.to_dict()
    assert data["trace"][[s["id"] for s in data["trace"]].index("in-custody")]["conditions"][0]["value"] == "true"
    every = sum(len(s.conditions) for s in decision.trace)
    assert every == len(codegen.leaf_list(hiu.compiled))


def test_program_and_interpreter_records_are_equal(hiu: Policy) -> None:
    facts = BASELINE | {"emergency_calls": calls("2026-11-01", "2026-10-25")}
    del facts["consent_to_referral"]
    assert hiu.evaluate(facts, as_of=AS_OF).trace == hiu.evaluate(facts, as_of=AS_OF, engine="interpreter").trace


# -- defects ------------------------------------------------------------------------------------


def test_b_decisions_are_immutable_values(hiu: Policy) -> None:
    first = hiu.evaluate(BASELINE, as_of=AS_OF)
    second = hiu.evaluate(BASELINE, as_of=AS_OF)
    with pytest.raises(TypeError):
        first.reference_data["gp_practices"]["name"] = "changed"  # type: ignore[index]
    with pytest.raises(AttributeError):
        first.outcome = Outcome.REJECT  # type: ignore[misc]
    first.to_dict()["reference_data"]["gp_practices"]["name"] = "changed"
    first.missing_facts.append("tampered")
    assert second.to_dict()["reference_data"] == hiu.evaluate(BASELINE, as_of=AS_OF).to_dict()["reference_data"]
    assert "tampered" not in second.missing_facts
    # each read of a list field is the reader's own list: not even the same decision changes
    for name in ("missing_facts", "reasons", "signposts", "next_steps", "could_change", "assumed_facts", "missing_fact_groups"):
        got = getattr(first, name)
        got.append("tampered")
        assert "tampered" not in getattr(first, name)
    assert "tampered" not in first.missing_facts


@pytest.mark.parametrize("text", ["2026W475", "2026-W47-5", "20261120", "2026-11-20T00:00", " 2026-11-20", "2026-11-2"])
def test_c_one_date_reader_for_as_of_and_facts(hiu: Policy, text: str) -> None:
    with pytest.raises(FactValidationError) as caught:
        hiu.evaluate(BASELINE, as_of=text)
    assert caught.value.fields == ("as_of",)
    with pytest.raises(FactValidationError) as caught:
        hiu.evaluate(BASELINE | {"referral_date": text}, as_of=AS_OF)
    assert caught.value.fields == ("referral_date",)


def test_c_default_as_of_is_today_in_london(hiu: Policy) -> None:
    facts = dict(BASELINE)
    del facts["referral_date"]
    before = dt.datetime.now(ZoneInfo("Europe/London")).date()
    decision = hiu.evaluate(facts)
    after = dt.datetime.now(ZoneInfo("Europe/London")).date()
    assert decision.as_of in (before, after)


@pytest.mark.parametrize("engine", ["native", "interpreter"])
def test_d_extreme_values_are_bad_facts_or_decisions_never_crashes(hiu: Policy, engine: str) -> None:
    # windows reaching back before year 1 hold every call; a baby is signposted, not a crash
    year_one = BASELINE | {"referral_date": "0001-01-05", "date_of_birth": "0001-01-01", "emergency_calls": calls("0001-01-02")}
    decision = hiu.evaluate(year_one, as_of=AS_OF, engine=engine)  # type: ignore[arg-type]
    assert decision.outcome is Outcome.SIGNPOST and decision.reasons[0].rule_id == "under-18"
    late = BASELINE | {"emergency_calls": [{"at": "9999-12-31T23:30:00-01:00", "category": "emergency", "location": "private_dwelling"}]}
    with pytest.raises(FactValidationError) as caught:
        hiu.evaluate(late, as_of=AS_OF, engine=engine)  # type: ignore[arg-type]
    assert caught.value.fields == ("emergency_calls[0].at",)
    with pytest.raises(FactValidationError) as caught:
        hiu.evaluate(BASELINE | {"qualifying_calls_1_month": 10**5000}, as_of=AS_OF, engine=engine)  # type: ignore[arg-type]
    assert caught.value.fields == ("qualifying_calls_1_month",) and len(str(caught.value)) < 300
    with pytest.raises(FactValidationError) as caught:
        hiu.evaluate(BASELINE | {"date_of_birth": "0001-01-01"}, as_of=AS_OF, engine=engine)  # type: ignore[arg-type]
    assert caught.value.fields == ("date_of_birth",)
    assert "age_years" in str(caught.value)


def test_d_as_of_at_the_end_of_time_is_a_bad_fact(hiu: Policy) -> None:
    facts = BASELINE | {"referral_date": "9999-12-30", "date_of_birth": "9970-01-01"}
    with pytest.raises(FactValidationError) as caught:
        hiu.evaluate(facts, as_of=dt.date(9999, 12, 30))
    assert caught.value.fields == ("referral_date",)


def test_e_duplicate_keys_in_json_facts_are_refused() -> None:
    text = '{\n  "consent_to_referral": false,\n  "consent_to_referral": true\n}'
    with pytest.raises(PolicyError) as caught:
        parse_facts_text(text, "facts.json")
    error = caught.value
    assert (error.code, error.line, error.column) == ("duplicate-key", 3, 3)
    assert "consent_to_referral" in str(error)


PERSONAL_POLICY = """\
policies:
  - id: personal
    version: 1.0.0
    title: Personal facts
    sources:
      doc: {file: doc.txt, title: A document}
    facts:
      gender: {type: enum, values: [female, male, other], personal: true, description: Gender.}
      practice: {type: ods_code, personal: true, description: A personal ODS code.}
      birth_year: {type: integer, maximum: 2026, personal: true, description: Year of birth.}
      nickname: {type: string, pattern: "[a-z]+", personal: true, description: A name.}
      born: {type: date, personal: true, description: Date of birth.}
      member: {type: bool, description: Member.}
    rules:
      - id: ok
        when: {fact: member, eq: true}
        outcome: accept
        reason: Member.
        assumption: Members only.
    otherwise: {outcome: reject, reason: No., assumption: Members only.}
    incomplete: {outcome: reject, reason: Unknown., assumption: Members only.}
"""


def test_f_no_personal_value_in_any_message(tmp_path: Path) -> None:
    path = tmp_path / "personal.yaml"
    path.write_text(PERSONAL_POLICY, encoding="utf-8")
    policy = recnav_rules.load_policy(path)
    bad = {"gender": "Transgender woman", "practice": "John Smith!", "birth_year": 2099, "nickname": "John Smith", "born": "Jo-hn-Smith"}
    for name, value in bad.items():
        with pytest.raises(FactValidationError) as caught:
            policy.evaluate({name: value, "member": True}, as_of=AS_OF)
        text = str(caught.value) + json.dumps([p.to_dict() for p in caught.value.problems])
        assert caught.value.fields == (name,)
        assert str(value) not in text and "John" not in text and "Transgender" not in text


def test_g_missing_facts_keep_their_groups(hiu: Policy) -> None:
    facts = dict(BASELINE)
    del facts["date_of_birth"], facts["in_custody"]
    decision = hiu.evaluate(facts, as_of=AS_OF)
    assert decision.missing_facts == ["date_of_birth", "age", "in_custody"]
    assert decision.missing_fact_groups == [["date_of_birth", "age"], ["in_custody"]]
    assert decision.to_dict()["missing_fact_groups"] == [["date_of_birth", "age"], ["in_custody"]]
    assert "date_of_birth or age; in_custody" in decision.explain().replace("\n", " ")
    assert recnav_rules.Decision.from_dict(decision.to_dict()).missing_fact_groups == decision.missing_fact_groups


def test_h_facts_that_could_still_change_the_reasons(hiu: Policy) -> None:
    facts = dict(BASELINE) | {"gp_practice_code": "L85001"}  # a Somerset GP: a complete signpost
    del facts["date_of_birth"]
    decision = hiu.evaluate(facts, as_of=AS_OF)
    assert decision.complete and decision.outcome is Outcome.SIGNPOST and decision.missing_facts == []
    assert decision.could_change == ["date_of_birth", "age"]
    assert "could still change the reasons" in decision.explain()
    with_age = hiu.evaluate(facts | {"age": 16}, as_of=AS_OF)
    assert {s.service_id for s in with_age.signposts} > {s.service_id for s in decision.signposts}
    assert hiu.evaluate(BASELINE, as_of=AS_OF).could_change == []


def test_i_an_accept_resting_on_a_declared_default_names_it() -> None:
    policy = recnav_rules.load_policy("somerset-waiting-list")
    facts = {"on_ctt_waiting_list": True, "identified_at_ctt_assessment": True, "risk_increased": False, "referral_date": "2026-11-02"}
    decision = policy.evaluate(facts, as_of=AS_OF)
    assert decision.outcome is Outcome.ACCEPT
    assert "in_crisis" in decision.assumed_facts
    assert "in_crisis" in decision.explain()
    given = policy.evaluate(facts | {"in_crisis": False}, as_of=AS_OF)
    assert "in_crisis" not in given.assumed_facts


def chain_policy(levels: int) -> str:
    criteria = ["      c0: {description: base, when: {fact: a, eq: true}}"]
    for level in range(1, levels):
        criteria.append(
            f"      c{level}: {{description: level, when: {{any: [{{criterion: c{level - 1}}}, {{all: [{{criterion: c{level - 1}}}, {{fact: b, eq: true}}]}}]}}}}"
        )
    body = "\n".join(criteria)
    return f"""\
policies:
  - id: chain
    version: 1.0.0
    title: Chained criteria
    sources:
      doc: {{file: doc.txt, title: A document}}
    facts:
      a: {{type: bool, description: A.}}
      b: {{type: bool, description: B.}}
    criteria:
{body}
    rules:
      - id: top
        when: {{criterion: c{levels - 1}}}
        outcome: accept
        reason: Top.
        assumption: Test.
    otherwise: {{outcome: reject, reason: No., assumption: Test.}}
    incomplete: {{outcome: reject, reason: Unknown., assumption: Test.}}
"""


def test_j_missing_facts_cost_is_linear_in_the_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "chain.yaml"
    path.write_text(chain_policy(22), encoding="utf-8")
    policy = recnav_rules.load_policy(path)
    counted = {"n": 0}
    real = conditions.missing_inputs

    def counting(*args: Any, **kwargs: Any) -> Any:
        counted["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(conditions, "missing_inputs", counting)
    decision = policy.evaluate({"b": True}, as_of=AS_OF)
    assert not decision.complete and decision.missing_facts == ["a"]
    assert counted["n"] < 10 * 22  # doubling per level would be millions


def test_decisions_copy_and_compare_by_value(hiu: Policy) -> None:
    decision = hiu.evaluate(BASELINE, as_of=AS_OF)
    assert copy.deepcopy(decision) == decision
    assert pickle.loads(pickle.dumps(decision)) == decision


@pytest.mark.parametrize(
    "change",
    [{}, {"in_custody": None}, {"date_of_birth": None, "age": 17}, {"emergency_calls": calls("2026-11-01", "2026-10-20")}],
)
def test_the_json_trace_is_the_rendered_trace(hiu: Policy, change: dict[str, Any]) -> None:
    facts = {k: v for k, v in (BASELINE | change).items() if v is not None}
    decision = hiu.evaluate(facts, as_of=AS_OF)
    fast = decision.to_dict()["trace"]
    assert fast == [step.to_dict() for step in decision.trace]
    assert json.loads(decision.to_json()) == decision.to_dict()


@pytest.mark.parametrize(("convention", "due"), [("day_0", dt.date(2026, 12, 2)), ("day_1", dt.date(2026, 12, 1))])
def test_a_weekend_referral_counts_working_days_by_the_policy_convention(tmp_path: Path, convention: str, due: dt.date) -> None:
    text = (Path(__file__).parents[1] / "policies" / "bnssg.yaml").read_text(encoding="utf-8")
    assert "received_on_non_working_day: day_0" in text
    path = tmp_path / "bnssg.yaml"
    path.write_text(text.replace("received_on_non_working_day: day_0", f"received_on_non_working_day: {convention}", 1), encoding="utf-8")
    policy = recnav_rules.load_policy(f"{path}#bnssg-hiu-pilot")
    saturday = BASELINE | {"referral_date": "2026-11-21"}  # a Saturday: Monday 23rd is the next working day
    for engine in ("native", "interpreter"):
        decision = policy.evaluate(saturday, as_of=dt.date(2026, 11, 21), engine=engine)  # type: ignore[arg-type]
        assert decision.outcome is Outcome.ACCEPT
        assert decision.next_steps[0].due == due


def test_truths_are_the_compact_record(hiu: Policy) -> None:
    facts = dict(BASELINE)
    del facts["in_custody"]
    decision = hiu.evaluate(facts, as_of=AS_OF)
    truths = decision.truths()
    assert truths["rules"]["in-custody"] == "unknown" and truths["rules"]["accept"] == "unknown"
    rendered = recnav_rules.Decision.from_dict(decision.to_dict())
    assert rendered.truths() == truths
    assert len(truths["conditions"]) == len(codegen.leaf_list(hiu.compiled))


def test_the_fast_constructor_matches_the_field_order(hiu: Policy) -> None:
    from recnav_rules.decision import _FIELDS, _PRIVATE

    decision = hiu.evaluate(BASELINE, as_of=AS_OF)
    assert len(decision._d) == len(_FIELDS) + len(_PRIVATE)
    assert decision.policy_id == "bnssg-hiu-pilot" and decision.engine == "native" and decision.as_of == AS_OF
    assert decision.decision_id is None and isinstance(decision.parameters["adult_age"], int)
    rebuilt = recnav_rules.Decision.from_dict(decision.to_dict())
    assert rebuilt == decision and rebuilt.with_decision_id("x").decision_id == "x"


@pytest.mark.parametrize("engine", ["native", "interpreter"])
def test_an_offset_with_seconds_is_not_iso_8601(hiu: Policy, engine: str) -> None:
    odd = BASELINE | {"emergency_calls": [{"at": "2026-11-01T12:00:00+05:30:15", "category": "emergency", "location": "private_dwelling"}]}
    with pytest.raises(FactValidationError) as caught:
        hiu.evaluate(odd, as_of=AS_OF, engine=engine)  # type: ignore[arg-type]
    assert caught.value.fields == ("emergency_calls[0].at",)


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
    st.sampled_from([None, dt.UTC, dt.timezone(dt.timedelta(hours=-1)), dt.timezone(dt.timedelta(hours=5, minutes=30))]),
)
def test_checked_times_digest_as_rfc8785_of_iso_text(moment: dt.datetime, zone: dt.tzinfo | None) -> None:
    value = {"at": moment.replace(tzinfo=zone), "day": moment.date()}
    text = {"at": value["at"].isoformat(), "day": value["day"].isoformat()}
    assert canonical_bytes(value, floats=False, checked_times=True) == rfc8785.dumps(text)


def test_an_accept_cannot_rest_on_whether_a_fact_was_given(tmp_path: Path) -> None:
    from tests.test_language import MINIMAL

    text = MINIMAL.replace("adult:\n        description: Grown up.\n        when: {fact: age, gte: 18}", "adult:\n        description: Grown up.\n        when: {all: [{fact: age, gte: 18}, {fact: colour, present: false}]}")
    assert text != MINIMAL
    path = tmp_path / "present.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        recnav_rules.load_policy(path)
    assert caught.value.code == "present-in-accept" and caught.value.line is not None
    assert "rule 'ok'" in str(caught.value)
    routed = MINIMAL.replace("when: {fact: age, lt: 18}", "when: {fact: colour, present: false}")
    path.write_text(routed, encoding="utf-8")
    policy = recnav_rules.load_policy(path)  # a reject may rest on it
    assert policy.evaluate({"age": 40, "member": True}, as_of=AS_OF).reasons[0].rule_id == "child"


def long_chain(levels: int) -> str:
    criteria = ["      c0: {description: base, when: {fact: a, eq: true}}"]
    criteria += [f"      c{n}: {{description: level, when: {{criterion: c{n - 1}}}}}" for n in range(1, levels)]
    text = chain_policy(2)
    head, rules = text.split("    rules:")
    body = head.split("    criteria:\n")[1]
    rules = rules.replace("{criterion: c1}", f"{{criterion: c{levels - 1}}}")
    return head.replace(body, "\n".join(criteria) + "\n") + "    rules:" + rules


@pytest.mark.parametrize("engine", ["native", "interpreter"])
def test_a_chain_of_3000_criteria_loads_and_decides(tmp_path: Path, engine: str) -> None:
    path = tmp_path / "chain.yaml"
    path.write_text(long_chain(3000), encoding="utf-8")
    policy = recnav_rules.load_policy(path)
    assert policy.evaluate({"a": True}, as_of=AS_OF, engine=engine).outcome is Outcome.ACCEPT  # type: ignore[arg-type]
    unknown = policy.evaluate({}, as_of=AS_OF, engine=engine)  # type: ignore[arg-type]
    assert not unknown.complete and unknown.missing_facts == ["a"]
    assert len(unknown.trace) == 3001


def _patterns(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["pattern"]] if isinstance(value.get("pattern"), str) else []
        return found + [p for item in value.values() for p in _patterns(item)]
    if isinstance(value, list):
        return [p for item in value for p in _patterns(item)]
    return []


@pytest.mark.parametrize(
    ("schema", "good"),
    [("cases.schema.json", "2026-11-20"), ("services.schema.json", "own-gp-practice"), ("fhir-mapping.schema.json", "Patient")],
)
def test_anchored_schema_patterns_refuse_a_trailing_newline(schema: str, good: str) -> None:
    """JSON Schema patterns are searched with Python's ``re``, where ``$`` also matches before a
    final newline: every anchored pattern that accepts a value refuses it with a newline added."""
    patterns = _patterns(json.loads((Path(__file__).parents[1] / "schemas" / schema).read_text(encoding="utf-8")))
    matching = [p for p in patterns if re.search(p, good)]
    assert matching, schema
    for pattern in matching:
        assert not re.search(pattern, good + "\n"), (schema, pattern)


def test_the_command_line_reads_as_of_with_the_one_date_reader(capsys: pytest.CaptureFixture[str]) -> None:
    from recnav_rules.cli import main

    example = str(Path(__file__).parents[1] / "examples" / "hiu-referral.json")
    with pytest.raises(SystemExit) as stopped:
        main(["evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026W475", example])
    assert stopped.value.code == 2
    assert "not a date (YYYY-MM-DD)" in capsys.readouterr().err
    assert main(["evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20", example]) == 0


DATED = """\
policies:
  - id: dated
    version: 1.0.0
    title: A dated age limit
    effective: {from: "2026-01-01"}
    sources:
      doc: {file: doc.txt, title: A document}
    parameters:
      adult_age:
        type: integer
        description: The age from which a person is an adult.
        values: {"2026-01-01": 18, "2030-04-01": 16}
    facts:
      age: {type: integer, minimum: 0, maximum: 130, description: Age in years.}
    rules:
      - id: child
        when: {fact: age, lt: {param: adult_age}}
        outcome: reject
        reason: Too young.
        assumption: Test.
    otherwise: {outcome: accept, reason: An adult., assumption: Test.}
    incomplete: {outcome: reject, reason: Unknown., assumption: Test.}
"""


@pytest.mark.parametrize("engine", ["native", "interpreter"])
def test_dated_parameters_take_the_value_in_force_on_the_as_of_date(tmp_path: Path, engine: str) -> None:
    path = tmp_path / "dated.yaml"
    path.write_text(DATED, encoding="utf-8")
    policy = recnav_rules.load_policy(path)
    before = policy.evaluate({"age": 17}, as_of=dt.date(2030, 3, 31), engine=engine)  # type: ignore[arg-type]
    after = policy.evaluate({"age": 17}, as_of=dt.date(2030, 4, 1), engine=engine)  # type: ignore[arg-type]
    assert (before.outcome, before.parameters["adult_age"]) == (Outcome.REJECT, 18)
    assert (after.outcome, after.parameters["adult_age"]) == (Outcome.ACCEPT, 16)
    assert before.policy_digest != after.policy_digest  # each decision names the policy as in force
    copied = pickle.loads(pickle.dumps(policy))
    assert copied.evaluate({"age": 17}, as_of=dt.date(2031, 1, 1)).outcome is Outcome.ACCEPT
    fixed = recnav_rules.load_policy(path, parameters={"adult_age": 18})  # a value set by the deployment holds throughout
    assert fixed.evaluate({"age": 17}, as_of=dt.date(2031, 1, 1)).outcome is Outcome.REJECT
