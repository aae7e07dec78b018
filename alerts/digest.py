"""Building digests: each due subscriber's undelivered matches become one outbox message.

The OutboxMessage, its Delivery rows and the subscriber's state are written in one
transaction, so a crash leaves either a complete digest waiting to be sent or nothing at all;
the unique (subscriber, match) of Delivery means no match is ever put in two messages.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from email.utils import make_msgid, parseaddr
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, exists, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defaultload

from alerts.config import MailConfig, SubscriberConfig
from alerts.render import Digest, DigestRenderer, Entry, Group
from alerts.schedules import parse_schedule
from alerts.snippets import Snippet
from store.db import Database
from store.dw_ids import DW_TIMEZONE, short_url
from store.models import Article, Delivery, Match, OutboxMessage, SubscriberState, utcnow

log = logging.getLogger(__name__)
# a digest never reaches further back than this before the previous one (or now, the first)
LOOKBACK = timedelta(hours=24)
# an article found after the previous digest is still news if DW published it this recently
LATE_FIND = timedelta(days=7)


@dataclass(frozen=True)
class BuiltDigest:
    recipient: str
    subject: str
    articles: int
    outbox_id: int


def build_digests(
    db: Database,
    subscribers: Sequence[SubscriberConfig],
    mail: MailConfig,
    *,
    now: datetime | None = None,
    force: bool = False,
    renderer: DigestRenderer | None = None,
) -> list[BuiltDigest]:
    """A digest for every subscriber who is due (or every one, with ``force``)."""
    now = now or utcnow()
    renderer = renderer or DigestRenderer(mail.templates or None)
    built = []
    for subscriber in subscribers:
        try:
            digest = _build_one(db, subscriber, mail, renderer, now=now, force=force)
        except IntegrityError:  # another builder took these matches first: they are sent once
            log.warning("digest for %s was built concurrently; skipped", subscriber.email)
            continue
        if digest is not None:
            built.append(digest)
    return built


def _build_one(
    db: Database,
    subscriber: SubscriberConfig,
    mail: MailConfig,
    renderer: DigestRenderer,
    *,
    now: datetime,
    force: bool,
) -> BuiltDigest | None:
    schedule = parse_schedule(subscriber.schedule, subscriber.timezone)
    with db.session() as session:
        state = session.get(SubscriberState, subscriber.email) or SubscriberState(
            email=subscriber.email, last_digest_at=None
        )
        if not force and not schedule.is_due(now, state.last_digest_at):
            return None
        matches = undelivered_matches(session, subscriber, state.last_digest_at, now)
        state.last_digest_at = now
        session.add(state)
        if not matches:  # no empty digests; the schedule still moves on
            session.commit()
            return None
        digest = digest_view(subscriber, matches, _address(mail.sender))
        rendered = renderer.render(digest)
        message = OutboxMessage(
            message_id=make_msgid("digest", domain=_domain(mail.sender)),
            recipient=subscriber.email,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            status="pending",
            created_at=now,
            next_attempt_at=now,
        )
        session.add(message)
        session.flush()
        session.execute(
            insert(Delivery),
            [
                {"subscriber": subscriber.email, "match_id": m.id, "message_id": message.id}
                for m in matches
            ],
        )
        session.commit()
        log.info("digest for %s: %s", subscriber.email, rendered.subject)
        return BuiltDigest(subscriber.email, rendered.subject, digest.total, message.id)


def undelivered_matches(
    session: Session, subscriber: SubscriberConfig, last_digest_at: datetime | None, now: datetime
) -> list[Match]:
    """Matches of the subscriber's watchlists not yet given to them, newest first.

    A first digest holds articles published (or listed by a feed) in the last 24 hours: no
    flood of the archive. Later ones hold articles published since 24 hours before the previous
    digest, and those newswatch found only after it (a crawl outage, a slow feed) if DW
    published them within the last week."""
    delivered = exists().where(
        Delivery.match_id == Match.id, Delivery.subscriber == subscriber.email
    )
    published = func.coalesce(Article.published_at, Article.first_seen_at)
    # old-layout pages give only the day; the feed's date for the article is more exact
    recent = case((Article.listed_at > published, Article.listed_at), else_=published)
    query = (
        select(Match)
        .join(Match.article)
        .options(defaultload(Match.article).defer(Article.body).defer(Article.captions))
        .where(
            Match.watchlist.in_(subscriber.watchlists),
            ~delivered,
            _window(recent, last_digest_at, now),
        )
        .order_by(published.desc(), Article.id.desc())
    )
    return list(session.scalars(query).unique())


def _window(recent: Any, last_digest_at: datetime | None, now: datetime) -> Any:
    if last_digest_at is None:
        return recent >= now - LOOKBACK
    found_late = and_(Article.first_seen_at > last_digest_at, recent >= now - LATE_FIND)
    return or_(recent >= last_digest_at - LOOKBACK, found_late)


def digest_view(subscriber: SubscriberConfig, matches: Sequence[Match], sender: str) -> Digest:
    """Group by watchlist in the subscriber's order; an article that several watchlists hit
    appears once, under the first, tagged with all."""
    zone = ZoneInfo(subscriber.timezone)
    by_article: dict[int, list[Match]] = {}
    for match in matches:
        by_article.setdefault(match.article_id, []).append(match)
    order = {name: index for index, name in enumerate(subscriber.watchlists)}
    groups: dict[str, list[Entry]] = {name: [] for name in subscriber.watchlists}
    for hits in by_article.values():
        hits.sort(key=lambda m: order[m.watchlist])
        groups[hits[0].watchlist].append(_entry(hits, zone))
    return Digest(
        recipient=subscriber.email,
        timezone=subscriber.timezone,
        groups=[Group(name, entries) for name, entries in groups.items() if entries],
        unsubscribe_address=sender,
    )


def _entry(hits: list[Match], zone: ZoneInfo) -> Entry:
    article = hits[0].article
    snippet = Snippet.from_dict(hits[0].snippet) if hits[0].snippet else None
    # a snippet that is the title is shown as the title, highlighted, not repeated below it
    in_title = snippet is not None and snippet.text == article.title
    title_marked = snippet.segments() if snippet and in_title else [(article.title, False)]
    if in_title:
        snippet = None
    moment = article.published_at or article.first_seen_at
    terms: list[str] = []
    for match in hits:
        terms += [term for term in match.terms if term not in terms]
    return Entry(
        title=article.title,
        title_marked=title_marked,
        url=short_url(article.short_id),
        language=article.language or "?",
        published=local_time(moment, zone),
        teaser=article.teaser,
        snippet=snippet.segments() if snippet else [],
        snippet_text=snippet.highlighted("[", "]") if snippet else "",
        watchlists=[match.watchlist for match in hits],
        terms=terms,
    )


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    """The time in the subscriber's zone; a date alone where DW gave only the day (old-layout
    pages are dated at midnight in Berlin)."""
    if moment.astimezone(DW_TIMEZONE).time() == time(0, 0):
        return moment.astimezone(DW_TIMEZONE).strftime("%d %b %Y")
    return moment.astimezone(zone).strftime("%d %b %Y %H:%M %Z")


def _address(sender: str) -> str:
    return parseaddr(sender)[1] or sender


def _domain(sender: str) -> str:
    return _address(sender).rpartition("@")[2] or "newswatch.localhost"
