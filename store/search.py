"""Full-text search over stored articles' title, teaser and body, one interface for SQLite and
PostgreSQL (what /search and the API show).

The query is parsed once into terms (store.search_query), never passed on as typed. The index
is the database's own (migration 0004): an FTS5 table kept in step by triggers on SQLite, a GIN
index over ``to_tsvector('simple', title || ' ' || teaser || ' ' || body)`` on PostgreSQL, which
this module queries through that very expression (``POSTGRES_DOCUMENT``) so the planner can use
the index. Highlighting is the database's too, with two control characters as markers split into
``(text, is_hit)`` pieces: the page escapes the text, no markup ever comes from the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, Text, bindparam, column, func, literal_column, select, table, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnClause

from store.models import Article
from store.search_query import (
    HIT_END,
    HIT_START,
    Pieces,
    SearchQueryError,
    fts5_match,
    highlighted_pieces,
    parse_query,
    postgres_tsquery,
    query_words,
)

__all__ = [
    "MAX_LIMIT",
    "POSTGRES_DOCUMENT",
    "SEARCH_INDEXES",
    "SEARCH_TABLES",
    "SearchHit",
    "SearchQueryError",
    "SearchResults",
    "in_the_models",
    "search_articles",
]

if TYPE_CHECKING:
    from alembic.runtime.environment import NameFilterParentNames, NameFilterType

# the tables of the SQLite FTS5 index (migration 0004): not in the models, so schema comparisons
# (alembic's compare_metadata) must leave them out
SEARCH_TABLES = frozenset(
    {
        "articles_fts",
        "articles_fts_config",
        "articles_fts_data",
        "articles_fts_docsize",
        "articles_fts_idx",
    }
)
# PostgreSQL's search index, an expression index alembic reflects but the models do not declare
SEARCH_INDEXES = frozenset({"ix_articles_search"})
# exactly the expression of PostgreSQL's ix_articles_search: another expression is a full scan
POSTGRES_DOCUMENT = "to_tsvector('simple'::regconfig, title || ' ' || teaser || ' ' || body)"

MAX_LIMIT = 100
MAX_OFFSET = 10_000  # a page further than this is empty (no one pages that far; it costs a scan)
SNIPPET_TOKENS = 32  # FTS5 allows at most 64
ELLIPSIS = "…"
MARKERS = {"start": HIT_START, "end": HIT_END, "ellipsis": ELLIPSIS}
# bm25 weights of title, teaser, body: a word in the title says more about the article
BM25_WEIGHTS = (5.0, 2.0, 1.0)
_HEADLINE_QUOTED = f'StartSel="{HIT_START}", StopSel="{HIT_END}"'  # unquoted, PG drops them
PG_TITLE_OPTIONS = f"{_HEADLINE_QUOTED}, HighlightAll=true"
PG_SNIPPET_OPTIONS = (
    f"{_HEADLINE_QUOTED}, MaxWords=20, MinWords=10, ShortWord=0, MaxFragments=2, "
    f'FragmentDelimiter=" {ELLIPSIS} "'
)


def in_the_models(
    name: str | None, type_: NameFilterType, parent_names: NameFilterParentNames
) -> bool:
    """Alembic's ``include_name`` for comparing a database with the models: everything but the
    search index's tables (SQLite) and index (PostgreSQL), which migration 0004 makes in SQL."""
    if type_ == "table":
        return name not in SEARCH_TABLES
    if type_ == "index":
        return name not in SEARCH_INDEXES
    return True


@dataclass(frozen=True)
class SearchHit:
    """One article found, as a results page lists it."""

    short_id: str
    title: Pieces  # the whole title in (text, is_hit) pieces
    snippet: Pieces  # a few dozen words of teaser or body around the hits, in pieces
    language: str | None
    published_at: datetime | None
    first_seen_at: datetime


@dataclass(frozen=True)
class SearchResults:
    """One page of what a query found."""

    query: str
    hits: list[SearchHit]
    total: int  # every matching article, for paging


def search_articles(
    session: Session, query: str, *, limit: int = 20, offset: int = 0
) -> SearchResults:
    """The stored articles that contain every term of ``query``, best first (bm25 on SQLite,
    ts_rank on PostgreSQL; newest published first among equals), ``limit`` (1 to 100) from
    ``offset``, with the number of all of them. Raises SearchQueryError for a query with no
    word in it."""
    terms = parse_query(query)
    limit = max(1, min(limit, MAX_LIMIT))
    offset = max(0, offset)
    if session.get_bind().dialect.name == "sqlite":
        total, hits = _search_sqlite(session, fts5_match(terms), limit, offset)
    else:
        total, hits = _search_postgres(session, postgres_tsquery(terms), limit, offset)
    return SearchResults(query=query, hits=hits, total=total)


_FTS = table("articles_fts", column("rowid", Integer))
_FTS_MATCHES = text("articles_fts MATCH :q")
_FTS_TABLE: ColumnClause[Any] = literal_column("articles_fts")
_SIMPLE: ColumnClause[Any] = literal_column("'simple'::regconfig")
_PG_QUERY = func.to_tsquery(literal_column("'simple'"), bindparam("q", type_=Text))
_PG_MATCHES = literal_column(POSTGRES_DOCUMENT).op("@@")(_PG_QUERY)
# ranked with the title above the teaser above the body, as bm25's weights on SQLite
_PG_RANK = func.ts_rank(
    func.setweight(func.to_tsvector(_SIMPLE, Article.title), literal_column("'A'"))
    .op("||")(func.setweight(func.to_tsvector(_SIMPLE, Article.teaser), literal_column("'B'")))
    .op("||")(func.setweight(func.to_tsvector(_SIMPLE, Article.body), literal_column("'D'"))),
    _PG_QUERY,
)
_NEWEST_FIRST = (Article.published_at.desc().nulls_last(), Article.id.desc())


def _search_sqlite(
    session: Session, match: str, limit: int, offset: int
) -> tuple[int, list[SearchHit]]:
    found = _FTS.join(Article, Article.id == _FTS.c.rowid)
    params = {"q": match}
    total = session.execute(
        select(func.count()).select_from(found).where(_FTS_MATCHES), params
    ).scalar_one()
    if offset > MAX_OFFSET:
        return total, []
    rank = func.bm25(_FTS_TABLE, *(literal_column(str(w)) for w in BM25_WEIGHTS))
    page = list(
        session.scalars(
            select(Article.id)
            .select_from(found)
            .where(_FTS_MATCHES)
            .order_by(rank, *_NEWEST_FIRST)
            .limit(limit)
            .offset(offset),
            params,
        )
    )
    if not page:
        return total, []
    # highlight() and snippet() for the page's rows only: over every match they would read
    # each body
    start, end, ellipsis = (bindparam(n, v, type_=Text) for n, v in MARKERS.items())
    rows = session.execute(
        select(
            Article.id,
            Article.short_id,
            Article.language,
            Article.published_at,
            Article.first_seen_at,
            Article.teaser,
            func.highlight(_FTS_TABLE, 0, start, end),
            func.snippet(_FTS_TABLE, 1, start, end, ellipsis, SNIPPET_TOKENS),
            func.snippet(_FTS_TABLE, 2, start, end, ellipsis, SNIPPET_TOKENS),
        )
        .select_from(found)
        .where(_FTS_MATCHES, _FTS.c.rowid.in_(page)),
        params,
    ).all()
    hits = {
        row[0]: SearchHit(
            short_id=row.short_id,
            title=highlighted_pieces(row[6]),
            snippet=highlighted_pieces(_best_snippet(row.teaser, row[7], row[8]).strip()),
            language=row.language,
            published_at=row.published_at,
            first_seen_at=row.first_seen_at,
        )
        for row in rows
    }
    return total, [hits[i] for i in page if i in hits]


def _best_snippet(teaser: str, teaser_snippet: str, body_snippet: str) -> str:
    """The snippet with more hits, the teaser's among equals; with none, the teaser's start (or
    the body's when there is no teaser)."""
    teaser_hits, body_hits = teaser_snippet.count(HIT_START), body_snippet.count(HIT_START)
    if body_hits > teaser_hits or (not teaser_hits and not teaser.strip()):
        return body_snippet
    return teaser_snippet


def _search_postgres(
    session: Session, tsquery: str, limit: int, offset: int
) -> tuple[int, list[SearchHit]]:
    params = {"q": tsquery}
    total = session.execute(
        select(func.count()).select_from(Article).where(_PG_MATCHES), params
    ).scalar_one()
    if offset > MAX_OFFSET:
        return total, []
    # ts_headline for the page's rows only (the subquery's LIMIT comes first)
    page = (
        select(
            Article.id,
            Article.short_id,
            Article.language,
            Article.published_at,
            Article.first_seen_at,
            Article.title,
            Article.teaser,
            Article.body,
            _PG_RANK.label("rank"),
        )
        .where(_PG_MATCHES)
        .order_by(_PG_RANK.desc(), *_NEWEST_FIRST)
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )
    text_of = page.c.teaser.op("||")(literal_column("' '")).op("||")(page.c.body)
    edge: ColumnClause[Any] = literal_column(str(_EDGE_CHARS))
    rows = session.execute(
        select(
            page.c.short_id,
            page.c.language,
            page.c.published_at,
            page.c.first_seen_at,
            func.ts_headline(_SIMPLE, page.c.title, _PG_QUERY, PG_TITLE_OPTIONS).label("title"),
            func.ts_headline(_SIMPLE, text_of, _PG_QUERY, PG_SNIPPET_OPTIONS).label("snippet"),
            func.left(text_of, edge).label("text_start"),
            func.right(text_of, edge).label("text_end"),
        ).order_by(page.c.rank.desc(), page.c.published_at.desc().nulls_last(), page.c.id.desc()),
        params,
    ).all()
    return total, [
        SearchHit(
            short_id=row.short_id,
            title=highlighted_pieces(row.title),
            snippet=highlighted_pieces(_with_ellipses(row.snippet, row.text_start, row.text_end)),
            language=row.language,
            published_at=row.published_at,
            first_seen_at=row.first_seen_at,
        )
        for row in rows
    ]


_EDGE_CHARS = 200  # of the text, to tell whether a headline starts at its start, ends at its end
_EDGE_WORDS = 2


def _with_ellipses(headline: str, text_start: str, text_end: str) -> str:
    """A PostgreSQL headline with "…" where it leaves text out before or after (as FTS5's
    snippet does): ts_headline cuts fragments without saying so."""
    headline = headline.strip()
    words = [w for w, _ in query_words(headline.replace(HIT_START, " ").replace(HIT_END, " "))]
    if not words:
        return ""
    first = [w for w, _ in query_words(text_start)][:_EDGE_WORDS]
    last = [w for w, _ in query_words(text_end)][-_EDGE_WORDS:]
    before = "" if words[:_EDGE_WORDS] == first else ELLIPSIS
    after = "" if words[-_EDGE_WORDS:] == last else ELLIPSIS
    return before + headline + after
