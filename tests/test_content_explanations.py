"""Explanations that do not mislead: the fallback fits every undetermined decision, the deciding
rule is told apart from others that also hold, abbreviations are spelt out once (never inside a
quote), and next steps say which weekend convention applies."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

import recnav_rules
from recnav_rules import PolicyError
from recnav_rules.engine.calendar import DAY_0, DAY_1, calendar_for
from recnav_rules.engine.explain import Glossary

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 20)
TRIAGE_QUOTE = "Any person who the MHSD have not been able to triage/assess fully"


@pytest.fixture()
def referral() -> dict[str, Any]:
    facts: dict[str, Any] = json.loads((ROOT / "examples" / "hiu-referral.json").read_text(encoding="utf-8"))
    return copy.deepcopy(facts)


def flat(text: str) -> str:
    return " ".join(text.split())


def test_the_fallback_for_an_undetermined_decision_fits_it(referral: dict[str, Any]) -> None:
    del referral["in_custody"]
    decision = recnav_rules.load_policy("bnssg-hiu-pilot").evaluate(referral, as_of=AS_OF)
    assert (decision.complete, decision.missing_facts) == (False, ["in_custody"])
    text = flat(decision.explain())
    assert TRIAGE_QUOTE not in text
    assert "Missing: in_custody." in text
    assert "Undetermined: Insufficient information" in text
    assert "Assumption (the source is silent): The SOP does not say what happens to a referral whose facts are incomplete" in text
    assert decision.reasons[0].assumption is not None and decision.reasons[0].quote is None


def test_the_deciding_rule_is_told_apart_from_others_that_also_hold(referral: dict[str, Any]) -> None:
    referral.update(in_custody=True, risk_of_violence=True)
    decision = recnav_rules.load_policy("bnssg-hiu-pilot").evaluate(referral, as_of=AS_OF)
    assert [r.rule_id for r in decision.reasons] == ["risk-of-violence", "in-custody"]
    text = decision.explain()
    decided, also = text.index("Decided by: History of violent behaviour"), text.index("Also true:")
    assert decided < also < text.index("[in-custody]")


def test_abbreviations_are_spelt_out_once_and_never_inside_a_quote(referral: dict[str, Any]) -> None:
    referral["in_custody"] = True
    text = flat(recnav_rules.load_policy("bnssg-hiu-pilot").evaluate(referral, as_of=AS_OF).explain())
    assert text.count("(Mental Health Specialist Desk)") == 1
    assert text.count("(Mental Health Integrated Network Teams") == 1
    glossary = Glossary({"MHSD": "Mental Health Specialist Desk", "HIU": "high-intensity user"})
    first = glossary.expand('the MHSD said "the MHSD quote" and the HIU-flag')
    assert first == 'the MHSD (Mental Health Specialist Desk) said "the MHSD quote" and the HIU-flag'
    assert glossary.expand("again the MHSD") == "again the MHSD"
    assert Glossary({"HIU": "x"}).expand('"HIU" then HIU') == '"HIU" then HIU (x)'


def test_next_steps_say_which_weekend_convention_applies(referral: dict[str, Any]) -> None:
    referral["referral_date"] = "2026-11-21"  # a Saturday
    decision = recnav_rules.load_policy("bnssg-hiu-pilot").evaluate(referral, as_of=dt.date(2026, 11, 23))
    assert decision.next_steps[0].due == dt.date(2026, 12, 2)
    assert "counts from the next working day, which is day 0" in flat(decision.explain())


@pytest.mark.parametrize(
    ("start", "count", "day0", "day1"),
    [
        (dt.date(2026, 11, 21), 7, dt.date(2026, 12, 2), dt.date(2026, 12, 1)),  # Saturday
        (dt.date(2026, 12, 25), 2, dt.date(2026, 12, 31), dt.date(2026, 12, 30)),  # Christmas Day
        (dt.date(2026, 11, 20), 7, dt.date(2026, 12, 1), dt.date(2026, 12, 1)),  # a working Friday: no difference
        (dt.date(2026, 11, 21), 0, dt.date(2026, 11, 23), dt.date(2026, 11, 23)),
    ],
)
def test_the_two_conventions(start: dt.date, count: int, day0: dt.date, day1: dt.date) -> None:
    england = calendar_for("GB", "ENG")
    assert england.add_working_days(start, count) == england.add_working_days(start, count, DAY_0) == day0
    assert england.add_working_days(start, count, DAY_1) == day1
    with pytest.raises(ValueError, match="unknown convention"):
        england.add_working_days(start, count, "day_2")


def test_the_convention_is_a_stated_policy_setting(tmp_path: Path) -> None:
    compiled = recnav_rules.load_policy("bnssg-hiu-pilot").compiled
    assert compiled.calendar_convention == DAY_0
    text = (ROOT / "policies" / "somerset.yaml").read_text(encoding="utf-8").replace("received_on_non_working_day: day_0", "received_on_non_working_day: day_1")
    path = tmp_path / "somerset.yaml"
    path.write_text(text, encoding="utf-8")
    assert recnav_rules.load_policy(f"{path}#somerset-waiting-list").compiled.calendar_convention == "day_1"
    path.write_text(text.replace("received_on_non_working_day: day_1", "received_on_non_working_day: day_2"), encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        recnav_rules.load_policy(f"{path}#somerset-waiting-list")
    assert caught.value.code == "bad-value" and caught.value.line == 54 and caught.value.suggestion in ("day_0", "day_1")
