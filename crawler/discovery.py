"""Discovery: feeds (RDF / RSS 1.0, RSS 2.0, Atom), sitemaps and listing pages -> listed articles.

Every listed article is reduced to DW's content id before anything is requested. No Scrapy import.
Feeds are parsed leniently (DW's Russian feed uses an undeclared ``atom:`` prefix) and never
expand entities: a DOCTYPE is dropped before parsing, so an entity bomb costs nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin

from lxml import etree
from selectolax.lexbor import LexborHTMLParser

from crawler.dw import ref_from_url
from crawler.dw_dates import dw_datetime

_DOCTYPE = re.compile(rb"<!DOCTYPE[^\[>]*(\[.*?\])?\s*>", re.DOTALL | re.IGNORECASE)
_DIGITS = re.compile(r"^\s*(\d{1,12})\s*$")
# what urljoin changes in an absolute http(s) URL: params, an empty query or fragment, an IPv6
# host it checks, white space it drops, a missing host it takes from the base
_JOIN_CHANGES = re.compile(r"[;?#\[\]\s]|^https?://(?:/|$)")


class FeedError(ValueError):
    """A feed or sitemap that cannot be read at all."""


@dataclass(frozen=True)
class ListedArticle:
    """An article a feed, sitemap or listing page lists: where, its content id and kind, and the
    date that index gives it."""

    url: str
    content_id: int
    kind: str
    listed_at: datetime | None = None


@dataclass
class Discovered:
    articles: list[ListedArticle]
    sitemaps: list[str]  # further sitemaps named by a sitemap index
    skipped: int = 0  # entries that name no DW content (no link, no id)


def _xml_root(body: bytes) -> etree._Element:
    """Parse XML leniently with no entity expansion, no network and no DTD."""
    body = _DOCTYPE.sub(b"", body[:4096]) + body[4096:] if b"<!DOCTYPE" in body[:4096] else body
    if b"<!ENTITY" in body:
        raise FeedError("feed declares entities; refused")
    parser = etree.XMLParser(
        recover=True, resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as error:
        raise FeedError(f"not XML: {error}") from None
    if root is None:
        raise FeedError("not XML: empty document")
    return root


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in element if _local(child.tag) == name]


def _text(element: etree._Element, *names: str) -> str | None:
    for name in names:
        for child in _children(element, name):
            if child.text and child.text.strip():
                return child.text.strip()
    return None


def parse_date(value: str | None) -> datetime | None:
    """ISO 8601 (``dc:date``, sitemap ``lastmod``) or RFC 822 (RSS ``pubDate``), timezone-aware;
    a time without offset is Berlin local time, as on DW's pages (``crawler.dw_dates``)."""
    return dw_datetime(value)


def _listed(url: str | None, id_text: str | None, date: str | None) -> ListedArticle | None:
    ref = ref_from_url(url) if url else None
    explicit = _DIGITS.match(id_text or "")
    if explicit:
        content_id = int(explicit.group(1))
    elif ref is not None:
        content_id = ref.content_id
    else:
        return None
    if not url:
        return None  # an id alone gives nothing to fetch
    return ListedArticle(url, content_id, ref.kind if ref else "article", parse_date(date))


def newest(articles: list[ListedArticle], limit: int) -> tuple[list[ListedArticle], int]:
    """At most ``limit`` articles, the newest by the date their index gives (undated ones last,
    in document order), and how many were left out."""
    if len(articles) <= limit:
        return articles, 0
    by_date = sorted(
        articles,
        key=lambda c: (c.listed_at is None, -c.listed_at.timestamp() if c.listed_at else 0.0),
    )
    return by_date[:limit], len(articles) - limit


def read_feed(body: bytes, base_url: str = "") -> Discovered:
    """Items of an RDF (RSS 1.0), RSS 2.0 or Atom feed. The id comes from ``dwsyn:contentID``,
    a non-permalink ``guid`` or the link; items without a usable link are skipped."""
    root = _xml_root(body)
    found = Discovered([], [])
    for item in root.iter():
        name = _local(item.tag)
        if name not in ("item", "entry"):
            continue
        link = _text(item, "link") or _atom_link(item) or item.get(_RDF_ABOUT)
        guid = _text(item, "contentid") or _non_permalink_guid(item)
        date = _text(item, "date", "pubdate", "updated", "published", "modified")
        listed = _listed(urljoin(base_url, link) if link else None, guid, date)
        if listed is None:
            found.skipped += 1
        else:
            found.articles.append(listed)
    return found


_RDF_ABOUT = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about"


def _atom_link(item: etree._Element) -> str | None:
    for link in _children(item, "link"):
        if link.get("href") and link.get("rel", "alternate") == "alternate":
            return link.get("href")
    return None


def _non_permalink_guid(item: etree._Element) -> str | None:
    for guid in _children(item, "guid"):
        if guid.get("isPermaLink", "true").lower() == "false" and guid.text:
            return guid.text
    return None


def read_sitemap(body: bytes, base_url: str = "") -> Discovered:
    """A sitemap index (-> further sitemaps) or a (news) sitemap (-> articles)."""
    root = _xml_root(body)
    found = Discovered([], [])
    for entry in root:
        name = _local(entry.tag)
        location = _text(entry, "loc")
        if not location:
            continue
        location = _joined(base_url, location)
        if name == "sitemap":
            found.sitemaps.append(location)
        elif name == "url":
            date = _text(entry, "lastmod") or _news_date(entry)
            listed = _listed(location, None, date)
            if listed is None:
                found.skipped += 1
            else:
                found.articles.append(listed)
    return found


def _news_date(entry: etree._Element) -> str | None:
    for news in _children(entry, "news"):
        date = _text(news, "publication_date")
        if date:
            return date
    return None


def _joined(base_url: str, location: str) -> str:
    """``urljoin(base_url, location)``, without the call where it would return ``location``
    as it is (a plain absolute http(s) URL: a fifth of the time a sitemap entry costs)."""
    if (
        location.startswith(("http://", "https://"))
        and location.isascii()
        and not _JOIN_CHANGES.search(location)
    ):
        return location
    return urljoin(base_url, location)


def read_listing(html: bytes | str, base_url: str) -> Discovered:
    """Article links of a listing page (section front, topic page), each once."""
    tree = LexborHTMLParser(html)
    found = Discovered([], [])
    seen: set[int] = set()
    for anchor in tree.css("a[href]"):
        href = anchor.attributes.get("href") or ""
        if href.startswith(("javascript:", "mailto:", "#")):
            continue
        url = urljoin(base_url, href)
        listed = _listed(url, None, None)
        if listed is not None and listed.content_id not in seen:
            seen.add(listed.content_id)
            found.articles.append(listed)
    return found
