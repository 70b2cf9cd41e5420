"""Instructions per decision, counted by valgrind's callgrind: a figure that does not depend on
what else the machine is doing (timings on a shared machine do).

Run:  python benchmarks/bench_instructions.py [--referrals 300] [--contenders floor,decision,json,program,batch-line]

For each contender, the same referrals (``bench_hiu.make_referrals``) are decided once to warm
every cache, the collector is frozen, and callgrind's counting is switched on
(``callgrind_control -i on``) only for the measured loop; the loop runs once and five times in two
processes and the difference, divided by four times the referrals, is the count per decision
(start-up, imports and exit cancel out). Needs valgrind (Debian's ``valgrind`` package). Not a
test: the figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONTENDERS = ("floor", "decision", "json", "program", "batch-line")


def measured_loop(contender: str, referrals: int, repeats: int) -> None:
    """The child: warm up, then count only ``repeats`` passes over the referrals."""
    import gc

    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(ROOT))
    import bench_hiu
    import handwritten

    import recnav_rules
    from recnav_rules.policies.register import builtin_register

    facts = bench_hiu.make_referrals(referrals)
    policy = recnav_rules.load_policy("bnssg-hiu-pilot")
    as_of = bench_hiu.AS_OF
    sub_icb = {p.code: p.sub_icb_code for p in builtin_register() if p.status == "active"}
    run = {
        "floor": lambda f: handwritten.decide(f, as_of, sub_icb),
        "decision": lambda f: policy.evaluate(f, as_of=as_of),
        "json": lambda f: policy.evaluate(f, as_of=as_of).to_json_bytes(),
        "program": lambda f: policy._native.program(f, as_of),
        "batch-line": lambda raw: batch._decide_raw(policy, known, 1, raw, as_of, False, None),
    }[contender]
    if contender == "batch-line":  # a line of the batch command: its JSON read, decided, its output line written
        from recnav_rules import batch

        known = batch._known_facts(policy)
        facts = [json.dumps(one).encode() for one in facts]
    for one in facts:
        run(one)
    gc.collect()
    gc.freeze()
    subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], stdout=subprocess.DEVNULL, check=True)
    for _ in range(repeats):
        for one in facts:
            run(one)


def count(contender: str, referrals: int, repeats: int) -> int:
    env = {**os.environ, "PYTHONHASHSEED": "0", "RECNAV_RULES_NO_COMPILE_CACHE": "1"}
    done = subprocess.run(
        [
            "valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=/dev/null",
            sys.executable, __file__, "--child", contender, "--referrals", str(referrals), "--repeats", str(repeats),
        ],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"callgrind printed no count for {contender}:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--referrals", type=int, default=300)
    parser.add_argument("--contenders", default="floor,decision,json")
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measured_loop(args.child, args.referrals, args.repeats)
        return
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    results = {}
    for contender in args.contenders.split(","):
        once, five = count(contender, args.referrals, 1), count(contender, args.referrals, 5)
        results[contender] = (five - once) / (4 * args.referrals)
    floor = results.get("floor")
    print(f"instructions per decision (callgrind, {args.referrals} referrals, 5 passes less 1)")
    for contender, per in results.items():
        ratio = f"{per / floor:6.2f}x floor" if floor else ""
        print(f"{contender:<10} {per:12,.0f}  {ratio}")


if __name__ == "__main__":
    main()
