"""Batch throughput: generate N referrals as JSONL, run the batch command, report the figures.

Run:  python benchmarks/bench_batch.py [--referrals 1000000] [--jobs 2]

Target: 1,000,000 referrals in under 2 minutes on a 2-core machine. Prints wall time,
throughput, peak memory (this process and its workers), and checks that the counts add up.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--referrals", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("bench_hiu", HERE / "bench_hiu.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "in.jsonl"
        out = Path(folder) / "out.jsonl"
        with source.open("w", encoding="utf-8") as handle:
            written = 0
            while written < args.referrals:  # generated in blocks: memory stays small
                block = bench.make_referrals(min(10_000, args.referrals - written), seed=written + 1)
                handle.writelines(json.dumps(f) + "\n" for f in block)
                written += len(block)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "recnav_rules.cli", "evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20",
             "--batch", str(source), "--out", str(out), "--jobs", str(args.jobs)],
            capture_output=True, text=True, check=True,
        )
        elapsed = time.perf_counter() - started
        with out.open(encoding="utf-8") as handle:
            decided = sum(1 for _ in handle)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"Python {platform.python_version()} on {platform.machine()}, jobs={args.jobs}")
    print(f"{args.referrals:,} referrals in {elapsed:.1f} s: {args.referrals / elapsed:,.0f} per second")
    print(f"peak memory of the largest process: {peak_kib / 1024:.0f} MiB")
    print(result.stderr.strip().splitlines()[-1])
    print(f"decision lines written: {decided:,}")


if __name__ == "__main__":
    main()
