"""The match stage: Match rows for stored articles against the current watchlists.

(`alerts.matcher` finds hits in a text; this module keeps the database's Match rows true to
them, and reads them back for `newswatch articles`.)

An article is matched when it is new or its content changed (``matched_at`` older than
``updated_at``). A watchlist whose definition changed (its fingerprint) re-matches the stored
articles for that watchlist only: new hits become Match rows, undelivered matches that no longer
hold are dropped, delivered ones stay as history. Running it twice changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Exists, Select, delete, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts.matcher import ArticleText, Matcher, WatchlistHit
from alerts.snippets import Snippet
from alerts.watchlists import WatchlistConfig
from store.db import Database
from store.models import Article, Delivery, Match, WatchlistState

BATCH = 500
log = logging.getLogger(__name__)


@dataclass
class MatchedArticle:
    short_id: str
    title: str
    terms: dict[str, int]  # configured term -> occurrences
    snippet: Snippet


@dataclass
class WatchlistReport:
    name: str
    new: list[MatchedArticle] = field(default_factory=list)
    changed: int = 0
    dropped: int = 0


@dataclass
class MatchReport:
    articles_checked: int = 0
    rematched_watchlists: list[str] = field(default_factory=list)
    watchlists: dict[str, WatchlistReport] = field(default_factory=dict)

    def for_watchlist(self, name: str) -> WatchlistReport:
        return self.watchlists.setdefault(name, WatchlistReport(name))


def article_text(article: Article) -> ArticleText:
    return ArticleText(
        title=article.title,
        teaser=article.teaser,
        body=article.body,
        topics=list(article.topics),
        language=article.language,
    )


def match_articles(
    db: Database,
    watchlists: Sequence[WatchlistConfig],
    *,
    now: datetime,
    since: datetime | None = None,
    only: str | None = None,
    dry_run: bool = False,
) -> MatchReport:
    """Bring Match rows up to date as of ``now``; ``only`` limits to one watchlist, ``since``
    to new articles first seen after it (a changed watchlist is always re-matched against every
    stored article); ``dry_run`` reports without writing. When another match run (the service, a
    `newswatch match`) stored the same matches first, this one starts over once."""
    try:
        return _match_once(db, watchlists, now=now, since=since, only=only, dry_run=dry_run)
    except IntegrityError:
        log.info("another match run stored the same matches first; matching again")
        return _match_once(db, watchlists, now=now, since=since, only=only, dry_run=dry_run)


def _match_once(
    db: Database,
    watchlists: Sequence[WatchlistConfig],
    *,
    now: datetime,
    since: datetime | None,
    only: str | None,
    dry_run: bool,
) -> MatchReport:
    selected = [w for w in watchlists if only is None or w.name == only]
    report = MatchReport()
    for watchlist in selected:
        report.for_watchlist(watchlist.name)
    with db.session() as session:
        changed = _changed_watchlists(session, selected)
        report.rematched_watchlists = [w.name for w in changed]
        if changed:
            rematch = Matcher(changed)
            for batch in _batches(session, select(Article), None):
                _apply(session, rematch, changed, batch, report, now, mark_matched=False)
        if only is None:
            _forget_removed_watchlists(session, {w.name for w in watchlists})
        stale = select(Article).where(
            or_(Article.matched_at.is_(None), Article.matched_at < Article.updated_at)
        )
        matcher = Matcher(selected) if selected else None
        for batch in _batches(session, stale, since):
            report.articles_checked += len(batch)
            if matcher is not None:
                _apply(session, matcher, selected, batch, report, now, mark_matched=only is None)
        for watchlist in changed:
            session.merge(
                WatchlistState(
                    name=watchlist.name, fingerprint=watchlist.fingerprint(), matched_at=now
                )
            )
        if dry_run:
            session.rollback()
        else:
            session.commit()
    return report


def _changed_watchlists(
    session: Session, watchlists: Sequence[WatchlistConfig]
) -> list[WatchlistConfig]:
    known = dict(session.execute(select(WatchlistState.name, WatchlistState.fingerprint)).all())
    return [w for w in watchlists if known.get(w.name) != w.fingerprint()]


def _forget_removed_watchlists(session: Session, current: set[str]) -> None:
    removed = [n for n in session.scalars(select(WatchlistState.name)) if n not in current]
    for name in removed:
        session.execute(
            delete(Match)
            .where(Match.watchlist == name, ~_delivered())
            .execution_options(synchronize_session=False)
        )
        session.execute(delete(WatchlistState).where(WatchlistState.name == name))


def _delivered() -> Exists:
    return exists().where(Delivery.match_id == Match.id)


def _batches(
    session: Session, query: Select[Article], since: datetime | None
) -> Iterator[list[Article]]:
    """Articles in id order, a batch at a time, so memory stays flat on large databases."""
    if since is not None:
        query = query.where(Article.first_seen_at >= since)
    last_id = 0
    while True:
        batch = list(
            session.scalars(query.where(Article.id > last_id).order_by(Article.id).limit(BATCH))
        )
        if not batch:
            return
        yield batch
        last_id = batch[-1].id


def _apply(
    session: Session,
    matcher: Matcher,
    watchlists: Sequence[WatchlistConfig],
    articles: list[Article],
    report: MatchReport,
    now: datetime,
    *,
    mark_matched: bool,
) -> None:
    """Match one batch and make its Match rows say exactly that, for these watchlists."""
    names = [w.name for w in watchlists]
    existing = {
        (m.article_id, m.watchlist): m
        for m in session.scalars(
            select(Match).where(
                Match.article_id.in_([a.id for a in articles]), Match.watchlist.in_(names)
            )
        )
    }
    delivered = set(
        session.scalars(
            select(Delivery.match_id).where(
                Delivery.match_id.in_([m.id for m in existing.values()])
            )
        )
    )
    for article in articles:
        hits = {hit.watchlist: hit for hit in matcher.match(article_text(article))}
        for name in names:
            _reconcile(session, article, name, hits.get(name), existing, delivered, report, now)
        if mark_matched:
            article.matched_at = article.updated_at
    session.flush()


def _reconcile(
    session: Session,
    article: Article,
    name: str,
    hit: WatchlistHit | None,
    existing: dict[tuple[int, str], Match],
    delivered: set[int],
    report: MatchReport,
    now: datetime,
) -> None:
    match = existing.get((article.id, name))
    watch = report.for_watchlist(name)
    if hit is None:
        if match is not None and match.id not in delivered:
            session.delete(match)
            watch.dropped += 1
        return
    terms, fields, snippet = dict(hit.terms), list(hit.fields), hit.snippet.to_dict()
    if match is None:
        session.add(
            Match(
                article_id=article.id,
                watchlist=name,
                terms=terms,
                fields=fields,
                snippet=snippet,
                created_at=now,
                updated_at=now,
            )
        )
        watch.new.append(MatchedArticle(article.short_id, article.title, terms, hit.snippet))
    elif (match.terms, match.fields, match.snippet) != (terms, fields, snippet):
        match.terms, match.fields, match.snippet = terms, fields, snippet
        match.updated_at = now
        watch.changed += 1


def matches_of(session: Session, article_id: int) -> list[Match]:
    return list(
        session.scalars(select(Match).where(Match.article_id == article_id).order_by(Match.id))
    )


def match_json(match: Match) -> dict[str, Any]:
    """A match as `newswatch articles --watchlist --json` prints it; ``terms`` lists the
    distinct configured terms hit."""
    return {
        "watchlist": match.watchlist,
        "terms": list(match.terms),
        "fields": list(match.fields),
        "snippet": match.snippet,
    }
