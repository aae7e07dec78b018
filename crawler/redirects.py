"""Redirects are followed only within the source's allowed domains and never in a loop; a refused
one is an error.

Scrapy lets a ``dont_filter`` request (our feeds, sitemaps and listing pages) follow a redirect to
any host, and drops an article redirected off-site without calling its errback, so the crawl
would neither refuse the first nor report the second. An article redirected back to a URL of its
own chain (a -> b -> a) is dropped silently by the duplicate filter. Here both raise
``IgnoreRequest`` from ``process_response``: the request's errback names the URL that redirected.
"""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware, RedirectMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.utils.httpobj import urlparse_cached
from w3lib.url import canonicalize_url


class _OnSite:
    crawler: Any

    def process_response(
        self, request: Request, response: Response, spider: Any = None
    ) -> Request | Response:
        result = super().process_response(request, response)  # type: ignore[misc]
        if isinstance(result, Request) and not self._allowed(result):
            raise IgnoreRequest(f"redirect to another host refused: {result.url}")
        if isinstance(result, Request):
            chain = result.meta.get("redirect_urls", [])
            if canonicalize_url(result.url) in {canonicalize_url(url) for url in chain}:
                raise IgnoreRequest(f"redirect loop: {' -> '.join([*chain, result.url])}"[:300])
        return result

    def _allowed(self, request: Request) -> bool:
        domains = [d.lower() for d in getattr(self.crawler.spider, "allowed_domains", None) or []]
        host = (urlparse_cached(request).hostname or "").lower()
        return not domains or any(host == d or host.endswith("." + d) for d in domains)


class OnSiteRedirectMiddleware(_OnSite, RedirectMiddleware):
    """HTTP 3xx redirects, within the allowed domains only."""


class OnSiteMetaRefreshMiddleware(_OnSite, MetaRefreshMiddleware):
    """``<meta http-equiv="refresh">`` redirects, within the allowed domains only.

    Scrapy looks for the tag in the page's first 4,096 characters, but decodes the whole page
    to get them (``response.text``), and the spider's parser decodes it again. A page whose
    first bytes cannot hold the word is passed on undecoded: at most 4 bytes a character, so
    4,096 characters are within the first 16 KB; a NUL there (UTF-16 or UTF-32) means the
    bytes do not spell it in ASCII, and Scrapy's own reading decides."""

    def process_response(
        self, request: Request, response: Response, spider: Any = None
    ) -> Request | Response:
        head = response.body[:_HEAD_BYTES]
        # bytes.lower() and a plain search: an IGNORECASE regex walked the 16 KB a byte at a
        # time (about 6 % of a crawl's reactor thread, measured)
        if b"\x00" not in head and b"refresh" not in head.lower():
            return response
        return super().process_response(request, response, spider)


_HEAD_BYTES = 4 * 4096  # Scrapy's get_meta_refresh reads the first 4,096 characters
