"""Checking and parsing the facts of a referral, JSON-like values in, typed values out.

Each declared fact's type is turned once, at compile time, into a small checking function; the
checks run once per evaluation, before any rule. Every bad field is collected, so a caller gets
one ``FactValidationError`` naming all of them. A value the policy declares personal is checked
(an NHS number against its check digit) and then kept out of everything the decision records;
error messages never repeat it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from stdnum.gb import nhs as stdnum_nhs

from recnav_rules.engine.model import FactSpec, FieldSpec
from recnav_rules.errors import FactProblem, closest

__all__ = ["Checker", "checker_for", "describe_type", "parse_date", "parse_datetime"]

_BAD = object()
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ODS = re.compile(r"[A-Z0-9]{3,10}")

Problems = list[FactProblem]
Checker = Callable[[Any, str, Problems], Any]
"""checker(value, field_path, problems) -> parsed value, or the sentinel after adding a problem."""


def parse_date(value: Any) -> dt.date | None:
    """A date from a ``date`` or an ISO ``YYYY-MM-DD`` string; None when it is neither."""
    if isinstance(value, dt.datetime):
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def parse_datetime(value: Any) -> dt.datetime | None:
    """A datetime from a ``datetime`` or an ISO 8601 string with a time; None otherwise."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and len(value) >= 16 and _DATE.match(value) and value[10] in "T ":
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def describe_type(spec: FieldSpec) -> str:
    """The type in words, for error messages and docs."""
    if spec.type == "enum":
        return "one of " + ", ".join(repr(v) for v in spec.values)
    return {
        "bool": "true or false",
        "integer": "a whole number",
        "number": "a number",
        "string": "text",
        "date": "a date (YYYY-MM-DD)",
        "datetime": "a date and time (ISO 8601, e.g. 2026-11-20T14:30:00)",
        "nhs_number": "an NHS number (10 digits)",
        "ods_code": "an ODS organisation code (3 to 10 letters and digits)",
        "list": "a list of records",
    }.get(spec.type, spec.type)


def _kind(value: Any) -> str:
    if value is True or value is False:
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


def checker_for(spec: FieldSpec, *, personal: bool = False) -> Checker:
    """The checking function for one type. ``personal`` keeps values out of messages."""

    def wrong(value: Any, path: str, problems: Problems, why: str | None = None) -> Any:
        shown = "a value" if personal else _kind(value)
        problems.append(FactProblem(path, why or f"expected {describe_type(spec)}, got {shown}"))
        return _BAD

    kind = spec.type
    if kind == "bool":

        def check_bool(value: Any, path: str, problems: Problems) -> Any:
            if value is True or value is False:
                return value
            return wrong(value, path, problems)

        return check_bool

    if kind in ("integer", "number"):
        lo, hi = spec.minimum, spec.maximum
        integral = kind == "integer"

        def check_number(value: Any, path: str, problems: Problems) -> Any:
            if value is True or value is False or not isinstance(value, int | float):
                return wrong(value, path, problems)
            if integral and not isinstance(value, int):
                if not (isinstance(value, float) and value.is_integer()):
                    return wrong(value, path, problems)
                value = int(value)
            if isinstance(value, float) and not math.isfinite(value):
                return wrong(value, path, problems, "must be a finite number")
            if lo is not None and value < lo:
                return wrong(value, path, problems, f"must be at least {_num(lo)}, got {value}")
            if hi is not None and value > hi:
                return wrong(value, path, problems, f"must be at most {_num(hi)}, got {value}")
            return value

        return check_number

    if kind == "enum":
        allowed = frozenset(spec.values)

        def check_enum(value: Any, path: str, problems: Problems) -> Any:
            if isinstance(value, str) and value in allowed:
                return value
            if isinstance(value, str):
                hint = closest(value, spec.values)
                problems.append(
                    FactProblem(path, f"'{value}' is not {describe_type(spec)}", hint)
                )
                return _BAD
            return wrong(value, path, problems)

        return check_enum

    if kind == "string":
        limit = spec.max_length
        compiled = re.compile(spec.pattern) if spec.pattern else None

        def check_string(value: Any, path: str, problems: Problems) -> Any:
            if not isinstance(value, str):
                return wrong(value, path, problems)
            if len(value) > limit:
                return wrong(value, path, problems, f"longer than {limit} characters")
            if compiled is not None and not compiled.fullmatch(value):
                why = "is not in the expected form" if personal else (
                    f"'{value}' does not match the pattern {spec.pattern}"
                )
                return wrong(value, path, problems, why)
            return value

        return check_string

    if kind == "date":

        def check_date(value: Any, path: str, problems: Problems) -> Any:
            parsed = parse_date(value)
            if parsed is None:
                return wrong(value, path, problems, _bad_date_text(value, spec, personal))
            return parsed

        return check_date

    if kind == "datetime":

        def check_datetime(value: Any, path: str, problems: Problems) -> Any:
            parsed = parse_datetime(value)
            if parsed is None:
                return wrong(value, path, problems, _bad_date_text(value, spec, personal))
            return parsed

        return check_datetime

    if kind == "nhs_number":

        def check_nhs(value: Any, path: str, problems: Problems) -> Any:
            if not isinstance(value, str | int) or isinstance(value, bool):
                return wrong(value, path, problems)
            text = str(value)
            if not re.fullmatch(r"\d{3}[ -]?\d{3}[ -]?\d{4}", text):
                return wrong(value, path, problems, "must be 10 digits (spaces allowed as 3-3-4)")
            if not stdnum_nhs.is_valid(text):
                return wrong(value, path, problems, "fails the NHS number check digit")
            return stdnum_nhs.compact(text)

        return check_nhs

    if kind == "ods_code":

        def check_ods(value: Any, path: str, problems: Problems) -> Any:
            if not isinstance(value, str):
                return wrong(value, path, problems)
            code = value.strip().upper()
            if not _ODS.fullmatch(code):
                return wrong(value, path, problems, f"'{value}' is not {describe_type(spec)}")
            return code

        return check_ods

    if kind == "list":
        field_checks = {
            name: checker_for(sub, personal=personal) for name, sub in spec.fields.items()
        }
        names = tuple(spec.fields)
        limit_items = spec.max_items

        def check_list(value: Any, path: str, problems: Problems) -> Any:
            if not isinstance(value, list | tuple):
                return wrong(value, path, problems)
            if len(value) > limit_items:
                return wrong(value, path, problems, f"more than {limit_items} items")
            before = len(problems)
            records: list[dict[str, Any]] = []
            for index, item in enumerate(value):
                where = f"{path}[{index}]"
                if not isinstance(item, Mapping):
                    problems.append(FactProblem(where, f"expected a record, got {_kind(item)}"))
                    continue
                record: dict[str, Any] = {}
                for key in item:
                    if key not in field_checks:
                        problems.append(
                            FactProblem(f"{where}.{key}", "unknown field", closest(str(key), names))
                        )
                for name, check in field_checks.items():
                    if item.get(name) is None:
                        problems.append(FactProblem(f"{where}.{name}", "is required"))
                        continue
                    record[name] = check(item[name], f"{where}.{name}", problems)
                records.append(record)
            if len(problems) > before:
                return _BAD
            return tuple(records)

        return check_list

    raise ValueError(f"unknown fact type {kind!r}")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _bad_date_text(value: Any, spec: FieldSpec, personal: bool) -> str:
    if isinstance(value, str) and not personal:
        return f"'{value}' is not {describe_type(spec)}"
    return f"expected {describe_type(spec)}, got {'a value' if personal else _kind(value)}"


def is_bad(value: Any) -> bool:
    """Whether a checker rejected the value (it has already said why)."""
    return value is _BAD


def check_facts(
    facts: Mapping[str, FactSpec],
    checkers: Mapping[str, Checker],
    given: Mapping[str, Any],
    problems: Problems,
) -> tuple[dict[str, Any], list[str]]:
    """Check every given fact; return (values of the non-personal facts, personal names given).

    Unknown names are problems with a did-you-mean; ``None`` means "not known" and is left out.
    """
    values: dict[str, Any] = {}
    personal_given: list[str] = []
    for name, raw in given.items():
        if not isinstance(name, str):
            problems.append(FactProblem(repr(name), "fact names must be text"))
            continue
        spec = facts.get(name)
        if spec is None:
            problems.append(FactProblem(name, "unknown fact", closest(name, facts)))
            continue
        if raw is None:
            continue
        parsed = checkers[name](raw, name, problems)
        if parsed is _BAD:
            continue
        if spec.personal:
            personal_given.append(name)
        else:
            values[name] = parsed
    return values, personal_given
