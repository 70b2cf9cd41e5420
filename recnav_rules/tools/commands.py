"""The policy owners' commands: validate, test, docs, services."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recnav_rules.errors import PolicyError

__all__ = ["add_commands"]


def _validate(args: argparse.Namespace) -> int:
    from recnav_rules.tools.validate import report, validate_paths

    text, code = report(validate_paths(args.paths), as_json=args.format == "json", strict=args.strict)
    sys.stdout.write(text)
    return code


def _test(args: argparse.Namespace) -> int:
    from recnav_rules.tools.cases import case_files, policy_for, run_cases
    from recnav_rules.tools.coverage import measure

    paths = args.paths or ["policies/tests"]
    if not case_files(paths):
        raise PolicyError.at(str(paths[0]), None, None, "no-cases", "no policy test cases (*.cases.yaml) found")
    results = list(run_cases(paths))
    failed = [r for r in results if not r.passed]
    for result in failed:
        sys.stdout.write(result.report() + "\n\n")
    sys.stdout.write(f"{len(results) - len(failed)} passed, {len(failed)} failed\n")
    code = 1 if failed else 0
    seen: set[str] = set()
    if args.coverage:
        for case in (r.case for r in results):
            if case.policy in seen:
                continue
            seen.add(case.policy)
            coverage = measure(policy_for(case).compiled, results)
            sys.stdout.write(coverage.report() + "\n")
            if args.fail_under is not None and coverage.rule_percent < args.fail_under:
                sys.stdout.write(
                    f"rule coverage of {coverage.policy_id} is {coverage.rule_percent:.1f}%, under {args.fail_under}%\n"
                )
                code = 1
    return code


def _docs(args: argparse.Namespace) -> int:
    from recnav_rules.policies.registry import list_policies, load_policy
    from recnav_rules.tools.policy_docs import render_policy

    if args.check is not None or args.out is not None:
        folder = Path(args.check or args.out)
        targets = args.policies or [p.id for p in list_policies() if p.origin == "builtin"]
        stale: list[str] = []
        for target in targets:
            policy = load_policy(target)
            path = folder / f"{policy.id}.md"
            text = render_policy(policy.compiled)
            if args.check is not None:
                current = path.read_text(encoding="utf-8") if path.exists() else None
                if current != text:
                    stale.append(str(path))
            else:
                folder.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                sys.stdout.write(f"wrote {path}\n")
        if stale:
            sys.stdout.write(
                "out of date with the policy YAML: " + ", ".join(stale) + f"\nrun: recnav-rules docs --out {folder}\n"
            )
            return 1
        return 0
    if len(args.policies) != 1:
        raise PolicyError.at("<arguments>", None, None, "usage", "name one POLICY, or use --out DIR / --check DIR")
    sys.stdout.write(render_policy(load_policy(args.policies[0]).compiled))
    return 0


def _services(args: argparse.Namespace) -> int:
    from recnav_rules.policies.directory import builtin_directory

    directory = builtin_directory()
    areas = sorted(directory.areas)
    if args.area is not None and args.area not in areas:
        from recnav_rules.errors import closest

        raise PolicyError.at("<arguments>", None, None, "unknown-area", f"unknown area '{args.area}' (areas: {', '.join(areas)})", closest(args.area, areas))
    for service in directory.filter(area=args.area):
        limits = "; ".join(service.limits)
        sys.stdout.write(f"{service.id}\t{service.area}\t{service.name}" + (f"\t[{limits}]" if limits else "") + "\n")
    return 0


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validate = commands.add_parser("validate", help="check policy files: schema, semantics, warnings")
    validate.add_argument("paths", nargs="+", metavar="PATH")
    validate.add_argument("--strict", action="store_true", help="treat warnings as errors")
    validate.add_argument("--format", choices=("text", "json"), default="text")
    validate.set_defaults(run=_validate)

    test = commands.add_parser("test", help="run policy test cases (*.cases.yaml)")
    test.add_argument("paths", nargs="*", metavar="PATH", help="case files or folders (default: policies/tests)")
    test.add_argument("--coverage", action="store_true", help="report rule and condition coverage")
    test.add_argument("--fail-under", type=float, metavar="PCT", help="with --coverage: fail below this rule coverage")
    test.set_defaults(run=_test)

    docs = commands.add_parser("docs", help="render a policy as a Markdown document for auditors")
    docs.add_argument("policies", nargs="*", metavar="POLICY")
    group = docs.add_mutually_exclusive_group()
    group.add_argument("--out", metavar="DIR", help="write <id>.md for each policy (default: all built-ins)")
    group.add_argument("--check", metavar="DIR", help="fail if DIR's documents are out of date")
    docs.set_defaults(run=_docs)

    services = commands.add_parser("services", help="list the signposting directory")
    services.add_argument("--area", help="only services in this area")
    services.set_defaults(run=_services)
