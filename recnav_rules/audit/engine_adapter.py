"""The decision log's one adapter to engine and reference-data internals.

Everything the log needs beyond the public API (``load_policy``, ``Policy``, ``Decision``) is here,
so that a change in the engine is fixed in one place:

- compiling a policy from stored source text (``compile_from_text``: ``engine.source.load_yaml_text``
  + ``engine.compiler.compile_document`` + ``policy.Policy``);
- the GP practice register a policy was compiled with (``policy.compiled.reference_data``), and its
  table as JSON-ready data and back (``register_table`` / ``register_from_table``);
- the policy's parameter values (``policy.compiled.parameters``; ``policy_parameters``);
- the checked facts as the decision holds them (``checked_values``: ``Decision._values``, dates
  not yet ISO text, which the canonical encoder writes; ``Decision.checked_facts`` converts them
  first), and whether they may hold a float (``may_hold_floats``: ``Decision._floats``);
- each criterion's and rule's three-valued result without rendering the whole trace
  (``compact_trace`` reads them from the native evaluator's trace closure, and falls back to
  ``Decision.trace`` whenever that shape is not there; a test keeps the two equal).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recnav_rules.canonical import has_float
from recnav_rules.decision import Decision
from recnav_rules.errors import PolicyError
from recnav_rules.policies.register import Practice, PracticeRegister
from recnav_rules.policy import Policy

__all__ = [
    "GP_PRACTICES",
    "checked_values",
    "compact_trace",
    "compile_from_text",
    "may_hold_floats",
    "nhs_fact_names",
    "policy_parameters",
    "policy_register",
    "policy_source",
    "register_from_table",
    "register_table",
]

GP_PRACTICES = "gp_practices"
_TRUTH = {True: "true", False: "false", None: "unknown"}
MAX_POLICY_BYTES = 16 * 1024 * 1024


def policy_source(policy: Policy) -> bytes:
    """The bytes of the file the policy was compiled from. Raises PolicyError when unreadable."""
    path = Path(policy.file)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        raise PolicyError.at(policy.file, None, None, "unreadable", f"cannot read the policy source to log it: {exc.strerror}") from None
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError.at(policy.file, None, None, "too-large", f"policy source over {MAX_POLICY_BYTES} bytes")
    return raw


def policy_register(policy: Policy) -> PracticeRegister | None:
    """The GP practice register the policy was compiled with, if any."""
    register = policy.compiled.reference_data.get(GP_PRACTICES)
    return register if isinstance(register, PracticeRegister) else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def policy_parameters(policy: Policy) -> dict[str, Any]:
    """The parameter values the policy was compiled with (issue 11), JSON-ready.

    Dated parameters resolve on the day a policy is loaded, so replay passes these values back
    to the compiler rather than resolving them again.
    """
    values = getattr(policy.compiled, "parameters", None) or {}
    return {str(name): _jsonable(value) for name, value in values.items()}


def nhs_fact_names(policy: Policy) -> tuple[str, ...]:
    """The policy's facts of type ``nhs_number`` (where a subject key comes from)."""
    return tuple(name for name, info in policy.facts.items() if info.type == "nhs_number")


def _date_text(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def register_table(register: PracticeRegister) -> dict[str, Any]:
    """A register as JSON-ready data: its identity and every practice, sorted by code."""
    table: dict[str, Any] = {
        "name": register.name,
        "as_of": register.as_of.isoformat(),
        "origin": register.origin,
        "digest": register.digest,
        "columns": [
            "code", "name", "status", "sub_icb_code", "prescribing_setting", "open_date", "close_date", "pcn_code", "pcn_name",
        ],
        "practices": [
            [
                p.code, p.name, p.status, p.sub_icb_code, p.prescribing_setting,
                _date_text(p.open_date), _date_text(p.close_date), p.pcn_code, p.pcn_name,
            ]
            for p in sorted(register, key=lambda p: p.code)
        ],
    }
    max_age = getattr(register, "max_age_months", None)
    if max_age is not None:
        table["max_age_months"] = max_age
    return table


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value) if isinstance(value, str) else None


def register_from_table(table: dict[str, Any]) -> PracticeRegister:
    """The register ``register_table`` described."""
    practices = {
        row[0]: Practice(row[0], row[1], row[2], row[3], int(row[4]), _date(row[5]), _date(row[6]), row[7], row[8])
        for row in table["practices"]
    }
    extra: dict[str, Any] = {}
    if table.get("max_age_months") is not None:
        extra["max_age_months"] = int(table["max_age_months"])
    return PracticeRegister(table["name"], dt.date.fromisoformat(table["as_of"]), table["origin"], table["digest"], practices, **extra)


def compile_from_text(
    text: str, file: str, policy_id: str, register: PracticeRegister | None, parameters: Mapping[str, Any] | None = None
) -> Policy:
    """Compile policy ``policy_id`` from stored source text, with the stored register and parameter values.

    Raises PolicyError when the text does not compile or does not hold that policy.
    """
    from recnav_rules.engine.compiler import compile_document
    from recnav_rules.engine.source import load_yaml_text
    from recnav_rules.policies.register import builtin_register
    from recnav_rules.policies.registry import _services

    doc = load_yaml_text(text, file)
    reference = {GP_PRACTICES: register if register is not None else builtin_register()}
    options: dict[str, Any] = {"parameters": dict(parameters)} if parameters else {}
    for compiled in compile_document(doc, services=_services()[0], reference=reference, **options):
        if compiled.id == policy_id:
            return Policy(compiled)
    raise PolicyError.at(file, None, None, "unknown-policy", f"the stored source holds no policy '{policy_id}'")


def compact_trace(decision: Decision) -> dict[str, dict[str, str]]:
    """Each criterion's and each rule's value (``true``/``false``/``unknown``), by id."""
    truths = decision.truths()
    return {"criteria": truths["criteria"], "rules": truths["rules"]}


def checked_values(decision: Decision) -> Mapping[str, Any]:
    """The decision's checked non-personal facts, as held (``canonical_json`` writes dates as text)."""
    values = getattr(decision, "_values", None)
    return values if isinstance(values, dict) else decision.checked_facts


def may_hold_floats(decision: Decision, parameters: Mapping[str, Any]) -> bool | None:
    """Whether a record body may hold a float: its checked facts (as the engine knows) or its
    parameters; None when unknown (the encoder then looks)."""
    if has_float(parameters):
        return True
    known = getattr(decision, "_floats", None)
    return known if isinstance(known, bool) else None
