"""The one clock. Every stage that stores a time or decides by one takes ``now`` (or a
:data:`Clock`, where it needs the time more than once) from its caller; only the composition
roots (the CLI, the service, the crawl process) choose :func:`system_clock`. Tests pass a fixed
one all the way down, so the rows they store and the decisions they check agree."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The real time, aware, in UTC."""
    return datetime.now(UTC)


def fixed_clock(at: datetime) -> Clock:
    """A clock that always says ``at`` (aware)."""
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at!r}: a clock tells aware time")
    return lambda: at
