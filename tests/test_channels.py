"""Digests through channels, end to end: real receivers on loopback (tests/receivers.py) take
the webhook's signed JSON and Apprise's json:// and ntfy:// messages; the outbox keeps the
email's promises for each channel (one POST per digest across cycles and across a kill -9,
retries on 503 and 429 with Retry-After, a 404 failed and shown while the others go); secrets
from the environment never reach what `check`, `status`, `send` or the logs print."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from alerts.config import ChannelsConfig, MailConfig, SubscriberConfig
from alerts.digest import build_digests
from alerts.match_stage import match_articles
from scheduler.cli import main
from scheduler.config import AppConfig
from scheduler.jobs import send_outbox
from scheduler.status_queries import collect_status
from scheduler.status_text import render_status
from store.clock import fixed_clock
from store.db import Database
from store.models import Delivery, OutboxMessage
from store.models import OutboxStatus as Status
from tests.conftest import need
from tests.receivers import Receiver, Reply, receiver
from tests.test_digest import SYRIA, article, delivered, store

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
SECRET = "webhook-key-for-tests"
A = "analyst@example.org"
CHANNELS = ChannelsConfig(timeout=5)


@pytest.fixture
def db(sqlite_url: str) -> Any:
    with Database(sqlite_url) as database:
        yield database


@pytest.fixture
def mail(tmp_path: Path) -> MailConfig:
    return MailConfig(maildir=str(tmp_path / "mail"), sender="newswatch <alerts@example.org>")


@pytest.fixture(autouse=True)
def webhook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSWATCH_WEBHOOK_SECRET", SECRET)


def hook(server: Receiver, path: str = "/hook") -> str:
    return f"webhook+http://127.0.0.1:{server.port}{path}"


def analyst(*channels: str, email: str | None = A, name: str | None = None) -> SubscriberConfig:
    return SubscriberConfig(
        email=email, name=name, channels=list(channels), watchlists=["syria"], schedule="immediate"
    )


def raqqa(db: Database, cid: int, at: datetime, title: str = "Strikes near Raqqa") -> None:
    store(db, article(cid, title, "Fighting in Raqqa went on.", at - timedelta(hours=1)), found=at)


def build(db: Database, mail: MailConfig, subscribers: list[SubscriberConfig], now: datetime):
    match_articles(db, [SYRIA], now=now)
    return build_digests(db, subscribers, mail, now=now, channels=CHANNELS)


def send(db: Database, mail: MailConfig, now: datetime):
    config = AppConfig(
        watchlists=[SYRIA], mail=mail, channels=CHANNELS, storage={"url": str(db.engine.url)}
    )
    return send_outbox(config, db, fixed_clock(now))


def rows(db: Database) -> list[OutboxMessage]:
    with db.session() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def verified(body: bytes, header: str | None) -> bool:
    """The README's verification, as a receiver would write it."""
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)


def test_a_webhook_gets_one_signed_post_per_digest_across_two_cycles(db, mail) -> None:
    with receiver() as server:
        subscriber = analyst(hook(server))
        raqqa(db, 1001, NOW)
        [first] = build(db, mail, [subscriber], NOW)
        assert first.channels == 1
        assert send(db, mail, NOW).sent == 2  # the email and the webhook
        [post] = server.wait_for(1)
        assert post.method == "POST" and post.path == "/hook"
        assert verified(post.body, post.header("X-Newswatch-Signature"))
        assert post.header("Content-Type") == "application/json"
        document = post.json()
        assert post.header("Idempotency-Key") == document["id"]
        assert document["subscriber"] == A
        [group] = document["watchlists"]
        assert group["name"] == "syria"
        [entry] = group["articles"]
        assert entry["title"] == "Strikes near Raqqa"
        assert entry["url"] == f"https://p.dw.com/p/{entry['short_id']}"
        assert entry["terms"] == ["Raqqa"]
        assert set(entry) == {
            "short_id", "url", "title", "teaser", "language", "published_at", "terms",
            "fields", "snippet",
        }  # fmt: skip
        assert len(delivered(mail)) == 1  # the email went too

        later = NOW + timedelta(hours=1)
        assert send(db, mail, later).sent == 0  # nothing new: nothing goes again
        raqqa(db, 1002, later, "Raqqa again")
        build(db, mail, [subscriber], later)
        assert send(db, mail, later).sent == 2
        posts = server.wait_for(2)
        second = posts[1].json()
        assert second["id"] != document["id"]
        assert [a["title"] for a in second["watchlists"][0]["articles"]] == ["Raqqa again"]
        assert len(server.received) == 2
    assert {row.status for row in rows(db)} == {Status.SENT}


def test_a_503_then_200_delivers_once_with_one_idempotency_key(db, mail) -> None:
    with receiver(Reply(503, body=b"busy")) as server:
        raqqa(db, 1001, NOW)
        build(db, mail, [analyst(hook(server), email=None, name="desk")], NOW)
        report = send(db, mail, NOW)
        assert (report.sent, report.retrying) == (0, 1)
        [row] = rows(db)
        assert row.status is Status.PENDING and row.next_attempt_at == NOW + timedelta(minutes=1)
        assert "503" in (row.last_error or "")
        text = render_status(collect_status(AppConfig(), db, NOW))
        assert f"#{row.id} retrying after 1 attempts: desk via webhook+http://127.0.0.1" in text
        assert send(db, mail, NOW + timedelta(seconds=30)).sent == 0  # not due yet
        assert send(db, mail, NOW + timedelta(minutes=2)).sent == 1
        first, second = server.wait_for(2)
        assert first.header("Idempotency-Key") == second.header("Idempotency-Key")
        assert first.body == second.body
        assert send(db, mail, NOW + timedelta(minutes=5)).sent == 0
        assert len(server.received) == 2
    [row] = rows(db)
    assert row.status is Status.SENT and row.attempts == 2


@pytest.mark.parametrize("retry_after", ["120", "Wed, 25 Nov 2026 09:02:00 GMT"])
def test_a_429_waits_as_long_as_retry_after_says(db, mail, retry_after: str) -> None:
    # a date is read against the receiver's own Date: two minutes after it
    headers = {"Retry-After": retry_after, "Date": "Wed, 25 Nov 2026 09:00:00 GMT"}
    with receiver(Reply(429, headers)) as server:
        raqqa(db, 1001, NOW)
        build(db, mail, [analyst(hook(server), email=None, name="desk")], NOW)
        assert send(db, mail, NOW).retrying == 1
        [row] = rows(db)
        assert row.next_attempt_at == NOW + timedelta(seconds=120)
        assert send(db, mail, NOW + timedelta(seconds=119)).sent == 0
        assert len(server.received) == 1
        assert send(db, mail, NOW + timedelta(seconds=120)).sent == 1
        assert len(server.wait_for(2)) == 2


def test_a_404_fails_visibly_while_the_email_and_other_channels_arrive(db, mail) -> None:
    with receiver(default=Reply(404, body=b"no such hook")) as gone, receiver() as fine:
        subscriber = analyst(hook(gone), f"json://127.0.0.1:{fine.port}/apprise")
        raqqa(db, 1001, NOW)
        build(db, mail, [subscriber], NOW)
        report = send(db, mail, NOW)
        assert (report.sent, report.failed, report.returned) == (2, 1, 0)
        assert len(delivered(mail)) == 1
        [apprise_post] = fine.wait_for(1)
        assert "Strikes near Raqqa" in apprise_post.json()["message"]
        assert len(gone.received) == 1  # permanent: not tried again
        assert send(db, mail, NOW + timedelta(hours=2)).sent == 0
        assert len(gone.received) == 1
    failed = [row for row in rows(db) if row.status is Status.FAILED]
    assert [row.channel for row in failed] == [hook(gone)]
    text = render_status(collect_status(AppConfig(), db, NOW))
    assert f"#{failed[0].id} failed after 1 attempts: {A} via webhook+http://127.0.0.1:" in text
    assert "404" in text
    with db.session() as session:  # the email and json:// had them: they are not given back
        assert session.scalar(select(Delivery.returned_at)) is None


def test_a_digest_whose_every_row_failed_gives_its_matches_back(db, mail) -> None:
    with receiver(default=Reply(410)) as gone:
        subscriber = analyst(hook(gone), email=None, name="desk")
        raqqa(db, 1001, NOW)
        build(db, mail, [subscriber], NOW)
        assert send(db, mail, NOW).returned == 1
        later = NOW + timedelta(hours=1)
        [again] = build(db, mail, [subscriber], later)
        assert again.articles == 1  # the failed digest's match, late
        send(db, mail, later)
        titles = [
            [a["title"] for a in post.json()["watchlists"][0]["articles"]]
            for post in gone.wait_for(2)
        ]
    assert titles == [["Strikes near Raqqa"], ["Strikes near Raqqa"]]


def test_apprise_json_and_ntfy_carry_the_markdown_digest(db, mail) -> None:
    with receiver() as json_peer, receiver() as ntfy_peer:
        subscriber = analyst(
            f"json://127.0.0.1:{json_peer.port}/in",
            f"ntfy://127.0.0.1:{ntfy_peer.port}/desk",
            email=None,
            name="desk",
        )
        raqqa(db, 1001, NOW)
        build(db, mail, [subscriber], NOW)
        assert send(db, mail, NOW).sent == 2
        [json_post] = json_peer.wait_for(1)
        [ntfy_post] = ntfy_peer.wait_for(1)
    message = json_post.json()
    assert message["title"].startswith("newswatch: 1 new article")
    assert "[Strikes near Raqqa](https://p.dw.com/p/" in message["message"]
    assert "Raqqa" in ntfy_post.body.decode()


# --- the command line: check, status, send, notify-test; secrets; kill -9 ----------------------


def write_config(tmp_path: Path, sqlite_url: str, channels: list[str], **extra: str) -> Path:
    config = tmp_path / "newswatch.toml"
    listed = ", ".join(json.dumps(url) for url in channels)
    settings = {"timeout": '"5s"'} | extra
    options = "".join(f"{key} = {value}\n" for key, value in settings.items())
    config.write_text(
        f'[storage]\nurl = "{sqlite_url}"\n'
        f'[mail]\nmaildir = "{tmp_path / "mail"}"\n'
        f"[channels]\n{options}"
        '[web]\nlisten = ""\n'
        '[[watchlists]]\nname = "syria"\nterms = ["Raqqa"]\n'
        f'[[subscribers]]\nname = "desk"\nwatchlists = ["syria"]\nschedule = "immediate"\n'
        f"channels = [{listed}]\n"
    )
    return config


def test_a_secret_from_the_environment_is_used_and_never_printed(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    token = "s3cr3t-token-5d1f0a"
    monkeypatch.setenv("HOOK_TOKEN", token)
    log = tmp_path / "newswatch.log"
    with receiver() as server:
        config = write_config(tmp_path, sqlite_url, [hook(server, "/hook/${HOOK_TOKEN}")])
        with Database(sqlite_url) as db:
            raqqa(db, 1001, datetime.now(UTC))
        common = ["--config", str(config), "-v", "--log-file", str(log)]
        assert main([*common, "check"]) == 0
        for step in ("match", "digest", "send"):
            assert main([*common, step]) == 0
        [post] = server.wait_for(1)
        assert post.path == f"/hook/{token}"
        assert main([*common, "status"]) == 0
        assert main([*common, "status", "--json"]) == 0
        assert main([*common, "notify-test", "desk"]) == 0
        server.wait_for(2)
    printed = capsys.readouterr()
    shown = printed.out + printed.err + log.read_text()
    assert "channel webhook+http://127.0.0.1:" in shown  # check lists it, masked
    assert token not in shown
    assert SECRET not in shown


def test_check_names_a_channels_unset_variable_and_exits_1(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.delenv("NW_TEST_UNSET", raising=False)
    config = write_config(tmp_path, sqlite_url, ["tgram://${NW_TEST_UNSET}/12345"])
    assert main(["--config", str(config), "check"]) == 1
    out = capsys.readouterr().out
    assert "NW_TEST_UNSET" in out
    assert "1 channel problems" in out


def test_notify_test_prints_each_channels_outcome(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with receiver() as fine, receiver(default=Reply(404)) as gone:
        config = write_config(tmp_path, sqlite_url, [hook(fine), hook(gone, "/gone")])
        assert main(["--config", str(config), "notify-test", "desk"]) == 1
        [test_post] = fine.wait_for(1)
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(": sent")
    assert out[1].startswith("webhook+http://127.0.0.1:") and "failed (permanent)" in out[1]
    assert "404" in out[1]
    assert out[2] == "1 of 2 channels failed"
    assert verified(test_post.body, test_post.header("X-Newswatch-Signature"))
    assert test_post.json()["watchlists"] == []
    assert main(["--config", str(config), "notify-test", "nobody"]) == 1
    assert "no subscriber 'nobody'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("subscriber", "error"),
    [
        ('watchlists = ["syria"]', "a subscriber needs an email, channels, or both"),
        ('channels = ["ntfy://x/y"]\nwatchlists = ["syria"]', "needs a name"),
        ('name = "d"\nchannels = ["ftp://x"]\nwatchlists = ["syria"]', "subscribers[0].channels"),
    ],
)
def test_a_subscriber_config_that_cannot_reach_anyone_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], subscriber: str, error: str
) -> None:
    config = tmp_path / "newswatch.toml"
    config.write_text(
        f'[[watchlists]]\nname = "syria"\nterms = ["Raqqa"]\n[[subscribers]]\n{subscriber}\n'
    )
    assert main(["--config", str(config), "check"]) == 2
    assert error in capsys.readouterr().err


def newswatch(config: Path, *args: str, at: datetime | None = None) -> list[str]:
    faked = ["faketime", "-f", f"@{at:%Y-%m-%d %H:%M:%S}"] if at else []
    return [*faked, sys.executable, "-m", "scheduler.cli", "--config", str(config), *args]


def test_a_sender_killed_between_claim_and_send_posts_once(tmp_path: Path, sqlite_url: str) -> None:
    """One sender claims both channel rows of a digest, sends the first to a receiver that
    holds its answer, and is killed (-9) before the second row goes. When the lease has run out
    the next sender sends both: the second receiver has exactly one POST; the first got the
    rare re-send of a request whose answer was lost, with the same Idempotency-Key."""
    need(shutil.which("faketime") is not None, "faketime is not installed")
    env = {**os.environ, "TZ": "UTC", "NEWSWATCH_WEBHOOK_SECRET": SECRET}
    with receiver(Reply(hold=True)) as held, receiver() as second:
        config = write_config(
            tmp_path,
            sqlite_url,
            [hook(held, "/first"), hook(second, "/second")],
            concurrency="1",
            timeout='"2m"',  # the held answer outlasts the kill, however busy the machine
        )
        with Database(sqlite_url) as db:
            raqqa(db, 1001, datetime.now(UTC))
        for step in ("match", "digest"):
            subprocess.run(newswatch(config, step), env=env, check=True, capture_output=True)
        sender = subprocess.Popen(
            newswatch(config, "send"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            held.wait_for(1, timeout=60)  # the first row is out, its answer held
            with Database(sqlite_url) as db:
                claimed = {row.channel: row.claimed_at for row in rows(db)}
            assert all(claimed.values())  # both claimed by the one sender
            assert second.received == []
        finally:
            sender.send_signal(signal.SIGKILL)
            sender.wait(30)
        held.release()
        assert second.received == []
        later = datetime.now(UTC) + timedelta(hours=1)  # past the lease
        again = subprocess.run(
            newswatch(config, "send", at=later), env=env, capture_output=True, text=True
        )
        assert again.returncode == 0, again.stdout + again.stderr
        assert again.stdout.startswith("sent 2,")
        [once] = second.wait_for(1)
        first, resent = held.wait_for(2)
        assert len(second.received) == 1  # the sender has exited: nothing more comes
    assert first.header("Idempotency-Key") == resent.header("Idempotency-Key")
    assert once.header("Idempotency-Key") == first.header("Idempotency-Key")
