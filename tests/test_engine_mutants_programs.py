"""The generated programs' parts at their edges: derived values (ages, event counts, look-ups).

Written from mutmut's survivors (docs/testing.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from recnav_rules.engine.derive import build_derived, local_date, window_start
from recnav_rules.engine.model import Derived, Leaf
from recnav_rules.errors import FactProblem

D = dt.date
LONDON = ZoneInfo("Europe/London")


def run(derived: Derived, env: dict[Any, Any], reference: dict[str, Any] | None = None) -> tuple[Any, list[str], list[str]]:
    problems: list[FactProblem] = []
    notes: list[str] = []
    value = build_derived(derived, reference or {})(env, problems, notes)
    return value, [f"{p.field}: {p.message}" for p in problems], notes


def age(bounds: tuple[float | None, float | None] = (None, None), alternative: str | None = None) -> Derived:
    return Derived("age", "age_in_years", "integer", "Age.", ("born", "on"), {}, alternative, bounds=bounds)


def test_local_date_reads_zoned_times_in_london_and_naive_ones_as_written() -> None:
    assert local_date(dt.datetime(2026, 6, 30, 23, 30, tzinfo=dt.UTC)) == D(2026, 7, 1)  # BST
    assert local_date(dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)) == D(2026, 12, 31)  # GMT
    assert local_date(dt.datetime(2026, 6, 30, 23, 30)) == D(2026, 6, 30)
    assert local_date(dt.datetime(9999, 12, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))) is None


@pytest.mark.parametrize(
    ("end", "months", "days", "start"),
    [
        (D(2026, 3, 31), 1, 0, D(2026, 2, 28)),
        (D(2026, 3, 31), 0, 30, D(2026, 3, 1)),
        (D(2026, 3, 31), 12, 5, D(2025, 3, 31)),  # months win over days
        (D(1, 1, 31), 1, 0, D.min),
        (D(1, 1, 5), 0, 10, D.min),
    ],
)
def test_window_start(end: dt.date, months: int, days: int, start: dt.date) -> None:
    assert window_start(end, months, days) == start


def test_an_age_is_unknown_until_both_dates_are_known_and_bounded_by_the_alternative() -> None:
    assert run(age(), {"born": D(2000, 6, 15)}) == (None, [], [])
    assert run(age(), {"on": D(2000, 6, 15)}) == (None, [], [])
    assert run(age(), {"born": D(2000, 6, 15), "on": D(2018, 6, 15)}) == (18, [], [])
    assert run(age(), {"born": D(2000, 6, 15), "on": D(2000, 6, 15)}) == (0, [], [])
    assert run(age(), {"born": D(2000, 6, 16), "on": D(2000, 6, 15)}) == (None, ["born: is after on (2000-06-15)"], [])
    bounded = age((0, 120))
    assert run(bounded, {"born": D(1900, 1, 1), "on": D(2020, 1, 1)}) == (120, [], [])
    assert run(bounded, {"born": D(1900, 1, 1), "on": D(2021, 1, 1)}) == (
        None,
        ["born: gives age outside the range the policy allows"],
        [],
    )
    low = age((18, None))
    assert run(low, {"born": D(2000, 1, 1), "on": D(2018, 1, 1)}) == (18, [], [])
    assert run(low, {"born": D(2000, 1, 2), "on": D(2018, 1, 1)})[0] is None


def test_an_alternative_fills_in_or_must_agree() -> None:
    derived = age(alternative="age_given")
    assert run(derived, {"age_given": 40}) == (40, [], [])
    assert run(derived, {}) == (None, [], [])
    both = {"born": D(2000, 6, 15), "on": D(2018, 6, 15)}
    assert run(derived, {**both, "age_given": 18}) == (18, [], [])
    assert run(derived, {**both, "age_given": 17}) == (
        None,
        ["age_given: 17 disagrees with age = 18 worked out from born and on"],
        [],
    )


def count(window: dict[str, int], where: Leaf | None = None) -> Derived:
    params = {"events": "calls", "date_field": "at", "window": window, "ending": "referred"}
    return Derived("n", "count_events", "integer", "Calls.", ("calls", "referred"), params, filter_node=where, filter_key=str(where))


def test_events_are_counted_inside_the_window_ends_included() -> None:
    calls = [{"at": D(2026, 2, 28), "kind": "a"}, {"at": D(2026, 3, 1), "kind": "b"}, {"at": D(2026, 3, 31), "kind": "a"}, {"at": D(2026, 4, 1), "kind": "a"}]
    env = {"calls": calls, "referred": D(2026, 3, 31)}
    assert run(count({"calendar_months": 1}), dict(env))[0] == 3  # 28 Feb to 31 Mar
    assert run(count({"days": 30}), dict(env))[0] == 2  # 1 Mar to 31 Mar
    assert run(count({"days": 30}, Leaf("kind", "eq", "a")), dict(env))[0] == 1
    assert run(count({"days": 30}), {"referred": D(2026, 3, 31)})[0] is None
    assert run(count({"days": 30}), {"calls": calls})[0] is None


def test_zoned_event_times_count_on_their_london_date_and_unreadable_ones_are_bad_facts() -> None:
    late = dt.datetime(2026, 3, 31, 23, 30, tzinfo=dt.UTC)  # 1 April in London (BST)
    env = {"calls": [{"at": late}], "referred": D(2026, 3, 31)}
    assert run(count({"days": 30}), env)[0] == 0
    far = dt.datetime(9999, 12, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    env = {"calls": [{"at": D(2026, 3, 30)}, {"at": far}], "referred": D(2026, 3, 31)}
    value, found, _ = run(count({"days": 30}), env)
    assert value is None and found == ["calls[1].at: is outside the dates that can be handled"]


def test_an_unknown_derived_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown derived kind 'median'"):
        build_derived(Derived("m", "median", "integer", "M.", (), {}), {})
