"""How `newswatch status` writes times: ISO 8601 for JSON and its problem lines, and for people
spans (``2h 5m``), clock times (``11:55 UTC``) and times relative to now (``... (15m ago)``)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(moment: datetime | None) -> str | None:
    """``2024-05-01T11:55:00+00:00``: UTC, to the second."""
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


def span(seconds: float) -> str:
    """``45s``, ``15m``, ``2h 5m``, ``3d 4h``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 3600:
        return f"{minutes}m"
    if seconds < 86400:
        return f"{hours}h {minutes % 60}m" if minutes % 60 else f"{hours}h"
    return f"{days}d {hours % 24}h" if hours % 24 else f"{days}d"


def clock_time(moment: datetime | None, now: datetime) -> str:
    """``11:55 UTC`` on the day of `now`, ``2024-05-01 11:55 UTC`` on another, or ``never``."""
    if moment is None:
        return "never"
    moment = moment.astimezone(UTC)
    return f"{moment:%H:%M} UTC" if moment.date() == now.date() else f"{moment:%Y-%m-%d %H:%M} UTC"


def relative_time(moment: datetime | None, now: datetime) -> str:
    """``2024-05-01 07:00 UTC (15m ago)``, ``... (in 5m)`` or ``never``."""
    if moment is None:
        return "never"
    moment = moment.astimezone(UTC)
    delta = (moment - now).total_seconds()
    relative = f"in {span(delta)}" if delta > 0 else f"{span(-delta)} ago"
    return f"{moment:%Y-%m-%d %H:%M} UTC ({relative})"
