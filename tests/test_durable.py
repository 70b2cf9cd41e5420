"""Differential testing: the native engine and the durable-rules engine must agree.

Referrals are generated from each built-in policy's own fact declarations (so every policy is
covered, including ones added later): facts left out, ages around 18, dates around the referral
date, and event lists around the window edges.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recnav_rules
from recnav_rules import Policy
from recnav_rules.engine import durable
from recnav_rules.engine.model import FieldSpec
from recnav_rules.policies.register import builtin_register, load_pcn_membership
from tests.conftest import BASELINE

pytest.importorskip("durable_rules_engine")

REFERRAL = dt.date(2026, 11, 20)
MEMBERSHIP = "policies/tests/network4-membership.FIXTURE.csv"
PRACTICES = ["L81004", "L81024", "L81042", "L81063", "L85001", "L81032", "Y99999"]


PARAMETERS = {"network4_pcn_code": "FIXT004"}  # the membership fixture's invented PCN code


def _load(policy_id: str, register: Any) -> Policy:
    try:
        return recnav_rules.load_policy(policy_id, register=register)
    except recnav_rules.PolicyError as exc:
        if exc.code != "unset-parameter":
            raise
        needed = {p.file.removeprefix("<parameter ").removesuffix(">") for p in exc.problems}
        load: Any = recnav_rules.load_policy  # parameters= is newer than this test
        return load(policy_id, register=register, parameters={k: v for k, v in PARAMETERS.items() if k in needed})


def policies() -> list[Policy]:
    register = builtin_register().with_pcn_membership(load_pcn_membership(MEMBERSHIP))
    return [_load(info.id, register) for info in recnav_rules.list_policies() if info.origin == "builtin"]


POLICIES = policies()


def around(day: dt.date, spread: int) -> st.SearchStrategy[dt.date]:
    return st.integers(-spread, spread).map(lambda d: day + dt.timedelta(days=d))


def value_for(name: str, spec: FieldSpec) -> st.SearchStrategy[Any]:
    kind = spec.type
    if kind == "bool":
        return st.booleans()
    if kind == "enum":
        return st.sampled_from(spec.values)
    if kind == "integer":
        if name == "age":
            return st.sampled_from([16, 17, 18, 19, 45])
        return st.integers(0, 15)
    if kind == "date":
        if name == "date_of_birth":
            eighteenth = dt.date(REFERRAL.year - 18, REFERRAL.month, REFERRAL.day)
            return st.sampled_from([-1, 0, 1, -7000, 700]).map(lambda d: (eighteenth + dt.timedelta(days=d)).isoformat())
        return around(REFERRAL, 40).map(dt.date.isoformat)
    if kind == "ods_code":
        return st.sampled_from(PRACTICES)
    if kind == "list":
        edges = [REFERRAL - dt.timedelta(days=d) for d in (-1, 0, 1, 29, 30, 31, 91, 92, 93)]
        day = st.one_of(st.sampled_from(edges), around(REFERRAL - dt.timedelta(days=30), 70))
        record = st.fixed_dictionaries(
            {
                field: (
                    day.map(lambda d: f"{d.isoformat()}T10:00:00")
                    if sub.type == "datetime"
                    else st.sampled_from(sub.values)
                )
                for field, sub in spec.fields.items()
            }
        )
        return st.lists(record, max_size=14)
    if kind == "string" and name.endswith("sub_icb_code"):
        return st.sampled_from(["15C", "11X", "92G"])
    if kind == "string" and name.endswith("pcn_code"):
        return st.sampled_from(["FIXT004", "FIXT005"])
    return st.nothing()


@st.composite
def facts_for(draw: st.DrawFn, policy: Policy) -> dict[str, Any]:
    facts: dict[str, Any] = {"referral_date": REFERRAL.isoformat()} if "referral_date" in policy.facts else {}
    for name, spec in policy.compiled.facts.items():
        if spec.personal or name == "referral_date":
            continue
        strategy = value_for(name, spec.spec)
        if draw(st.integers(0, 4)) == 0:
            continue  # leave it out: unknown
        facts[name] = draw(strategy)
    return facts


def outcome_of(policy: Policy, facts: dict[str, Any], engine: str) -> tuple[Any, ...] | str:
    try:
        decision = policy.evaluate(facts, as_of=REFERRAL + dt.timedelta(days=60), engine=engine)  # type: ignore[arg-type]
    except recnav_rules.FactValidationError as exc:
        return f"bad facts: {exc.fields}"
    return (
        decision.outcome,
        decision.complete,
        decision.missing_facts,
        [r.rule_id for r in decision.reasons],
        [(s.id, s.value) for s in decision.trace],
        [(n.action, n.due, n.status) for n in decision.next_steps],
    )


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.id)
def test_engines_agree_on_generated_referrals(policy: Policy) -> None:
    @settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(facts_for(policy))
    def agree(facts: dict[str, Any]) -> None:
        assert outcome_of(policy, facts, "native") == outcome_of(policy, facts, "durable"), facts

    agree()


def test_durable_decisions_say_which_engine(hiu: Policy) -> None:
    decision = hiu.evaluate(BASELINE, as_of=REFERRAL, engine="durable")
    assert decision.engine == "durable"
    assert decision.outcome.value == "accept"


def test_many_decisions_and_threads_stay_right(hiu: Policy) -> None:
    """More than 1,024 sessions in a row, and four threads at once, give the native answers."""
    samples: list[dict[str, Any]] = []
    for i in range(40):
        facts = dict(BASELINE)
        facts["date_of_birth"] = f"{2006 + i % 4}-11-20"
        if i % 5 == 0:
            del facts["in_custody"]
        facts["risk_of_violence"] = i % 7 == 0
        samples.append(facts)
    expected = [outcome_of(hiu, f, "native") for f in samples]
    for _ in range(30):
        assert [outcome_of(hiu, f, "durable") for f in samples] == expected
    failures: list[int] = []

    def work() -> None:
        for _ in range(10):
            for facts, want in zip(samples, expected, strict=True):
                if outcome_of(hiu, facts, "durable") != want:
                    failures.append(1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_a_ruleset_is_asserted_only_the_fields_it_reads(hiu: Policy) -> None:
    phases = durable._phases(hiu.compiled)
    _, ruleset = phases[0]
    assert 0 < len(ruleset.fields) <= durable.MAX_FIELDS
    # 300 fields it does not read are left out of the assert (300 would be "error code 302")
    ruleset.matched({f"f_unread_{i}": i for i in range(300)})
    assert outcome_of(hiu, BASELINE, "durable") == outcome_of(hiu, BASELINE, "native")


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (True, True), ("text", True), (dt.date(9999, 12, 31), True), (0, True), (0.0, True),
        (2**53, True), (2**53 + 1, False), (-(2**53) - 1, False),
        (0.0001, True), (0.00009999, False), (1e-05, False), (1.5e-07, False),
        (999_999_999_999_999.0, True), (1e15, False), (1e16, False), (float("inf"), False), (float("nan"), False),
        (None, False), ([1], False),
    ],
)
def test_numbers_the_c_core_reads_exactly(value: Any, ok: bool) -> None:
    assert durable.representable(value) is ok


def test_translation_pushes_negation_to_the_leaves() -> None:
    from recnav_rules.engine.model import Leaf, Logic

    node = Logic("not", (Logic("all", (Leaf("a", "eq", True), Leaf("n", "gte", 18))),))
    assert durable.translate(node, True) == {"$or": [{"$neq": {"f_a": True}}, {"$lt": {"f_n": 18}}]}
    assert durable.translate(node, False) == {"$and": [{"f_a": True}, {"$gte": {"f_n": 18}}]}
    assert durable.translate(Leaf("x", "present", True), False) == {"$nex": {"f_x": 1}}
    assert durable.translate(Leaf("d", "lt", dt.date(2026, 1, 1)), True) == {"$lt": {"f_d": dt.date(2026, 1, 1).toordinal()}}


def test_an_exception_between_assert_and_delete_leaves_it_right(hiu: Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure after the fact is asserted still deletes the session, and later decisions are right."""
    phases = durable._phases(hiu.compiled)
    _, ruleset = phases[0]
    real = ruleset._engine

    class Failing:
        def __getattr__(self, name: str) -> Any:
            if name == "start_action_for_state":
                raise_once = real.start_action_for_state

                def boom(*args: Any) -> Any:
                    monkeypatch.setattr(ruleset, "_engine", real)
                    raise_once  # noqa: B018  # the real call is skipped on purpose
                    raise RuntimeError("injected failure")

                return boom
            return getattr(real, name)

    monkeypatch.setattr(ruleset, "_engine", Failing())
    with pytest.raises(RuntimeError, match="injected failure"):
        hiu.evaluate(BASELINE, as_of=REFERRAL, engine="durable")
    for _ in range(1100):  # more than the 1,024-session cap: the failed session was deleted
        assert outcome_of(hiu, BASELINE, "durable") == outcome_of(hiu, BASELINE, "native")
