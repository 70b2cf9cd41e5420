"""Dates: the one reader of every date the library reads, and the arithmetic policies rest on.

``read_date`` and ``read_datetime`` are the only places a date or date-time is parsed from
text — facts, record fields, the as-of date, policy literals and effective dates all go through
them — so "2026W475" or "20261120" is refused everywhere alike: a date is ``YYYY-MM-DD``.
``today_in_london`` is the default as-of date: the decision's calendar is the UK's, whatever
the server's time zone.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["age_in_years", "months_after", "months_before", "odd_offset", "read_date", "read_datetime", "today_in_london"]

_LONDON = ZoneInfo("Europe/London")
_DATE_CLASS = dt.date
_FROM_ISO = dt.date.fromisoformat
_DATETIME_FROM_ISO = dt.datetime.fromisoformat


def read_date(value: Any) -> dt.date | None:
    """A date from a ``date`` (not a ``datetime``) or ``YYYY-MM-DD`` text; None otherwise.

    ``date.fromisoformat`` takes ASCII digits only; with the length and the two hyphens fixed,
    the only text it accepts is ``YYYY-MM-DD`` (no week dates, no basic format).
    """
    if value.__class__ is str:
        if len(value) == 10 and value[4] == "-" and value[7] == "-":
            try:
                return _FROM_ISO(value)
            except ValueError:
                return None
        return None
    if value.__class__ is _DATE_CLASS:
        return value
    return None


def read_datetime(value: Any) -> dt.datetime | None:
    """A date-time from a ``datetime`` or ISO 8601 text whose date is ``YYYY-MM-DD`` followed by
    ``T`` (or a space) and a time of at least hours and minutes, with an optional offset in
    hours and minutes (an offset with seconds is refused)."""
    if value.__class__ is str:
        if 16 <= len(value) <= 40 and value[10] in "T " and value[4] == "-" and value[7] == "-" and value[13] == ":":
            try:
                moment = _DATETIME_FROM_ISO(value)
            except ValueError:
                return None
            if moment.tzinfo is not None and odd_offset(moment):
                return None
            return moment
        return None
    if isinstance(value, dt.datetime):
        return value
    return None


def odd_offset(moment: dt.datetime) -> bool:
    """Whether a zoned time's offset has seconds (``+05:30:15``): Python reads it, ISO 8601 and
    RFC 3339 have no such offset, so the library refuses it."""
    offset = moment.utcoffset()
    return offset is not None and offset.seconds % 60 != 0


def today_in_london() -> dt.date:
    """Today's date in Europe/London: the default as-of date."""
    return dt.datetime.now(_LONDON).date()


def age_in_years(birth: dt.date, on: dt.date) -> int:
    """Completed years of life on ``on``.

    A person born on 29 February turns a year older on 1 March in common years: their
    birthday has not yet come on 28 February, because (2, 28) < (2, 29).
    """
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years


def _shift_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return dt.date(year, month0 + 1, min(day.day, last))


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day of the month ``months`` calendar months earlier, clamped to month end.

    ``months_before(date(2026, 3, 31), 1)`` is 28 February 2026.
    """
    return _shift_months(day, -months)


def months_after(day: dt.date, months: int) -> dt.date:
    """The same day of the month ``months`` calendar months later, clamped to month end."""
    return _shift_months(day, months)
