"""Cron schedules: when a CronJob fires (the standard 5-field syntax Kubernetes accepts).

>>> schedule = parse_schedule("*/15 9-17 * * mon-fri", "Europe/Berlin")
>>> schedule.next_after(now)          # the first firing strictly after ``now`` (epoch seconds)
>>> schedule.latest_between(a, b)     # the last firing in ``(a, b]``, or None

Fields are minute, hour, day of month, month, day of week, with ``*``, ``?``, lists, ranges,
steps (``a/s`` runs from ``a`` to the field's end) and month / weekday names; the descriptors
``@yearly`` ``@annually`` ``@monthly`` ``@weekly`` ``@daily`` ``@midnight`` ``@hourly`` and
``@every <duration>``. As in the parser Kubernetes uses, when day of month and day of week are
both restricted a day matches either; otherwise it must match both. Times are walked in the
schedule's time zone (the local one when none is given, as Kubernetes), so firings follow local wall-clock time across DST changes (a wall time
skipped by the clock does not fire).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from orchestra.api.duration import parse_go_duration
from orchestra.api.validation import validate_cron_schedule

__all__ = ["Schedule", "CronSchedule", "EverySchedule", "ScheduleError", "parse_schedule", "DESCRIPTORS"]

#: What each ``@descriptor`` stands for.
DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELDS = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}),
    (0, 6, {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}),
)
#: How far a search for the next or previous firing looks before giving up (a Feb 30 never comes).
_SEARCH_YEARS = 5


class ScheduleError(ValueError):
    """A CronJob's ``schedule`` or ``timeZone`` cannot be used."""


class Schedule(Protocol):
    """When something fires, as epoch seconds."""

    def next_after(self, when: float) -> float | None:
        """The first firing strictly after ``when`` (None if there is none within years)."""

    def latest_between(self, start: float, end: float) -> float | None:
        """The last firing in ``(start, end]``, or None."""


def _field(text: str, low: int, high: int, names: dict[str, int]) -> tuple[frozenset[int], bool]:
    """The values a field allows, and whether it is unrestricted (``*`` or ``?`` without step)."""
    values: set[int] = set()
    star = False
    for part in text.split(","):
        range_text, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if range_text in ("*", "?"):
            start, end = low, high
            star = star or step == 1
        else:
            start_text, dash, end_text = range_text.partition("-")
            start = names.get(start_text.lower(), None) if not start_text.isdigit() else int(start_text)
            end = (names.get(end_text.lower()) if not end_text.isdigit() else int(end_text)) if dash else (
                high if step_text else start)
            if start is None or end is None:
                raise ScheduleError(f"cannot parse cron field {text!r}")
        values.update(range(start, end + 1, step))
    return frozenset(values), star


@attrs.frozen
class CronSchedule:
    """A 5-field cron expression in a time zone."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_star: bool
    weekdays_star: bool
    #: None: the controller's local time, as Kubernetes when ``timeZone`` is unset.
    zone: dt.tzinfo | None

    def _day_matches(self, day: dt.datetime) -> bool:
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.days_star or self.weekdays_star:
            return dom and dow
        return dom or dow

    def _local(self, when: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(when, self.zone).replace(tzinfo=None, second=0, microsecond=0)

    def _fires_at(self, local: dt.datetime) -> float | None:
        """Epoch seconds of a matching wall time, or None when the clock skipped that wall time."""
        stamp = local.replace(tzinfo=self.zone).timestamp()  # a naive time is read as local time
        back = dt.datetime.fromtimestamp(stamp, self.zone).replace(tzinfo=None)
        return stamp if back == local else None

    def next_after(self, when: float) -> float | None:
        """The first firing strictly after ``when``."""
        t = self._local(when) + dt.timedelta(minutes=1)
        limit = t.year + _SEARCH_YEARS
        while t.year <= limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + dt.timedelta(days=32)).replace(day=1)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + dt.timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + dt.timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += dt.timedelta(minutes=1)
            else:
                fires = self._fires_at(t)
                if fires is not None and fires > when:
                    return fires
                t += dt.timedelta(minutes=1)
        return None

    def previous_at_or_before(self, when: float) -> float | None:
        """The last firing at or before ``when``."""
        t = self._local(when)
        limit = t.year - _SEARCH_YEARS
        while t.year >= limit:
            if t.month not in self.months:
                t = t.replace(day=1, hour=23, minute=59) - dt.timedelta(days=1)
            elif not self._day_matches(t):
                t = t.replace(hour=23, minute=59) - dt.timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=59) - dt.timedelta(hours=1)
            elif t.minute not in self.minutes:
                t -= dt.timedelta(minutes=1)
            else:
                fires = self._fires_at(t)
                if fires is not None and fires <= when:
                    return fires
                t -= dt.timedelta(minutes=1)
        return None

    def latest_between(self, start: float, end: float) -> float | None:
        """The last firing in ``(start, end]``."""
        latest = self.previous_at_or_before(end)
        return latest if latest is not None and latest > start else None


@attrs.frozen
class EverySchedule:
    """``@every <duration>``: firings ``interval`` seconds apart, counted from a starting point."""

    interval: float

    def next_after(self, when: float) -> float | None:
        """``when`` (whole seconds) plus the interval."""
        return math.floor(when) + self.interval

    def latest_between(self, start: float, end: float) -> float | None:
        """The last of ``start + k·interval`` (k ≥ 1) not after ``end``."""
        count = math.floor((end - start) / self.interval)
        return start + count * self.interval if count >= 1 else None


def _parse_duration(text: str) -> float:
    try:
        total = parse_go_duration(text)
    except ValueError:
        raise ScheduleError(f"failed to parse duration @every {text}") from None
    return max(float(math.floor(total)), 1.0)


def parse_schedule(schedule: str, time_zone: str | None = None) -> Schedule:
    """The schedule of a CronJob's ``schedule`` and ``timeZone``; ScheduleError when unusable."""
    problem = validate_cron_schedule(schedule)
    if problem is not None:
        raise ScheduleError(f"invalid schedule {schedule!r}: {problem}")
    text = schedule.strip()
    if text.startswith("@every "):
        return EverySchedule(_parse_duration(text[len("@every "):].strip()))
    text = DESCRIPTORS.get(text, text)
    try:
        zone: dt.tzinfo | None = ZoneInfo(time_zone) if time_zone else None
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown time zone {time_zone!r} in spec.timeZone") from exc
    fields = [_field(part, low, high, names) for part, (low, high, names) in zip(text.split(), _FIELDS)]
    return CronSchedule(fields[0][0], fields[1][0], fields[2][0], fields[3][0], fields[4][0],
                        fields[2][1], fields[4][1], zone)
