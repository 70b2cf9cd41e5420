"""Impact analysis (issue 14): a caseload decided under two versions of a policy."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

import recnav_rules
from recnav_rules.assurance.diff import impact, structural_diff
from recnav_rules.cli import main

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "assurance"
OLD, NEW, CASELOAD = DATA / "planted.yaml", DATA / "planted-v2.yaml", DATA / "caseload.jsonl"
AS_OF = dt.date(2026, 11, 20)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def expected() -> tuple[int, dict[tuple[str, str], list[int]], int]:
    """Worked out independently: each line decided under both versions one by one."""
    old, new = recnav_rules.load_policy(OLD), recnav_rules.load_policy(NEW)
    changed, transitions, moved = 0, {}, 0
    for number, line in enumerate(CASELOAD.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            facts = json.loads(line)
            a, b = old.evaluate(facts, as_of=AS_OF), new.evaluate(facts, as_of=AS_OF)
        except (ValueError, AttributeError):
            continue
        if a.outcome != b.outcome:
            changed += 1
            transitions.setdefault((a.outcome.value, b.outcome.value), []).append(number)
        dues_a = {s.action: s.due for s in a.next_steps}
        dues_b = {s.action: s.due for s in b.next_steps}
        moved += sum(1 for k in dues_a.keys() & dues_b.keys() if dues_a[k] != dues_b[k])
    return changed, transitions, moved


def test_counts_transitions_and_examples_match_one_by_one_evaluation() -> None:
    report = impact(recnav_rules.load_policy(OLD), recnav_rules.load_policy(NEW), CASELOAD, as_of=AS_OF, jobs=2)
    data = report.to_dict()
    changed, transitions, moved = expected()
    assert data["changed"] == changed > 0
    assert {(t["from"], t["to"]): t["count"] for t in data["transitions"]} == {k: len(v) for k, v in transitions.items()}
    for t in data["transitions"]:
        assert t["examples"] == transitions[(t["from"], t["to"])][:5]
    assert sum(d["count"] for d in data["due_dates"]) == moved > 0
    assert data["errors"]["both"] == {"count": 2, "examples": [7, 13]}
    assert data["compared"] == 198


def test_rules_whose_truth_changed_are_named() -> None:
    data = impact(recnav_rules.load_policy(OLD), recnav_rules.load_policy(NEW), CASELOAD, as_of=AS_OF).to_dict()
    accept_to_reject = next(t for t in data["transitions"] if (t["from"], t["to"]) == ("accept", "reject"))
    assert accept_to_reject["rules"][0]["rule"] == "accept"
    assert accept_to_reject["rules"][0]["count"] == accept_to_reject["count"]


def test_structural_diff_lists_changed_rules_and_thresholds() -> None:
    found = structural_diff(recnav_rules.load_policy(OLD).compiled, recnav_rules.load_policy(NEW).compiled)
    assert found["criteria"]["changed"] == [{"id": "adult", "what": ["condition age_years gte 18 -> age_years gte 21"]}]
    assert [c["id"] for c in found["rules"]["changed"]] == ["accept"]
    assert found["rules"]["added"] == [] and found["rules"]["removed"] == []
    assert {"in": "criterion adult", "fact": "age_years", "old": "gte 18", "new": "gte 21"} in found["thresholds"]
    assert found["next_steps"]["changed"] == [{"id": "first_contact", "what": ["due 5 working_days -> 7 working_days"]}]
    assert found["order_changed"] is False


def test_the_same_policy_changes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff", str(OLD), str(OLD), "--caseload", str(CASELOAD), "--as-of", "2026-11-20", "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert data["changed"] == 0 and data["transitions"] == [] and data["due_dates"] == []
    assert data["structure"]["thresholds"] == []


def test_cli_text_and_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff", str(OLD), str(NEW), "--caseload", str(CASELOAD), "--as-of", "2026-11-20")
    assert code == 0
    assert "planted-defects 1.0.0 -> planted-defects 1.1.0 (as of 2026-11-20):" in out
    assert "threshold in criterion adult: age_years gte 18 -> gte 21" in out
    code, out, _ = run(capsys, "diff", str(OLD), str(NEW), "--caseload", str(CASELOAD), "--as-of", "2026-11-20", "--format", "markdown")
    assert code == 0
    assert "| from | to | referrals | rules whose truth changed | example lines |" in out
    assert "| accept | reject |" in out


def test_unreadable_caseload_is_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "diff", str(OLD), str(NEW), "--caseload", str(tmp_path / "missing.jsonl"))
    assert code == 2
    assert err == f"recnav-rules: error: {tmp_path / 'missing.jsonl'}: cannot read: no such file\n"


def test_impact_refuses_an_unreadable_caseload_before_any_work(tmp_path: Path) -> None:
    policy = recnav_rules.load_policy(OLD)
    with pytest.raises(recnav_rules.PolicyError, match="cannot read caseload"):
        impact(policy, policy, tmp_path / "missing.jsonl", as_of=AS_OF)
