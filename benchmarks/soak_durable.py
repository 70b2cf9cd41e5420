"""Soak the durable-rules engine: N decisions (default 1,000,000) compared with the native engine.

Run:  python benchmarks/soak_durable.py [--decisions 1000000]

Reports mismatches (must be 0) and resident memory at intervals (must stay flat: sessions are
deleted, rulesets are created once).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import recnav_rules  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("bench_hiu", HERE / "bench_hiu.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    referrals = bench.make_referrals(5000)
    policy = recnav_rules.load_policy("bnssg-hiu-pilot")
    as_of = dt.date(2026, 11, 20)
    expected = [policy.evaluate(f, as_of=as_of) for f in referrals]
    wanted = [(d.outcome, d.complete, [r.rule_id for r in d.reasons], d.missing_facts) for d in expected]
    mismatches = 0
    started = time.perf_counter()
    for n in range(args.decisions):
        index = n % len(referrals)
        got = policy.evaluate(referrals[index], as_of=as_of, engine="durable")
        if (got.outcome, got.complete, [r.rule_id for r in got.reasons], got.missing_facts) != wanted[index]:
            mismatches += 1
        if (n + 1) % (args.decisions // 10 or 1) == 0:
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{n + 1:>9,} decisions, {mismatches} mismatches, peak RSS {rss:.0f} MiB, {time.perf_counter() - started:.0f} s", flush=True)
    print(f"done: {args.decisions:,} durable-rules decisions, {mismatches} mismatches")


if __name__ == "__main__":
    main()
