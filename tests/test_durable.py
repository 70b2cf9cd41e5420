"""The durable-rules engine: sessions, threads, failures, the translation and the guards.

Whether durable-rules agrees with the generated program and the interpreter on generated
referrals for every built-in policy is tested in ``test_programs_agree.py``.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest

import recnav_rules
from recnav_rules import Policy
from recnav_rules.engine import durable
from tests.conftest import BASELINE

pytest.importorskip("durable_rules_engine")

REFERRAL = dt.date(2026, 11, 20)


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
