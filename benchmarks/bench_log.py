"""Decision-log speed: one evaluate-and-record, a logged batch, and verifying the log.

Run:  python benchmarks/bench_log.py [--single 2000] [--durability normal|full] [--referrals 1000000 | --input IN.jsonl] [--jobs 2] [--folder DIR]

Targets (issue 12, on a 2-core machine): one ``evaluate`` + ``DecisionLog.record`` on SQLite in
under 200 us; ``recnav-rules evaluate --batch IN --jobs 2 --log LOG`` on 1,000,000 referrals in
under 2 minutes; ``recnav-rules log verify LOG`` of those million records in under 30 s. The
referrals are ``bench_hiu.make_referrals``'s realistic mix (as in bench_batch.py). Not a test:
the figures go in docs/performance.md. CPU times are the process's (``time.process_time``) and,
for the commands, their children's (``os.times``); each line gives the load average around it.
The single-decision CPU is the whole process's, which includes the SQLite log's background
checkpoint thread; the recording thread's own share (``time.thread_time``) is given beside it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_average() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def single(folder: Path, count: int, durability: str | None) -> None:
    import recnav_rules
    from recnav_rules.audit import DecisionLog

    referrals = _load("bench_hiu").make_referrals(count, seed=7)
    policy = recnav_rules.load_policy("bnssg-hiu-pilot")
    day = dt.date(2026, 11, 20)
    load = _load_average()
    with DecisionLog(folder / "single.sqlite", durability=durability) as log:
        log.record(policy.evaluate(referrals[0], as_of=day), policy=policy, facts=referrals[0])  # stores the sources once
        rounds, cpu, thread_cpu, evaluate_wall, evaluate_cpu = [], [], [], [], []
        for _ in range(5):
            started, started_cpu, started_thread = time.perf_counter(), time.process_time(), time.thread_time()
            for facts in referrals:
                log.record(policy.evaluate(facts, as_of=day), policy=policy, facts=facts)
            rounds.append((time.perf_counter() - started) / len(referrals) * 1e6)
            cpu.append((time.process_time() - started_cpu) / len(referrals) * 1e6)
            thread_cpu.append((time.thread_time() - started_thread) / len(referrals) * 1e6)
            started, started_cpu = time.perf_counter(), time.process_time()
            for facts in referrals:
                policy.evaluate(facts, as_of=day)
            evaluate_wall.append((time.perf_counter() - started) / len(referrals) * 1e6)
            evaluate_cpu.append((time.process_time() - started_cpu) / len(referrals) * 1e6)
    print(f"one evaluate + record (SQLite, WAL, durability {durability or 'normal'}), median of 5 rounds of {count}:"
          f" {statistics.median(rounds):.0f} us wall, {statistics.median(cpu):.0f} us CPU"
          f" ({statistics.median(thread_cpu):.0f} us in the recording thread, the rest the log's checkpoint thread)"
          f" (evaluate alone {statistics.median(evaluate_wall):.0f} us wall, {statistics.median(evaluate_cpu):.0f} us CPU;"
          f" rounds {', '.join(f'{r:.0f}' for r in rounds)} us wall; load average {load} before, {_load_average()} after)")


def _cli(*args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    started = time.perf_counter()
    # run from this checkout's root: ``-m`` puts the working directory first on the path, so the
    # command would otherwise import whichever recnav_rules the caller's directory holds
    done = subprocess.run(
        [sys.executable, "-m", "recnav_rules.cli", *args], capture_output=True, text=True, env=env, check=False, cwd=ROOT,
    )
    return time.perf_counter() - started, done


def batch(folder: Path, count: int, jobs: int, given: str | None) -> None:
    source, out, log = folder / "in.jsonl", folder / "out.jsonl", folder / "batch.sqlite"
    if given is not None:
        source = Path(given).resolve()
        with source.open("rb") as handle:
            count = sum(1 for _ in handle)
        print(f"input: {count:,} referrals from {source}")
    else:
        started = time.perf_counter()
        with source.open("w", encoding="utf-8") as handle:
            handle.writelines(_load("bench_batch").referral_lines(count))
        print(f"input: {count:,} referrals, {source.stat().st_size / 2**20:,.0f} MiB of JSONL (generated in {time.perf_counter() - started:.1f} s)")
    before, load = os.times(), _load_average()
    elapsed, done = _cli(
        "evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20", "--batch", str(source), "--out", str(out),
        "--jobs", str(jobs), "--log", str(log),
    )
    if done.returncode != 0:
        sys.exit(f"batch command failed ({done.returncode}):\n{done.stderr}")
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    size = sum(p.stat().st_size for p in folder.iterdir() if p.name.startswith("batch.sqlite"))
    records = _records(log)
    print(f"batch --jobs {jobs} --log: {elapsed:.1f} s wall, {count / elapsed:,.0f} referrals per second, {cpu:.1f} s CPU"
          f" ({cpu / count * 1e6:.0f} us per referral); log {size / 2**20:,.0f} MiB ({size / max(records, 1):,.0f} bytes a record);"
          f" load average {load} before, {_load_average()} after")
    print(f"summary: {done.stderr.strip().splitlines()[-1]}")
    if given is None:
        source.unlink()
    out.unlink()
    before, load = os.times(), _load_average()
    elapsed, done = _cli("log", "verify", str(log))
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    print(f"log verify: {elapsed:.1f} s wall, {cpu:.1f} s CPU, exit {done.returncode}: {done.stdout.strip()[:90]};"
          f" load average {load} before, {_load_average()} after")


def _records(log: Path) -> int:
    import sqlite3

    with sqlite3.connect(f"file:{log}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=2000, help="referrals per round of evaluate + record (0: skip)")
    parser.add_argument("--referrals", type=int, default=1_000_000, help="referrals in the logged batch (0: skip)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--folder", help="where the logs go (default: a temporary folder, removed after)")
    parser.add_argument("--input", help="an existing JSONL file of referrals to use instead of generating --referrals")
    parser.add_argument("--durability", choices=("normal", "full"), help="the single-decision log's durability (default: normal)")
    args = parser.parse_args()
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(dir=args.folder) as name:
        folder = Path(name).resolve()  # the commands run from the checkout's root
        if args.single:
            single(folder, args.single, args.durability)
        if args.referrals or args.input:
            batch(folder, args.referrals, args.jobs, args.input)


if __name__ == "__main__":
    main()
