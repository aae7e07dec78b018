"""DW's two ids for one piece of content: the numeric content id (``/a-18879446``) and the
short id of its permalink (``https://p.dw.com/p/1HDPC``), the base-62 form of the same number.

Here, in store, because the short id is the key every stage shares: every stage imports DW's ids
and time zone from this module alone (``crawler.dw`` knows DW's URLs).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

# DW prints its dates in Berlin time; a DW timestamp without an offset is Berlin local time
DW_TIMEZONE = ZoneInfo("Europe/Berlin")

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DIGIT = {ch: i for i, ch in enumerate(ALPHABET)}


SHORT_URL_PREFIX = "https://p.dw.com/p/"


class DwIdError(ValueError):
    """A string that is not a DW short id or content id."""


def short_id(content_id: int) -> str:
    """Base-62 short id of a content id: ``short_id(18879446) == "1HDPC"``."""
    if isinstance(content_id, bool) or not isinstance(content_id, int) or content_id < 0:
        raise DwIdError(f"content id must be a non-negative integer, got {content_id!r}")
    if content_id == 0:
        return ALPHABET[0]
    digits = []
    while content_id:
        content_id, rest = divmod(content_id, 62)
        digits.append(ALPHABET[rest])
    return "".join(reversed(digits))


def content_id(short: str) -> int:
    """Content id of a base-62 short id: ``content_id("1HDPC") == 18879446``."""
    if not short or not isinstance(short, str):
        raise DwIdError(f"not a DW short id: {short!r}")
    value = 0
    for ch in short:
        digit = _DIGIT.get(ch)
        if digit is None:
            raise DwIdError(f"not a DW short id: {short!r}")
        value = value * 62 + digit
    return value


def short_url(short: str) -> str:
    return SHORT_URL_PREFIX + short
