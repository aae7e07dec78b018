"""The archive as pages: the home page, every watchlist with its counts, one watchlist's
matches (newest first, paged, highlighted as in the digest), and one stored article with
which watchlists matched it and why. Open on loopback or when ``[web] public``; else the
operator's token (`web.access`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from web.access import Access
from web.archive_queries import article_detail, feed_path, matches_page, watchlist_summaries
from web.context import WebContext
from web.errors import PageError
from web.paging import MAX_PAGE, Pager
from web.templating import render

PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]


def routes(context: WebContext, access: Access) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    readers = APIRouter(include_in_schema=False, dependencies=[Depends(access.reader("page"))])
    names = [watchlist.name for watchlist in context.watchlists]

    @router.get("/")
    def home(request: Request) -> Response:
        return render(request, "home.html")

    @readers.get("/watchlists")
    def watchlists(request: Request) -> Response:
        with context.db.session() as session:
            summaries = watchlist_summaries(session, names)
        return render(request, "watchlists.html", watchlists=summaries)

    @readers.get("/watchlists/{name}")
    def watchlist(request: Request, name: str, page: PageNumber = 1) -> Response:
        if name not in names:
            raise PageError(404, "No such watchlist", f"No watchlist is called {name!r}.")
        pager = Pager(page)
        with context.db.session() as session:
            matches, total = matches_page(
                session, [name], offset=pager.offset, limit=pager.per_page
            )
        return render(
            request,
            "watchlist.html",
            name=name,
            matches=matches,
            total=total,
            page=page,
            pages=pager.pages(total),
            feed=feed_path(name),
        )

    @readers.get("/articles/{short_id}")
    def article(request: Request, short_id: str) -> Response:
        with context.db.session() as session:
            found = article_detail(session, short_id, names)
        if found is None:
            raise PageError(404, "No such article", f"No article {short_id!r} is stored.")
        return render(request, "article.html", article=found)

    router.include_router(readers)
    return router
