"""The crawler's own configuration: what to crawl (sources) and how politely (crawl)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

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


def parse_duration(value: str | float | int) -> float:
    """Seconds in ``"30s"``, ``"15m"``, ``"1h"``, ``"2d"``, ``"500ms"`` or a bare number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        found = _DURATION.match(str(value))
        if not found:
            raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 15m, 1h, 2d)")
        seconds = float(found.group(1)) * _DURATION_UNITS[found.group(2)]
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {value!r}")
    return seconds


def parse_size(value: str | int) -> int:
    """Bytes in ``"5MB"``, ``"512KiB"`` or a bare number."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    found = _SIZE.match(str(value))
    if not found:
        raise ValueError(f"not a size: {value!r} (use e.g. 5MB, 512KiB)")
    unit = found.group(2).lower() if found.group(2) else None
    return int(float(found.group(1)) * _SIZE_UNITS[unit])


Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]


class CrawlConfig(BaseModel):
    """How to crawl: polite defaults for dw.com."""

    model_config = ConfigDict(extra="forbid")

    every: Duration = Field(default=900.0, gt=0, description="time between crawl cycles")
    cron: str | None = Field(default=None, description="crontab instead of `every`")
    jitter: Duration = 60.0
    user_agent: str = "newswatch/0.1 (+https://github.com/newswatch/newswatch)"
    delay: Duration = 1.0
    concurrency: int = Field(default=2, ge=1, le=32)
    autothrottle: bool = True
    timeout: Duration = Field(default=30.0, gt=0)
    max_page_size: Size = Field(default=5_000_000, gt=0)
    obey_robots: bool = True
    max_items_per_feed: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description="items one feed, sitemap or listing page contributes, newest first",
    )

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
        "NEWSWATCH_MAX_ITEMS_PER_FEED": crawl.max_items_per_feed,
    }
    return {name: str(value) for name, value in settings.items()}
