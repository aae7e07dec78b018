"""The demo site's discovery documents: RDF and RSS feeds, sitemaps and robots.txt.

Shaped like DW's: the RDF (RSS 1.0) feed carries ``dwsyn:contentID`` and ``dc:date``; the RSS 2.0
feed carries ``<guid isPermaLink="false">`` with the content id, RFC-822 dates, CRLF line ends and
DW's ``atom:link`` whose prefix is never declared (strict XML parsers reject it; parse leniently).
Feed and sitemap dates are the articles' last modification, so a changed article shows as newer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from demo import chrome
from demo.articles import DemoArticle
from demo.render import ENV

RDF_FEED_NUMBER = 1573
RSS_FEED_NUMBER = 1119
SITEMAP_CHUNK = 1000
DESCRIPTIONS = {"en": "English Homepage", "de": "Deutsch Themen", "ru": "Новости"}


@dataclass(frozen=True)
class FeedItem:
    article: DemoArticle
    link: str
    date: str
    published: str = ""


def rdf_maca(language: str) -> str:
    return f"{language}-rss-{language}-all-{RDF_FEED_NUMBER}-rdf"


def rss_maca(language: str) -> str:
    return f"{language}-rss-{language}-all-{RSS_FEED_NUMBER}-xml-mrss"


def w3c_date(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _newest_first(articles: list[DemoArticle]) -> list[DemoArticle]:
    return sorted(articles, key=lambda a: (a.modified_at, a.content_id), reverse=True)


def _channel(language: str, base_url: str, maca: str) -> dict[str, object]:
    home_path, _ = chrome.HOME.get(language, chrome.HOME["en"])
    return {
        "lang": language,
        "base": base_url,
        "home_path": home_path,
        "maca": maca,
        "description": DESCRIPTIONS.get(language, language),
    }


def rdf_feed(language: str, articles: list[DemoArticle], base_url: str, updated: datetime) -> bytes:
    """``/rdf/rss-<language>-all``: RSS 1.0 with ``?maca=`` item links."""
    maca = rdf_maca(language)
    items = [
        FeedItem(a, f"{base_url}{a.canonical_path}?maca={maca}", w3c_date(a.modified_at))
        for a in _newest_first(articles)
    ]
    values = _channel(language, base_url, maca) | {
        "items": items,
        "updated": w3c_date(updated),
        "feed_number": RDF_FEED_NUMBER,
    }
    return ENV.get_template("feeds/rdf.xml").render(values).encode()


def rss_feed(language: str, articles: list[DemoArticle], base_url: str, updated: datetime) -> bytes:
    """``/xml/rss-<language>-all``: RSS 2.0 like DW's (guid = content id, undeclared atom:)."""
    maca = rss_maca(language)
    items = [
        FeedItem(a, f"{base_url}{a.canonical_path}?maca={maca}", _rfc822(a.modified_at))
        for a in _newest_first(articles)
    ]
    values = _channel(language, base_url, maca) | {
        "items": items,
        "updated": _rfc822(updated),
        "year": updated.year,
    }
    text = ENV.get_template("feeds/rss.xml").render(values)
    return text.replace("\n", "\r\n").encode()


def sitemap_paths(articles: list[DemoArticle]) -> dict[str, list[DemoArticle]]:
    """News sitemaps by path (``/sitemaps/news-en-1.xml``), at most SITEMAP_CHUNK URLs each."""
    by_language: dict[str, list[DemoArticle]] = {}
    for article in _newest_first(articles):
        by_language.setdefault(article.language, []).append(article)
    paths = {}
    for language, group in sorted(by_language.items()):
        for start in range(0, len(group), SITEMAP_CHUNK):
            number = start // SITEMAP_CHUNK + 1
            paths[f"/sitemaps/news-{language}-{number}.xml"] = group[start : start + SITEMAP_CHUNK]
    return paths


def sitemap_index(chunks: dict[str, list[DemoArticle]], base_url: str) -> bytes:
    """``/sitemap.xml``: one entry per news sitemap, with its newest ``lastmod``."""
    sitemaps = [
        (base_url + path, w3c_date(max(a.modified_at for a in group)))
        for path, group in chunks.items()
    ]
    return ENV.get_template("feeds/sitemap_index.xml").render(sitemaps=sitemaps).encode()


def news_sitemap(articles: list[DemoArticle], base_url: str) -> bytes:
    items = [
        FeedItem(a, base_url + a.canonical_path, w3c_date(a.modified_at), w3c_date(a.published_at))
        for a in articles
    ]
    return ENV.get_template("feeds/news_sitemap.xml").render(items=items).encode()


def robots_txt(base_url: str) -> bytes:
    return f"User-agent: *\nAllow: /\n\nSitemap: {base_url}/sitemap.xml\n".encode()


def _rfc822(when: datetime) -> str:
    return format_datetime(when, usegmt=True)
