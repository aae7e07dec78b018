"""The archive's reads: watchlists with their counts, matches newest first, articles, one
article with why it matched. Pages and the JSON API both call these (one query path)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any
from urllib.parse import quote

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from store.dw_ids import short_url
from store.models import Article, Match
from web.api_models import ArticleDetail, ArticleSummary, MatchOut, SnippetOut, WatchlistOut
from web.highlight import clean_spans

# an article's age: when DW published it, else when the crawl first saw it
_newest = func.coalesce(Article.published_at, Article.first_seen_at)


def feed_path(watchlist: str) -> str:
    return f"/watchlists/{quote(watchlist, safe='')}/feed.atom"


def watchlist_summaries(session: Session, names: Sequence[str]) -> list[WatchlistOut]:
    """Each configured watchlist (in config order) with its match count and last match."""
    rows = session.execute(
        select(Match.watchlist, func.count(Match.id), func.max(Match.created_at))
        .where(Match.watchlist.in_(list(names)))
        .group_by(Match.watchlist)
    ).all()
    found = {name: (count, last) for name, count, last in rows}
    summaries = []
    for name in names:
        count, last = found.get(name, (0, None))
        if last is not None and last.tzinfo is None:  # max() bypasses the column type
            last = last.replace(tzinfo=UTC)
        summaries.append(
            WatchlistOut(name=name, matches=count, last_match_at=last, feed=feed_path(name))
        )
    return summaries


def _terms(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {str(term): int(n) if isinstance(n, int) else 0 for term, n in value.items()}


def _snippet(value: Any, article: Article) -> SnippetOut:
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        text = value["text"]
        return SnippetOut(text=text, spans=clean_spans(text, value.get("spans") or []))
    return SnippetOut(text=article.teaser or article.title, spans=[])


def match_out(match: Match) -> MatchOut:
    article = match.article
    return MatchOut(
        watchlist=match.watchlist,
        short_id=article.short_id,
        title=article.title,
        url=short_url(article.short_id),
        terms=_terms(match.terms),
        fields=[str(field) for field in match.fields or []],
        snippet=_snippet(match.snippet, article),
        created_at=match.created_at,
        updated_at=match.updated_at,
        article_updated_at=article.updated_at,
        published_at=article.published_at,
    )


def _summary_fields(article: Article) -> dict[str, Any]:
    return {
        "short_id": article.short_id,
        "url": short_url(article.short_id),
        "source_url": article.url,
        "title": article.title,
        "teaser": article.teaser,
        "language": article.language,
        "kind": article.kind,
        "published_at": article.published_at,
        "modified_at": article.modified_at,
        "first_seen_at": article.first_seen_at,
        "updated_at": article.updated_at,
    }


def _count(session: Session, query: Select[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def matches_page(
    session: Session, watchlists: Sequence[str], *, offset: int, limit: int
) -> tuple[list[MatchOut], int]:
    """Matches of these watchlists, newest first, and how many there are in all."""
    wanted = Match.watchlist.in_(list(watchlists))
    total = _count(session, select(Match.id).where(wanted))
    # one match run makes many matches at one time: among them the newest article first
    rows = session.scalars(
        select(Match)
        .join(Article, Article.id == Match.article_id)
        .where(wanted)
        .order_by(Match.created_at.desc(), _newest.desc(), Match.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return [match_out(match) for match in rows], total


def articles_page(
    session: Session, watchlist: str | None, *, offset: int, limit: int
) -> tuple[list[ArticleSummary], int]:
    """Stored articles newest first (by publication, else first seen); with ``watchlist``
    only those it matched."""
    ids = select(Article.id)
    if watchlist is not None:
        ids = ids.where(
            Article.id.in_(select(Match.article_id).where(Match.watchlist == watchlist))
        )
    total = _count(session, ids)
    rows = session.scalars(
        select(Article)
        .where(Article.id.in_(ids))
        .order_by(_newest.desc(), Article.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return [ArticleSummary(**_summary_fields(article)) for article in rows], total


def article_detail(
    session: Session, short_id: str, watchlists: Sequence[str]
) -> ArticleDetail | None:
    """One stored article with the matches of the configured ``watchlists``."""
    article = session.scalar(select(Article).where(Article.short_id == short_id))
    if article is None:
        return None
    order = {name: index for index, name in enumerate(watchlists)}
    matches = session.scalars(
        select(Match).where(Match.article_id == article.id, Match.watchlist.in_(list(order)))
    ).all()
    return ArticleDetail(
        **_summary_fields(article),
        body=article.body,
        captions=list(article.captions or []),
        authors=list(article.authors or []),
        topics=list(article.topics or []),
        matches=[match_out(m) for m in sorted(matches, key=lambda m: order[m.watchlist])],
    )
