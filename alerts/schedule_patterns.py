"""Schedule text -> the pattern of local dates and wall times it names (`parse_pattern`).

Forms (case-insensitive, any whitespace)::

    immediate                    every run of the digest job
    hourly                       minute 0 of every hour
    daily HH:MM                  e.g. ``daily 07:00``
    weekly <mon..sun> HH:MM      e.g. ``weekly mon 07:00`` (full day names work too)
    cron "m h dom mon dow"       standard 5-field crontab; the quotes are optional

A pattern knows nothing of time zones or instants: `alerts.schedules` turns it into slots on a
subscriber's wall clock. Bad text raises `ScheduleError` naming the forms.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

__all__ = ["SCHEDULE_FORMS", "ScheduleError", "ScheduleKind", "SchedulePattern", "parse_pattern"]

ScheduleKind = Literal["immediate", "hourly", "daily", "weekly", "cron"]

SCHEDULE_FORMS = 'immediate | hourly | daily HH:MM | weekly mon HH:MM | cron "m h dom mon dow"'

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTH_NAMES = (
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
)  # fmt: skip
# cron numbers the week from Sunday: 0 (and 7) = sun, 1 = mon ... 6 = sat.
_CRON_DOW_NAMES = {name: (i + 1) % 7 for i, name in enumerate(_DAY_NAMES)}
_CRON_MONTH_NAMES = {name: i + 1 for i, name in enumerate(_MONTH_NAMES)}

_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_CRON_ITEM = re.compile(r"^(?:(\*)|([a-z0-9]+)(?:-([a-z0-9]+))?)(?:/(\d+))?$")


class ScheduleError(ValueError):
    """A schedule or time zone that cannot be understood."""


@dataclass(frozen=True)
class SchedulePattern:
    """The compiled pattern: which local dates and wall times are slots."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # date.weekday(): 0 = Monday
    dom_restricted: bool
    dow_restricted: bool

    @property
    def follows_clock(self) -> bool:
        """Every hour is in the pattern: fire whenever the real clock shows a matching time."""
        return len(self.hours) == 24

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days_of_month
        dow = day.weekday() in self.weekdays
        if self.dom_restricted and self.dow_restricted:  # cron: either field may match
            return dom or dow
        return dom and dow

    def can_fire(self) -> bool:
        """False for patterns no calendar date matches, such as ``0 0 30 2 *``."""
        if self.dom_restricted and self.dow_restricted:
            return True  # every month has every weekday
        return any(
            d <= calendar.monthrange(2000, m)[1] for m in self.months for d in self.days_of_month
        )


_ALL_MINUTES = tuple(range(60))
_ALL_HOURS = tuple(range(24))
_ALL_DOM = frozenset(range(1, 32))
_ALL_MONTHS = frozenset(range(1, 13))
_ALL_WEEKDAYS = frozenset(range(7))


def _bad(text: str, why: str = "") -> ScheduleError:
    detail = f" ({why})" if why else ""
    return ScheduleError(f"unknown schedule {text!r}{detail}; use {SCHEDULE_FORMS}")


def parse_pattern(text: str) -> tuple[ScheduleKind, SchedulePattern | None]:
    """The kind of schedule `text` is, and its pattern (None for ``immediate``: no slots)."""
    words = text.split()
    if not words:
        raise _bad(text, "empty")
    head, args = words[0].lower(), words[1:]
    if head == "immediate" and not args:
        return "immediate", None
    if head == "hourly" and not args:
        return "hourly", SchedulePattern(
            (0,), _ALL_HOURS, _ALL_DOM, _ALL_MONTHS, _ALL_WEEKDAYS, False, False
        )
    if head == "daily" and len(args) == 1:
        hour, minute = _clock(text, args[0])
        return "daily", SchedulePattern(
            (minute,), (hour,), _ALL_DOM, _ALL_MONTHS, _ALL_WEEKDAYS, False, False
        )
    if head == "weekly" and len(args) == 2:
        name = args[0].lower()
        if name in _DAY_NAMES:
            weekday = _DAY_NAMES.index(name)
        elif name in _FULL_DAY_NAMES:
            weekday = _FULL_DAY_NAMES.index(name)
        else:
            raise _bad(text, f"{args[0]!r} is not a day; use mon, tue, wed, thu, fri, sat or sun")
        hour, minute = _clock(text, args[1])
        return "weekly", SchedulePattern(
            (minute,), (hour,), _ALL_DOM, _ALL_MONTHS, frozenset({weekday}), False, True
        )
    if head == "cron":
        return "cron", _cron(text, " ".join(args))
    raise _bad(text)


def _clock(text: str, value: str) -> tuple[int, int]:
    match = _TIME.match(value)
    if not match:
        raise _bad(text, f"{value!r} is not a time HH:MM")
    hour, minute = int(match[1]), int(match[2])
    if hour > 23 or minute > 59:
        raise _bad(text, f"{value!r} is not a time between 00:00 and 23:59")
    return hour, minute


def _cron(text: str, expression: str) -> SchedulePattern:
    if len(expression) >= 2 and expression[0] == expression[-1] and expression[0] in "\"'":
        expression = expression[1:-1]
    fields = expression.split()
    if len(fields) != 5:
        raise _bad(text, f"a cron schedule has 5 fields 'm h dom mon dow', not {len(fields)}")
    minute, hour, dom, month, dow = fields
    minutes = _cron_field(text, minute, "minute", 0, 59, {})
    hours = _cron_field(text, hour, "hour", 0, 23, {})
    doms = _cron_field(text, dom, "day of month", 1, 31, {})
    months = _cron_field(text, month, "month", 1, 12, _CRON_MONTH_NAMES)
    cron_dows = _cron_field(text, dow, "day of week", 0, 7, _CRON_DOW_NAMES)
    weekdays = frozenset((d - 1) % 7 for d in cron_dows)  # cron 0/7 = Sunday -> weekday 6
    spec = SchedulePattern(
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days_of_month=frozenset(doms),
        months=frozenset(months),
        weekdays=weekdays,
        dom_restricted=not dom.startswith("*"),
        dow_restricted=not dow.startswith("*"),
    )
    if not spec.can_fire():
        raise _bad(text, "no date matches it, so it would never fire")
    return spec


def _cron_field(
    text: str, value: str, what: str, low: int, high: int, names: dict[str, int]
) -> set[int]:
    def number(token: str) -> int:
        if token.isdigit():
            n = int(token)
        elif token in names:
            n = names[token]
        else:
            raise _bad(text, f"{token!r} is not a valid {what}")
        if not low <= n <= high:
            raise _bad(text, f"{what} {n} is outside {low}-{high}")
        return n

    values: set[int] = set()
    for item in value.lower().split(","):
        match = _CRON_ITEM.match(item)
        if not match:
            raise _bad(text, f"{item!r} is not a valid {what} field")
        star, first, last, step_text = match.groups()
        if star:
            start, end = low, high
        else:
            start = number(first)
            # "n/s" means "from n to the end, every s" (Vixie cron).
            end = number(last) if last else (high if step_text else start)
        step = int(step_text) if step_text else 1
        if step < 1:
            raise _bad(text, f"step 0 in {item!r}")
        if start > end:
            raise _bad(text, f"range {item!r} runs backwards")
        values.update(range(start, end + 1, step))
    return values
