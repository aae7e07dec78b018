"""Render demo articles into pages shaped like DW's two layouts (templates in ``demo/site/``).

A rendered page is a tuple of byte chunks: the per-article parts and the chrome blocks (navigation,
head scripts, footer, styles), which are rendered once per language and shared by every page, so
thousands of pre-rendered pages stay small in memory. ``b"".join(page)`` is the response body.

One idea, a little over 300 lines: the field mapping of each layout (old: smallList, intro,
longText; new: JSON-LD, ``__APOLLO_STATE__``, rich text) has to mirror what the real pages carry,
and splitting a layout's fields from its page would only scatter that mirror.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from urllib.parse import quote, quote_plus

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from demo import chrome
from demo.articles import SUBHEAD, Caption, DemoArticle
from demo.new_layout import apollo_state, iso_millis, json_ld, rich_text_html
from store.dw_ids import DW_TIMEZONE

Page = tuple[bytes, ...]
_MARK = "\x00"

SHARE_NETWORKS = [
    ("facebook", "fb static", "https://www.facebook.com/sharer/sharer.php?u={u}", "Facebook"),
    (
        "twitter",
        "twitter static",
        "https://twitter.com/intent/tweet?source=webclient&text={u}",
        "Twitter",
    ),
    ("reddit", "reddit static", "https://www.reddit.com/submit?url={u}", "reddit"),
    ("whatsapp-web", "whatsapp option", "https://web.whatsapp.com/send?text={u}", "Whatsapp+Web"),
    ("telegram", "telegram option", "https://telegram.me/share/url?url={u}", "Telegram"),
    (
        "linkedin",
        "linkedin option",
        "https://www.linkedin.com/shareArticle?mini=true&url={u}",
        "linkedin",
    ),
]
LONG_MONTHS = {
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    "de": [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
    "ru": [
        "января",
        "февраля",
        "марта",
        "апреля",
        "мая",
        "июня",
        "июля",
        "августа",
        "сентября",
        "октября",
        "ноября",
        "декабря",
    ],
}


@dataclass(frozen=True)
class Block:
    """One piece of an old-layout ``div.longText``: paragraph, subhead, image or video teaser."""

    kind: str  # p | subhead | image | video
    text: str = ""
    credit: str = ""
    image_id: int = 0


@dataclass(frozen=True)
class PageContext:
    """What a page needs from the rest of the site: its links to other pages."""

    base_url: str
    related: tuple[DemoArticle, ...] = ()
    video: DemoArticle | None = None


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("demo", "site"),
        autoescape=select_autoescape(["html", "xml"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["slug"] = chrome.slugify
    env.filters["urlencode_plus"] = quote_plus
    env.filters["urlencode_all"] = lambda value: quote(value, safe="")
    return env


ENV = _environment()


@cache
def chrome_blocks(language: str, layout: str) -> dict[str, bytes]:
    """The shared chrome of a language and layout, rendered once."""
    home_path, home_title = chrome.HOME.get(language, chrome.HOME["en"])
    context = {
        "lang": language,
        "locale": {"en": "en_GB", "de": "de_DE", "ru": "ru_RU"}.get(language, language),
        "labels": (chrome.OLD_LABELS if layout == "old" else chrome.NEW_LABELS)[language],
        "sections": chrome.SECTIONS[language],
        "languages": chrome.LANGUAGES,
        "fb_pages": chrome.FB_PAGES,
        "footer": chrome.FOOTER_LINKS[language],
        "home_path": home_path,
        "home_title": home_title,
        "nav_id": chrome.NAV_ID[language],
        "programs": chrome.TV_PROGRAMS,
    }
    if layout == "old":
        names = ["head", "head_styles", "head_tail", "top", "aside", "footer"]
        blocks = {n: ENV.get_template(f"old/{n}.html").render(context) for n in names}
    else:
        blocks = {n: ENV.get_template(f"new/{n}.html").render(context) for n in ["nav", "footer"]}
        blocks["css"] = chrome.styled_css()
        blocks["fb_meta"] = "".join(
            f'<meta data-rh="true" property="fb:pages" content="{p}"/>' for p in chrome.FB_PAGES
        )
        blocks["i18n"] = chrome.i18n_json(language)
    return {name: text.encode() for name, text in blocks.items()}


def _markers(blocks: dict[str, bytes]) -> dict[str, Markup]:
    return {name: Markup(f"{_MARK}{name}{_MARK}") for name in blocks}


def _assemble(text: str, blocks: dict[str, bytes]) -> Page:
    parts = text.split(_MARK)
    return tuple(blocks[p] if i % 2 else p.encode() for i, p in enumerate(parts))


def display_date(article: DemoArticle, when: datetime | None = None) -> str:
    when = (when or article.published_at).astimezone(DW_TIMEZONE)
    if article.layout == "new" and article.language == "en":
        return when.strftime("%m/%d/%Y")
    return when.strftime("%d.%m.%Y")


def long_date(language: str, when: datetime) -> str:
    when = when.astimezone(DW_TIMEZONE)
    month = LONG_MONTHS.get(language, LONG_MONTHS["en"])[when.month - 1]
    if language == "en":
        return f"{month} {when.day}, {when.year}"
    return (
        f"{when.day}. {month} {when.year}"
        if language == "de"
        else f"{when.day} {month} {when.year}"
    )


def share_links(article: DemoArticle, old_style: bool) -> list[tuple[str, str, str]]:
    """(network, css class, href) of the sharing bar; links carry the short id and ``?maca=``."""
    links = []
    for network, cls, pattern, maca_name in SHARE_NETWORKS:
        target = f"{article.permalink}?maca={article.language}-{maca_name}-sharing"
        if old_style:  # classic site: the whole short URL percent-encoded
            encoded = quote(target, safe="")
        else:  # React site: only the query part is encoded
            encoded = f"{article.permalink}%3Fmaca%3D{article.language}-{maca_name}-sharing"
        links.append((network, cls if old_style else network, pattern.format(u=encoded)))
    return links


def old_layout_blocks(article: DemoArticle, with_video: bool) -> list[Block]:
    """The longText of an old-layout page: paragraphs with images (and a video teaser) between."""
    inline: dict[int, list[tuple[int, Caption]]] = {}
    for image_id, caption in article.images:
        if not caption.is_lead:
            inline.setdefault(caption.after, []).append((image_id, caption))
    video_after = len(article.paragraphs) // 2 if with_video else -2
    blocks = []
    for index, paragraph in enumerate(article.paragraphs):
        if paragraph.startswith(SUBHEAD):
            blocks.append(Block("subhead", paragraph.removeprefix(SUBHEAD)))
        else:
            blocks.append(Block("p", paragraph))
        for image_id, caption in inline.get(index, []):
            blocks.append(Block("image", caption.text, caption.credit, image_id))
        if index == video_after:
            blocks.append(Block("video"))
    return blocks


def _common(article: DemoArticle, context: PageContext) -> dict[str, object]:
    base = context.base_url
    lead = next(((i, c) for i, c in article.images if c.is_lead), None)
    sections = dict((name, sid) for name, sid, _ in chrome.SECTIONS[article.language])
    home_path, _ = chrome.HOME.get(article.language, chrome.HOME["en"])
    return {
        "a": article,
        "base": base,
        "canonical": base + article.canonical_path,
        "amp_url": base + article.amp_path,
        "date": display_date(article),
        "lead": lead,
        "topics": [chrome.topic_for(name) for name in article.topics],
        "related": context.related[:3],
        "section_id": sections.get(article.section, 1429),
        "nav_id": chrome.NAV_ID[article.language],
        "home_path": home_path,
    }


def render_article(article: DemoArticle, context: PageContext) -> Page:
    """The page of one article or video in its layout."""
    blocks = chrome_blocks(article.language, article.layout)
    values = _common(article, context) | {"chrome": _markers(blocks)}
    if article.layout == "new":
        values |= {
            "labels": chrome.NEW_LABELS[article.language],
            "long_date": long_date(article.language, article.published_at),
            "published_iso": iso_millis(article.published_at),  # meta[name=date], as in 2026
            "share_links": share_links(article, old_style=False),
            "rich_text": Markup(rich_text_html(article, context.base_url)),
            "json_ld": Markup(json_ld(article, context.base_url)),
            "data_layer": Markup(_data_layer(article, context.base_url)),
            "apollo_state": Markup(apollo_state(article, context.base_url, _MARK + "i18n" + _MARK)),
        }
        return _assemble(ENV.get_template("new/article.html").render(values), blocks)
    video = context.video
    values |= {
        "labels": chrome.OLD_LABELS[article.language],
        "share_links": share_links(article, old_style=True),
        "tracking_language": "2" if article.language == "en" else "1",
        "title_quoted": quote(article.title),
        "blocks": old_layout_blocks(article, with_video=video is not None),
        "video": video,
        "video_seconds": _seconds(video.duration if video else article.duration),
        "video_share_links": share_links(video, old_style=True) if video else [],
        "recommended": context.related[3:5],
        "feed_teasers": context.related[:4],
    }
    template = "old/video.html" if article.kind == "video" else "old/article.html"
    return _assemble(ENV.get_template(template).render(values), blocks)


def render_listing(
    language: str, teasers: list[tuple[DemoArticle, str]], base_url: str, updated: datetime
) -> Page:
    """An old-layout section page (``/en/top-stories/s-9097``) linking the given article URLs."""
    home_path, home_title = chrome.HOME[language]
    page = DemoArticle(
        content_id=chrome.NAV_ID[language],
        short_id="",  # a section page has no permalink
        language=language,
        layout="old",
        kind="listing",
        slug=home_path.split("/")[-2],
        title=chrome.OLD_LABELS[language]["home"],
        teaser=home_title,
        section=chrome.OLD_LABELS[language]["home"],
        published_at=updated,
        modified_at=updated,
    )
    blocks = chrome_blocks(language, "old")
    values = _common(page, PageContext(base_url)) | {
        "chrome": _markers(blocks),
        "canonical": base_url + home_path,
        "amp_url": base_url + home_path,
        "labels": chrome.OLD_LABELS[language],
        "teasers": teasers,
        "feed_teasers": [],
    }
    return _assemble(ENV.get_template("old/listing.html").render(values), blocks)


def _seconds(duration: str) -> int:
    minutes, _, seconds = duration.partition(":")
    return int(minutes or 0) * 60 + int(seconds or 0)


def _data_layer(article: DemoArticle, base_url: str) -> str:
    data = {
        "pageData": {
            "contentTitle": article.title,
            "pageOID": article.content_id,
            "contentType": 1,
            "date": int(article.published_at.strftime("%Y%m%d")),
            "macaParam": f"{article.language}-rss-{article.language}-all-1119-xml-mrss",
            "pageUrl": base_url + article.canonical_path,
            "metaTopics": ", ".join(article.topics),
        },
        "event": "initDataLayer",
        "webAppVersion": "3.3.0",
    }
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
