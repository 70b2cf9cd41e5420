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
