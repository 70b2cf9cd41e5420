"""How long importing the library and loading (compiling) a built-in policy take.

Run:  python benchmarks/bench_load.py [--repeats 20]

Three figures, each in a fresh interpreter where it says so:
- ``import recnav_rules`` (fresh process): the public names are imported lazily (PEP 562);
- the first ``load_policy`` in a fresh process: imports the policy toolchain (PyYAML, jsonschema,
  holidays and its UK calendar), reads the register and directory, checks and compiles the file
  (both policies in it), builds the generated programs;
- compiling a built-in policy file again in a warm process (the compile cache switched off), the
  cost a long-running service pays for each policy it loads after the first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fresh(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    imports = [fresh("import time; t = time.perf_counter(); import recnav_rules; print((time.perf_counter() - t) * 1000)") for _ in range(7)]
    first = [
        fresh(
            "import time, recnav_rules; t = time.perf_counter(); recnav_rules.load_policy('bnssg-hiu-pilot');"
            " print((time.perf_counter() - t) * 1000)"
        )
        for _ in range(5)
    ]
    os.environ["RECNAV_RULES_NO_COMPILE_CACHE"] = "1"
    import recnav_rules

    recnav_rules.load_policy("bnssg-hiu-pilot")  # warm: imports, register, directory, calendar
    warm = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        recnav_rules.load_policy("bnssg-hiu-pilot")
        warm.append((time.perf_counter() - start) * 1000)
    print(f"import recnav_rules (fresh process):                 median {statistics.median(imports):6.1f} ms")
    print(f"first load_policy, fresh process (with its imports): median {statistics.median(first):6.1f} ms")
    print(f"load_policy, warm process (compile cache off):       median {statistics.median(warm):6.1f} ms, best {min(warm):.1f} ms")


if __name__ == "__main__":
    main()
