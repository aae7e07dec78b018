"""The data model shared by every stage. Imports neither Scrapy nor Twisted.

No column defaults to the wall clock: every time stored comes from the caller's clock
(store/clock.py), so a test that fixes the time gets rows that agree with it."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on every database: stored as UTC, read back as aware UTC
    (SQLite keeps no offset, PostgreSQL uses timestamptz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: newswatch stores aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StatusText(TypeDecorator[StrEnum]):
    """A status column: stored as its text (VARCHAR(16)), read back as the member of its
    StrEnum; a value that is not one of them is refused before it reaches the database."""

    impl = String(16)
    cache_ok = True

    def __init__(self, statuses: type[StrEnum]) -> None:
        super().__init__()
        self.statuses = statuses

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else self.statuses(value).value

    def process_result_value(self, value: str | None, dialect: Any) -> StrEnum | None:
        return None if value is None else self.statuses(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class Article(Base):
    """One DW article, keyed by its short id however many URLs lead to it."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    short_id: Mapped[str] = mapped_column(String(16), unique=True)
    content_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    url: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    teaser: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    captions: Mapped[list[str]] = mapped_column(default=list)
    authors: Mapped[list[str]] = mapped_column(default=list)
    topics: Mapped[list[str]] = mapped_column(default=list)
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    modified_at: Mapped[datetime | None]
    selector_fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    # the fields read from a fallback source (the DOM, not JSON-LD / __APOLLO_STATE__)
    fallbacks: Mapped[list[str]] = mapped_column(default=list)
    # the date a feed or sitemap gave this version when it was fetched: a later date refetches
    listed_at: Mapped[datetime | None]
    content_hash: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    checked_at: Mapped[datetime]
    # the updated_at this article was last matched at; older than updated_at: match again
    matched_at: Mapped[datetime | None] = mapped_column(index=True)


class CrawlStatus(StrEnum):
    """Where a crawl run stands."""

    RUNNING = "running"  # the crawl is at work (or was killed: `status` says so after a while)
    OK = "ok"  # finished, with pages to show for it
    FAILED = "failed"  # finished with errors and no page, or died before recording its outcome
    # stopped before the end: a stop signal, the crawl's time limit, a service that was killed
    INTERRUPTED = "interrupted"


class CrawlRun(Base):
    """One crawl of one source, with what it found."""

    __tablename__ = "crawl_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(100), index=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[CrawlStatus] = mapped_column(
        StatusText(CrawlStatus), default=CrawlStatus.RUNNING
    )
    pages: Mapped[int] = mapped_column(default=0)
    new: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    skipped_known: Mapped[int] = mapped_column(default=0)
    errors: Mapped[int] = mapped_column(default=0)
    selector_fallbacks: Mapped[int] = mapped_column(default=0)
    last_errors: Mapped[list[str]] = mapped_column(default=list)
    # extraction health: pages per fallback field, empty_body, no_date, no_author,
    # short_id_mismatch, median_body_length, robots_disallowed ... (crawler.crawl_run)
    extraction: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # where it ran: a scrapyd node's URL and its job id (NULL: a local subprocess)
    node: Mapped[str | None] = mapped_column(String(200))
    job_id: Mapped[str | None] = mapped_column(String(64))


class Match(Base):
    """An article that a watchlist hits, with why: terms and counts, fields, a snippet."""

    __tablename__ = "matches"
    __table_args__ = (UniqueConstraint("article_id", "watchlist"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    watchlist: Mapped[str] = mapped_column(String(100), index=True)
    terms: Mapped[dict[str, Any]] = mapped_column(default=dict)  # configured term -> hits
    fields: Mapped[list[str]] = mapped_column(default=list)
    snippet: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"text", "spans"}
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]

    article: Mapped[Article] = relationship(lazy="joined")


class WatchlistState(Base):
    """The fingerprint of each watchlist as last matched: a change re-matches that one."""

    __tablename__ = "watchlist_states"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    matched_at: Mapped[datetime]


class OutboxStatus(StrEnum):
    """Where an outbox message stands."""

    PENDING = "pending"  # waiting for its next attempt, or claimed by a sender right now
    SENT = "sent"  # the server said it took the message
    FAILED = "failed"  # refused for good, or given up after ``mail.give_up_after``
    UNCERTAIN = "uncertain"  # sent, but the server's reply was lost: it may have arrived
    # never sent: the subscriber's digest failed to render (one row each, with the error; the
    # next digest that renders removes it)
    NOT_RENDERED = "not_rendered"


class OutboxMessage(Base):
    """A rendered digest waiting to go out, or sent, or failed for good, or of unknown fate."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    status: Mapped[OutboxStatus] = mapped_column(
        StatusText(OutboxStatus), default=OutboxStatus.PENDING, index=True
    )
    attempts: Mapped[int] = mapped_column(default=0)
    # while claimed: the end of the sender's lease; otherwise when the next attempt is due
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # when a sender claimed it (None once that attempt has an outcome)
    claimed_at: Mapped[datetime | None]
    # sends whose outcome was lost: the server had the whole message, its reply never came
    lost_outcomes: Mapped[int] = mapped_column(default=0)
    # when an operator last re-queued it (`newswatch send --retry`): give_up_after counts
    # from here, else from created_at
    requeued_at: Mapped[datetime | None]
    # when an operator acknowledged it failed or uncertain (`send --acknowledge`): no longer
    # a problem for `status --check`
    acknowledged_at: Mapped[datetime | None]
    # the subscriber's one-click unsubscribe URL (RFC 8058) as the digest was built: the
    # List-Unsubscribe header at send time, so sending needs no secret; None: a mailto only
    unsubscribe_url: Mapped[str | None] = mapped_column(Text)
    # None: the email; else the chat, push or webhook channel, its URL as configured (secrets
    # as ${VARIABLE}s): `subject` is then the title, `text` the body as it is sent
    channel: Mapped[str | None] = mapped_column(Text)
    # the digest this row carries, shared by its email and channel rows (a webhook's
    # Idempotency-Key); None on rows from before channels: each is a digest of its own
    digest_id: Mapped[str | None] = mapped_column(String(64), index=True)


class Delivery(Base):
    """This subscriber has been given this match, in this digest (``message_id``: its first
    outbox row; the channel rows of the digest share its ``digest_id``): never again. Unless the
    message failed before it could reach them: then the row is *returned* (``returned_at``) and
    the match goes into their next digest, under a new Delivery row; the returned one stays as
    the record of the failed message."""

    __tablename__ = "deliveries"
    __table_args__ = (
        # one match is given to a subscriber once: in one message not returned
        Index(
            "uq_deliveries_given",
            "subscriber",
            "match_id",
            unique=True,
            sqlite_where=text("returned_at IS NULL"),
            postgresql_where=text("returned_at IS NULL"),
        ),
        Index(
            "ix_deliveries_returned",
            "subscriber",
            sqlite_where=text("returned_at IS NOT NULL"),
            postgresql_where=text("returned_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber: Mapped[str] = mapped_column(String(320))
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    returned_at: Mapped[datetime | None]


class SubscriberState(Base):
    """When each subscriber last had a digest built."""

    __tablename__ = "subscriber_states"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    last_digest_at: Mapped[datetime | None]


class SubscriberChoice(Base):
    """What a subscriber chose on their preferences page (or the operator undid): it overrides
    the config file. No row: the config as written."""

    __tablename__ = "subscriber_choices"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    # set: mailed nothing, whatever the config lists (one-click unsubscribe, the page)
    unsubscribed_at: Mapped[datetime | None]
    # set and in the future: nothing is mailed until then (the schedule moves on meanwhile)
    paused_until: Mapped[datetime | None]
    # set: instead of the config's schedule text and time zone
    schedule: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str | None] = mapped_column(String(64))
    # watchlists of the config this subscriber left
    left_watchlists: Mapped[list[str]] = mapped_column(default=list)
    updated_at: Mapped[datetime]


class AppSecret(Base):
    """Secrets newswatch generated for itself when the environment gave none (the key that
    signs subscriber links, when $NEWSWATCH_SECRET_KEY is unset)."""

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class Problem(Base):
    """A named problem the service found in itself (``scheduler.health``), from when it started
    until it ended; the operator is told once of each start and once of each end."""

    __tablename__ = "problems"
    __table_args__ = (
        # one open problem per key
        Index(
            "uq_problems_open",
            "key",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), index=True)
    text: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    start_notified_at: Mapped[datetime | None]
    end_notified_at: Mapped[datetime | None]
    notify_error: Mapped[str | None] = mapped_column(Text)


class FetchValidator(Base):
    """The validators of the last answer for a feed, sitemap or listing URL (``ETag``,
    ``Last-Modified``), sent back as ``If-None-Match`` / ``If-Modified-Since``."""

    __tablename__ = "fetch_validators"

    url: Mapped[str] = mapped_column(Text, primary_key=True)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]
