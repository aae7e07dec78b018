"""What chat, push and webhook channels receive of a digest: a short Markdown digest cut by
whole entries to the channel's limit, scraped text that cannot turn into markup, and the
webhook's JSON document. Digests are made as the service makes them: articles stored in a
SQLite file, matched, picked as candidates and viewed (alerts.digest_view)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token
from pydantic import AwareDatetime, BaseModel, ConfigDict

from alerts.channel_render import markdown_text, webhook_document
from alerts.config import SubscriberConfig
from alerts.digest_candidates import Candidate, DueSubscriber, undelivered_matches
from alerts.digest_view import digest_view
from alerts.match_stage import match_articles
from alerts.render import Digest, DigestRenderer, Rendered, TemplateProblem
from alerts.watchlists import WatchlistConfig
from scheduler.cli import main
from store.articles import upsert_article
from store.db import Database
from tests.articles import article_fields

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
TELEGRAM = 4096
SYRIA = WatchlistConfig(name="syria", terms=["Raqqa", "Daesh"], match_case=["IS"])
UKRAINE = WatchlistConfig(name="ukraine", terms=["Kyiv"])
ARCHIVE = "https://newswatch.example.org/watchlists/"


def telegram(text: str) -> bool:
    return len(text) <= TELEGRAM


def archive_url(name: str) -> str:
    return ARCHIVE + quote(name, safe="")


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Database]:
    with Database(sqlite_url) as database:
        yield database


def subscriber(*watchlists: str) -> SubscriberConfig:
    return SubscriberConfig(
        email="analyst@example.org",
        watchlists=list(watchlists),
        schedule="immediate",
        timezone="Europe/Berlin",
    )


def stored(db: Database, *rows: dict) -> None:
    with db.session() as session:
        for row in rows:
            upsert_article(session, row, NOW - timedelta(minutes=30))
        session.commit()


def article(cid: int, title: str, minutes_ago: int = 60, **extra: object) -> dict:
    extra.setdefault("body", "Nothing to match here.")
    return article_fields(
        cid, title=title, published_at=NOW - timedelta(minutes=minutes_ago), **extra
    )


def candidates(
    db: Database, who: SubscriberConfig, watchlists: list[WatchlistConfig]
) -> list[Candidate]:
    """The subscriber's matches, as the digest stage picks them."""
    match_articles(db, watchlists, now=NOW)
    with db.session() as session:
        due = [DueSubscriber(who, known=False, last_digest_at=None)]
        return undelivered_matches(session, due, NOW)[who.email]


def digest_of(db: Database, who: SubscriberConfig, watchlists: list[WatchlistConfig]) -> Digest:
    return digest_view(who, candidates(db, who, watchlists), "newswatch@localhost")


# ------------------------------------------------------------ Markdown as a reader sees it


@dataclass
class Link:
    text: str
    href: str


@dataclass
class Shown:
    """A rendered Markdown body, parsed by a CommonMark renderer (with the strikethrough and
    table extensions of chat services)."""

    links: list[Link]
    kinds: Counter[str]  # every token type met, inline ones included

    def link_to(self, href: str) -> Link:
        [found] = [link for link in self.links if link.href == href]
        return found


def shown(markdown: str) -> Shown:
    parser = MarkdownIt("commonmark").enable(["strikethrough", "table"])
    links: list[Link] = []
    kinds: Counter[str] = Counter()
    for token in parser.parse(markdown):
        kinds[token.type] += 1
        _inline(token.children or [], links, kinds)
    return Shown(links, kinds)


def _inline(children: list[Token], links: list[Link], kinds: Counter[str]) -> None:
    open_link: Link | None = None
    for child in children:
        kinds[child.type] += 1
        if child.type == "link_open":
            open_link = Link("", str(child.attrs["href"]))
        elif child.type == "link_close" and open_link is not None:
            links.append(open_link)
            open_link = None
        elif open_link is not None and child.type in ("text", "code_inline"):
            open_link.text += child.content


def entry_lines(body: str) -> list[str]:
    return [line for line in body.splitlines() if line.startswith("- [") and "/p/" in line]


def more_counts(body: str) -> dict[str, int]:
    """Each "N more" link's watchlist (from its archive address) and N."""
    counts = {}
    for link in shown(body).links:
        if link.href.startswith(ARCHIVE) and (found := re.fullmatch(r"(\d+) more", link.text)):
            counts[unquote(link.href.removeprefix(ARCHIVE))] = int(found[1])
    return counts


def render(
    digest: Digest,
    fits: Callable[[str], bool] = telegram,
    *,
    max_articles: int = 100,
    archive_url: Callable[[str], str] | None = archive_url,
) -> Rendered:
    return DigestRenderer().render_markdown(
        digest, fits=fits, max_articles=max_articles, archive_url=archive_url
    )


# ------------------------------------------------------------------------- cutting


def test_sixty_entries_are_cut_whole_to_telegrams_limit_and_the_rest_counted(db) -> None:
    stored(
        db,
        *(
            article(7000 + n, f"Raqqa: reconstruction report number {n} from the city", n)
            for n in range(45)
        ),
        *(article(7100 + n, f"Kyiv power cuts, day {n} of the winter", 100 + n) for n in range(15)),
    )
    digest = digest_of(db, subscriber("syria", "ukraine"), [SYRIA, UKRAINE])
    assert digest.total == 60
    rendered = render(digest)
    assert rendered.subject == "newswatch: 60 new articles (syria 45, ukraine 15)"
    assert rendered.html == ""
    assert len(rendered.subject + "\n" + rendered.text) <= TELEGRAM
    entries = entry_lines(rendered.text)
    assert 20 < len(entries) < 60
    # every entry shown is whole: its title as the link text, to its own short link, its terms
    view = shown(rendered.text)
    in_order = [entry for group in digest.groups for entry in group.entries]
    for line, entry in zip(entries, in_order, strict=False):  # the newest first, groups in order
        assert view.link_to(entry.url).text == entry.title
        assert line == f"- [{entry.title}]({entry.url}) · _{entry.terms[0]}_"
    # the rest counted per watchlist, linked to its archive page
    left = {
        group.name: sum(view.links.count(Link(e.title, e.url)) == 0 for e in group.entries)
        for group in digest.groups
    }
    assert sum(left.values()) == 60 - len(entries)
    assert more_counts(rendered.text) == {name: n for name, n in left.items() if n}
    assert "**syria** (45)" in rendered.text and "**ukraine** (15)" in rendered.text
    # as many as fit: one entry more would not
    one_more = render(digest, fits=lambda text: True, max_articles=len(entries) + 1)
    assert len(one_more.subject + "\n" + one_more.text) > TELEGRAM
    # without an archive, the count alone
    plain = render(digest, archive_url=None)
    plain_entries = entry_lines(plain.text)  # the links left out make room for an entry or two
    assert plain_entries[: len(entries)] == entries and len(plain_entries) < 60
    assert not any(link.href.startswith(ARCHIVE) for link in shown(plain.text).links)
    shown_per_group = [
        sum(f"({e.url})" in plain.text for e in group.entries) for group in digest.groups
    ]
    assert [line for line in plain.text.splitlines() if line.endswith(" more")] == [
        f"- {group.count - n} more"
        for group, n in zip(digest.groups, shown_per_group, strict=True)
        if group.count > n
    ]


def test_max_articles_caps_the_entries_even_when_more_would_fit(db) -> None:
    stored(db, *(article(7200 + n, f"Raqqa item {n}", n) for n in range(8)))
    digest = digest_of(db, subscriber("syria"), [SYRIA])
    rendered = render(digest, max_articles=3)
    assert [line.split("](")[0] for line in entry_lines(rendered.text)] == [
        "- [Raqqa item 0",
        "- [Raqqa item 1",
        "- [Raqqa item 2",
    ]
    assert more_counts(rendered.text) == {"syria": 5}


def test_an_entry_longer_than_the_limit_leaves_the_counts_and_n_more(db) -> None:
    long_title = "Raqqa " + "reconstruction " * 400  # ~6,000 characters
    stored(db, article(7300, long_title))
    digest = digest_of(db, subscriber("syria"), [SYRIA])
    rendered = render(digest)
    assert len(rendered.subject + "\n" + rendered.text) <= TELEGRAM
    assert entry_lines(rendered.text) == []
    assert "reconstruction" not in rendered.text  # nothing of the entry, not half of it
    assert "**syria** (1)" in rendered.text
    assert more_counts(rendered.text) == {"syria": 1}
    assert "DW published 1 new article matching your watchlists." in rendered.text


def test_the_subscribers_links_come_last_when_the_digest_has_them(db) -> None:
    stored(db, article(7400, "Raqqa today"))
    who = subscriber("syria")
    found = candidates(db, who, [SYRIA])
    manage = "https://newswatch.example.org/preferences/abc_DEF-1.x_y"
    unsubscribe = "https://newswatch.example.org/unsubscribe/abc_DEF-1.x_y"
    with_links = digest_view(
        who, found, "newswatch@localhost", manage_url=manage, unsubscribe_url=unsubscribe
    )
    text = render(with_links).text
    assert text.splitlines()[-1] == f"[Manage your alerts]({manage}) · [Unsubscribe]({unsubscribe})"
    view = shown(text)
    assert view.link_to(manage).text == "Manage your alerts"
    assert view.link_to(unsubscribe).text == "Unsubscribe"
    without = render(digest_view(who, found, "newswatch@localhost")).text
    assert "Unsubscribe" not in without and "Manage" not in without


# ------------------------------------------------------------------------- templates


def templates(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_a_digest_md_in_the_users_templates_folder_is_used(db, tmp_path) -> None:
    stored(db, *(article(7500 + n, f"Raqqa item {n}", n) for n in range(5)))
    digest = digest_of(db, subscriber("syria"), [SYRIA])
    folder = templates(
        tmp_path,
        {
            "digest.md": "Our digest: {{ total }}\n{% for group in groups %}"
            "{% for entry in group.entries %}* {{ entry.title }}\n{% endfor %}"
            "{{ group.name }}: {{ group.more }} more\n{% endfor %}"
        },
    )
    renderer = DigestRenderer(folder)
    renderer.check()
    rendered = renderer.render_markdown(
        digest, fits=lambda text: len(text) <= 120, max_articles=10, archive_url=None
    )
    assert rendered.subject == "newswatch: 5 new articles (syria 5)"  # the bundled subject
    lines = rendered.text.splitlines()
    assert lines[0] == "Our digest: 5"
    assert lines[-1] == f"syria: {5 - (len(lines) - 2)} more"
    assert len(rendered.subject + "\n" + rendered.text) <= 120 and len(lines) > 2


BROKEN_DIGEST_MD = {
    "does not compile": ("{% for group in %}\n", "template digest.md line 1:"),
    "an unknown name": (
        "ok\n{{ groups|length }} {{ nothing_here }}\n",
        "template digest.md line 2:",
    ),
    # only a digest cut to a chat's limit has a group without entries: check renders one
    "fails only when cut": (
        "{% for group in groups %}{{ group.entries[0].title }}{% endfor %}",
        "template digest.md line 1:",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN_DIGEST_MD))
def test_a_broken_digest_md_fails_check(tmp_path, capsys, case) -> None:
    text, expected = BROKEN_DIGEST_MD[case]
    folder = templates(tmp_path, {"digest.md": text})
    with pytest.raises(TemplateProblem, match=re.escape(expected)):
        DigestRenderer(folder).check()
    config = tmp_path / "newswatch.toml"
    config.write_text(f'[mail]\ntemplates = "{folder}"\n')
    assert main(["--config", str(config), "check"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert expected in line


def test_the_bundled_digest_md_passes_check() -> None:
    DigestRenderer().check()


# ------------------------------------------------------------------------- scripts, hostile text


def test_arabic_and_cyrillic_titles_and_watchlist_names_arrive_as_written(db) -> None:
    arabic = WatchlistConfig(name="سوريا", terms=["الرقة"])
    cyrillic = WatchlistConfig(name="Украина", terms=["Киеве"])
    titles = {
        7600: "مقاتلو داعش يغادرون الرقة بعد معارك عنيفة",
        7601: "Энергетики восстанавливают электроснабжение в Киеве",
    }
    stored(
        db,
        article(7600, titles[7600], language="ar", url="https://www.dw.com/ar/x/a-7600"),
        article(7601, titles[7601], language="ru", url="https://www.dw.com/ru/x/a-7601"),
    )
    digest = digest_of(db, subscriber("سوريا", "Украина"), [arabic, cyrillic])
    rendered = render(digest)
    assert rendered.subject == "newswatch: 2 new articles (سوريا 1, Украина 1)"
    assert "**سوريا** (1)" in rendered.text and "**Украина** (1)" in rendered.text
    view = shown(rendered.text)
    assert sorted(link.text for link in view.links) == sorted(titles.values())
    assert "· _الرقة_" in rendered.text and "· _Киеве_" in rendered.text
    # each non-Latin watchlist's "more" links to its own archive page
    none_shown = render(digest, max_articles=0)
    assert more_counts(none_shown.text) == {"سوريا": 1, "Украина": 1}


HOSTILE_TITLES = [
    "Raqqa *bold* and _italic_ and `code` and **strong**",
    "Raqqa](https://evil.example/) and [more",
    "Raqqa [click here](https://evil.example/phish)",
    "Raqqa <https://evil.example/auto> autolink",
    "Raqqa <script>alert('x')</script> <b>bold</b>",
    "Raqqa ![image](https://evil.example/pixel.png)",
    "Raqqa\n\n# A heading\n[ref]: https://evil.example/ref\n\n- a list",
    "Raqqa \\] backslash \\",
    "Raqqa &lt;b&gt; and &amp; and AT&T",
    "Raqqa ||spoiler|| and ~~struck~~ | table | cell |",
    "1. Raqqa as a numbered item",
    "# Raqqa as a heading",
    "[ref]: https://evil.example/ Raqqa",
]


def test_hostile_titles_stay_text_inside_their_own_link(db) -> None:
    stored(db, *(article(7700 + n, title, n) for n, title in enumerate(HOSTILE_TITLES)))
    evil_list = WatchlistConfig(name="ir&an_[x](https://evil.example/w)", terms=["Raqqa"])
    digest = digest_of(db, subscriber(evil_list.name), [evil_list])
    rendered = render(digest)
    view = shown(rendered.text)
    by_url = {entry.url: entry for entry in digest.groups[0].entries}
    # one link per entry, to its short link, showing the title as DW wrote it (one line)
    entry_links = [link for link in view.links if link.href in by_url]
    assert len(entry_links) == len(HOSTILE_TITLES) == len(entry_lines(rendered.text))
    for link in entry_links:
        assert link.text == " ".join(by_url[link.href].title.split())
    assert not [link for link in view.links if "evil.example" in link.href]
    # no markup made of scraped text: no emphasis, code, image, HTML, heading or table; only
    # the template's own: the watchlist in bold, each entry's hit terms in italics
    made = {"em_open", "strong_open", "code_inline", "image", "html_inline", "html_block"}
    made |= {"heading_open", "table_open", "s_open", "hr"}
    assert {kind: n for kind, n in view.kinds.items() if kind in made} == {
        "strong_open": 1,
        "em_open": len(HOSTILE_TITLES),
    }
    assert rendered.text.count("· _Raqqa_") == len(HOSTILE_TITLES)
    assert f"**{markdown_text(evil_list.name)}** ({len(HOSTILE_TITLES)})" in rendered.text


def test_hostile_titles_stay_text_through_apprises_markdown_to_html_converter() -> None:
    """Apprise turns Markdown into HTML with Python-Markdown for HTML services (Telegram)."""
    markdown = pytest.importorskip("markdown")  # Apprise's own dependency
    for title in HOSTILE_TITLES:
        html = markdown.markdown(f"- [{markdown_text(title)}](https://p.dw.com/p/1HDPC)")
        assert html.count("<a ") == 1 and 'href="https://p.dw.com/p/1HDPC"' in html
        for tag in ("<em", "<strong", "<code", "<img", "<script", "<b>", "<h1"):
            assert tag not in html


def test_markdown_text_escapes_only_what_markdown_reads_as_markup() -> None:
    assert markdown_text("Merkel: EU-Gipfel (Brüssel) 2025. Wow!") == (
        "Merkel: EU-Gipfel (Brüssel) 2025. Wow!"
    )
    assert markdown_text("a_b*c`d[e]f\\g") == "a\\_b\\*c\\`d\\[e\\]f\\\\g"
    assert markdown_text("<b> & &amp;") == "&lt;b&gt; & &amp;amp;"
    assert markdown_text("2025. A year") == "2025\\. A year"
    assert markdown_text("- item\n\n  # two") == "\\- item # two"


# ------------------------------------------------------------------------- webhook JSON


class ArticleDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    short_id: str
    url: str
    title: str
    teaser: str
    language: str | None
    published_at: AwareDatetime | None
    terms: list[str]
    fields: list[str]
    snippet: str | None


class WatchlistDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    articles: list[ArticleDocument]


class WebhookDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    id: str
    subscriber: str
    created_at: AwareDatetime
    watchlists: list[WatchlistDocument]


ISO_WITH_OFFSET = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00")


def test_the_webhook_document_has_the_documented_shape_and_order(db) -> None:
    stored(
        db,
        article(7800, "Raqqa and Kyiv talks", 10, teaser="Ministers met in Geneva."),
        article(7801, "Power cuts", 20, body="Crews worked through the night in Kyiv."),
        article(7802, "Daesh cell arrested", 30, language="de"),
    )
    who = subscriber("ukraine", "syria")  # ukraine first
    found = candidates(db, who, [SYRIA, UKRAINE])
    text = webhook_document(
        digest_id="d-0001",
        subscriber="analyst@example.org",
        created_at=NOW,
        watchlists=who.watchlists,
        matches=found,
    )
    assert "\n" not in text and ", " not in text.replace("Raqqa and Kyiv talks", "")  # compact
    document = WebhookDocument.model_validate_json(text)
    raw = json.loads(text)
    assert (document.id, document.subscriber) == ("d-0001", "analyst@example.org")
    assert raw["created_at"] == "2026-11-25T09:00:00+00:00"
    assert [w.name for w in document.watchlists] == ["ukraine", "syria"]
    ukraine, syria = document.watchlists
    assert [a.title for a in ukraine.articles] == ["Raqqa and Kyiv talks", "Power cuts"]
    assert [a.title for a in syria.articles] == ["Raqqa and Kyiv talks", "Daesh cell arrested"]
    both_u, cuts = ukraine.articles
    both_s, daesh = syria.articles
    # one article under each watchlist that hit it, with that watchlist's terms and fields
    assert (both_u.short_id, both_u.terms, both_u.fields) == (both_s.short_id, ["Kyiv"], ["title"])
    assert both_s.terms == ["Raqqa"]
    assert (cuts.terms, cuts.fields) == (["Kyiv"], ["body"])
    assert cuts.snippet is not None and "Kyiv" in cuts.snippet
    assert both_u.url == f"https://p.dw.com/p/{both_u.short_id}"
    assert both_u.teaser == "Ministers met in Geneva." and daesh.language == "de"
    assert both_u.published_at == NOW - timedelta(minutes=10)
    for watchlist in raw["watchlists"]:
        for entry in watchlist["articles"]:
            assert ISO_WITH_OFFSET.fullmatch(entry["published_at"])
            assert entry["snippet"] is None or isinstance(entry["snippet"], str)


def test_the_webhook_document_keeps_unknown_dates_and_snippets_as_null(db) -> None:
    stored(db, article_fields(7900, title="Raqqa", body="", published_at=None))
    who = subscriber("syria")
    found = candidates(db, who, [SYRIA])
    raw = json.loads(
        webhook_document(
            digest_id="d-2",
            subscriber="analyst",
            created_at=NOW.astimezone(datetime.now().astimezone().tzinfo),
            watchlists=["syria"],
            matches=found,
        )
    )
    [entry] = raw["watchlists"][0]["articles"]
    assert entry["published_at"] is None
    assert raw["created_at"] == "2026-11-25T09:00:00+00:00"  # in UTC whatever the zone given
    with pytest.raises(ValueError, match="naive"):
        webhook_document(
            digest_id="d-3",
            subscriber="analyst",
            created_at=NOW.replace(tzinfo=None),
            watchlists=["syria"],
            matches=found,
        )
