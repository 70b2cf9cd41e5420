"""Spark throughput: evaluate N referrals with ``evaluate_dataframe`` in local mode, report the figures.

Run:  python benchmarks/bench_spark.py [--referrals 1000000] [--pool 20000] [--master local[2]]

The referrals are ``bench_hiu.make_referrals``' realistic mix (mostly complete, 8 calls on
average, about 10% with a fact missing), as JSON strings. ``--pool`` distinct referrals are
generated in Python and repeated by a broadcast join on ``spark.range(N)`` to make N rows (the
engine keeps no per-facts cache, so a repeated referral costs what a new one does). The
decisions are forced through Spark's ``noop`` sink, so the time is Spark plus evaluation, not
writing files. It prints the wall time of the job, rows per second, the count per outcome and
the number of error rows (which must be 0), and checks the per-outcome counts against the
library's own decisions on the pool. Not a test: the figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
AS_OF = dt.date(2026, 11, 20)


def _bench_hiu() -> Any:
    """The HIU benchmark's referral generator (one generator for every benchmark)."""
    sys.path.insert(0, str(HERE))
    import bench_hiu

    return bench_hiu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--referrals", type=int, default=1_000_000)
    parser.add_argument("--pool", type=int, default=20_000)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    import recnav_rules
    from recnav_rules.spark import evaluate_dataframe

    pool = _bench_hiu().make_referrals(args.pool, seed=1)
    policy = recnav_rules.load_policy("bnssg-hiu-pilot")
    library = [policy.evaluate(facts, as_of=AS_OF).outcome.value for facts in pool]

    spark = (
        SparkSession.builder.master(args.master)
        .appName("recnav-bench-spark")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        referrals = spark.createDataFrame([(i, json.dumps(f)) for i, f in enumerate(pool)], "k long, facts string")
        rows = spark.range(args.referrals).select(F.col("id"), (F.col("id") % args.pool).alias("k"))
        df = rows.join(F.broadcast(referrals), "k").select("id", "k", "facts")
        decided = evaluate_dataframe(df, "bnssg-hiu-pilot", as_of=AS_OF)

        started = time.perf_counter()
        decided.write.format("noop").mode("overwrite").save()
        seconds = time.perf_counter() - started

        grouped = decided.groupBy("outcome", F.col("error").isNotNull().alias("bad")).count().collect()
        counts = {(r["outcome"], bool(r["bad"])): r["count"] for r in grouped}
    finally:
        spark.stop()

    expected: collections.Counter[str] = collections.Counter()
    for index, outcome in enumerate(library):
        expected[outcome] += args.referrals // args.pool + (1 if index < args.referrals % args.pool else 0)
    got = {outcome: n for (outcome, bad), n in counts.items() if not bad}
    errors = sum(n for (_outcome, bad), n in counts.items() if bad)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, master {args.master}")
    print(f"referrals: {args.referrals:,} ({args.pool:,} distinct, as JSON strings)")
    print(f"evaluate_dataframe -> noop sink: {seconds:.1f} s wall, {args.referrals / seconds:,.0f} referrals per second")
    print(f"outcomes: {dict(sorted(got.items()))}; error rows: {errors}")
    print(f"per-outcome counts equal the library's on the pool: {got == dict(expected)}")
    if errors or got != dict(expected):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
