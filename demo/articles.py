"""The demo site's articles: the data model and the hand-written content in ``demo/content/``.

Every article is one :class:`DemoArticle`. ``demo_articles(now)`` returns the seed article (DW's
"France wants to hit 'nerve center' of 'IS'", 27.11.2015, short id ``1HDPC``) and the demo articles,
whose publication dates lie shortly before ``now`` so that a first digest has something to show.

Their short ids are written in ``demo/content/`` as DW prints them, not computed here: a test that
reads the demo's pages checks the parser against ids it did not compute itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from urllib.parse import quote

from store.dw_ids import short_url

LANGUAGE_NAMES = {"en": "ENGLISH", "de": "GERMAN", "ru": "RUSSIAN"}
SUBHEAD = "## "
_CONTENT_FILES = ("seed.txt", "en.txt", "de.txt", "ru.txt")


@dataclass(frozen=True)
class Caption:
    """An image in the article: its caption, the photo credit, and where it stands.

    ``after`` is the index of the paragraph the image follows; -1 is the lead image above the text.
    """

    text: str
    credit: str = "DW"
    after: int = -1

    @property
    def is_lead(self) -> bool:
        return self.after < 0


@dataclass(frozen=True)
class DemoArticle:
    """One article (or video) of the demo site, in the fields a DW page shows."""

    content_id: int
    short_id: str  # the content id in base 62, as on the page's permalink (p.dw.com/p/<short id>)
    language: str  # "en" | "de" | "ru"
    layout: str  # "old" (classic dw.com) | "new" (React site, 2022+)
    kind: str  # "article" (/a-) | "video" (/av-)
    slug: str
    title: str
    teaser: str
    paragraphs: tuple[str, ...] = ()  # subheads start with SUBHEAD ("## ")
    captions: tuple[Caption, ...] = ()
    authors: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    published_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    modified_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    section: str = ""
    old_slug: str = ""  # an earlier slug the site still answers to
    video_teaser_id: int | None = None  # an embedded video teaser (old layout), another content id
    duration: str = ""  # videos: "mm:ss"

    @property
    def permalink(self) -> str:
        return short_url(self.short_id)

    @property
    def id_suffix(self) -> str:
        return f"{'av' if self.kind == 'video' else 'a'}-{self.content_id}"

    def path(self, slug: str | None = None) -> str:
        """The site path (percent-encoded) under a slug; the canonical slug by default."""
        return quote(f"/{self.language}/{slug or self.slug}/{self.id_suffix}")

    @property
    def canonical_path(self) -> str:
        return self.path()

    @property
    def amp_path(self) -> str:
        return "/amp" + self.path()

    @property
    def old_path(self) -> str:
        return self.path(self.old_slug or self.slug)

    @property
    def body_paragraphs(self) -> list[str]:
        """Paragraphs and subheads as plain text, in order (what a reader sees as the body)."""
        return [p.removeprefix(SUBHEAD) for p in self.paragraphs]

    @property
    def body(self) -> str:
        return "\n\n".join(self.body_paragraphs)

    @property
    def caption_texts(self) -> list[str]:
        return [c.text for c in self.captions]

    @property
    def images(self) -> list[tuple[int, Caption]]:
        """(image id, caption) pairs; image ids are derived from the content id."""
        return [(self.content_id * 10 + 3 + i, c) for i, c in enumerate(self.captions)]


def demo_articles(now: datetime | None = None) -> list[DemoArticle]:
    """The seed article and the demo articles, newest first; ``now`` anchors their dates."""
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    articles: list[DemoArticle] = []
    for name in _CONTENT_FILES:
        text = resources.files("demo").joinpath("content", name).read_text(encoding="utf-8")
        articles.extend(parse_content(text, now))
    return sorted(articles, key=lambda a: a.published_at, reverse=True)


def parse_content(text: str, now: datetime) -> list[DemoArticle]:
    """Read the ``demo/content/*.txt`` format (described at the top of ``en.txt``)."""
    chunks = re.split(r"^== (\d+)\s*$", text, flags=re.MULTILINE)
    pairs = zip(chunks[1::2], chunks[2::2], strict=True)
    return [_parse_article(int(cid), body, now) for cid, body in pairs]


def _parse_article(content_id: int, chunk: str, now: datetime) -> DemoArticle:
    header_text, _, body_text = chunk.strip("\n").partition("\n\n")
    header = dict(line.split(":", 1) for line in header_text.splitlines())
    header = {key.strip(): value.strip() for key, value in header.items()}
    paragraphs, captions = _parse_body(body_text)
    if "published" in header:
        published = _iso(header["published"])
        modified = _iso(header.get("modified", header["published"]))
    else:
        published = now - _duration(header["age"])
        modified = published + _duration(header.get("edited", "0m"))
    video = header.get("video", "")
    return DemoArticle(
        content_id=content_id,
        short_id=header["short_id"],
        language=header["language"],
        layout=header["layout"],
        kind=header.get("kind", "article"),
        slug=header["slug"],
        old_slug=header.get("old_slug", ""),
        title=header["title"],
        teaser=header["teaser"],
        paragraphs=tuple(paragraphs),
        captions=tuple(captions),
        authors=_split(header.get("authors", ""), "|"),
        topics=_split(header.get("topics", ""), "|"),
        keywords=_split(header.get("keywords", ""), ","),
        published_at=published,
        modified_at=modified,
        section=header.get("section", ""),
        video_teaser_id=int(video) if video else None,
        duration=header.get("duration", ""),
    )


def _parse_body(text: str) -> tuple[list[str], list[Caption]]:
    paragraphs: list[str] = []
    captions: list[Caption] = []
    image = re.compile(r"^\[(lead|image): (.+?)(?: \| (.+))?\]$")
    for block in re.split(r"\n\s*\n|\n(?=\[)|(?<=\])\n", text.strip()):
        block = " ".join(block.split())
        if not block:
            continue
        found = image.match(block)
        if found:
            after = -1 if found.group(1) == "lead" else len(paragraphs) - 1
            captions.append(Caption(found.group(2), found.group(3) or "DW", after))
        else:
            paragraphs.append(block)
    return paragraphs, captions


def _split(value: str, sep: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(sep) if part.strip())


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _duration(value: str) -> timedelta:
    number, unit = int(value[:-1]), value[-1]
    return timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[unit]: number})
