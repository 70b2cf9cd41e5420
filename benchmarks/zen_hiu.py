"""The BNSSG HIU pilot as a GoRules zen-engine decision table, for the side-by-side benchmark.

The same preprocessing as the hand-written function runs in Python (parse dates, work out the
age, count the calls in their windows, look up the practice's sub-ICB); zen-engine then
evaluates one "collect" decision table whose rows are the policy's rules (the accept rule takes
three rows, one per way of being a high-intensity user). Python picks the first matching rule in
priority order. zen-engine has no unknowns: a missing fact is null and matches no cell, so the
table is compared with the other engines on complete referrals only (``agreement``).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zen

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("handwritten", HERE / "handwritten.py")
assert _spec is not None and _spec.loader is not None
handwritten = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(handwritten)

COLUMNS = [
    "age", "sub_icb", "triage_completed", "triage_outcome", "secondary", "mints", "violence", "ld", "pmh",
    "substance", "kmd", "dementia", "custody", "consent", "cad", "c1", "c3",
]
# (rule id, {column: unary expression}); an absent column matches anything.
ROWS: list[tuple[str, dict[str, str]]] = [
    ("under-18", {"age": "< 18"}),
    ("gp-outside-bnssg", {"sub_icb": '$ != "15C"'}),
    ("not-fully-triaged", {"triage_completed": "false"}),
    ("specialist-referral-required", {"triage_outcome": '"specialist_referral"'}),
    ("open-to-secondary-care", {"secondary": "true"}),
    ("receiving-mints-support", {"mints": "true"}),
    ("risk-of-violence", {"violence": "true"}),
    ("learning-disability-without-mental-health-need", {"ld": "true", "pmh": "false"}),
    ("substance-misuse-without-known-disorder", {"substance": "true", "kmd": "false"}),
    ("primary-dementia-diagnosis", {"dementia": "true"}),
    ("in-custody", {"custody": "true"}),
    ("no-primary-mental-health-need", {"pmh": "false"}),
    ("triage-outcome-not-self-care-or-signposting", {"triage_outcome": '"other"'}),
    ("no-consent", {"consent": "false"}),
    ("not-high-intensity-user", {"cad": "false", "c1": "< 5", "c3": "< 12"}),
]
_ACCEPT = {
    "pmh": "true", "sub_icb": '"15C"', "age": ">= 18", "triage_completed": "true",
    "triage_outcome": '"self_care", "signposting"', "consent": "true", "secondary": "false", "mints": "false",
    "violence": "false", "dementia": "false", "custody": "false",
}
for way in ({"cad": "true"}, {"c1": ">= 5"}, {"c3": ">= 12"}):
    ROWS.append(("accept", {**_ACCEPT, **way}))
PRIORITY = {rule: index for index, (rule, _) in enumerate(handwritten.RULES)}
OUTCOME = dict(handwritten.RULES)


def model() -> dict[str, Any]:
    inputs = [{"id": f"in_{c}", "name": c, "type": "expression", "field": c} for c in COLUMNS]
    rules = [
        {"_id": f"row{i}", **{f"in_{c}": cells.get(c, "") for c in COLUMNS}, "out_rule": json.dumps(rule)}
        for i, (rule, cells) in enumerate(ROWS)
    ]
    table = {
        "id": "table", "type": "decisionTableNode", "name": "HIU pilot rules",
        "content": {"hitPolicy": "collect", "inputs": inputs,
                    "outputs": [{"id": "out_rule", "name": "rule", "type": "expression", "field": "rule"}], "rules": rules},
    }
    return {
        "contentType": "application/vnd.gorules.decision",
        "nodes": [{"id": "in", "type": "inputNode", "name": "Request"}, table, {"id": "out", "type": "outputNode", "name": "Response"}],
        "edges": [{"id": "e1", "type": "edge", "sourceId": "in", "targetId": "table"},
                  {"id": "e2", "type": "edge", "sourceId": "table", "targetId": "out"}],
    }


def context(facts: dict[str, Any], as_of: dt.date, sub_icb_of: dict[str, str]) -> dict[str, Any]:
    """The same preprocessing as the hand-written function."""
    referral = dt.date.fromisoformat(facts["referral_date"]) if facts.get("referral_date") else as_of
    age = facts.get("age")
    if facts.get("date_of_birth"):
        born = dt.date.fromisoformat(facts["date_of_birth"])
        age = referral.year - born.year - ((referral.month, referral.day) < (born.month, born.day))
    c1, c3 = facts.get("qualifying_calls_1_month"), facts.get("qualifying_calls_3_months")
    if facts.get("emergency_calls") is not None:
        start1, start3 = handwritten._months_before(referral, 1), handwritten._months_before(referral, 3)
        c1 = c3 = 0
        for call in facts["emergency_calls"]:
            if call["category"] in ("emergency", "urgent") and call["location"] == "private_dwelling":
                day = dt.datetime.fromisoformat(call["at"]).date()
                if start3 <= day <= referral:
                    c3 += 1
                    c1 += day >= start1
    code = facts.get("gp_practice_code")
    sub_icb = (sub_icb_of.get(code.strip().upper()) if code else None) or facts.get("gp_sub_icb_code")
    g = facts.get
    return {
        "age": age, "sub_icb": sub_icb, "triage_completed": g("mhsd_triage_completed"), "triage_outcome": g("mhsd_triage_outcome"),
        "secondary": g("open_to_secondary_mental_health_services"), "mints": g("receiving_mints_support"),
        "violence": g("risk_of_violence"), "ld": g("diagnosed_learning_disability"), "pmh": g("primary_mental_health_need"),
        "substance": g("substance_misuse"), "kmd": g("known_mental_health_disorder"), "dementia": g("primary_dementia_diagnosis"),
        "custody": g("in_custody"), "consent": g("consent_to_referral"), "cad": g("cad_hiu_flag"), "c1": c1, "c3": c3,
    }


def decider(as_of: dt.date, sub_icb_of: dict[str, str]) -> Callable[[dict[str, Any]], tuple[str, list[str]]]:
    decision = zen.ZenEngine().create_decision(json.dumps(model()))

    def decide(facts: dict[str, Any]) -> tuple[str, list[str]]:
        result = decision.evaluate(context(facts, as_of, sub_icb_of))["result"]
        held = sorted({row["rule"] for row in result}, key=PRIORITY.__getitem__)
        return (OUTCOME[held[0]] if held else "reject"), held

    return decide


def runner(referrals: list[dict[str, Any]], as_of: dt.date, sub_icb_of: dict[str, str]) -> Callable[[], object]:
    decide = decider(as_of, sub_icb_of)

    def run() -> object:
        result: object = None
        for facts in referrals:
            result = decide(facts)
        return result

    return run


def agreement(referrals: list[dict[str, Any]], as_of: dt.date, sub_icb_of: dict[str, str]) -> tuple[int, int]:
    """(agreeing, compared) over the referrals the hand-written rules find complete."""
    decide = decider(as_of, sub_icb_of)
    compared = agreeing = 0
    for facts in referrals:
        outcome, complete, held = handwritten.decide(facts, as_of, sub_icb_of)
        if not complete:
            continue
        compared += 1
        agreeing += decide(facts) == (outcome, held)
    return agreeing, compared
