"""The BNSSG HIU pilot as a GoRules zen-engine decision model, for the side-by-side benchmark.

Run:  python benchmarks/zen_hiu.py [--referrals 2000] [--write]

The model (``zen_hiu.json``, a JDM graph: request -> one decision table -> response) is one
"collect" decision table. Each row names a policy rule and the value it takes, ``true`` or
``unknown``: a missing fact reaches zen-engine as null, and the rows are generated from the
rules' three-valued (Kleene) formulas, so that a rule is reported ``unknown`` exactly when the
hand-written function's ``_and``/``_or``/``_not`` give None. ``--write`` regenerates the JSON
from the formulas below.

Preprocessing runs in Python, exactly as in ``handwritten.decide``, and is timed with the
table: parse the dates, work out the age, count the qualifying calls in their windows, look up
the practice's sub-ICB. After the table, Python picks the outcome as the hand-written function
does: the first rule (in the policy's priority order) that holds decides, and the decision is
incomplete when a rule before it, of another outcome, is unknown.

``runner`` is what ``bench_hiu.py`` times; ``agreement`` checks the table against
``handwritten.decide``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import itertools
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zen

HERE = Path(__file__).resolve().parent
MODEL_FILE = HERE / "zen_hiu.json"

_spec = importlib.util.spec_from_file_location("handwritten", HERE / "handwritten.py")
assert _spec is not None and _spec.loader is not None
handwritten = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(handwritten)

# --- the formulas, over classes of each input's values --------------------------------------------

_BOOL = {"true": "$ == true", "false": "$ == false"}
_OUTCOMES = ("self_care", "signposting", "specialist_referral", "other")
_LISTED = ", ".join(json.dumps(v) for v in _OUTCOMES)
# Column -> its non-null value classes -> the zen unary expression matching exactly that class.
# zen's comparisons are false on null, but != is true; and a cell that mixes "or" with "and", or
# that starts with a parenthesis, never matches (zen-engine 2.1), so cells are written without
# them (see _cell) and model() checks every cell it writes against sample values.
CLASSES: dict[str, dict[str, str]] = {
    "age": {"lt18": "$ < 18", "ge18": "$ >= 18"},
    "sub_icb": {"15C": '$ == "15C"', "other": '$ != null and $ != "15C"'},
    "triage_outcome": {
        **{value: f'$ == "{value}"' for value in _OUTCOMES},
        "rest": f"$ != null and $ not in [{_LISTED}]",
    },
    "c1": {"lt5": "$ < 5", "ge5": "$ >= 5"},
    "c3": {"lt12": "$ < 12", "ge12": "$ >= 12"},
    **{name: _BOOL for name in (
        "triage_completed", "secondary", "mints", "violence", "ld", "pmh", "substance", "kmd", "dementia",
        "custody", "consent", "cad",
    )},
}
# A value of each class, to check the cells with.
SAMPLES: dict[str, dict[str, Any]] = {
    "age": {"lt18": 17, "ge18": 18},
    "sub_icb": {"15C": "15C", "other": "11X"},
    "triage_outcome": {**{v: v for v in _OUTCOMES}, "rest": "unheard_of"},
    "c1": {"lt5": 4, "ge5": 5},
    "c3": {"lt12": 11, "ge12": 12},
    **{name: {"true": True, "false": False} for name, classes in CLASSES.items() if classes is _BOOL},
}
COLUMNS = list(CLASSES)
NULL = "null"

Row = dict[str, frozenset[str]]
"""A conjunction: column -> the classes it may take (an absent column may take any)."""


@dataclass(frozen=True)
class Atom:
    """A test of one column: true for ``true`` classes, false for the other non-null ones, unknown for null."""

    column: str
    true: frozenset[str]


@dataclass(frozen=True)
class Not:
    term: Formula


@dataclass(frozen=True)
class And:
    terms: tuple[Formula, ...]


@dataclass(frozen=True)
class Or:
    terms: tuple[Formula, ...]


Formula = Atom | Not | And | Or


def atom(column: str, *true: str) -> Atom:
    assert set(true) <= set(CLASSES[column]), (column, true)
    return Atom(column, frozenset(true))


def is_(column: str, value: bool) -> Atom:
    return atom(column, "true" if value else "false")


def and_(*terms: Formula) -> And:
    return And(terms)


def or_(*terms: Formula) -> Or:
    return Or(terms)


_HIU = or_(is_("cad", True), atom("c1", "ge5"), atom("c3", "ge12"))
_LD = and_(is_("ld", True), is_("pmh", False))
_SM = and_(is_("substance", True), is_("kmd", False))
FORMULAS: dict[str, Formula] = {  # as in handwritten.decide
    "under-18": atom("age", "lt18"),
    "gp-outside-bnssg": Not(atom("sub_icb", "15C")),
    "not-fully-triaged": is_("triage_completed", False),
    "specialist-referral-required": atom("triage_outcome", "specialist_referral"),
    "open-to-secondary-care": is_("secondary", True),
    "receiving-mints-support": is_("mints", True),
    "risk-of-violence": is_("violence", True),
    "learning-disability-without-mental-health-need": _LD,
    "substance-misuse-without-known-disorder": _SM,
    "primary-dementia-diagnosis": is_("dementia", True),
    "in-custody": is_("custody", True),
    "no-primary-mental-health-need": is_("pmh", False),
    "triage-outcome-not-self-care-or-signposting": atom("triage_outcome", "other"),
    "no-consent": is_("consent", False),
    "not-high-intensity-user": Not(_HIU),
    "accept": and_(
        is_("pmh", True), atom("sub_icb", "15C"), atom("age", "ge18"), _HIU,
        and_(is_("triage_completed", True), atom("triage_outcome", "self_care", "signposting")),
        is_("consent", True),
        and_(
            is_("secondary", False), is_("mints", False), is_("violence", False), is_("dementia", False),
            is_("custody", False), Not(_LD), Not(_SM),
        ),
    ),
}
assert list(FORMULAS) == [rule for rule, _ in handwritten.RULES]


# --- formulas to rows (disjunctive normal form) ---------------------------------------------------


def _all(column: str) -> frozenset[str]:
    return frozenset(CLASSES[column]) | {NULL}


def _meet(a: Row, b: Row) -> Row | None:
    row = dict(a)
    for column, classes in b.items():
        both = row.get(column, _all(column)) & classes
        if not both:
            return None
        row[column] = both
    return row


def _cross(left: list[Row], right: list[Row]) -> list[Row]:
    return [row for a, b in itertools.product(left, right) if (row := _meet(a, b)) is not None]


def _covers(big: Row, small: Row) -> bool:
    return all(small.get(c, _all(c)) <= classes for c, classes in big.items())


def _simplify(rows: list[Row]) -> list[Row]:
    """Merge rows that differ in one column, drop rows another row covers."""
    rows = [{c: v for c, v in row.items() if v != _all(c)} for row in rows]
    changed = True
    while changed:
        changed = False
        for i, j in itertools.combinations(range(len(rows)), 2):
            a, b = rows[i], rows[j]
            differ = [c for c in set(a) | set(b) if a.get(c, _all(c)) != b.get(c, _all(c))]
            if len(differ) == 1:
                c = differ[0]
                merged = {**a, c: a.get(c, _all(c)) | b.get(c, _all(c))}
                rows[i] = {k: v for k, v in merged.items() if v != _all(k)}
                del rows[j]
                changed = True
                break
        kept: list[Row] = []
        for index, row in enumerate(rows):
            if not any(other is not row and _covers(other, row) and (other != row or k < index) for k, other in enumerate(rows)):
                kept.append(row)
        changed = changed or len(kept) != len(rows)
        rows = kept
    return rows


def _rows(formula: Formula, want: str) -> list[Row]:
    """Rows where ``formula`` is ``want``: T (true), F (false), U (unknown), NF (not false), NT (not true)."""
    if isinstance(formula, Atom):
        non_null = frozenset(CLASSES[formula.column])
        cells = {"T": formula.true, "F": non_null - formula.true, "U": frozenset({NULL})}
        cells["NF"], cells["NT"] = cells["T"] | {NULL}, cells["F"] | {NULL}
        return [{formula.column: cells[want]}] if cells[want] else []
    if isinstance(formula, Not):
        return _rows(formula.term, {"T": "F", "F": "T", "U": "U", "NF": "NT", "NT": "NF"}[want])
    terms = formula.terms
    # And and Or are duals: Or(x)=T is like And(x)=F, and so on.
    conj = isinstance(formula, And)
    all_of, any_of, all_not = ("T", "F", "NF") if conj else ("F", "T", "NT")
    if want == all_of:
        return _simplify(_product(terms, all_of))
    if want == any_of or want == ("NT" if conj else "NF"):
        which = any_of if want == any_of else ("NT" if conj else "NF")
        return _simplify([row for term in terms for row in _rows(term, which)])
    if want == all_not:
        return _simplify(_product(terms, all_not))
    # unknown: no term decides (none any_of), at least one unknown; split on the first unknown term
    found: list[Row] = []
    for i, term in enumerate(terms):
        parts = [_rows(t, all_of) for t in terms[:i]] + [_rows(term, "U")] + [_rows(t, all_not) for t in terms[i + 1:]]
        found += _product_rows(parts)
    return _simplify(found)


def _product(terms: Iterable[Formula], want: str) -> list[Row]:
    return _product_rows([_rows(t, want) for t in terms])


def _product_rows(parts: list[list[Row]]) -> list[Row]:
    rows: list[Row] = [{}]
    for part in parts:
        rows = _simplify(_cross(rows, part))
    return rows


_LITERALS: dict[str, dict[str, str]] = {  # classes that are one value: column -> class -> its literal
    "sub_icb": {"15C": '"15C"'},
    "triage_outcome": {v: json.dumps(v) for v in _OUTCOMES},
    **{name: {"true": "true", "false": "false"} for name, classes in CLASSES.items() if classes is _BOOL},
}


def _cell(column: str, classes: frozenset[str]) -> str:
    """The unary expression for ``column`` taking one of ``classes`` (null included when listed)."""
    every = _all(column)
    if classes == every:
        return ""
    if classes == every - {NULL}:
        return "$ != null"
    if classes == {NULL}:
        return "$ == null"
    literals = _LITERALS.get(column, {})
    if NULL in classes and len(every - classes) == 1 and (left_out := next(iter(every - classes))) in literals:
        return f"$ != {literals[left_out]}"
    if NULL in classes and column == "triage_outcome" and "rest" in classes:
        listed = ", ".join(json.dumps(v) for v in _OUTCOMES if v not in classes)
        return f"$ not in [{listed}]"
    parts = (["$ == null"] if NULL in classes else []) + [CLASSES[column][c] for c in CLASSES[column] if c in classes]
    assert len(parts) == 1 or not any(" and " in p for p in parts), (column, classes)
    return " or ".join(parts)


def table_rows() -> list[tuple[str, str, Row]]:
    """(rule id, "true" or "unknown", the row's classes per column) for every table row, in rule order."""
    return [
        (rule, value, {c: row.get(c, _all(c)) for c in COLUMNS})
        for rule, formula in FORMULAS.items()
        for value, want in (("true", "T"), ("unknown", "U"))
        for row in _rows(formula, want)
    ]


def check_cells(rows: list[tuple[str, str, Row]]) -> None:
    """Check every distinct cell against a sample value of each class (and null), in zen-engine itself."""
    for column, classes in sorted({(c, k) for _, _, row in rows for c, k in row.items()}, key=repr):
        cell = _cell(column, classes)
        table = {
            "hitPolicy": "collect", "inputs": [{"id": "x", "name": "x", "type": "expression", "field": "x"}],
            "outputs": [{"id": "o", "name": "o", "type": "expression", "field": "o"}],
            "rules": [{"_id": "r", "x": cell, "o": "true"}],
        }
        graph = {"nodes": [{"id": "i", "type": "inputNode", "name": "i"}, {"id": "t", "type": "decisionTableNode", "name": "t", "content": table},
                           {"id": "out", "type": "outputNode", "name": "o"}],
                 "edges": [{"id": "a", "sourceId": "i", "targetId": "t"}, {"id": "b", "sourceId": "t", "targetId": "out"}]}
        decision = zen.ZenEngine().create_decision(json.dumps(graph))
        for klass, value in [(NULL, None), *SAMPLES[column].items()]:
            matched = bool(decision.evaluate({"x": value})["result"])
            if matched != (klass in classes):
                raise AssertionError(f"cell {cell!r} of {column} {'matches' if matched else 'misses'} {value!r}")


def model(rows: list[tuple[str, str, Row]] | None = None) -> dict[str, Any]:
    """The JDM graph: request -> decision table (collect) -> response."""
    inputs = [{"id": f"in_{c}", "name": c, "type": "expression", "field": c} for c in COLUMNS]
    rules = [
        {"_id": f"r{i}", **{f"in_{c}": _cell(c, row[c]) for c in COLUMNS}, "out_rule": json.dumps(rule), "out_value": json.dumps(value)}
        for i, (rule, value, row) in enumerate(table_rows() if rows is None else rows)
    ]
    table = {
        "id": "table", "type": "decisionTableNode", "name": "HIU pilot rules", "position": {"x": 300, "y": 100},
        "content": {
            "hitPolicy": "collect", "inputs": inputs, "rules": rules,
            "outputs": [{"id": "out_rule", "name": "rule", "type": "expression", "field": "rule"},
                        {"id": "out_value", "name": "value", "type": "expression", "field": "value"}],
        },
    }
    return {
        "contentType": "application/vnd.gorules.decision",
        "nodes": [{"id": "in", "type": "inputNode", "name": "Request", "position": {"x": 0, "y": 100}}, table,
                  {"id": "out", "type": "outputNode", "name": "Response", "position": {"x": 600, "y": 100}}],
        "edges": [{"id": "e1", "type": "edge", "sourceId": "in", "targetId": "table"},
                  {"id": "e2", "type": "edge", "sourceId": "table", "targetId": "out"}],
    }


# --- running it ----------------------------------------------------------------------------------


def context(facts: dict[str, Any], as_of: dt.date, sub_icb_of: dict[str, str]) -> dict[str, Any]:
    """The same preprocessing as the hand-written function; a missing fact becomes null."""
    referral = dt.date.fromisoformat(facts["referral_date"]) if facts.get("referral_date") else as_of
    age = facts.get("age")
    if facts.get("date_of_birth") is not None:
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
    sub_icb = sub_icb_of.get(code.strip().upper()) if code is not None else None
    if sub_icb is None:
        sub_icb = facts.get("gp_sub_icb_code")
    g = facts.get
    return {
        "age": age, "sub_icb": sub_icb, "triage_completed": g("mhsd_triage_completed"), "triage_outcome": g("mhsd_triage_outcome"),
        "secondary": g("open_to_secondary_mental_health_services"), "mints": g("receiving_mints_support"),
        "violence": g("risk_of_violence"), "ld": g("diagnosed_learning_disability"), "pmh": g("primary_mental_health_need"),
        "substance": g("substance_misuse"), "kmd": g("known_mental_health_disorder"), "dementia": g("primary_dementia_diagnosis"),
        "custody": g("in_custody"), "consent": g("consent_to_referral"), "cad": g("cad_hiu_flag"), "c1": c1, "c3": c3,
    }


_ORDER = [(rule, outcome) for rule, outcome in handwritten.RULES]


def pick(hits: list[dict[str, str]]) -> tuple[str, bool, list[str]]:
    """(outcome, complete, rules that hold) from the table's hits, as the hand-written function picks."""
    values = {hit["rule"]: hit["value"] for hit in hits}
    held = [rule for rule, _ in _ORDER if values.get(rule) == "true"]
    outcome, open_outcomes = "reject", set()
    for rule, rule_outcome in _ORDER:
        value = values.get(rule)
        if value == "true":
            outcome = rule_outcome
            break
        if value == "unknown":
            open_outcomes.add(rule_outcome)
    if open_outcomes - {outcome}:
        return "reject", False, held
    return outcome, True, held


def load_model() -> str:
    return MODEL_FILE.read_text(encoding="utf-8")


def decider(as_of: dt.date, sub_icb_of: dict[str, str]) -> Callable[[dict[str, Any]], tuple[str, bool, list[str]]]:
    """One referral's (outcome, complete, held rules) through zen-engine, preprocessing included."""
    decision = zen.ZenEngine().create_decision(load_model())

    def decide(facts: dict[str, Any]) -> tuple[str, bool, list[str]]:
        hits: list[dict[str, str]] = list(decision.evaluate(context(facts, as_of, sub_icb_of))["result"])
        return pick(hits)

    return decide


def runner(referrals: list[dict[str, Any]], as_of: dt.date, sub_icb_of: dict[str, str]) -> Callable[[], object]:
    """A function that decides every referral once (what bench_hiu.py times)."""
    decide = decider(as_of, sub_icb_of)

    def run() -> object:
        result: object = None
        for facts in referrals:
            result = decide(facts)
        return result

    return run


def agreement_counts(referrals: list[dict[str, Any]], as_of: dt.date, sub_icb_of: dict[str, str]) -> dict[str, int]:
    """How many referrals zen-engine and ``handwritten.decide`` agree on, complete ones and all."""
    decide = decider(as_of, sub_icb_of)
    counts = {"complete": 0, "complete_same_outcome": 0, "all": 0, "all_same_decision": 0}
    for facts in referrals:
        expected = handwritten.decide(facts, as_of, sub_icb_of)
        got = decide(facts)
        counts["all"] += 1
        counts["all_same_decision"] += got == expected  # outcome, completeness and every rule that holds
        if expected[1]:
            counts["complete"] += 1
            counts["complete_same_outcome"] += got[0] == expected[0]
    return counts


def agreement(referrals: list[dict[str, Any]], as_of: dt.date, sub_icb_of: dict[str, str]) -> float:
    """The share (0..1) of the referrals ``handwritten.decide`` finds complete on which zen-engine gives the same outcome."""
    counts = agreement_counts(referrals, as_of, sub_icb_of)
    return counts["complete_same_outcome"] / counts["complete"] if counts["complete"] else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--referrals", type=int, default=2000)
    parser.add_argument("--write", action="store_true", help=f"regenerate {MODEL_FILE.name} from the formulas")
    args = parser.parse_args()
    rows = table_rows()
    if args.write:
        check_cells(rows)
        MODEL_FILE.write_text(json.dumps(model(rows), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_FILE}: {len(rows)} table rows, every cell checked in zen-engine")
    elif json.loads(load_model()) != model(rows):
        sys.exit(f"{MODEL_FILE.name} is out of date: run with --write")
    sys.path.insert(0, str(HERE.parent))
    spec = importlib.util.spec_from_file_location("bench_hiu", HERE / "bench_hiu.py")
    assert spec is not None and spec.loader is not None
    bench_hiu = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_hiu)
    from recnav_rules.policies.register import builtin_register

    sub_icb = {p.code: p.sub_icb_code for p in builtin_register() if p.status == "active"}
    referrals = bench_hiu.make_referrals(args.referrals)
    counts = agreement_counts(referrals, bench_hiu.AS_OF, sub_icb)
    print(f"same outcome on {counts['complete_same_outcome']} of {counts['complete']} complete referrals "
          f"({agreement(referrals, bench_hiu.AS_OF, sub_icb):.2%}); same outcome, completeness and rules on "
          f"{counts['all_same_decision']} of {counts['all']} referrals")


if __name__ == "__main__":
    main()
