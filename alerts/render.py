"""Rendering a digest: subject, text and HTML from Jinja2 templates.

The bundled templates live in ``alerts/templates``; ``[mail] templates = DIR`` overrides any of
them by name. HTML is autoescaped (scraped text is untrusted), undefined names are errors, and
the CSS is inlined (css-inline) so mail clients that drop <style> still show the layout."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import css_inline
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateError,
    select_autoescape,
)

from alerts.mime import header_text

TEMPLATES = ("subject.txt", "digest.txt", "digest.html")
# Gmail clips an HTML part past 102 KB; stay below with room for headers
HTML_BUDGET = 100_000
MAX_FULL_ENTRIES = 50
MAX_LISTED_ENTRIES = 300


class TemplateProblem(ValueError):
    """A template that does not compile or render; names the template and the line."""


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

    @property
    def total(self) -> int:
        return sum(group.count for group in self.groups)  # the listed and counted ones included


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class DigestRenderer:
    def __init__(self, user_templates: str | Path | None = None) -> None:
        loaders = []
        if user_templates:
            folder = Path(user_templates)
            if not folder.is_dir():
                raise TemplateProblem(f"[mail] templates: {folder} is not a folder")
            loaders.append(FileSystemLoader(folder))
        loaders.append(PackageLoader("alerts", "templates"))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(["html"], default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,  # templates are read once per renderer
        )
        self.env.filters["wordwrap"] = wrap

    def render(self, digest: Digest) -> Rendered:
        """Subject, text and HTML; the newest entries in full up to what keeps the HTML under
        Gmail's clipping limit, the rest listed by title and link."""
        full = min(MAX_FULL_ENTRIES, sum(g.count for g in digest.groups))
        listed = MAX_LISTED_ENTRIES
        while True:
            rendered = self._render(_cap(digest, full, listed))
            if len(rendered.html.encode()) <= HTML_BUDGET or (full <= 1 and listed <= 1):
                return rendered
            if full > 1:
                full = full * 2 // 3
            else:
                listed = listed * 2 // 3

    def _render(self, digest: Digest) -> Rendered:
        context = {
            "recipient": digest.recipient,
            "timezone": digest.timezone,
            "groups": digest.groups,
            "overflow": digest.overflow,
            "hidden": digest.hidden,
            "total": digest.total,
            "late": digest.late,
            "unsubscribe_address": digest.unsubscribe_address,
        }
        try:
            subject = header_text(self.env.get_template("subject.txt").render(context))
            context["subject"] = subject
            text = self.env.get_template("digest.txt").render(context)
            html = self.env.get_template("digest.html").render(context)
        except TemplateError as error:
            raise TemplateProblem(_describe(error)) from None
        return Rendered(subject, _tidy_text(text), css_inline.inline(html))

    def check(self) -> None:
        """Compile every template and render a sample digest: a broken user template fails
        here, at `newswatch check`, not at 07:00."""
        for name in TEMPLATES:
            try:
                self.env.get_template(name)
            except TemplateError as error:
                raise TemplateProblem(_describe(error)) from None
        self.render(sample_digest())


def wrap(text: str, width: int = 76, break_long_words: bool = False, wrapstring: str = "\n") -> str:
    """Greedy word wrap for the text part (Jinja's wordwrap is several times slower); the same
    teaser or snippet in many digests of a build is wrapped once."""
    if not isinstance(text, str):  # fails as it always did
        return _wrap.__wrapped__(text, width, break_long_words, wrapstring)
    return _wrap(text, width, break_long_words, wrapstring)


@lru_cache(maxsize=4096)
def _wrap(text: str, width: int, break_long_words: bool, wrapstring: str) -> str:
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split():
            if line and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
    return wrapstring.join(lines)


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


def _describe(error: TemplateError) -> str:
    where = getattr(error, "name", None) or getattr(error, "filename", None) or "template"
    line = getattr(error, "lineno", None)
    return f"{where}{f' line {line}' if line else ''}: {error.message or error}"


def sample_digest() -> Digest:
    entry = Entry(
        title="France wants to hit 'nerve center' of 'IS'",
        title_marked=[
            ("France wants to hit 'nerve center' of '", False),
            ("IS", True),
            ("'", False),
        ],
        url="https://p.dw.com/p/1HDPC",
        language="en",
        published=datetime(2015, 11, 27, 10, 0, tzinfo=UTC).strftime("%d %b %Y %H:%M %Z"),
        teaser="The main objective of the anti-terror coalition is to destroy the headquarters.",
        snippet=[("… the IS command in the Syrian city of ", False), ("Raqqa", True)],
        snippet_text="… the IS command in the Syrian city of [Raqqa]",
        watchlists=["syria"],
        terms=["Raqqa"],
    )
    return Digest("analyst@example.org", "UTC", [Group("syria", [entry])], "newswatch@localhost")
