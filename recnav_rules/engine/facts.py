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

from recnav_rules.canonical import MAX_SAFE_INTEGER
from recnav_rules.engine.dates import read_date, read_datetime
from recnav_rules.engine.model import FactSpec, FieldSpec
from recnav_rules.errors import FactProblem, closest, printable

__all__ = [
    "Checker",
    "check_facts",
    "checker_for",
    "compile_pattern",
    "describe_type",
    "fact_table",
    "parse_date",
    "parse_datetime",
]

_BAD = object()
_ODS = re.compile(r"[A-Z0-9]{3,10}")

Problems = list[FactProblem]
Checker = Callable[[Any, str, Problems], Any]
"""checker(value, field_path, problems) -> parsed value, or the sentinel after adding a problem."""


MAX_PATTERN_LENGTH = 1000


def compile_pattern(text: str) -> Any:
    """A ``pattern:`` as an RE2 program (the ``google-re2`` package), matched in time linear in
    the value: no pattern can make a fact check slow (``^(a|a)*$`` included). RE2 syntax is
    Python's without backreferences and lookaround. Raises ValueError, with RE2's reason, for a
    pattern it cannot compile or one longer than ``MAX_PATTERN_LENGTH`` characters."""
    import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

    if len(text) > MAX_PATTERN_LENGTH:
        raise ValueError(f"longer than {MAX_PATTERN_LENGTH} characters")
    options = re2.Options()
    options.log_errors = False  # RE2 would print its own line on standard error
    try:
        return re2.compile(text, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        raise ValueError(reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)) from None


def _is_unicode(text: str) -> bool:
    """Whether ``text`` is real Unicode: JSON's ``"\\ud800"`` gives a lone surrogate, which no
    UTF-8 encoder (RE2's, the digest's, an output file's) accepts."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_date(value: Any) -> dt.date | None:
    """A date from a ``date`` or an ISO ``YYYY-MM-DD`` string; None when it is neither."""
    return read_date(value)


def parse_datetime(value: Any) -> dt.datetime | None:
    """A datetime from a ``datetime`` or an ISO 8601 string with a time; None otherwise."""
    return read_datetime(value)


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

    def wrong(value: Any, path: str, problems: Problems, why: str | None = None, code: str = "wrong-type") -> Any:
        shown = "a value" if personal else _kind(value)
        problems.append(FactProblem(path, why or f"expected {describe_type(spec)}, got {shown}", None, code))
        return _BAD

    def quoted(value: Any) -> str:
        """The value for a message, or nothing at all for a personal fact."""
        return "" if personal else f"{_quote(value)} "

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
                return wrong(value, path, problems, "must be a finite number", "out-of-range")
            if isinstance(value, int) and not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                return wrong(value, path, problems, f"must lie between -{MAX_SAFE_INTEGER} and {MAX_SAFE_INTEGER}", "out-of-range")
            if lo is not None and value < lo:
                got = "" if personal else f", got {_quote(value)}"
                return wrong(value, path, problems, f"must be at least {_num(lo)}{got}", "out-of-range")
            if hi is not None and value > hi:
                got = "" if personal else f", got {_quote(value)}"
                return wrong(value, path, problems, f"must be at most {_num(hi)}{got}", "out-of-range")
            return value

        return check_number

    if kind == "enum":
        allowed = frozenset(spec.values)

        def check_enum(value: Any, path: str, problems: Problems) -> Any:
            if isinstance(value, str) and value in allowed:
                return value
            if isinstance(value, str):
                hint = None if personal else closest(value, spec.values)
                problems.append(FactProblem(path, f"{quoted(value)}is not {describe_type(spec)}", hint, "not-allowed"))
                return _BAD
            return wrong(value, path, problems)

        return check_enum

    if kind == "string":
        limit = spec.max_length
        compiled = compile_pattern(spec.pattern) if spec.pattern else None

        def check_string(value: Any, path: str, problems: Problems) -> Any:
            if not isinstance(value, str):
                return wrong(value, path, problems)
            if len(value) > limit:
                return wrong(value, path, problems, f"longer than {limit} characters", "too-long")
            if not value.isascii() and not _is_unicode(value):  # RE2, digests and UTF-8 output would fail
                return wrong(value, path, problems, "is not valid Unicode text (an unpaired surrogate)", "not-text")
            if compiled is not None and not compiled.fullmatch(value):
                why = "is not in the expected form" if personal else (
                    f"{_quote(value)} does not match the pattern {spec.pattern}"
                )
                return wrong(value, path, problems, why, "pattern")
            return value

        return check_string

    if kind == "date":

        def check_date(value: Any, path: str, problems: Problems) -> Any:
            parsed = parse_date(value)
            if parsed is None:
                return wrong(value, path, problems, _bad_date_text(value, spec, personal), "bad-date")
            return parsed

        return check_date

    if kind == "datetime":

        def check_datetime(value: Any, path: str, problems: Problems) -> Any:
            parsed = parse_datetime(value)
            if parsed is None:
                return wrong(value, path, problems, _bad_date_text(value, spec, personal), "bad-date")
            return parsed

        return check_datetime

    if kind == "nhs_number":

        def check_nhs(value: Any, path: str, problems: Problems) -> Any:
            if not isinstance(value, str | int) or isinstance(value, bool):
                return wrong(value, path, problems)
            if isinstance(value, int) and not 0 <= value < 10**10:
                return wrong(value, path, problems, "must be 10 digits (spaces allowed as 3-3-4)", "bad-nhs-number")
            digits = nhs_number_digits(str(value))
            if digits is None:
                return wrong(value, path, problems, "must be 10 digits (spaces allowed as 3-3-4)", "bad-nhs-number")
            if not nhs_check_digit_holds(digits):
                return wrong(value, path, problems, "fails the NHS number check digit", "check-digit")
            return digits

        return check_nhs

    if kind == "ods_code":

        def check_ods(value: Any, path: str, problems: Problems) -> Any:
            if not isinstance(value, str):
                return wrong(value, path, problems)
            code = ods_code_of(value)
            if code is None:
                return wrong(value, path, problems, f"{quoted(value)}is not {describe_type(spec)}", "bad-code")
            return code

        return check_ods

    if kind == "list":
        field_checks = tuple(
            (name, checker_for(sub, personal=personal), sub.type, frozenset(sub.values))
            for name, sub in spec.fields.items()
        )
        names = frozenset(spec.fields)
        field_count = len(names)
        limit_items = spec.max_items
        fast_record = _fast_record_parser(spec)

        def check_list(value: Any, path: str, problems: Problems) -> Any:
            if not isinstance(value, list | tuple):
                return wrong(value, path, problems)
            if len(value) > limit_items:
                return wrong(value, path, problems, f"more than {limit_items} items")
            found: Problems = []
            records: list[dict[str, Any]] = []
            for index, item in enumerate(value):
                if item.__class__ is dict and len(item) == field_count and names.issuperset(item):
                    quick = fast_record(item)
                    if quick is not None:
                        records.append(quick)
                        continue
                if item.__class__ is not dict and not isinstance(item, Mapping):
                    found.append(FactProblem(f"{path}[{index}]", f"expected a record, got {_kind(item)}", None, "wrong-type"))
                    continue
                if not names.issuperset(item):
                    for key in item:
                        if key not in names:
                            hint = closest(str(key), sorted(names))
                            found.append(FactProblem(f"{path}[{index}].{printable(str(key))}", "unknown field", hint, "unknown-field"))
                record: dict[str, Any] = {}
                for name, check, kind, allowed in field_checks:
                    raw = item.get(name)
                    if raw is None:
                        found.append(FactProblem(f"{path}[{index}].{name}", "is required", None, "required"))
                        continue
                    if kind == "enum" and raw.__class__ is str and raw in allowed:
                        record[name] = raw
                        continue
                    mark = len(found)
                    record[name] = check(raw, name, found)
                    if len(found) > mark:
                        bad = found[mark]
                        found[mark] = FactProblem(f"{path}[{index}].{name}", bad.message, bad.suggestion, bad.code)
                records.append(record)
            if found:
                problems.extend(found)
                return _BAD
            return tuple(records)

        return check_list

    raise ValueError(f"unknown fact type {kind!r}")


def _fast_record_parser(spec: FieldSpec) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """A quick path for well-formed records: the parsed record, or None to take the slow,
    fully diagnosed path (which then says exactly what is wrong)."""
    plan: list[tuple[str, str, frozenset[str]]] = [
        (name, sub.type, frozenset(sub.values)) for name, sub in spec.fields.items()
    ]
    if any(kind not in ("enum", "datetime", "bool") for _, kind, _ in plan):
        return lambda item: None
    def parse(item: dict[str, Any]) -> dict[str, Any] | None:
        record: dict[str, Any] = {}
        for name, kind, allowed in plan:
            raw = item[name]
            if kind == "enum":
                if raw.__class__ is not str or raw not in allowed:
                    return None
                record[name] = raw
            elif kind == "datetime":
                moment = read_datetime(raw)
                if moment is None:
                    return None
                record[name] = moment
            elif raw is True or raw is False:
                record[name] = raw
            else:
                return None
        return record

    return parse


def _quote(value: Any) -> str:
    """A non-personal value for a message: printable, and cut short when long."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return "a very large number"
    text = printable(value if isinstance(value, str) else repr(value))
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"'{text}'"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _bad_date_text(value: Any, spec: FieldSpec, personal: bool) -> str:
    if isinstance(value, str) and not personal:
        return f"{_quote(value)} is not {describe_type(spec)}"
    return f"expected {describe_type(spec)}, got {'a value' if personal else _kind(value)}"


def is_bad(value: Any) -> bool:
    """Whether a checker rejected the value (it has already said why)."""
    return value is _BAD


_FAST_BOOL, _FAST_ENUM, _SLOW = 1, 2, 0


def fact_table(facts: Mapping[str, FactSpec], checkers: Mapping[str, Checker]) -> dict[str, tuple[Checker, bool, int, frozenset[str]]]:
    """Per fact: (checker, personal, fast-path kind, enum values), built once per policy.

    Booleans and enum values are checked inline in ``check_facts`` (the common case); anything
    else, and every failure, goes through the fact's checker so messages stay in one place.
    """
    table: dict[str, tuple[Checker, bool, int, frozenset[str]]] = {}
    for name, spec in facts.items():
        kind = spec.spec.type
        fast = _FAST_BOOL if kind == "bool" else _FAST_ENUM if kind == "enum" else _SLOW
        table[name] = (checkers[name], spec.personal, fast, frozenset(spec.spec.values))
    return table


def ods_code_of(text: str) -> str | None:
    """An ODS organisation code as the register keys it (trimmed, upper case), or None when the
    text is not of the code's shape (3 to 10 letters and digits)."""
    code = text.strip().upper()
    if len(code) > 10 or not _ODS.fullmatch(code):
        return None
    return code


_NHS_SHAPE = re.compile(r"[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}")


def nhs_number_digits(text: str) -> str | None:
    """The ten digits of text shaped as an NHS number (3-3-4, single spaces or dashes between
    the groups allowed), or None. The one reader of NHS numbers (facts and the decision log's
    subject keys)."""
    if len(text) > 12 or not _NHS_SHAPE.fullmatch(text):
        return None
    return text.replace(" ", "").replace("-", "")


def nhs_check_digit_holds(digits: str) -> bool:
    """Whether ten ASCII digits pass the NHS number's modulus-11 check: python-stdnum's
    checksum (its ``is_valid`` is this after re-reading the shape, which the caller has done)."""
    return bool(stdnum_nhs.checksum(digits) == 0)


def check_facts(
    facts: Mapping[str, FactSpec],
    table: Mapping[str, tuple[Checker, bool, int, frozenset[str]]],
    given: Mapping[str, Any],
    problems: Problems,
) -> tuple[dict[str, Any], list[str]]:
    """Check every given fact; return (values of the non-personal facts, personal names given).

    Unknown names are problems with a did-you-mean; ``None`` means "not known" and is left out.
    """
    values: dict[str, Any] = {}
    personal_given: list[str] = []
    for name, raw in given.items():
        entry = table.get(name) if isinstance(name, str) else None
        if entry is None:
            if not isinstance(name, str):
                problems.append(FactProblem(printable(repr(name))[:60], "fact names must be text", None, "bad-name"))
            else:
                problems.append(FactProblem(printable(name)[:120], "unknown fact", closest(name, facts), "unknown-fact"))
            continue
        if raw is None:
            continue
        checker, personal, fast, allowed = entry
        if fast == _FAST_BOOL and (raw is True or raw is False):
            values[name] = raw
            continue
        if fast == _FAST_ENUM and raw.__class__ is str and raw in allowed:
            values[name] = raw
            continue
        parsed = checker(raw, name, problems)
        if parsed is _BAD:
            continue
        if personal:
            personal_given.append(name)
        else:
            values[name] = parsed
    return values, personal_given
