"""The floor: the BNSSG HIU pilot's rules written by hand in plain Python.

It does the whole job from the same raw, JSON-like facts the engine gets: parse the dates,
work out the age, count the qualifying calls in their calendar windows, check every rule
(all of them, so that every exclusion that holds is listed), and pick the outcome by the
policy's priority order, with unknown facts handled as the policy does. It is what the
benchmarks compare the engines with, and the differential tests check it agrees.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

RULES = (
    ("under-18", "signpost"),
    ("gp-outside-bnssg", "signpost"),
    ("not-fully-triaged", "reject"),
    ("specialist-referral-required", "reject"),
    ("open-to-secondary-care", "reject"),
    ("receiving-mints-support", "reject"),
    ("risk-of-violence", "reject"),
    ("learning-disability-without-mental-health-need", "reject"),
    ("substance-misuse-without-known-disorder", "reject"),
    ("primary-dementia-diagnosis", "reject"),
    ("in-custody", "reject"),
    ("no-primary-mental-health-need", "reject"),
    ("triage-outcome-not-self-care-or-signposting", "reject"),
    ("no-consent", "reject"),
    ("not-high-intensity-user", "signpost"),
    ("accept", "accept"),
)


def _months_before(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months
    year, month0 = divmod(index, 12)
    return dt.date(year, month0 + 1, min(day.day, calendar.monthrange(year, month0 + 1)[1]))


def _count_calls(calls: list[dict[str, Any]], referral: dt.date) -> tuple[int, int]:
    """Qualifying calls (emergency or urgent, from a private dwelling) in the 1- and 3-month windows."""
    start1, start3 = _months_before(referral, 1), _months_before(referral, 3)
    c1 = c3 = 0
    for call in calls:
        if call["category"] in ("emergency", "urgent") and call["location"] == "private_dwelling":
            day = dt.datetime.fromisoformat(call["at"]).date()
            if start3 <= day <= referral:
                c3 += 1
                if day >= start1:
                    c1 += 1
    return c1, c3


def _and(*values: bool | None) -> bool | None:
    if False in values:
        return False
    return None if None in values else True


def _or(*values: bool | None) -> bool | None:
    if True in values:
        return True
    return None if None in values else False


def _not(value: bool | None) -> bool | None:
    return None if value is None else not value


def _is(value: Any, wanted: Any) -> bool | None:
    return None if value is None else value == wanted


def decide(facts: dict[str, Any], as_of: dt.date, sub_icb_of: dict[str, str]) -> tuple[str, bool, list[str]]:
    """(outcome, complete, ids of the rules that hold) for one referral."""
    referral = dt.date.fromisoformat(facts["referral_date"]) if facts.get("referral_date") else as_of
    born = facts.get("date_of_birth")
    age = facts.get("age")
    if born is not None:
        b = dt.date.fromisoformat(born)
        age = referral.year - b.year - ((referral.month, referral.day) < (b.month, b.day))
    calls = facts.get("emergency_calls")
    c1, c3 = facts.get("qualifying_calls_1_month"), facts.get("qualifying_calls_3_months")
    if calls is not None:
        c1, c3 = _count_calls(calls, referral)
    code = facts.get("gp_practice_code")
    sub_icb = sub_icb_of.get(code.strip().upper()) if code is not None else None
    if sub_icb is None:
        sub_icb = facts.get("gp_sub_icb_code")
    g = facts.get
    adult = None if age is None else age >= 18
    in_bnssg = _is(sub_icb, "15C")
    hiu_calls = _or(None if c1 is None else c1 >= 5, None if c3 is None else c3 >= 12)
    hiu = _or(_is(g("cad_hiu_flag"), True), hiu_calls)
    triage_ok = _and(_is(g("mhsd_triage_completed"), True), None if g("mhsd_triage_outcome") is None else g("mhsd_triage_outcome") in ("self_care", "signposting"))
    ld = _and(_is(g("diagnosed_learning_disability"), True), _is(g("primary_mental_health_need"), False))
    sm = _and(_is(g("substance_misuse"), True), _is(g("known_mental_health_disorder"), False))
    no_exclusion = _and(
        _is(g("open_to_secondary_mental_health_services"), False), _is(g("receiving_mints_support"), False),
        _is(g("risk_of_violence"), False), _is(g("primary_dementia_diagnosis"), False), _is(g("in_custody"), False),
        _not(ld), _not(sm),
    )
    values = (
        None if age is None else age < 18,
        _not(in_bnssg),
        _is(g("mhsd_triage_completed"), False),
        _is(g("mhsd_triage_outcome"), "specialist_referral"),
        _is(g("open_to_secondary_mental_health_services"), True),
        _is(g("receiving_mints_support"), True),
        _is(g("risk_of_violence"), True),
        ld,
        sm,
        _is(g("primary_dementia_diagnosis"), True),
        _is(g("in_custody"), True),
        _is(g("primary_mental_health_need"), False),
        _is(g("mhsd_triage_outcome"), "other"),
        _is(g("consent_to_referral"), False),
        _not(hiu),
        _and(_is(g("primary_mental_health_need"), True), in_bnssg, adult, hiu, triage_ok, _is(g("consent_to_referral"), True), no_exclusion),
    )
    held = [rule for (rule, _), value in zip(RULES, values, strict=True) if value is True]
    open_outcomes = set()
    outcome = "reject"
    for (_rule, rule_outcome), value in zip(RULES, values, strict=True):
        if value is True:
            outcome = rule_outcome
            break
        if value is None:
            open_outcomes.add(rule_outcome)
    if open_outcomes - {outcome}:
        return "reject", False, held
    return outcome, True, held


def decide_plain(facts: dict[str, Any], as_of: dt.date, sub_icb_of: dict[str, str]) -> tuple[str, bool, list[str]]:
    """The same rules in plain two-valued Python: a missing fact is simply false (or 0), so it
    can never say a decision is incomplete. The floor under the floor, for comparison only."""
    referral = dt.date.fromisoformat(facts["referral_date"]) if facts.get("referral_date") else as_of
    born = facts.get("date_of_birth")
    age = facts.get("age") or 0
    if born is not None:
        b = dt.date.fromisoformat(born)
        age = referral.year - b.year - ((referral.month, referral.day) < (b.month, b.day))
    c1 = facts.get("qualifying_calls_1_month") or 0
    c3 = facts.get("qualifying_calls_3_months") or 0
    calls = facts.get("emergency_calls")
    if calls is not None:
        c1, c3 = _count_calls(calls, referral)
    code = facts.get("gp_practice_code")
    sub_icb = sub_icb_of.get(code.strip().upper()) if code is not None else facts.get("gp_sub_icb_code")
    g = facts.get
    in_bnssg = sub_icb == "15C"
    hiu = bool(g("cad_hiu_flag")) or c1 >= 5 or c3 >= 12
    outcome_of = g("mhsd_triage_outcome")
    ld = bool(g("diagnosed_learning_disability")) and g("primary_mental_health_need") is False
    sm = bool(g("substance_misuse")) and g("known_mental_health_disorder") is False
    values = (
        age < 18,
        not in_bnssg,
        g("mhsd_triage_completed") is False,
        outcome_of == "specialist_referral",
        bool(g("open_to_secondary_mental_health_services")),
        bool(g("receiving_mints_support")),
        bool(g("risk_of_violence")),
        ld,
        sm,
        bool(g("primary_dementia_diagnosis")),
        bool(g("in_custody")),
        g("primary_mental_health_need") is False,
        outcome_of == "other",
        g("consent_to_referral") is False,
        not hiu,
        bool(g("primary_mental_health_need")) and in_bnssg and age >= 18 and hiu and outcome_of in ("self_care", "signposting")
        and bool(g("mhsd_triage_completed")) and bool(g("consent_to_referral")),
    )
    held = [rule for (rule, _), value in zip(RULES, values, strict=True) if value]
    outcome = next((rule_outcome for (_, rule_outcome), value in zip(RULES, values, strict=True) if value), "reject")
    return outcome, True, held
