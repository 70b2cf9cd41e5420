"""The built-in policies under every assurance check (issue 14): CI keeps them here.

Mutation testing at 100% killed, MC/DC at 100% (masking), and the static analysis clean (no
rule that can never decide; overlaps are listed for review, not failures). The mutation run is
the slow one: about 10 s of CPU for both files on 2 cores (docs/assurance.md has the figures).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from recnav_rules.assurance._engine import register_for
from recnav_rules.assurance.analyse import analyse_policy
from recnav_rules.assurance.mcdc import report_for_results
from recnav_rules.assurance.mutate import mutation_test
from recnav_rules.policies.registry import load_policy
from recnav_rules.tools.cases import run_cases

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
CASES = POLICIES / "tests"
MEMBERSHIP = CASES / "network4-membership.FIXTURE.csv"


@pytest.mark.slow
@pytest.mark.parametrize("file", ["bnssg.yaml", "somerset.yaml"])
def test_every_mutant_of_the_builtin_policies_is_killed(file: str) -> None:
    report = mutation_test(POLICIES / file, [CASES], jobs=2)
    survivors = [f"{r.mutant.where}: {r.mutant.description}" for r in report.results if r.status == "survived"]
    assert survivors == []
    assert report.score() == 100.0
    assert all(report.cases[pid] > 0 for pid in report.policy_ids)


def test_builtin_cases_show_every_part_of_every_condition() -> None:
    text, complete = report_for_results(list(run_cases([CASES])))
    assert complete, text
    assert text.count("100.0% of") == 4


@pytest.mark.parametrize(
    ("target", "register", "parameters"),
    [
        ("bnssg.yaml#bnssg-hiu-pilot", None, {}),
        ("bnssg.yaml#bnssg-network4-pcn", MEMBERSHIP, {"network4_pcn_code": "FIXT004"}),
        ("somerset.yaml#somerset-waiting-list", None, {}),
        ("somerset.yaml#somerset-integrated-model", None, {}),
    ],
)
def test_builtin_policies_have_no_rule_that_can_never_decide(target: str, register: Path | None, parameters: dict[str, str]) -> None:
    reg = register_for(str(register) if register else None)
    path = str(POLICIES / target)
    policy = load_policy(path, register=reg, parameters=parameters) if parameters else load_policy(path, register=reg)
    analysis = analyse_policy(policy, dt.date(2026, 11, 20))
    assert [f.message for f in analysis.errors] == []
    fired = {f.rules[0] for f in analysis.findings if f.check == "fires" and f.severity == "ok"}
    assert fired == set(policy.rule_ids)
    assert all(f.reproduced for f in analysis.findings if f.counterexample is not None)
    personal = {name for name, fact in policy.facts.items() if fact.personal}
    assert all(not (set(f.counterexample) & personal) for f in analysis.findings if f.counterexample is not None)


def test_impact_of_raising_the_hiu_adult_age_on_the_case_facts(tmp_path: Path) -> None:
    import json

    from recnav_rules.assurance.diff import impact
    from recnav_rules.tools.cases import load_cases

    caseload = tmp_path / "caseload.jsonl"
    cases = [c for c in load_cases(CASES / "bnssg-hiu-pilot.cases.yaml") if c.as_of == dt.date(2026, 11, 20)]
    caseload.write_text("".join(json.dumps(c.facts, default=str) + "\n" for c in cases), encoding="utf-8")
    text = (POLICIES / "bnssg.yaml").read_text(encoding="utf-8")
    assert "          2023-01-01: 18\n" in text
    changed = tmp_path / "bnssg.yaml"
    changed.write_text(text.replace("          2023-01-01: 18\n", "          2023-01-01: 19\n", 1), encoding="utf-8")
    old = load_policy(str(POLICIES / "bnssg.yaml#bnssg-hiu-pilot"))
    new = load_policy(f"{changed}#bnssg-hiu-pilot")
    data = impact(old, new, caseload, as_of=dt.date(2026, 11, 20), jobs=2).to_dict()
    expected: dict[tuple[str, str], int] = {}
    for case in cases:
        try:
            a, b = old.evaluate(case.facts, as_of=case.as_of), new.evaluate(case.facts, as_of=case.as_of)
        except ValueError:
            continue
        if a.outcome != b.outcome:
            expected[(a.outcome.value, b.outcome.value)] = expected.get((a.outcome.value, b.outcome.value), 0) + 1
    assert expected  # the 18th-birthday case changes
    assert {(t["from"], t["to"]): t["count"] for t in data["transitions"]} == expected
    assert {"in": "criterion adult", "fact": "age_years", "old": "gte 18", "new": "gte 19"} in data["structure"]["thresholds"]
