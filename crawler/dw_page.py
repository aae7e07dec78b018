"""A DW content page (article, video, gallery ...) → ``ParsedPage``; no Scrapy import.

``parse_page`` reads both real DW layouts (see ``crawler.dw_layouts``) from one lexbor parse and
uses trafilatura only where the layout's selectors find no body. It raises ``PageError`` for
anything it cannot read as a DW content page and never any other exception for bad input.

Ids: the content id comes from the page's canonical URL (else og:url, else the ``url`` argument);
the short id is read from the page's own Permalink / ``permaLinkUrl`` / share links and must be the
base-62 form of the content id. Where it is not, the content id wins and ``warnings`` says so.
"""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser
from w3lib.encoding import html_to_unicode, http_content_type_encoding, read_bom, to_unicode

from crawler.dw import DwRef, is_dw_host, normalize_url, ref_from_url
from crawler.dw_dates import iso_datetime
from crawler.dw_layouts import (
    PRIMARY_SOURCES,
    LayoutFields,
    detect_layout,
    json_ld_authors,
    read_classic,
    read_json_ld,
    read_react,
)
from crawler.dw_text import clean_text, storable
from store.article_schema import PAGE_FIELDS, ArticleFields, fields_json
from store.dw_ids import short_id, short_url

logger = logging.getLogger(__name__)

_WIDE = ("utf-16", "utf-32")  # encodings whose markup is not ASCII
_TITLE_SUFFIX = re.compile(r"\s*[|–—-]\s*DW\s*[|–—-]\s*[\d./]+\s*$")
_MEDIA_KINDS = ("video", "audio")
_OG_KINDS = {"video": "video", "audio": "audio", "music": "audio"}
# a language tag the store keeps (String(16)): language and at most one subtag, nothing private
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8}){0,2}")  # en, pt-br, sr-latn-rs
MAX_LANGUAGE = 16
# the meta tags read: not DW's Facebook ones (79 ``fb:pages`` and 3 ``fb:admins`` of the 101
# on a 2024 article), whose keys no reader asks for; leaving them out of the selection costs
# lexbor nothing and saves a quarter of the meta reading (25 us a page, bench pages and DW's)
_METAS = 'meta[content]:not([property^="fb:"])'


class PageError(ValueError):
    """Not a DW content page we can read (empty, not DW, no id)."""


@dataclass(frozen=True)
class ParsedPage(ArticleFields):
    """The page's fields (``store.article_schema``), where each was read (``sources``: field ->
    "json-ld", "h1", "author-link", "meta[name=date]", "time", "og:title", "trafilatura" ...)
    and what looked wrong on it. ``fallbacks`` (stored) names the fields whose source is not
    the layout's own (``crawler.dw_layouts.PRIMARY_SOURCES``)."""

    sources: dict[str, str] = field(default_factory=dict)
    short_id_mismatch: bool = False  # the page's own short id is not base-62 of its content id
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """`newswatch parse --json`: the article fields, ``sources`` right after ``fallbacks``."""
        data = fields_json(self)
        at = list(data).index("fallbacks") + 1
        items = list(data.items())
        return dict([*items[:at], ("sources", dict(self.sources)), *items[at:]])


def parse_page(
    data: bytes | str, url: str | None = None, content_type: str | None = None
) -> ParsedPage:
    """Parse one DW page; ``url`` is where it was fetched (used when the page names no URL),
    ``content_type`` the HTTP Content-Type header it came with (its charset decodes bytes)."""
    markup: bytes | str
    if isinstance(data, bytes | bytearray | memoryview):
        markup = bytes(data)
        html, encoding = decode_html(markup, content_type)
        if not _same_text(markup, html, encoding):
            markup = html  # lexbor reads bytes as UTF-8: give it the text
    elif isinstance(data, str):
        html = markup = data
    else:
        raise TypeError(f"parse_page wants bytes or str, not {type(data).__name__}")
    if not html.strip():
        raise PageError("empty document")
    try:
        return _parse(html, url, markup)
    except PageError:
        raise
    except Exception as exc:  # hostile input must surface as PageError, never as a crash
        logger.warning("unreadable page %s", url or "(no url)", exc_info=True)
        raise PageError(f"unreadable page ({type(exc).__name__}: {exc})") from exc


def decode_html(data: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Bytes → text as a browser reads them (``w3lib.encoding.html_to_unicode``), and the encoding
    it was read in: a BOM, else the charset of the HTTP ``Content-Type`` (when the caller has it),
    else the page's ``<meta charset>``/http-equiv, else UTF-8 when the bytes are UTF-8 (cut short
    mid-character too), else windows-1252. A label that names no text encoding (rot13, base64
    ...) is ignored, and UTF-16 declared in the page's own markup is read as UTF-8 (as browsers
    do: the markup was ASCII)."""
    try:
        encoding, text = html_to_unicode(content_type, data, auto_detect_fun=_utf8_or_cp1252)
    except LookupError:  # a declared codec that is no text encoding
        encoding = _utf8_or_cp1252(data)
        return to_unicode(data, encoding), encoding
    if (
        encoding.startswith(_WIDE)
        and read_bom(data)[0] is None
        and http_content_type_encoding(content_type) is None
    ):  # declared in the page's own markup
        return to_unicode(data, "utf-8"), "utf-8"
    return text, encoding


def _same_text(data: bytes, text: str, encoding: str) -> bool:
    """Whether ``data`` is exactly ``text`` in UTF-8 (read as UTF-8, no BOM, no byte replaced),
    so that lexbor can parse the bytes as they came instead of the text encoded again (which
    costs a third of a lexbor parse on a page with any non-ASCII character)."""
    return (
        codecs.lookup(encoding).name == "utf-8"  # w3lib names it "utf-8" or "utf8"
        and not data.startswith(codecs.BOM_UTF8)
        and "\ufffd" not in text
    )


def _utf8_or_cp1252(data: bytes) -> str:
    """An undeclared page's encoding: UTF-8 if its bytes are UTF-8, or UTF-8 text whose last
    character was cut short (a truncated download); else windows-1252, which decodes any byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        text = decoder.decode(data, final=False)
    except UnicodeDecodeError:
        return "cp1252"
    cut_short = bool(decoder.getstate()[0])
    return "cp1252" if cut_short and text.isascii() else "utf-8"


def _parse(html: str, url: str | None, markup: bytes | str) -> ParsedPage:
    """``markup``: ``html`` itself, or the UTF-8 bytes it was decoded from (the same text)."""
    tree = LexborHTMLParser(markup)
    meta = _read_meta(tree)
    warnings: list[str] = []
    page_url, ref = _page_address(meta, url, warnings)
    layout = detect_layout(tree)
    content_id = ref.content_id if ref else None
    if layout == "react":
        fields = read_react(tree, html, content_id)
    elif layout == "classic":
        fields = read_classic(tree)
    else:
        fields = _read_unknown(tree)
    if ref is None:  # the page names no URL: its own Permalink is all there is
        if fields.page_short_id is None:
            raise PageError(
                "no DW content id: no canonical/og:url DW address, no url, no Permalink"
            )
        page_url = short_url(fields.page_short_id)
        ref = ref_from_url(page_url)
        if ref is None:
            raise PageError(f"no DW content id: bad Permalink {page_url}")
    _fill_from_meta(fields, meta)
    if not fields.title:
        raise PageError(f"no title: not a DW content page ({page_url})")
    return _assemble(fields, ref, page_url, meta, html, warnings)


def _read_meta(tree: LexborHTMLParser) -> dict[str, str]:
    """``<meta property|name>`` contents (first one wins), canonical URL, html lang, title."""
    meta: dict[str, str] = {}
    for node in tree.css(_METAS):
        attrs = node.attributes
        key = attrs.get("property") or attrs.get("name")
        if key and key.lower() not in meta:
            meta[key.lower()] = attrs.get("content") or ""
    canonical = tree.css_first('link[rel="canonical"][href]')
    if canonical is not None:
        meta["canonical"] = canonical.attributes.get("href") or ""
    html_node = tree.css_first("html[lang]")
    if html_node is not None:
        meta["html:lang"] = html_node.attributes.get("lang") or ""
    title = tree.css_first("title")
    meta["html:title"] = clean_text(title.text()) if title is not None else ""
    return meta


def _page_address(
    meta: dict[str, str], url: str | None, warnings: list[str]
) -> tuple[str, DwRef | None]:
    """The page's canonical URL and what it says (content id, kind, language).

    The page's own canonical link or og:url wins over ``url``; a page whose own address names no
    DW content (a non-DW site, a DW section page) is refused. Hosts are not checked beyond that,
    so the loopback demo site with DW-shaped paths reads like dw.com.
    """
    own = [u.strip() for u in (meta.get("canonical"), meta.get("og:url")) if u and u.strip()]
    for address in own:
        if ref := ref_from_url(address):
            _check_requested_url(ref, url, warnings)
            return normalize_url(address), ref
    if own:
        what = "DW content page" if _is_dw_url(own[0]) else "DW page"
        raise PageError(f"not a {what}: its own address {own[0]!r} names no DW content id")
    if url and (ref := ref_from_url(url)):
        return normalize_url(url), ref
    return "", None


def _is_dw_url(address: str) -> bool:
    try:
        return is_dw_host(urlsplit(address).hostname or "")
    except ValueError:
        return False


def _check_requested_url(ref: DwRef, url: str | None, warnings: list[str]) -> None:
    requested = ref_from_url(url) if url else None
    if requested is not None and requested.content_id != ref.content_id:
        message = f"url {url} names content id {requested.content_id}, the page {ref.content_id}"
        _warn(warnings, message)


def _read_unknown(tree: LexborHTMLParser) -> LayoutFields:
    """Neither layout: JSON-LD and meta tags; the body comes from trafilatura."""
    ld = read_json_ld(tree)
    found = LayoutFields(layout="unknown")
    headline = ld.get("headline")
    found.take("title", clean_text(headline if isinstance(headline, str) else ""), "json-ld")
    found.take("authors", json_ld_authors(ld), "json-ld")
    published = ld.get("datePublished") or ld.get("uploadDate")
    found.take("published_at", iso_datetime(published), "json-ld")
    found.take("modified_at", iso_datetime(ld.get("dateModified")), "json-ld")
    return found


def _fill_from_meta(fields: LayoutFields, meta: dict[str, str]) -> None:
    """What the layout's reader left empty, from the page's meta tags and ``<title>``."""
    fields.take("title", _TITLE_SUFFIX.sub("", clean_text(meta.get("og:title") or "")), "og:title")
    title = _TITLE_SUFFIX.sub("", meta.get("html:title", "")).split(" | ")[0]
    fields.take("title", title, "title")
    fields.take("teaser", clean_text(meta.get("og:description")), "og:description")
    fields.take("teaser", clean_text(meta.get("description")), "description")
    published = iso_datetime(meta.get("article:published_time"))
    fields.take("published_at", published, "meta[property=article:published_time]")
    modified = iso_datetime(meta.get("article:modified_time"))
    fields.take("modified_at", modified, "meta[property=article:modified_time]")


def _fallbacks(fields: LayoutFields, sources: dict[str, str]) -> list[str]:
    """The fields, in the schema's order, read from a source not the layout's own."""
    primary = PRIMARY_SOURCES.get(fields.layout, {})
    return [
        name
        for name in PAGE_FIELDS
        if name in sources and sources[name] not in primary.get(name, frozenset())
    ]


def _assemble(
    fields: LayoutFields,
    ref: DwRef,
    page_url: str,
    meta: dict[str, str],
    html: str,
    warnings: list[str],
) -> ParsedPage:
    kind = _kind(ref, meta)
    paragraphs = fields.paragraphs or []
    # a player without text is a media page, unless its address says article: then its text
    # container is missing (a redesign), not absent
    media = kind in _MEDIA_KINDS or (fields.is_media and kind != "article")
    fallback = not paragraphs and not media
    sources = dict(fields.sources)
    if fallback:
        paragraphs = _fallback_paragraphs(html, fields)
        sources.pop("body", None)
        if paragraphs:
            sources["body"] = "trafilatura"
    fallbacks = _fallbacks(fields, sources)
    if fallback and "body" not in fallbacks:  # the generic extractor was needed, found or not
        fallbacks = [name for name in PAGE_FIELDS if name in {*fallbacks, "body"}]
    expected = short_id(ref.content_id)
    return ParsedPage(
        short_id=_checked_short_id(ref.content_id, fields.page_short_id, warnings),
        content_id=ref.content_id,
        url=storable(page_url),
        language=_language(ref, meta),
        kind=kind,
        title=storable(fields.title),
        teaser=storable(fields.teaser),
        body=storable("\n\n".join(paragraphs)),
        captions=_storable_list(fields.captions),
        authors=_storable_list(fields.authors),
        topics=_storable_list(fields.topics),
        published_at=fields.published_at,
        modified_at=fields.modified_at,
        selector_fallback=fallback,
        fallbacks=fallbacks,
        sources={name: sources[name] for name in PAGE_FIELDS if name in sources},
        short_id_mismatch=fields.page_short_id not in (None, expected),
        warnings=warnings,
    )


def _checked_short_id(content_id: int, on_page: str | None, warnings: list[str]) -> str:
    expected = short_id(content_id)
    if on_page is not None and on_page != expected:
        message = f"short id {on_page} on the page is not base-62 of content id {content_id}"
        _warn(warnings, f"{message}; using {expected}")
    return expected


def _kind(ref: DwRef, meta: dict[str, str]) -> str:
    if ref.kind != "unknown":
        return ref.kind
    og_type = (meta.get("og:type") or "").split(".")[0].lower()
    return _OG_KINDS.get(og_type, "article")


def _storable_list(values: list[str]) -> list[str]:
    return [text for text in (storable(value) for value in values) if text]


def _language(ref: DwRef, meta: dict[str, str]) -> str | None:
    """The URL's language, else ``<html lang>``: a plain tag (``en``, ``pt-br``) or None."""
    for candidate in (ref.language, meta.get("html:lang")):
        language = (candidate or "").strip().lower().replace("_", "-")
        if len(language) <= MAX_LANGUAGE and _LANGUAGE.fullmatch(language):
            return language
    return None


def _fallback_paragraphs(html: str, fields: LayoutFields) -> list[str]:
    """trafilatura's text, minus the title and teaser it repeats."""
    import trafilatura  # slow to import and to run: only for pages our selectors cannot read

    try:
        text = trafilatura.extract(
            html, favor_precision=True, include_comments=False, include_tables=False
        )
    except Exception:  # a third-party extractor failing on odd input leaves the body empty
        logger.warning("trafilatura could not read the page", exc_info=True)
        text = None
    known = {fields.title, fields.teaser}
    lines = (clean_text(line) for line in (text or "").splitlines())
    return [line for line in lines if line and line not in known]


def _warn(warnings: list[str], message: str) -> None:
    logger.warning(message)
    warnings.append(message)
