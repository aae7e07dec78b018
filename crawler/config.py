"""The crawler's own configuration: what to crawl (sources) and how politely (crawl)."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

from store.durations import HOUR, YEAR, Size, bounded_duration, show_duration

Interval = Annotated[float, bounded_duration(YEAR, positive=True)]  # crawl.every
Jitter = Annotated[float, bounded_duration(YEAR)]  # and at most the interval
Pause = Annotated[float, bounded_duration(HOUR)]  # crawl.delay
Timeout = Annotated[float, bounded_duration(HOUR, positive=True)]  # crawl.timeout


class CrawlConfig(BaseModel):
    """How to crawl: polite defaults for dw.com."""

    model_config = ConfigDict(extra="forbid")

    # polled often: an unchanged feed costs DW one 304 (conditional requests), and an immediate
    # subscriber waits about an interval at most
    every: Interval = Field(default=300.0, description="time between crawl cycles")
    cron: str | None = Field(default=None, description="crontab instead of `every`")
    jitter: Jitter = Field(default=10.0, validate_default=True)  # the default is checked too
    user_agent: str = "newswatch/0.1 (+https://github.com/newswatch/newswatch)"
    delay: Pause = 1.0
    concurrency: int = Field(default=2, ge=1, le=32)
    autothrottle: bool = True
    timeout: Timeout = 30.0
    max_page_size: Size = 5_000_000
    obey_robots: bool = True
    max_items_per_feed: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description="items one feed, sitemap or listing page contributes, newest first",
    )
    parse_workers: int | Literal["auto"] = Field(
        default="auto",
        description="processes that parse article pages beside the downloads; 0: in the "
        "crawl's own thread; auto: one where the crawl may use two CPUs or more (affinity, cgroup "
        "quota), else 0",
    )
    store_writer: bool | Literal["auto"] = Field(
        default="auto",
        description="write the crawl's articles in a process beside it; false: in the crawl's "
        "own thread; auto: where the crawl may use two CPUs or more (affinity, cgroup quota)",
    )
    warm: bool = Field(
        default=True,
        description="start the next crawl's process (its imports) as soon as the last ended",
    )
    scrapyd: list[str] = Field(
        default=[],
        description="scrapyd nodes (http://host:6800) that run crawls; empty: a local subprocess",
    )
    scrapyd_user: str = Field(default="", description="the nodes' HTTP basic auth user, if any")
    # the nodes' basic auth password: scheduler.config fills it from the environment only
    scrapyd_password: SecretStr | None = Field(default=None, exclude=True)
    ENV_SCRAPYD_PASSWORD: ClassVar[str] = "NEWSWATCH_SCRAPYD_PASSWORD"

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

    @field_validator("parse_workers", mode="before")
    @classmethod
    def _parse_workers(cls, value: object) -> object:
        if value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 32:
            raise ValueError(f'{value!r}: "auto" or a number of processes from 0 to 32')
        return value

    @field_validator("scrapyd")
    @classmethod
    def _node_urls(cls, urls: list[str]) -> list[str]:
        nodes = []
        for url in urls:
            if not re.match(r"^https?://[^/\s?#]+/?$", url.strip()):
                raise ValueError(f"not a scrapyd node URL (http://host:port): {url!r}")
            if "@" in url:  # a node URL is logged and kept on CrawlRun rows
                raise ValueError(
                    "put no user or password in a scrapyd node URL: set crawl.scrapyd_user "
                    f"and {cls.ENV_SCRAPYD_PASSWORD}"
                )
            nodes.append(url.strip().rstrip("/"))
        if len(set(nodes)) != len(nodes):
            raise ValueError("a scrapyd node is named twice")
        return nodes

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
    # `status` calls the source quiet after this long without anything new at the least
    # (None: ``health.quiet_after``)
    quiet_after: Annotated[float, bounded_duration(YEAR, positive=True)] | None = None

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
        "NEWSWATCH_PARSE_WORKERS": crawl.parse_workers,
        "NEWSWATCH_STORE_WRITER": crawl.store_writer,
    }
    return {name: str(value) for name, value in settings.items()}
