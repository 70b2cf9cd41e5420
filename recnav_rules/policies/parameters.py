"""Policy parameters: named, typed values that a deployment sets or that change over time.

Modelled on OpenFisca's parameters. A policy declares each one under ``parameters:`` (type,
description, optional ``values`` keyed by the date each value takes effect); anywhere a literal
goes, ``{param: NAME}`` stands for its value. ``load_policy(id, parameters={...})``,
``recnav-rules evaluate --param NAME=VALUE`` and a case file's ``parameters:`` set them; a set
value is checked against the declared type. Values are resolved when the policy is loaded,
before the policy compiles, so the policy digest covers them and every decision records them;
where a dated value changes after the policy takes effect, the compiler also compiles the policy
as in force in each later period (``CompiledPolicy.periods``) and a decision uses the one in force
on its as-of date.

A parameter the policy uses that has no value makes ``load_policy`` fail, naming it and how to
set it; tools that only read the policy (validate, docs) still compile it.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from recnav_rules.engine.dates import read_date, today_in_london
from recnav_rules.engine.source import LocatedDocument, PathKey
from recnav_rules.errors import PolicyError, PolicyProblem, closest

__all__ = [
    "PARAMETER_TYPES",
    "OptionText",
    "ResolvedParameters",
    "check_loaded",
    "glossary_for_digest",
    "parameter_from_text",
    "parameters_for_digest",
    "parameters_from_options",
    "record_parameters",
    "resolve_document",
]

PARAMETER_TYPES = ("string", "integer", "number", "bool", "date", "string_list")
_INERT: dict[str, Any] = {"string": "", "integer": 0, "number": 0, "bool": False, "date": "1900-01-01", "string_list": [""]}
"""What stands in for an unset parameter so that tools can still read the policy; never evaluated
through load_policy, which refuses a policy with unset parameters."""

HOW_TO_SET = (
    "set it with load_policy(..., parameters={{'{name}': ...}}), "
    "'recnav-rules evaluate --param {name}=VALUE', or 'parameters:' in a case file"
)


@dataclass(frozen=True, slots=True)
class ResolvedParameters:
    """One policy's parameter values after resolution, and the ones nobody set."""

    values: dict[str, Any] = field(default_factory=dict)
    unset: tuple[str, ...] = ()
    declared: dict[str, dict[str, Any]] = field(default_factory=dict)


def _type_error(spec: Mapping[str, Any], value: Any) -> str | None:
    """Why ``value`` is not a valid value of the declared parameter, or None when it is."""
    kind = spec["type"]
    if kind == "string" or kind == "date":
        if not isinstance(value, str):
            return f"expected a {kind}, got {type(value).__name__}"
        if kind == "date":
            if read_date(value) is None:
                return f"{value!r} is not a date (YYYY-MM-DD)"
        pattern = spec.get("pattern")
        if kind == "string" and pattern and not re.fullmatch(pattern, value):
            return f"{value!r} does not match the pattern {pattern}"
        return None
    if kind == "string_list":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            return "expected a non-empty list of strings"
        return None
    if kind == "bool":
        return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, int | float) or (kind == "integer" and not isinstance(value, int)):
        return f"expected {'an integer' if kind == 'integer' else 'a number'}, got {value!r}"
    low, high = spec.get("minimum"), spec.get("maximum")
    if (low is not None and value < low) or (high is not None and value > high):
        return f"{value!r} is outside {low if low is not None else '-inf'}..{high if high is not None else 'inf'}"
    return None


def parameter_from_text(spec: Mapping[str, Any] | None, text: str) -> Any:
    """A command-line value (``--param NAME=VALUE``) read as the declared type."""
    kind = spec.get("type") if spec else "string"
    if kind == "integer" and re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            return text
    if kind == "bool" and text in ("true", "false"):
        return text == "true"
    if kind == "string_list":
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


class OptionText(str):
    """A value typed on the command line: read as the parameter's declared type when resolved."""

    __slots__ = ()


def parameters_from_options(options: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` strings (``--param``) as parameters; a malformed one is a PolicyError."""
    found: dict[str, Any] = {}
    problems: list[PolicyProblem] = []
    for option in options:
        name, equals, value = option.partition("=")
        name = name.strip()
        if not equals or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            problems.append(PolicyProblem("<--param>", None, None, "bad-parameter", f"expected NAME=VALUE with a parameter name, got {option!r}"))
        elif name in found:
            problems.append(PolicyProblem("<--param>", None, None, "bad-parameter", f"parameter '{name}' is given twice"))
        else:
            found[name] = OptionText(value)
    if problems:
        raise PolicyError(problems)
    return found


def dated_value(values: Mapping[Any, Any], on: dt.date) -> tuple[bool, Any]:
    """(found, value): the value whose start date is the latest on or before ``on``."""
    best: tuple[dt.date, Any] | None = None
    for start, value in values.items():
        day = start if isinstance(start, dt.date) else dt.date.fromisoformat(str(start))
        if day <= on and (best is None or day > best[0]):
            best = (day, value)
    return (best is not None, best[1] if best is not None else None)


def _uses(node: Any, path: PathKey) -> Iterator[tuple[PathKey, str]]:
    """(path, name) of every ``{param: NAME}`` under ``node``."""
    if isinstance(node, Mapping):
        if len(node) == 1 and isinstance(node.get("param"), str):
            yield path, node["param"]
            return
        for key, value in node.items():
            yield from _uses(value, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _uses(item, (*path, index))


def _put(data: Any, path: PathKey, value: Any) -> None:
    for step in path[:-1]:
        data = data[step]
    data[path[-1]] = value


def _copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


def resolve_document(
    doc: LocatedDocument, given: Mapping[str, Any] | None, on: dt.date | None = None
) -> tuple[LocatedDocument, dict[int, ResolvedParameters]]:
    """The document with every ``{param: NAME}`` replaced, and each policy's resolution.

    Raises PolicyError for a use of an undeclared parameter, a bad declaration or a set value
    of the wrong type. Set values a policy does not declare are left for ``check_loaded``.
    """
    policies = doc.data.get("policies") if isinstance(doc.data, Mapping) else None
    if not isinstance(policies, list):
        return doc, {}
    day = on or today_in_london()
    given = given or {}
    data = _copy(doc.data)
    problems: list[PolicyProblem] = []
    resolved: dict[int, ResolvedParameters] = {}
    for index, raw in enumerate(data["policies"]):
        if not isinstance(raw, dict):
            continue
        base: PathKey = ("policies", index)
        declared = raw.get("parameters") or {}
        if not isinstance(declared, dict):
            continue  # the schema check reports it
        values: dict[str, Any] = {}
        unset: list[str] = []
        for name, spec in declared.items():
            if not isinstance(spec, dict) or spec.get("type") not in PARAMETER_TYPES:
                continue  # the schema check reports it
            if name in given:
                if isinstance(given[name], OptionText):
                    given = {**given, name: parameter_from_text(spec, str(given[name]))}
                why = _type_error(spec, given[name])
                if why is not None:
                    problems.append(PolicyProblem(f"<parameter {name}>", None, None, "bad-parameter", f"parameter '{name}' of '{raw.get('id')}': {why}"))
                    continue
                values[name] = given[name]
                continue
            found, value = dated_value(spec.get("values") or {}, day)
            if found:
                why = _type_error(spec, value)
                if why is not None:
                    problems.append(doc.problem((*base, "parameters", name, "values"), "bad-parameter", f"parameter '{name}': {why}"))
                    continue
                values[name] = value
            else:
                unset.append(name)
        used: set[str] = set()
        for path, name in _uses({k: v for k, v in raw.items() if k != "parameters"}, base):
            used.add(name)
            spec = declared.get(name)
            if spec is None:
                problems.append(doc.problem(path, "unknown-parameter", f"unknown parameter '{name}'", closest(name, declared)))
            elif name in values:
                _put(data, path, _copy(values[name]))
            elif isinstance(spec, dict):
                _put(data, path, _copy(_INERT.get(str(spec.get("type")), "")))
        needed = tuple(name for name in unset if name in used)  # a declared parameter no rule uses can stay unset
        resolved[index] = ResolvedParameters(values, needed, {k: dict(v) for k, v in declared.items() if isinstance(v, dict)})
    if problems:
        raise PolicyError(problems)
    out = LocatedDocument(doc.file, data, doc.marks, doc.key_marks, doc.lines)
    return out, resolved


def check_loaded(policy_id: str, values: Mapping[str, Any], unset: tuple[str, ...], declared: Mapping[str, Any], given: Mapping[str, Any] | None) -> None:
    """Refuse a policy whose parameters are not all set, or that was given ones it lacks."""
    problems: list[PolicyProblem] = []
    for name in given or {}:
        if name not in declared:
            hint = closest(name, declared)
            listed = ", ".join(declared) or "none"
            problems.append(PolicyProblem(f"<parameter {name}>", None, None, "unknown-parameter", f"policy '{policy_id}' has no parameter '{name}' (it has: {listed})", hint))
    for name in unset:
        how = HOW_TO_SET.format(name=name)
        problems.append(PolicyProblem(f"<parameter {name}>", None, None, "unset-parameter", f"policy '{policy_id}' needs parameter '{name}', which has no value: {how}"))
    if problems:
        raise PolicyError(problems)


_lock = threading.Lock()
_by_digest: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}


def record_parameters(digest: str, values: Mapping[str, Any], glossary: Mapping[str, str] | None = None) -> None:
    """Remember the parameter values (and glossary) of a compiled policy, by its digest.

    The digest is of the policy after resolution, so it names the values exactly; decisions and
    explanations read them from here until the evaluator hands them over itself.
    """
    with _lock:
        _by_digest[digest] = (dict(values), dict(glossary or {}))


def parameters_for_digest(digest: str) -> dict[str, Any]:
    """The parameter values of the compiled policy with this digest ({} when unknown here)."""
    found = _by_digest.get(digest)
    return dict(found[0]) if found else {}


def glossary_for_digest(digest: str) -> dict[str, str]:
    """The glossary of the compiled policy with this digest ({} when unknown here)."""
    found = _by_digest.get(digest)
    return dict(found[1]) if found else {}
