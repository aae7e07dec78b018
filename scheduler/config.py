"""newswatch.toml -> validated, typed configuration, handed down to each stage.

Each stage defines its own part (store.config, crawler.config, alerts.config and
alerts.watchlists); this module reads the file, applies environment overrides and checks what
spans stages (a subscriber's watchlists exist, names are unique)."""

from __future__ import annotations

import os
import tomllib
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from itertools import pairwise
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from alerts.channels import parse_channel
from alerts.config import _EMAIL, ChannelsConfig, MailConfig, SubscriberConfig
from alerts.render import DigestRenderer
from alerts.sandbox import TemplateProblem
from alerts.schedule_patterns import ScheduleError
from alerts.schedules import Schedule, parse_schedule
from alerts.watchlists import WatchlistConfig
from crawler.config import CrawlConfig, SourceConfig
from store.config import StorageConfig
from store.durations import YEAR, bounded_duration, show_duration
from web.config import WebConfig

DEFAULT_CONFIG_PATH = "newswatch.toml"
ENV_CONFIG = "NEWSWATCH_CONFIG"
ENV_DATABASE_URL = "NEWSWATCH_DATABASE_URL"
ENV_SMTP_URL = "NEWSWATCH_SMTP_URL"
# where crawl.cron's gaps are measured from: a fixed moment, so `check` answers the same any day
CRON_REFERENCE = datetime(2026, 1, 1, tzinfo=UTC)
DW_ENGLISH = SourceConfig(name="dw-en", feeds=["https://rss.dw.com/rdf/rss-en-all"])


HealthSpan = Annotated[float, bounded_duration(YEAR, positive=True)]  # health.* durations


class HealthConfig(BaseModel):
    """``[health]``: the thresholds of the health rules (`status`, `status --check`)."""

    model_config = ConfigDict(extra="forbid")

    drift_share: float = Field(
        default=0.2, gt=0, lt=1, description="share of a run's pages needing a fallback"
    )
    drift_runs: int = Field(default=5, ge=1, le=100, description="runs of history compared")
    body_length_ratio: float = Field(
        default=0.5, gt=0, lt=1, description="median body length at most this share: a drop"
    )
    quiet_after: HealthSpan = Field(default=6 * 3600.0, description="floor of a quiet source")
    quiet_factor: float = Field(default=2.0, ge=1, le=100, description="times the usual gap")
    quiet_quantile: float = Field(default=0.9, gt=0, le=1, description="the usual gap")
    failing_crawls: int = Field(default=3, ge=1, le=1000, description="failed runs in a row")
    backlog_age: HealthSpan = Field(default=3600.0, description="pending longer: a backlog")
    backlog_count: int = Field(default=100, ge=1, description="more pending: a backlog")
    digest_grace: HealthSpan = Field(default=3600.0, description="a digest slot missed by")


class ConfigError(Exception):
    """A config that cannot be used; the message names the file and the field at fault."""


class AlertsConfig(BaseModel):
    """Who hears of the service's own problems (`scheduler.problems`): one message when a
    problem starts, one when it ends. ``silence``: fnmatch patterns over problem keys
    (``source:dw-en:*``); a silenced problem is kept and shown, never alerted, and does not
    fail ``status --check``."""

    model_config = ConfigDict(extra="forbid")

    operator: str | None = Field(default=None, description="the operator's email address")
    operator_channels: list[str] = []  # as subscribers[].channels
    silence: list[str] = []
    operator_maildir: str = Field(
        default="operator-mail",
        description="where an operator alert goes when SMTP will not take it (a Maildir)",
    )

    @field_validator("operator")
    @classmethod
    def _operator(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"not an email address: {value!r}")
        return value

    @field_validator("operator_channels")
    @classmethod
    def _operator_channels(cls, value: list[str]) -> list[str]:
        for index, url in enumerate(value):
            try:
                parse_channel(url)
            except ValueError as error:
                raise ValueError(f"operator_channels[{index}]: {error}") from None
        if len(set(value)) != len(value):
            raise ValueError("a channel appears twice")
        return value

    def silenced(self, key: str) -> bool:
        return any(fnmatchcase(key, pattern) for pattern in self.silence)


class AppConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    storage: StorageConfig = StorageConfig()
    crawl: CrawlConfig = CrawlConfig()
    sources: list[SourceConfig] = [DW_ENGLISH]
    watchlists: list[WatchlistConfig] = []
    subscribers: list[SubscriberConfig] = []
    mail: MailConfig = MailConfig()
    channels: ChannelsConfig = ChannelsConfig()
    web: WebConfig = WebConfig()
    health: HealthConfig = HealthConfig()
    alerts: AlertsConfig = AlertsConfig()
    # crawl.cron, read once here (crawler's config keeps the text: it may not import alerts)
    _crawls: Schedule | None = PrivateAttr(default=None)

    @property
    def crawls(self) -> Schedule | None:
        """``crawl.cron`` as a Schedule in UTC; None when crawls follow ``crawl.every``."""
        return self._crawls

    @model_validator(mode="after")
    def _cross_references(self) -> AppConfig:
        if self.crawl.cron:
            try:
                crawls = self._crawls = crawl_schedule(self.crawl.cron)
            except ScheduleError as error:
                raise ValueError(f"crawl.cron: {error}") from None
            gap = _shortest_gap(crawls)
            if gap is not None and self.crawl.jitter > gap:
                raise ValueError(
                    f"crawl.jitter: {show_duration(self.crawl.jitter)} is longer than the "
                    f"shortest gap between crawl.cron's times ({show_duration(gap)})"
                )
        if self.crawl.scrapyd and _backend(self.storage.url) != "postgresql":
            raise ValueError(
                "crawl.scrapyd: crawls on scrapyd nodes need PostgreSQL storage "
                "(storage.url is not postgresql://...); leave crawl.scrapyd empty for SQLite"
            )
        _unique("sources", [s.name for s in self.sources])
        _unique("watchlists", [w.name for w in self.watchlists])
        _unique("subscribers", [s.key for s in self.subscribers])
        known = {w.name for w in self.watchlists}
        for index, subscriber in enumerate(self.subscribers):
            for name in subscriber.watchlists:
                if name not in known:
                    raise ValueError(
                        f"subscribers[{index}].watchlists: no watchlist named {name!r} "
                        f"(known: {', '.join(sorted(known)) or 'none'})"
                    )
        return self

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources)
        raise ConfigError(f"no source named {name!r} (known: {known})")


def _backend(url: str) -> str:
    """The database kind a URL names ("sqlite", "postgresql"), "" when it names none."""
    try:
        return make_url(url).get_backend_name()
    except ArgumentError:
        return ""


def crawl_schedule(cron: str) -> Schedule:
    """``crawl.cron`` as the service and status read it: a standard crontab in UTC (0 and 7
    are Sunday)."""
    return parse_schedule(f"cron {cron}", "UTC")


def _shortest_gap(schedule: Schedule, slots: int = 16) -> float | None:
    """The shortest time, in seconds, between consecutive fire times among the first few
    after a fixed moment (the check must not depend on when it runs)."""
    times = [CRON_REFERENCE]
    for _ in range(slots):
        following = schedule.next_slot(times[-1])
        if following is None:
            break
        times.append(following)
    gaps = [(b - a).total_seconds() for a, b in pairwise(times[1:])]
    return min(gaps) if gaps else None


def _unique(section: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{section}: {name!r} appears twice")
        seen.add(name)


def check_templates(config: AppConfig) -> None:
    """Render the digest templates (a user's override included) with sample data, so that a
    broken template fails at `check`, start or reload, not when a digest is due."""
    try:
        DigestRenderer(config.mail.templates or None).check()
    except TemplateProblem as error:
        raise ConfigError(f"mail.templates: {error}") from None


def config_path(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get(ENV_CONFIG) or DEFAULT_CONFIG_PATH)


def load_config(path: Path | None, *, required: bool = False) -> AppConfig:
    """Read and validate the config; without a file (and not required) the embedded defaults.

    ``NEWSWATCH_DATABASE_URL`` and ``NEWSWATCH_SMTP_URL`` override the file; the SMTP password
    comes only from ``NEWSWATCH_SMTP_PASSWORD`` (a ``password`` in the file's [mail] is refused),
    the scrapyd nodes' only from ``NEWSWATCH_SCRAPYD_PASSWORD``."""
    data: dict = {}
    if path is not None and path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path}: not valid TOML: {error}") from None
    elif required or (path is not None and path.name != DEFAULT_CONFIG_PATH):
        raise ConfigError(f"{path}: no such config file (create one with `newswatch init`)")
    mail = data.get("mail")
    if isinstance(mail, dict) and "password" in mail:
        raise ConfigError(
            f"{path}: mail.password: keep the SMTP password out of the config file; "
            f"set {MailConfig.ENV_PASSWORD} instead"
        )
    if os.environ.get(ENV_DATABASE_URL):
        data.setdefault("storage", {})["url"] = os.environ[ENV_DATABASE_URL]
    if os.environ.get(ENV_SMTP_URL):
        data.setdefault("mail", {})["smtp_url"] = os.environ[ENV_SMTP_URL]
    if os.environ.get(MailConfig.ENV_PASSWORD):
        data.setdefault("mail", {})["password"] = os.environ[MailConfig.ENV_PASSWORD]
    crawl = data.get("crawl")
    if isinstance(crawl, dict) and "scrapyd_password" in crawl:
        raise ConfigError(
            f"{path}: crawl.scrapyd_password: keep it out of the config file; "
            f"set {CrawlConfig.ENV_SCRAPYD_PASSWORD} instead"
        )
    if os.environ.get(CrawlConfig.ENV_SCRAPYD_PASSWORD):
        password = os.environ[CrawlConfig.ENV_SCRAPYD_PASSWORD]
        data.setdefault("crawl", {})["scrapyd_password"] = password
    web = data.get("web")
    for secret, variable in (
        ("token", WebConfig.ENV_TOKEN),
        ("secret_key", WebConfig.ENV_SECRET_KEY),
    ):
        if isinstance(web, dict) and secret in web:
            raise ConfigError(
                f"{path}: web.{secret}: keep it out of the config file; set {variable} instead"
            )
        if os.environ.get(variable):
            data.setdefault("web", {})[secret] = os.environ[variable]
    try:
        return AppConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"{path or 'defaults'}: {describe(error)}") from None


def describe(error: ValidationError) -> str:
    """One line per problem, each naming the field: ``watchlists[0].terms: ...``."""
    lines = []
    for problem in error.errors():
        where = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in problem["loc"]
        ).lstrip(".")
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return "; ".join(lines)
