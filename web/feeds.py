"""A watchlist as an Atom feed (feedgen): one entry per match, newest first.

An entry's id is the article's DW permalink (``https://p.dw.com/p/{short_id}``, stable however
many URLs lead to it), its link the same, its title the article's, its summary the match's
snippet, and its ``updated`` the stored article's ``updated_at``, so a feed reader shows an
article again when DW changes it. The feed's own ``updated`` is the newest of those (the
clock's time for an empty feed: feedgen would read the wall clock). Scraped text may hold
characters XML cannot carry; they are dropped rather than failing the feed.

Readers: as the archive (`web.access`), or anyone with the watchlist's feed token
(``?token=``, shown on the dashboard), so a feed reader needs no operator token."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from feedgen.feed import FeedGenerator
from sqlalchemy.orm import Session

from web.access import Access, Unauthorised
from web.api_models import MatchOut
from web.archive_queries import feed_path, matches_page
from web.context import WebContext
from web.errors import PageError

FEED_ENTRIES = 50
ATOM = "application/atom+xml; charset=utf-8"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


def atom_feed(context: WebContext, session: Session, watchlist: str) -> bytes:
    matches, _ = matches_page(session, [watchlist], offset=0, limit=FEED_ENTRIES)
    base = context.links.base_url
    feed = FeedGenerator()
    page = f"{base}/watchlists/{quote(watchlist, safe='')}"
    feed.id(page)
    feed.title(xml_text(f"newswatch: {watchlist}"))
    feed.subtitle(xml_text(f"Deutsche Welle articles matching the watchlist {watchlist}"))
    feed.link(href=f"{base}{feed_path(watchlist)}", rel="self", type="application/atom+xml")
    feed.link(href=page, rel="alternate", type="text/html")
    feed.updated(max((m.article_updated_at for m in matches), default=context.clock()))
    for match in reversed(matches):  # feedgen puts each new entry first
        _entry(feed, match)
    return feed.atom_str(pretty=True)  # type: ignore[no-any-return]


def _entry(feed: FeedGenerator, match: MatchOut) -> None:
    entry = feed.add_entry()
    entry.id(match.url)
    entry.title(xml_text(match.title) or match.short_id)
    entry.link(href=match.url, rel="alternate")
    entry.updated(match.article_updated_at)
    entry.published(match.published_at or match.created_at)
    entry.summary(xml_text(match.snippet.text))
    for term in match.terms:
        entry.category(term=xml_text(term) or "?")


def routes(context: WebContext, access: Access) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    names = {watchlist.name for watchlist in context.watchlists}

    @router.get("/watchlists/{name}/feed.atom")
    def watchlist_feed(
        request: Request,
        name: str,
        token: Annotated[str | None, Query(max_length=500)] = None,
    ) -> Response:
        if not access.may_read_feed(request, name, token):
            raise Unauthorised("feed", "this feed needs the operator's token")
        if name not in names:
            raise PageError(404, "No such watchlist", f"No watchlist is called {name!r}.")
        with context.db.session() as session:
            body = atom_feed(context, session, name)
        return Response(body, media_type=ATOM)

    return router
