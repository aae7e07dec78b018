"""Which undelivered matches each due subscriber's digest gets (`undelivered_matches`).

A first digest holds articles published (or listed by a feed) in the last 24 hours: no flood of
the archive. Later ones hold articles published since 24 hours before the previous digest, and
those newswatch found only after it (a crawl outage, a slow feed) if DW published them within
the last week. Matches a failed message gave back (`alerts.outbox`) are held whatever their age,
marked late. A match already given to the subscriber, and not given back, is never a candidate.

The JSON of a Match row (terms, fields, snippet) becomes typed values here, where it is loaded.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from alerts.config import SubscriberConfig
from alerts.snippets import Snippet
from store.models import Article, Delivery, Match

__all__ = [
    "LATE_FIND",
    "LOOKBACK",
    "Candidate",
    "CandidateArticle",
    "DueSubscriber",
    "chunks",
    "undelivered_matches",
]

# a digest never reaches further back than this before the previous one (or now, the first)
LOOKBACK = timedelta(hours=24)
# an article found after the previous digest is still news if DW published it this recently
LATE_FIND = timedelta(days=7)
# rows per IN (...) list: far below any database's limit on bound parameters
_CHUNK = 500
_Item = TypeVar("_Item")


@dataclass(frozen=True, slots=True)
class DueSubscriber:
    """A subscriber whose digest is due, with their state as read."""

    subscriber: SubscriberConfig
    known: bool  # has a SubscriberState row
    last_digest_at: datetime | None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A match with the article columns a digest shows: what the candidate query loads."""

    id: int
    watchlist: str
    terms: tuple[str, ...]  # the configured terms hit, as the Match row lists them
    snippet: Snippet | None
    article_id: int
    article: CandidateArticle
    late: bool = False  # given back by a message that failed: due in an earlier digest
    fields: tuple[str, ...] = ()  # where the terms hit: "title", "teaser", "body", "topics"


@dataclass(frozen=True, slots=True)
class CandidateArticle:
    short_id: str
    title: str
    teaser: str
    language: str | None
    published_at: datetime | None
    first_seen_at: datetime
    recent: datetime  # as `_recent` in SQL: the date the digest window is checked against


def chunks(items: Sequence[_Item]) -> Iterator[Sequence[_Item]]:
    """`items` a few hundred at a time, for IN (...) lists."""
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def undelivered_matches(
    session: Session, due: Sequence[DueSubscriber], now: datetime
) -> dict[str, list[Candidate]]:
    """For each subscriber, the matches of their watchlists not yet given to them, newest first.

    One query loads the candidates of all the subscribers (they share watchlists) in the
    union of their windows, one more the deliveries among them; each subscriber's own window
    is then applied here, with the same rules (`_window` and `_in_window`)."""
    found: dict[str, list[Candidate]] = {each.subscriber.key: [] for each in due}
    if not due:
        return found
    watchlists = sorted({name for each in due for name in each.subscriber.watchlists})
    published = func.coalesce(Article.published_at, Article.first_seen_at)
    recent = _recent(published)
    # every subscriber's window lies within one of these: an earlier previous digest only
    # widens both of `_window`'s conditions
    lasts = [each.last_digest_at for each in due if each.last_digest_at is not None]
    windows = [_window(recent, min(lasts), now)] if lasts else []
    if len(lasts) < len(due):
        windows.append(_window(recent, None, now))
    where = (Match.watchlist.in_(watchlists), or_(*windows))
    columns = (
        Match.id,
        Match.watchlist,
        Match.terms,
        Match.fields,
        Match.snippet,
        Match.article_id,
        Article.short_id,
        Article.title,
        Article.teaser,
        Article.language,
        Article.published_at,
        Article.first_seen_at,
        recent,
    )
    query = (
        select(*columns)
        .join(Match.article)
        .where(*where)
        .order_by(published.desc(), Article.id.desc())
    )
    candidates = _candidates(session, query)
    emails = list(found)
    returned = _returned(session, emails)
    known = {candidate.id for candidate in candidates}
    missing = sorted({m for ids in returned.values() for m in ids} - known)
    if missing:  # returned matches outside every window: loaded by id
        for ids in chunks(missing):
            candidates += _candidates(
                session, select(*columns).join(Match.article).where(Match.id.in_(ids))
            )
        candidates.sort(key=_newest_first)
    if not candidates:
        return found
    delivered: set[tuple[str, int]] = set()
    for chunk in chunks(emails):
        rows = session.execute(
            select(Delivery.subscriber, Delivery.match_id).where(
                Delivery.subscriber.in_(chunk),
                Delivery.match_id.in_(select(Match.id).join(Match.article).where(*where)),
                Delivery.returned_at.is_(None),
            )
        )
        delivered.update(rows.all())
    by_watchlist: dict[str, list[tuple[int, Candidate]]] = {}
    for position, candidate in enumerate(candidates):
        by_watchlist.setdefault(candidate.watchlist, []).append((position, candidate))
    for each in due:
        email = each.subscriber.key
        late = returned.get(email, set())
        names = set(each.subscriber.watchlists)
        mine = [hit for name in names for hit in by_watchlist.get(name, ())]
        mine.sort(key=itemgetter(0))  # back in the query's order: newest first
        found[email] = [
            replace(c, late=True) if c.id in late else c
            for _, c in mine
            if (c.id in late or _in_window(c.article, each.last_digest_at, now))
            and (email, c.id) not in delivered
        ]
    return found


def _candidates(session: Session, query: Select[Any]) -> list[Candidate]:
    return [
        Candidate(
            match_id,
            watchlist,
            tuple(terms),
            Snippet.from_dict(snippet) if snippet else None,
            article_id,
            CandidateArticle(short, title, teaser, language, published_at, first_seen, when),
            fields=tuple(fields or ()),
        )
        for (
            match_id,
            watchlist,
            terms,
            fields,
            snippet,
            article_id,
            short,
            title,
            teaser,
            language,
            published_at,
            first_seen,
            when,
        ) in session.execute(query)
    ]


def _newest_first(candidate: Candidate) -> tuple[float, int]:
    """The candidate query's order (published, then article id, both descending)."""
    article = candidate.article
    moment = article.published_at or article.first_seen_at
    return (-moment.timestamp(), -candidate.article_id)


def _returned(session: Session, emails: list[str]) -> dict[str, set[int]]:
    """The matches failed messages gave back to each of ``emails``, not given anew since."""
    given = aliased(Delivery)
    again = exists().where(
        given.subscriber == Delivery.subscriber,
        given.match_id == Delivery.match_id,
        given.returned_at.is_(None),
    )
    returned: dict[str, set[int]] = {}
    for chunk in chunks(emails):
        rows = session.execute(
            select(Delivery.subscriber, Delivery.match_id).where(
                Delivery.subscriber.in_(chunk),
                Delivery.returned_at.is_not(None),
                ~again,
            )
        )
        for email, match_id in rows:
            returned.setdefault(email, set()).add(match_id)
    return returned


def _recent(published: ColumnElement[datetime]) -> ColumnElement[datetime]:
    # old-layout pages give only the day; the feed's date for the article is more exact
    return case((Article.listed_at > published, Article.listed_at), else_=published)


def _window(
    recent: ColumnElement[datetime], last_digest_at: datetime | None, now: datetime
) -> ColumnElement[bool]:
    if last_digest_at is None:
        return recent >= now - LOOKBACK
    found_late = and_(Article.first_seen_at > last_digest_at, recent >= now - LATE_FIND)
    return or_(recent >= last_digest_at - LOOKBACK, found_late)


def _in_window(article: CandidateArticle, last_digest_at: datetime | None, now: datetime) -> bool:
    """`_window`, in Python, for one loaded candidate."""
    if last_digest_at is None:
        return article.recent >= now - LOOKBACK
    if article.recent >= last_digest_at - LOOKBACK:
        return True
    return article.first_seen_at > last_digest_at and article.recent >= now - LATE_FIND
