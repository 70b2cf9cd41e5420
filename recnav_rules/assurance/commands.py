"""The assurance commands: ``mutate``, ``analyse``, ``diff``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from recnav_rules.cli import UsageError, add_format_option, check_readable, check_writable, date_argument, percentage
from recnav_rules.engine.dates import today_in_london
from recnav_rules.policy import Policy

__all__ = ["add_commands"]

EXIT_OK, EXIT_FAIL = 0, 1


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("--jobs must be 0 (one per core) or more")
    return value


def _percent(text: str) -> float:
    return percentage(text, "--fail-under is a percentage from 0 to 100")


def _mutate(args: argparse.Namespace) -> int:
    from recnav_rules.assurance.mutate import AssuranceError, mutation_test

    check_readable(args.path)
    for folder in args.cases:
        check_readable(folder, "file or folder")
    try:
        report = mutation_test(args.path, args.cases, jobs=args.jobs, policy_ids=args.policy or None)
    except AssuranceError as exc:  # a case already fails: a failed check, not bad input
        sys.stderr.write(f"recnav-rules: {exc}\n")
        return EXIT_FAIL
    if not report.cases:
        raise UsageError(f"{args.cases[0]}: no test cases for the policies in {args.path}")
    if args.format == "json":
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(report.text(verbose=args.verbose))
    if args.fail_under is not None and report.score() < args.fail_under:
        sys.stderr.write(f"recnav-rules: mutation score {report.score():.1f}% is under {args.fail_under}%\n")
        return EXIT_FAIL
    return EXIT_OK


def _parameters(args: argparse.Namespace) -> dict[str, Any]:
    """``--param NAME=VALUE`` options as policy parameters (empty when none are given)."""
    if not args.param:
        return {}
    from recnav_rules.policies.parameters import parameters_from_options

    return dict(parameters_from_options(args.param))


def _load(target: str, args: argparse.Namespace) -> Policy:
    from recnav_rules.assurance._engine import register_for
    from recnav_rules.policies.registry import load_policy

    parameters = _parameters(args)
    register = register_for(args.pcn_membership)
    if parameters:
        return load_policy(target, register=register, parameters=parameters)
    return load_policy(target, register=register)


def _policies(target: str, args: argparse.Namespace) -> list[Policy]:
    """Every policy in a file, or the one policy an id (or ``file#id``) names."""
    from recnav_rules.assurance._engine import register_for
    from recnav_rules.policies.registry import compile_file

    if target.endswith((".yaml", ".yml", ".json")) and "#" not in target and not args.param:
        return list(compile_file(target, register=register_for(args.pcn_membership)))
    return [_load(target, args)]


def _analyse(args: argparse.Namespace) -> int:
    from recnav_rules.assurance.analyse import analyse_policy

    if args.out is not None:
        check_writable(args.out, folder=True)
    as_of = args.as_of or today_in_london()
    analyses = [analyse_policy(policy, as_of, out=args.out) for policy in _policies(args.path, args)]
    if args.format == "json":
        sys.stdout.write(json.dumps([a.to_dict() for a in analyses], indent=2) + "\n")
    else:
        sys.stdout.write("".join(a.text() for a in analyses))
    return EXIT_FAIL if any(a.errors for a in analyses) else EXIT_OK


def _diff(args: argparse.Namespace) -> int:
    from recnav_rules.assurance.diff import impact

    check_readable(args.caseload)
    old, new = _load(args.old, args), _load(args.new, args)
    report = impact(old, new, args.caseload, as_of=args.as_of or today_in_london(), jobs=args.jobs)
    if args.format == "json":
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    elif args.format == "markdown":
        sys.stdout.write(report.markdown())
    else:
        sys.stdout.write(report.text())
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mutate = commands.add_parser("mutate", help="policy mutation testing: do the cases notice small changes?")
    mutate.add_argument("path", metavar="PATH", help="a policy file")
    mutate.add_argument("--cases", action="append", required=True, metavar="DIR", help="case files or folders (repeatable)")
    mutate.add_argument("--policy", action="append", metavar="ID", help="only this policy of the file (repeatable)")
    mutate.add_argument("--jobs", type=_jobs, default=0, help="worker processes (default 0: one per core)")
    mutate.add_argument("--fail-under", type=_percent, metavar="PCT", help="exit 1 when fewer mutants are killed")
    add_format_option(mutate)
    mutate.add_argument("--verbose", action="store_true", help="list killed and invalid mutants too")
    mutate.set_defaults(run=_mutate)

    analyse = commands.add_parser("analyse", help="prove every rule can fire; list overlaps (z3 SMT solver)")
    analyse.add_argument("path", metavar="PATH", help="a policy file (every policy in it), a policy id, or FILE#ID")
    analyse.add_argument("--as-of", type=date_argument, default=None, help="the decision date assumed (default: today)")
    analyse.add_argument("--out", metavar="DIR", help="write each counterexample referral as DIR/<policy>--<check>.json")
    analyse.add_argument("--pcn-membership", metavar="FILE.csv", help="PCN membership to merge into the built-in register")
    analyse.add_argument("--param", action="append", metavar="NAME=VALUE", help="set a policy parameter (repeatable)")
    add_format_option(analyse)
    analyse.set_defaults(run=_analyse)

    diff = commands.add_parser("diff", help="impact of a policy change on a caseload, and what changed")
    diff.add_argument("old", metavar="OLD", help="the current policy: a file, an id, or FILE#ID")
    diff.add_argument("new", metavar="NEW", help="the proposed policy: a file, an id, or FILE#ID")
    diff.add_argument("--caseload", required=True, metavar="FILE.jsonl", help="one referral's facts per line")
    diff.add_argument("--as-of", type=date_argument, default=None, help="decide as of this date (default: today)")
    diff.add_argument("--jobs", type=_jobs, default=1, help="worker processes per version (0: one per core)")
    diff.add_argument("--pcn-membership", metavar="FILE.csv", help="PCN membership to merge into the built-in register")
    diff.add_argument("--param", action="append", metavar="NAME=VALUE", help="set a policy parameter (repeatable)")
    diff.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    diff.set_defaults(run=_diff)
