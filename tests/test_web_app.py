"""The web app (web.app.create_app) served by uvicorn on a loopback port and driven over HTTP
with httpx, over a real database filled by the real stages (the store's upsert, the match
stage). Each test asserts what a subscriber, a reader or the operator notices: the page and
status they get, the row their click made (or did not make), the feed their reader parses."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest

from alerts.config import SubscriberConfig
from alerts.match_stage import match_articles
from alerts.watchlists import WatchlistConfig
from scheduler.config import AppConfig
from scheduler.health import health_problems
from scheduler.status_queries import collect_status
from store.articles import upsert_articles
from store.clock import fixed_clock
from store.config import StorageConfig
from store.db import Database
from store.dw_ids import short_id, short_url
from store.links import Links
from store.models import CrawlRun, OutboxMessage, SubscriberChoice
from tests.articles import article_fields
from tests.web_served import serve
from web.app import create_app
from web.config import WebConfig
from web.context import WebContext

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TOKEN = "operator-token-for-web-tests"
KEY = "link-key-for-web-tests"
ANA = "ana@example.org"
WATCHLISTS = [
    WatchlistConfig(name="syria", terms=["Raqqa"]),
    WatchlistConfig(name="wine", terms=["Frühburgunder"]),
]
SUBSCRIBERS = [
    SubscriberConfig(
        email=ANA, watchlists=["syria", "wine"], schedule="daily 07:00", timezone="Europe/Berlin"
    ),
    SubscriberConfig(email="ben@example.org", watchlists=["wine"]),
]
RAQQA = 70_000_001
WINE = 70_000_002
SCRIPT = 70_000_003
HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


@dataclass
class Site:
    url: str
    db: Database
    links: Links
    client: httpx.Client

    def choice(self, email: str = ANA) -> SubscriberChoice | None:
        with self.db.session() as session:
            row = session.get(SubscriberChoice, email)
            if row is not None:
                session.expunge(row)
            return row

    def token(self, email: str = ANA) -> str:
        return self.links.subscriber_token(email)


def store(db: Database, *articles: dict[str, Any], at: datetime = NOW) -> None:
    """Store the articles as a crawl at ``at`` would, and match them as the service does."""
    with db.engine.begin() as connection:
        upsert_articles(connection, list(articles), at)
    match_articles(db, WATCHLISTS, now=at)


def sample_articles(db: Database) -> None:
    published = NOW - timedelta(hours=3)
    store(
        db,
        article_fields(
            RAQQA,
            title="Fighting flares near Raqqa",
            teaser="Aid groups warn of a new wave of displacement.",
            body="Shelling hit the outskirts of Raqqa on Sunday.\n\n"
            "Farmers said their zucchini harvest was lost.",
            authors=["Jana Writer"],
            topics=["Syria", "Conflicts"],
            published_at=published,
        ),
        article_fields(
            WINE,
            title="A red grape of the Ahr",
            teaser="Frühburgunder ripens early.",
            body="The Frühburgunder is a mutation of Pinot noir.",
            published_at=published - timedelta(hours=1),
        ),
        article_fields(
            SCRIPT,
            title="<script>alert('title')</script> Raqqa report",
            teaser="<img src=x onerror=alert(1)>",
            body="A body with <b>tags</b> about Raqqa.",
            published_at=published - timedelta(hours=2),
        ),
        at=NOW - timedelta(hours=1),
    )


def operations_rows(db: Database) -> None:
    """A crawl run with errors and a fallback, and a message that failed: the dashboard's."""
    with db.session() as session, session.begin():
        session.add(
            CrawlRun(
                source="dw-en",
                started_at=NOW - timedelta(minutes=20),
                finished_at=NOW - timedelta(minutes=18),
                status="ok",
                pages=12,
                new=3,
                errors=1,
                selector_fallbacks=1,
                last_errors=["HTTP 503 on https://www.dw.com/en/top-stories/s-9097"],
            )
        )
        session.add(
            OutboxMessage(
                message_id="<m1@newswatch>",
                recipient="ben@example.org",
                subject="newswatch: 1 new match",
                text="",
                html="",
                status="failed",
                attempts=3,
                next_attempt_at=NOW,
                last_error="550 mailbox unavailable",
                created_at=NOW - timedelta(hours=2),
            )
        )


@contextmanager
def open_site(
    database_url: str,
    tmp_path: Path,
    *,
    web: WebConfig | None = None,
    token: str | None = TOKEN,
    fill: bool = True,
) -> Iterator[Site]:
    """The app over this database (filled with the sample rows unless ``fill`` is False)."""
    web = web or WebConfig(listen="127.0.0.1:8080")
    with Database(database_url) as db:
        if fill:
            sample_articles(db)
            operations_rows(db)
        config = AppConfig(
            storage=StorageConfig(url=database_url),
            watchlists=WATCHLISTS,
            subscribers=SUBSCRIBERS,
            web=web,
        )

        def status() -> dict[str, Any]:
            report = collect_status(config, db, NOW)
            return {**report.to_json(), "problems": health_problems(report)}

        made: dict[str, Links] = {}

        def build(base_url: str) -> Any:
            made["links"] = Links(base_url, KEY)
            return create_app(
                WebContext(
                    db=db,
                    web=web,
                    watchlists=WATCHLISTS,
                    subscribers=SUBSCRIBERS,
                    links=made["links"],
                    clock=fixed_clock(NOW),
                    token=token,
                    status=status,
                )
            )

        with serve(build) as url, httpx.Client(base_url=url, timeout=30) as client:
            yield Site(url, db, made["links"], client)


@pytest.fixture
def site(sqlite_url: str, tmp_path: Path) -> Iterator[Site]:
    with open_site(sqlite_url, tmp_path) as opened:
        yield opened


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the preferences page has no form token"
    return found[1]


# ------------------------------------------------------------------ subscriber pages


def test_get_of_the_unsubscribe_link_shows_one_button_and_changes_nothing(site: Site) -> None:
    page = site.client.get(f"/unsubscribe/{site.token()}")
    assert page.status_code == 200
    assert ANA in page.text
    assert page.text.count("<button") == 1
    assert 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert site.choice() is None


def test_one_click_post_unsubscribes_at_once_without_cookies_or_form_token(site: Site) -> None:
    answer = httpx.post(
        f"{site.url}/unsubscribe/{site.token()}",
        data={"List-Unsubscribe": "One-Click"},
        headers={"Origin": "https://mail.example"},  # a mail provider posts it
    )
    assert answer.status_code == 200
    assert "You are unsubscribed" in answer.text
    row = site.choice()
    assert row is not None and row.unsubscribed_at == NOW
    # the page's own button posts the same; a second one changes nothing more
    again = site.client.post(
        f"/unsubscribe/{site.token()}", files={"List-Unsubscribe": (None, "One-Click")}
    )
    assert again.status_code == 200
    assert site.choice().unsubscribed_at == NOW  # type: ignore[union-attr]
    assert "Already unsubscribed" in site.client.get(f"/unsubscribe/{site.token()}").text


def test_a_post_without_the_one_click_body_unsubscribes_no_one(site: Site) -> None:
    answer = site.client.post(f"/unsubscribe/{site.token()}", data={"List-Unsubscribe": "x"})
    assert answer.status_code == 400
    assert site.choice() is None


def altered(token: str) -> str:
    last = token[-1]
    return token[:-1] + ("A" if last != "A" else "B")


@pytest.mark.parametrize("path", ["unsubscribe", "preferences"])
def test_a_forged_or_altered_link_is_refused_with_400_and_changes_nothing(
    site: Site, path: str
) -> None:
    forged = Links(site.url, "someone-elses-key").subscriber_token(ANA)
    for token in (altered(site.token()), forged, "not-a-token"):
        page = site.client.get(f"/{path}/{token}")
        assert page.status_code == 400
        assert "This link is not valid" in page.text
        posted = site.client.post(
            f"/{path}/{token}" + ("" if path == "unsubscribe" else "/unsubscribe"),
            data={"List-Unsubscribe": "One-Click"},
        )
        assert posted.status_code == 400
    assert site.choice() is None


def test_a_signed_link_for_an_address_not_in_the_config_is_404(site: Site) -> None:
    token = site.token("gone@example.org")
    assert site.client.get(f"/preferences/{token}").status_code == 404
    posted = site.client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert posted.status_code == 404
    assert site.choice("gone@example.org") is None


def change(site: Site, action: str, **form: str) -> httpx.Response:
    token = site.token()
    csrf = csrf_of(site.client.get(f"/preferences/{token}").text)
    return site.client.post(f"/preferences/{token}/{action}", data={"csrf": csrf, **form})


def confirmed(site: Site, answer: httpx.Response) -> str:
    """The page the 303 leads back to, with its one-line confirmation."""
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith(f"/preferences/{site.token()}?done=")
    page = site.client.get(answer.headers["location"])
    found = re.search(r'<p class="notice ok" role="status">([^<]+)</p>', page.text)
    assert found, page.text
    return found[1]


def test_the_preferences_page_shows_the_effective_settings(site: Site) -> None:
    page = site.client.get(f"/preferences/{site.token()}")
    assert page.status_code == 200
    assert "<title>Your preferences · newswatch</title>" in page.text
    assert "<code>daily 07:00</code> in Europe/Berlin" in page.text
    assert "2026-03-03 07:00 CET" in page.text  # the next digest, on her wall clock
    assert page.headers["cache-control"] == "no-store"


def test_pause_for_seven_days_then_end_it(site: Site) -> None:
    line = confirmed(site, change(site, "pause", days="7"))
    assert line == "Alerts paused until 2026-03-09 10:00 CET."
    assert site.choice().paused_until == NOW + timedelta(days=7)  # type: ignore[union-attr]
    assert "End the pause now" in site.client.get(f"/preferences/{site.token()}").text
    assert "pause is over" in confirmed(site, change(site, "pause", days="end"))
    assert site.choice().paused_until == NOW  # type: ignore[union-attr]
    assert change(site, "pause", days="3").status_code == 400


def test_schedule_and_time_zone_picked_or_typed_and_checked(site: Site) -> None:
    line = confirmed(site, change(site, "schedule", schedule="hourly", timezone="Asia/Tokyo"))
    assert line == "Saved: digests hourly, in Asia/Tokyo."
    row = site.choice()
    assert row is not None and (row.schedule, row.timezone) == ("hourly", "Asia/Tokyo")
    typed = change(
        site, "schedule", schedule="custom", schedule_text="weekly  fri 17:00", timezone="UTC"
    )
    assert "weekly fri 17:00" in confirmed(site, typed)
    bad = change(site, "schedule", schedule="custom", schedule_text="fortnightly", timezone="UTC")
    assert bad.status_code == 400
    assert "Not saved: unknown schedule &#39;fortnightly&#39;" in bad.text
    bad_zone = change(site, "schedule", schedule="hourly", timezone="Mars/Olympus")
    assert bad_zone.status_code == 400
    assert "not an IANA time zone" in bad_zone.text
    row = site.choice()
    assert row is not None and (row.schedule, row.timezone) == ("weekly fri 17:00", "UTC")
    confirmed(site, change(site, "schedule", schedule="config"))
    row = site.choice()
    assert row is not None and (row.schedule, row.timezone) == (None, None)


def test_leave_and_rejoin_a_watchlist_unsubscribe_and_resubscribe(site: Site) -> None:
    confirmed(site, change(site, "leave", watchlist="wine"))
    assert site.choice().left_watchlists == ["wine"]  # type: ignore[union-attr]
    assert change(site, "leave", watchlist="not-hers").status_code == 400
    confirmed(site, change(site, "rejoin", watchlist="wine"))
    assert site.choice().left_watchlists == []  # type: ignore[union-attr]
    assert "You are unsubscribed" in confirmed(site, change(site, "unsubscribe"))
    assert site.choice().unsubscribed_at == NOW  # type: ignore[union-attr]
    assert "subscribed again" in confirmed(site, change(site, "resubscribe"))
    assert site.choice().unsubscribed_at is None  # type: ignore[union-attr]


def test_preferences_forms_without_a_valid_form_token_or_from_another_site_change_nothing(
    site: Site,
) -> None:
    token = site.token()
    csrf = csrf_of(site.client.get(f"/preferences/{token}").text)
    bens = csrf_of(site.client.get(f"/preferences/{site.token('ben@example.org')}").text)
    refused = [
        site.client.post(f"/preferences/{token}/unsubscribe", data={}),
        site.client.post(f"/preferences/{token}/unsubscribe", data={"csrf": "forged"}),
        site.client.post(f"/preferences/{token}/unsubscribe", data={"csrf": bens}),
        site.client.post(
            f"/preferences/{token}/unsubscribe",
            data={"csrf": csrf},
            headers={"Origin": "https://evil.example"},
        ),
    ]
    assert [answer.status_code for answer in refused] == [400, 400, 400, 400]
    assert "nothing was changed" in refused[0].text
    assert site.choice() is None
    # the browser's own form: Origin null (our Referrer-Policy: no-referrer), or our origin
    for origin in ("null", site.url):
        answer = site.client.post(
            f"/preferences/{token}/pause",
            data={"csrf": csrf, "days": "1"},
            headers={"Origin": origin},
        )
        assert answer.status_code == 303


# ------------------------------------------------------------------ archive, feeds, search


def test_watchlists_list_counts_and_last_match(site: Site) -> None:
    page = site.client.get("/watchlists")
    assert page.status_code == 200
    assert "<title>Watchlists · newswatch</title>" in page.text
    rows = re.findall(
        r'<a href="/watchlists/(\w+)">\w+</a></td>\s*<td class="num">(\d+)</td>', page.text
    )
    assert rows == [("syria", "2"), ("wine", "1")]
    assert "2026-03-02 08:00 UTC" in page.text


def test_a_watchlist_page_shows_matches_newest_first_with_terms_fields_and_marks(
    site: Site,
) -> None:
    page = site.client.get("/watchlists/syria")
    assert page.status_code == 200
    assert (
        '<link rel="alternate" type="application/atom+xml" title="syria (newswatch)" '
        'href="/watchlists/syria/feed.atom">'
    ) in page.text
    titles = re.findall(r'<a href="/articles/(\w+)">', page.text)
    assert titles == [short_id(RAQQA), short_id(SCRIPT)]  # newest published first
    assert "<mark>Raqqa</mark>" in page.text
    assert "Raqqa <small>×" in page.text
    assert short_url(short_id(RAQQA)) in page.text
    assert site.client.get("/watchlists/nothing").status_code == 404
    assert site.client.get("/watchlists/syria?page=0").status_code == 400


def test_a_long_watchlist_is_paged(sqlite_url: str, tmp_path: Path) -> None:
    with open_site(sqlite_url, tmp_path) as site:
        store(
            site.db,
            *(
                article_fields(
                    80_000_000 + n, title=f"Raqqa day {n}", published_at=NOW - timedelta(days=n)
                )
                for n in range(1, 24)
            ),
        )
        first = site.client.get("/watchlists/syria")
        assert "Page 1 of 2" in first.text
        assert first.text.count('<h2><a href="/articles/') == 20
        second = site.client.get("/watchlists/syria?page=2")
        assert second.text.count('<h2><a href="/articles/') == 5
        assert "<title>syria (page 2) · newswatch</title>" in second.text


def test_an_article_page_shows_the_stored_article_and_why_it_matched(site: Site) -> None:
    page = site.client.get(f"/articles/{short_id(RAQQA)}")
    assert page.status_code == 200
    assert "<title>Fighting flares near Raqqa · newswatch</title>" in page.text
    assert "<p>Shelling hit the outskirts of Raqqa on Sunday.</p>" in page.text
    assert "<p>Farmers said their zucchini harvest was lost.</p>" in page.text
    for shown in ("Jana Writer", "Syria, Conflicts", "Aid groups warn", "2026-03-02 06:00 UTC"):
        assert shown in page.text
    assert f'href="https://p.dw.com/p/{short_id(RAQQA)}"' in page.text
    assert '<a href="/watchlists/syria"><strong>syria</strong></a>' in page.text
    assert site.client.get("/articles/ZZZZZZ").status_code == 404


def test_the_feed_parses_and_lists_each_match_by_its_dw_id_updated_when_the_article_is(
    site: Site,
) -> None:
    answer = site.client.get("/watchlists/syria/feed.atom")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(answer.content)
    assert not feed.bozo, feed.bozo_exception
    assert [entry.id for entry in feed.entries] == [
        short_url(short_id(RAQQA)),
        short_url(short_id(SCRIPT)),
    ]
    first = feed.entries[0]
    assert first.title == "Fighting flares near Raqqa"
    assert first.link == short_url(short_id(RAQQA))
    assert "Raqqa" in first.summary
    assert first.updated_parsed[:5] == (2026, 3, 2, 8, 0)
    assert feed.entries[1].title == "<script>alert('title')</script> Raqqa report"  # as text
    later = NOW + timedelta(hours=2)
    store(
        site.db,
        article_fields(
            RAQQA,
            title="Fighting flares near Raqqa",
            body="Updated: the shelling of Raqqa went on.",
            published_at=NOW - timedelta(hours=3),
        ),
        at=later,
    )
    entry = feedparser.parse(site.client.get("/watchlists/syria/feed.atom").content).entries[0]
    assert entry.id == short_url(short_id(RAQQA))
    assert entry.updated_parsed[:5] == (2026, 3, 2, 11, 0)
    assert site.client.get("/watchlists/nothing/feed.atom").status_code == 404


def search_on(database_url: str, tmp_path: Path) -> None:
    with open_site(database_url, tmp_path) as site:
        page = site.client.get("/search", params={"q": "zucchini"})
        assert page.status_code == 200
        assert f'<a href="/articles/{short_id(RAQQA)}">' in page.text
        assert "<mark>zucchini</mark>" in page.text
        assert "1 article found" in page.text
        assert "<title>Search: zucchini · newswatch</title>" in page.text
        found = site.client.get("/api/search", params={"q": "zucchini"}).json()
        assert [item["short_id"] for item in found["items"]] == [short_id(RAQQA)]
        assert found["total"] == 1


def test_search_finds_an_article_by_a_word_of_its_body(database_url: str, tmp_path: Path) -> None:
    search_on(database_url, tmp_path)


def test_an_empty_or_unsearchable_query_is_a_friendly_page_not_an_error(site: Site) -> None:
    empty = site.client.get("/search")
    assert empty.status_code == 200
    assert "Search every stored article" in empty.text
    for query in ('"', "***", "   "):
        page = site.client.get("/search", params={"q": query})
        assert page.status_code == 200
    assert "Nothing to search for" in site.client.get("/search", params={"q": "***"}).text
    assert site.client.get("/api/search", params={"q": "***"}).status_code == 400


def test_a_script_in_a_stored_title_is_shown_as_text_on_every_page(site: Site) -> None:
    pages = [
        "/watchlists/syria",
        f"/articles/{short_id(SCRIPT)}",
        "/search?q=Raqqa",
        "/status",
    ]
    for path in pages:
        html = site.client.get(path).text
        assert "<script>" not in html, path
        assert "<img src=x" not in html, path
    assert (
        "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;"
        in site.client.get(f"/articles/{short_id(SCRIPT)}").text
    )
    assert "<script>" not in site.client.get("/watchlists/syria/feed.atom").text


def test_every_response_carries_the_security_headers(site: Site) -> None:
    answers = [
        site.client.get("/"),
        site.client.get("/watchlists"),
        site.client.get("/static/style.css"),
        site.client.get("/watchlists/syria/feed.atom"),
        site.client.get("/api/matches"),
        site.client.get("/nowhere"),
        site.client.get(f"/preferences/{altered(site.token())}"),
        site.client.post(f"/unsubscribe/{site.token()}", data={"List-Unsubscribe": "One-Click"}),
    ]
    for answer in answers:
        for name, value in HEADERS.items():
            assert answer.headers.get(name) == value, (answer.url, name)
    assert answers[5].status_code == 404 and "Not found" in answers[5].text


def test_home_links_to_watchlists_search_and_status(site: Site) -> None:
    page = site.client.get("/")
    assert "<title>Home · newswatch</title>" in page.text
    for link in ('href="/watchlists"', 'href="/search"', 'href="/status"'):
        assert link in page.text


# ------------------------------------------------------------------ the operator, the API


def test_the_dashboard_shows_runs_outbox_subscribers_their_choices_and_feed_tokens(
    site: Site,
) -> None:
    site.client.post(f"/unsubscribe/{site.token()}", data={"List-Unsubscribe": "One-Click"})
    page = site.client.get("/status")
    assert page.status_code == 200
    assert "<title>Status · newswatch</title>" in page.text
    for shown in (
        "dw-en",
        "HTTP 503 on https://www.dw.com/en/top-stories/s-9097",
        "550 mailbox unavailable",
        "1 failed",
        "unsubscribed</span> <time",
        "newswatch subscriber resume ana@example.org",
        "ben@example.org",
    ):
        assert shown in page.text, shown
    assert site.links.feed_url("syria", token=True) in page.text.replace("&amp;", "&")
    assert "3 articles stored" in page.text


def test_the_api_lists_articles_matches_and_status_with_its_own_schema(site: Site) -> None:
    articles = site.client.get("/api/articles").json()
    assert [a["short_id"] for a in articles["items"]] == [
        short_id(RAQQA),
        short_id(WINE),
        short_id(SCRIPT),
    ]
    assert articles["total"] == 3
    wine = site.client.get("/api/articles", params={"watchlist": "wine"}).json()
    assert [a["short_id"] for a in wine["items"]] == [short_id(WINE)]
    one = site.client.get(f"/api/articles/{short_id(RAQQA)}").json()
    assert one["url"] == short_url(short_id(RAQQA))
    assert [m["watchlist"] for m in one["matches"]] == ["syria"]
    matches = site.client.get("/api/matches", params={"watchlist": "syria", "per_page": 1}).json()
    assert matches["total"] == 2 and len(matches["items"]) == 1
    assert matches["items"][0]["terms"] == {"Raqqa": 2}
    status = site.client.get("/api/status").json()
    assert status["outbox"]["failed"] == 1
    assert status["sources"][0]["runs"][0]["last_errors"]
    schema = site.client.get("/api/openapi.json").json()
    assert set(schema["paths"]) == {
        "/api/articles",
        "/api/articles/{short_id}",
        "/api/matches",
        "/api/search",
        "/api/status",
    }
    for bad in (
        "/api/articles?page=0",
        "/api/articles?per_page=101",
        "/api/matches?page=99999999999999999999",
        "/api/search",
    ):
        assert site.client.get(bad).status_code == 422, bad
    assert site.client.get("/api/matches?watchlist=nope").status_code == 404
    assert site.client.get("/api/articles/nope").status_code == 404
    assert site.client.get("/docs").status_code == 404


PUBLIC_BIND = "0.0.0.0:8080"


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_beyond_loopback_the_archive_and_status_need_the_operator_token(
    sqlite_url: str, tmp_path: Path
) -> None:
    with open_site(sqlite_url, tmp_path, web=WebConfig(listen=PUBLIC_BIND)) as site:
        for path in ("/status", "/watchlists", "/watchlists/syria", "/search?q=Raqqa"):
            answer = site.client.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/login?next=%2F")
            assert site.client.get(path, headers=bearer()).status_code == 200, path
            assert site.client.get(path, headers=bearer("wrong")).status_code == 303
        for path in ("/api/matches", "/api/status", f"/api/articles/{short_id(RAQQA)}"):
            refused = site.client.get(path)
            assert refused.status_code == 401, path
            assert "Bearer" in refused.json()["detail"]
            assert site.client.get(path, headers=bearer()).status_code == 200
        feed = "/watchlists/syria/feed.atom"
        assert site.client.get(feed).status_code == 401
        assert site.client.get(feed, params={"token": "forged"}).status_code == 401
        wine_token = site.links.feed_token("wine")
        assert site.client.get(feed, params={"token": wine_token}).status_code == 401
        with_token = site.client.get(feed, params={"token": site.links.feed_token("syria")})
        assert with_token.status_code == 200 and feedparser.parse(with_token.content).entries
        # subscriber pages: the signed link is the authority
        assert site.client.get(f"/preferences/{site.token()}").status_code == 200


def test_the_login_form_sets_a_cookie_that_opens_the_dashboard(
    sqlite_url: str, tmp_path: Path
) -> None:
    with open_site(sqlite_url, tmp_path, web=WebConfig(listen=PUBLIC_BIND)) as site:
        login = site.client.get("/login?next=%2Fstatus")
        assert login.status_code == 200 and 'type="password"' in login.text
        wrong = site.client.post("/login", data={"token": "guess", "next": "/status"})
        assert wrong.status_code == 401 and "not the operator" in wrong.text
        assert not site.client.cookies
        right = site.client.post("/login", data={"token": TOKEN, "next": "/status"})
        assert right.status_code == 303 and right.headers["location"] == "/status"
        cookie = right.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert TOKEN not in cookie
        assert site.client.get("/status").status_code == 200
        assert site.client.get("/api/status").status_code == 200
        evil = site.client.post("/login", data={"token": TOKEN, "next": "//evil.example/"})
        assert evil.headers["location"] == "/status"
        site.client.post("/logout")
        assert site.client.get("/status").status_code == 303


def test_a_login_cookie_stops_working_when_the_token_changes(
    sqlite_url: str, tmp_path: Path
) -> None:
    web = WebConfig(listen=PUBLIC_BIND)
    with open_site(sqlite_url, tmp_path, web=web) as site:
        site.client.post("/login", data={"token": TOKEN, "next": "/status"})
        cookies = dict(site.client.cookies)
    with open_site(sqlite_url, tmp_path, web=web, token="a-new-token", fill=False) as site:
        site.client.cookies.update(cookies)
        assert site.client.get("/status").status_code == 303


def test_public_opens_the_archive_and_feeds_but_not_the_dashboard(
    sqlite_url: str, tmp_path: Path
) -> None:
    with open_site(sqlite_url, tmp_path, web=WebConfig(listen=PUBLIC_BIND, public=True)) as site:
        for path in ("/watchlists", "/watchlists/syria/feed.atom", "/api/matches", "/search?q=x"):
            assert site.client.get(path).status_code == 200, path
        assert site.client.get("/status").status_code == 303
        assert site.client.get("/api/status").status_code == 401
        assert site.client.get("/status", headers=bearer()).status_code == 200


def test_without_a_token_nobody_is_the_operator_beyond_loopback(
    sqlite_url: str, tmp_path: Path
) -> None:
    with open_site(sqlite_url, tmp_path, web=WebConfig(listen=PUBLIC_BIND), token=None) as site:
        assert site.client.get("/status", headers=bearer("None")).status_code == 303
        assert site.client.get("/api/status", headers=bearer("x")).status_code == 401
        assert site.client.post("/login", data={"token": ""}).status_code == 401
        assert "No operator token is set" in site.client.get("/login").text
