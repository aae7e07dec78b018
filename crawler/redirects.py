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
    """``<meta http-equiv="refresh">`` redirects, within the allowed domains only."""
