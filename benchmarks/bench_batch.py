"""Batch throughput: stream N referrals to a JSONL file, run the batch command on it, report the figures.

Run:  python benchmarks/bench_batch.py [--referrals 1000000] [--jobs 2] [--trace] [--input IN.jsonl]
      python benchmarks/bench_batch.py --stages 5000   # CPU per line of each stage, in one process

Target (issue 9): 1,000,000 referrals in under 30 s on a 2-core machine, memory flat. The referrals are the
realistic mix of ``bench_hiu.make_referrals`` (mostly complete, 8 calls on average, about 10%
with a fact missing), generated in small blocks and written straight to a temporary file, so
this script's own memory stays small too. It then runs

    recnav-rules evaluate --policy bnssg-hiu-pilot --as-of 2026-11-20 --batch IN --out OUT --jobs N

in a subprocess and prints the wall time, throughput, the CPU time of all its processes per
referral (the figure to compare on a shared machine: wall time depends on what else runs), the
load average, the host's speed before and after (``host_speed``: a fixed loop's CPU time, which
varies twofold from minute to minute here), peak RSS (this script, and the largest of the
command's processes: the main process or a worker) and the command's summary line, and checks
that every line is accounted for. ``--input`` keeps the generated referrals in that file, and reuses it when it already holds
as many lines (generating a million takes about a minute). Not a test: the figures go in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BLOCK = 10_000


def _bench_hiu() -> Any:
    """The HIU benchmark's referral generator (one generator for every benchmark)."""
    sys.path.insert(0, str(HERE))
    import bench_hiu

    return bench_hiu


def referral_lines(count: int) -> Iterator[str]:
    """``count`` referrals as JSON lines, generated lazily in blocks of ``BLOCK``."""
    make_referrals = _bench_hiu().make_referrals
    written = 0
    while written < count:
        block = make_referrals(min(BLOCK, count - written), seed=written + 1)
        for facts in block:
            yield json.dumps(facts) + "\n"
        written += len(block)


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))


def stages(count: int, rounds: int = 5) -> None:
    """CPU time per line of each stage a worker runs, in this process (``time.process_time``,
    the least of ``rounds`` interleaved rounds): reading the JSON, the engine's parts of the
    summary (the generated program, the settled outcome, next steps, checked facts), the facts
    digest, the output line, and the whole of a worker's job on a block of lines."""
    sys.path.insert(0, str(ROOT))
    import datetime as dt
    import gc

    import recnav_rules
    from recnav_rules import batch
    from recnav_rules.decision import facts_digest
    from recnav_rules.facts_input import read_json_line

    lines = [line.encode() for line in referral_lines(count)]
    policy = recnav_rules.load_policy("bnssg-hiu-pilot")
    as_of = dt.date(2026, 11, 20)
    as_read = [read_json_line(line) for line in lines]
    if any(one is None for one in as_read):
        raise SystemExit("a generated referral needs the careful reader")
    facts = [one[0] for one in as_read if one is not None]
    summaries = [policy._summary(f, as_of, written=True) for f in facts]
    if any(s is None for s in summaries):
        raise SystemExit("a generated referral was handed over to the interpreter")
    blocks = [batch._Block(i + 1, b"".join(lines[i : i + 500]), len(lines[i : i + 500])) for i in range(0, count, 500)]
    gc.collect()
    gc.freeze()  # the samples held here are not the collector's work in a worker, which holds one line at a time

    def read() -> None:
        for line in lines:
            read_json_line(line)

    def decide() -> None:
        for f in facts:
            policy._summary(f, as_of, written=True)

    plain = [policy._summary(f, as_of) for f in facts]  # with the checked facts made: lines not as given

    def digest() -> None:
        for summary in plain:
            facts_digest(summary[2], floats=summary[4])

    def write() -> None:
        for number, (summary, one) in enumerate(zip(summaries, as_read, strict=True), start=1):
            batch._summary_line(number, summary, as_of, one[1] if one is not None else None)

    def worker() -> None:
        for block in blocks:
            batch._decide_block(policy, block, as_of, False)

    runs = {"read JSON (unvouched, written back sorted)": read, "engine parts (Policy._summary, as given)": decide,
            "facts digest of checked facts (not as given)": digest,
            "output line (digest included)": write, "a worker's whole job, per line": worker}
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.process_time()
            run()
            best[name] = min(best[name], (time.process_time() - started) / count * 1e6)
    print(f"CPU per line in one process ({count:,} referrals, least of {rounds} rounds; load average {os.getloadavg()[0]:.2f};"
          " stages timed apart add up to less than the whole job, which works on new objects each line):")
    for name, us in best.items():
        print(f"  {name:44s} {us:6.1f} us")


def host_speed() -> float:
    """Milliseconds of CPU for a fixed pure-Python loop (3,000,000 additions), the least of three.

    The host this machine runs on gives it more or less speed from minute to minute (the same
    loop has taken 103 ms and 200 ms within the same hour, with nothing else running here), and
    the batch's wall time moves with it: printed before and after the run so that a figure can
    be read with the speed it was taken at."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        total = 0
        for number in range(3_000_000):
            total += number
        best = min(best, time.process_time() - started)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--referrals", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--trace", action="store_true", help="full decisions with traces")
    parser.add_argument("--input", type=Path, help="keep the generated referrals here; reuse them if the file holds as many")
    parser.add_argument("--stages", type=int, metavar="N", help="instead: CPU per line of each stage, on N referrals in this process")
    args = parser.parse_args()
    if args.stages:
        stages(args.stages)
        return
    with tempfile.TemporaryDirectory() as folder:
        source = args.input or Path(folder) / "in.jsonl"
        out = Path(folder) / "out.jsonl"
        started = time.perf_counter()
        if not (args.input and source.is_file() and _count_lines(source) == args.referrals):
            with source.open("w", encoding="utf-8") as handle:
                handle.writelines(referral_lines(args.referrals))
        generated = time.perf_counter() - started
        command = [
            sys.executable, "-m", "recnav_rules.cli", "evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20",
            "--batch", str(source), "--out", str(out), "--jobs", str(args.jobs),
        ] + (["--trace"] if args.trace else [])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        load_before = os.getloadavg()[0]
        speed_before = host_speed()
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        elapsed = time.perf_counter() - started
        speed_after = host_speed()
        if result.returncode != 0:
            sys.exit(f"batch command failed ({result.returncode}):\n{result.stderr}")
        size_mib = source.stat().st_size / 2**20
        with out.open(encoding="utf-8") as handle:
            decided = sum(1 for _ in handle)
        errors_file = Path(f"{out}.errors.jsonl")
        errors = sum(1 for _ in errors_file.open(encoding="utf-8")) if errors_file.exists() else 0
    self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    children_kib = children.ru_maxrss
    cpu = children.ru_utime + children.ru_stime
    summary = result.stderr.strip().splitlines()[-1]
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores, jobs={args.jobs}, trace={args.trace}")
    print(f"input: {args.referrals:,} referrals, {size_mib:,.0f} MiB of JSONL (generated or checked in {generated:.1f} s)")
    print(f"batch command: {elapsed:.1f} s wall, {args.referrals / elapsed:,.0f} referrals per second")
    print(f"CPU time of the batch processes: {cpu:.1f} s, {cpu / args.referrals * 1e6:.0f} us per referral"
          f" (the wall time on {os.cpu_count()} otherwise idle cores is at least {cpu / (os.cpu_count() or 1):.1f} s)")
    print(f"load average before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f} (other processes slow the run)")
    print(f"host speed before/after: {speed_before:.0f} / {speed_after:.0f} ms for a fixed loop (lower is faster; see host_speed)")
    print(f"peak RSS: largest batch process {children_kib / 1024:.0f} MiB; this script {self_kib / 1024:.0f} MiB")
    print(f"summary: {summary}")
    print(f"decision lines written: {decided:,}; error lines: {errors:,}")
    if decided + errors != args.referrals:
        sys.exit(f"lines lost: {args.referrals - decided - errors}")


if __name__ == "__main__":
    main()
