"""The newswatch command line as a user runs it: output, JSON shapes, exit statuses."""

from __future__ import annotations

import json
import mailbox
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from demo import DemoServer, Route
from scheduler.cli import main
from store.articles import upsert_article
from store.clock import fixed_clock
from store.db import Database
from store.dw_ids import short_id
from tests.articles import article_fields

PARSE_KEYS = [
    "short_id",
    "content_id",
    "url",
    "language",
    "kind",
    "title",
    "teaser",
    "body",
    "captions",
    "authors",
    "topics",
    "published_at",
    "modified_at",
    "selector_fallback",
    "fallbacks",
]
# `parse --json` adds where each field was read (the stored articles do not keep it)
PARSE_JSON_KEYS = [*PARSE_KEYS, "sources"]
# what `newswatch parse --json` must print for each real page (read off the pages by hand)
SAMPLES = {
    "article-en-2020-a-52060881-old-layout.html": (
        "3WRPd",
        52060881,
        "en",
        "article",
        "2020-01-19T00:00:00+01:00",
    ),
    "article-fr-2011-a-6533123-old-layout.html": (
        "RPYx",
        6533123,
        "fr",
        "article",
        "2011-05-23T00:00:00+02:00",
    ),
    "article-de-2023-a-64976342-old-layout.html": (
        "4OdJW",
        64976342,
        "de",
        "article",
        "2023-03-14T00:00:00+01:00",
    ),
    "article-de-2023-a-65106525-old-layout.html": (
        "4PBBF",
        65106525,
        "de",
        "article",
        "2023-03-25T00:00:00+01:00",
    ),
    "article-de-2024-a-68117411-new-layout.html": (
        "4boRv",
        68117411,
        "de",
        "article",
        "2024-01-30T14:13:12.269000+00:00",
    ),
    "video-de-2018-av-42986168-old-layout.html": (
        "2uMfI",
        42986168,
        "de",
        "video",
        "2018-10-28T00:00:00+02:00",
    ),
    "video-de-2021-av-56780778-old-layout.html": (
        "3qFH0",
        56780778,
        "de",
        "video",
        "2021-03-09T00:00:00+01:00",
    ),
}


# the clock the CLI runs on in these tests, passed from main() down to every stored row
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args), clock=fixed_clock(NOW))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_parse_json_prints_the_fields_of_each_real_page(dw_samples, capsys, name) -> None:
    code, out, _ = run(capsys, "parse", str(dw_samples / name), "--json")
    assert code == 0
    page = json.loads(out)
    assert list(page) == PARSE_JSON_KEYS
    assert (
        page["short_id"],
        page["content_id"],
        page["language"],
        page["kind"],
        page["published_at"],
    ) == SAMPLES[name]
    assert page["title"] and page["selector_fallback"] is False
    assert page["fallbacks"] == [] and page["sources"]["title"] == "h1"


def test_parse_of_a_missing_file_is_a_usage_error(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "parse", str(tmp_path / "nope.html"), "--json")
    assert code == 2 and "nope.html" in err


def test_parse_of_a_page_that_is_not_dw_says_so(capsys, tmp_path) -> None:
    page = tmp_path / "other.html"
    page.write_text("<html><head><title>Example</title></head><body><p>Hi</p></body></html>")
    code, _, err = run(capsys, "parse", str(page), "--json")
    assert code == 1 and "other.html" in err


def test_parse_of_a_url_decodes_the_page_by_its_http_charset(capsys) -> None:
    """A Russian page in KOI8-R whose charset only its Content-Type header names."""
    html = (
        '<html lang="ru"><head><link rel="canonical" href="https://www.dw.com/ru/x/a-61000001">'
        '<title>Новости</title></head><body><div id="bodyContent"><div class="col3">'
        '<h1>Привет из Москвы</h1><div class="longText"><p>Текст статьи.</p></div></div></div>'
        "</body></html>"
    )
    with DemoServer([]) as server:
        server.routes["/ru/x/a-61000001"] = Route(
            body=html.encode("koi8-r"), headers={"Content-Type": "text/html; charset=koi8-r"}
        )
        code, out, _ = run(capsys, "parse", server.url("/ru/x/a-61000001"), "--json")
    page = json.loads(out)
    assert code == 0
    assert (page["title"], page["body"], page["short_id"]) == (
        "Привет из Москвы",
        "Текст статьи.",
        short_id(61000001),
    )


def test_init_writes_a_config_that_check_accepts(capsys, tmp_path) -> None:
    path = tmp_path / "newswatch.toml"
    assert run(capsys, "init", str(path))[0] == 0
    assert "[[watchlists]]" in path.read_text()
    code, out, _ = run(capsys, "--config", str(path), "check")
    assert code == 0 and "ok" in out and "watchlist syria" in out
    code, _, err = run(capsys, "init", str(path))
    assert code == 2 and "exists" in err


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ('[crawl]\nevery = "soon"\n', "crawl.every"),
        ("[crawl]\nspeed = 3\n", "crawl.speed"),
        ("[crawl]\nmax_items_per_feed = 0\n", "crawl.max_items_per_feed"),
        ("[crawl]\nmax_items_per_feed = 1_000_001\n", "crawl.max_items_per_feed"),
        ('[[watchlists]]\nname = "w"\nterms = ["terr*or"]\n', "terr*or"),
        ('[[watchlists]]\nname = "w"\nterms = ["!!"]\n', "watchlists[0]"),
        ('[[subscribers]]\nemail = "a@b.org"\nwatchlists = ["nope"]\n', "nope"),
        (
            '[[watchlists]]\nname = "w"\nterms = ["x"]\n[[subscribers]]\nemail = "a@b.org"\n'
            'watchlists = ["w"]\nschedule = "daily 25:00"\n',
            "subscribers[0].schedule",
        ),
        (
            '[[watchlists]]\nname = "w"\nterms = ["x"]\n[[subscribers]]\nemail = "a@b.org"\n'
            'watchlists = ["w"]\ntimezone = "Mars/Olympus"\n',
            "subscribers[0].timezone",
        ),
        ('[mail]\nsmtp_url = "smtp://me:secret@mail.example.org"\n', "NEWSWATCH_SMTP_PASSWORD"),
        ("[storage\n", "not valid TOML"),
    ],
)
def test_check_names_the_field_at_fault_and_exits_2(capsys, tmp_path, toml, field) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    code, _, err = run(capsys, "--config", str(path), "check")
    assert code == 2
    assert field in err


def test_check_without_a_config_file_is_a_usage_error(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "--config", str(tmp_path / "missing.toml"), "check")
    assert code == 2 and "newswatch init" in err


FOUND = NOW - timedelta(minutes=30)  # when the crawl stored the articles below


def _config_with_articles(tmp_path: Path) -> Path:
    url = f"sqlite:///{tmp_path / 'nw.db'}"
    with Database(url) as db, db.session() as session:
        for offset, (title, body) in enumerate(
            [
                ("Raqqa residents return", "Rebuilding after Daesh."),
                ("It is raining in Bonn", "The weather is grey."),
            ]
        ):
            cid = 70000000 + offset
            upsert_article(
                session,
                article_fields(
                    cid,
                    url=f"https://www.dw.com/en/x/a-{cid}",
                    title=title,
                    body=body,
                    published_at=NOW - timedelta(hours=offset),
                ),
                FOUND,
            )
        session.commit()
    path = tmp_path / "newswatch.toml"
    path.write_text(
        f'[storage]\nurl = "{url}"\n'
        '[[watchlists]]\nname = "syria"\nterms = ["Raqqa", "Daesh"]\nmatch_case = ["IS"]\n'
    )
    return path


def test_articles_json_has_the_parse_keys_plus_first_seen_at(capsys, tmp_path) -> None:
    config = _config_with_articles(tmp_path)
    code, out, _ = run(capsys, "--config", str(config), "articles", "--json", "--since", "1h")
    assert code == 0
    rows = json.loads(out)
    assert [list(row) for row in rows] == [[*PARSE_KEYS, "first_seen_at"]] * 2
    assert {row["first_seen_at"] for row in rows} == {FOUND.isoformat()}
    code, out, _ = run(capsys, "--config", str(config), "articles", "--json", "--since", "10m")
    assert (code, json.loads(out)) == (0, [])  # found 30 minutes before the CLI's clock
    assert run(capsys, "--config", str(config), "articles", "--json", "--limit", "1")[0] == 0


def test_match_prints_the_matches_and_articles_lists_them_with_their_terms(capsys, tmp_path):
    config = _config_with_articles(tmp_path)
    code, out, _ = run(capsys, "--config", str(config), "match", "--dry-run")
    assert code == 0 and "syria: 1 new matches" in out and "nothing stored" in out
    code, out, _ = run(
        capsys, "--config", str(config), "articles", "--watchlist", "syria", "--json"
    )
    assert json.loads(out) == []  # the dry run stored nothing
    code, out, _ = run(capsys, "--config", str(config), "match")
    assert "Raqqa residents return" in out and "It is raining" not in out
    code, out, _ = run(
        capsys, "--config", str(config), "articles", "--watchlist", "syria", "--json"
    )
    [row] = json.loads(out)
    assert row["title"] == "Raqqa residents return"
    [found] = row["matches"]
    assert found["watchlist"] == "syria"
    assert found["terms"] == ["Raqqa", "Daesh"]
    assert found["fields"] == ["title", "body"]
    assert "Raqqa" in found["snippet"]["text"]
    code, out, _ = run(capsys, "--config", str(config), "match")
    assert "syria: 0 new matches" in out  # idempotent


def test_demo_crawls_matches_and_delivers_a_digest_into_a_maildir(capsys, tmp_path) -> None:
    folder = tmp_path / "demo"
    code, out, _ = run(capsys, "demo", "--folder", str(folder))
    assert code == 0, out
    assert "the seed article: 1HDPC \"France wants to hit 'nerve center' of 'IS'\"" in out
    assert "stored 33 articles" in out
    assert "1HDPC" in out.split("== match")[1]
    box = mailbox.Maildir(folder / "mail", create=False)
    [message] = list(box)
    assert message["To"] == "analyst@example.org"
    assert message["Subject"] in out
    assert str(folder / "mail") in out
    # it ends with the one command that serves the web app on the demo's database, and its URL
    *_, serve, url = out.rstrip().splitlines()
    assert serve.split()[1:] == ["--config", str(folder / "newswatch.toml"), "web"]
    assert url.strip() == "then open http://127.0.0.1:8080/"


def test_demo_refuses_a_folder_it_did_not_make(capsys, tmp_path) -> None:
    (tmp_path / "newswatch.db").write_text("the real database")
    code, _, err = run(capsys, "demo", "--folder", str(tmp_path))
    assert code == 2 and "not made by `newswatch demo`" in err
    assert (tmp_path / "newswatch.db").read_text() == "the real database"
