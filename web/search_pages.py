"""``/search?q=``: stored articles by words, "phrases" and prefix* over title, teaser and body
(`store.search`: SQLite FTS5 or PostgreSQL full-text search), hits highlighted, paged. An
empty query shows the form, one with nothing to search for a friendly line; neither is an
error. Readers as for the archive."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from store.dw_ids import short_url
from store.search import SearchQueryError, SearchResults, search_articles
from web.access import Access
from web.api_models import SearchHitOut, Segment
from web.context import WebContext
from web.paging import MAX_PAGE, Pager
from web.templating import render

QUERY_MAX = 2000  # longer is refused here; store.search says why for anything shorter


def hit_models(results: SearchResults) -> list[SearchHitOut]:
    return [
        SearchHitOut(
            short_id=hit.short_id,
            url=short_url(hit.short_id),
            title=[Segment(text=text, hit=is_hit) for text, is_hit in hit.title],
            snippet=[Segment(text=text, hit=is_hit) for text, is_hit in hit.snippet],
            language=hit.language,
            published_at=hit.published_at,
            first_seen_at=hit.first_seen_at,
        )
        for hit in results.hits
    ]


def routes(context: WebContext, access: Access) -> APIRouter:
    router = APIRouter(include_in_schema=False, dependencies=[Depends(access.reader("page"))])

    @router.get("/search")
    def search(
        request: Request,
        q: Annotated[str, Query(max_length=QUERY_MAX)] = "",
        page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    ) -> Response:
        pager = Pager(page)
        hits: list[SearchHitOut] = []
        total, problem = 0, None
        if q.strip():
            try:
                with context.db.session() as session:
                    results = search_articles(session, q, limit=pager.per_page, offset=pager.offset)
                hits, total = hit_models(results), results.total
            except SearchQueryError as error:
                problem = str(error)
        return render(
            request,
            "search.html",
            query=q,
            hits=hits,
            total=total,
            problem=problem,
            page=page,
            pages=pager.pages(total),
        )

    return router
