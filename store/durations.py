"""Durations and sizes as the config file and the command line write them (``30s``, ``15m``,
``2d``; ``5MB``, ``512KiB``), parsed once at the edge into seconds and bytes, with bounds: a value
that is not finite, negative or absurd is a ValueError naming it. Every stage's config reads them
from here (this module imports nothing of newswatch)."""

from __future__ import annotations

import math
import re
from functools import partial
from typing import Annotated

from pydantic import BeforeValidator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    None: 1,
}
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
YEAR = 365 * DAY
# no duration newswatch reads is longer: dates this far back or ahead are still dates
MAX_DURATION = 100 * YEAR
MAX_PAGE_SIZE = 100 * 10**6


def parse_duration(
    value: str | float | int, *, most: float = MAX_DURATION, positive: bool = False
) -> float:
    """Seconds in ``"30s"``, ``"15m"``, ``"1h"``, ``"2d"``, ``"500ms"`` or a bare number;
    refused (ValueError) when not finite, negative (or 0 with ``positive``) or over ``most``."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        else:
            found = _DURATION.match(str(value))
            if not found:
                raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 15m, 1h, 2d)")
            seconds = float(found.group(1)) * _DURATION_UNITS[found.group(2)]
    except OverflowError:  # an integer too large for a float
        seconds = math.inf
    if math.isnan(seconds):
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 15m, 1h, 2d)")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {value!r}")
    if positive and seconds == 0:
        raise ValueError(f"must be longer than 0: {value!r}")
    if seconds > most:
        raise ValueError(f"{_shown(value)} is too long: at most {show_duration(most)}")
    return seconds


def parse_size(value: str | int | float, *, most: int = MAX_PAGE_SIZE) -> int:
    """Bytes in ``"5MB"``, ``"512KiB"`` or a bare number, more than 0 and at most ``most``."""
    if isinstance(value, int) and not isinstance(value, bool):
        size: float = value
    else:
        found = _SIZE.match(str(value))
        if not found:
            raise ValueError(f"not a size: {value!r} (use e.g. 5MB, 512KiB)")
        unit = found.group(2).lower() if found.group(2) else None
        size = float(found.group(1)) * _SIZE_UNITS[unit]
    if size <= 0:
        raise ValueError(f"a size must be more than 0 bytes: {value!r}")
    if size > most:
        raise ValueError(f"{_shown(value)} is too large: at most {most // 10**6}MB")
    return int(size)


def show_duration(seconds: float) -> str:
    """The largest whole unit: ``365d``, ``1h``, ``90s``."""
    for unit, length in (("d", DAY), ("h", HOUR), ("m", MINUTE)):
        if seconds >= length and seconds % length == 0:
            return f"{seconds / length:g}{unit}"
    return f"{seconds:g}s"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def bounded_duration(most: float, *, positive: bool = False) -> BeforeValidator:
    """A pydantic validator: a duration of at most ``most`` seconds (more than 0 with
    ``positive``)."""
    return BeforeValidator(partial(parse_duration, most=most, positive=positive))


Size = Annotated[int, BeforeValidator(parse_size)]
