"""The parser's fallbacks, reported: a real new-layout DW page whose JSON-LD and Apollo state are
gone (a tool that saves pages without their ``<script>`` elements, or a redesign) still yields its
authors and date from the page itself, and says which fields needed that (``fallbacks``) and
where each field came from (``sources``), in ``newswatch parse --json`` too.

The samples hold no English new-layout page of 2026; the German one of January 2024 has the same
React layout. The author-link and ``meta[name=date]`` markup of the 2026 pages (issue 15) is put
into that real page where a test needs it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from selectolax.lexbor import LexborHTMLParser

from crawler.dw_page import parse_page
from scheduler.cli import main

NEW_LAYOUT = "article-de-2024-a-68117411-new-layout.html"
BERLIN = ZoneInfo("Europe/Berlin")
AUTHOR = "Jennifer Pahlke"
AUTHOR_DETAILS = (
    '<span class="sc-iJfdHH sc-cCIIiH sc-jdkVqZ sc-gFWRCe cmgBOB kzaFDA hGpdag kTNyaU sc-gHvlmt '
    f'leJYZy author no-link has-italic">{AUTHOR}</span>'
)
TIME = '<time aria-hidden="true">30.01.2024</time>'


def real_page(dw_samples: Path) -> str:
    return (dw_samples / NEW_LAYOUT).read_text(encoding="utf-8")


def without_scripts(html: str) -> str:
    """The page as a tool that strips ``<script>`` elements saves it."""
    tree = LexborHTMLParser(html)
    for script in tree.css("script"):
        script.decompose()
    stripped = tree.html or ""
    assert "application/ld+json" not in stripped and "__APOLLO_STATE__" not in stripped
    return stripped


def replaced(html: str, old: str, new: str) -> str:
    assert html.count(old) == 1, old
    return html.replace(old, new)


def test_the_real_page_with_its_scripts_needs_no_fallback(dw_samples: Path) -> None:
    page = parse_page(real_page(dw_samples))
    assert page.fallbacks == [] and not page.selector_fallback
    assert page.authors == [AUTHOR]
    assert page.sources == {
        "title": "h1",
        "teaser": "teaser-text",
        "body": "rich-text",
        "authors": "json-ld",
        "published_at": "json-ld",
        "modified_at": "json-ld",
    }


def test_without_its_scripts_authors_and_date_come_from_the_page(dw_samples: Path) -> None:
    full = parse_page(real_page(dw_samples))
    page = parse_page(without_scripts(real_page(dw_samples)))
    assert page.authors == [AUTHOR]
    assert page.published_at == datetime(2024, 1, 30, tzinfo=BERLIN)  # the <time> shows the day
    assert page.fallbacks == ["authors", "published_at"]
    assert (page.sources["authors"], page.sources["published_at"]) == ("author-details", "time")
    assert "modified_at" not in page.sources and page.modified_at is None  # nowhere on the page
    # what the page shows is read as before: title, teaser, body, captions, topics
    for name in ("short_id", "title", "teaser", "body", "captions", "topics"):
        assert getattr(page, name) == getattr(full, name), name
    assert not page.selector_fallback


def test_author_links_and_meta_date_of_the_2026_layout(dw_samples: Path) -> None:
    html = without_scripts(real_page(dw_samples))
    html = replaced(
        html,
        AUTHOR_DETAILS,
        '<div class="author-name"><a class="author-link" href="/en/jane-doe/person-1">'
        'Jane Doe</a>, <a class="author-link" href="/en/john-roe/person-2">John Roe</a></div>',
    )
    html = replaced(html, "</head>", '<meta name="date" content="2026-06-12T09:30:00.000Z"></head>')
    page = parse_page(html)
    assert page.authors == ["Jane Doe", "John Roe"]
    assert page.published_at is not None
    assert page.published_at.isoformat() == "2026-06-12T09:30:00+00:00"  # not the <time>'s day
    assert page.sources["authors"] == "author-link"
    assert page.sources["published_at"] == "meta[name=date]"
    assert page.fallbacks == ["authors", "published_at"]


def test_a_time_element_with_a_datetime_gives_the_exact_moment(dw_samples: Path) -> None:
    html = replaced(
        without_scripts(real_page(dw_samples)),
        TIME,
        '<time datetime="2024-01-30T14:13:12Z" aria-hidden="true">30.01.2024</time>',
    )
    page = parse_page(html)
    assert page.published_at is not None
    assert page.published_at.isoformat() == "2024-01-30T14:13:12+00:00"
    assert page.sources["published_at"] == "time[datetime]"


@pytest.mark.parametrize("relative", ["vor 3 Stunden", "3 hours ago", "gestern"])
def test_a_relative_time_text_gives_no_date(dw_samples: Path, relative: str) -> None:
    html = replaced(
        without_scripts(real_page(dw_samples)), TIME, f'<time aria-hidden="true">{relative}</time>'
    )
    page = parse_page(html)
    assert page.published_at is None
    assert "published_at" not in page.sources and page.fallbacks == ["authors"]


def test_a_renamed_body_container_needs_the_generic_extractor(dw_samples: Path) -> None:
    html = real_page(dw_samples).replace(" rich-text ", " article-copy ")
    page = parse_page(html)
    assert page.selector_fallback and page.sources["body"] == "trafilatura"
    assert page.fallbacks == ["body"]
    assert "Nadeschdin" in page.body
    assert page.title == parse_page(real_page(dw_samples)).title


def test_parse_json_prints_the_fallbacks_beside_selector_fallback(
    dw_samples: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "saved.html"
    saved.write_text(without_scripts(real_page(dw_samples)), encoding="utf-8")
    assert main(["parse", str(saved), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    keys = list(data)
    assert keys[keys.index("selector_fallback") :] == ["selector_fallback", "fallbacks", "sources"]
    assert data["selector_fallback"] is False
    assert data["fallbacks"] == ["authors", "published_at"]
    assert data["sources"]["authors"] == "author-details"
    assert data["authors"] == [AUTHOR] and data["published_at"] == "2024-01-30T00:00:00+01:00"


def test_without_json_ld_the_apollo_state_still_gives_authors_and_dates(dw_samples: Path) -> None:
    """A broken JSON-LD block: the page's own ``__APOLLO_STATE__`` entry is as good a source."""
    html = real_page(dw_samples)
    start = html.index('type="application/ld+json">') + len('type="application/ld+json">')
    broken = html[:start] + "{not json" + html[start:]
    page = parse_page(broken)
    assert page.authors == [AUTHOR] and page.fallbacks == []
    assert page.published_at is not None
    assert page.published_at.isoformat() == "2024-01-30T14:13:12.269000+00:00"
    assert page.sources["authors"] == page.sources["published_at"] == "apollo"
