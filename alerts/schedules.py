"""Subscriber digest schedules, evaluated on the wall clock of the subscriber's IANA time zone.

Forms (case-insensitive, any whitespace)::

    immediate                    every run of the digest job
    hourly                       minute 0 of every hour
    daily HH:MM                  e.g. ``daily 07:00``
    weekly <mon..sun> HH:MM      e.g. ``weekly mon 07:00`` (full day names work too)
    cron "m h dom mon dow"       standard 5-field crontab; the quotes are optional

A schedule is a pattern of local wall-clock times; a *slot* is an instant (aware, UTC) at which
the pattern comes round. Daylight-saving transitions are resolved like Vixie cron does:

* **Appointments** -- schedules that name their hours (``daily``, ``weekly``, a cron whose hour
  field is not every hour) -- fire exactly once per matching local date and time:

  - a time that does not exist (spring forward, e.g. 02:30 on 2026-03-29 in Berlin) fires once
    at the first valid instant after it, i.e. the moment of the transition (03:00 local);
  - a time that happens twice (fall back, e.g. 02:30 on 2026-10-25 in Berlin) fires once, at
    its first occurrence (``fold=0``), never twice.

* **Clock schedules** -- ``hourly`` and crons whose hour field covers all 24 hours -- follow the
  real clock: they fire at every instant whose local wall time matches. A skipped hour
  therefore has no slots (its wall times were never shown) and a repeated hour has them twice
  (it really passed twice), so ``hourly`` stays "once an hour" through both transitions.

``is_due`` asks whether a slot passed since the last digest; after downtime spanning several
slots it is due once, and once the caller records ``last_digest_at = now`` it is not due again
until the next slot: a missed digest is built once, never once per missed slot.
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["SCHEDULE_FORMS", "Schedule", "ScheduleError", "parse_schedule"]

ScheduleKind = Literal["immediate", "hourly", "daily", "weekly", "cron"]

SCHEDULE_FORMS = 'immediate | hourly | daily HH:MM | weekly mon HH:MM | cron "m h dom mon dow"'

#: How far ``next_slot``/``previous_slot`` look. Every schedule that fires at all fires within
#: this window (the sparsest valid crontab, e.g. Feb 29 or "Feb 1 if a Monday", recurs in < 12
#: years), so ``None`` from a non-immediate schedule only means "not within 28 years".
_SEARCH_DAYS = 28 * 366

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
class _Spec:
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


@dataclass(frozen=True)
class Schedule:
    """When a subscriber's digest is built. Make one with :func:`parse_schedule`."""

    kind: ScheduleKind
    text: str  # as written
    timezone: str = "UTC"
    _spec: _Spec | None = field(init=False, repr=False, compare=False)
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        kind, spec = _parse(self.text)
        if kind != self.kind:
            raise ScheduleError(f"schedule {self.text!r} is {kind!r}, not {self.kind!r}")
        object.__setattr__(self, "_spec", spec)
        object.__setattr__(self, "_zone", _zone(self.timezone))

    def previous_slot(self, now: datetime) -> datetime | None:
        """The latest slot at or before `now` (aware UTC); None for ``immediate``."""
        now = _utc(now, "now")
        if self._spec is None:
            return None
        start = now.astimezone(self._zone).date() + timedelta(days=1)
        best: datetime | None = None
        for day in self._days(start, -1):
            earlier = [s for s in _day_slots(self._spec, self.timezone, day) if s <= now]
            if earlier:
                if best is not None:
                    return max(best, earlier[-1])
                best = earlier[-1]
            elif best is not None:
                return best
        return best

    def next_slot(self, after: datetime) -> datetime | None:
        """The earliest slot strictly after `after` (aware UTC); None for ``immediate``."""
        after = _utc(after, "after")
        if self._spec is None:
            return None
        start = after.astimezone(self._zone).date() - timedelta(days=1)
        best: datetime | None = None
        for day in self._days(start, +1):
            later = [s for s in _day_slots(self._spec, self.timezone, day) if s > after]
            if later:
                if best is not None:
                    return min(best, later[0])
                best = later[0]
            elif best is not None:
                return best
        return best

    def is_due(self, now: datetime, last_digest_at: datetime | None) -> bool:
        """Whether a slot `s` passed with ``last_digest_at < s <= now``.

        ``immediate`` is always due. Without a last digest, due once any slot has passed.
        However many slots were missed, the answer is one "yes": the caller builds one digest
        and records ``last_digest_at = now``, after which it is due again at the next slot.
        """
        now = _utc(now, "now")
        if self._spec is None:
            return True
        previous = self.previous_slot(now)
        if previous is None:
            return False
        return last_digest_at is None or previous > _utc(last_digest_at, "last_digest_at")

    def _days(self, start: date, step: int) -> Iterator[date]:
        """Matching local dates from `start` on, going forward (+1) or back (-1)."""
        assert self._spec is not None
        one = timedelta(days=step)
        day = start
        for _ in range(_SEARCH_DAYS):
            if self._spec.day_matches(day):
                yield day
            try:
                day += one
            except OverflowError:
                return


def parse_schedule(text: str, timezone: str = "UTC") -> Schedule:
    """Parse one of :data:`SCHEDULE_FORMS` for a subscriber in IANA zone `timezone`.

    Raises :class:`ScheduleError` (a ``ValueError``) naming the forms on bad text.
    """
    if not isinstance(text, str):
        raise ScheduleError(
            f"schedule must be text, not {type(text).__name__}; use {SCHEDULE_FORMS}"
        )
    kind, _ = _parse(text)
    return Schedule(kind=kind, text=text, timezone=timezone)


# -- parsing ----------------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ScheduleError(f"unknown IANA time zone {name!r} (e.g. Europe/Berlin)") from None


def _bad(text: str, why: str = "") -> ScheduleError:
    detail = f" ({why})" if why else ""
    return ScheduleError(f"unknown schedule {text!r}{detail}; use {SCHEDULE_FORMS}")


def _parse(text: str) -> tuple[ScheduleKind, _Spec | None]:
    words = text.split()
    if not words:
        raise _bad(text, "empty")
    head, args = words[0].lower(), words[1:]
    if head == "immediate" and not args:
        return "immediate", None
    if head == "hourly" and not args:
        return "hourly", _Spec((0,), _ALL_HOURS, _ALL_DOM, _ALL_MONTHS, _ALL_WEEKDAYS, False, False)
    if head == "daily" and len(args) == 1:
        hour, minute = _clock(text, args[0])
        return "daily", _Spec(
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
        return "weekly", _Spec(
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


def _cron(text: str, expression: str) -> _Spec:
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
    spec = _Spec(
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


# -- slots ------------------------------------------------------------------------------------


def _utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment!r}")
    return moment.astimezone(UTC)


@functools.lru_cache(maxsize=4096)
def _day_slots(spec: _Spec, timezone: str, day: date) -> tuple[datetime, ...]:
    """The slots (aware UTC, sorted, distinct) of local date `day` in `timezone`."""
    zone = ZoneInfo(timezone)
    slots: set[datetime] = set()
    for hour in spec.hours:
        for minute in spec.minutes:
            slots.update(_resolve(datetime(day.year, day.month, day.day, hour, minute), zone, spec))
    return tuple(sorted(slots))


def _resolve(wall: datetime, zone: ZoneInfo, spec: _Spec) -> list[datetime]:
    """The instants (UTC) at which the naive local time `wall` fires in `zone`."""
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():  # the usual case: exists exactly once
        return [first.astimezone(UTC)]
    early, late = sorted((first.astimezone(UTC), second.astimezone(UTC)))
    if _wall(early, zone) == wall:  # shown twice (fall back): both round-trip
        return [early, late] if spec.follows_clock else [early]
    # Never shown (spring forward): `early` is before the jump, `late` after it.
    if spec.follows_clock:
        return []
    return [_first_instant_at_or_after(wall, zone, early, late)]


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


def _first_instant_at_or_after(
    wall: datetime, zone: ZoneInfo, low: datetime, high: datetime
) -> datetime:
    """The first whole second in (low, high] whose wall time is >= `wall`: the jump."""
    lo, hi = 0, int((high - low).total_seconds())  # wall(low) < wall <= wall(high)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _wall(low + timedelta(seconds=mid), zone) >= wall:
            hi = mid
        else:
            lo = mid
    return low + timedelta(seconds=hi)
