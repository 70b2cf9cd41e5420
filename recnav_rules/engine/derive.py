"""Derived values, computed from the compiled (pure data) form of a policy.

A ``Derived`` node in the intermediate form says *what* to compute — an age in whole years, a
count of events in a calendar window, a reference-table look-up — with its parameters. This
module turns one into the function a program calls: ``compute(values, problems, notes)``
returns the value, or None when it is unknown, and adds a problem for facts that contradict
each other. Built once per program, never per evaluation.

Every date the computation makes is checked against the range ``datetime.date`` can hold: a
window that would start before year 1, or a zoned time that would leave year 9999 when read in
Europe/London, is a bad fact, never an ``OverflowError``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from recnav_rules.engine import conditions
from recnav_rules.engine.dates import age_in_years, months_before
from recnav_rules.engine.model import Derived, Env
from recnav_rules.errors import FactProblem

__all__ = ["Compute", "build_derived", "local_date", "window_start"]

_LONDON = ZoneInfo("Europe/London")

_UNREADABLE: Any = ()
"""Marks events whose dates could not be read (a distinct empty tuple: never a real list)."""

Compute = Callable[[Env, list[FactProblem], list[str]], Any]


def local_date(moment: dt.datetime) -> dt.date | None:
    """The calendar date of a call: UK local time for zoned times, as written for naive ones.

    None when the zoned time cannot be read in Europe/London (it would fall outside years
    1 to 9999).
    """
    if moment.tzinfo is None:
        return moment.date()
    try:
        return moment.astimezone(_LONDON).date()
    except (OverflowError, ValueError):
        return None


@functools.lru_cache(maxsize=8192)  # a caseload's referral dates are few: each window is worked out once
def window_start(end: dt.date, months: int, days: int) -> dt.date:
    """The first day of a window ending on ``end``: ``months`` calendar months (clamped to the
    month's end) or ``days`` days before it; ``date.min`` when that is before year 1."""
    try:
        return months_before(end, months) if months else end - dt.timedelta(days=days)
    except (OverflowError, ValueError):
        return dt.date.min


def build_derived(derived: Derived, reference: Mapping[str, Any]) -> Compute:
    """The function computing one derived value (with its ``alternative`` fact, if any)."""
    if derived.kind == "age_in_years":
        compute = _age(derived)
    elif derived.kind == "count_events":
        compute = _count(derived)
    elif derived.kind == "lookup":
        compute = _lookup(derived, reference)
    else:  # the compiler only makes the three kinds above
        raise ValueError(f"unknown derived kind {derived.kind!r}")
    return _with_alternative(derived, compute)


def _age(derived: Derived) -> Compute:
    birth, on = derived.inputs
    lowest, highest = derived.bounds

    def compute(env: Env, problems: list[FactProblem], notes: list[str]) -> Any:
        born, day = env.get(birth), env.get(on)
        if born is None or day is None:
            return None
        if born > day:
            problems.append(FactProblem(birth, f"is after {on} ({day.isoformat()})"))
            return None
        years = age_in_years(born, day)
        if (lowest is not None and years < lowest) or (highest is not None and years > highest):
            problems.append(FactProblem(birth, f"gives {derived.name} outside the range the policy allows"))
            return None
        return years

    return compute


def _count(derived: Derived) -> Compute:
    params = derived.params
    events, ending = derived.inputs
    date_field = params["date_field"]
    window = params["window"]
    months: int | None = window.get("calendar_months")
    days: int = window.get("days") or 0
    matches = conditions.build_filter(derived.filter_node) if derived.filter_node is not None else None
    memo = ("events", events, date_field, derived.filter_key)

    def qualifying_days(env: Env, problems: list[FactProblem]) -> list[dt.date] | None:
        """The local dates of the events that pass the filter, worked out once per evaluation."""
        found: list[dt.date] | None = env.get(memo)
        if found is _UNREADABLE:  # already reported by another window over the same events
            return None
        if found is None:
            found = []
            for index, record in enumerate(env[events]):
                if matches is None or matches(record):
                    moment = record[date_field]
                    day = local_date(moment) if isinstance(moment, dt.datetime) else moment
                    if day is None:
                        problems.append(
                            FactProblem(f"{events}[{index}].{date_field}", "is outside the dates that can be handled", None, "out-of-range")
                        )
                        env[memo] = _UNREADABLE
                        return None
                    found.append(day)
            env[memo] = found
        return found

    def compute(env: Env, problems: list[FactProblem], notes: list[str]) -> Any:
        end = env.get(ending)
        if env.get(events) is None or end is None:
            return None
        start = window_start(end, months or 0, days)
        found = qualifying_days(env, problems)
        if found is None:
            return None
        return sum(1 for day in found if start <= day <= end)

    return compute


def _lookup(derived: Derived, reference: Mapping[str, Any]) -> Compute:
    params = derived.params
    table, field_name = params["table"], params["field"]
    (key,) = derived.inputs
    register = reference[table]
    label = f"{register.name} (as of {register.as_of.isoformat()})"

    def compute(env: Env, problems: list[FactProblem], notes: list[str]) -> Any:
        code = env.get(key)
        if code is None:
            return None
        practice = register.lookup(code)
        note = None
        if practice is None:
            note = f"{key} '{code}' is not in the register {label}"
        elif field_name != "status" and practice.status != "active":
            note = (
                f"{key} '{code}' ({practice.name}) is {practice.status} in the register {label}, "
                "so it does not show a current registration"
            )
        if note is not None:
            if note not in notes:
                notes.append(note)
            return None
        return getattr(practice, field_name)

    return compute


def _with_alternative(derived: Derived, compute: Compute) -> Compute:
    """Wrap a derivation so that a directly given alternative fills in, or must agree."""
    alternative = derived.alternative
    if alternative is None:
        return compute
    name, inputs = derived.name, derived.inputs

    def derive(env: Env, problems: list[FactProblem], notes: list[str]) -> Any:
        value = compute(env, problems, notes)
        given = env.get(alternative)
        if value is None:
            return given
        if given is not None and given != value:
            sources = " and ".join(inputs)
            problems.append(
                FactProblem(alternative, f"{given!r} disagrees with {name} = {value!r} worked out from {sources}")
            )
            return None
        return value

    return derive
