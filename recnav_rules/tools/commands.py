"""The policy owners' commands: validate, test, docs, services, schemas.

They follow the command line's conventions (``recnav_rules.cli``, docs/cli.md): ``--format
text|json``, exit 0 / 1 (a failed check) / 2 (bad input), and options that would be ignored are
refused.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recnav_rules.cli import UsageError, add_format_option, check_readable, check_writable, percentage, refuse_unless

if TYPE_CHECKING:
    from recnav_rules.tools.case_reports import TimedResult
    from recnav_rules.tools.coverage import Coverage

__all__ = ["add_commands"]


def _write(path: str, text: str) -> None:
    check_writable(path)
    Path(path).write_text(text, encoding="utf-8")


# --- validate ------------------------------------------------------------------------------------


def _validate(args: argparse.Namespace) -> int:
    from recnav_rules.tools.validate import report, validate_paths

    for path in args.paths:
        check_readable(path)
    text, code = report(validate_paths(args.paths), as_json=args.format == "json", strict=args.strict)
    sys.stdout.write(text)
    return code


# --- test ----------------------------------------------------------------------------------------


def _percent(text: str) -> float:
    return percentage(text, f"a percentage is between 0 and 100, got {text}")


def _default_case_paths() -> list[str]:
    """The built-in policies' shipped cases, wherever the package is installed."""
    from recnav_rules._resources import policies_dir

    return [str(policies_dir() / "tests")]


def _test(args: argparse.Namespace) -> int:
    from recnav_rules.tools.case_reports import junit_xml, results_json, run_selected
    from recnav_rules.tools.cases import case_files

    refuse_unless(
        {
            "--fail-under": args.fail_under is not None,
            "--coverage-json": args.coverage_json is not None,
            "--lcov": args.lcov is not None,
            "--cobertura": args.cobertura is not None,
        },
        "--coverage",
        args.coverage,
    )
    if args.mcdc and args.format == "json":  # issue 14: the MC/DC report is text (recnav_rules/assurance/mcdc.py)
        raise UsageError("--mcdc reports as text: leave out --format json")
    paths = args.paths or _default_case_paths()
    for path in paths:
        check_readable(path, "file or folder")
    for output in (args.junit_xml, args.coverage_json, args.lcov, args.cobertura):
        if output is not None:
            check_writable(output)
    if not case_files(paths):
        raise UsageError(f"{paths[0]}: no policy test cases (*.cases.yaml) found")
    from recnav_rules.tools.keywords import KeywordError

    try:
        results, deselected = run_selected(paths, args.keyword)
    except KeywordError as exc:
        raise UsageError(str(exc)) from None
    if not results:
        raise UsageError(f"no case matches -k {' -k '.join(repr(k) for k in args.keyword)} ({deselected} deselected)")
    failed = [r for r in results if not r.passed]
    code = 1 if failed else 0
    coverages = _coverage(results) if args.coverage else []
    shortfalls = [
        f"rule coverage of {c.policy_id} is {c.rule_percent:.1f}%, under {args.fail_under:g}%"
        for c in coverages
        if args.fail_under is not None and c.rule_percent < args.fail_under
    ]
    code = 1 if shortfalls else code
    if args.junit_xml is not None:
        _write(args.junit_xml, junit_xml(results))
    if args.coverage:
        from recnav_rules.tools.coverage import cobertura, coverage_json, lcov

        for path, render in ((args.coverage_json, coverage_json), (args.lcov, lcov), (args.cobertura, cobertura)):
            if path is not None:
                _write(path, render(coverages))
    if args.format == "json":
        reported = [c.to_dict() for c in coverages] if args.coverage else None
        sys.stdout.write(results_json(results, deselected, reported, ok=code == 0))
        return code
    for timed in results:
        if args.verbose:
            case = timed.result.case
            sys.stdout.write(f"{'PASS' if timed.passed else 'FAIL'} {case.location}: {case.name}\n")
    for timed in failed:
        sys.stdout.write(timed.result.report() + "\n\n")
    summary = f"{len(results) - len(failed)} passed, {len(failed)} failed"
    sys.stdout.write(summary + (f", {deselected} deselected" if deselected else "") + "\n")
    for coverage in coverages:
        sys.stdout.write(coverage.report() + "\n")
    for line in shortfalls:
        sys.stdout.write(line + "\n")
    if args.mcdc:  # issue 14: MC/DC of the cases (recnav_rules/assurance/mcdc.py)
        from recnav_rules.assurance.mcdc import report_for_results

        mcdc_text, all_shown = report_for_results([timed.result for timed in results])
        sys.stdout.write(mcdc_text)
        code = code if all_shown else 1
    return code


def _coverage(results: list[TimedResult]) -> list[Coverage]:
    """One coverage per policy the cases ran, in first-seen order."""
    from recnav_rules.tools.cases import policy_for
    from recnav_rules.tools.coverage import measure

    seen: set[str] = set()
    coverages: list[Coverage] = []
    case_results = [timed.result for timed in results]
    for result in case_results:
        if result.case.policy in seen:
            continue
        seen.add(result.case.policy)
        coverages.append(measure(policy_for(result.case).compiled, case_results))
    return coverages


# --- docs ----------------------------------------------------------------------------------------


def _docs(args: argparse.Namespace) -> int:
    from recnav_rules.policies.registry import list_policies, load_policy
    from recnav_rules.tools.policy_docs import render_policy

    if args.check is None and args.out is None:
        if len(args.policies) != 1:
            raise UsageError("name one POLICY, or use --out DIR / --check DIR")
        if args.format == "json":
            raise UsageError("a policy document is Markdown; --format json applies to --out and --check")
        sys.stdout.write(render_policy(load_policy(args.policies[0], allow_unset_parameters=True).compiled))
        return 0
    if args.check is not None:
        check_readable(args.check, "folder")
    else:
        check_writable(args.out, folder=True)
    folder = Path(args.check or args.out)
    targets = args.policies or [p.id for p in list_policies() if p.origin == "builtin"]
    stale: list[str] = []
    written: list[str] = []
    for target in targets:
        policy = load_policy(target, allow_unset_parameters=True)  # documents read a policy, never decide
        path = folder / f"{policy.id}.md"
        text = render_policy(policy.compiled)
        if args.check is not None:
            current = path.read_text(encoding="utf-8") if path.exists() else None
            if current != text:
                stale.append(str(path))
        else:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(str(path))
    if args.format == "json":
        body: dict[str, Any] = {"ok": not stale, "stale": stale} if args.check is not None else {"ok": True, "written": written}
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
    else:
        for path_text in written:
            sys.stdout.write(f"wrote {path_text}\n")
        if stale:
            sys.stdout.write(
                "out of date with the policy YAML: " + ", ".join(stale) + f"\nrun: recnav-rules docs --out {folder}\n"
            )
    return 1 if stale else 0


# --- services and schemas ------------------------------------------------------------------------


def _services(args: argparse.Namespace) -> int:
    from recnav_rules.policies.directory import builtin_directory

    directory = builtin_directory()
    areas = sorted(directory.areas)
    if args.area is not None and args.area not in areas:
        from recnav_rules.errors import closest

        near = closest(args.area, areas)
        hint = f" (did you mean '{near}'?)" if near else ""
        raise UsageError(f"unknown area '{args.area}'{hint}; areas: {', '.join(areas)}")
    services = directory.filter(area=args.area)
    if args.format == "json":
        rows = [{**dataclasses.asdict(s), "limits": list(s.limits)} for s in services]
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return 0
    for service in services:
        limits = "; ".join(service.limits)
        sys.stdout.write(f"{service.id}\t{service.area}\t{service.name}" + (f"\t[{limits}]" if limits else "") + "\n")
    return 0


def _schemas(args: argparse.Namespace) -> int:
    from recnav_rules._resources import schemas_dir

    folder = schemas_dir().resolve()
    files = sorted(folder.glob("*.schema.json"))
    if args.format == "json":
        body = {"folder": str(folder), "schemas": {f.name: str(f) for f in files}}
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
    else:
        sys.stdout.write(f"{folder}\n")
    return 0


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validate = commands.add_parser("validate", help="check policy files: schema, semantics, warnings")
    validate.add_argument("paths", nargs="+", metavar="PATH")
    validate.add_argument("--strict", action="store_true", help="treat warnings as errors")
    add_format_option(validate)
    validate.set_defaults(run=_validate)

    test = commands.add_parser("test", help="run policy test cases (*.cases.yaml)")
    test.add_argument("paths", nargs="*", metavar="PATH", help="case files or folders (default: the built-in policies' cases)")
    test.add_argument("-k", dest="keyword", action="append", default=[], metavar="EXPRESSION",
                      help="only cases whose id (FILE::NAME) contains WORD, ignoring case; words combine with and, or,"
                      " not and parentheses; repeat -k to keep cases matching any")
    test.add_argument("-v", "--verbose", action="store_true", help="list every case with PASS or FAIL")
    add_format_option(test)
    test.add_argument("--junit-xml", metavar="FILE", help="also write a JUnit XML report")
    test.add_argument("--coverage", action="store_true", help="report rule and condition coverage")
    test.add_argument("--fail-under", type=_percent, metavar="PCT", help="with --coverage: fail below this rule coverage (0-100)")
    test.add_argument("--coverage-json", metavar="FILE", help="with --coverage: also write the coverage as JSON")
    test.add_argument("--lcov", metavar="FILE", help="with --coverage: also write the coverage as an LCOV tracefile")
    test.add_argument("--cobertura", metavar="FILE", help="with --coverage: also write the coverage as Cobertura XML")
    test.add_argument("--mcdc", action="store_true", help="report MC/DC (masking); fail when a part is not shown")
    test.set_defaults(run=_test)

    docs = commands.add_parser("docs", help="render a policy as a Markdown document for auditors")
    docs.add_argument("policies", nargs="*", metavar="POLICY")
    group = docs.add_mutually_exclusive_group()
    group.add_argument("--out", metavar="DIR", help="write <id>.md for each policy (default: all built-ins)")
    group.add_argument("--check", metavar="DIR", help="fail if DIR's documents are out of date")
    add_format_option(docs)
    docs.set_defaults(run=_docs)

    services = commands.add_parser("services", help="list the signposting directory")
    services.add_argument("--area", help="only services in this area")
    add_format_option(services)
    services.set_defaults(run=_services)

    schemas = commands.add_parser("schemas", help="print where the JSON Schemas (policy, cases, decision, services) are")
    add_format_option(schemas)
    schemas.set_defaults(run=_schemas)
