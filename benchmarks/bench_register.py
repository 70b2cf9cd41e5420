"""Time loading a whole national ODS epraccur extract (median of repeated runs).

Run:  python benchmarks/bench_register.py [PATH]   (default: tests/data/ods/epraccur-2020-01.csv)
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recnav_rules.policies.register import load_epraccur


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "tests" / "data" / "ods" / "epraccur-2020-01.csv"
    times = []
    for _ in range(7):
        start = time.perf_counter()
        register = load_epraccur(path, as_of=dt.date(2020, 1, 1))
        times.append(time.perf_counter() - start)
    print(f"{len(register):,} practices loaded in {statistics.median(times) * 1000:.0f} ms (median of 7)")


if __name__ == "__main__":
    main()
