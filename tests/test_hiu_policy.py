"""The BNSSG 999 HIU pilot policy: every rule, its boundaries, and unknowns."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import recnav_rules
from recnav_rules import FactValidationError, Outcome, Policy
from tests.conftest import AS_OF, SOMERSET_PRACTICE, calls


def decide(policy: Policy, facts: dict[str, Any], as_of: dt.date = AS_OF) -> recnav_rules.Decision:
    return policy.evaluate(facts, as_of=as_of)


def reason_ids(decision: recnav_rules.Decision) -> list[str]:
    return [r.rule_id for r in decision.reasons]


def test_baseline_is_accepted_with_initial_contact_due(hiu: Policy, baseline: dict[str, Any]) -> None:
    decision = decide(hiu, baseline)
    assert decision.outcome is Outcome.ACCEPT
    assert decision.complete is True
    assert decision.missing_facts == []
    assert reason_ids(decision) == ["accept"]
    # Friday 20 November 2026 + 7 working days: Mon 23 .. Tue 1 December.
    assert [(s.action, s.due, s.status) for s in decision.next_steps] == [
        ("initial_contact", dt.date(2026, 12, 1), "pending")
    ]


@pytest.mark.parametrize(
    ("change", "rule_id", "outcome"),
    [
        ({"mhsd_triage_completed": False}, "not-fully-triaged", "reject"),
        ({"mhsd_triage_outcome": "specialist_referral"}, "specialist-referral-required", "reject"),
        ({"open_to_secondary_mental_health_services": True}, "open-to-secondary-care", "reject"),
        ({"receiving_mints_support": True}, "receiving-mints-support", "reject"),
        ({"risk_of_violence": True}, "risk-of-violence", "reject"),
        (
            {"diagnosed_learning_disability": True, "primary_mental_health_need": False},
            "learning-disability-without-mental-health-need",
            "reject",
        ),
        (
            {"substance_misuse": True, "known_mental_health_disorder": False},
            "substance-misuse-without-known-disorder",
            "reject",
        ),
        ({"primary_dementia_diagnosis": True}, "primary-dementia-diagnosis", "reject"),
        ({"in_custody": True}, "in-custody", "reject"),
        ({"primary_mental_health_need": False}, "no-primary-mental-health-need", "reject"),
        ({"mhsd_triage_outcome": "other"}, "triage-outcome-not-self-care-or-signposting", "reject"),
        ({"consent_to_referral": False}, "no-consent", "reject"),
        ({"date_of_birth": "2010-01-01"}, "under-18", "signpost"),
        ({"gp_practice_code": SOMERSET_PRACTICE}, "gp-outside-bnssg", "signpost"),
        ({"cad_hiu_flag": False, "emergency_calls": []}, "not-high-intensity-user", "signpost"),
    ],
)
def test_each_rule_decides_with_its_own_reason(
    hiu: Policy, baseline: dict[str, Any], change: dict[str, Any], rule_id: str, outcome: str
) -> None:
    baseline.update(change)
    decision = decide(hiu, baseline)
    assert decision.outcome.value == outcome
    assert decision.complete is True
    assert decision.reasons[0].rule_id == rule_id
    assert decision.next_steps == []
    reason = decision.reasons[0]
    assert reason.source == "000_05720e33c34897d3.txt"
    assert reason.quote


def test_every_exclusion_that_holds_is_listed_in_priority_order(hiu: Policy, baseline: dict[str, Any]) -> None:
    baseline.update({"in_custody": True, "risk_of_violence": True, "consent_to_referral": False})
    decision = decide(hiu, baseline)
    assert decision.outcome is Outcome.REJECT
    assert reason_ids(decision) == ["risk-of-violence", "in-custody", "no-consent"]


def test_signposts_name_real_routes(hiu: Policy, baseline: dict[str, Any]) -> None:
    baseline["date_of_birth"] = "2010-01-01"
    decision = decide(hiu, baseline)
    assert decision.signposts
    assert all(s.name and s.name != s.service_id for s in decision.signposts)


# --- age boundaries --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("born", "referral", "adult"),
    [
        ("2008-11-20", "2026-11-20", True),  # 18th birthday on the referral date
        ("2008-11-21", "2026-11-20", False),  # the day before the 18th birthday
        ("2008-02-29", "2026-02-28", False),  # leap-day birthday, common year: not yet
        ("2008-02-29", "2026-03-01", True),  # ... a year older on 1 March
        ("2008-02-29", "2028-02-29", True),
    ],
)
def test_eighteenth_birthday(hiu: Policy, baseline: dict[str, Any], born: str, referral: str, adult: bool) -> None:
    baseline.update({"date_of_birth": born, "referral_date": referral})
    decision = decide(hiu, baseline, as_of=dt.date(2028, 12, 31))
    assert decision.outcome is (Outcome.ACCEPT if adult else Outcome.SIGNPOST)
    assert ("under-18" in reason_ids(decision)) is not adult


def test_age_given_directly_is_used(hiu: Policy, baseline: dict[str, Any]) -> None:
    del baseline["date_of_birth"]
    baseline["age"] = 18
    assert decide(hiu, baseline).outcome is Outcome.ACCEPT
    baseline["age"] = 17
    assert decide(hiu, baseline).outcome is Outcome.SIGNPOST


def test_age_and_date_of_birth_must_agree(hiu: Policy, baseline: dict[str, Any]) -> None:
    baseline["age"] = 30  # born 1980-06-15, so 46 on 2026-11-20
    with pytest.raises(FactValidationError) as caught:
        decide(hiu, baseline)
    assert caught.value.fields == ("age",)
    assert "disagrees with age_years = 46" in str(caught.value)


def test_impossible_dates_are_errors(hiu: Policy, baseline: dict[str, Any]) -> None:
    baseline["date_of_birth"] = "2026-11-21"
    with pytest.raises(FactValidationError) as caught:
        decide(hiu, baseline)
    assert caught.value.fields == ("date_of_birth",)
    baseline["date_of_birth"] = "1980-06-15"
    baseline["referral_date"] = "2026-11-21"
    with pytest.raises(FactValidationError, match="referral_date: is after the as-of date 2026-11-20"):
        decide(hiu, baseline)
    baseline["referral_date"] = "2026-11-20"
    baseline["age"] = -1
    with pytest.raises(FactValidationError, match="age: must be at least 0"):
        decide(hiu, baseline)


# --- the HIU call windows --------------------------------------------------------------------


def hiu_from_calls(hiu: Policy, baseline: dict[str, Any], call_list: list[dict[str, str]], referral: str) -> Outcome:
    baseline.update({"cad_hiu_flag": False, "emergency_calls": call_list, "referral_date": referral})
    return decide(hiu, baseline, as_of=dt.date(2026, 12, 31)).outcome


def test_five_calls_in_one_month_window_inclusive(hiu: Policy, baseline: dict[str, Any]) -> None:
    # Window for a 20 Nov referral: 20 Oct to 20 Nov inclusive.
    inside = calls("2026-10-20", "2026-10-25", "2026-11-01", "2026-11-10", "2026-11-20")
    assert hiu_from_calls(hiu, baseline, inside, "2026-11-20") is Outcome.ACCEPT


def test_a_call_the_day_before_the_window_does_not_count(hiu: Policy, baseline: dict[str, Any]) -> None:
    edge = calls("2026-10-19", "2026-10-25", "2026-11-01", "2026-11-10", "2026-11-20")
    assert hiu_from_calls(hiu, baseline, edge, "2026-11-20") is Outcome.SIGNPOST


def test_calls_after_the_referral_date_never_count(hiu: Policy, baseline: dict[str, Any]) -> None:
    late = calls("2026-10-25", "2026-11-01", "2026-11-10", "2026-11-20", "2026-11-21")
    assert hiu_from_calls(hiu, baseline, late, "2026-11-20") is Outcome.SIGNPOST


def test_month_window_is_clamped_to_month_end(hiu: Policy, baseline: dict[str, Any]) -> None:
    # Referral 31 March 2026: one month before is 28 February 2026 (clamped), inclusive.
    days = ("2026-02-28", "2026-03-05", "2026-03-10", "2026-03-20", "2026-03-31")
    assert hiu_from_calls(hiu, baseline, calls(*days), "2026-03-31") is Outcome.ACCEPT
    days = ("2026-02-27", "2026-03-05", "2026-03-10", "2026-03-20", "2026-03-31")
    assert hiu_from_calls(hiu, baseline, calls(*days), "2026-03-31") is Outcome.SIGNPOST


def test_twelve_calls_in_three_months(hiu: Policy, baseline: dict[str, Any]) -> None:
    # Window for 20 Nov: 20 Aug .. 20 Nov. Four calls a month, never 5 in one month.
    days = [f"2026-{m:02d}-{d:02d}" for m in (8, 9, 10) for d in (20, 22, 24, 26)]
    assert hiu_from_calls(hiu, baseline, calls(*days), "2026-11-20") is Outcome.ACCEPT
    days[0] = "2026-08-19"
    assert hiu_from_calls(hiu, baseline, calls(*days), "2026-11-20") is Outcome.SIGNPOST


def test_only_emergency_or_urgent_calls_from_a_private_dwelling_count(hiu: Policy, baseline: dict[str, Any]) -> None:
    days = ("2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04")
    base = calls(*days)
    assert hiu_from_calls(hiu, baseline, base + calls("2026-11-05", category="urgent"), "2026-11-20") is Outcome.ACCEPT
    assert hiu_from_calls(hiu, baseline, base + calls("2026-11-05", category="other"), "2026-11-20") is Outcome.SIGNPOST
    assert (
        hiu_from_calls(hiu, baseline, base + calls("2026-11-05", location="public_place"), "2026-11-20")
        is Outcome.SIGNPOST
    )


def test_zoned_call_times_are_read_in_uk_local_time(hiu: Policy, baseline: dict[str, Any]) -> None:
    # 23:30 UTC on 19 Oct is 00:30 BST on 20 Oct: inside the 20 Oct .. 20 Nov window.
    four = calls("2026-10-25", "2026-11-01", "2026-11-10", "2026-11-20")
    edge = [{"at": "2026-10-19T23:30:00+00:00", "category": "emergency", "location": "private_dwelling"}]
    assert hiu_from_calls(hiu, baseline, four + edge, "2026-11-20") is Outcome.ACCEPT


def test_call_counts_may_be_given_instead_of_the_list(hiu: Policy, baseline: dict[str, Any]) -> None:
    baseline.update({"cad_hiu_flag": False, "qualifying_calls_1_month": 5})
    del baseline["in_custody"]
    baseline["in_custody"] = False
    decision = decide(hiu, baseline)
    # 3-month count unknown, but 5 in a month settles it.
    assert decision.outcome is Outcome.ACCEPT
    baseline["qualifying_calls_1_month"] = 4
    decision = decide(hiu, baseline)
    assert decision.complete is False
    assert decision.missing_facts == ["emergency_calls", "qualifying_calls_3_months"]


def test_call_list_and_count_must_agree(hiu: Policy, baseline: dict[str, Any]) -> None:
    baseline.update({"emergency_calls": calls("2026-11-01"), "qualifying_calls_1_month": 3})
    with pytest.raises(FactValidationError) as caught:
        decide(hiu, baseline)
    assert caught.value.fields == ("qualifying_calls_1_month",)


# --- unknowns --------------------------------------------------------------------------------


def test_a_missing_exclusion_fact_blocks_acceptance(hiu: Policy, baseline: dict[str, Any]) -> None:
    del baseline["in_custody"]
    decision = decide(hiu, baseline)
    assert decision.outcome is Outcome.REJECT
    assert decision.complete is False
    assert decision.missing_facts == ["in_custody"]
    assert decision.reasons[0].rule_id == "incomplete"
    assert "insufficient information" in decision.reasons[0].text.lower()


def test_a_known_exclusion_settles_it_even_with_unknowns_elsewhere(hiu: Policy, baseline: dict[str, Any]) -> None:
    del baseline["consent_to_referral"]
    del baseline["receiving_mints_support"]
    baseline["in_custody"] = True
    decision = decide(hiu, baseline)
    # Rules before in-custody are known false except MINTs, which would also reject.
    assert decision.outcome is Outcome.REJECT
    assert decision.complete is True
    assert reason_ids(decision) == ["in-custody"]


def test_under_18_settles_it_whatever_else_is_unknown(hiu: Policy) -> None:
    decision = decide(hiu, {"age": 16})
    assert decision.outcome is Outcome.SIGNPOST
    assert decision.complete is True


def test_nothing_known_is_incomplete_and_names_the_missing_facts(hiu: Policy) -> None:
    decision = decide(hiu, {})
    assert decision.outcome is Outcome.REJECT
    assert decision.complete is False
    assert decision.missing_facts[:3] == ["date_of_birth", "age", "gp_practice_code"]
    assert "gp_sub_icb_code" in decision.missing_facts
    assert decision.defaults_used == ["referral_date"]


def test_unknown_practice_code_is_incomplete_and_named(hiu: Policy, baseline: dict[str, Any]) -> None:
    baseline["gp_practice_code"] = "Y99999"
    decision = decide(hiu, baseline)
    assert decision.complete is False
    assert decision.outcome is Outcome.REJECT
    assert any("Y99999" in note for note in decision.notes)
    assert "Y99999" in decision.explain()


def test_sub_icb_given_directly_without_a_practice(hiu: Policy, baseline: dict[str, Any]) -> None:
    del baseline["gp_practice_code"]
    baseline["gp_sub_icb_code"] = "15C"
    assert decide(hiu, baseline).outcome is Outcome.ACCEPT
    baseline["gp_sub_icb_code"] = "11X"
    assert decide(hiu, baseline).outcome is Outcome.SIGNPOST


def test_sub_icb_that_contradicts_the_register_is_an_error(hiu: Policy, baseline: dict[str, Any]) -> None:
    baseline["gp_sub_icb_code"] = "11X"
    with pytest.raises(FactValidationError) as caught:
        decide(hiu, baseline)
    assert caught.value.fields == ("gp_sub_icb_code",)


# --- bad input --------------------------------------------------------------------------------


def test_every_bad_field_is_named_with_did_you_mean(hiu: Policy, baseline: dict[str, Any]) -> None:
    baseline.update(
        {
            "in_custdy": True,
            "risk_of_violence": "no",
            "mhsd_triage_outcome": "selfcare",
            "emergency_calls": [{"at": "yesterday", "category": "emergency", "locaton": "x"}],
        }
    )
    with pytest.raises(FactValidationError) as caught:
        decide(hiu, baseline)
    problems = {p.field: p for p in caught.value.problems}
    assert set(problems) == {
        "in_custdy",
        "risk_of_violence",
        "mhsd_triage_outcome",
        "emergency_calls[0].at",
        "emergency_calls[0].locaton",
        "emergency_calls[0].location",
    }
    assert problems["in_custdy"].suggestion == "in_custody"
    assert problems["mhsd_triage_outcome"].suggestion == "self_care"
    assert problems["emergency_calls[0].locaton"].suggestion == "location"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("bad", [None, [], "facts", 3])
def test_facts_that_are_not_a_mapping(hiu: Policy, bad: Any) -> None:
    with pytest.raises(FactValidationError, match="facts must be a mapping"):
        hiu.evaluate(bad, as_of=AS_OF)


def test_bad_as_of(hiu: Policy, baseline: dict[str, Any]) -> None:
    with pytest.raises(FactValidationError, match="as_of"):
        hiu.evaluate(baseline, as_of="20/11/2026")
    with pytest.raises(FactValidationError, match="before policy 'bnssg-hiu-pilot' takes effect"):
        hiu.evaluate(baseline, as_of=dt.date(2020, 1, 1))


def test_booleans_are_strict(hiu: Policy, baseline: dict[str, Any]) -> None:
    for loose in ("true", 1, 0, "yes"):
        baseline["in_custody"] = loose
        with pytest.raises(FactValidationError) as caught:
            decide(hiu, baseline)
        assert caught.value.fields == ("in_custody",)


def test_null_means_not_known(hiu: Policy, baseline: dict[str, Any]) -> None:
    baseline["in_custody"] = None
    decision = decide(hiu, baseline)
    assert decision.complete is False
    assert decision.missing_facts == ["in_custody"]


# --- personal data ---------------------------------------------------------------------------

PERSONAL = {
    "name": "Alexandra Testperson",
    "nhs_number": "943 476 5919",
    "gender": "Female",
    "contact_details": "07700 900123, 1 Example Road",
}


def test_personal_data_is_checked_and_never_recorded(hiu: Policy, baseline: dict[str, Any]) -> None:
    baseline.update(PERSONAL)
    decision = decide(hiu, baseline)
    assert decision.outcome is Outcome.ACCEPT
    assert decision.personal_facts_withheld == ["name", "nhs_number", "gender", "contact_details"]
    rendered = decision.explain() + decision.to_json()
    for value in ("Alexandra", "Testperson", "9434765919", "943 476 5919", "07700", "Example Road"):
        assert value not in rendered
    without = decide(hiu, {k: v for k, v in baseline.items() if k not in PERSONAL})
    assert without.facts_digest == decision.facts_digest


def test_bad_nhs_number_is_named_without_echoing_it(hiu: Policy, baseline: dict[str, Any]) -> None:
    baseline["nhs_number"] = "943 476 5918"
    with pytest.raises(FactValidationError) as caught:
        decide(hiu, baseline)
    assert caught.value.fields == ("nhs_number",)
    assert "check digit" in str(caught.value)
    assert "5918" not in str(caught.value)


# --- the record --------------------------------------------------------------------------------


def test_decision_records_what_an_auditor_needs(hiu: Policy, baseline: dict[str, Any]) -> None:
    decision = decide(hiu, baseline)
    assert decision.policy_id == "bnssg-hiu-pilot"
    assert decision.policy_version == "1.0.0"
    assert decision.policy_digest == hiu.digest and len(hiu.digest) == 64
    assert decision.engine_version == recnav_rules.__version__
    assert decision.as_of == AS_OF
    assert len(decision.facts_digest) == 64
    register = decision.reference_data["gp_practices"]
    assert register["as_of"] and len(register["digest"]) == 64
    kinds = {(step.kind, step.id): step for step in decision.trace}
    assert ("rule", "accept") in kinds and ("criterion", "adult") in kinds
    adult = kinds[("criterion", "adult")]
    assert adult.value == "true"
    assert [(f.name, f.value, f.how) for f in adult.facts] == [("age_years", 46, "derived")]
    referral = [f for s in decision.trace for f in s.facts if f.name == "referral_date"]
    assert not referral or referral[0].how == "given"


def test_defaults_are_marked_as_defaults_in_the_trace(hiu: Policy, baseline: dict[str, Any]) -> None:
    del baseline["referral_date"]
    decision = decide(hiu, baseline)
    assert decision.defaults_used == ["referral_date"]
    assert "Defaults the policy filled in (not given): referral_date" in decision.explain()


def test_json_round_trip(hiu: Policy, baseline: dict[str, Any]) -> None:
    del baseline["in_custody"]
    decision = decide(hiu, baseline)
    again = recnav_rules.Decision.from_json(decision.to_json())
    assert again == decision
    assert again.to_dict() == decision.to_dict()
    assert again.explain() == decision.explain()


def test_from_dict_names_bad_fields(hiu: Policy, baseline: dict[str, Any]) -> None:
    data = decide(hiu, baseline).to_dict()
    data["outcome"] = "maybe"
    del data["complete"]
    with pytest.raises(FactValidationError) as caught:
        recnav_rules.Decision.from_dict(data)
    assert set(caught.value.fields) == {"outcome", "complete"}


def test_explanation_quotes_the_source_and_states_assumptions(hiu: Policy, baseline: dict[str, Any]) -> None:
    baseline["in_custody"] = True
    text = " ".join(decide(hiu, baseline).explain().split())
    assert text.startswith("Policy: BNSSG 999 high-intensity user pilot")
    assert "REJECT" in text
    assert '"Individuals who are in custody at the time of their presentation to 999"' in text
    assert f"sha256:{hiu.digest}" in text


def test_durable_engine_without_durable_rules_says_how_to_install(
    hiu: Policy, baseline: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    from recnav_rules.engine import durable

    real_import = builtins.__import__

    def no_durable(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "durable_rules_engine":
            raise ImportError("No module named 'durable_rules_engine'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_durable)
    fresh = recnav_rules.Policy(hiu.compiled)
    with pytest.raises(durable.DurableUnavailableError, match=r"pip install 'recnav-rules\[durable\]'"):
        fresh.evaluate(baseline, as_of=AS_OF, engine="durable")
    assert durable.is_available() is False


def test_unknown_engine_name(hiu: Policy, baseline: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="unknown engine 'rete'"):
        hiu.evaluate(baseline, as_of=AS_OF, engine="rete")  # type: ignore[arg-type]
