"""Three implementations, one answer: the generated program, the interpreter and durable-rules.

Referrals are generated from each built-in policy's own fact declarations: facts left out,
ages around 18, dates around the referral date, call lists around the calendar-window edges,
zoned call times across the BST changes (the last Sundays of March and October), calls after
the referral date, and declared defaults left to fill in. For every one, the three programs
must give the same outcome, completeness, missing facts (flat and grouped), facts that could
change the reasons, assumed defaults, reasons, signposts, next steps and trace (every
criterion's, rule's and leaf condition's value, and the values read). A disagreement fails
with the shrunk referral. Each decision's fast JSON (``to_json_bytes``, written from cached
parts) must be the same bytes as its ``to_dict()`` serialised plainly.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recnav_rules
from recnav_rules import Policy, batch
from recnav_rules.engine.model import FieldSpec
from recnav_rules.facts_input import read_json_line
from recnav_rules.policies.register import builtin_register, load_pcn_membership
from tests.components import require

AS_OF = dt.date(2026, 11, 20)
MEMBERSHIP = "policies/tests/network4-membership.FIXTURE.csv"
PRACTICES = ["L81004", "L81024", "L81042", "L81063", "L85001", "L81032", "Y99999"]
EXAMPLES = int(os.environ.get("RECNAV_RULES_AGREEMENT_EXAMPLES", "2000"))
DURABLE = importlib.util.find_spec("durable_rules_engine") is not None

# The last Sundays of March and October 2026: the clocks change at 01:00 UTC.
BST_STARTS, BST_ENDS = dt.date(2026, 3, 29), dt.date(2026, 10, 25)


def builtin_policies() -> list[Policy]:
    register = builtin_register().with_pcn_membership(load_pcn_membership(MEMBERSHIP))
    found = []
    for info in recnav_rules.list_policies():
        if info.origin != "builtin":
            continue
        parameters = {"network4_pcn_code": "FIXT004"} if info.id == "bnssg-network4-pcn" else None
        found.append(recnav_rules.load_policy(info.id, register=register, parameters=parameters))
    return found


POLICIES = builtin_policies()


def around(day: dt.date, spread: int) -> st.SearchStrategy[dt.date]:
    return st.integers(-spread, spread).map(lambda d: day + dt.timedelta(days=d))


def moments(referral: dt.date) -> st.SearchStrategy[str]:
    """Call times: naive and zoned, near midnight on the BST change days and window edges."""
    edges = [referral - dt.timedelta(days=d) for d in (-2, -1, 0, 1, 29, 30, 31, 59, 60, 61, 91, 92, 93)]
    edges += [BST_STARTS, BST_ENDS, BST_STARTS - dt.timedelta(days=1), BST_ENDS - dt.timedelta(days=1)]
    day = st.one_of(st.sampled_from(edges), around(referral - dt.timedelta(days=40), 70))
    clock = st.sampled_from(["00:30:00", "01:30:00", "12:00:00", "23:30:00", "23:59:59"])
    zone = st.sampled_from(["", "", "Z", "+00:00", "+01:00", "-01:00"])
    return st.builds(lambda d, c, z: f"{d.isoformat()}T{c}{z}", day, clock, zone)


def value_for(name: str, spec: FieldSpec, referral: dt.date) -> st.SearchStrategy[Any]:
    kind = spec.type
    if kind == "bool":
        return st.booleans()
    if kind == "enum":
        return st.sampled_from(spec.values)
    if kind == "integer":
        if name == "age":
            return st.sampled_from([16, 17, 18, 19, 45])
        return st.integers(0, 15)
    if kind == "date":
        if name == "date_of_birth":
            eighteenth = dt.date(referral.year - 18, referral.month, min(referral.day, 28))
            return st.sampled_from([-1, 0, 1, -7000, 700]).map(lambda d: (eighteenth + dt.timedelta(days=d)).isoformat())
        return around(referral, 40).map(dt.date.isoformat)
    if kind == "ods_code":
        return st.sampled_from(PRACTICES)
    if kind == "list":
        record = st.fixed_dictionaries(
            {
                field: (moments(referral) if sub.type == "datetime" else st.sampled_from(sub.values))
                for field, sub in spec.fields.items()
            }
        )
        return st.lists(record, max_size=12)
    if kind == "string" and name.endswith("sub_icb_code"):
        return st.sampled_from(["15C", "11X", "92G"])
    if kind == "string" and name.endswith("pcn_code"):
        return st.sampled_from(["FIXT004", "FIXT005"])
    return st.nothing()


@st.composite
def facts_for(draw: st.DrawFn, policy: Policy) -> dict[str, Any]:
    referral = AS_OF - dt.timedelta(days=draw(st.sampled_from([0, 0, 1, 30, 240])))
    facts: dict[str, Any] = {}
    for name, spec in policy.compiled.facts.items():
        if spec.personal:
            continue
        if name == "referral_date":
            if draw(st.integers(0, 5)):
                facts[name] = referral.isoformat()
            continue  # else left to its default, the as-of date
        if draw(st.integers(0, 4)) == 0:
            continue  # unknown (or a declared default fills it)
        facts[name] = draw(value_for(name, spec.spec, referral))
    return facts


def answer(policy: Policy, facts: dict[str, Any], engine: str) -> Any:
    try:
        decision = policy.evaluate(facts, as_of=AS_OF, engine=engine)  # type: ignore[arg-type]
    except recnav_rules.FactValidationError as exc:
        return ("bad facts", [(p.field, p.message) for p in exc.problems])
    data = decision.to_dict()
    if engine == "native":  # a batch line made from the engine's parts, no decision made, is the decision's line
        line = batch._decision_line(7, decision, False)
        summary = policy._summary(facts, AS_OF)
        if summary is not None:
            assert batch._summary_line(7, summary, AS_OF) == line, f"summary line differs on {facts!r}"
        read = read_json_line(orjson.dumps(facts))  # as the batch reads a line: the digest may be of what it read
        if read is not None and not policy._native.floats:
            summary = policy._summary(read[0], AS_OF, written=True)
            if summary is not None:
                assert batch._summary_line(7, summary, AS_OF, read[1]) == line, f"summary line of the facts as read differs on {facts!r}"
    # the fast JSON (per-step and per-part caches) is the same bytes as the plain rendering
    assert decision.to_json_bytes() == orjson.dumps(data), f"{engine}: to_json_bytes differs from to_dict on {facts!r}"
    assert decision.to_json_bytes(trace=False) == orjson.dumps(decision.to_dict(trace=False))
    data.pop("engine")
    data["checked facts, in order"] = list(decision.checked_facts.items())
    return data


def engines() -> list[str]:
    return ["native", "interpreter", "durable"] if DURABLE else ["native", "interpreter"]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.id)
def test_three_implementations_agree(policy: Policy) -> None:
    require(DURABLE, "durable-rules", "install the 'durable' extra (Python 3.11 or 3.12) to compare all three")

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(facts_for(policy))
    def agree(facts: dict[str, Any]) -> None:
        answers = {engine: answer(policy, facts, engine) for engine in engines()}
        reference = answers["interpreter"]
        for engine, got in answers.items():
            assert got == reference, f"{engine} disagrees with the interpreter on {facts!r}"

    agree()


def test_generated_and_interpreted_decisions_say_which_engine(hiu: Policy) -> None:
    from tests.conftest import BASELINE

    assert hiu.evaluate(BASELINE, as_of=AS_OF).engine == "native"
    assert hiu.evaluate(BASELINE, as_of=AS_OF, engine="interpreter").engine == "interpreter"
