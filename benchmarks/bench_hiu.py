"""Side-by-side timing of the BNSSG HIU pilot decision: the engines against hand-written Python.

Run:  python benchmarks/bench_hiu.py [--referrals 2000] [--repeats 7] [--engines native,trace,...]

Every contender gets the same raw, JSON-like referrals (dates as ISO strings, a list of calls)
and does the whole job from them. Prints the best microseconds per decision over interleaved
rounds, and each figure's ratio to the hand-written (three-valued) function. Not a test: the figures go in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import recnav_rules  # noqa: E402
from recnav_rules.policies.register import builtin_register  # noqa: E402


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


AS_OF = dt.date(2026, 11, 20)
BOOLS = (
    "primary_mental_health_need",
    "known_mental_health_disorder",
    "diagnosed_learning_disability",
    "substance_misuse",
    "primary_dementia_diagnosis",
    "mhsd_triage_completed",
    "consent_to_referral",
    "open_to_secondary_mental_health_services",
    "receiving_mints_support",
    "risk_of_violence",
    "in_custody",
)
USUAL_TRUE = {"primary_mental_health_need", "known_mental_health_disorder", "mhsd_triage_completed", "consent_to_referral"}


def make_referrals(count: int, seed: int = 1) -> list[dict[str, Any]]:
    """Realistic referrals: mostly complete, 8 calls on average, some facts missing."""
    rng = random.Random(seed)
    practices = ["L81004", "L81007", "L81008", "L85001"]
    out: list[dict[str, Any]] = []
    for _ in range(count):
        facts: dict[str, Any] = {
            "referral_date": (AS_OF - dt.timedelta(days=rng.randint(0, 60))).isoformat(),
            "date_of_birth": dt.date(rng.randint(1940, 2010), rng.randint(1, 12), rng.randint(1, 28)).isoformat(),
            "gp_practice_code": rng.choice(practices),
            "mhsd_triage_outcome": rng.choice(["self_care", "signposting", "self_care", "specialist_referral"]),
            "cad_hiu_flag": rng.random() < 0.3,
        }
        for name in BOOLS:
            usual = name in USUAL_TRUE
            facts[name] = usual if rng.random() < 0.9 else not usual
        if rng.random() < 0.1:
            del facts[rng.choice(BOOLS)]
        referral = dt.date.fromisoformat(facts["referral_date"])
        facts["emergency_calls"] = [
            {
                "at": (referral - dt.timedelta(days=rng.randint(-2, 95))).isoformat() + f"T{rng.randint(0, 23):02d}:15:00",
                "category": rng.choice(["emergency", "urgent", "other"]),
                "location": rng.choice(["private_dwelling", "private_dwelling", "public_place"]),
            }
            for _ in range(rng.randint(0, 16))
        ]
        out.append(facts)
    return out


def each(function: Callable[[dict[str, Any]], object], referrals: list[dict[str, Any]]) -> Callable[[], object]:
    """Decide every referral in turn, as a service does: each result is dropped when the next
    comes (keeping them all would time the garbage collector's work on 2,000 live decisions)."""

    def run() -> object:
        result: object = None
        for facts in referrals:
            result = function(facts)
        return result

    return run


def best_us(runs: dict[str, Callable[[], object]], count: int, repeats: int) -> dict[str, float]:
    """The fastest of ``repeats`` rounds for each contender, the rounds interleaved so that a
    busy moment on a shared machine falls on every contender alike (timeit's advice: the
    minimum is the least disturbed figure)."""
    best = {name: float("inf") for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], (time.perf_counter() - start) / count * 1e6)
    return best


def contenders(referrals: list[dict[str, Any]], wanted: set[str]) -> dict[str, Callable[[], object]]:
    policy = recnav_rules.load_policy("bnssg-hiu-pilot")
    handwritten = _load("handwritten")
    sub_icb = {p.code: p.sub_icb_code for p in builtin_register() if p.status == "active"}
    found: dict[str, Callable[[], object]] = {
        "hand-written Python (the floor)": each(lambda f: handwritten.decide(f, AS_OF, sub_icb), referrals),
        "hand-written plain Python (two-valued, no unknowns)": each(lambda f: handwritten.decide_plain(f, AS_OF, sub_icb), referrals),
        "native engine, decision (trace recorded, rendered on demand)": each(
            lambda f: policy.evaluate(f, as_of=AS_OF), referrals
        ),
        "native engine, decision + trace rendered": each(lambda f: policy.evaluate(f, as_of=AS_OF).trace, referrals),
        "native engine, decision + to_dict() with trace": each(
            lambda f: policy.evaluate(f, as_of=AS_OF).to_dict(), referrals
        ),
        "native engine, decision serialised to JSON with trace": each(
            lambda f: policy.evaluate(f, as_of=AS_OF).to_json_bytes(), referrals
        ),
        "interpreter (reference), decision (trace recorded)": each(
            lambda f: policy.evaluate(f, as_of=AS_OF, engine="interpreter"), referrals
        ),
    }
    if "durable" in wanted:
        try:
            from recnav_rules.engine.durable import is_available

            if is_available():
                found["durable-rules engine"] = each(lambda f: policy.evaluate(f, as_of=AS_OF, engine="durable"), referrals)
        except ImportError:
            pass
    if "zen" in wanted:
        try:
            zen_bench = _load("zen_hiu")
            found["GoRules zen-engine decision table"] = zen_bench.runner(referrals, AS_OF, sub_icb)
            counts = zen_bench.agreement_counts(referrals, AS_OF, sub_icb)
            print(
                f"zen-engine gives the hand-written decision (outcome, completeness, rules that hold) on "
                f"{counts['all_same_decision']} of {counts['all']} referrals"
            )
        except ImportError as exc:
            print(f"(zen-engine skipped: {exc})")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--referrals", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--with", dest="extra", default="durable,zen", help="comma list: durable, zen")
    args = parser.parse_args()
    referrals = make_referrals(args.referrals)
    runs = contenders(referrals, set(args.extra.split(",")))
    for run in runs.values():  # warm up: compile, caches, imports
        run()
    results = best_us(runs, len(referrals), args.repeats)
    floor = results["hand-written Python (the floor)"]
    print(f"Python {platform.python_version()} on {platform.machine()}, {args.referrals} referrals, best of {args.repeats} interleaved rounds")
    print(f"{'contender':<64} {'us/decision':>12} {'x floor':>8}")
    for name, value in results.items():
        print(f"{name:<64} {value:12.1f} {value / floor:8.2f}")


if __name__ == "__main__":
    main()
