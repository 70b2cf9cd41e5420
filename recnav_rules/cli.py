"""The ``recnav-rules`` command.

Exit codes: 0 a decision (or a clean run), 1 an internal error or a failed check, 2 bad input
(one clear line naming the field or file:line:col; never a traceback).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Sequence

from recnav_rules._version import __version__
from recnav_rules.engine.durable import DurableUnavailableError
from recnav_rules.errors import FactValidationError, PolicyError, RecnavError

__all__ = ["main"]

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

Command = Callable[[argparse.Namespace], int]


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _evaluate(args: argparse.Namespace) -> int:
    from recnav_rules.facts_input import read_facts
    from recnav_rules.policies.registry import load_policy

    policy = load_policy(args.policy, register=_register(args))
    if args.batch is not None:
        from recnav_rules.batch import run_batch_command

        return run_batch_command(policy, args)
    if args.file is None:
        raise PolicyError.at("<arguments>", None, None, "usage", "give a facts FILE (or '-' for standard input) or --batch IN.jsonl")
    facts = read_facts(args.file)
    decision = policy.evaluate(facts, as_of=args.as_of, engine=args.engine)
    if args.json:
        sys.stdout.write(decision.to_json(indent=2) + "\n")
    else:
        sys.stdout.write(decision.explain())
    return EXIT_OK


def _register(args: argparse.Namespace) -> object:
    """The GP practice register the command line asks for, or None for the built-in one."""
    if args.register is None and args.pcn_membership is None:
        return None
    from recnav_rules.policies.register import builtin_register, load_epraccur, load_pcn_membership

    if args.register is not None:
        if args.register_as_of is None:
            raise PolicyError.at(args.register, None, None, "usage", "give --register-as-of DATE: the extract's publication date")
        register = load_epraccur(args.register, as_of=args.register_as_of)
    else:
        register = builtin_register()
    if args.pcn_membership is not None:
        register = register.with_pcn_membership(load_pcn_membership(args.pcn_membership))
    return register


def _list(args: argparse.Namespace) -> int:
    from recnav_rules.policies.registry import list_policies

    for info in list_policies():
        sys.stdout.write(f"{info.id}\t{info.version}\t{info.title}\t({info.origin})\n")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recnav-rules",
        description="Explainable eligibility decisions for mental-health referrals.",
    )
    parser.add_argument("--version", action="version", version=f"recnav-rules {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    evaluate = commands.add_parser("evaluate", help="evaluate a referral's facts against a policy")
    evaluate.add_argument("--policy", required=True, help="a policy id (see 'list') or a path to a policy file")
    evaluate.add_argument("file", nargs="?", help="facts as JSON or YAML; '-' reads standard input")
    evaluate.add_argument("--json", action="store_true", help="print the decision as JSON")
    evaluate.add_argument("--as-of", type=_date, default=None, help="decide as of this date (default: today)")
    evaluate.add_argument("--engine", choices=("native", "durable"), default="native")
    evaluate.add_argument("--register", metavar="EPRACCUR.csv", help="an ODS epraccur extract to use instead of the built-in register")
    evaluate.add_argument("--register-as-of", type=_date, metavar="DATE", help="with --register: the extract's publication date")
    evaluate.add_argument("--pcn-membership", metavar="FILE.csv", help="PCN membership (practice_code,pcn_code,pcn_name) to merge in")
    evaluate.add_argument("--batch", metavar="IN.jsonl", help="evaluate one referral per line")
    evaluate.add_argument("--out", metavar="OUT.jsonl", help="with --batch: where decisions go")
    evaluate.add_argument("--errors", metavar="ERRORS.jsonl", help="with --batch: where bad lines go")
    evaluate.add_argument("--jobs", type=int, default=1, help="with --batch: worker processes")
    evaluate.add_argument("--trace", action="store_true", help="with --batch: include full traces")
    evaluate.set_defaults(run=_evaluate)

    listing = commands.add_parser("list", help="list the available policies")
    listing.set_defaults(run=_list)

    for module in _extra_commands():
        module(commands)
    return parser


_COMMAND_MODULES = (
    "recnav_rules.tools.commands",  # validate, test, docs, services
    "recnav_rules.audit.commands",  # log
    "recnav_rules.service.commands",  # serve
    "recnav_rules.assurance.commands",  # mutate, analyse, diff
)
"""Each module has ``add_commands(subparsers)``; a module not yet written is passed over."""


def _extra_commands() -> list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]]:
    """Commands that live in their own modules (validate, test, docs, services)."""
    found: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = []
    from importlib import import_module

    for name in _COMMAND_MODULES:
        try:
            module = import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise
            continue
        found.append(module.add_commands)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Command = args.run
    try:
        return run(args)
    except FactValidationError as exc:
        sys.stderr.write(f"recnav-rules: bad facts: {exc}\n")
        return EXIT_USAGE
    except PolicyError as exc:
        sys.stderr.write(f"recnav-rules: {exc}\n")
        return EXIT_USAGE
    except RecnavError as exc:
        sys.stderr.write(f"recnav-rules: {exc}\n")
        return EXIT_USAGE
    except DurableUnavailableError as exc:
        sys.stderr.write(f"recnav-rules: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("recnav-rules: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001  # the last line of defence: one line, exit 1
        sys.stderr.write(f"recnav-rules: internal error: {type(exc).__name__}: {exc}\n")
        return EXIT_FAIL


if __name__ == "__main__":
    raise SystemExit(main())
