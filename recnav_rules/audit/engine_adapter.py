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
  first), and whether they may hold a float (``may_hold_floats``: ``Decision._floats``); their
  canonical JSON and digest written once (``checked_facts_json``, which fills the decision's
  facts-digest cache, ``Decision._c[1]``);
- each criterion's and rule's three-valued result without rendering the whole trace
  (``trace_letters`` reads them from the native evaluator's record, ``Decision._record``, and
  falls back to ``Decision.truths()`` whenever that shape is not there; a test keeps the two
  equal), in the order of ``trace_layout`` (the compiled policy's criteria and rules).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from recnav_rules.canonical import canonical_bytes
from recnav_rules.decision import Decision
from recnav_rules.errors import PolicyError
from recnav_rules.policies.register import Practice, PracticeRegister
from recnav_rules.policy import Policy

__all__ = [
    "GP_PRACTICES",
    "checked_facts_json",
    "checked_values",
    "compact_trace",
    "compile_from_text",
    "may_hold_floats",
    "nhs_fact_names",
    "policy_parameters",
    "policy_register",
    "policy_source",
    "reference_info",
    "register_from_table",
    "register_table",
    "trace_layout",
    "trace_letters",
]

GP_PRACTICES = "gp_practices"
_LETTER = {True: "t", False: "f", None: "u"}
_LETTER_OF_TEXT = {"true": "t", "false": "f", "unknown": "u"}
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


def trace_layout(policy: Policy) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The ids of the policy's criteria and rules, in the order the engine evaluates them."""
    compiled = policy.compiled
    return tuple(c.id for c in compiled.criteria), tuple(r.id for r in compiled.rules)


def trace_letters(decision: Decision, layout: tuple[Sequence[str], Sequence[str]]) -> tuple[str, str]:
    """The compact trace as two strings of ``t``/``f``/``u``, one letter per criterion and per rule
    in ``layout``'s order. Read from the native engine's record of the evaluation (``Decision._record``:
    its ``env`` holds each criterion's value under ``("c", id)``, its ``values`` each rule's, in the
    policy's order) when that shape is there; otherwise from ``Decision.truths()`` (a test keeps
    the two equal)."""
    criteria, rules = layout
    record = getattr(decision, "_record", None)
    env = getattr(record, "env", None)
    values = getattr(record, "values", None)
    if isinstance(values, tuple) and len(values) == len(rules) and env is not None:
        try:
            return "".join([_LETTER[env[("c", name)]] for name in criteria]), "".join([_LETTER[v] for v in values])
        except (KeyError, TypeError):
            pass
    truths = decision.truths()
    return (
        "".join([_LETTER_OF_TEXT[truths["criteria"][name]] for name in criteria]),
        "".join([_LETTER_OF_TEXT[truths["rules"][name]] for name in rules]),
    )


def reference_info(policy: Policy) -> dict[str, Mapping[str, Any]]:
    """The reference data a policy's decisions name (``Decision.reference_data``): each table's
    name, as-of date and digest."""
    register = policy_register(policy)
    return {GP_PRACTICES: dict(register.info())} if register is not None else {}


def checked_values(decision: Decision) -> Mapping[str, Any]:
    """The decision's checked non-personal facts, as held (``canonical_json`` writes dates as text)."""
    values = getattr(decision, "_values", None)
    return values if isinstance(values, dict) else decision.checked_facts


def checked_facts_json(decision: Decision) -> tuple[bytes, str] | None:
    """The checked facts' canonical JSON and their digest (``Decision.facts_digest``, the sha256 of
    those very bytes), written once; None unless the engine knows they hold no float (then
    ``checked_values`` and the general encoder are used). The digest is left in the decision's
    cache (``Decision._c[1]``, where ``facts_digest`` keeps it), so that a batch line written
    after the record does not encode the facts again."""
    values = getattr(decision, "_values", None)
    if getattr(decision, "_floats", None) is not False or not isinstance(values, dict):
        return None
    text = canonical_bytes(values, floats=False, checked_times=True)
    cache = getattr(decision, "_c", None)
    held = isinstance(cache, list) and len(cache) > 1  # Decision._c: [..., facts digest, ...]
    digest = cache[1] if held and isinstance(cache[1], str) else None  # type: ignore[index]
    if digest is None:
        digest = hashlib.sha256(text).hexdigest()
        if held:
            cache[1] = digest  # type: ignore[index]
    return text, digest


def may_hold_floats(decision: Decision) -> bool | None:
    """Whether a decision's checked facts may hold a float, as the engine knows; None when unknown
    (the encoder then looks). False also promises the engine's checked value shapes (date-times read
    by its reader), which the facts digest relies on too."""
    known = getattr(decision, "_floats", None)
    return known if isinstance(known, bool) and isinstance(getattr(decision, "_values", None), dict) else None
