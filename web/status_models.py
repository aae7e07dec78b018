"""The shape of `newswatch status --json` (``scheduler.status_report.StatusReport.to_json``)
as pydantic models, so ``/api/status`` has an exact OpenAPI schema and the dashboard reads
typed values. Keys added to the report later pass through (``extra="allow"``) until they are
named here. ``problems`` are the health rules' lines (`status --check`), when the composition
root includes them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class CrawlCadenceOut(_Open):
    every_seconds: float | None
    cron: str | None
    interval_seconds: float
    jitter_seconds: float


class RunOut(_Open):
    started_at: datetime
    finished_at: datetime | None
    status: str
    pages: int
    new: int
    updated: int
    skipped_known: int
    errors: int
    selector_fallbacks: int
    last_errors: list[str]


class SourceOut(_Open):
    name: str
    last_success_at: datetime | None
    next_crawl_at: str | None  # an ISO time, "now" (never crawled), or None (no more crawls)
    runs: list[RunOut]
    warnings: list[str]


class ArticleCountsOut(_Open):
    total: int
    last_24h: int


class WatchlistStatusOut(_Open):
    name: str
    matches: int
    undelivered: int


class ClaimedOut(_Open):
    count: int
    since: datetime
    lease_until: datetime


class StaleClaimsOut(_Open):
    count: int
    since: datetime
    lease_ran_out: datetime


class MessageProblemOut(_Open):
    id: int
    status: str
    recipient: str
    channel: str
    subject: str
    message_id: str
    created_at: datetime
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None


class OutboxOut(_Open):
    pending: int
    sent: int
    failed: int
    uncertain: int
    not_rendered: int
    oldest_pending_at: datetime | None
    oldest_pending_age_seconds: float | None
    claimed: ClaimedOut | None
    stale_claims: StaleClaimsOut | None
    returned_matches: int
    problems: list[MessageProblemOut]
    retrying_not_shown: int
    acknowledged: int


class ChoicesOut(_Open):
    unsubscribed_at: datetime | None
    paused_until: datetime | None
    schedule: str | None
    timezone: str | None
    left_watchlists: list[str]
    updated_at: datetime | None
    ignored: list[str] = []  # stored choices that no longer apply, in words


class SubscriberStatusOut(_Open):
    email: str  # the subscriber's key: their email, or name without one
    channels: list[str] = []  # masked
    schedule: str  # in effect: their own choice, else the config's
    timezone: str
    last_digest_at: datetime | None
    next_digest_at: datetime | None
    due: bool
    state: str = "active"  # active, paused, unsubscribed, no_watchlists
    choices: ChoicesOut | None = None  # None: they chose nothing


class KeptProblemOut(_Open):
    """A row of the problems table (`scheduler.problems`): open, or recently ended."""

    key: str
    text: str
    started_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None
    start_notified_at: datetime | None
    end_notified_at: datetime | None
    notify_error: str | None
    silenced: bool


class StatusOut(_Open):
    generated_at: datetime
    database: str
    crawl: CrawlCadenceOut
    first_crawl_at: datetime | None
    sources: list[SourceOut]
    articles: ArticleCountsOut
    watchlists: list[WatchlistStatusOut]
    outbox: OutboxOut
    subscribers: list[SubscriberStatusOut]
    problems: list[str] = []
    kept_problems: list[KeptProblemOut] = []  # open first, then recently ended
