"""Working days across weekends and bank holidays, in more than one year."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recnav_rules.engine.calendar import WorkingDayCalendar, calendar_for

ENGLAND = calendar_for("GB", "ENG")
D = dt.date


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (D(2021, 12, 24), True),
        (D(2021, 12, 25), False),  # Saturday
        (D(2021, 12, 27), False),  # Christmas Day (substitute)
        (D(2021, 12, 28), False),  # Boxing Day (substitute)
        (D(2021, 12, 29), True),
        (D(2022, 12, 26), False),  # Boxing Day, Monday
        (D(2022, 12, 27), False),  # Christmas Day (substitute), Tuesday
        (D(2026, 12, 25), False),
        (D(2026, 12, 28), False),  # Boxing Day (substitute) for Saturday 26th
        (D(2026, 4, 3), False),  # Good Friday 2026
        (D(2026, 4, 6), False),  # Easter Monday 2026
        (D(2026, 4, 7), True),
        (D(2027, 3, 26), False),  # Good Friday 2027
        (D(2027, 3, 29), False),  # Easter Monday 2027
        (D(2026, 5, 4), False),  # Early May bank holiday
        (D(2026, 5, 25), False),  # Spring bank holiday
        (D(2026, 8, 31), False),  # Summer bank holiday
        (D(2026, 11, 21), False),  # Saturday
        (D(2026, 11, 23), True),
    ],
)
def test_working_days_in_england(day: dt.date, working: bool) -> None:
    assert ENGLAND.is_working_day(day) is working


@pytest.mark.parametrize(
    ("start", "count", "due"),
    [
        (D(2026, 11, 23), 7, D(2026, 12, 2)),  # Monday
        (D(2026, 11, 20), 7, D(2026, 12, 1)),  # Friday
        (D(2026, 11, 21), 7, D(2026, 12, 2)),  # Saturday counts from Monday
        (D(2026, 11, 22), 7, D(2026, 12, 2)),  # Sunday too
        (D(2026, 12, 22), 7, D(2027, 1, 5)),  # over Christmas, the substitute and New Year
        (D(2026, 12, 25), 2, D(2026, 12, 31)),  # a bank-holiday referral counts from the 29th
        (D(2026, 4, 2), 1, D(2026, 4, 7)),  # Maundy Thursday + 1 skips Easter
        (D(2027, 3, 25), 2, D(2027, 3, 31)),
        (D(2026, 11, 23), 0, D(2026, 11, 23)),
        (D(2026, 11, 21), 0, D(2026, 11, 23)),
        (D(2026, 11, 20), 2, D(2026, 11, 24)),  # waiting-list first contact, over a weekend
    ],
)
def test_add_working_days(start: dt.date, count: int, due: dt.date) -> None:
    assert ENGLAND.add_working_days(start, count) == due


def test_holiday_names_and_describe() -> None:
    assert ENGLAND.holiday_name(D(2026, 12, 28)) == "Boxing Day (observed)"
    assert ENGLAND.holiday_name(D(2026, 12, 29)) is None
    assert ENGLAND.describe().startswith("GB-ENG public holidays (holidays ")


def test_scotland_has_its_own_calendar() -> None:
    scotland = calendar_for("GB", "SCT")
    assert not scotland.is_working_day(D(2026, 1, 2))
    assert ENGLAND.is_working_day(D(2026, 1, 2))
    assert not scotland.is_working_day(D(2026, 11, 30))  # St Andrew's Day
    assert ENGLAND.add_working_days(D(2026, 1, 1), 1) == D(2026, 1, 5)
    assert scotland.add_working_days(D(2026, 1, 1), 1) == D(2026, 1, 6)


def test_bad_calendars_are_refused_with_a_suggestion() -> None:
    with pytest.raises(ValueError, match="did you mean 'ENG'"):
        WorkingDayCalendar("GB", "EN")
    with pytest.raises(ValueError, match="unknown holiday calendar country 'XX'"):
        WorkingDayCalendar("XX", None)
    with pytest.raises(ValueError, match="count must be 0 or more"):
        ENGLAND.add_working_days(D(2026, 1, 1), -1)


def test_working_days_between() -> None:
    assert ENGLAND.working_days_between(D(2026, 11, 20), D(2026, 12, 1)) == 7
    assert ENGLAND.working_days_between(D(2026, 12, 1), D(2026, 11, 20)) == 0


days = st.dates(min_value=D(2000, 1, 1), max_value=D(2060, 12, 31))


@settings(max_examples=300, deadline=None)
@given(days, st.integers(0, 40), st.integers(0, 40))
def test_working_day_arithmetic_properties(start: dt.date, first: int, second: int) -> None:
    due = ENGLAND.add_working_days(start, first)
    assert ENGLAND.is_working_day(due)
    assert due >= start
    assert ENGLAND.add_working_days(start, first + 1) > due
    assert ENGLAND.add_working_days(due, second) == ENGLAND.add_working_days(start, first + second)
    assert ENGLAND.working_days_between(ENGLAND.next_working_day_on_or_after(start), due) == first


def test_a_fresh_calendar_is_safe_to_fill_from_many_threads() -> None:
    fresh = WorkingDayCalendar("GB", "ENG")
    reference = WorkingDayCalendar("GB", "ENG")
    starts = [D(1990 + y, m, 1) for y in range(60) for m in (1, 4, 12)]
    expected = [reference.add_working_days(s, 10) for s in starts]
    results: dict[int, list[dt.date]] = {}

    def work(n: int) -> None:
        results[n] = [fresh.add_working_days(s, 10) for s in starts]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(found == expected for found in results.values())
