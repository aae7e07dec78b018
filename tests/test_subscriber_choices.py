"""What subscribers choose on the web overrides the config when digests are built; every digest
carries their signed links and both List-Unsubscribe headers; the operator's `subscriber resume`
undoes a choice; `status` shows them. Real parts: SQLite and PostgreSQL, aiosmtpd, Maildirs."""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.config import MailConfig, SubscriberConfig
from alerts.digest import build_digests
from alerts.mailer import deliver_outbox
from alerts.match_stage import match_articles
from scheduler.cli import main
from store.clock import fixed_clock
from store.db import Database
from store.links import InvalidLink, Links, secret_key
from store.models import OutboxMessage, SubscriberState
from store.subscriber_choices import (
    leave_watchlist,
    pause,
    resubscribe,
    set_schedule,
    unsubscribe,
)
from tests.test_digest import NOW, SYRIA, UKRAINE, article, delivered, parts, store
from tests.test_mailer import Recorder, smtp_server

ANALYST, EDITOR = "analyst@example.org", "editor@example.org"
LINKS = Links("https://newswatch.example.org", "the instance's key")


@pytest.fixture
def db(database_url: str) -> Database:
    with Database(database_url) as database:
        yield database


@pytest.fixture
def mail(tmp_path: Path) -> MailConfig:
    return MailConfig(maildir=str(tmp_path / "mail"), sender="newswatch <alerts@example.org>")


def person(email: str, *watchlists: str, schedule: str = "immediate") -> SubscriberConfig:
    return SubscriberConfig(
        email=email, watchlists=list(watchlists or ["syria"]), schedule=schedule, timezone="UTC"
    )


def cycle(db, mail, subscribers, now=NOW, watchlists=(SYRIA, UKRAINE)):
    match_articles(db, list(watchlists), now=now)
    built = build_digests(db, subscribers, mail, now=now, links=LINKS)
    deliver_outbox(db, mail, clock=fixed_clock(now))
    return built


def mailed_to(mail: MailConfig) -> list[str]:
    return (
        sorted(message["To"] for message in delivered(mail)) if Path(mail.maildir).exists() else []
    )


def last_digest(db: Database, email: str):
    with db.session() as session:
        return session.scalar(
            select(SubscriberState.last_digest_at).where(SubscriberState.email == email)
        )


def test_who_unsubscribed_gets_no_digest_though_the_config_lists_them(db, mail) -> None:
    store(db, article(7001, "Raqqa rebuilt", "Body.", NOW - timedelta(hours=1)))
    unsubscribe(db, ANALYST, NOW - timedelta(days=1))
    resubscribe(db, "stranger@example.org", NOW)  # chose something, but is in no config
    built = cycle(db, mail, [person(ANALYST), person(EDITOR)])
    assert [b.recipient for b in built] == [EDITOR]
    assert mailed_to(mail) == [EDITOR]
    assert last_digest(db, ANALYST) == NOW  # mailed nothing, but the schedule moves on
    assert last_digest(db, "stranger@example.org") is None
    # even a forced build (`digest --now`) leaves them out
    assert build_digests(db, [person(ANALYST)], mail, now=NOW, force=True, links=LINKS) == []
    # back months later: what matches from now on, not the backlog of their absence
    later = NOW + timedelta(days=90)
    store(db, article(7011, "Raqqa while away", "Body.", later - timedelta(days=30)))
    for days in (30, 2, 1):  # the service goes on building digests meanwhile
        cycle(db, mail, [person(ANALYST), person(EDITOR)], later - timedelta(days=days))
    resubscribe(db, ANALYST, later - timedelta(hours=2))
    store(db, article(7012, "Raqqa on return", "Body.", later - timedelta(hours=1)))
    built = cycle(db, mail, [person(ANALYST)], later)
    assert [(b.recipient, b.articles) for b in built] == [(ANALYST, 1)]
    [message] = [m for m in delivered(mail) if m["To"] == ANALYST]
    assert "Raqqa on return" in parts(message)[0]


def test_a_pause_holds_digests_back_and_afterwards_only_what_is_new_comes(db, mail) -> None:
    pause(db, ANALYST, NOW + timedelta(days=7), NOW)
    store(db, article(7002, "Raqqa during the pause", "Body.", NOW - timedelta(hours=1)))
    for day in range(7):  # the service goes on building digests while they are paused
        built = cycle(db, mail, [person(ANALYST), person(EDITOR)], NOW + timedelta(days=day))
        assert ANALYST not in [b.recipient for b in built]
        assert last_digest(db, ANALYST) == NOW + timedelta(days=day)  # the schedule moves on
    assert mailed_to(mail) == [EDITOR]  # the editor, not paused, had it on day 0
    after = NOW + timedelta(days=8)
    store(
        db,
        article(7003, "Raqqa after the pause", "Body.", after - timedelta(hours=1)),
        found=after - timedelta(minutes=30),
    )
    [analyst, editor] = sorted(
        cycle(db, mail, [person(ANALYST), person(EDITOR)], after), key=lambda b: b.recipient
    )
    assert (analyst.recipient, analyst.articles) == (ANALYST, 1)
    assert (editor.recipient, editor.articles) == (EDITOR, 1)  # the new one; day 0's was sent
    [message] = [m for m in delivered(mail) if m["To"] == ANALYST]
    text, _ = parts(message)
    assert "Raqqa after the pause" in text and "Raqqa during the pause" not in text


def test_a_left_watchlists_matches_are_not_mailed_the_others_are(db, mail) -> None:
    store(
        db,
        article(7004, "Raqqa talks", "Body.", NOW - timedelta(hours=1)),
        article(7005, "Kyiv power cuts", "Body.", NOW - timedelta(hours=2)),
    )
    leave_watchlist(db, ANALYST, "ukraine", NOW)
    [built] = cycle(db, mail, [person(ANALYST, "syria", "ukraine")])
    assert built.subject == "newswatch: 1 new article (syria 1)"
    text, _ = parts(delivered(mail)[0])
    assert "Raqqa talks" in text and "Kyiv" not in text
    # with no watchlist left they are mailed nothing, and their schedule moves on
    leave_watchlist(db, ANALYST, "syria", NOW)
    store(db, article(7006, "Raqqa again", "Body.", NOW))
    assert cycle(db, mail, [person(ANALYST, "syria", "ukraine")], NOW + timedelta(hours=1)) == []
    assert last_digest(db, ANALYST) == NOW + timedelta(hours=1)


def test_their_own_schedule_and_time_zone_replace_the_configs(db, mail) -> None:
    # the config says immediate, in UTC; they chose 07:00 in Tokyo (22:00 UTC)
    set_schedule(db, ANALYST, "daily 07:00", "Asia/Tokyo", NOW)
    store(db, article(7007, "Raqqa at dawn", "Body.", NOW - timedelta(hours=1)))
    [first] = cycle(db, mail, [person(ANALYST)])  # a first digest: a slot has passed
    assert first.articles == 1
    assert "JST" in parts(delivered(mail)[0])[0]  # times in their zone
    store(db, article(7008, "Raqqa at noon", "Body.", NOW + timedelta(minutes=30)))
    assert cycle(db, mail, [person(ANALYST)], NOW + timedelta(hours=1)) == []  # not immediate
    slot = NOW.replace(hour=22)  # 07:00 in Tokyo
    assert cycle(db, mail, [person(ANALYST)], slot - timedelta(minutes=1)) == []
    [second] = cycle(db, mail, [person(ANALYST)], slot)
    assert second.articles == 1 and len(delivered(mail)) == 2


def test_a_stored_choice_that_no_longer_applies_is_ignored_with_a_warning(db, mail, caplog) -> None:
    email = f"stale-{uuid.uuid4().hex[:8]}@example.org"  # the warning is logged once a process
    set_schedule(db, email, "fortnightly at noon", "Mars/Olympus_Mons", NOW)
    leave_watchlist(db, email, "climate", NOW)  # a watchlist they do not have
    store(db, article(7009, "Raqqa report", "Body.", NOW - timedelta(hours=1)))
    with caplog.at_level(logging.WARNING, logger="alerts.subscribers"):
        [built] = cycle(db, mail, [person(email)])
        store(db, article(7012, "Raqqa report, later", "Body.", NOW))
        [again] = cycle(db, mail, [person(email)], NOW + timedelta(minutes=1))
    assert built.recipient == again.recipient == email  # as the config says: immediate, UTC
    assert len(caplog.records) == 3  # one warning each, not one per build
    warned = " ".join(record.getMessage() for record in caplog.records)
    assert "'fortnightly at noon', which no longer parses" in warned
    assert "'Mars/Olympus_Mons', which is no longer known" in warned
    assert "'climate', which they no longer have" in warned


def test_a_digest_over_smtp_carries_both_unsubscribe_headers_and_the_footer_links(
    db, tmp_path
) -> None:
    store(db, article(7010, "Raqqa by mail", "Body.", NOW - timedelta(hours=1)))
    match_articles(db, [SYRIA], now=NOW)
    handler = Recorder()
    with smtp_server(handler) as port:
        mail = MailConfig(
            sender="newswatch <alerts@example.org>", smtp_url=f"smtp://127.0.0.1:{port}", timeout=5
        )
        build_digests(db, [person(ANALYST)], mail, now=NOW, links=LINKS)
        assert deliver_outbox(db, mail, clock=fixed_clock(NOW)).sent == 1
    [got] = handler.received
    message = got.message
    unsubscribe_url = LINKS.unsubscribe_url(ANALYST)
    assert message["List-Unsubscribe"] == (
        f"<{unsubscribe_url}>, <mailto:alerts@example.org?subject=unsubscribe%20{ANALYST}>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_all("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    manage_url = LINKS.preferences_url(ANALYST)
    assert f"Manage your alerts: {manage_url}\n" in text
    assert f"Unsubscribe: {unsubscribe_url}\n" in text
    assert f'href="{manage_url}"' in html and f'href="{unsubscribe_url}"' in html
    assert "reply with" not in text
    # the link's token is this subscriber's, for the web app that shares the key
    token = re.search(r"/unsubscribe/(\S+)>", message["List-Unsubscribe"])[1]
    same_key = Links("https://elsewhere.example", "the instance's key")
    assert same_key.subscriber_id_of(token) == same_key.subscriber_id(ANALYST)
    assert same_key.subscriber_id(EDITOR) != same_key.subscriber_id(ANALYST)
    # the URL shows no address, not even encoded
    payload = token.split(".")[0]
    assert b"analyst" not in base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    with pytest.raises(InvalidLink):
        Links("https://newswatch.example.org", "another key").subscriber_id_of(token)
    with db.session() as session:
        assert session.scalar(select(OutboxMessage.unsubscribe_url)) == unsubscribe_url


# --- the command line: the composition root passes the links and the clock down -------------


def write_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "newswatch.toml"
    path.write_text(
        f"""
[storage]
url = "{url}"

[web]
base_url = "https://news.example.org/watch"

[mail]
maildir = "{tmp_path / "mail"}"
sender = "newswatch <alerts@example.org>"

[[watchlists]]
name = "syria"
terms = ["Raqqa"]

[[watchlists]]
name = "ukraine"
terms = ["Kyiv"]

[[subscribers]]
email = "{ANALYST}"
watchlists = ["syria", "ukraine"]
schedule = "immediate"

[[subscribers]]
email = "{EDITOR}"
watchlists = ["syria"]
schedule = "daily 07:00"
timezone = "Europe/Berlin"
""",
        encoding="utf-8",
    )
    return path


def cli(capsys, config: Path, *args: str, now=NOW) -> tuple[int, str, str]:
    code = main(["--config", str(config), *args], clock=fixed_clock(now))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NEWSWATCH_DATABASE_URL", "NEWSWATCH_SMTP_URL", "NEWSWATCH_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("_no_env")
def test_subscriber_resume_undoes_an_unsubscribe_and_the_next_digest_arrives(
    capsys, tmp_path, database_url
) -> None:
    config = write_config(tmp_path, database_url)
    maildir = MailConfig(maildir=str(tmp_path / "mail"))
    with Database(database_url) as db:
        store(db, article(7011, "Raqqa, before", "Body.", NOW - timedelta(hours=2)))
        unsubscribe(db, ANALYST, NOW - timedelta(hours=1))
        pause(db, ANALYST, NOW + timedelta(days=1), NOW - timedelta(hours=1))
        leave_watchlist(db, ANALYST, "ukraine", NOW - timedelta(hours=1))
    assert cli(capsys, config, "match")[0] == 0
    code, out, _ = cli(capsys, config, "digest")
    assert (code, ANALYST in out) == (0, False)

    code, out, err = cli(capsys, config, "subscriber", "resume", ANALYST)
    assert (code, err) == (0, "")
    assert out == (
        f"{ANALYST}: resumed; undid the unsubscribe of 08:00 UTC, the pause until "
        "2026-11-26 09:00 UTC, leaving ukraine\n"
    )
    assert cli(capsys, config, "digest")[0] == 0
    assert cli(capsys, config, "send")[0] == 0
    [message] = [m for m in delivered(maildir) if m["To"] == ANALYST]
    text, _ = parts(message)
    assert "Raqqa, before" in text
    with Database(database_url) as db:
        links = Links("https://news.example.org/watch", secret_key(db, None, NOW))
    assert f"Unsubscribe: {links.unsubscribe_url(ANALYST)}\n" in text
    assert f"Manage your alerts: {links.preferences_url(ANALYST)}\n" in text
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # nothing left to undo, and an address the config does not list: exit 1, one line each
    code, out, err = cli(capsys, config, "subscriber", "resume", ANALYST)
    assert (code, out) == (1, "")
    assert err == (
        f"newswatch: {ANALYST}: nothing to undo (not unsubscribed, not paused, no watchlist left)\n"
    )
    code, out, err = cli(capsys, config, "subscriber", "resume", "nobody@example.org")
    assert (code, out, err) == (
        1,
        "",
        f"newswatch: nobody@example.org is not a subscriber in {config}\n",
    )


@pytest.mark.usefixtures("_no_env")
def test_status_shows_each_subscribers_choices(capsys, tmp_path, database_url) -> None:
    config = write_config(tmp_path, database_url)
    with Database(database_url) as db:
        unsubscribe(db, ANALYST, NOW - timedelta(days=2))
        pause(db, EDITOR, NOW + timedelta(days=3), NOW - timedelta(hours=1))
        set_schedule(db, EDITOR, "daily 18:30", "Asia/Tokyo", NOW - timedelta(hours=1))
        leave_watchlist(db, EDITOR, "ukraine", NOW - timedelta(hours=1))  # not theirs
    code, out, _ = cli(capsys, config, "status", "--json")
    assert code == 0
    analyst, editor = json.loads(out)["subscribers"]
    assert analyst == {
        "email": ANALYST,
        "channels": [],
        "schedule": "immediate",
        "timezone": "UTC",
        "last_digest_at": None,
        "next_digest_at": None,
        "due": False,
        "state": "unsubscribed",
        "problems": [],  # a missed digest slot would be named here
        "choices": {
            "unsubscribed_at": "2026-11-23T09:00:00+00:00",
            "paused_until": None,
            "schedule": None,
            "timezone": None,
            "left_watchlists": [],
            "updated_at": "2026-11-23T09:00:00+00:00",
            "ignored": [],
        },
    }
    assert editor == {
        "email": EDITOR,
        "channels": [],
        "schedule": "daily 18:30",
        "timezone": "Asia/Tokyo",
        "last_digest_at": None,
        # the first slot after the pause: 18:30 in Tokyo on 28 November is 09:30 UTC
        "next_digest_at": "2026-11-28T09:30:00+00:00",
        "due": False,
        "state": "paused",
        "problems": [],  # no missed slot: it is paused
        "choices": {
            "unsubscribed_at": None,
            "paused_until": "2026-11-28T09:00:00+00:00",
            "schedule": "daily 18:30",
            "timezone": "Asia/Tokyo",
            "left_watchlists": ["ukraine"],
            "updated_at": "2026-11-25T08:00:00+00:00",
            "ignored": ["left watchlist 'ukraine', which they no longer have"],
        },
    }
    code, out, _ = cli(capsys, config, "status")
    assert code == 0
    screen = out[out.index("subscribers:") :]
    assert screen.startswith(
        "subscribers:\n"
        f"  {ANALYST} (immediate, UTC): unsubscribed 2026-11-23 09:00 UTC, not mailed; last "
        "digest never\n"
        f"  {EDITOR} (daily 18:30, Asia/Tokyo): paused until 2026-11-28 09:00 UTC; last digest "
        "never, next 2026-11-28 09:30 UTC (in 3d) (their own schedule; left ukraine)\n"
        "    ! ignoring their choice of left watchlist 'ukraine', which they no longer have\n"
    )
