"""Sources are records and quotes are verified: the built-in policies' quotes against the shipped
texts, a misquote located at the quote with the closest passage, unchecked sources warned about."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recnav_rules
from recnav_rules.policies.sources import SHIPPED_SOURCES, closest_passage, find_source_text, normalise, similarity
from recnav_rules.tools.validate import report, validate_paths

ROOT = Path(__file__).resolve().parent.parent
BNSSG = ROOT / "policies" / "bnssg.yaml"
AS_OF = dt.date(2026, 11, 20)

TINY = """\
policies:
  - id: tiny
    version: 1.0.0
    title: A tiny policy
    sources:
      doc:
        file: doc.txt
        title: A document
        publisher: A publisher
        date: 2024-05-01
        obtained: From the publisher.
    facts:
      age: {type: integer, minimum: 0, description: Age in years.}
    rules:
      - id: child
        when: {fact: age, lt: 18}
        outcome: reject
        reason: Too young.
        citation: {source: doc, quote: "We support adults only."}
    otherwise: {outcome: accept, reason: An adult., assumption: Everyone else is an adult.}
    incomplete: {outcome: reject, reason: Age unknown., assumption: Age decides.}
"""


def problems_in(path: Path) -> list[tuple[str, str, int | None, int | None]]:
    return [(p.severity, p.code, p.line, p.column) for p in validate_paths([path])]


def test_every_builtin_quote_is_checked_against_a_shipped_text_and_passes() -> None:
    problems = validate_paths(sorted((ROOT / "policies").glob("*.yaml")))
    assert problems == []
    text, code = report(problems, as_json=False, strict=True)
    assert code == 0 and text.endswith("0 error(s), 0 warning(s)\n")


def test_shipped_texts_are_the_redacted_copies_and_hold_no_email_address() -> None:
    shipped = sorted(p.name for p in SHIPPED_SOURCES.glob("*.txt"))
    assert shipped == sorted(p.name for p in (ROOT / "tests" / "data" / "sources").glob("*.txt"))
    email = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[a-z]{2,}")
    for name in shipped:
        text = (SHIPPED_SOURCES / name).read_text(encoding="utf-8")
        assert text == (ROOT / "tests" / "data" / "sources" / name).read_text(encoding="utf-8")
        assert not email.search(text), name


def test_declared_sha256_is_the_shipped_texts() -> None:
    for policy_id in ("bnssg-hiu-pilot", "somerset-waiting-list", "somerset-integrated-model"):
        records = recnav_rules.load_policy(policy_id).compiled.source_records
        for record in records.values():
            raw = (SHIPPED_SOURCES / str(record["file"])).read_bytes()
            assert record["sha256"] == hashlib.sha256(raw).hexdigest()


def test_one_changed_word_is_an_error_at_the_quote_with_the_closest_passage(tmp_path: Path) -> None:
    text = BNSSG.read_text(encoding="utf-8")
    original = 'quote: "Individuals with a primary dementia diagnosis"'
    assert text.count(original) == 1
    changed = tmp_path / "bnssg.yaml"
    changed.write_text(text.replace(original, 'quote: "Individuals with a secondary dementia diagnosis"'), encoding="utf-8")
    line = next(n for n, row in enumerate(changed.read_text(encoding="utf-8").splitlines(), 1) if "secondary dementia" in row)
    problems = validate_paths([changed])
    assert [(p.code, p.line) for p in problems] == [("misquote", line)]
    problem = problems[0]
    assert problem.severity == "error"
    assert problem.column == changed.read_text(encoding="utf-8").splitlines()[line - 1].index('"') + 1
    assert problem.suggestion == "Individuals with a primary dementia diagnosis"
    _, code = report(problems, as_json=False, strict=False)
    assert code == 1


def test_whitespace_and_typographic_quotes_are_normalised() -> None:
    assert normalise("the ‘HIU’  and\n “MHSD”") == "the 'HIU' and \"MHSD\""
    words = tuple(normalise("one two three four five six").split(" "))
    assert closest_passage("three fuor five", words) == "three four five"
    assert closest_passage("", words) is None
    assert closest_passage("anything", ()) is None


ADULTS = "Welcome.\nWe support\n adults only. Thank you."


def tiny(tmp_path: Path, text: str | None, *, folder: str = ".", sha256: str | None = None, policy: str = TINY) -> Path:
    """The tiny policy in ``tmp_path``, its source text (when given) in ``folder``, and the
    record's sha256 (that of the text unless given)."""
    if text is not None:
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / "doc.txt").write_text(text, encoding="utf-8")
        sha256 = sha256 or hashlib.sha256(text.encode("utf-8")).hexdigest()
    if sha256 is not None:
        policy = policy.replace("obtained: From the publisher.", f"obtained: From the publisher.\n        sha256: {sha256}")
    path = tmp_path / "tiny.yaml"
    path.write_text(policy, encoding="utf-8")
    return path


def test_a_source_without_its_text_is_unchecked_a_warning_and_strict_fails(tmp_path: Path) -> None:
    problems = validate_paths([tiny(tmp_path, None, sha256="a" * 64)])
    assert [(p.severity, p.code, p.line, p.column) for p in problems] == [("warning", "unchecked-quotes", 7, 15)]
    assert "quotes are unchecked" in problems[0].message
    assert report(problems, as_json=False, strict=False)[1] == 0
    assert report(problems, as_json=False, strict=True)[1] == 1


@pytest.mark.parametrize("folder", [".", "sources"])
def test_a_text_beside_the_policy_or_in_sources_is_checked(tmp_path: Path, folder: str) -> None:
    assert problems_in(tiny(tmp_path, ADULTS, folder=folder)) == []
    policy = tiny(tmp_path, "Welcome. We support children only.", folder=folder)
    assert problems_in(policy) == [("error", "misquote", 20, 40)]
    assert find_source_text("../doc.txt", policy) is None


def test_a_changed_text_is_an_error_at_its_declared_sha256(tmp_path: Path) -> None:
    assert problems_in(tiny(tmp_path, ADULTS, sha256="a" * 64)) == [("error", "source-changed", 12, 17)]


def test_an_incomplete_record_and_an_undated_source_without_assumption_are_warnings(tmp_path: Path) -> None:
    policy = TINY.replace("        publisher: A publisher\n", "").replace("2024-05-01", "undated")
    found = [(p.severity, p.code, p.line) for p in validate_paths([tiny(tmp_path, ADULTS, policy=policy)])]
    assert found == [("warning", "source-record", 6), ("warning", "source-record", 9)]


def test_decisions_and_explanations_name_the_source_by_title_and_date() -> None:
    policy = recnav_rules.load_policy("bnssg-network4-pcn", parameters={"network4_pcn_code": "FIXT004"})
    decision = policy.evaluate({"age": 17}, as_of=AS_OF)
    reason = decision.to_dict()["reasons"][0]
    assert reason["rule_id"] == "under-18"
    hiu = recnav_rules.load_policy("bnssg-hiu-pilot").evaluate({"age": 17}, as_of=AS_OF)
    cited = hiu.to_dict()["reasons"][0]
    assert cited["source"] == "000_05720e33c34897d3.txt"
    assert cited["source_title"] == (
        "Recovery Navigator Service (in partnership with SWASFT), SOP extract "
        "(Second Step with South Western Ambulance Service NHS Foundation Trust, undated)"
    )
    assert "SOP extract (Second Step with South Western Ambulance Service NHS Foundation Trust, undated)" in " ".join(hiu.explain().split())
    assert recnav_rules.Decision.from_dict(hiu.to_dict()).reasons[0].citation.source_title == cited["source_title"]


SOP_WORDS = tuple(normalise((SHIPPED_SOURCES / "000_05720e33c34897d3.txt").read_text(encoding="utf-8")).split(" "))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, len(SOP_WORDS) - 12), st.integers(3, 12), st.sampled_from([" ", "\n", "  ", "\t "]))
def test_any_verbatim_passage_passes_however_it_is_wrapped(start: int, size: int, gap: str) -> None:
    quote = gap.join(SOP_WORDS[start : start + size]).replace("'", "’")
    assert normalise(quote) in " ".join(SOP_WORDS)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, len(SOP_WORDS) - 12), st.integers(4, 12), st.data())
def test_a_changed_word_is_caught_and_the_suggestion_is_at_least_as_close_as_the_original(start: int, size: int, data: st.DataObject) -> None:
    window = list(SOP_WORDS[start : start + size])
    changed = list(window)
    changed[data.draw(st.integers(0, size - 1))] = "zqxv"
    quote = " ".join(changed)
    assert quote not in " ".join(SOP_WORDS)
    passage = closest_passage(quote, SOP_WORDS)
    assert passage is not None
    assert similarity(quote, passage) >= similarity(quote, " ".join(window))
