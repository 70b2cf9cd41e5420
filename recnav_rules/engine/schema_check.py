"""JSON Schema checks with errors located at file:line:col.

Each ``jsonschema`` error's ``absolute_path`` is mapped back through the located YAML document to
the node it is about. Misspelt keys and enum values get a did-you-mean. Conditions (under
``when`` and ``where``) are left to the compiler, which knows the declared facts and so can
say more than a ``oneOf`` failure can.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator

from recnav_rules.engine.source import LocatedDocument, PathKey
from recnav_rules.errors import PolicyProblem, closest

__all__ = ["jsonable", "schema_problems"]

_CONDITION_KEYS = {"when", "where"}


def jsonable(value: Any) -> Any:
    """YAML data as JSON would hold it: dates and datetimes become ISO strings."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _in_condition(path: PathKey) -> bool:
    return any(part in _CONDITION_KEYS for part in path)


def _describe(error: jsonschema.ValidationError) -> tuple[str, str, str | None, bool, PathKey]:
    """(code, message, suggestion, at_key, path) for one error."""
    path: PathKey = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    where = f" in '{path[-1]}'" if path and isinstance(path[-1], str) else ""
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(schema.get("properties", {}))
        extras = [k for k in error.instance if k not in allowed]
        key = extras[0] if extras else "?"
        return (
            "unknown-key",
            f"unknown key '{key}'{where}",
            closest(key, allowed),
            True,
            (*path, key),
        )
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return "missing-key", f"missing required key '{missing}'{where}", None, False, path
    if error.validator == "enum" and isinstance(error.instance, str):
        options = [str(v) for v in schema.get("enum", [])]
        return (
            "bad-value",
            f"'{error.instance}' is not one of: {', '.join(options)}",
            closest(error.instance, options),
            False,
            path,
        )
    if error.validator == "pattern":
        return "bad-value", f"{error.instance!r} does not match {error.validator_value}", None, False, path
    if error.validator == "type":
        wanted = error.validator_value
        return "bad-type", f"expected {wanted}{where}, got {type(error.instance).__name__}", None, False, path
    return "schema", f"{error.message}{where}", None, False, path


def schema_problems(
    doc: LocatedDocument, schema: dict[str, Any], data: Any | None = None
) -> list[PolicyProblem]:
    """Every schema error in ``doc`` as a located problem (conditions excepted)."""
    validator = Draft202012Validator(schema)
    instance = jsonable(doc.data) if data is None else data
    problems: list[PolicyProblem] = []
    seen: set[tuple[PathKey, str]] = set()
    errors: Iterable[jsonschema.ValidationError] = validator.iter_errors(instance)
    for error in errors:
        if _in_condition(tuple(error.absolute_path)):
            continue
        code, message, suggestion, at_key, path = _describe(error)
        if (path, message) in seen:
            continue
        seen.add((path, message))
        problems.append(doc.problem(path, code, message, suggestion, at_key=at_key))
    return problems
