"""The offline DW-shaped sample site: articles in both DW layouts, RDF/RSS feeds, sitemaps and a
listing page, served on loopback by ``DemoServer``. Used by ``newswatch demo``, tests and bench."""

from __future__ import annotations

from typing import Any

from demo.articles import Caption, DemoArticle, demo_articles
from demo.site import DemoSite, Response
from demo.synthetic import synthetic_articles

__all__ = [
    "Caption",
    "DemoArticle",
    "DemoServer",
    "DemoSite",
    "RequestLog",
    "Response",
    "Route",
    "demo_articles",
    "synthetic_articles",
]


def __getattr__(name: str) -> Any:
    # demo.server is imported on first use, so ``python -m demo.server`` runs it only once
    if name in ("DemoServer", "RequestLog", "Route"):
        from demo import server

        return getattr(server, name)
    raise AttributeError(f"module 'demo' has no attribute {name!r}")
