"""The cron schedule calculator."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra.controllers.cron import CronSchedule, EverySchedule, ScheduleError, parse_schedule


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.timezone.utc).timestamp()


def test_every_fifteen_minutes_on_weekdays_in_office_hours():
    s = parse_schedule("*/15 9-17 * * mon-fri", "UTC")
    assert s.next_after(utc(2026, 1, 2, 17, 50)) == utc(2026, 1, 5, 9, 0)  # Friday evening → Monday 9:00
    assert s.next_after(utc(2026, 1, 5, 9, 0)) == utc(2026, 1, 5, 9, 15)  # strictly after
    assert s.latest_between(utc(2026, 1, 5, 8, 0), utc(2026, 1, 5, 10, 7)) == utc(2026, 1, 5, 10, 0)
    assert s.latest_between(utc(2026, 1, 3), utc(2026, 1, 4, 23, 59)) is None


@pytest.mark.parametrize(("descriptor", "after", "expected"), [
    ("@hourly", utc(2026, 3, 1, 10, 30), utc(2026, 3, 1, 11, 0)),
    ("@daily", utc(2026, 3, 1, 10, 30), utc(2026, 3, 2)),
    ("@midnight", utc(2026, 3, 1, 10, 30), utc(2026, 3, 2)),
    ("@weekly", utc(2026, 3, 4), utc(2026, 3, 8)),  # Sunday
    ("@monthly", utc(2026, 3, 4), utc(2026, 4, 1)),
    ("@yearly", utc(2026, 3, 4), utc(2027, 1, 1)),
    ("@annually", utc(2026, 3, 4), utc(2027, 1, 1)),
])
def test_descriptors(descriptor, after, expected):
    assert parse_schedule(descriptor, "UTC").next_after(after) == expected


def test_day_of_month_or_day_of_week_when_both_restricted():
    s = parse_schedule("0 0 13 * fri", "UTC")
    # 2026-02-06 is a Friday; the 13th of February is a Friday too
    assert s.next_after(utc(2026, 2, 1)) == utc(2026, 2, 6)
    assert s.next_after(utc(2026, 2, 10)) == utc(2026, 2, 13)
    both = parse_schedule("0 0 13 * *", "UTC")
    assert both.next_after(utc(2026, 2, 1)) == utc(2026, 2, 13)


def test_leap_day_and_names_and_lists():
    assert parse_schedule("0 12 29 feb *", "UTC").next_after(utc(2026, 3, 1)) == utc(2028, 2, 29, 12)
    s = parse_schedule("5,35 1-3/2 * jan,jul ?", "UTC")
    assert s.next_after(utc(2026, 1, 1)) == utc(2026, 1, 1, 1, 5)
    assert s.next_after(utc(2026, 1, 1, 1, 35)) == utc(2026, 1, 1, 3, 5)
    assert parse_schedule("30/10 * * * *", "UTC").next_after(utc(2026, 1, 1, 0, 55)) == utc(2026, 1, 1, 1, 30)


def test_time_zones_follow_wall_clock_time_across_dst():
    s = parse_schedule("30 2 * * *", "Europe/Berlin")
    # 2026-03-29: clocks jump from 02:00 to 03:00 in Berlin, so 02:30 does not exist that day
    assert s.next_after(utc(2026, 3, 28, 2)) == utc(2026, 3, 30, 0, 30)
    assert parse_schedule("0 9 * * *", "America/New_York").next_after(utc(2026, 7, 1)) == utc(2026, 7, 1, 13)


def test_every_duration():
    s = parse_schedule("@every 1h30m")
    assert isinstance(s, EverySchedule) and s.interval == 5400
    assert s.next_after(1000.5) == 6400
    assert s.latest_between(0, 11000) == 10800
    assert s.latest_between(0, 5000) is None


@pytest.mark.parametrize(("schedule", "zone"), [("61 * * * *", None), ("* * *", None), ("@often", None),
                                                ("* * * * *", "Mars/Olympus")])
def test_errors_name_the_problem(schedule, zone):
    with pytest.raises(ScheduleError):
        parse_schedule(schedule, zone)


def _brute_next(s: CronSchedule, when: float) -> float:
    t = dt.datetime.fromtimestamp(when, dt.timezone.utc).replace(second=0, microsecond=0)
    while True:
        t += dt.timedelta(minutes=1)
        dom, dow = t.day in s.days, (t.isoweekday() % 7) in s.weekdays
        day = (dom and dow) if (s.days_star or s.weekdays_star) else (dom or dow)
        if t.minute in s.minutes and t.hour in s.hours and t.month in s.months and day:
            return t.timestamp()


@settings(max_examples=40, deadline=None)
@given(minute=st.sampled_from(["*", "*/7", "0", "5-20/5", "59"]), hour=st.sampled_from(["*", "3", "0-5", "*/6"]),
       dom=st.sampled_from(["*", "1", "15-17", "?"]), dow=st.sampled_from(["*", "1-5", "0", "?"]),
       start=st.integers(min_value=int(utc(2025, 1, 1)), max_value=int(utc(2030, 1, 1))))
def test_next_and_latest_agree_with_a_minute_by_minute_scan(minute, hour, dom, dow, start):
    s = parse_schedule(f"{minute} {hour} {dom} * {dow}", "UTC")
    expected = _brute_next(s, start)
    assert s.next_after(start) == expected
    assert s.latest_between(start, expected) == expected
    assert s.latest_between(start, expected - 1) is None
