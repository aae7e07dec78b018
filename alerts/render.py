"""Rendering a digest: subject, text and HTML from Jinja2 templates for email, and a short
Markdown digest for chat and push channels (`DigestRenderer.render_markdown`).

The bundled templates live in ``alerts/templates``; ``[mail] templates = DIR`` overrides any of
them by name. Templates run in a sandbox with a time limit (alerts.sandbox); HTML is
autoescaped (scraped text is untrusted), undefined names are errors, and the CSS is inlined
(css-inline) so mail clients that drop <style> still show the layout. The text part's
``wordwrap`` is Jinja's own filter. digest.md gets its text Markdown-escaped already
(`alerts.channel_render.markdown_text`) and is cut by whole entries to a channel's limit.

One idea, with what it needs around it: the digest as the templates see it (`Digest`, `Group`,
`Entry`), the renderer and its size caps, and the sample digests `check` renders every template
with. The samples stay here because they are shaped by the caps and the renderer checks itself
with them; apart, each module would need the other."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import css_inline
from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    PackageLoader,
    StrictUndefined,
    TemplateError,
    select_autoescape,
)

from alerts.channel_render import markdown_link_target, markdown_text
from alerts.mime import header_text
from alerts.sandbox import FolderLoader, Sandbox, TemplateProblem, describe, render_capped

TEMPLATES = ("subject.txt", "digest.txt", "digest.html", "digest.md")
# Gmail clips an HTML part past 102 KB; stay below with room for headers
HTML_BUDGET = 100_000
MAX_FULL_ENTRIES = 50
MAX_LISTED_ENTRIES = 300


@dataclass(frozen=True)
class Entry:
    title: str
    title_marked: list[tuple[str, bool]]  # the title in (text, is_hit) pieces
    url: str
    language: str
    published: str
    teaser: str
    snippet: list[tuple[str, bool]]  # (text, is_hit) pieces
    snippet_text: str  # with hits in [brackets], for the text part
    watchlists: list[str]  # the first is the group it is shown under
    terms: list[str]


@dataclass(frozen=True)
class Group:
    name: str
    entries: list[Entry]  # shown in full
    articles: int | None = None  # all of this watchlist's articles in the digest

    @property
    def count(self) -> int:
        return len(self.entries) if self.articles is None else self.articles


@dataclass(frozen=True)
class Digest:
    recipient: str
    timezone: str
    groups: list[Group]
    unsubscribe_address: str
    overflow: list[Entry] = field(default_factory=list)  # listed by title and link
    hidden: int = 0  # counted only (`newswatch articles` lists them)
    late: int = 0  # articles due in an earlier digest that could not be delivered
    # the subscriber's signed pages (`store.links`); None without a web app: the footer then
    # names ``unsubscribe_address``
    manage_url: str | None = None
    unsubscribe_url: str | None = None  # one click on the page unsubscribes

    @property
    def total(self) -> int:
        return sum(group.count for group in self.groups)  # the listed and counted ones included


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str  # the text part; for a channel, its Markdown
    html: str  # "" for a channel


@dataclass(frozen=True)
class MarkdownEntry:
    """An entry as digest.md gets it: its text Markdown-escaped, its URL a link target."""

    title: str
    url: str
    language: str
    published: str
    watchlists: list[str]
    terms: list[str]


@dataclass(frozen=True)
class MarkdownGroup:
    """A watchlist as digest.md gets it: the entries that fit, and how many did not."""

    name: str  # Markdown-escaped
    count: int  # this watchlist's articles in the digest
    entries: list[MarkdownEntry]  # shown
    more: int  # left out: count - shown
    archive_url: str | None  # its page in the web archive, a link target; None without one


class DigestRenderer:
    def __init__(self, user_templates: str | Path | None = None) -> None:
        loaders: list[BaseLoader] = []
        if user_templates:
            folder = Path(user_templates)
            if not folder.is_dir():
                raise TemplateProblem(f"{folder} is not a folder")
            loaders.append(FolderLoader(folder))
        loaders.append(PackageLoader("alerts", "templates"))
        self.env = Sandbox(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(["html"], default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,  # templates are read once per renderer
        )
        self.env.plain_types = frozenset({Entry, Group, MarkdownEntry, MarkdownGroup})

    def render(self, digest: Digest) -> Rendered:
        """Subject, text and HTML; the newest entries in full up to what keeps the HTML under
        Gmail's clipping limit, the rest listed by title and link. A template that fails, or
        runs past RENDER_SECONDS, raises TemplateProblem."""
        full = min(MAX_FULL_ENTRIES, sum(g.count for g in digest.groups))
        listed = MAX_LISTED_ENTRIES
        with self.env.deadline():
            while True:
                rendered = self._render(_cap(digest, full, listed))
                if len(rendered.html.encode()) <= HTML_BUDGET or (full <= 1 and listed <= 1):
                    return rendered
                if full > 1:
                    full = full * 2 // 3
                else:
                    listed = listed * 2 // 3

    def render_markdown(
        self,
        digest: Digest,
        *,
        fits: Callable[[str], bool],
        max_articles: int,
        archive_url: Callable[[str], str] | None,
    ) -> Rendered:
        """The title (subject.txt) and a short Markdown body (digest.md) for a chat or push
        channel: the count per watchlist, up to ``max_articles`` entries (the digest's first,
        groups in order) with their link and hit terms, and per watchlist how many more
        there are, linked to ``archive_url(name)`` when given. Whole entries are left out
        until ``fits(title + "\\n" + body)``; when even the body without entries does not
        fit, that body is returned all the same. Same sandbox and deadline as `render`."""
        most = max(0, min(max_articles, sum(len(group.entries) for group in digest.groups)))
        with self.env.deadline():
            subject = self._subject(self._context(digest))
            shown = self._markdown_groups(digest, most, archive_url)

            def body(count: int) -> str:
                return self._markdown(digest, subject, _first(shown, count))

            text = body(most)
            if most == 0 or fits(subject + "\n" + text):
                return Rendered(subject, text, "")
            low, high, text = 0, most, body(0)
            if fits(subject + "\n" + text):
                # the most entries that fit: `low` fits, `high` does not
                while high - low > 1:
                    middle = (low + high) // 2
                    attempt = body(middle)
                    if fits(subject + "\n" + attempt):
                        low, text = middle, attempt
                    else:
                        high = middle
            return Rendered(subject, text, "")

    def _markdown_groups(
        self, digest: Digest, most: int, archive_url: Callable[[str], str] | None
    ) -> list[MarkdownGroup]:
        """The digest's groups with their first ``most`` entries (groups in order) made."""
        groups, left = [], most
        for group in digest.groups:
            entries = [_markdown_entry(entry) for entry in group.entries[:left]]
            left -= len(entries)
            link = markdown_link_target(archive_url(group.name)) if archive_url else None
            groups.append(MarkdownGroup(markdown_text(group.name), group.count, entries, 0, link))
        return groups

    def _markdown(self, digest: Digest, subject: str, groups: list[MarkdownGroup]) -> str:
        def link(url: str | None) -> str | None:
            return markdown_link_target(url) if url else None

        context = {
            "subject": markdown_text(subject),
            "recipient": markdown_text(digest.recipient),
            "timezone": markdown_text(digest.timezone),
            "groups": groups,
            "total": digest.total,
            "more": sum(group.more for group in groups),
            "late": digest.late,
            "unsubscribe_address": markdown_text(digest.unsubscribe_address),
            "manage_url": link(digest.manage_url),
            "unsubscribe_url": link(digest.unsubscribe_url),
        }
        try:
            return _tidy_text(render_capped(self.env, "digest.md", context))
        except TemplateError as error:
            raise TemplateProblem(describe(error)) from None

    def _context(self, digest: Digest) -> dict[str, object]:
        return {
            "recipient": digest.recipient,
            "timezone": digest.timezone,
            "groups": digest.groups,
            "overflow": digest.overflow,
            "hidden": digest.hidden,
            "total": digest.total,
            "late": digest.late,
            "unsubscribe_address": digest.unsubscribe_address,
            "manage_url": digest.manage_url,
            "unsubscribe_url": digest.unsubscribe_url,
        }

    def _subject(self, context: dict[str, object]) -> str:
        try:
            return header_text(render_capped(self.env, "subject.txt", context))
        except TemplateError as error:
            raise TemplateProblem(describe(error)) from None

    def _render(self, digest: Digest) -> Rendered:
        context = self._context(digest)
        subject = self._subject(context)
        context["subject"] = subject
        try:
            text = render_capped(self.env, "digest.txt", context)
            html = render_capped(self.env, "digest.html", context)
        except TemplateError as error:  # one that does not compile, or is refused
            raise TemplateProblem(describe(error)) from None
        return Rendered(subject, _tidy_text(text), css_inline.inline(html))

    def check(self) -> None:
        """Compile every template and render sample digests of every shape a real one takes
        (one article, many over the caps, a group shown by title only, long titles, Arabic,
        Cyrillic and CJK text): a broken user template fails here, at `newswatch check`, not
        at 07:00."""
        for name in TEMPLATES:
            try:
                self.env.get_template(name)
            except TemplateError as error:
                raise TemplateProblem(describe(error)) from None
        for digest in sample_digests():
            self.render(digest)
            for fits, archive_url in ((_fits_a_chat, _sample_archive_url), (_fits_much, None)):
                self.render_markdown(
                    digest, fits=fits, max_articles=SAMPLE_MAX_ARTICLES, archive_url=archive_url
                )


def _markdown_entry(entry: Entry) -> MarkdownEntry:
    return MarkdownEntry(
        title=markdown_text(entry.title),
        url=markdown_link_target(entry.url),
        language=markdown_text(entry.language),
        published=markdown_text(entry.published),
        watchlists=[markdown_text(name) for name in entry.watchlists],
        terms=[markdown_text(term) for term in entry.terms],
    )


def _first(groups: list[MarkdownGroup], count: int) -> list[MarkdownGroup]:
    """The groups with only the first ``count`` of their made entries (groups in order)."""
    kept = []
    for group in groups:
        entries = group.entries[:count]
        count -= len(entries)
        kept.append(replace(group, entries=entries, more=group.count - len(entries)))
    return kept


def _tidy_text(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _cap(digest: Digest, full: int, listed: int) -> Digest:
    """Keep ``full`` entries in full (groups in order), list ``listed`` more by title and
    count the rest."""
    groups, overflow, left = [], list(digest.overflow), full
    for group in digest.groups:
        kept, rest = group.entries[:left], group.entries[left:]
        left -= len(kept)
        overflow += rest
        groups.append(Group(group.name, kept, group.count))
    hidden = digest.hidden + max(len(overflow) - listed, 0)
    return replace(digest, groups=groups, overflow=overflow[:listed], hidden=hidden)


def sample_entry(
    title: str,
    hit: str,
    *,
    language: str = "en",
    watchlists: tuple[str, ...] = ("syria",),
    teaser: str = "The main objective of the anti-terror coalition is to destroy the headquarters.",
    number: int = 0,
) -> Entry:
    """One entry as digest_view makes it, with ``hit`` highlighted in title and snippet."""
    before, found, after = title.partition(hit)
    marked = [(before, False), (hit, True), (after, False)] if found else [(title, False)]
    return Entry(
        title=title,
        title_marked=[piece for piece in marked if piece[0]],
        url=f"https://p.dw.com/p/{1_000_000 + number}",
        language=language,
        published=datetime(2015, 11, 27, 10, 0, tzinfo=UTC).strftime("%d %b %Y %H:%M %Z"),
        teaser=teaser,
        snippet=[(f"… {before[-60:]}", False), (hit, True), (f"{after[:60]} …", False)],
        snippet_text=f"… {before[-60:]}[{hit}]{after[:60]} …",
        watchlists=list(watchlists),
        terms=[hit],
    )


# `check` renders digest.md of every sample for a small chat limit and for a large one
SAMPLE_MAX_ARTICLES = 50


def _fits_a_chat(text: str) -> bool:
    return len(text) <= 2000


def _fits_much(text: str) -> bool:
    return len(text) <= 100_000


def _sample_archive_url(watchlist: str) -> str:
    return f"https://newswatch.example.org/watchlists/{watchlist}"


# a subscriber's links as `store.links` makes them: a signed token of about a hundred characters
SAMPLE_TOKEN = "eyJlIjoiYW5hbHlzdEBleGFtcGxlLm9yZyJ9.V2hhdCBhIHNpZ25hdHVyZSBsb29rcyBsaWtl" * 2
SAMPLE_MANAGE_URL = f"https://newswatch.example.org/preferences/{SAMPLE_TOKEN}"
SAMPLE_UNSUBSCRIBE_URL = f"https://newswatch.example.org/unsubscribe/{SAMPLE_TOKEN}"


def sample_digest() -> Digest:
    """The seed article's digest: one article, with the subscriber's links."""
    entry = sample_entry("France wants to hit 'nerve center' of 'IS'", "IS")
    entry = replace(
        entry,
        url="https://p.dw.com/p/1HDPC",
        snippet=[("… the IS command in the Syrian city of ", False), ("Raqqa", True)],
        snippet_text="… the IS command in the Syrian city of [Raqqa]",
        terms=["Raqqa"],
    )
    return Digest(
        "analyst@example.org",
        "UTC",
        [Group("syria", [entry])],
        "newswatch@localhost",
        manage_url=SAMPLE_MANAGE_URL,
        unsubscribe_url=SAMPLE_UNSUBSCRIBE_URL,
    )


def sample_digests() -> list[Digest]:
    """Digests of every shape `check` renders the templates with: one article; more articles
    than the caps, so that a group is shown by count only and the rest is listed or counted;
    long titles and teasers; Arabic, Cyrillic and CJK text (watchlist names too); an entry
    without teaser or snippet, in several watchlists, with markup in its title; with the
    subscriber's links (manage, unsubscribe) and without them (no web app)."""
    many = [
        sample_entry(f"Raqqa briefing number {n} with a long title", "Raqqa", number=n)
        for n in range(MAX_FULL_ENTRIES + MAX_LISTED_ENTRIES + 30)
    ]
    later = [
        sample_entry(f"Kyiv power cuts, day {n}", "Kyiv", watchlists=("ukraine",), number=500 + n)
        for n in range(20)
    ]
    word = "Wiederaufbauunterstützungsgesetzesnovelle" * 40
    long = [
        sample_entry(" ".join(["Raqqa"] + ["reconstruction"] * 300), "Raqqa", teaser="T " * 2500),
        sample_entry(f"Raqqa {word}", "Raqqa", teaser=word, number=1),
    ]
    scripts = [
        sample_entry(
            "مقاتلو داعش يغادرون الرقة بعد معارك عنيفة",
            "الرقة",
            language="ar",
            number=2,
            watchlists=("سوريا",),
            teaser="قالت مصادر محلية إن آخر المقاتلين غادروا المدينة.",
        ),
        sample_entry(
            "Энергетики восстанавливают электроснабжение в Киеве",
            "Киеве",
            language="ru",
            watchlists=("Украина", "syria"),
            teaser="Отключения затронули миллионы людей.",
            number=3,
        ),
        sample_entry(
            "叙利亚拉卡市民返回家园",
            "拉卡",
            language="zh",
            watchlists=("叙利亚",),
            number=4,
            teaser="联合国表示，重建工作需要数年时间。",
        ),
        sample_entry(
            "ラッカの復興が始まる", "ラッカ", language="ja", watchlists=("叙利亚",), number=5
        ),
    ]
    odd = replace(
        sample_entry("<script>alert('Raqqa')</script> & \"more\"", "Raqqa", number=6),
        teaser="",
        snippet=[],
        snippet_text="",
        language="?",
        watchlists=["syria", "ukraine", "ir&an"],
        terms=["Raqqa", "IS", "<b>"],
    )
    return [
        sample_digest(),
        Digest(
            "analyst@example.org",
            "Europe/Berlin",
            [Group("syria", many), Group("ukraine", later)],
            "newswatch@localhost",
            manage_url=SAMPLE_MANAGE_URL,
            unsubscribe_url=SAMPLE_UNSUBSCRIBE_URL,
        ),
        Digest("analyst@example.org", "UTC", [Group("syria", long)], "newswatch@localhost"),
        Digest(
            "محلل@example.org",
            "Asia/Tokyo",
            [
                Group("سوريا", scripts[:1]),
                Group("Украина", scripts[1:2]),
                Group("叙利亚", scripts[2:]),
            ],
            "newswatch@localhost",
            manage_url=SAMPLE_MANAGE_URL,
            unsubscribe_url=SAMPLE_UNSUBSCRIBE_URL,
        ),
        Digest("analyst@example.org", "UTC", [Group("syria", [odd])], "newswatch@localhost"),
    ]
