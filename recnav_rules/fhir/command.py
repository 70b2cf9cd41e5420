"""``recnav-rules evaluate --policy ID --fhir BUNDLE.json [--fhir-out RESPONSE.json]``.

The bundle's facts go through the policy's FHIR mapping; the decision is printed as usual
(explanation, or ``--json``), and ``--fhir-out`` writes it as a FHIR GuidanceResponse
(``-`` for standard output, instead of the explanation).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from recnav_rules.errors import FactProblem, FactValidationError, PolicyError
from recnav_rules.fhir import evaluate_bundle
from recnav_rules.fhir.bundle import MAX_BUNDLE_BYTES
from recnav_rules.policy import Policy

__all__ = ["read_bundle_file", "run_fhir_command"]


def read_bundle_file(path: str) -> bytes:
    """A bundle file's bytes ('-': standard input), refusing files over ``MAX_BUNDLE_BYTES``."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_BUNDLE_BYTES + 1)
        else:
            with Path(path).open("rb") as handle:
                data = handle.read(MAX_BUNDLE_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise FactValidationError([FactProblem("bundle", f"cannot read {path}: {reason}")]) from None
    if len(data) > MAX_BUNDLE_BYTES:
        raise FactValidationError([FactProblem("bundle", f"{path} is larger than {MAX_BUNDLE_BYTES} bytes")])
    return data


def _check_options(args: argparse.Namespace) -> None:
    clashing = [
        option
        for option, given in (
            ("a facts FILE", getattr(args, "file", None) is not None),
            ("--batch", getattr(args, "batch", None) is not None),
            ("--out", getattr(args, "out", None) is not None),
            ("--errors", getattr(args, "errors", None) is not None),
            ("--trace", bool(getattr(args, "trace", False))),
            ("--engine durable", getattr(args, "engine", "native") != "native"),
            ("--log", getattr(args, "log", None) is not None),
            ("--explain", getattr(args, "explain", None) is not None),
        )
        if given
    ]
    if clashing:
        raise PolicyError.at("<arguments>", None, None, "usage", f"--fhir reads one bundle; it does not go with {', '.join(clashing)}")


def run_fhir_command(args: argparse.Namespace, load: Callable[[], Policy]) -> int:
    """Evaluate the bundle ``args.fhir`` against the policy ``load()`` gives; 0 on a decision.

    Bad input raises (``FactValidationError``, ``PolicyError``) for the command line to report.
    """
    _check_options(args)
    data = read_bundle_file(args.fhir)
    result = evaluate_bundle(load(), data, as_of=args.as_of)
    response = json.dumps(result.guidance_response, indent=2, ensure_ascii=False) + "\n"
    out = getattr(args, "fhir_out", None)
    if out == "-":
        sys.stdout.write(response)
        return 0
    if out is not None:
        try:
            Path(out).write_text(response, encoding="utf-8")
        except OSError as exc:
            raise PolicyError.at(out, None, None, "unwritable", f"cannot write: {exc.strerror or type(exc).__name__}") from None
    if getattr(args, "format", None) == "json" or getattr(args, "json", False) is True:
        sys.stdout.write(result.decision.to_json(indent=2) + "\n")
    else:
        sys.stdout.write(result.decision.explain())
    return 0
