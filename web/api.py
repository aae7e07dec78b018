"""The JSON API under ``/api/`` (schema at ``/api/openapi.json``): the archive's articles and
matches, search, and the status report. Every query parameter is bounded, so no input makes a
500: a bad one is 422 (FastAPI's validation), an unknown watchlist or article 404, a query
with nothing to search for 400, a missing token 401. Readers as for the archive; ``status``
as for the dashboard (`web.access`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from store.search import SearchQueryError, search_articles
from web.access import Access
from web.api_models import ArticleDetail, ArticlePage, ErrorOut, MatchPage, SearchPage
from web.archive_queries import article_detail, articles_page, matches_page
from web.context import WebContext
from web.dashboard import read_status
from web.errors import PageError
from web.paging import MAX_PAGE, PER_PAGE, Pager
from web.search_pages import QUERY_MAX, hit_models
from web.status_models import StatusOut

PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE, description="1 is the newest")]
PerPage = Annotated[int, Query(ge=1, le=100)]
WatchlistName = Annotated[str | None, Query(max_length=100, description="a configured name")]
UNAUTHORISED: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut}}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}}


def routes(context: WebContext, access: Access) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["archive"], responses=UNAUTHORISED)
    reader = [Depends(access.reader("json"))]
    names = [watchlist.name for watchlist in context.watchlists]

    def watchlists_of(watchlist: str | None) -> list[str]:
        if watchlist is None:
            return names
        if watchlist not in names:
            raise PageError(404, "No such watchlist", f"no watchlist is called {watchlist!r}")
        return [watchlist]

    @router.get("/articles", dependencies=reader, responses=NOT_FOUND)
    def articles(
        page: PageNumber = 1, per_page: PerPage = PER_PAGE, watchlist: WatchlistName = None
    ) -> ArticlePage:
        """Stored articles, newest first; with ``watchlist`` only those it matched."""
        if watchlist is not None:
            watchlists_of(watchlist)
        pager = Pager(page, per_page)
        with context.db.session() as session:
            items, total = articles_page(
                session, watchlist, offset=pager.offset, limit=pager.per_page
            )
        return ArticlePage(items=items, page=page, per_page=per_page, total=total)

    @router.get("/articles/{short_id}", dependencies=reader, responses=NOT_FOUND)
    def article(short_id: str) -> ArticleDetail:
        """One stored article: its text, and which watchlists matched it and why."""
        with context.db.session() as session:
            found = article_detail(session, short_id, names)
        if found is None:
            raise PageError(404, "No such article", f"no article {short_id!r} is stored")
        return found

    @router.get("/matches", dependencies=reader, responses=NOT_FOUND)
    def matches(
        page: PageNumber = 1, per_page: PerPage = PER_PAGE, watchlist: WatchlistName = None
    ) -> MatchPage:
        """Matches of the configured watchlists (or one), newest first."""
        pager = Pager(page, per_page)
        with context.db.session() as session:
            items, total = matches_page(
                session, watchlists_of(watchlist), offset=pager.offset, limit=pager.per_page
            )
        return MatchPage(items=items, page=page, per_page=per_page, total=total)

    @router.get("/search", dependencies=reader, responses={400: {"model": ErrorOut}})
    def search(
        q: Annotated[str, Query(min_length=1, max_length=QUERY_MAX)],
        page: PageNumber = 1,
        per_page: PerPage = PER_PAGE,
    ) -> SearchPage:
        """Articles with every word of ``q`` ("phrases", prefix*), best first, hits marked."""
        pager = Pager(page, per_page)
        try:
            with context.db.session() as session:
                results = search_articles(session, q, limit=per_page, offset=pager.offset)
        except SearchQueryError as error:
            raise PageError(400, "Nothing to search for", str(error)) from None
        return SearchPage(
            query=q, items=hit_models(results), page=page, per_page=per_page, total=results.total
        )

    @router.get(
        "/status",
        tags=["operator"],
        dependencies=[Depends(access.operator("json"))],
        responses={503: {"model": ErrorOut}},
    )
    def status() -> StatusOut:
        """`newswatch status --json` as of now (the operator's token beyond loopback)."""
        return read_status(context)

    return router
