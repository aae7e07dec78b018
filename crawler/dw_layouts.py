"""Field readers for DW's two page layouts; ``crawler.dw_page`` puts their results together.

*classic* (server-rendered, 2010 – 2023): ``div#bodyContent div.col3`` with ``h1``, ``p.intro``,
``div.longText`` and an ``ul.smallList`` of labelled facts (Date/Datum, Author/Autorin/Autor,
Related Subjects/Themenseiten, Keywords/Schlagwörter, Permalink/Permalien ...).

*react* (server-side rendered React, 2022 –): JSON-LD NewsArticle, ``<article>`` with a header
(kicker, h1, .author-details, .time-area, p.teaser-text), figures, ``div.rich-text`` and
``window.__APOLLO_STATE__`` holding ``Article:<id>.permaLinkUrl``.

Each reader records where it read each field (``LayoutFields.sources``: "json-ld", "apollo",
"h1", "author-link", "meta[name=date]", "time" ...); a source outside the layout's own
(``PRIMARY_SOURCES``) makes the field a fallback (``ParsedPage.fallbacks``). The React reader
falls back, where JSON-LD and the Apollo state are missing or broken, to the author links, the
date meta tags and the ``<time>`` element (an absolute date only).

The smallList labels differ by language, so the classic reader recognises items by what they
hold (a dd.mm.yyyy date, p.dw.com link, /t- topic links, /search keyword links) and only authors
by label.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.dw_dates import berlin_date, iso_datetime
from crawler.dw_text import clean_text, is_junk_box, paragraphs_of

_PERMALINK = re.compile(r"p\.dw\.com/p/([0-9A-Za-z]{1,12})\b")
_APOLLO_PERMALINK = re.compile(r'"permaLinkUrl":"https?://' + _PERMALINK.pattern)
_TOPIC_HREF = re.compile(r"/t-\d+")
_AUTHOR_LABELS = ("author", "autor", "auteur", "autore", "autora", "автор", "yazar", "penulis")
_CREDIT_LINE = re.compile(r"^(?:authors?|autor(?:in)?|auteur|autore|autora)\s*:\s*(.+)$", re.I)
_NAME_SEPARATORS = re.compile(r"\s*(?:,|\||/|&|\bund\b|\band\b|\bet\b)\s*")
_GALLERY_CLASSES = frozenset({"gallery", "slideshow", "imgTeaserL", "teaserContentWrap"})
_ARTICLE_TYPES = frozenset(
    {"NewsArticle", "Article", "ReportageNewsArticle", "AnalysisNewsArticle", "OpinionNewsArticle",
     "BlogPosting", "LiveBlogPosting", "VideoObject", "AudioObject", "ImageGallery"}
)  # fmt: skip


@dataclass
class LayoutFields:
    """What one layout reader found; empty values where the page does not say."""

    layout: str  # classic | react | unknown
    title: str = ""
    teaser: str = ""
    paragraphs: list[str] | None = None  # None: the layout's body container is missing
    captions: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    published_at: datetime | None = None
    modified_at: datetime | None = None
    page_short_id: str | None = None  # from the page's own Permalink / permaLinkUrl / share links
    is_media: bool = False  # a classic video/audio page: a player and a teaser, no body text
    sources: dict[str, str] = field(default_factory=dict)  # field -> where it was read

    def take(self, name: str, value: Any, source: str) -> bool:
        """Set field ``name`` to ``value`` read from ``source``, unless it is set already or the
        value is empty; whether it was taken."""
        if not value or getattr(self, name):
            return False
        setattr(self, name, value)
        self.sources[name] = source
        return True


# where each layout's own reading of a field comes from; any other source is a fallback
PRIMARY_SOURCES: dict[str, dict[str, frozenset[str]]] = {
    "react": {
        "title": frozenset({"h1", "json-ld"}),
        "teaser": frozenset({"teaser-text"}),
        "body": frozenset({"rich-text"}),
        "authors": frozenset({"json-ld", "apollo"}),
        "published_at": frozenset({"json-ld", "apollo"}),
        "modified_at": frozenset({"json-ld", "apollo"}),
    },
    "classic": {
        "title": frozenset({"h1"}),
        "teaser": frozenset({"intro"}),
        "body": frozenset({"long-text"}),
        "authors": frozenset({"small-list", "credit-line"}),
        "published_at": frozenset({"small-list"}),
        "modified_at": frozenset({"meta[property=article:modified_time]"}),  # its only source
    },
    "unknown": {
        "title": frozenset({"json-ld"}),
        "authors": frozenset({"json-ld"}),
        "published_at": frozenset({"json-ld"}),
        "modified_at": frozenset({"json-ld"}),
    },
}


def detect_layout(tree: LexborHTMLParser) -> str:
    if tree.css_first("article div.rich-text, article header h1") is not None:
        return "react"
    if tree.css_first("#bodyContent") is not None:
        return "classic"
    return "unknown"


# --- classic layout ------------------------------------------------------------------------


def read_classic(tree: LexborHTMLParser) -> LayoutFields:
    root = tree.css_first("#bodyContent")
    column = (root.css_first("div.col3") if root else None) or root or tree.body
    found = LayoutFields(layout="classic")
    if column is None:
        return found
    found.take("title", _text_of(column.css_first("h1")), "h1")
    found.take("teaser", _text_of(column.css_first("p.intro")), "intro")
    containers = _outermost(column.css("div.longText"), "longText")
    if containers:
        found.paragraphs = [p for box in containers for p in paragraphs_of(box)]
        if found.paragraphs:
            found.sources["body"] = "long-text"
    found.is_media = not containers and column.css_first("div.mediaItem") is not None
    found.captions = _unique(
        clean_text(p.text()) for p in column.css("div.picBox > p") if not _inside_gallery(p)
    )
    facts = root.css_first("ul.smallList") if root else None
    if facts is not None:
        _read_small_list(facts, found)
    if not found.authors and found.paragraphs:
        found.take("authors", _credit_line_authors(found.paragraphs), "credit-line")
    if found.page_short_id is None:
        found.page_short_id = _short_id_in_links(tree.css_first("#sharing-bar"))
    return found


def _read_small_list(facts: LexborNode, found: LayoutFields) -> None:
    keywords: list[str] = []
    for item in facts.css("li"):
        label = _text_of(item.css_first("strong")).rstrip(":").lower()
        text = clean_text(item.text())
        links = item.css("a[href]")
        if found.page_short_id is None and (permalink := _PERMALINK.search(text)):
            found.page_short_id = permalink.group(1)
        elif found.published_at is None and (day := berlin_date(text)):
            found.take("published_at", day, "small-list")
        elif label.startswith(_AUTHOR_LABELS) and not found.authors:
            names = split_names(text[len(label) :] if text.lower().startswith(label) else text)
            found.take("authors", names, "small-list")
        elif any(_TOPIC_HREF.search(a.attributes.get("href") or "") for a in links):
            found.topics.extend(_text_of(a) for a in links)
        elif any("/search" in (a.attributes.get("href") or "") for a in links):
            keywords.extend(_text_of(a) for a in links)
    found.topics = _unique([*found.topics, *keywords])


def _credit_line_authors(paragraphs: list[str]) -> list[str]:
    """Old pages without an Author item end their text with "Auteur : Name"."""
    for paragraph in paragraphs:
        if credit := _CREDIT_LINE.match(paragraph):
            return split_names(credit.group(1))
    return []


def _outermost(nodes: list[LexborNode], css_class: str) -> list[LexborNode]:
    """Drop nodes nested in another node of the same class (the walker reaches those)."""
    return [n for n in nodes if not _has_ancestor_class(n, css_class)]


def _has_ancestor_class(node: LexborNode, css_class: str) -> bool:
    parent = node.parent
    while parent is not None and parent.tag not in ("body", "html"):
        if css_class in (parent.attributes.get("class") or "").split():
            return True
        parent = parent.parent
    return False


def _inside_gallery(node: LexborNode) -> bool:
    """Picture galleries and media teasers have caption-like text that is not the article's."""
    parent = node.parent
    while parent is not None and parent.tag not in ("body", "html"):
        classes = (parent.attributes.get("class") or "").split()
        if any(c in _GALLERY_CLASSES for c in classes):
            return True
        parent = parent.parent
    return False


# --- react layout --------------------------------------------------------------------------


def read_react(tree: LexborHTMLParser, html: str, content_id: int | None) -> LayoutFields:
    """The React layout: JSON-LD first; where it is missing or broken, the page's own markup
    (header h1, the author links, ``meta[name=date]``, the ``<time>`` element)."""
    found = LayoutFields(layout="react")
    article = tree.css_first("article")
    if article is None:
        return found
    ld = read_json_ld(tree)
    header = article.css_first("header")
    found.take("title", _text_of(header.css_first("h1") if header else None), "h1")
    found.take("title", clean_text(_str(ld.get("headline"))), "json-ld")
    found.take(
        "teaser", _text_of(header.css_first("p.teaser-text") if header else None), "teaser-text"
    )
    body = article.css_first("div.rich-text")
    if body is not None:
        found.paragraphs = paragraphs_of(body)
        if found.paragraphs:
            found.sources["body"] = "rich-text"
    found.captions = _unique(_caption(c) for c in article.css("figcaption"))
    found.take("authors", json_ld_authors(ld), "json-ld")
    found.topics = _unique(
        _text_of(a)
        for a in tree.css("#related-topics a[href]")
        if not (a.attributes.get("href") or "#").startswith("#")  # the "skip section" link
    )
    found.take("published_at", iso_datetime(ld.get("datePublished")), "json-ld")
    found.take("modified_at", iso_datetime(ld.get("dateModified")), "json-ld")
    if not (found.authors and found.published_at and found.modified_at):
        _read_apollo(html, content_id, found)
    found.take("authors", _unique(_text_of(a) for a in article.css(AUTHOR_LINKS)), "author-link")
    found.take(
        "authors",
        _unique(_text_of(a) for a in article.css(".author-details .author")),
        "author-details",
    )
    for selector, source in _DATE_METAS:
        if found.published_at is not None:
            break  # each look is a walk of the whole tree
        found.take("published_at", iso_datetime(_content(tree.css_first(selector))), source)
    if found.published_at is None:
        _read_time_element(article, found)
    found.page_short_id = apollo_short_id(html, content_id) or _short_id_in_links(
        article.css_first('[data-tracking-name="sharing-icons-inline"]')
    )
    return found


AUTHOR_LINKS = ".author-name a.author-link"
_DATE_METAS = (
    ('meta[name="date"]', "meta[name=date]"),
    ('meta[property="article:published_time"]', "meta[property=article:published_time]"),
)
_TIME_ELEMENTS = (".time-area time", "header time", "time")


def _read_apollo(html: str, content_id: int | None, found: LayoutFields) -> None:
    """Authors and dates from this page's ``Article:<id>`` entry in ``__APOLLO_STATE__`` (its
    ``persons`` refer to ``Person:<id>`` entries)."""
    entry = _apollo_entry(html, f"Article:{content_id}") if content_id is not None else None
    if entry is None:
        return
    names = []
    for person in entry.get("persons") or []:
        ref = person.get("__ref") if isinstance(person, dict) else None
        named = _apollo_entry(html, ref) if isinstance(ref, str) else None
        if named is not None:
            names.append(clean_text(_str(named.get("fullName"))))
    found.take("authors", _unique(names), "apollo")
    found.take("published_at", iso_datetime(entry.get("firstPublicationDate")), "apollo")
    found.take("modified_at", iso_datetime(entry.get("lastModifiedDate")), "apollo")


def _apollo_entry(html: str, key: str) -> dict[str, Any] | None:
    """One entry of ``window.__APOLLO_STATE__``, decoded on its own; None if missing or cut."""
    start = html.find(f'"{key}":{{')
    if start < 0:
        return None
    try:
        entry, _ = json.JSONDecoder().raw_decode(html, start + len(key) + 3)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def _read_time_element(article: LexborNode, found: LayoutFields) -> None:
    """The date of the article's ``<time>`` element: its ``datetime`` attribute, else its text
    when that is an absolute date (dd.mm.yyyy); "vor 3 Stunden" or "2 hours ago" give none."""
    for selector in _TIME_ELEMENTS:
        time = article.css_first(selector)
        if time is None:
            continue
        stamp = iso_datetime(time.attributes.get("datetime"))
        if found.take("published_at", stamp, "time[datetime]"):
            return
        if found.take("published_at", berlin_date(_text_of(time)), "time"):
            return


def _content(node: LexborNode | None) -> str:
    return (node.attributes.get("content") or "") if node is not None else ""


def _caption(figcaption: LexborNode) -> str:
    """Caption text without the image credit (``<small class="copyright">Bild: ...``)."""
    parts = [
        c.text(deep=True) or ""
        for c in figcaption.iter(include_text=True)
        if c.tag == "-text" or (c.tag not in ("small", "-comment") and not is_junk_box(c))
    ]
    return clean_text("".join(parts))


def apollo_short_id(html: str, content_id: int | None) -> str | None:
    """``permaLinkUrl`` of this page's own ``Article:<id>`` entry in ``window.__APOLLO_STATE__``.

    Only that entry is decoded, not the whole (large) state; embedded teasers are other entries.
    """
    if content_id is None:  # the page names no address: the first permaLinkUrl is all we have
        found = _APOLLO_PERMALINK.search(html)
        return found.group(1) if found else None
    start = html.find(f'"Article:{content_id}":{{')
    if start < 0:
        return None
    brace = html.index("{", start + len(f'"Article:{content_id}":'))
    try:
        entry, _ = json.JSONDecoder().raw_decode(html, brace)
        found = _PERMALINK.search(_str(entry.get("permaLinkUrl")))
    except ValueError:  # truncated page: look inside the entry's text instead
        end = html.find('"Article:', brace)
        found = _APOLLO_PERMALINK.search(html, brace, end if end > 0 else len(html))
    return found.group(1) if found else None


def read_json_ld(tree: LexborHTMLParser) -> dict[str, Any]:
    """The page's JSON-LD article object (NewsArticle, VideoObject ...), or {}."""
    for script in tree.css('script[type="application/ld+json"]'):
        try:
            data = json.loads(script.text() or "")
        except ValueError:
            continue
        for item in _json_ld_items(data):
            kinds = item.get("@type")
            kinds = kinds if isinstance(kinds, list) else [kinds]
            if any(k in _ARTICLE_TYPES for k in kinds if isinstance(k, str)):
                return item
    return {}


def _json_ld_items(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, list):
        return [d for d in data if isinstance(d, dict)]
    if isinstance(data, dict):
        graph = data.get("@graph")
        return [data, *(_json_ld_items(graph) if graph else [])]
    return []


def json_ld_authors(ld: dict[str, Any]) -> list[str]:
    authors = ld.get("author")
    people = authors if isinstance(authors, list) else [authors]
    names = [
        clean_text(_str(p.get("name")) if isinstance(p, dict) else _str(p))
        for p in people
        if not (isinstance(p, dict) and p.get("@type") == "Organization")
    ]
    return _unique(names)


# --- shared helpers ------------------------------------------------------------------------


def split_names(text: str) -> list[str]:
    return _unique(_NAME_SEPARATORS.split(clean_text(text)))


def _short_id_in_links(box: LexborNode | None) -> str | None:
    """The p.dw.com short id in a share box's links (percent-encoded in ``?u=`` parameters)."""
    if box is None:
        return None
    found = _PERMALINK.search(unquote(box.html or ""))
    return found.group(1) if found else None


def _text_of(node: LexborNode | None) -> str:
    return clean_text(node.text(deep=True)) if node is not None else ""


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _unique(values: Any) -> list[str]:
    """Non-empty values in order, without repeats (case-insensitive)."""
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        key = value.casefold()
        if value and key not in seen:
            seen.add(key)
            out.append(value)
    return out
