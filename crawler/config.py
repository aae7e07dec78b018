"""The crawler's own configuration: what to crawl (sources) and how politely (crawl)."""

from __future__ import annotations

import math
import re
from functools import partial
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

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


def _bounded(most: float, *, positive: bool = False) -> BeforeValidator:
    return BeforeValidator(partial(parse_duration, most=most, positive=positive))


Interval = Annotated[float, _bounded(YEAR, positive=True)]  # crawl.every
Jitter = Annotated[float, _bounded(YEAR)]  # and at most the interval
Pause = Annotated[float, _bounded(HOUR)]  # crawl.delay
Timeout = Annotated[float, _bounded(HOUR, positive=True)]  # crawl.timeout
Size = Annotated[int, BeforeValidator(parse_size)]


class CrawlConfig(BaseModel):
    """How to crawl: polite defaults for dw.com."""

    model_config = ConfigDict(extra="forbid")

    every: Interval = Field(default=900.0, description="time between crawl cycles")
    cron: str | None = Field(default=None, description="crontab instead of `every`")
    jitter: Jitter = Field(default=60.0, validate_default=True)  # the default is checked too
    user_agent: str = "newswatch/0.1 (+https://github.com/newswatch/newswatch)"
    delay: Pause = 1.0
    concurrency: int = Field(default=2, ge=1, le=32)
    autothrottle: bool = True
    timeout: Timeout = 30.0
    max_page_size: Size = 5_000_000
    obey_robots: bool = True

    @field_validator("jitter")
    @classmethod
    def _within_the_interval(cls, value: float, info: ValidationInfo) -> float:
        # with `cron`, scheduler.config checks it against the crontab's shortest gap
        every = info.data.get("every")
        if every is not None and not info.data.get("cron") and value > every:
            raise ValueError(
                f"{show_duration(value)} is longer than crawl.every "
                f"({show_duration(every)}): at most the interval"
            )
        return value

    @field_validator("user_agent")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if not value.strip() or "\n" in value or "\r" in value:
            raise ValueError("user_agent must be one non-empty line")
        return value.strip()


class SourceConfig(BaseModel):
    """One site section to watch: its feeds, sitemaps and listing pages."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    feeds: list[str] = []
    sitemaps: list[str] = []
    pages: list[str] = []
    allowed_domains: list[str] = ["dw.com"]

    @field_validator("feeds", "sitemaps", "pages")
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not re.match(r"^https?://[^/\s]+", url):
                raise ValueError(f"not an http(s) URL: {url!r}")
        return urls

    def start_urls(self) -> list[str]:
        return [*self.feeds, *self.sitemaps, *self.pages]


def scrapy_settings(crawl: CrawlConfig) -> dict[str, str]:
    """The [crawl] section as Scrapy settings (the values `-s` takes)."""
    settings = {
        "USER_AGENT": crawl.user_agent,
        "DOWNLOAD_DELAY": crawl.delay,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(crawl.delay, 0.1),
        "DOWNLOAD_TIMEOUT": crawl.timeout,
        "DOWNLOAD_MAXSIZE": crawl.max_page_size,
        "DOWNLOAD_WARNSIZE": crawl.max_page_size // 2,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
    }
    return {name: str(value) for name, value in settings.items()}
