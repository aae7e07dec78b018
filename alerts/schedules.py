"""Subscriber digest schedules, evaluated on the wall clock of the subscriber's IANA time zone.

A schedule is a pattern of local wall-clock times (its text, and the forms it may take, are
`alerts.schedule_patterns`'); a *slot* is an instant (aware, UTC) at which the pattern comes
round. Daylight-saving transitions are resolved like Vixie cron does:

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

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerts.schedule_patterns import (
    SCHEDULE_FORMS,
    ScheduleError,
    ScheduleKind,
    SchedulePattern,
    parse_pattern,
)

__all__ = ["Schedule", "parse_schedule"]

#: How far ``next_slot``/``previous_slot`` look. Every schedule that fires at all fires within
#: this window (the sparsest valid crontab, e.g. Feb 29 or "Feb 1 if a Monday", recurs in < 12
#: years), so ``None`` from a non-immediate schedule only means "not within 28 years".
_SEARCH_DAYS = 28 * 366


@dataclass(frozen=True)
class Schedule:
    """When a subscriber's digest is built. Make one with :func:`parse_schedule`."""

    kind: ScheduleKind
    text: str  # as written
    timezone: str = "UTC"
    _pattern: SchedulePattern | None = field(init=False, repr=False, compare=False)
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        kind, pattern = parse_pattern(self.text)
        if kind != self.kind:
            raise ScheduleError(f"schedule {self.text!r} is {kind!r}, not {self.kind!r}")
        object.__setattr__(self, "_pattern", pattern)
        object.__setattr__(self, "_zone", _zone(self.timezone))

    def previous_slot(self, now: datetime) -> datetime | None:
        """The latest slot at or before `now` (aware UTC); None for ``immediate``."""
        now = _utc(now, "now")
        if self._pattern is None:
            return None
        start = now.astimezone(self._zone).date() + timedelta(days=1)
        best: datetime | None = None
        for day in self._days(start, -1):
            earlier = [s for s in _day_slots(self._pattern, self.timezone, day) if s <= now]
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
        if self._pattern is None:
            return None
        start = after.astimezone(self._zone).date() - timedelta(days=1)
        best: datetime | None = None
        for day in self._days(start, +1):
            later = [s for s in _day_slots(self._pattern, self.timezone, day) if s > after]
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
        if self._pattern is None:
            return True
        previous = self.previous_slot(now)
        if previous is None:
            return False
        return last_digest_at is None or previous > _utc(last_digest_at, "last_digest_at")

    def _days(self, start: date, step: int) -> Iterator[date]:
        """Matching local dates from `start` on, going forward (+1) or back (-1)."""
        assert self._pattern is not None
        one = timedelta(days=step)
        day = start
        for _ in range(_SEARCH_DAYS):
            if self._pattern.day_matches(day):
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
    kind, _ = parse_pattern(text)
    return Schedule(kind=kind, text=text, timezone=timezone)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ScheduleError(f"unknown IANA time zone {name!r} (e.g. Europe/Berlin)") from None


def _utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment!r}")
    return moment.astimezone(UTC)


@functools.lru_cache(maxsize=4096)
def _day_slots(spec: SchedulePattern, timezone: str, day: date) -> tuple[datetime, ...]:
    """The slots (aware UTC, sorted, distinct) of local date `day` in `timezone`."""
    zone = ZoneInfo(timezone)
    slots: set[datetime] = set()
    for hour in spec.hours:
        for minute in spec.minutes:
            slots.update(_resolve(datetime(day.year, day.month, day.day, hour, minute), zone, spec))
    return tuple(sorted(slots))


def _resolve(wall: datetime, zone: ZoneInfo, spec: SchedulePattern) -> list[datetime]:
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
