"""The web face of newswatch: `create_app` builds the FastAPI app from a `WebContext` (the
composition root, `web.server`, serves it with uvicorn).

FastAPI because its typed routes give the JSON API an exact OpenAPI schema from the same
pydantic models the pages render, on Starlette, whose ASGI middleware carries the security
headers; pages are server-rendered Jinja2 and work without JavaScript. The routes live in
modules named for what they hold:

* `web.subscriber_pages`: ``/unsubscribe/{token}``, ``/preferences/{token}`` (signed links)
* `web.archive_pages`: ``/``, ``/watchlists``, ``/watchlists/{name}``, ``/articles/{short_id}``
* `web.search_pages`: ``/search``
* `web.feeds`: ``/watchlists/{name}/feed.atom``
* `web.dashboard`: ``/status``, ``/login``, ``/logout``
* `web.api`: ``/api/...``; the schema at ``/api/openapi.json``
"""

from __future__ import annotations

# anyio imports its file module on first use: the first static file served would import it in
# the server's thread, through whatever import hooks are installed, racing the main thread's
# own compiling (under pytest, whose hook rewrites anyio as a plugin, that failed once in
# clean-clone CI with CPython 3.11's spurious "AST constructor recursion depth mismatch",
# python/cpython gh-106905); imported here, with the app, instead
from anyio import open_file as _open_file  # noqa: F401
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from web import api, archive_pages, dashboard, feeds, search_pages, subscriber_pages
from web.access import Access
from web.context import WebContext
from web.errors import install_error_handlers
from web.security import FormTokens, SecurityHeaders
from web.templating import STATIC


def create_app(context: WebContext) -> FastAPI:
    app = FastAPI(
        title="newswatch",
        summary="Deutsche Welle articles matching watchlists: the archive, search, status",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    access = Access(context)
    app.include_router(subscriber_pages.routes(context, FormTokens(context.links, context.clock)))
    app.include_router(archive_pages.routes(context, access))
    app.include_router(search_pages.routes(context, access))
    app.include_router(feeds.routes(context, access))
    app.include_router(dashboard.routes(context, access))
    app.include_router(api.routes(context, access))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_error_handlers(app)
    app.add_middleware(SecurityHeaders)
    return app
