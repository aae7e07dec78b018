"""A subscriber and an operator in a real browser: Debian's Chromium (Playwright) against the web
app served by uvicorn on a loopback port over a SQLite file, with digests mailed over SMTP to
aiosmtpd. The links come from the mail that arrived, as a subscriber would follow them. Time is
one movable clock handed to the app and to every stage, so a week's pause passes in a line."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerts.config import MailConfig, SubscriberConfig
from alerts.schedules import parse_schedule
from alerts.watchlists import WatchlistConfig
from scheduler import jobs
from scheduler.config import AppConfig
from scheduler.web_command import web_app
from store.articles import upsert_article
from store.config import StorageConfig
from store.db import Database
from store.dw_ids import short_id
from store.subscriber_choices import choices_of
from tests.articles import article_fields
from tests.service_helpers import Mail, Mailbox, free_port, smtp_server
from web.config import WebConfig
from web.server import WebServer

pytest_plugins = ("tests.browser",)

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday morning
READER = "analyst@example.org"
SYRIA = WatchlistConfig(name="syria", terms=["Raqqa", "Daesh", "Islamic State"], match_case=["IS"])
MANAGE = re.compile(r"https?://[^\s<>\"]+/preferences/[A-Za-z0-9_.\-]+")
ANGLED = re.compile(r"<([^<>]+)>")
ONE_CLICK = {"List-Unsubscribe": "One-Click"}
WIDTHS = (390, 1280)  # a phone, a desktop


class MovableClock:
    """The one clock of this test: the app, matching, digests and sending all read it."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def move(self, by: timedelta) -> None:
        self.at += by


@dataclass
class Newsroom:
    """The stages as `newswatch run` composes them, each step run by the test."""

    config: AppConfig
    db: Database
    clock: MovableClock
    mailbox: Mailbox
    base: str
    next_cid: int = 71_000_000
    stored: list[str] = field(default_factory=list)

    def article(
        self, title: str, body: str = "The city of Raqqa is rebuilt street by street."
    ) -> str:
        """Store an article as a crawl at the clock's time would; its short id."""
        self.next_cid += 1
        fields = article_fields(
            self.next_cid,
            title=title,
            teaser="What happened today.",
            body=body,
            published_at=self.clock() - timedelta(minutes=30),
            authors=["Newsroom Desk"],
        )
        with self.db.session() as session:
            upsert_article(session, fields, self.clock())
            session.commit()
        self.stored.append(short_id(self.next_cid))
        return self.stored[-1]

    def digest_run(self) -> list[Mail]:
        """Match, build and send as the service would now; the mail that arrived by it."""
        before = len(self.mailbox.received)
        jobs.match_new(self.config, self.db, self.clock)
        jobs.build_digests(self.config, self.db, self.clock)
        report = jobs.send_outbox(self.config, self.db, self.clock)
        assert not report.failed and not report.retrying, report.summary()
        return self.mailbox.to(READER)[before:] if len(self.mailbox.received) > before else []

    def choices(self) -> Any:
        with self.db.session() as session:
            return choices_of(session, [READER]).get(READER)


@pytest.fixture
def newsroom(tmp_path: Path) -> Iterator[Newsroom]:
    mailbox = Mailbox()
    clock = MovableClock(START)
    with smtp_server(mailbox) as smtp_port:
        config = AppConfig(
            storage=StorageConfig(url=f"sqlite:///{tmp_path / 'newswatch.db'}"),
            sources=[],
            watchlists=[SYRIA],
            subscribers=[
                SubscriberConfig(
                    email=READER,
                    watchlists=["syria"],
                    schedule=parse_schedule("immediate"),
                    timezone="Europe/Berlin",
                )
            ],
            mail=MailConfig(
                smtp_url=f"smtp://127.0.0.1:{smtp_port}", sender="newswatch <alerts@example.org>"
            ),
            web=WebConfig(listen=f"127.0.0.1:{free_port()}"),
        )
        with Database(config.storage.url) as db:
            server = WebServer(web_app(config, db, clock), config.web)
            with server:
                yield Newsroom(config, db, clock, mailbox, server.url)


def links_in(mail: Mail) -> tuple[str, str]:
    """The "manage" link of the digest's text and the web address in its List-Unsubscribe."""
    manage = MANAGE.search(mail.text)
    assert manage, f"no manage link in the digest:\n{mail.text}"
    header = mail.message["List-Unsubscribe"]
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    web = [url for url in ANGLED.findall(header) if url.startswith("http")]
    assert len(web) == 1 and any(u.startswith("mailto:") for u in ANGLED.findall(header)), header
    return manage.group(0), web[0]


def altered(token_url: str) -> str:
    """The same link with one character of its signed token changed."""
    head, _, token = token_url.rpartition("/")
    middle = len(token) // 2
    swapped = "A" if token[middle] != "A" else "B"
    return f"{head}/{token[:middle]}{swapped}{token[middle + 1 :]}"


def test_a_subscriber_pauses_from_the_digest_and_gets_nothing_until_the_pause_ends(
    newsroom: Newsroom, page: Any
) -> None:
    newsroom.article("Residents return to Raqqa")
    [first] = newsroom.digest_run()
    manage, _ = links_in(first)
    assert manage.startswith(newsroom.base + "/preferences/")

    page.goto(manage)
    assert "preferences" in page.title().lower()
    page.get_by_role("button", name="Pause 7 days").click()
    page.wait_for_load_state()
    assert "paused" in page.locator("main").inner_text().lower()
    assert newsroom.choices().paused_until == START + timedelta(days=7)

    newsroom.clock.move(timedelta(days=2))
    newsroom.article("Daesh fighters leave Raqqa")
    assert newsroom.digest_run() == []  # within the pause: nothing

    newsroom.clock.move(timedelta(days=6))  # the pause is over
    later = newsroom.article("Raqqa's market opens again")
    [after] = newsroom.digest_run()
    assert later in after.short_ids()


def test_one_click_unsubscribes_a_get_changes_nothing_and_an_altered_token_is_refused(
    newsroom: Newsroom, page: Any
) -> None:
    newsroom.article("Residents return to Raqqa")
    [first] = newsroom.digest_run()
    manage, unsubscribe = links_in(first)
    assert unsubscribe.startswith(newsroom.base + "/unsubscribe/")

    # a mail scanner's prefetch, or a person's click: a page with one button, nothing changed
    page.goto(unsubscribe)
    assert page.get_by_role("button").count() == 1
    assert newsroom.choices() is None or newsroom.choices().unsubscribed_at is None
    assert httpx.get(unsubscribe).status_code == 200
    assert newsroom.choices() is None or newsroom.choices().unsubscribed_at is None

    # forged: refused with 400 and nothing changes
    forged_unsubscribe, forged_manage = altered(unsubscribe), altered(manage)
    assert httpx.get(forged_unsubscribe).status_code == 400
    assert httpx.post(forged_unsubscribe, data=ONE_CLICK).status_code == 400
    assert httpx.get(forged_manage).status_code == 400
    for action, form in (("pause", {"days": "7"}), ("unsubscribe", {})):
        assert httpx.post(f"{forged_manage}/{action}", data=form).status_code == 400
    assert newsroom.choices() is None or newsroom.choices().unsubscribed_at is None

    # the mail provider's one-click POST (RFC 8058): unsubscribed at once
    answer = httpx.post(unsubscribe, data=ONE_CLICK)
    assert answer.status_code == 200
    assert newsroom.choices().unsubscribed_at == START

    newsroom.clock.move(timedelta(hours=3))
    newsroom.article("Daesh fighters leave Raqqa")
    assert newsroom.digest_run() == []
    page.goto(manage)
    assert "unsubscribed" in page.locator("main").inner_text().lower()


def test_a_script_in_a_title_is_shown_as_text_and_the_pages_are_captured_at_two_widths(
    newsroom: Newsroom, page: Any, screenshot: Callable[[Any, str, int], Path]
) -> None:
    hostile = '<script>alert("owned")</script> Raqqa <img src=x onerror=alert(2)>'
    hostile_id = newsroom.article(hostile)
    plain_id = newsroom.article(
        "Residents return to Raqqa",
        body="Bakers, tailors and teachers came back to Raqqa this spring. " * 6,
    )
    [mail] = newsroom.digest_run()
    manage, _ = links_in(mail)
    base = newsroom.base

    for path in (f"/articles/{hostile_id}", "/watchlists/syria", "/search?q=Raqqa"):
        page.goto(base + path)
        assert '<script>alert("owned")</script>' in page.locator("body").inner_text(), path
        assert page.locator("main script").count() == 0, path
    assert page.dialogs.seen == []

    pages = {
        "home": "/",
        "watchlist": "/watchlists/syria",
        "article": f"/articles/{plain_id}",
        "search": "/search?q=tailors",
        "preferences": manage.removeprefix(base),
        "status": "/status",
    }
    taken = []
    for name, path in pages.items():
        answer = page.goto(base + path)
        assert answer is not None and answer.status == 200, (name, path)
        for width in WIDTHS:
            taken.append(screenshot(page, name, width))
    assert page.dialogs.seen == []
    assert len(taken) == 12
    for path in taken:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
