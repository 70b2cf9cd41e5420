"""Working days: weekends and public holidays, from the ``holidays`` package.

England and Wales share their bank holidays (``GB`` / ``ENG``), including substitute days such
as "Boxing Day (observed)". A policy names its calendar, so a policy for Scotland (``SCT``) or
Northern Ireland (``NIR``) counts its own holidays.

Counting rule, used for every deadline: if the start date is not a working day, counting starts
from the next working day, which is day 0 (``DAY_0``); the result is the n-th working day after
that. So a Saturday referral counts from Monday, and "7 working days after Monday 23 November
2026" is Wednesday 2 December. The sources are silent on weekend referrals and both conventions
are in use in UK public services, so a policy can declare the other one (``DAY_1``: the next
working day is day 1, as if the referral had been received on the last working day before it);
see docs/policy-language.md.

``holidays`` objects fill in years lazily as they are asked about (a mutation), so each year's
dates are copied once into a frozenset under a lock; lookups after that only read.
"""

from __future__ import annotations

import datetime as dt
import threading
from functools import cache

import holidays

from recnav_rules.errors import closest

__all__ = ["CONVENTIONS", "DAY_0", "DAY_1", "WorkingDayCalendar", "calendar_for", "describe_convention"]

DAY_0 = "day_0"
DAY_1 = "day_1"
CONVENTIONS = (DAY_0, DAY_1)


def describe_convention(convention: str) -> str:
    """The convention in one sentence, for explanations and policy documents."""
    if convention == DAY_1:
        return (
            "A referral received on a weekend or public holiday counts as received on the working day"
            " before, so the next working day is day 1."
        )
    return "A referral received on a weekend or public holiday counts from the next working day, which is day 0."

_ONE_DAY = dt.timedelta(days=1)


class WorkingDayCalendar:
    """Working days for one country (and subdivision). Thread-safe; share one per calendar."""

    __slots__ = ("_due", "_lock", "_names", "_years", "country", "subdivision")

    def __init__(self, country: str = "GB", subdivision: str | None = "ENG") -> None:
        supported = holidays.list_supported_countries()
        if country not in supported:
            hint = closest(country, supported)
            extra = f" (did you mean '{hint}'?)" if hint else ""
            raise ValueError(f"unknown holiday calendar country '{country}'{extra}")
        subdivisions = supported[country]
        if subdivision is not None and subdivision not in subdivisions:
            hint = closest(subdivision, subdivisions)
            extra = f" (did you mean '{hint}'?)" if hint else f" (one of: {', '.join(subdivisions)})"
            raise ValueError(f"unknown subdivision '{subdivision}' of '{country}'{extra}")
        self.country = country
        self.subdivision = subdivision
        self._lock = threading.Lock()
        self._years: dict[int, frozenset[dt.date]] = {}
        self._names: dict[dt.date, str] = {}
        self._due: dict[tuple[dt.date, int], dt.date] = {}

    def _holidays(self, year: int) -> frozenset[dt.date]:
        found = self._years.get(year)
        if found is None:
            with self._lock:
                found = self._years.get(year)
                if found is None:
                    table = holidays.country_holidays(self.country, subdiv=self.subdivision, years=year)
                    self._names.update(table.items())
                    found = frozenset(table)
                    self._years[year] = found
        return found

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() < 5 and day not in self._holidays(day.year)

    def holiday_name(self, day: dt.date) -> str | None:
        """The public holiday's name, or None when ``day`` is not one."""
        if day in self._holidays(day.year):
            return self._names.get(day)
        return None

    def next_working_day_on_or_after(self, day: dt.date) -> dt.date:
        while not self.is_working_day(day):
            day += _ONE_DAY
        return day

    def add_working_days(self, start: dt.date, count: int, convention: str = DAY_0) -> dt.date:
        """The ``count``-th working day after ``start`` (see the module's counting rule)."""
        if count < 0:
            raise ValueError("count must be 0 or more")
        if convention not in CONVENTIONS:
            raise ValueError(f"unknown convention {convention!r}: use {DAY_0!r} or {DAY_1!r}")
        if convention == DAY_1 and count > 0 and not self.is_working_day(start):
            count -= 1  # the next working day is already day 1
        key = (start, count)
        found = self._due.get(key)
        if found is not None:
            return found
        due = self._count(start, count)
        if len(self._due) >= 65_536:  # bounded: referrals cluster on recent dates
            self._due.clear()
        self._due[key] = due
        return due

    def _count(self, start: dt.date, count: int) -> dt.date:
        day = self.next_working_day_on_or_after(start)
        while count:
            day += _ONE_DAY
            if self.is_working_day(day):
                count -= 1
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 when end <= start)."""
        count, day = 0, start
        while day < end:
            day += _ONE_DAY
            if self.is_working_day(day):
                count += 1
        return count

    def describe(self) -> str:
        where = f"{self.country}-{self.subdivision}" if self.subdivision else self.country
        version = getattr(holidays, "__version__", "?")
        return f"{where} public holidays (holidays {version}), weekends excluded"

    def __repr__(self) -> str:
        return f"WorkingDayCalendar({self.country!r}, {self.subdivision!r})"


@cache
def calendar_for(country: str, subdivision: str | None) -> WorkingDayCalendar:
    """One shared calendar per (country, subdivision)."""
    return WorkingDayCalendar(country, subdivision)
