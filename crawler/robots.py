"""robots.txt the way RFC 9309 reads it: 5xx means "disallow all" for this crawl.

Scrapy's own middleware parses whatever body a 5xx answer carries, which fails open."""

from __future__ import annotations

import logging

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.http import Response
from scrapy.http.request import Request

log = logging.getLogger(__name__)
DISALLOW_ALL = b"User-agent: *\nDisallow: /\n"


class StrictRobotsTxtMiddleware(RobotsTxtMiddleware):
    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        if response.status >= 500:
            log.warning(
                "robots.txt of %s answered %s: disallowing the host for this crawl",
                netloc,
                response.status,
            )
            response = response.replace(body=DISALLOW_ALL)
        elif response.status >= 400:  # no robots.txt: everything is allowed
            response = response.replace(body=b"")
        await super()._parse_robots(response, netloc, request)
