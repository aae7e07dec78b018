"""An APScheduler trigger that fires on a :class:`~alerts.schedules.Schedule` (a subscriber's
digest schedule in their time zone, or ``crawl.cron`` in UTC), with optional jitter."""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger

from alerts.schedules import Schedule


class ScheduleTrigger(BaseTrigger):
    """APScheduler trigger for a schedule (daily 07:00 Europe/Berlin, cron, ...)."""

    def __init__(self, schedule: Schedule, jitter: int | None = None) -> None:
        self.schedule = schedule
        self.jitter = jitter

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        after = max(previous_fire_time, now) if previous_fire_time else now - timedelta(seconds=1)
        return self._apply_jitter(self.schedule.next_slot(after), self.jitter, now)

    def __str__(self) -> str:
        return f"schedule[{self.schedule.text} {self.schedule.timezone}]"
