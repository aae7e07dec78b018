"""Digests: what a subscriber receives, once, readable, safe."""

from __future__ import annotations

import mailbox
import os
import re
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import func, select

from alerts.config import MailConfig, SubscriberConfig
from alerts.digest import build_digests
from alerts.mailer import deliver_outbox
from alerts.match_stage import match_articles
from alerts.render import HTML_BUDGET
from alerts.watchlists import WatchlistConfig
from crawler.dw_page import parse_page
from demo import DemoSite, demo_articles
from scheduler.cli import main
from store.articles import ARTICLE_FIELDS, upsert_article
from store.clock import fixed_clock
from store.db import Database
from store.links import Links
from store.models import Delivery, OutboxMessage, SubscriberState
from tests.articles import article_fields

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
SYRIA = WatchlistConfig(name="syria", terms=["Raqqa", "Daesh", "Islamic State"], match_case=["IS"])
UKRAINE = WatchlistConfig(name="ukraine", terms=["Ukraine", "Kyiv"])


def seed_fields(published: datetime) -> dict:
    """The seed article as the crawler stores it, dated ``published``."""
    site = DemoSite(demo_articles(), "http://127.0.0.1:1")
    page = parse_page(site.page(site.article(18879446)), url=None)
    fields = {name: getattr(page, name) for name in ARTICLE_FIELDS if hasattr(page, name)}
    fields["published_at"] = published
    return fields


def article(cid: int, title: str, body: str, published: datetime, **extra: object) -> dict:
    extra.setdefault("teaser", "A teaser.")
    return article_fields(cid, title=title, body=body, published_at=published, **extra)


def store(db: Database, *rows: dict, found: datetime = NOW - timedelta(minutes=30)) -> None:
    """Store the articles as a crawl at ``found`` would."""
    with db.session() as session:
        for row in rows:
            upsert_article(session, row, found)
        session.commit()


@pytest.fixture
def db(sqlite_url: str) -> Database:
    with Database(sqlite_url) as database:
        yield database


@pytest.fixture
def mail(tmp_path: Path) -> MailConfig:
    return MailConfig(maildir=str(tmp_path / "mail"), sender="newswatch <alerts@example.org>")


def subscriber(*watchlists: str, schedule: str = "immediate") -> SubscriberConfig:
    return SubscriberConfig(
        email="analyst@example.org",
        watchlists=list(watchlists),
        schedule=schedule,
        timezone="Europe/Berlin",
    )


def delivered(mail: MailConfig) -> list[EmailMessage]:
    box = mailbox.Maildir(mail.maildir, create=False)
    return [message_from_bytes(box.get_bytes(key), policy=policy.default) for key in box.iterkeys()]


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return text, html


def visible(html: str) -> str:
    """The HTML part's text as a reader sees it (tags such as <mark> removed)."""
    return re.sub(r"<[^>]+>", "", html)


def cycle(db: Database, mail: MailConfig, subscribers: list, watchlists: list, now=NOW, links=None):
    match_articles(db, watchlists, now=now)
    built = build_digests(db, subscribers, mail, now=now, links=links)
    deliver_outbox(db, mail, clock=fixed_clock(now))
    return built


def test_seed_article_arrives_with_hits_highlighted_and_short_link(db, mail) -> None:
    store(db, seed_fields(NOW - timedelta(hours=2)))
    built = cycle(db, mail, [subscriber("syria")], [SYRIA])
    assert [b.subject for b in built] == ["newswatch: 1 new article (syria 1)"]
    [message] = delivered(mail)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    text, html = parts(message)
    assert "https://p.dw.com/p/1HDPC" in text and 'href="https://p.dw.com/p/1HDPC"' in html
    assert "France wants to hit 'nerve center' of 'IS'" in text
    assert "<mark" in html and ">IS</mark>" in html  # in the title, where the first hit is
    assert "matched: Raqqa, Daesh, Islamic State, IS" in text
    assert message["Auto-Submitted"] == "auto-generated"
    assert "unsubscribe" in message["List-Unsubscribe"]


def test_body_hits_are_highlighted_in_html_and_bracketed_in_text(db, mail) -> None:
    body = "Fighters left the city.\n\nThe nerve center of Daesh was in Raqqa, officials said."
    store(db, article(5001, "Airstrikes continue in Syria", body, NOW - timedelta(hours=1)))
    cycle(db, mail, [subscriber("syria")], [SYRIA])
    text, html = parts(delivered(mail)[0])
    assert ">Daesh</mark>" in html and ">Raqqa</mark>" in html
    assert "[Daesh]" in text and "[Raqqa]" in text


def test_a_script_in_a_title_arrives_escaped(db, mail) -> None:
    title = "Raqqa <script>alert('x')</script> report"
    store(db, article(5002, title, "Nothing else.", NOW - timedelta(hours=1)))
    cycle(db, mail, [subscriber("syria")], [SYRIA])
    text, html = parts(delivered(mail)[0])
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert title in text  # the text part is plain text: nothing to escape


def test_a_title_with_crlf_adds_no_header(db, mail) -> None:
    title = "Raqqa\r\nBcc: x@y.example\r\nSubject: hijacked"
    store(db, article(5003, title, "Body.", NOW - timedelta(hours=1)))
    cycle(db, mail, [subscriber("syria")], [SYRIA])
    [message] = delivered(mail)
    assert message["Bcc"] is None
    assert len(message.get_all("Subject")) == 1
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]


def test_the_same_match_is_never_mailed_twice(db, mail) -> None:
    store(db, article(5004, "Raqqa after the war", "Body.", NOW - timedelta(hours=1)))
    for hour in range(3):
        cycle(db, mail, [subscriber("syria")], [SYRIA], now=NOW + timedelta(hours=hour))
    store(db, article(5004, "Raqqa after the war", "Body, corrected.", NOW - timedelta(hours=1)))
    cycle(db, mail, [subscriber("syria")], [SYRIA], now=NOW + timedelta(hours=4))
    assert len(delivered(mail)) == 1
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 1


def test_no_empty_digest(db, mail) -> None:
    store(db, article(5005, "It is raining in Bonn", "Nothing about Syria.", NOW))
    assert cycle(db, mail, [subscriber("syria")], [SYRIA]) == []
    assert not Path(mail.maildir).exists() or delivered(mail) == []


def test_first_digest_covers_only_the_last_24_hours(db, mail) -> None:
    store(
        db,
        article(5006, "Raqqa today", "Body.", NOW - timedelta(hours=3)),
        article(5007, "Raqqa last week", "Body.", NOW - timedelta(days=7)),
    )
    [built] = cycle(db, mail, [subscriber("syria")], [SYRIA])
    assert built.articles == 1
    text, _ = parts(delivered(mail)[0])
    assert "Raqqa today" in text and "Raqqa last week" not in text


def test_article_in_two_watchlists_appears_once_under_the_first_tagged_with_both(db, mail):
    store(
        db,
        article(5008, "Raqqa and Kyiv talks", "Body.", NOW - timedelta(hours=1)),
        article(5009, "Kyiv power cuts", "Body.", NOW - timedelta(hours=2)),
        article(5010, "Daesh cell arrested", "Body.", NOW - timedelta(hours=3)),
    )
    [built] = cycle(db, mail, [subscriber("syria", "ukraine")], [SYRIA, UKRAINE])
    assert built.subject == "newswatch: 3 new articles (syria 2, ukraine 1)"
    text, html = parts(delivered(mail)[0])
    assert text.count("Raqqa and Kyiv talks") == 1
    assert "also: ukraine" in text
    assert visible(html).count("Raqqa and Kyiv talks") == 1
    assert html.count(">syria</span>") == 2  # both syria articles; one also tagged ukraine
    assert html.count(">ukraine</span>") == 2  # that one, and the Kyiv article


def test_a_large_digest_stays_under_gmails_clipping_limit_and_lists_the_rest(db, mail):
    body = " ".join(["Raqqa"] + ["word"] * 400)
    rows = [
        article(6000 + i, f"Raqqa report {i}", body, NOW - timedelta(minutes=i), teaser="T " * 200)
        for i in range(300)
    ]
    store(db, *rows)
    [built] = cycle(db, mail, [subscriber("syria")], [SYRIA])
    assert built.articles == 300
    text, html = parts(delivered(mail)[0])
    assert len(html.encode()) <= HTML_BUDGET
    # the newest in full, the oldest listed by title
    assert "Raqqa report 0" in visible(html) and "Raqqa report 299" in visible(html)
    assert "more" in text


def test_user_template_overrides_the_bundled_one(db, tmp_path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "subject.txt").write_text("[alert] {{ total }} for {{ recipient }}")
    mail = MailConfig(maildir=str(tmp_path / "mail"), templates=str(folder))
    store(db, article(5011, "Raqqa", "Body.", NOW - timedelta(hours=1)))
    [built] = cycle(db, mail, [subscriber("syria")], [SYRIA])
    assert built.subject == "[alert] 1 for analyst@example.org"


def test_a_broken_user_template_fails_newswatch_check(tmp_path, capsys) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "digest.html").write_text("<p>{% for x in %}</p>")
    config = tmp_path / "newswatch.toml"
    config.write_text(f'[mail]\ntemplates = "{folder}"\n')
    assert main(["--config", str(config), "check"]) == 2
    assert "digest.html" in capsys.readouterr().err


KILL_AFTER_RENDER = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import datetime
    from alerts.config import MailConfig, SubscriberConfig
    from alerts.digest import build_digests
    from store.db import Database
    db = Database(sys.argv[1])
    sub = SubscriberConfig(email="analyst@example.org", watchlists=["syria"], schedule="immediate")
    now = datetime.fromisoformat(sys.argv[3])
    build_digests(db, [sub], MailConfig(maildir=sys.argv[2]), now=now)
    os.kill(os.getpid(), signal.SIGKILL)  # crash between render and send
    """
)


def test_a_crash_between_render_and_send_sends_once_after_restart(db, mail) -> None:
    store(db, article(5012, "Raqqa", "Body.", NOW - timedelta(hours=1)))
    match_articles(db, [SYRIA], now=NOW)
    crashed = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_RENDER, db.url, mail.maildir, NOW.isoformat()],
        env={**os.environ},
        timeout=60,
    )
    assert crashed.returncode == -signal.SIGKILL
    with db.session() as session:
        assert session.scalars(select(OutboxMessage.status)).all() == ["pending"]
    for minutes in (1, 2):  # the restarted service: digest (nothing new) and send, twice
        later = NOW + timedelta(minutes=minutes)
        build_digests(db, [subscriber("syria")], mail, now=later)
        deliver_outbox(db, mail, clock=fixed_clock(later))
    assert len(delivered(mail)) == 1


def test_an_article_found_late_is_still_mailed_after_the_first_digest(db, mail) -> None:
    store(db, article(5020, "Raqqa today", "Body.", NOW - timedelta(hours=1)), found=NOW)
    store(db, article(5022, "Raqqa two days ago", "Body.", NOW - timedelta(days=2)), found=NOW)
    first = NOW + timedelta(minutes=1)  # the first digest comes after those were found
    [built] = cycle(db, mail, [subscriber("syria")], [SYRIA], now=first)
    assert built.articles == 1  # the first digest holds only the last 24 hours
    # after the first digest, the crawl finds an article DW published two days ago
    found_late = first + timedelta(minutes=1)
    store(
        db, article(5021, "Raqqa, found late", "Body.", NOW - timedelta(days=2)), found=found_late
    )
    [built] = cycle(db, mail, [subscriber("syria")], [SYRIA], now=found_late + timedelta(minutes=1))
    assert built.articles == 1
    texts = [parts(message)[0] for message in delivered(mail)]
    assert sum("Raqqa, found late" in text for text in texts) == 1
    assert not any("Raqqa two days ago" in text for text in texts)  # known before the first


def test_a_huge_digest_counts_what_it_cannot_list_and_stays_under_the_limit(db, mail) -> None:
    rows = [
        article(
            8000 + i,
            f"Raqqa briefing number {i} with a long title",
            "Raqqa.",
            NOW - timedelta(seconds=i),
        )
        for i in range(1500)
    ]
    store(db, *rows)
    links = Links("https://newswatch.example.org", "a key")
    [built] = cycle(db, mail, [subscriber("syria")], [SYRIA], links=links)
    assert built.articles == 1500
    assert built.subject == "newswatch: 1500 new articles (syria 1500)"
    text, html = parts(delivered(mail)[0])
    assert len(html.encode()) <= HTML_BUDGET
    assert "not listed to keep this message readable" in text
    # the footer survives: Gmail would clip it otherwise
    assert f'href="{links.unsubscribe_url("analyst@example.org")}"' in html
    assert "Manage your alerts" in visible(html)


def test_one_build_applies_each_subscribers_own_window(db, mail) -> None:
    """The candidates of all subscribers are loaded together; each keeps its own window."""
    store(
        db,
        article(5030, "Raqqa this morning", "Body.", NOW - timedelta(hours=2)),
        article(5031, "Raqqa three days ago", "Body.", NOW - timedelta(days=3)),
    )
    match_articles(db, [SYRIA, UKRAINE], now=NOW)
    earlier = NOW - timedelta(days=4)  # before the crawl found either article
    with db.session() as session:
        session.add(SubscriberState(email="old@example.org", last_digest_at=earlier))
        session.commit()
    old = SubscriberConfig(email="old@example.org", watchlists=["syria"], schedule="immediate")
    new = SubscriberConfig(email="new@example.org", watchlists=["syria"], schedule="immediate")
    other = SubscriberConfig(email="other@example.org", watchlists=["ukraine"])
    built = build_digests(db, [old, new, other], mail, now=NOW)
    assert {b.recipient: b.articles for b in built} == {"old@example.org": 2, "new@example.org": 1}
    with db.session() as session:
        given = select(Delivery.subscriber, func.count()).group_by(Delivery.subscriber)
        assert dict(session.execute(given).all()) == {"old@example.org": 2, "new@example.org": 1}
        states = select(SubscriberState.email, SubscriberState.last_digest_at)
        states = dict(session.execute(states).all())
    assert states == {"old@example.org": NOW, "new@example.org": NOW, "other@example.org": NOW}
    # a later build: nothing is given twice, and new articles go to both
    store(
        db,
        article(5032, "Raqqa at noon", "Body.", NOW + timedelta(hours=1)),
        found=NOW + timedelta(hours=1),
    )
    match_articles(db, [SYRIA, UKRAINE], now=NOW + timedelta(hours=1))
    later = build_digests(db, [old, new, other], mail, now=NOW + timedelta(hours=2))
    assert sorted((b.recipient, b.articles) for b in later) == [
        ("new@example.org", 1),
        ("old@example.org", 1),
    ]


class _Interloper:
    """A renderer that lets another builder write the subscriber's state while it renders."""

    def __init__(self, db: Database, write) -> None:
        from alerts.render import DigestRenderer

        self.db, self.write, self.renderer = db, write, DigestRenderer()

    def render(self, digest):
        with self.db.session() as session:
            self.write(session, digest.recipient)
            session.commit()
        return self.renderer.render(digest)


@pytest.mark.parametrize("known", [False, True])
def test_a_subscriber_whose_state_moved_meanwhile_is_skipped(db, mail, known) -> None:
    store(db, article(5040, "Raqqa", "Body.", NOW - timedelta(hours=1)))
    match_articles(db, [SYRIA], now=NOW)
    if known:
        with db.session() as session:
            session.add(SubscriberState(email="analyst@example.org", last_digest_at=None))
            session.commit()

    def other_builder(session, email):
        state = session.get(SubscriberState, email) or SubscriberState(email=email)
        state.last_digest_at = NOW - timedelta(minutes=1)
        session.add(state)

    renderer = _Interloper(db, other_builder)
    assert build_digests(db, [subscriber("syria")], mail, now=NOW, renderer=renderer) == []
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
        state = session.get(SubscriberState, "analyst@example.org")
        assert state.last_digest_at == NOW - timedelta(minutes=1)  # the other builder's


def test_a_listed_twice_subscriber_gets_one_digest(db, mail) -> None:
    store(db, article(5050, "Raqqa", "Body.", NOW - timedelta(hours=1)))
    match_articles(db, [SYRIA], now=NOW)
    built = build_digests(db, [subscriber("syria"), subscriber("syria")], mail, now=NOW)
    assert [b.articles for b in built] == [1]
