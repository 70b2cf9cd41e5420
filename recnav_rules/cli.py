"""The ``recnav-rules`` command, and the conventions every subcommand follows (docs/cli.md).

Exit codes: 0 a decision (or a clean run), 1 a failed check or an internal error, 2 bad input:
a bad fact, policy or case file, a missing input file, an unwritable output, or options that
do not go together. Bad input gives one clear line on standard error, never a traceback.

Every command that prints results takes ``--format text|json`` (``add_format_option``); an
option that would be silently ignored is refused (``UsageError``, exit 2).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, cast

from recnav_rules._version import __version__
from recnav_rules.engine.durable import DurableUnavailableError
from recnav_rules.errors import FactValidationError, PolicyError, RecnavError

__all__ = [
    "EXIT_FAIL",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "add_format_option",
    "build_parser",
    "check_readable",
    "check_writable",
    "date_argument",
    "main",
    "percentage",
    "refuse_unless",
]

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

Command = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """Options that do not go together, or an input/output path that cannot be used: exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on standard error (and exit 2)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(EXIT_USAGE)


# --- conventions shared by every command --------------------------------------------------------


def add_format_option(parser: argparse.ArgumentParser) -> None:
    """The one ``--format text|json`` every command that prints results takes."""
    parser.add_argument(
        "--format", choices=("text", "json"), default=None, help="text for people (default) or json for programs"
    )


def refuse_unless(given: dict[str, bool], needed: str, present: bool) -> None:
    """Refuse options (name -> was it given) that only mean something together with ``needed``."""
    if present:
        return
    names = [name for name, was_given in given.items() if was_given]
    if names:
        verb = "needs" if len(names) == 1 else "need"
        raise UsageError(f"{', '.join(names)} {verb} {needed}")


def check_readable(path: str, what: str = "file") -> None:
    """An input path that does not exist (or is a folder where a file is wanted) is bad input."""
    if path == "-":
        return
    target = Path(path)
    if not target.exists():
        raise UsageError(f"{path}: cannot read: no such {what}")
    if what == "file" and target.is_dir():
        raise UsageError(f"{path}: cannot read: it is a folder, not a file")


def check_writable(path: str, *, folder: bool = False) -> None:
    """An output path whose folder is missing or not writable is bad input (checked before any work)."""
    if path == "-":
        return
    target = Path(path)
    if folder:
        existing = target
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if existing.exists() and not existing.is_dir():
            raise UsageError(f"{path}: cannot write: {existing} is not a folder")
        if not os.access(existing, os.W_OK):
            raise UsageError(f"{path}: cannot write: permission denied")
        return
    if target.is_dir():
        raise UsageError(f"{path}: cannot write: it is a folder")
    parent = target.parent
    if not parent.is_dir():
        raise UsageError(f"{path}: cannot write: no folder {parent}")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UsageError(f"{path}: cannot write: permission denied")


def date_argument(text: str) -> dt.date:
    """An option's ``YYYY-MM-DD`` date (``type=date_argument``)."""
    from recnav_rules.engine.dates import read_date

    day = read_date(text)
    if day is None:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}")
    return day


def percentage(text: str, out_of_range: str) -> float:
    """An option's percentage from 0 to 100; ``out_of_range`` is the message for a number outside it."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a percentage: {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(out_of_range)
    return value


# --- evaluate and list ----------------------------------------------------------------------------


def _check_evaluate_options(args: argparse.Namespace) -> None:
    batch = args.batch is not None
    refuse_unless(
        {
            "--out": args.out is not None,
            "--errors": args.errors is not None,
            "--trace": args.trace,
            "--jobs": args.jobs is not None,
            "--fail-on-error": bool(getattr(args, "fail_on_error", False)),
        },
        "--batch",
        batch,
    )
    refuse_unless({"--fhir-out": getattr(args, "fhir_out", None) is not None}, "--fhir", False)
    refuse_unless({"--register-as-of": args.register_as_of is not None}, "--register", args.register is not None)
    if batch and args.file is not None:
        raise UsageError(f"give the facts FILE or --batch IN.jsonl, not both (got {args.file!r} beside --batch)")
    if batch and (args.format is not None or args.explain is not None):
        raise UsageError("--batch writes JSON lines; --format, --json and --explain apply to one referral")
    if not batch and args.file is None:
        raise UsageError("give a facts FILE (or '-' for standard input) or --batch IN.jsonl")
    if args.explain is not None and args.format == "json":
        raise UsageError("--explain shapes the text explanation; --format json always gives the whole decision")
    if args.jobs is not None and args.jobs < 0:
        raise UsageError(f"--jobs must be 0 (one per core) or more, got {args.jobs}")
    if args.register is not None:
        check_readable(args.register)
    if args.pcn_membership is not None:
        check_readable(args.pcn_membership)
    if batch:
        check_readable(args.batch)
        for path in (args.out, args.errors):
            if path is not None:
                check_writable(path)
    else:
        check_readable(args.file)


def _check_fhir_options(args: argparse.Namespace) -> None:
    """What the FHIR route would ignore (it checks its own clashes: FILE, --batch, --out, ...)."""
    refuse_unless(
        {"--jobs": args.jobs is not None, "--fail-on-error": bool(getattr(args, "fail_on_error", False))}, "--batch", False
    )
    if args.explain is not None:
        raise UsageError("--explain shapes a facts FILE's explanation; --fhir prints the whole explanation")


def _evaluate(args: argparse.Namespace) -> int:
    from recnav_rules.facts_input import read_facts
    from recnav_rules.policies.registry import load_policy

    if args.fhir is not None:  # a FHIR R4 Bundle instead of a facts file (recnav_rules/fhir, issue 15)
        from recnav_rules.fhir.command import run_fhir_command

        _check_fhir_options(args)

        return run_fhir_command(args, lambda: load_policy(args.policy, register=_register(args), parameters=_parameters(args)))
    _check_evaluate_options(args)
    policy = load_policy(args.policy, register=_register(args), parameters=_parameters(args))
    if args.batch is not None:
        from recnav_rules.batch import run_batch_command

        args.jobs = 1 if args.jobs is None else args.jobs
        return run_batch_command(policy, args)
    facts = read_facts(args.file)
    decision = policy.evaluate(facts, as_of=args.as_of, engine=args.engine)
    if args.log is not None:  # the decision log (recnav_rules.audit)
        from recnav_rules.audit import DecisionLog

        with DecisionLog(args.log, durability=args.log_durability) as log:
            decision = log.record(decision, policy=policy, facts=facts)
    if args.format == "json":
        sys.stdout.write(decision.to_json(indent=2) + "\n")
    else:
        from recnav_rules.tools.explain_levels import explain_at

        sys.stdout.write(explain_at(decision, args.explain or "full"))
    return EXIT_OK


def _parameters(args: argparse.Namespace) -> dict[str, object] | None:
    """``--param NAME=VALUE`` options as policy parameters (read as the declared types)."""
    from recnav_rules.policies.parameters import parameters_from_options

    return parameters_from_options(args.param) if args.param else None


def _register(args: argparse.Namespace) -> object:
    """The GP practice register the command line asks for, or None for the built-in one."""
    if args.register is None and args.pcn_membership is None:
        return None
    from recnav_rules.policies.register import builtin_register, load_epraccur, load_pcn_membership

    if args.register is not None:
        if args.register_as_of is None:
            raise UsageError(f"{args.register}: give --register-as-of DATE: the extract's publication date")
        register = load_epraccur(args.register, as_of=args.register_as_of)
    else:
        register = builtin_register()
    if args.pcn_membership is not None:
        register = register.with_pcn_membership(load_pcn_membership(args.pcn_membership))
    return register


def _list(args: argparse.Namespace) -> int:
    from recnav_rules.policies.registry import list_policies

    infos = list_policies()
    if args.format == "json":
        import json

        rows = [
            {"id": i.id, "version": i.version, "title": i.title, "file": str(i.file), "origin": i.origin} for i in infos
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return EXIT_OK
    for info in infos:
        sys.stdout.write(f"{info.id}\t{info.version}\t{info.title}\t({info.origin})\n")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="recnav-rules",
        description="Explainable eligibility decisions for mental-health referrals.",
        epilog="Exit status: 0 a decision or a clean run, 1 a failed check or an internal error, 2 bad input.",
    )
    parser.add_argument("-V", "--version", action="version", version=f"recnav-rules {__version__}")
    # every subcommand's parser is a _Parser too (one-line usage errors); typed as the base class
    commands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True, metavar="COMMAND"),
    )

    evaluate = commands.add_parser("evaluate", help="evaluate a referral's facts against a policy")
    evaluate.add_argument("--policy", required=True, help="a policy id (see 'list') or a path to a policy file")
    evaluate.add_argument("file", nargs="?", help="facts as JSON or YAML; '-' reads standard input")
    add_format_option(evaluate)
    evaluate.add_argument("--json", dest="format", action="store_const", const="json", help="the same as --format json")
    evaluate.add_argument(
        "--explain",
        choices=("brief", "full", "fails"),
        default=None,
        help="text output: brief (the decision and its deciding reasons), full (everything; the default)"
        " or fails (the rules and criteria that did not hold)",
    )
    evaluate.add_argument("--as-of", type=date_argument, default=None, help="decide as of this date (default: today)")
    evaluate.add_argument("--engine", choices=("native", "durable"), default="native")
    evaluate.add_argument("--register", metavar="EPRACCUR.csv", help="an ODS epraccur extract to use instead of the built-in register")
    evaluate.add_argument("--register-as-of", type=date_argument, metavar="DATE", help="with --register: the extract's publication date")
    evaluate.add_argument("--pcn-membership", metavar="FILE.csv", help="PCN membership (practice_code,pcn_code,pcn_name) to merge in")
    evaluate.add_argument(
        "--param", action="append", metavar="NAME=VALUE", help="set a policy parameter (repeatable), e.g. network4_pcn_code=U12345"
    )
    evaluate.add_argument("--batch", metavar="IN.jsonl", help="evaluate one referral per line")
    evaluate.add_argument("--out", metavar="OUT.jsonl", help="with --batch: where decisions go")
    evaluate.add_argument("--errors", metavar="ERRORS.jsonl", help="with --batch: where bad lines go")
    evaluate.add_argument("--jobs", type=int, default=None, help="with --batch: worker processes (default 1; 0: one per core)")
    evaluate.add_argument("--trace", action="store_true", help="with --batch: include full traces")
    evaluate.add_argument("--log", metavar="LOG", help="record each decision in this decision log (a SQLite file or a postgresql:// URL)")
    evaluate.add_argument(
        "--log-durability",
        choices=("normal", "full"),
        default=None,
        help="with --log: what a recorded decision survives (docs/audit.md; default: normal for SQLite, the server's for PostgreSQL)",
    )
    evaluate.add_argument("--fail-on-error", action="store_true", help="with --batch: exit 1 when any line was an error (default: 0)")
    evaluate.add_argument("--fhir", metavar="BUNDLE.json", help="read the facts from a FHIR R4 Bundle through the policy's mapping (docs/fhir.md)")
    evaluate.add_argument("--fhir-out", metavar="RESPONSE.json", help="with --fhir: write the decision as a FHIR GuidanceResponse ('-': standard output)")
    evaluate.set_defaults(run=_evaluate)

    listing = commands.add_parser("list", help="list the available policies")
    add_format_option(listing)
    listing.set_defaults(run=_list)

    for module in _extra_commands():
        module(commands)
    return parser


_COMMAND_MODULES = (
    "recnav_rules.tools.commands",  # validate, test, docs, services, schemas
    "recnav_rules.audit.commands",  # log
    "recnav_rules.service.commands",  # serve
    "recnav_rules.assurance.commands",  # mutate, analyse, diff
    "recnav_rules.tools.program_command",  # program
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


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"recnav-rules: {message}\n")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Command = args.run
    try:
        return run(args)
    except UsageError as exc:
        return _fail(f"error: {exc}", EXIT_USAGE)
    except FactValidationError as exc:
        return _fail(f"bad facts: {exc}", EXIT_USAGE)
    except (PolicyError, RecnavError, DurableUnavailableError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:
        if exc.filename is not None:  # a path the user gave that cannot be read or written
            return _fail(f"{exc.filename}: {exc.strerror or exc}", EXIT_USAGE)
        return _fail(f"internal error: {type(exc).__name__}: {exc}", EXIT_FAIL)
    except Exception as exc:  # noqa: BLE001  # the last line of defence: one line, exit 1
        return _fail(f"internal error: {type(exc).__name__}: {exc}", EXIT_FAIL)


if __name__ == "__main__":
    raise SystemExit(main())
