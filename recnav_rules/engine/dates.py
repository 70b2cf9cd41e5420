"""Date arithmetic the policies rest on: whole-year ages and calendar-month windows."""

from __future__ import annotations

import calendar
import datetime as dt

__all__ = ["age_in_years", "months_after", "months_before"]


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
