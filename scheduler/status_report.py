"""What `newswatch status` reports: a tree of frozen dataclasses, and its one JSON form.

:func:`scheduler.status_queries.collect_status` builds a :class:`StatusReport` from the
database; :mod:`scheduler.health` finds its problems and :mod:`scheduler.status_text` renders
it for people. :meth:`StatusReport.to_json` is the `status --json` object (the README documents
it): times in ISO 8601 UTC to the second, durations in seconds. Times in the tree are aware UTC
datetimes to the second, as the report shows them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from scheduler.time_text import iso
from store.models import CrawlStatus, OutboxStatus

RETRYING = "retrying"  # how status names a pending message waiting to be tried again


@dataclass(frozen=True)
class CrawlCadence:
    """``[crawl]``: ``every`` or ``cron`` (which then wins), and the interval the health rules
    measure by (``every``, or the gap between the crontab's next two fire times)."""

    every: float  # seconds
    cron: str | None
    interval: timedelta
    jitter: float  # seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "every_seconds": None if self.cron else self.every,
            "cron": self.cron,
            "interval_seconds": self.interval.total_seconds(),
            "jitter_seconds": self.jitter,
        }


@dataclass(frozen=True)
class RunFigures:
    """One crawl run: when, how it ended, and what it found."""

    started_at: datetime
    finished_at: datetime | None
    status: CrawlStatus
    pages: int
    new: int
    updated: int
    skipped_known: int
    errors: int
    selector_fallbacks: int
    last_errors: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "status": self.status.value,
            "pages": self.pages,
            "new": self.new,
            "updated": self.updated,
            "skipped_known": self.skipped_known,
            "errors": self.errors,
            "selector_fallbacks": self.selector_fallbacks,
            "last_errors": list(self.last_errors),
        }


@dataclass(frozen=True)
class SourceStatus:
    """One ``[[sources]]`` entry: its latest runs (newest first), last success, next crawl and
    warnings (:func:`scheduler.health.source_warnings`)."""

    name: str
    last_success_at: datetime | None
    # never crawled: the service crawls it as soon as it starts ("now"); None: the crontab
    # fires no more
    next_crawl_at: datetime | None
    runs: tuple[RunFigures, ...]
    warnings: tuple[str, ...]

    @property
    def never_crawled(self) -> bool:
        return not self.runs

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "last_success_at": iso(self.last_success_at),
            "next_crawl_at": "now" if self.never_crawled else iso(self.next_crawl_at),
            "runs": [run.to_json() for run in self.runs],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class ArticleCounts:
    total: int
    last_24h: int  # first seen in the 24 hours before the report

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "last_24h": self.last_24h}


@dataclass(frozen=True)
class WatchlistStatus:
    name: str
    matches: int
    undelivered: int  # given to no subscriber yet (or given back by a failed message)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "matches": self.matches, "undelivered": self.undelivered}


@dataclass(frozen=True)
class Claims:
    """Messages a sender claimed: how many, since when, and the end of their leases (for
    messages under a lease the latest; for those whose lease ran out the earliest)."""

    count: int
    since: datetime
    lease_end: datetime

    def to_json(self, lease_end_key: str) -> dict[str, Any]:
        return {"count": self.count, "since": iso(self.since), lease_end_key: iso(self.lease_end)}


@dataclass(frozen=True)
class MessageProblem:
    """A failed, uncertain or unrendered message no operator has acknowledged, or one waiting
    to be tried again (pending with an error: ``retrying``)."""

    id: int
    status: OutboxStatus
    recipient: str
    subject: str
    message_id: str
    created_at: datetime
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None  # only while retrying
    channel: str = "email"  # or the channel's label (`alerts.channel_delivery.channel_label`)

    @property
    def retrying(self) -> bool:
        return self.status == OutboxStatus.PENDING

    @property
    def shown_status(self) -> str:
        return RETRYING if self.retrying else self.status.value

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.shown_status,
            "recipient": self.recipient,
            "channel": self.channel,
            "subject": self.subject,
            "message_id": self.message_id,
            "created_at": iso(self.created_at),
            "attempts": self.attempts,
            "last_error": self.last_error,
            "next_attempt_at": iso(self.next_attempt_at),
        }


@dataclass(frozen=True)
class OutboxStatusReport:
    """The outbox: messages per status, the oldest pending one, claims by senders, matches
    given back, and the messages to show (newest first)."""

    counts: Mapping[OutboxStatus, int]  # every status, 0 included
    oldest_pending_at: datetime | None
    oldest_pending_age: timedelta | None
    claimed: Claims | None  # under a sender's lease
    stale_claims: Claims | None  # the lease ran out without an outcome: due again
    returned_matches: int  # matches failed messages gave back that no digest carried yet
    problems: tuple[MessageProblem, ...]
    retrying_not_shown: int
    acknowledged: int  # failed or uncertain, accepted by an operator
    # health.backlog_age and backlog_count: a pending message older, or more pending, is a backlog
    backlog_age: timedelta = timedelta(hours=1)
    backlog_count: int = 100

    @property
    def pending(self) -> int:
        return self.counts[OutboxStatus.PENDING]

    def to_json(self) -> dict[str, Any]:
        claimed, stale = self.claimed, self.stale_claims
        age = self.oldest_pending_age
        return {
            **{status.value: self.counts[status] for status in OutboxStatus},
            "oldest_pending_at": iso(self.oldest_pending_at),
            "oldest_pending_age_seconds": age.total_seconds() if age is not None else None,
            "claimed": claimed.to_json("lease_until") if claimed else None,
            "stale_claims": stale.to_json("lease_ran_out") if stale else None,
            "returned_matches": self.returned_matches,
            "problems": [problem.to_json() for problem in self.problems],
            "retrying_not_shown": self.retrying_not_shown,
            "acknowledged": self.acknowledged,
        }


class MailState(StrEnum):
    """Whether a subscriber is mailed, as their choices on the web make it."""

    ACTIVE = "active"
    PAUSED = "paused"  # until ``paused_until``; their schedule moves on meanwhile
    UNSUBSCRIBED = "unsubscribed"
    NO_WATCHLISTS = "no_watchlists"  # they left every watchlist the config gives them


@dataclass(frozen=True)
class ChoicesStatus:
    """What a subscriber chose on the web (their ``subscriber_choices`` row)."""

    unsubscribed_at: datetime | None
    paused_until: datetime | None
    schedule: str | None  # their own, instead of the config's
    timezone: str | None
    left_watchlists: tuple[str, ...]
    updated_at: datetime | None
    ignored: tuple[str, ...]  # stored choices that no longer apply, in words

    def to_json(self) -> dict[str, Any]:
        return {
            "unsubscribed_at": iso(self.unsubscribed_at),
            "paused_until": iso(self.paused_until),
            "schedule": self.schedule,
            "timezone": self.timezone,
            "left_watchlists": list(self.left_watchlists),
            "updated_at": iso(self.updated_at),
            "ignored": list(self.ignored),
        }


@dataclass(frozen=True)
class SubscriberStatus:
    email: str
    schedule: str  # in effect: their own choice, else the config's
    timezone: str
    last_digest_at: datetime | None
    # None for "immediate" (at every digest run), and for a subscriber who is not mailed;
    # while paused, the first slot after the pause
    next_digest_at: datetime | None
    due: bool
    state: MailState = MailState.ACTIVE
    choices: ChoicesStatus | None = None  # None: they chose nothing, the config holds
    # where the digest goes besides the email, each as `channel_label` shows it (no secret)
    channels: tuple[str, ...] = ()
    # a missed digest slot (`scheduler.health.digest_warning`): ``digest:<key>:missed``
    problems: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "channels": list(self.channels),
            "schedule": self.schedule,
            "timezone": self.timezone,
            "last_digest_at": iso(self.last_digest_at),
            "next_digest_at": iso(self.next_digest_at),
            "due": self.due,
            "state": self.state.value,
            "choices": self.choices.to_json() if self.choices else None,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class StatusReport:
    """Everything `newswatch status` shows, as of ``generated_at``."""

    generated_at: datetime
    database: str  # the URL without its password
    crawl: CrawlCadence
    first_crawl_at: datetime | None  # of any source: the health rules measure from it
    sources: tuple[SourceStatus, ...]
    articles: ArticleCounts
    watchlists: tuple[WatchlistStatus, ...]
    outbox: OutboxStatusReport
    subscribers: tuple[SubscriberStatus, ...]

    def to_json(self) -> dict[str, Any]:
        """The `status --json` object."""
        return {
            "generated_at": iso(self.generated_at),
            "database": self.database,
            "crawl": self.crawl.to_json(),
            "first_crawl_at": iso(self.first_crawl_at),
            "sources": [source.to_json() for source in self.sources],
            "articles": self.articles.to_json(),
            "watchlists": [watchlist.to_json() for watchlist in self.watchlists],
            "outbox": self.outbox.to_json(),
            "subscribers": [subscriber.to_json() for subscriber in self.subscribers],
        }
