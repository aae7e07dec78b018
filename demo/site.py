"""The demo site: which request path answers with which page, feed or redirect.

``DemoSite(articles, base_url).respond("/en/…/a-18879446?maca=…")`` returns a ``Response``
(status, headers, body). Pages are rendered on first request and kept; feeds, sitemaps and listing
pages are rebuilt after ``add_article`` / ``update_article``. Every link points at ``base_url``
except permalinks, which stay ``https://p.dw.com/p/<short id>`` as on DW.

``set_drift(True)`` serves the pages redesigned (``demo.drift``: renamed CSS classes) until
``set_drift(False)``.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from demo import chrome, feeds
from demo.articles import DemoArticle
from demo.drift import drifted
from demo.render import Page, PageContext, render_article, render_listing

HTML = "text/html; charset=utf-8"
XML = "text/xml; charset=utf-8"
_ARTICLE = re.compile(r"^(?:/amp)?(?:/([a-z]{2}))?(?:/[^/]+)?/(a|av)-(\d{1,12})/?$")
_SHORT = re.compile(r"^/p/([0-9A-Za-z]{1,12})/?$")
_FEED = re.compile(r"^/(rdf|xml)/rss-([a-z]{2})-(?:all|news)$")
_NEWSLETTER_MACA = "{lang}-newsletter_{lang}_bulletin-2091-html-newsletter"


class Response(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


class DemoSite:
    """The DW-shaped sample site for a list of articles, served under ``base_url``."""

    def __init__(
        self,
        articles: list[DemoArticle],
        base_url: str = "http://127.0.0.1",
        listing_size: int = 60,
    ) -> None:
        self._lock = threading.RLock()
        self._articles = {a.content_id: a for a in articles}
        self._base_url = base_url.rstrip("/")
        self.listing_size = listing_size
        self._pages: dict[int, Page] = {}
        self._documents: dict[str, Response] = {}
        self._by_language: dict[str, list[DemoArticle]] = {}
        self._position: dict[int, int] = {}
        self._by_short_id: dict[str, DemoArticle] = {}
        self._drift: tuple[bool, bool] = (False, True)  # (redesigned, with its scripts)
        self._reindex()

    # -- the articles -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self._base_url

    def set_base_url(self, base_url: str) -> None:
        """Serve under another address (the server's, once its port is known)."""
        with self._lock:
            self._base_url = base_url.rstrip("/")
            self._pages.clear()
            self._documents.clear()

    @property
    def articles(self) -> list[DemoArticle]:
        """All articles, newest first."""
        return sorted(self._articles.values(), key=lambda a: a.published_at, reverse=True)

    def article(self, content_id: int) -> DemoArticle:
        return self._articles[content_id]

    def add_article(self, article: DemoArticle) -> None:
        """Publish another article: it appears in feeds, sitemaps and the listing page."""
        with self._lock:
            self._articles[article.content_id] = article
            self._pages.pop(article.content_id, None)
            self._reindex()

    def update_article(self, content_id: int, **changes: object) -> DemoArticle:
        """Change an article's fields; ``modified_at`` moves forward unless given."""
        with self._lock:
            old = self._articles[content_id]
            if "modified_at" not in changes:
                now = datetime.now(UTC).replace(microsecond=0)
                changes["modified_at"] = max(now, old.modified_at + timedelta(seconds=1))
            new = replace(old, **changes)  # type: ignore[arg-type]
            self._articles[content_id] = new
            self._pages.pop(content_id, None)
            self._reindex()
            return new

    # -- the drift variant (demo.drift) -------------------------------------------------------
    @property
    def drifting(self) -> bool:
        """Whether pages are served redesigned (``set_drift``)."""
        return self._drift[0]

    def set_drift(self, on: bool, scripts: bool = True, redate: bool = True) -> None:
        """Serve every page redesigned from now on (``on``), or as before; ``scripts=False``
        also leaves out the pages' ``<script>`` elements. ``redate`` moves every article's
        ``modified_at`` forward so the next crawl fetches each page again."""
        with self._lock:
            self._drift = (on, scripts)
            if redate:
                for content_id in list(self._articles):
                    self.update_article(content_id)

    def _reindex(self) -> None:
        self._documents.clear()
        self._by_language = {}
        for article in self.articles:
            self._by_language.setdefault(article.language, []).append(article)
        self._position = {
            a.content_id: i for group in self._by_language.values() for i, a in enumerate(group)
        }
        self._by_short_id = {a.short_id: a for a in self._articles.values()}

    # -- requests -----------------------------------------------------------------------------
    def respond(self, target: str) -> Response:
        """The response to a GET of ``target`` (path with optional query)."""
        path = unquote(urlsplit(target).path) or "/"
        found = _ARTICLE.match(path)
        if found:
            return self._article_response(found.group(1), found.group(2), int(found.group(3)))
        short = _SHORT.match(path)
        if short:
            article = self._by_short_id.get(short.group(1))
            if article is None:
                return not_found()
            return redirect(self.base_url + article.canonical_path, status=301)
        if path == "/":
            return redirect(self.base_url + chrome.HOME["en"][0], status=301)
        cached = self._documents.get(path)
        if cached is None:
            cached = self._document(path)
            if cached.status == 200:  # an ETag for conditional requests (the server answers 304)
                etag = '"' + hashlib.sha1(cached.body).hexdigest()[:20] + '"'
                cached = cached._replace(headers=cached.headers | {"ETag": etag})
                self._documents[path] = cached
        return cached

    def page(self, article: DemoArticle) -> bytes:
        """The rendered HTML of an article's page."""
        chunks = self._pages.get(article.content_id)
        if chunks is None:
            chunks = render_article(article, self._context(article))
            self._pages[article.content_id] = chunks
        redesigned, scripts = self._drift
        page = b"".join(chunks)
        return drifted(page, scripts) if redesigned else page

    def _article_response(self, language: str | None, suffix: str, content_id: int) -> Response:
        article = self._articles.get(content_id)
        if article is None or article.id_suffix.split("-")[0] != suffix:
            return not_found()
        if language and language != article.language:
            return not_found()
        return Response(200, _headers(HTML, article.modified_at), self.page(article))

    def _context(self, article: DemoArticle) -> PageContext:
        group = self._by_language.get(article.language, [])
        start = self._position.get(article.content_id, 0)
        others = [group[(start + step) % len(group)] for step in range(1, min(6, len(group)))]
        video = self._articles.get(article.video_teaser_id or -1)
        if article.layout != "old" or article.kind == "video":
            video = None
        return PageContext(self.base_url, tuple(others), video)

    def _document(self, path: str) -> Response:
        with self._lock:
            articles = self.articles
        if not articles:
            return not_found()
        newest = max(a.modified_at for a in articles)
        if path == "/robots.txt":
            return Response(
                200, _headers("text/plain; charset=utf-8", newest), feeds.robots_txt(self.base_url)
            )
        sitemaps = feeds.sitemap_paths(articles)
        if path == "/sitemap.xml":
            return Response(
                200, _headers(XML, newest), feeds.sitemap_index(sitemaps, self.base_url)
            )
        if path in sitemaps:
            group = sitemaps[path]
            body = feeds.news_sitemap(group, self.base_url)
            return Response(200, _headers(XML, max(a.modified_at for a in group)), body)
        found = _FEED.match(path)
        if found and found.group(2) in self._by_language:
            group = self._by_language[found.group(2)]
            latest = max(a.modified_at for a in group)
            build = feeds.rdf_feed if found.group(1) == "rdf" else feeds.rss_feed
            return Response(
                200, _headers(XML, latest), build(found.group(2), group, self.base_url, latest)
            )
        for language, (home_path, _) in chrome.HOME.items():
            if path == home_path and language in self._by_language:
                return self._listing(language)
        return not_found()

    def _listing(self, language: str) -> Response:
        group = self._by_language[language][: self.listing_size]
        maca = _NEWSLETTER_MACA.format(lang=language)
        variants = [
            lambda a: a.canonical_path,
            lambda a: a.old_path,
            lambda a: f"{a.canonical_path}?maca={maca}",
            lambda a: a.amp_path,
        ]
        teasers = [(a, variants[i % len(variants)](a)) for i, a in enumerate(group)]
        updated = max(a.modified_at for a in group)
        chunks = render_listing(language, teasers, self.base_url, updated)
        return Response(200, _headers(HTML, updated), b"".join(chunks))


def redirect(location: str, status: int = 301) -> Response:
    body = f'<html><body>Moved: <a href="{location}">{location}</a></body></html>'.encode()
    return Response(status, {"Location": location, "Content-Type": HTML}, body)


def not_found() -> Response:
    body = (
        b"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body>"
        b"<h1>Page not found</h1></body></html>"
    )
    return Response(404, {"Content-Type": HTML}, body)


def _headers(content_type: str, modified: datetime) -> dict[str, str]:
    return {"Content-Type": content_type, "Last-Modified": format_datetime(modified, usegmt=True)}
