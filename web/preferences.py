"""A subscriber's effective settings (the config file's, overridden by their own choices) and
the checks on what they type into the preferences forms. The store keeps the choices
(`store.subscriber_choices`); the schedule text is checked by the digest's own parser, so a
schedule the page accepts is one the digest job understands."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import available_timezones

from alerts.config import SubscriberConfig
from alerts.schedules import parse_schedule
from store.subscriber_choices import Choices

PAUSE_DAYS = (1, 7, 30)
# the schedules offered as one click; anything parse_schedule accepts may be typed instead
SCHEDULE_CHOICES = (
    "immediate",
    "hourly",
    "daily 07:00",
    "daily 12:00",
    "daily 18:00",
    "weekly mon 07:00",
)
SCHEDULE_MAX = 200  # subscriber_choices.schedule is VARCHAR(200)


@functools.cache
def time_zones() -> tuple[str, ...]:
    """Every IANA zone name tzdata knows, sorted (the page's suggestions, and the check)."""
    return tuple(sorted(available_timezones()))


@dataclass(frozen=True)
class Settings:
    email: str
    schedule: str
    timezone: str
    own_schedule: bool  # the subscriber chose it (else the config's)
    config_schedule: str
    config_timezone: str
    watchlists: tuple[tuple[str, bool], ...]  # each configured watchlist: (name, still in it)
    unsubscribed_at: datetime | None
    paused_until: datetime | None  # only while the pause lasts
    next_digest_at: datetime | None  # None: at every digest run ("immediate") or never

    @property
    def state(self) -> str:
        if self.unsubscribed_at is not None:
            return "unsubscribed"
        if self.paused_until is not None:
            return "paused"
        if not any(kept for _, kept in self.watchlists):
            return "no watchlists"
        return "active"

    def receives(self, watchlist: str) -> bool:
        return dict(self.watchlists).get(watchlist, False)


def settings_of(config: SubscriberConfig, choices: Choices, now: datetime) -> Settings:
    schedule = choices.schedule or config.schedule.text
    timezone = choices.timezone or config.timezone
    try:
        next_digest = parse_schedule(schedule, timezone).next_slot(now)
    except ValueError:  # a choice stored by an older newswatch that this one reads otherwise
        next_digest = None
    left = set(choices.left_watchlists)
    return Settings(
        email=config.key,
        schedule=schedule,
        timezone=timezone,
        own_schedule=bool(choices.schedule or choices.timezone),
        config_schedule=config.schedule.text,
        config_timezone=config.timezone,
        watchlists=tuple((name, name not in left) for name in config.watchlists),
        unsubscribed_at=choices.unsubscribed_at,
        paused_until=choices.paused_until if choices.paused(now) else None,
        next_digest_at=next_digest,
    )


def checked_timezone(name: str) -> str:
    """An IANA zone name as tzdata spells it; ValueError in one line otherwise."""
    name = name.strip()
    if name not in time_zones():
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin)")
    return name


def checked_schedule(text: str, timezone: str) -> str:
    """The schedule text normalised to single spaces; ValueError (the parser's one line,
    which names the forms) when the digest could not use it."""
    text = " ".join(text.split())
    if len(text) > SCHEDULE_MAX:
        raise ValueError(f"a schedule is at most {SCHEDULE_MAX} characters")
    parse_schedule(text, timezone)
    return text
