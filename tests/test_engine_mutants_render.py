"""Rendering at its edges: canonical JSON and digests, and the plain-English explanation.

Written from mutmut's survivors (docs/testing.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest
import rfc8785

import recnav_rules
from recnav_rules.canonical import canonical_bytes, canonical_json, digest_of, has_float, jsonable
from recnav_rules.engine.explain import Glossary


def test_jsonable_turns_dates_tuples_sets_and_keys_into_json() -> None:
    value = {1: dt.date(2026, 2, 3), "t": (1, dt.datetime(2026, 2, 3, 4, 5)), "s": frozenset({"b", "a"}), "l": [{2}]}
    assert jsonable(value) == {"1": "2026-02-03", "t": [1, "2026-02-03T04:05:00"], "s": ["a", "b"], "l": [[2]]}
    assert jsonable("x") == "x" and jsonable(None) is None and jsonable(1.5) == 1.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, True),
        (1, False),
        (True, False),
        ("1.0", False),
        ({"a": {"b": [1, 2.5]}}, True),
        ({"a": {"b": [1, 2]}}, False),
        ((1, (2, 0.1)), True),
        ([], False),
        ({}, False),
    ],
)
def test_has_float_looks_everywhere(value: Any, expected: bool) -> None:
    assert has_float(value) is expected


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [True, None, "é\u2028"], "c": {"z": 0, "y": -5}},
        {"f": 1.0, "g": 1e21, "h": 0.1, "i": -0.0},
        {"n": [1, 2.5], "m": "x"},
    ],
)
def test_canonical_bytes_are_rfc8785_whichever_path_is_taken(value: Any) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)
    assert canonical_json(value) == rfc8785.dumps(value).decode("utf-8")
    assert digest_of(value) == hashlib.sha256(rfc8785.dumps(value)).hexdigest()


def test_a_set_of_mixed_types_is_sorted_by_its_written_form() -> None:
    assert canonical_bytes({"s": {1, "a"}}) == b'{"s":["a",1]}'
    assert jsonable(frozenset({1, "a"})) == ["a", 1]


def test_dates_and_sets_are_written_as_text_and_sorted_lists() -> None:
    value = {"d": dt.date(2026, 2, 3), "t": dt.datetime(2026, 2, 3, 4, 5, 6), "s": {"b", "a"}}
    expected = b'{"d":"2026-02-03","s":["a","b"],"t":"2026-02-03T04:05:06"}'
    assert canonical_bytes(value) == expected
    assert canonical_bytes(value, floats=False) == expected
    assert digest_of(value) == hashlib.sha256(expected).hexdigest()
    # with floats the value goes through rfc8785 after jsonable: the same bytes
    assert canonical_bytes({**value, "x": 0.5}) == expected[:-1] + b',"x":0.5}'


def test_checked_times_use_orjsons_own_text() -> None:
    moment = dt.datetime(2026, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    assert canonical_bytes({"t": moment}, checked_times=True) == b'{"t":"2026-02-03T04:05:06+00:00"}'
    assert digest_of({"t": moment}, checked_times=True) == hashlib.sha256(b'{"t":"2026-02-03T04:05:06+00:00"}').hexdigest()


def test_a_float_promised_away_is_not_looked_for_and_others_are_refused() -> None:
    # floats=False is the caller's promise: the fast path is taken even for a float
    assert canonical_bytes({"x": 1.0}, floats=False) == b'{"x":1.0}'
    assert digest_of({"x": 1.0}, floats=False) == hashlib.sha256(b'{"x":1.0}').hexdigest()
    assert canonical_bytes({"x": 1.0}, floats=True) == b'{"x":1}'
    with pytest.raises(TypeError):
        canonical_bytes({"x": object()})


def test_glossary_spells_out_each_term_once_outside_quotations() -> None:
    glossary = Glossary({"GP": "general practitioner", "MHSD": "Mental Health Specialist Desk"})
    assert glossary.expand('The "GP" said') == 'The "GP" said'
    assert glossary.expand("A GP-led or GPs service") == "A GP-led or GPs service"
    assert glossary.expand("Ask the GP.") == "Ask the GP (general practitioner)."
    assert glossary.expand("Ask the GP again.") == "Ask the GP again."
    # a term already spelt out is skipped, and the next one is still looked for
    assert glossary.expand("The GP and the MHSD.") == "The GP and the MHSD (Mental Health Specialist Desk)."
    assert glossary.expand("MHSD again") == "MHSD again"
    fresh = Glossary({"GP": "general practitioner", "MHSD": "Mental Health Specialist Desk"})
    # a term not in the text does not stop the search; an expansion already there is not repeated
    assert fresh.expand("MHSD, the Mental Health Specialist Desk") == "MHSD, the Mental Health Specialist Desk"
    assert fresh.expand("Ask the GP.") == "Ask the GP (general practitioner)."
    # a term absent from the text does not stop the search for the next
    assert Glossary({"GP": "general practitioner", "MHSD": "Mental Health Specialist Desk"}).expand("The MHSD.") == "The MHSD (Mental Health Specialist Desk)."
    assert Glossary({}).expand("GP") == "GP"
    # a term whose expansion is already there does not stop the next from being spelt out
    both = Glossary({"GP": "general practitioner", "MHSD": "Mental Health Specialist Desk"})
    assert both.expand("GP (general practitioner) and MHSD") == "GP (general practitioner) and MHSD (Mental Health Specialist Desk)"


EXPLAINED = """\
policies:
  - id: explained
    version: 2.0.0
    title: An explained policy whose title is long enough to pass seventy chars
    sources:
      doc: {file: doc.txt, title: A document, publisher: A trust, date: 2024-01-01}
    glossary: {MHSD: Mental Health Specialist Desk}
    parameters:
      adult_age:
        type: integer
        description: Adult from.
        values: {2020-01-01: 18}
      codes:
        type: string_list
        description: Codes.
        values: {2020-01-01: [A1, B2]}
    facts:
      age: {type: integer, minimum: 0, description: Age.}
      member: {type: bool, default: false, description: A member.}
      urgent: {type: bool, default: false, description: Urgent.}
      name: {type: string, personal: true, description: Name.}
      referred: {type: date, description: Referred.}
      contacted: {type: date, description: Contacted.}
      calls:
        type: list
        description: Calls.
        fields: {at: {type: date}}
    criteria:
      grown:
        description: Grown up.
        when: {fact: age, gte: {param: adult_age}}
    rules:
      - id: child
        when: {not: {criterion: grown}}
        outcome: signpost
        reason: Under age for the MHSD pathway.
        signpost: [bnes-wellbeing-house]
        citation: {source: doc, quote: "Adults only, MHSD says."}
      - id: calls-only
        when: {all: [{fact: calls, present: true}, {fact: member, eq: true}]}
        outcome: reject
        reason: Members who call.
        assumption: The MHSD decides members who call.
      - id: urgent-case
        when: {fact: urgent, eq: true}
        outcome: reject
        reason: Urgent cases go elsewhere.
        assumption: Urgent means elsewhere.
      - id: welcome
        when: {all: [{criterion: grown}, {fact: age, lt: 100}]}
        outcome: accept
        reason: An adult.
        assumption: Adults are welcome.
      - id: late
        when: {fact: referred, lt: 2000-01-01}
        outcome: reject
        reason: Referred so long ago that the referral has lapsed and must be made again from the start, by the referrer.
        assumption: Old referrals lapse.
    otherwise:
      outcome: reject
      reason: Nothing applies.
      assumption: Otherwise no.
    incomplete:
      outcome: reject
      reason: Not enough information.
      assumption: Unknown means no.
    next_steps:
      - action: contact
        description: Make contact.
        on: [accept]
        due: {working_days: 5, after: referred}
        window_opens: {working_days: 1}
        actual: contacted
        assumption: Within five working days.
      - action: review
        description: Review how the first weeks went with the person, their family and everyone else who supports them.
        on: [accept]
        due: {calendar_days: 10, after: referred}
        assumption: Ten days on.
"""


@pytest.fixture(scope="module")
def explained(tmp_path_factory: pytest.TempPathFactory) -> recnav_rules.Policy:
    path = tmp_path_factory.mktemp("explained") / "explained.yaml"
    path.write_text(EXPLAINED, encoding="utf-8")
    return recnav_rules.load_policy(path)


AS_OF = dt.date(2026, 11, 20)


def explanation(policy: recnav_rules.Policy, facts: dict[str, Any]) -> list[str]:
    return policy.evaluate(facts, as_of=AS_OF).explain().splitlines()


def test_an_accept_is_explained_from_headline_to_engine(explained: recnav_rules.Policy) -> None:
    lines = explanation(explained, {"age": 30, "referred": "2026-11-20", "name": "Ann Example", "calls": [{"at": "2026-11-01"}]})
    assert lines[:5] == [
        "Policy: An explained policy whose title is long enough to pass seventy chars (explained 2.0.0)",
        "Decision as of 2026-11-20",
        "",
        "ACCEPT: the referral meets the criteria for this service.",
        "This outcome rests on defaults the policy declares, not on facts given: member, urgent (give",
    ]
    text = "\n".join(lines)
    assert "Ann Example" not in text
    assert "\nWhy:\n  Decided by: An adult. [welcome]\n     Assumption (the source is silent): Adults are welcome.\n" in text
    assert "\nNext steps:\n  - Make contact. Due 2026-11-27 (window opens 2026-11-23); pending. [contact]\n  - Review how the first weeks went with the person, their family and everyone else who supports\n    them. Due 2026-11-30. [review]\n  Working days exclude weekends" in text
    assert "\n\nParameters the policy was loaded with: adult_age = 18; codes = A1, B2\n\nNotes:\n" in text
    assert "\n\nHow each check came out (true / false / unknown):\n  - grown (criterion): TRUE. Grown up.\n      read: age = 30\n" in text
    assert "  - child (rule -> signpost): FALSE. Under age for the MHSD (Mental Health Specialist Desk)\n    pathway.\n      read: age = 30\n" in text
    assert "\n\nWhy:\n  Decided by:" in text and "\n\nNext steps:\n" in text
    assert "  - calls-only (rule -> reject): FALSE. Members who call.\n      read: calls = " in text
    assert "; member = no (default)\n  - urgent-case (rule -> reject): FALSE. Urgent cases go elsewhere.\n      read: urgent = no (default)\n  - welcome (rule -> accept): TRUE. An adult.\n      read: age = 30\n" in text
    assert "\n\nDefaults the policy filled in (not given): member, urgent\n" in text
    notes = lines[lines.index("Notes:") + 1 : lines.index("How each check came out (true / false / unknown):") - 1]
    assert notes[0].startswith("  - Reference data gp_practices") and len(notes) > 1
    assert all(line.startswith("    ") and not line.startswith("     ") for line in notes[1:])
    assert "\nPersonal details were checked and withheld from this record: name\n" in text
    assert lines[-1] == "Engine: " + explained.evaluate({"age": 30}, as_of=AS_OF).engine + " " + recnav_rules.__version__
    digests = [line for line in lines if "digest: " in line]
    decision = explained.evaluate({"age": 30, "referred": "2026-11-20", "name": "Ann Example", "calls": [{"at": "2026-11-01"}]}, as_of=AS_OF)
    assert digests == [f"Policy digest: sha256:{decision.policy_digest}", f"Facts digest:  sha256:{decision.facts_digest}"]
    assert lines[lines.index(digests[1]) + 1].startswith("Reference data gp_practices: name ODS epraccur")


def test_a_signpost_names_the_service_and_a_met_step_its_date(explained: recnav_rules.Policy) -> None:
    text = "\n".join(explanation(explained, {"age": 12, "referred": "2026-11-20", "calls": [], "member": True}))
    assert "SIGNPOST: this service is not the right one; the person should be pointed elsewhere." in text
    assert "\n  Decided by: Under age for the MHSD (Mental Health Specialist Desk) pathway. [child]\n" in text
    assert '     Source: A document (A trust, 2024-01-01) [doc.txt]: "Adults only, MHSD says."\n' in text
    assert "\n  Also true:\n  1. Members who call. [calls-only]\n     Assumption (the source is silent): The MHSD decides members who call.\n" in text
    lapsed = "\n".join(explanation(explained, {"age": 40, "referred": "1999-01-01"}))
    # a reason too long for one line continues under its text
    assert "\n  1. Referred so long ago that the referral has lapsed and must be made again from the start, by\n     the referrer. [late]\n" in lapsed
    # a line too long wraps at a space, never inside a service id
    assert "\n\nSignpost to:\n  - Wellbeing House (A retreat for people experiencing mental and emotional distress.)\n    [bnes-wellbeing-house]\n" in text
    assert "read: calls = " in text and "; member = yes\n" in text
    assert "  - child (rule -> signpost): TRUE. Under age for the MHSD pathway.\n" in text  # spelt out once only
    assert "\nDefaults the policy filled in (not given): urgent\n" in text and "Personal details" not in text
    accepted = "\n".join(explanation(explained, {"age": 40, "referred": "2026-11-20", "contacted": "2026-11-24"}))
    assert "  - Make contact. Due 2026-11-27 (window opens 2026-11-23), happened 2026-11-24; met. [contact]\n" in accepted


def test_missing_facts_and_later_reasons_are_explained(explained: recnav_rules.Policy) -> None:
    text = "\n".join(explanation(explained, {"calls": [{"at": "2026-11-01"}], "member": True}))
    assert text.startswith("Policy: An explained policy whose title is long enough to pass seventy chars (explained 2.0.0)\nDecision as of 2026-11-20\n\nREJECT:")
    assert "The facts given do not settle the decision, so the policy's rule for missing information\napplies. Missing: age." in text
    assert "\n  Undetermined: Not enough information. [incomplete]\n" in text
    assert "\n  Also true (could not decide while earlier rules are unknown):\n  1. Members who call. [calls-only]\n" in text
    assert "read: age not given" in text and "Next steps:" not in text
    nothing = "\n".join(explanation(explained, {"age": 40, "member": False}))
    assert "\n  Decided by: An adult. [welcome]\n" in nothing and "Also true" not in nothing
    assert "\n  - Make contact. Due no date yet; pending. [contact]\n  - Review how the first weeks went with the person, their family and everyone else who supports\n    them. Due no date yet. [review]\n" in nothing
    # a later rule left unknown could change the reasons, not the outcome
    assert "service.\nNot given, and could still change the reasons or places to signpost to (not the outcome):\nreferred.\n" in nothing
    otherwise = "\n".join(explanation(explained, {"age": 100, "member": False, "referred": "2026-11-20"}))
    assert "\nWhy:\n  No rule applies: Nothing applies. [otherwise]\n     Assumption (the source is silent): Otherwise no.\n" in otherwise


def test_a_list_fact_is_shown_by_its_number_of_records(explained: recnav_rules.Policy) -> None:
    text = "\n".join(explanation(explained, {"age": 30, "calls": [{"at": "2026-11-01"}], "member": True}))
    assert "read: calls = 1 record; member = yes" in text
    text = "\n".join(explanation(explained, {"age": 30, "calls": [], "member": True}))
    assert "read: calls = 0 records; member = yes" in text


@pytest.mark.parametrize(("extra", "lines"), [("", 1), ("x", 2)])
def test_the_title_line_wraps_past_96_characters(tmp_path: Path, extra: str, lines: int) -> None:
    title = "An explained policy whose title is long enough to pass seventy chars"
    path = tmp_path / "title.yaml"
    # "Policy: " + title + " (explained 2.0.0)" is 94 characters; two more fill the line exactly
    path.write_text(EXPLAINED.replace(title, title + "ab" + extra), encoding="utf-8")
    policy = recnav_rules.load_policy(path)
    text = policy.evaluate({"age": 30}, as_of=AS_OF).explain()
    assert text.index("Decision as of") == len(text.splitlines()[0]) + 1 if lines == 1 else text.splitlines()[1] == "2.0.0)"
