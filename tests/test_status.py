"""`newswatch status`: crawl history, articles, matches, outbox and subscribers, and its health
check, read from a real SQLite database written through the ORM."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler.cli import main
from scheduler.config import AppConfig, load_config
from scheduler.health import health_problems
from scheduler.status_queries import collect_status
from scheduler.status_text import render_status
from store.clock import fixed_clock
from store.db import Database
from store.models import (
    Article,
    CrawlRun,
    Delivery,
    Match,
    OutboxMessage,
    SubscriberState,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
BUSY_RUN = {"pages": 40, "new": 3, "updated": 1, "skipped_known": 36}


@pytest.fixture(autouse=True)
def _no_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSWATCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("NEWSWATCH_SMTP_URL", raising=False)


def write_config(tmp_path: Path, url: str, crawl: str = 'every = "15m"') -> Path:
    path = tmp_path / "newswatch.toml"
    path.write_text(
        f"""
[storage]
url = "{url}"

[crawl]
{crawl}
jitter = "1m"

[[sources]]
name = "dw-en"
feeds = ["https://rss.dw.com/rdf/rss-en-all"]

[[sources]]
name = "dw-de"
feeds = ["https://rss.dw.com/rdf/rss-de-all"]

[[watchlists]]
name = "syria"
terms = ["Raqqa", "Daesh"]

[[watchlists]]
name = "climate"
terms = ["climate"]

[[subscribers]]
email = "analyst@example.org"
watchlists = ["syria"]
schedule = "daily 07:00"
timezone = "Europe/Berlin"
""",
        encoding="utf-8",
    )
    return path


def config_for(tmp_path: Path, url: str, crawl: str = 'every = "15m"') -> AppConfig:
    return load_config(write_config(tmp_path, url, crawl))


def add(db: Database, *rows: Any) -> None:
    with db.session() as session:
        session.add_all(rows)
        session.commit()


def run(source: str, started: datetime, status: str = "ok", **figures: Any) -> CrawlRun:
    finished = None if status == "running" else started + 2 * MIN
    values = {**BUSY_RUN, **figures}
    return CrawlRun(
        source=source, started_at=started, finished_at=finished, status=status, **values
    )


def article(content_id: int, first_seen: datetime) -> Article:
    return Article(
        short_id=f"s{content_id}",
        content_id=content_id,
        url=f"https://www.dw.com/en/story/a-{content_id}",
        kind="article",
        title=f"Story {content_id}",
        content_hash=f"{content_id:064d}",
        first_seen_at=first_seen,
        updated_at=first_seen,
        checked_at=first_seen,
    )


def message(n: int, created: datetime, status: str = "pending", **fields: Any) -> OutboxMessage:
    return OutboxMessage(
        message_id=f"<{n}@newswatch>",
        recipient=f"reader{n}@example.org",
        subject=f"Digest {n}",
        text="text",
        html="<p>html</p>",
        status=status,
        created_at=created,
        next_attempt_at=created,
        **fields,
    )


def source_of(report: dict[str, Any], name: str) -> dict[str, Any]:
    """One source in `status --json`."""
    return next(source for source in report["sources"] if source["name"] == name)


# ---------------------------------------------------------------- collect_status / health


def test_fresh_database_lists_every_source_as_never_crawled_and_is_healthy(
    tmp_path: Path, sqlite_url: str
) -> None:
    config = config_for(tmp_path, sqlite_url)
    with Database(sqlite_url) as db:
        report = collect_status(config, db, now=T0)
    data = report.to_json()
    assert [s["name"] for s in data["sources"]] == ["dw-en", "dw-de"]
    assert source_of(data, "dw-en") == {
        "name": "dw-en",
        "last_success_at": None,
        "next_crawl_at": "now",
        "runs": [],
        "warnings": [],
    }
    assert data["articles"] == {"total": 0, "last_24h": 0}
    assert data["outbox"]["pending"] == 0
    assert data["first_crawl_at"] is None
    assert health_problems(report) == []
    json.dumps(data)  # JSON-ready without a default=


def test_shows_the_last_five_runs_newest_first_and_the_next_crawl_after_the_last_start(
    tmp_path: Path, sqlite_url: str
) -> None:
    config = config_for(tmp_path, sqlite_url)
    with Database(sqlite_url) as db:
        add(db, *(run("dw-en", T0 - (15 * i + 5) * MIN) for i in range(7)))
        add(db, run("dw-en", T0 - 2 * MIN, "failed", pages=0, errors=4, last_errors=["HTTP 503"]))
        report = collect_status(config, db, now=T0).to_json()
    source = source_of(report, "dw-en")
    assert [r["started_at"] for r in source["runs"]] == [
        "2024-05-01T11:58:00+00:00",
        "2024-05-01T11:55:00+00:00",
        "2024-05-01T11:40:00+00:00",
        "2024-05-01T11:25:00+00:00",
        "2024-05-01T11:10:00+00:00",
    ]
    assert source["runs"][0] == {
        "started_at": "2024-05-01T11:58:00+00:00",
        "finished_at": "2024-05-01T12:00:00+00:00",
        "status": "failed",
        "pages": 0,
        "new": 3,
        "updated": 1,
        "skipped_known": 36,
        "errors": 4,
        "selector_fallbacks": 0,
        "last_errors": ["HTTP 503"],
    }
    assert source["last_success_at"] == "2024-05-01T11:57:00+00:00"  # finish of the 11:55 run
    assert source["next_crawl_at"] == "2024-05-01T12:13:00+00:00"
    assert source["warnings"] == []
    assert report["first_crawl_at"] == "2024-05-01T10:25:00+00:00"


def test_three_empty_runs_in_a_row_and_the_selector_fallback_are_warnings(
    tmp_path: Path, sqlite_url: str
) -> None:
    config = config_for(tmp_path, sqlite_url)
    with Database(sqlite_url) as db:
        add(
            db,
            run("dw-en", T0 - 50 * MIN),
            run("dw-en", T0 - 35 * MIN, pages=0, new=0, updated=0, skipped_known=0),
            run("dw-en", T0 - 20 * MIN, new=0, updated=0, skipped_known=0),  # pages, no articles
            run("dw-en", T0 - 5 * MIN, pages=0, new=0, updated=0, skipped_known=0),
            run("dw-de", T0 - 20 * MIN, pages=0, new=0, updated=0, skipped_known=0),
            run("dw-de", T0 - 5 * MIN, selector_fallbacks=7),
        )
        report = collect_status(config, db, now=T0)
    assert source_of(report.to_json(), "dw-en")["warnings"] == ["the last 3 runs found nothing"]
    assert source_of(report.to_json(), "dw-de")["warnings"] == [
        "the last run needed the selector fallback on 7 pages: DW may have changed its layout"
    ]
    assert health_problems(report) == [
        "source dw-en: the last 3 runs found nothing",
        "source dw-de: the last run needed the selector fallback on 7 pages: "
        "DW may have changed its layout",
    ]


def test_a_crawl_running_for_over_two_intervals_is_reported_as_killed(
    tmp_path: Path, sqlite_url: str
) -> None:
    config = config_for(tmp_path, sqlite_url)
    with Database(sqlite_url) as db:
        add(db, run("dw-en", T0 - 29 * MIN), run("dw-en", T0 - 14 * MIN, "running"))
        add(db, run("dw-de", T0 - 40 * MIN), run("dw-de", T0 - 31 * MIN, "running"))
        report = collect_status(config, db, now=T0).to_json()
    assert source_of(report, "dw-en")["warnings"] == []  # still within 2 × 15 min
    assert source_of(report, "dw-de")["warnings"] == [
        "the crawl started 2024-05-01T11:29:00+00:00 is still 'running' after 31m: "
        "it was probably killed"
    ]


def test_no_successful_crawl_in_three_intervals_is_a_problem(
    tmp_path: Path, sqlite_url: str
) -> None:
    config = config_for(tmp_path, sqlite_url)
    with Database(sqlite_url) as db:
        add(db, run("dw-en", T0 - 49 * MIN))  # finished 47 min ago: > 45 min
        add(db, run("dw-en", T0 - 20 * MIN, "failed", pages=0, errors=2))
        report = collect_status(config, db, now=T0)
        in_time = collect_status(config, db, now=T0 - 5 * MIN)
    assert health_problems(report) == [
        "source dw-en: no successful crawl since 2024-05-01T11:13:00+00:00 (over 45m)",
        "source dw-de: no successful crawl yet, 49m after the first crawl in the database",
    ]
    assert health_problems(in_time) == []  # 42 min, and crawling began 44 min before


def test_cron_gives_the_next_fire_time_and_its_gap_as_the_interval(
    tmp_path: Path, sqlite_url: str
) -> None:
    config = config_for(tmp_path, sqlite_url, crawl='cron = "*/20 * * * *"')
    with Database(sqlite_url) as db:
        add(db, run("dw-en", T0 - 55 * MIN), run("dw-de", T0 - 5 * MIN))
        report = collect_status(config, db, now=T0 + 5 * MIN)
    data = report.to_json()
    assert data["crawl"]["interval_seconds"] == 1200
    assert data["crawl"]["cron"] == "*/20 * * * *"
    assert source_of(data, "dw-en")["next_crawl_at"] == "2024-05-01T12:20:00+00:00"
    assert health_problems(report) == []  # dw-en's success 58 min ago: within 3 × 20 min
    later = collect_status(config, db, now=T0 + 10 * MIN)
    assert health_problems(later)[0].startswith("source dw-en: no successful crawl since")


def test_counts_articles_and_undelivered_matches_per_watchlist(
    tmp_path: Path, sqlite_url: str
) -> None:
    config = config_for(tmp_path, sqlite_url)
    with Database(sqlite_url) as db:
        stories = [
            article(1, T0 - 30 * MIN),
            article(2, T0 - 23 * 60 * MIN),
            article(3, T0 - 2 * timedelta(days=1)),
        ]
        add(db, *stories)
        matches = [
            Match(
                article_id=a.id,
                watchlist="syria",
                created_at=a.first_seen_at,
                updated_at=a.first_seen_at,
            )
            for a in stories
        ]
        sent = message(1, T0 - 60 * MIN, "sent")
        add(db, *matches, sent)
        add(
            db,
            Delivery(
                subscriber="analyst@example.org",
                match_id=matches[0].id,
                message_id=sent.id,
                created_at=sent.created_at,
            ),
        )
        report = collect_status(config, db, now=T0).to_json()
    assert report["articles"] == {"total": 3, "last_24h": 2}
    assert report["watchlists"] == [
        {"name": "syria", "matches": 3, "undelivered": 2},
        {"name": "climate", "matches": 0, "undelivered": 0},
    ]


def test_outbox_shows_pending_age_and_failed_and_retrying_errors(
    tmp_path: Path, sqlite_url: str
) -> None:
    config = config_for(tmp_path, sqlite_url)
    with Database(sqlite_url) as db:
        add(
            db,
            message(1, T0 - 90 * MIN, "failed", attempts=1, last_error="550 no such user"),
            message(2, T0 - 20 * MIN, attempts=2, last_error="421 try again later"),
            message(3, T0 - 5 * MIN),
            message(4, T0 - 3 * MIN, "sent"),
        )
        report = collect_status(config, db, now=T0)
    outbox = report.to_json()["outbox"]
    assert (outbox["pending"], outbox["sent"], outbox["failed"]) == (2, 1, 1)
    assert outbox["oldest_pending_at"] == "2024-05-01T11:40:00+00:00"
    assert outbox["oldest_pending_age_seconds"] == 20 * 60
    assert outbox["problems"] == [
        {
            "id": 2,
            "status": "retrying",
            "recipient": "reader2@example.org",
            "channel": "email",
            "subject": "Digest 2",
            "message_id": "<2@newswatch>",
            "created_at": "2024-05-01T11:40:00+00:00",
            "attempts": 2,
            "last_error": "421 try again later",
            "next_attempt_at": "2024-05-01T11:40:00+00:00",
        },
        {
            "id": 1,
            "status": "failed",
            "recipient": "reader1@example.org",
            "channel": "email",
            "subject": "Digest 1",
            "message_id": "<1@newswatch>",
            "created_at": "2024-05-01T10:30:00+00:00",
            "attempts": 1,
            "last_error": "550 no such user",
            "next_attempt_at": None,
        },
    ]
    assert health_problems(report) == [
        "outbox: #1 to reader1@example.org failed after 1 attempts: 550 no such user"
    ]


def test_a_backlog_is_pending_mail_older_than_an_hour_or_over_a_hundred_messages(
    tmp_path: Path, sqlite_url: str
) -> None:
    config = config_for(tmp_path, sqlite_url)
    with Database(sqlite_url) as db:
        add(db, message(0, T0 - 61 * MIN))
        old = collect_status(config, db, now=T0)
        add(db, *(message(n, T0 - 61 * MIN + n * timedelta(seconds=1)) for n in range(1, 101)))
        many = collect_status(config, db, now=T0 - 2 * MIN)  # oldest is 59 min old
    assert health_problems(old) == [
        "outbox: backlog of 1 pending messages, the oldest waiting 1h 1m"
    ]
    assert health_problems(many) == [
        "outbox: backlog of 101 pending messages, the oldest waiting 59m"
    ]


def test_subscribers_show_their_last_digest_and_next_slot_in_their_time_zone(
    tmp_path: Path, sqlite_url: str
) -> None:
    config = config_for(tmp_path, sqlite_url)
    with Database(sqlite_url) as db:
        add(db, SubscriberState(email="analyst@example.org", last_digest_at=T0 - 7 * 60 * MIN))
        report = collect_status(config, db, now=T0).to_json()
    assert report["subscribers"] == [
        {
            "email": "analyst@example.org",
            "channels": [],
            "schedule": "daily 07:00",
            "timezone": "Europe/Berlin",
            "last_digest_at": "2024-05-01T05:00:00+00:00",
            "next_digest_at": "2024-05-02T05:00:00+00:00",  # 07:00 CEST
            "due": False,
            "state": "active",
            "choices": None,  # they chose nothing on the web
            "problems": [],
        }
    ]


def test_the_text_summary_shows_runs_counts_and_problems(tmp_path: Path, sqlite_url: str) -> None:
    config = config_for(tmp_path, sqlite_url)
    with Database(sqlite_url) as db:
        add(db, run("dw-en", T0 - 10 * MIN, selector_fallbacks=2), article(1, T0 - MIN))
        add(db, message(1, T0 - 5 * MIN, "failed", attempts=1, last_error="550 no such user"))
        text = render_status(collect_status(config, db, now=T0))
    assert (
        "source dw-en: last ok 2024-05-01 11:52 UTC (8m ago), "
        "next crawl 2024-05-01 12:05 UTC (in 5m)" in text
    )
    assert (
        "2024-05-01 11:50 UTC (10m ago)  ok          40 pages, 3 new, 1 updated, 36 known" in text
    )
    assert "source dw-de: last ok never, next crawl now\n  never crawled" in text
    assert "articles: 1 stored, 1 in the last 24 h" in text
    assert "  watchlist syria: 0 matches, 0 undelivered" in text
    assert "outbox: 0 pending, 0 sent, 1 failed, 0 uncertain" in text
    assert "  #1 failed after 1 attempts: reader1@example.org 'Digest 1': 550 no such user" in text
    assert "analyst@example.org (daily 07:00, Europe/Berlin): last digest never" in text
    assert text.endswith(
        "problems:\n"
        "  ! source dw-en: the last run needed the selector fallback on 2 pages: "
        "DW may have changed its layout\n"
        "  ! outbox: #1 to reader1@example.org failed after 1 attempts: 550 no such user"
    )
    assert len(text.splitlines()) < 40


# ---------------------------------------------------------------- the command line


def test_status_json_on_the_command_line(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, sqlite_url)
    now = T0
    with Database(sqlite_url) as db:
        add(db, run("dw-en", now - 3 * MIN), article(1, now - 60 * MIN))
    assert main(["--config", str(path), "status", "--json"], clock=fixed_clock(T0)) == 0
    report = json.loads(capsys.readouterr().out)
    source = source_of(report, "dw-en")
    assert source["runs"][0]["status"] == "ok"
    assert source["runs"][0]["new"] == 3
    assert datetime.fromisoformat(source["next_crawl_at"]) > now
    assert source_of(report, "dw-de")["next_crawl_at"] == "now"
    assert report["articles"] == {"total": 1, "last_24h": 1}
    assert report["subscribers"][0]["email"] == "analyst@example.org"


def test_status_text_on_the_command_line(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, sqlite_url)
    with Database(sqlite_url) as db:
        add(db, run("dw-en", T0 - 3 * MIN))
    assert main(["--config", str(path), "status"], clock=fixed_clock(T0)) == 0
    out = capsys.readouterr().out
    assert "source dw-en: last ok" in out
    assert "outbox: 0 pending, 0 sent, 0 failed" in out
    assert out.rstrip().endswith("health: ok")


def test_check_exits_1_with_one_line_per_problem(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, sqlite_url)
    now = T0
    with Database(sqlite_url) as db:
        add(db, run("dw-en", now - 10 * MIN), run("dw-de", now - 44 * MIN))  # ok 42 min ago
        add(db, run("dw-de", now - 35 * MIN, "running"))  # killed: > 2 × 15 min
        add(db, message(1, now - 5 * MIN, "failed", attempts=1, last_error="550 no such user"))
    assert main(["--config", str(path), "status", "--check"], clock=fixed_clock(T0)) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("source dw-de: the crawl started ")
    assert lines[0].endswith("is still 'running' after 35m: it was probably killed")
    assert lines[1] == "outbox: #1 to reader1@example.org failed after 1 attempts: 550 no such user"


def test_check_says_ok_and_exits_0_when_healthy(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, sqlite_url)
    now = T0
    with Database(sqlite_url) as db:
        add(db, run("dw-en", now - 10 * MIN), run("dw-de", now - 9 * MIN))
        add(db, message(1, now - 2 * MIN), message(2, now - 30 * MIN, "sent"))
    assert main(["--config", str(path), "status", "--check"], clock=fixed_clock(T0)) == 0
    assert capsys.readouterr().out == "ok\n"


def populate_every_kind_of_row(db: Database) -> None:
    """Crawl runs of every status, articles, matches delivered, undelivered and given back, and
    outbox messages in every state a status report names."""
    add(
        db,
        run("dw-en", T0 - 50 * MIN, selector_fallbacks=1),
        run(
            "dw-en",
            T0 - 20 * MIN,
            "failed",
            pages=0,
            errors=2,
            selector_fallbacks=2,
            last_errors=["HTTP 503: Überlast"],
        ),
        run("dw-en", T0 - 4 * MIN, "running"),
        run("dw-de", T0 - 70 * MIN, "interrupted", pages=3, new=0, updated=0, skipped_known=0),
        run("dw-de", T0 - 40 * MIN, "running"),
        article(1, T0 - 30 * MIN),
        article(2, T0 - 2 * timedelta(days=1)),
        SubscriberState(email="analyst@example.org", last_digest_at=T0 - 29 * 60 * MIN),
    )
    sent = message(1, T0 - 3 * 60 * MIN, "sent", attempts=1)
    refused = message(2, T0 - 2 * 60 * MIN, "failed", attempts=1, last_error="550 no such user")
    matches = [
        Match(article_id=n, watchlist="syria", created_at=T0 - 30 * MIN, updated_at=T0 - 30 * MIN)
        for n in (1, 2)
    ]
    add(db, sent, refused, *matches)
    add(
        db,
        Delivery(
            subscriber="analyst@example.org",
            match_id=matches[0].id,
            message_id=sent.id,
            created_at=sent.created_at,
        ),
        Delivery(
            subscriber="reader2@example.org",
            match_id=matches[1].id,
            message_id=refused.id,
            created_at=refused.created_at,
            returned_at=T0 - 100 * MIN,
        ),
        message(
            3, T0 - 90 * MIN, "uncertain", attempts=2, last_error="no reply", acknowledged_at=T0
        ),
        message(
            4, T0 - 80 * MIN, "uncertain", attempts=1, last_error="no reply: it may have arrived"
        ),
        message(
            5,
            T0 - 70 * MIN,
            "not_rendered",
            attempts=3,
            last_error="digest not rendered: 'digest.html' line 3: boom",
        ),
        message(6, T0 - 65 * MIN),
        message(7, T0 - 30 * MIN, attempts=2, last_error="421 try again later"),
        message(8, T0 - 20 * MIN, attempts=1, claimed_at=T0 - 3 * MIN),
        message(9, T0 - 25 * MIN, attempts=1, claimed_at=T0 - 25 * MIN),
    )
    with db.session() as session, session.begin():
        session.get(OutboxMessage, 7).next_attempt_at = T0 + 10 * MIN
        session.get(OutboxMessage, 8).next_attempt_at = T0 + 7 * MIN  # the lease
        session.get(OutboxMessage, 9).next_attempt_at = T0 - 15 * MIN  # the lease ran out
        session.get(OutboxMessage, 7).subject = "Überblick: 3 neue Artikel"


def test_status_json_of_a_populated_database_is_exactly_this(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The `status --json` shape, byte for byte: keys in this order, floats as floats, text
    as UTF-8 (not \\u escapes), two-space indent."""
    path = write_config(tmp_path, sqlite_url)
    with Database(sqlite_url) as db:
        populate_every_kind_of_row(db)
    assert main(["--config", str(path), "status", "--json"], clock=fixed_clock(T0)) == 0
    expected = {
        "generated_at": "2024-05-01T12:00:00+00:00",
        "database": f"sqlite:///{tmp_path / 'newswatch.db'}",
        "crawl": {
            "every_seconds": 900.0,
            "cron": None,
            "interval_seconds": 900.0,
            "jitter_seconds": 60.0,
        },
        "first_crawl_at": "2024-05-01T10:50:00+00:00",
        "sources": [
            {
                "name": "dw-en",
                "last_success_at": "2024-05-01T11:12:00+00:00",
                "next_crawl_at": "2024-05-01T12:11:00+00:00",
                "runs": [
                    {
                        "started_at": "2024-05-01T11:56:00+00:00",
                        "finished_at": None,
                        "status": "running",
                        "pages": 40,
                        "new": 3,
                        "updated": 1,
                        "skipped_known": 36,
                        "errors": 0,
                        "selector_fallbacks": 0,
                        "last_errors": [],
                    },
                    {
                        "started_at": "2024-05-01T11:40:00+00:00",
                        "finished_at": "2024-05-01T11:42:00+00:00",
                        "status": "failed",
                        "pages": 0,
                        "new": 3,
                        "updated": 1,
                        "skipped_known": 36,
                        "errors": 2,
                        "selector_fallbacks": 2,
                        "last_errors": ["HTTP 503: Überlast"],
                    },
                    {
                        "started_at": "2024-05-01T11:10:00+00:00",
                        "finished_at": "2024-05-01T11:12:00+00:00",
                        "status": "ok",
                        "pages": 40,
                        "new": 3,
                        "updated": 1,
                        "skipped_known": 36,
                        "errors": 0,
                        "selector_fallbacks": 1,
                        "last_errors": [],
                    },
                ],
                "warnings": [
                    "the last run needed the selector fallback on 2 pages: "
                    "DW may have changed its layout"
                ],
            },
            {
                "name": "dw-de",
                "last_success_at": None,
                "next_crawl_at": "2024-05-01T11:35:00+00:00",
                "runs": [
                    {
                        "started_at": "2024-05-01T11:20:00+00:00",
                        "finished_at": None,
                        "status": "running",
                        "pages": 40,
                        "new": 3,
                        "updated": 1,
                        "skipped_known": 36,
                        "errors": 0,
                        "selector_fallbacks": 0,
                        "last_errors": [],
                    },
                    {
                        "started_at": "2024-05-01T10:50:00+00:00",
                        "finished_at": "2024-05-01T10:52:00+00:00",
                        "status": "interrupted",
                        "pages": 3,
                        "new": 0,
                        "updated": 0,
                        "skipped_known": 0,
                        "errors": 0,
                        "selector_fallbacks": 0,
                        "last_errors": [],
                    },
                ],
                "warnings": [
                    "the crawl started 2024-05-01T11:20:00+00:00 is still 'running' after 40m: "
                    "it was probably killed"
                ],
            },
        ],
        "articles": {"total": 2, "last_24h": 1},
        "watchlists": [
            {"name": "syria", "matches": 2, "undelivered": 1},
            {"name": "climate", "matches": 0, "undelivered": 0},
        ],
        "outbox": {
            "pending": 4,
            "sent": 1,
            "failed": 1,
            "uncertain": 2,
            "not_rendered": 1,
            "oldest_pending_at": "2024-05-01T10:55:00+00:00",
            "oldest_pending_age_seconds": 3900.0,
            "claimed": {
                "count": 1,
                "since": "2024-05-01T11:57:00+00:00",
                "lease_until": "2024-05-01T12:07:00+00:00",
            },
            "stale_claims": {
                "count": 1,
                "since": "2024-05-01T11:35:00+00:00",
                "lease_ran_out": "2024-05-01T11:45:00+00:00",
            },
            "returned_matches": 1,
            "problems": [
                {
                    "id": 7,
                    "status": "retrying",
                    "recipient": "reader7@example.org",
                    "channel": "email",
                    "subject": "Überblick: 3 neue Artikel",
                    "message_id": "<7@newswatch>",
                    "created_at": "2024-05-01T11:30:00+00:00",
                    "attempts": 2,
                    "last_error": "421 try again later",
                    "next_attempt_at": "2024-05-01T12:10:00+00:00",
                },
                {
                    "id": 5,
                    "status": "not_rendered",
                    "recipient": "reader5@example.org",
                    "channel": "email",
                    "subject": "Digest 5",
                    "message_id": "<5@newswatch>",
                    "created_at": "2024-05-01T10:50:00+00:00",
                    "attempts": 3,
                    "last_error": "digest not rendered: 'digest.html' line 3: boom",
                    "next_attempt_at": None,
                },
                {
                    "id": 4,
                    "status": "uncertain",
                    "recipient": "reader4@example.org",
                    "channel": "email",
                    "subject": "Digest 4",
                    "message_id": "<4@newswatch>",
                    "created_at": "2024-05-01T10:40:00+00:00",
                    "attempts": 1,
                    "last_error": "no reply: it may have arrived",
                    "next_attempt_at": None,
                },
                {
                    "id": 2,
                    "status": "failed",
                    "recipient": "reader2@example.org",
                    "channel": "email",
                    "subject": "Digest 2",
                    "message_id": "<2@newswatch>",
                    "created_at": "2024-05-01T10:00:00+00:00",
                    "attempts": 1,
                    "last_error": "550 no such user",
                    "next_attempt_at": None,
                },
            ],
            "retrying_not_shown": 0,
            "acknowledged": 1,
        },
        "subscribers": [
            {
                "email": "analyst@example.org",
                "channels": [],
                "schedule": "daily 07:00",
                "timezone": "Europe/Berlin",
                "last_digest_at": "2024-04-30T07:00:00+00:00",
                "next_digest_at": "2024-05-02T05:00:00+00:00",
                "due": True,
                "state": "active",
                "choices": None,
                "problems": [],
            }
        ],
        "kept_problems": [],  # the problems table (scheduler.problems): nothing checked yet
    }
    assert capsys.readouterr().out == json.dumps(expected, ensure_ascii=False, indent=2) + "\n"


def test_status_screen_and_check_of_a_populated_database(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, sqlite_url)
    with Database(sqlite_url) as db:
        populate_every_kind_of_row(db)
    assert main(["--config", str(path), "status"], clock=fixed_clock(T0)) == 0
    screen = capsys.readouterr().out.replace(str(tmp_path), "TMP")
    assert screen == (
        "newswatch status at 2024-05-01 12:00 UTC\n"
        "database: sqlite:///TMP/newswatch.db\n"
        "crawl: every 15m, jitter 1m\n"
        "\n"
        "source dw-en: last ok 2024-05-01 11:12 UTC (48m ago), next crawl "
        "2024-05-01 12:11 UTC (in 11m)\n"
        "  2024-05-01 11:56 UTC (4m ago)  running     40 pages, 3 new, 1 updated, "
        "36 known, 0 errors, 0 fallbacks\n"
        "  2024-05-01 11:40 UTC (20m ago)  failed      0 pages, 3 new, 1 updated, "
        "36 known, 2 errors, 2 fallbacks\n"
        "  2024-05-01 11:10 UTC (50m ago)  ok          40 pages, 3 new, 1 updated, "
        "36 known, 0 errors, 1 fallbacks\n"
        "  ! the last run needed the selector fallback on 2 pages: DW may have "
        "changed its layout\n"
        "\n"
        "source dw-de: last ok never, next crawl 2024-05-01 11:35 UTC (25m ago)\n"
        "  2024-05-01 11:20 UTC (40m ago)  running     40 pages, 3 new, 1 updated, "
        "36 known, 0 errors, 0 fallbacks\n"
        "  2024-05-01 10:50 UTC (1h 10m ago)  interrupted 3 pages, 0 new, 0 "
        "updated, 0 known, 0 errors, 0 fallbacks\n"
        "  ! the crawl started 2024-05-01T11:20:00+00:00 is still 'running' after "
        "40m: it was probably killed\n"
        "\n"
        "articles: 2 stored, 1 in the last 24 h\n"
        "  watchlist syria: 2 matches, 1 undelivered\n"
        "  watchlist climate: 0 matches, 0 undelivered\n"
        "outbox: 4 pending (oldest waiting 1h 5m), 1 sent, 1 failed, 2 uncertain\n"
        "  1 claimed by a sender since 11:57 UTC (lease until 12:07 UTC)\n"
        "  1 claimed by a sender since 11:35 UTC that stopped: the lease ran out "
        "at 11:45 UTC, due again\n"
        "  1 matches of failed messages wait for the subscribers' next digests\n"
        "  #7 retrying after 2 attempts: reader7@example.org 'Überblick: 3 neue "
        "Artikel': 421 try again later (next try 12:10 UTC)\n"
        "  #5 not_rendered after 3 attempts: reader5@example.org 'Digest 5': "
        "digest not rendered: 'digest.html' line 3: boom\n"
        "  #4 uncertain after 1 attempts: reader4@example.org 'Digest 4': no "
        "reply: it may have arrived\n"
        "  #2 failed after 1 attempts: reader2@example.org 'Digest 2': 550 no such "
        "user\n"
        "  1 failed or uncertain, acknowledged (not shown)\n"
        "  send again: `newswatch send --retry [--failed]`; accept as it is: "
        "`newswatch send --acknowledge ID`\n"
        "subscribers:\n"
        "  analyst@example.org (daily 07:00, Europe/Berlin): last digest "
        "2024-04-30 07:00 UTC (1d 5h ago), next 2024-05-02 05:00 UTC (in 17h)\n"
        "\n"
        "problems:\n"
        "  ! source dw-en: no successful crawl since 2024-05-01T11:12:00+00:00 "
        "(over 45m)\n"
        "  ! source dw-en: the last run needed the selector fallback on 2 pages: "
        "DW may have changed its layout\n"
        "  ! source dw-de: no successful crawl yet, 1h 10m after the first crawl "
        "in the database\n"
        "  ! source dw-de: the crawl started 2024-05-01T11:20:00+00:00 is still "
        "'running' after 40m: it was probably killed\n"
        "  ! outbox: the digest for reader5@example.org did not render (3 tries): "
        "'digest.html' line 3: boom\n"
        "  ! outbox: #4 to reader4@example.org uncertain after 1 attempts: no "
        "reply: it may have arrived\n"
        "  ! outbox: #2 to reader2@example.org failed after 1 attempts: 550 no "
        "such user\n"
        "  ! outbox: backlog of 4 pending messages, the oldest waiting 1h 5m\n"
    )
    assert main(["--config", str(path), "status", "--check"], clock=fixed_clock(T0)) == 1
    assert capsys.readouterr().out == (
        "source dw-en: no successful crawl since 2024-05-01T11:12:00+00:00 (over "
        "45m)\n"
        "source dw-en: the last run needed the selector fallback on 2 pages: DW "
        "may have changed its layout\n"
        "source dw-de: no successful crawl yet, 1h 10m after the first crawl in "
        "the database\n"
        "source dw-de: the crawl started 2024-05-01T11:20:00+00:00 is still "
        "'running' after 40m: it was probably killed\n"
        "outbox: the digest for reader5@example.org did not render (3 tries): "
        "'digest.html' line 3: boom\n"
        "outbox: #4 to reader4@example.org uncertain after 1 attempts: no reply: "
        "it may have arrived\n"
        "outbox: #2 to reader2@example.org failed after 1 attempts: 550 no such "
        "user\n"
        "outbox: backlog of 4 pending messages, the oldest waiting 1h 5m\n"
    )
