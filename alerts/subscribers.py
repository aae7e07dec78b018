"""A subscriber as their own choices make them: the config's `SubscriberConfig` with the
`store.subscriber_choices.Choices` they made on the web applied (`with_choices`).

The choices override the config file, never the other way round:

* unsubscribed: mailed nothing, whatever the TOML lists;
* left watchlists: their matches are not mailed; with none left, mailed nothing;
* their own schedule and time zone replace the config's;
* paused (``paused_until`` in the future): mailed nothing.

Whoever is mailed nothing still has their schedule move on (`alerts.digest`), so when they come
back (resubscribe, rejoin a watchlist, the pause ends) they get what matched since, not the
backlog of their absence.

A subscriber who is not in the config is never mailed, whatever they chose: only configured
subscribers go through here. A stored choice that no longer makes sense (a schedule that no
longer parses, an unknown time zone, a watchlist they no longer have) is ignored, kept in
``ignored`` for `newswatch status` and logged once per process, never a crash: the subscriber
is mailed as the config says.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerts.config import SubscriberConfig
from alerts.schedules import parse_schedule
from store.subscriber_choices import Choices

__all__ = ["Effective", "with_choices"]

log = logging.getLogger(__name__)
# the ignored choices already logged by this process: a service builds digests every few
# minutes, and one warning per stale choice is enough
_LOGGED: set[tuple[str, str]] = set()


@dataclass(frozen=True, slots=True)
class Effective:
    """A configured subscriber with their choices applied."""

    subscriber: SubscriberConfig  # watchlists, schedule and time zone as they apply now
    choices: Choices
    own_schedule: bool = False  # their schedule or time zone is their choice, not the config's
    ignored: tuple[str, ...] = ()  # stored choices that no longer apply, in words

    @property
    def unsubscribed(self) -> bool:
        return self.choices.unsubscribed_at is not None

    @property
    def mailed(self) -> bool:
        """Whether digests are built for them at all (a pause only holds them back)."""
        return not self.unsubscribed and bool(self.subscriber.watchlists)

    def paused(self, now: datetime) -> bool:
        return self.choices.paused(now)


def with_choices(subscriber: SubscriberConfig, choices: Choices | None) -> Effective:
    """``subscriber`` as their ``choices`` (None: they chose nothing) make them."""
    if choices is None or not choices.any:
        return Effective(subscriber, choices or Choices(subscriber.key))
    ignored: list[str] = []
    watchlists = list(subscriber.watchlists)
    for name in choices.left_watchlists:
        if name in watchlists:
            watchlists.remove(name)
        else:
            ignored.append(f"left watchlist {name!r}, which they no longer have")
    zone, own = subscriber.timezone, False
    if choices.timezone:
        try:
            ZoneInfo(choices.timezone)
            zone, own = choices.timezone, True
        except (ZoneInfoNotFoundError, ValueError):
            ignored.append(f"time zone {choices.timezone!r}, which is no longer known")
    schedule = parse_schedule(subscriber.schedule.text, zone)
    if choices.schedule:
        try:
            schedule, own = parse_schedule(choices.schedule, zone), True
        except ValueError:
            ignored.append(f"schedule {choices.schedule!r}, which no longer parses")
    for problem in ignored:
        if (subscriber.key, problem) not in _LOGGED:
            _LOGGED.add((subscriber.key, problem))
            log.warning("subscriber %s: ignoring their choice of %s", subscriber.key, problem)
    applied = subscriber.model_copy(
        update={"watchlists": watchlists, "schedule": schedule, "timezone": zone}
    )
    return Effective(applied, choices, own, tuple(ignored))
