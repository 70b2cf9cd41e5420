"""Mutation testing of the engine with mutmut, on demand (too slow for CI), one group of modules at a time.

    python scripts/mutation.py [GROUP ...] [--rev REV] [--workdir DIR] [--max-children 1] [--fresh]
    python scripts/mutation.py --report-only [GROUP ...]     # the table from the last run(s)

Groups (default: every group below except ``measured``):

    ir        engine/model.py, engine/compiler.py        (the intermediate form and its compiler)
    load      engine/source.py, engine/schema_check.py   (source loading, schema checks)
    render    engine/explain.py, canonical.py            (rendering, canonical JSON)
    derive    engine/derive.py                           (derived values in the generated programs)
    codegen   engine/codegen.py, engine/native.py        (the generated programs)
    measured  engine/evaluator.py, engine/facts.py, engine/calendar.py, engine/conditions.py, engine/dates.py

Each group runs in its own copy of the tree (``mutants/_runs/GROUP``, git-ignored): the working
tree's files as they are now (tracked and untracked, not ignored), or the commit ``--rev``, so
edits made while mutmut runs do not reach it. The copy's ``[tool.mutmut]`` gets
``only_mutate`` set to the group's modules; everything else (the test selection in particular)
comes from pyproject.toml. mutmut keeps its results in the copy, so a second run of a group
tests only the mutants of functions that changed (``--fresh`` starts again).

``RECNAV_RULES_NO_COMPILE_CACHE=1`` is set for mutmut: without it the registry caches compiled
policies across tests and mutants in compile-time code never take effect.

Prints, per module: mutants, killed (a test failed or timed out), survived, no tests (no selected
test calls the function), not run (interrupted, or another verdict), and the score killed /
mutants. ``--survivors`` lists the mutants not killed (``mutmut show NAME`` in the group's copy
prints one); ``--rerun`` tests only those again, after new tests. Exit status 0; the table is the
result. The tests run in the order ``scripts/mutation_order.py`` gives (targeted tests first).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "mutants" / "_runs"

GROUPS: dict[str, list[str]] = {
    "ir": ["recnav_rules/engine/model.py", "recnav_rules/engine/compiler.py"],
    "load": ["recnav_rules/engine/source.py", "recnav_rules/engine/schema_check.py"],
    "render": ["recnav_rules/engine/explain.py", "recnav_rules/canonical.py"],
    "derive": ["recnav_rules/engine/derive.py"],
    "codegen": ["recnav_rules/engine/codegen.py", "recnav_rules/engine/native.py"],
    "measured": [
        "recnav_rules/engine/evaluator.py",
        "recnav_rules/engine/facts.py",
        "recnav_rules/engine/calendar.py",
        "recnav_rules/engine/conditions.py",
        "recnav_rules/engine/dates.py",
    ],
}
DEFAULT_GROUPS = ["ir", "load", "render", "derive", "codegen"]

# mutmut's exit codes (mutmut/stats.py) folded into the four columns of the table.
KILLED = {1, 3, 36, 37, -24, 24, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def _same(a: Path, b: Path) -> bool:
    return b.is_file() and a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()


def snapshot(dest: Path, rev: str | None) -> str:
    """Copy the tree (working files, or commit ``rev``) into ``dest``; returns what was copied."""
    dest.mkdir(parents=True, exist_ok=True)
    if rev is not None:
        commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}").strip()
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "tree.tar"
            _git("archive", "--format=tar", f"--output={archive}", commit)
            with tarfile.open(archive) as tar:
                tar.extractall(Path(tmp) / "tree", filter="data")
            _copy_tree(Path(tmp) / "tree", dest, None)
        return f"commit {commit}"
    files = [f for f in _git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0") if f]
    _copy_tree(ROOT, dest, files)
    head = _git("rev-parse", "HEAD").strip()
    dirty = _git("status", "--porcelain", "--", "recnav_rules").strip()
    return f"working tree at {head}" + (" (recnav_rules/ has uncommitted changes)" if dirty else "")


def _copy_tree(src: Path, dest: Path, files: list[str] | None) -> None:
    names = files if files is not None else [str(p.relative_to(src)) for p in src.rglob("*") if p.is_file()]
    for name in names:
        if name.startswith("mutants/") or not (src / name).is_file():
            continue
        target = dest / name
        if _same(src / name, target):  # unchanged: keep the mtime, so mutmut keeps its results
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / name, target)


def set_only_mutate(pyproject: Path, modules: list[str]) -> None:
    """Point the copy's [tool.mutmut] section at ``modules``, with the test-ordering plugin."""
    text = pyproject.read_text(encoding="utf-8")
    line = "only_mutate = [" + ", ".join(json.dumps(m) for m in modules) + "]\n"
    line += 'pytest_add_cli_args = ["-p", "mutation_order"]\n'
    text = re.sub(r"(?m)^(only_mutate|pytest_add_cli_args) = \[.*\]\n", "", text)
    text, count = re.subn(r"(?m)^\[tool\.mutmut\]\n", lambda m: m.group(0) + line, text)
    if count != 1:
        raise SystemExit(f"{pyproject}: no [tool.mutmut] section")
    pyproject.write_text(text, encoding="utf-8")


def _mutmut(workdir: Path, max_children: int, names: list[str]) -> None:
    path = os.pathsep.join(p for p in (str(workdir / "scripts"), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, RECNAV_RULES_NO_COMPILE_CACHE="1", PYTHONPATH=path)
    subprocess.run(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children), *names],
        cwd=workdir,
        env=env,
        check=False,
    )


def verdicts(workdir: Path, modules: list[str]) -> dict[str, dict[str, int | None]]:
    """Module to {mutant name: mutmut's exit code, or None while untested}, from its .meta files."""
    found: dict[str, dict[str, int | None]] = {}
    for module in modules:
        meta = workdir / "mutants" / (module + ".meta")
        found[module] = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"] if meta.is_file() else {}
    return found


def sample_of(codes: dict[str, dict[str, int | None]], size: int | None, seed: int) -> set[str]:
    """The same ``size`` mutants of each module for a given seed (all of them without a size)."""
    chosen: set[str] = set()
    for module, by_name in codes.items():
        names = sorted(by_name)
        chosen.update(names if size is None or size >= len(names) else random.Random(f"{seed}:{module}").sample(names, size))
    return chosen


def run_group(name: str, workdir: Path, args: argparse.Namespace) -> str:
    if args.fresh and (workdir / "mutants").exists():
        shutil.rmtree(workdir / "mutants")
    what = snapshot(workdir, args.rev)
    set_only_mutate(workdir / "pyproject.toml", GROUPS[name])
    print(f"== {name}: {', '.join(GROUPS[name])} ({what})", flush=True)
    if not args.rerun and args.sample is None:  # every mutant
        _mutmut(workdir, args.max_children, [])
        return what
    codes = verdicts(workdir, GROUPS[name])
    if not any(codes.values()):  # make the mutants (and the test statistics) first: a filter matching none
        _mutmut(workdir, args.max_children, ["no-such-mutant"])
        codes = verdicts(workdir, GROUPS[name])
    chosen = sample_of(codes, args.sample, args.seed) if args.sample is not None else set()
    todo = sorted(
        key
        for by_name in codes.values()
        for key, code in by_name.items()
        if (code is None and key in chosen) or (args.rerun and code is not None and code not in KILLED)
    )
    if todo:
        _mutmut(workdir, args.max_children, todo)
    else:
        print(f"== {name}: nothing to test", flush=True)
    return what


def table(rows: dict[str, Counter[str]]) -> str:
    lines = [
        "| module | mutants | tested | killed | survived | no tests | score (killed / tested) |",
        "|---|---|---|---|---|---|---|",
    ]
    total: Counter[str] = Counter()
    estimate = 0.0  # killed mutants expected over all of each module, from its tested ones
    for module, counts in rows.items():
        total.update(counts)
        estimate += counts["total"] * counts["killed"] / counts["tested"] if counts["tested"] else 0.0
        lines.append(_row(f"`{module.removeprefix('recnav_rules/')}`", counts))
    if len(rows) > 1:
        lines.append(_row("**all**", total))
    if total["tested"] < total["total"] and total["total"]:
        lines.append(f"\nNot every mutant tested: weighting each module's score by its mutants, {100 * estimate / total['total']:.1f}% overall.")
    return "\n".join(lines)


def wilson(killed: int, tested: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion (for a sampled score)."""
    if not tested:
        return (0.0, 1.0)
    p = killed / tested
    centre = (p + z * z / (2 * tested)) / (1 + z * z / tested)
    half = z * math.sqrt(p * (1 - p) / tested + z * z / (4 * tested * tested)) / (1 + z * z / tested)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _row(label: str, c: Counter[str]) -> str:
    n = c["tested"]
    score = f"{100 * c['killed'] / n:.1f}%" if n else "-"
    if 0 < n < c["total"]:
        low, high = wilson(c["killed"], n)
        score += f" (95%: {100 * low:.1f}-{100 * high:.1f}%)"
    return f"| {label} | {c['total']:,} | {n:,} | {c['killed']:,} | {c['survived']:,} | {c['no tests']:,} | {score} |"


def results(workdir: Path, modules: list[str]) -> tuple[dict[str, Counter[str]], list[str]]:
    """Counts per module and the names of the tested mutants not killed.

    Every mutant with a verdict counts: all of them after a full run, else the union of the
    samples drawn (each a uniform draw, so their union is one too)."""
    rows: dict[str, Counter[str]] = {}
    not_killed: list[str] = []
    for module, by_name in verdicts(workdir, modules).items():
        counts: Counter[str] = Counter(total=len(by_name))
        for key, code in sorted(by_name.items()):
            if code is None:
                continue
            counts["tested"] += 1
            if code in KILLED:
                counts["killed"] += 1
                continue
            counts["survived" if code in SURVIVED else "no tests" if code in NO_TESTS else "other"] += 1
            not_killed.append(f"{key}: {'survived' if code in SURVIVED else 'no tests' if code in NO_TESTS else code}")
        rows[module] = counts
    return rows, not_killed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("groups", nargs="*", metavar="GROUP", help=f"one of {', '.join(GROUPS)}")
    parser.add_argument("--rev", help="measure this commit instead of the working tree")
    parser.add_argument("--workdir", type=Path, default=RUNS, help="where the copies live (default mutants/_runs)")
    parser.add_argument("--max-children", type=int, default=1, help="mutmut workers (default 1)")
    parser.add_argument("--fresh", action="store_true", help="discard mutmut's earlier results")
    parser.add_argument("--rerun", action="store_true", help="test again only the mutants not killed last time")
    parser.add_argument("--sample", type=int, help="test this many mutants of each module, drawn at random (seeded)")
    parser.add_argument("--seed", type=int, default=14, help="the sample's seed (default 14; another seed adds mutants)")
    parser.add_argument("--report-only", action="store_true", help="print the table of the last run(s)")
    parser.add_argument("--survivors", action="store_true", help="list the mutants not killed")
    args = parser.parse_args()
    groups = args.groups or DEFAULT_GROUPS
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        parser.error(f"unknown group {', '.join(unknown)} (groups: {', '.join(GROUPS)})")
    all_rows: dict[str, Counter[str]] = {}
    for name in groups:
        workdir = args.workdir / name
        if not args.report_only:
            run_group(name, workdir, args)
        rows, not_killed = results(workdir, GROUPS[name])
        all_rows.update(rows)
        if args.survivors:
            print("\n".join(not_killed))
    print(table(all_rows))


if __name__ == "__main__":
    main()
