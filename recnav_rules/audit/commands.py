"""``recnav-rules log verify|replay|show|export|checkpoint|prune``: the decision log's commands.

Exit codes: 0 intact / reproduced / done; 1 a failed check (the first broken record and how, or
the records that do not reproduce); 2 bad input (a missing log, a bad option), as one line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from recnav_rules.audit.log import DecisionLog, LogEntry
from recnav_rules.audit.store import DecisionLogError
from recnav_rules.cli import add_format_option, date_argument

__all__ = ["add_commands"]

EXIT_OK, EXIT_FAIL = 0, 1


def _checkpoint(text: str) -> tuple[int, str]:
    seq, sep, digest = text.partition(":")
    if not sep or not (seq.isascii() and seq.isdigit()) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise argparse.ArgumentTypeError("a checkpoint is SEQ:HASH (the seq and 64 hex digits that 'log checkpoint' printed)")
    return int(seq), digest


def _open(args: argparse.Namespace) -> DecisionLog:
    return DecisionLog(args.log, create=False)


def _write(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


def _verify(args: argparse.Namespace) -> int:
    with _open(args) as log:
        result = log.verify(args.checkpoint)
    if args.format == "json":
        _write(result.to_dict())
    elif result.ok:
        sys.stdout.write(f"intact: {result.message}\n")
    else:
        record = f"record {result.first_bad_seq}" + (f" ({result.decision_id})" if result.decision_id else "")
        sys.stdout.write(f"BROKEN at {record}: {result.how}: {result.message}\n")
    return EXIT_OK if result.ok else EXIT_FAIL


def _replay(args: argparse.Namespace) -> int:
    with _open(args) as log:
        result = log.replay(args.id)
    for failure in result.failures:
        sys.stdout.write(f"not reproduced: record {failure.seq} ({failure.decision_id}): {', '.join(failure.differences)}\n")
    sys.stdout.write(f"replayed {result.checked} records: {result.checked - len(result.failures)} reproduced, {len(result.failures)} not\n")
    return EXIT_OK if result.ok else EXIT_FAIL


def _nhs_number(value: str) -> str:
    """The NHS number to look up; ``-`` reads it from standard input (kept out of the process list)."""
    return sys.stdin.readline().strip() if value == "-" else value


def _show(args: argparse.Namespace) -> int:
    chosen = [name for name in ("id", "nhs_number", "policy") if getattr(args, name) is not None]
    if len(chosen) > 1:
        raise DecisionLogError("give one of --id, --nhs-number, --policy")
    if (args.since or args.until) and args.id is not None:
        raise DecisionLogError("--since and --until go with --policy (or alone), not with --id")
    if args.explain and args.id is None:
        raise DecisionLogError("--explain goes with --id")
    with _open(args) as log:
        if args.explain:
            sys.stdout.write(log.explain(args.id))
            return EXIT_OK
        entries: list[LogEntry]
        if args.id is not None:
            entry = log.get(args.id)
            if entry is None:
                raise DecisionLogError(f"no decision {args.id} in the log")
            entries = [entry]
        elif args.nhs_number is not None:
            entries = log.find_subject(_nhs_number(args.nhs_number))
        else:
            since = args.since.isoformat() if args.since else None
            until = (args.until + dt.timedelta(days=1)).isoformat() if args.until else None
            entries = log.find(policy_id=args.policy, since=since, until=until, limit=args.limit)
    for entry in entries:
        if args.id is not None:
            sys.stdout.write(json.dumps(entry.to_dict(), ensure_ascii=False, indent=2) + "\n")
        else:
            _write(entry.to_dict())
    if args.id is None:
        sys.stderr.write(f"{len(entries)} records\n")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    with _open(args) as log:
        if args.out in (None, "-"):
            count = log.export_jsonl(sys.stdout)
        else:
            try:
                with open(args.out, "w", encoding="utf-8") as handle:
                    count = log.export_jsonl(handle)
            except OSError as exc:
                sys.stderr.write(f"recnav-rules: cannot write {args.out}: {exc.strerror or exc}\n")
                return EXIT_FAIL
    sys.stderr.write(f"exported {count} records\n")
    return EXIT_OK


def _checkpoint_command(args: argparse.Namespace) -> int:
    with _open(args) as log:
        mark = log.checkpoint()
    _write({**mark.to_dict(), "verify_with": f"{mark.seq}:{mark.hash}"})
    return EXIT_OK


def _prune(args: argparse.Namespace) -> int:
    with _open(args) as log:
        mark = log.prune(args.before)
    if mark is None:
        sys.stdout.write(f"nothing recorded before {args.before.isoformat()}\n")
    else:
        _write({**mark.to_dict(), "verify_with": f"{mark.seq}:{mark.hash}"})
    return EXIT_OK


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``log`` and its subcommands."""
    log = subparsers.add_parser("log", help="the decision log: verify, replay, show, export, checkpoint, prune")
    commands = log.add_subparsers(dest="log_command", required=True, metavar="LOG_COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_text)
        parser.add_argument("log", metavar="LOG", help="the log: a SQLite file, or a postgresql:// URL")
        return parser

    verify = command("verify", "check the hash chain (exit 1 naming the first broken record)")
    verify.add_argument("--checkpoint", type=_checkpoint, metavar="SEQ:HASH", help="also prove nothing up to this kept checkpoint changed")
    add_format_option(verify)
    verify.set_defaults(run=_verify)

    replay = command("replay", "re-evaluate records from their stored policy source and reference data")
    replay.add_argument("--id", metavar="ID", help="only this decision")
    replay.set_defaults(run=_replay)

    show = command("show", "print records as JSON (one per line)")
    show.add_argument("--id", metavar="ID", help="one decision, by id")
    show.add_argument("--nhs-number", metavar="N", help="one person's decisions (needs RECNAV_RULES_SUBJECT_KEY); '-' reads it from standard input")
    show.add_argument("--policy", metavar="ID", help="decisions of one policy")
    show.add_argument("--since", type=date_argument, metavar="DATE", help="recorded on or after this date (UTC)")
    show.add_argument("--until", type=date_argument, metavar="DATE", help="recorded on or before this date (UTC)")
    show.add_argument("--limit", type=int, default=1000, help="at most this many records (default 1000)")
    show.add_argument("--explain", action="store_true", help="with --id: the decision explained in plain English, made again from the log")
    show.set_defaults(run=_show)

    export = command("export", "write every record, in chain order")
    export.add_argument("--format", choices=("jsonl",), default="jsonl")
    export.add_argument("--out", metavar="FILE", help="where to write (default: standard output)")
    export.set_defaults(run=_export)

    checkpoint = command("checkpoint", "print the chain's head (keep it elsewhere) and store it")
    checkpoint.set_defaults(run=_checkpoint_command)

    prune = command("prune", "remove records made before a date; verification then starts from the last removed")
    prune.add_argument("--before", type=date_argument, required=True, metavar="DATE")
    prune.set_defaults(run=_prune)
