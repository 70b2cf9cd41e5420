"""``recnav-rules program POLICY``: print the generated evaluator of a policy, for reviewers."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_commands"]


def _program(args: argparse.Namespace) -> int:
    from recnav_rules.engine.codegen import describe_constants
    from recnav_rules.policies.parameters import parameters_from_options
    from recnav_rules.policies.registry import load_policy

    parameters = parameters_from_options(args.param) if args.param else None
    policy = load_policy(args.policy, parameters=parameters)
    sys.stdout.write(f"# generated program of {policy.id} {policy.version} (sha256:{policy.digest})\n")
    sys.stdout.write("# every value from the policy file is a constant k<i> = K[i], listed at the end\n\n")
    sys.stdout.write(policy.program_source())
    if args.constants:
        sys.stdout.write("\n# constants\n")
        for index, shown in describe_constants(policy.compiled).items():
            sys.stdout.write(f"# K[{index}] = {shown}\n")
    return 0


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    program = commands.add_parser("program", help="print the Python program generated from a policy (for review)")
    program.add_argument("policy", help="a policy id or a path to a policy file")
    program.add_argument("--param", action="append", metavar="NAME=VALUE", help="a policy parameter (repeatable)")
    program.add_argument("--constants", action="store_true", help="also list the constants the program reads")
    program.set_defaults(run=_program)
