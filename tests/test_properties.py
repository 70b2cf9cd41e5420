"""Properties of evaluation that must hold for every referral."""

from __future__ import annotations

import datetime as dt
import importlib.util
import threading
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import recnav_rules
from recnav_rules import Policy
from recnav_rules.policies.register import builtin_register
from tests.strategies import REFERRAL, partial_referrals, referrals

AS_OF = REFERRAL
_spec = importlib.util.spec_from_file_location(
    "handwritten", Path(__file__).resolve().parent.parent / "benchmarks" / "handwritten.py"
)
assert _spec is not None and _spec.loader is not None
handwritten = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(handwritten)

SUB_ICB = {p.code: p.sub_icb_code for p in builtin_register() if p.status == "active"}
POLICY: Policy = recnav_rules.load_policy("bnssg-hiu-pilot")


@settings(max_examples=400, deadline=None)
@given(partial_referrals())
def test_giving_a_missing_fact_never_changes_a_complete_decision(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    full, partial = pair
    fewer = POLICY.evaluate(partial, as_of=AS_OF)
    more = POLICY.evaluate(full, as_of=AS_OF)
    assert more.complete
    if fewer.complete:
        assert fewer.outcome == more.outcome
    else:
        assert fewer.outcome.value == "reject"
        assert fewer.missing_facts
        assert set(fewer.missing_facts).isdisjoint(partial)


@settings(max_examples=300, deadline=None)
@given(partial_referrals())
def test_engine_agrees_with_the_hand_written_rules(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    _, facts = pair
    decision = POLICY.evaluate(facts, as_of=AS_OF)
    outcome, complete, held = handwritten.decide(facts, AS_OF, SUB_ICB)
    assert (decision.outcome.value, decision.complete) == (outcome, complete)
    assert [r.rule_id for r in decision.reasons if r.rule_id not in ("incomplete", "otherwise")] == [
        rule for rule in held if complete or rule != "accept"
    ]


@settings(max_examples=200, deadline=None)
@given(referrals())
def test_decisions_are_deterministic(facts: dict[str, Any]) -> None:
    first = POLICY.evaluate(facts, as_of=AS_OF).to_dict()
    again = POLICY.evaluate(dict(reversed(list(facts.items()))), as_of=AS_OF).to_dict()
    assert first == again


@settings(max_examples=200, deadline=None)
@given(referrals(), st.lists(st.integers(1, 400), max_size=6))
def test_calls_after_the_referral_date_never_matter(facts: dict[str, Any], days_after: list[int]) -> None:
    referral = dt.date.fromisoformat(facts["referral_date"])
    later = [
        {"at": f"{(referral + dt.timedelta(days=d)).isoformat()}T09:00:00", "category": "emergency", "location": "private_dwelling"}
        for d in days_after
    ]
    before = POLICY.evaluate(facts, as_of=AS_OF + dt.timedelta(days=400))
    with_later = dict(facts, emergency_calls=facts["emergency_calls"] + later)
    after = POLICY.evaluate(with_later, as_of=AS_OF + dt.timedelta(days=400))
    assert (after.outcome, after.complete, [r.rule_id for r in after.reasons]) == (
        before.outcome,
        before.complete,
        [r.rule_id for r in before.reasons],
    )


@settings(max_examples=100, deadline=None)
@given(referrals())
def test_json_round_trip_for_any_decision(facts: dict[str, Any]) -> None:
    decision = POLICY.evaluate(facts, as_of=AS_OF)
    assert recnav_rules.Decision.from_json(decision.to_json()) == decision


def test_concurrent_evaluation_gives_the_same_answers() -> None:
    import random

    rng = random.Random(7)
    samples: list[dict[str, Any]] = []
    base = {
        "referral_date": "2026-11-20",
        "gp_practice_code": "L81004",
        "primary_mental_health_need": True,
        "known_mental_health_disorder": True,
        "diagnosed_learning_disability": False,
        "substance_misuse": False,
        "primary_dementia_diagnosis": False,
        "mhsd_triage_completed": True,
        "mhsd_triage_outcome": "self_care",
        "consent_to_referral": True,
        "open_to_secondary_mental_health_services": False,
        "receiving_mints_support": False,
        "risk_of_violence": False,
        "in_custody": False,
        "cad_hiu_flag": False,
    }
    for _ in range(200):
        facts = dict(base)
        facts["age"] = rng.choice([16, 17, 18, 19, 40])
        for key in ("in_custody", "risk_of_violence", "cad_hiu_flag", "consent_to_referral"):
            choice = rng.choice([True, False, None])
            facts[key] = choice
        facts["qualifying_calls_1_month"] = rng.randint(0, 7)
        samples.append(facts)
    expected = [POLICY.evaluate(f, as_of=AS_OF).to_dict() for f in samples]
    failures: list[str] = []

    def worker() -> None:
        for _ in range(5):
            for facts, want in zip(samples, expected, strict=True):
                got = POLICY.evaluate(facts, as_of=AS_OF).to_dict()
                if got != want:
                    failures.append(str(facts))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
