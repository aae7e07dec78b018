"""DW's timestamps -> timezone-aware datetimes, by one rule for pages, feeds and sitemaps.

A timestamp without an offset is Berlin local time (DW's own clock); a date the database cannot
hold or that no article can carry (a year outside 1900 - 2100, an offset beyond +-14 h) is None,
so a page's ``0001-01-01T00:10:00+01:00`` never reaches the store (converting it to UTC
overflows). No Scrapy import.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from store.dw_ids import DW_TIMEZONE

FIRST_YEAR, LAST_YEAR = 1900, 2100  # outside these, a date is a placeholder or garbage
_MAX_OFFSET = timedelta(hours=14)
_DMY = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b")
_RFC822_UNKNOWN_ZONE = re.compile(r"-0000\s*$")  # RFC 2822: UTC, local zone not given


def dw_datetime(value: Any) -> datetime | None:
    """An ISO 8601 (JSON-LD, meta tags, ``dc:date``, sitemap ``lastmod``) or RFC 822 (RSS
    ``pubDate``) timestamp as an aware datetime; None for anything else or out of range."""
    if not isinstance(value, str) or not value.strip():
        return None
    return iso_datetime(value) or _rfc822_datetime(value.strip())


def iso_datetime(value: Any) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime; one without offset is Berlin local time."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        stamp = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return _checked(stamp)


def berlin_date(text: str | None) -> datetime | None:
    """A dd.mm.yyyy date on the page as midnight Europe/Berlin (DW prints Berlin dates)."""
    found = _DMY.search(text or "")
    if not found:
        return None
    day, month, year = (int(g) for g in found.groups())
    try:
        return _checked(datetime(year, month, day))
    except ValueError:
        return None


def _rfc822_datetime(value: str) -> datetime | None:
    try:
        stamp = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if stamp.tzinfo is None and _RFC822_UNKNOWN_ZONE.search(value):
        stamp = stamp.replace(tzinfo=UTC)
    return _checked(stamp)


def _checked(stamp: datetime) -> datetime | None:
    """Naive -> Berlin; None when the year or the offset is out of range."""
    if not FIRST_YEAR <= stamp.year <= LAST_YEAR:
        return None
    if stamp.tzinfo is None:
        return stamp.replace(tzinfo=DW_TIMEZONE)
    offset = stamp.utcoffset()
    return stamp if offset is not None and abs(offset) <= _MAX_OFFSET else None
