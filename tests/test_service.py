"""`newswatch run` as a user meets it: a real process against the demo site on loopback and a
real SMTP server (aiosmtpd). Each test asserts what a user notices: mail received, rows in the
database, exit codes, log lines. Schedules are tested on a frozen clock, not with sleeps."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import ValidationError
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url

from alerts.schedules import parse_schedule
from demo import DemoServer, demo_articles
from scheduler.config import AppConfig, load_config
from scheduler.crawling import STOP_GRACE_SECONDS
from scheduler.jobs import crawl_sources, match_new
from scheduler.lock import ADVISORY_KEY
from scheduler.schedule_trigger import ScheduleTrigger
from scheduler.service import crawl_trigger
from store.clock import system_clock
from store.db import IDLE_IN_TRANSACTION_SECONDS, Database
from store.models import Article, CrawlRun, Delivery, Match, OutboxMessage, SubscriberState
from tests.conftest import PG_HOST, PG_PORT
from tests.service_helpers import (
    ROOT,
    Mailbox,
    Service,
    TcpProxy,
    alive,
    config_text,
    slow_articles,
    smtp_server,
    wait_for,
)

STARTED = "newswatch service started"
CRAWLED = "crawl demo:"  # one log line per finished (or stopped) crawl
A, B = "a@example.org", "b@example.org"


@pytest.fixture(scope="module")
def site() -> Iterator[DemoServer]:
    """One demo site for the module: every test crawls it into its own database."""
    with DemoServer() as server:
        yield server


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    with smtp_server(box) as port:
        yield box, port


class Services:
    """Starts services on config files in tmp_path; kills whatever is left at teardown."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[Service] = []

    def write(self, text: str, name: str = "newswatch.toml") -> Path:
        path = self.folder / name
        path.write_text(text, encoding="utf-8")
        return path

    def start(self, config: Path, env: dict[str, str] | None = None) -> Service:
        service = Service(config, self.folder / f"service-{len(self.started)}.log", env)
        self.started.append(service)
        return service.start()

    def cleanup(self) -> None:
        for service in self.started:
            service.cleanup()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    started = Services(tmp_path)
    try:
        yield started
    finally:
        started.cleanup()


def stop(service: Service, blocked: float = 0.0) -> None:
    """SIGTERM; the service exits 0 once the running step is done (``blocked``: seconds that
    step may wait on the locks of a session the server has yet to end)."""
    service.signal(signal.SIGTERM)
    try:
        code = service.wait(STOP_GRACE_SECONDS + 10 + blocked)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the service did not stop:\n{service.log()}") from None
    assert code == 0, service.log()


def wait_for_next_crawl(service: Service) -> None:
    """Until a crawl starts that was not running before (jobs run one at a time, in order)."""
    before = set(service.children())
    wait_for("the next crawl to start", lambda: set(service.children()) - before)


def delivered_short_ids(db: Database, subscriber: str) -> list[str]:
    with db.session() as session:
        return list(
            session.scalars(
                select(Article.short_id)
                .join(Match, Match.article_id == Article.id)
                .join(Delivery, Delivery.match_id == Match.id)
                .where(Delivery.subscriber == subscriber)
            )
        )


def outbox(db: Database) -> list[OutboxMessage]:
    with db.session() as session:
        return list(session.scalars(select(OutboxMessage)))


def crawl_runs(db: Database) -> list[CrawlRun]:
    with db.session() as session:
        return list(session.scalars(select(CrawlRun).order_by(CrawlRun.id)))


def recent_matches(db: Database, hours: float = 23) -> set[str]:
    """Articles matched that were published or listed well within a first digest's 24 hours."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    with db.session() as session:
        articles = session.scalars(select(Article).join(Match, Match.article_id == Article.id))
        return {
            a.short_id
            for a in articles
            if max(a.listed_at or a.first_seen_at, a.published_at or a.first_seen_at) >= since
        }


def assert_each_article_mailed_once(mailbox: Mailbox, db: Database, subscriber: str) -> None:
    """Every article given to the subscriber is in exactly one message they received, and
    every article in their messages was given to them."""
    messages = mailbox.to(subscriber)
    named = [short for mail in messages for short in mail.short_ids()]
    delivered = delivered_short_ids(db, subscriber)
    assert delivered, "nothing was delivered"
    assert len(set(delivered)) == len(delivered)
    assert sorted(named) == sorted(delivered), (named, delivered)
    assert len(messages) == len([m for m in outbox(db) if m.recipient == subscriber])


# ---------------------------------------------------------------- 1. a digest arrives


def test_a_digest_of_the_matching_articles_arrives(
    site: DemoServer, mailbox: tuple[Mailbox, int], services: Services, sqlite_url: str
) -> None:
    box, port = mailbox
    service = services.start(services.write(config_text(sqlite_url, site, port)))
    mail = wait_for(f"a digest for {A}", lambda: box.to(A), timeout=30)[0]

    message = mail.message
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["To"] == A
    assert "Raqqa" in mail.text
    html = message.get_body(("html",))
    assert html is not None and "Raqqa" in html.get_content()
    assert "1HDPC" not in mail.short_ids()  # the 2015 seed article is older than a first digest
    stop(service)
    with Database(sqlite_url, migrate=False) as db:
        assert mail.short_ids() == set(delivered_short_ids(db, A))
        assert [m.status for m in outbox(db)] == ["sent"]


# ---------------------------------------------------------------- 2. one service per database


def test_a_second_service_on_the_same_database_is_refused_naming_the_first(
    site: DemoServer, mailbox: tuple[Mailbox, int], services: Services, database_url: str
) -> None:
    _, port = mailbox
    config = services.write(config_text(database_url, site, port, every="1h"))
    first = services.start(config)
    first.wait_log(STARTED)

    second = services.start(config)
    assert second.wait(30) == 2, second.log()
    refusal = second.log()
    assert "already running" in refusal
    assert f"pid {first.pid} " in refusal, refusal
    assert STARTED not in refusal
    assert first.process is not None and first.process.poll() is None
    stop(first)

    # the lock goes with the service: a new one starts on the same database
    third = services.start(config)
    third.wait_log(STARTED)
    stop(third)


CHECK_LOCK_OFTEN = {"NEWSWATCH_LOCK_CHECK_SECONDS": "0.5"}
RETAKEN = "took the service lock back"
LOST = "lost the service lock to"


@pytest.fixture
def pg_proxy() -> Iterator[TcpProxy]:
    """PostgreSQL on 127.0.0.1:5432 behind a proxy that can drop every connection."""
    with TcpProxy(PG_HOST, PG_PORT) as proxy:
        yield proxy


def through(proxy: TcpProxy, url: str) -> str:
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(False)


def lock_sessions(url: str) -> list[str]:
    """The sessions holding the service lock in this database, by application name."""
    with Database(url, migrate=False) as db, db.engine.connect() as connection:
        return list(
            connection.scalars(
                text(
                    "SELECT a.application_name FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.objid = :key AND l.granted "
                    "AND l.database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database())"
                ),
                {"key": ADVISORY_KEY},
            )
        )


@pytest.mark.parametrize("server_too", [True, False], ids=["both ends", "client end only"])
def test_connections_dropped_under_the_service_it_takes_its_lock_back_and_a_second_is_refused(
    server_too: bool,
    site: DemoServer,
    mailbox: tuple[Mailbox, int],
    services: Services,
    postgres_url: str,
    pg_proxy: TcpProxy,
) -> None:
    _, port = mailbox
    proxied = services.write(config_text(through(pg_proxy, postgres_url), site, port, every="1h"))
    direct = services.write(config_text(postgres_url, site, port, every="1h"), "direct.toml")
    first = services.start(proxied, CHECK_LOCK_OFTEN)
    first.wait_log(CRAWLED)
    # the lock's session and the service's pool alike; with the server's end left open, the
    # old session still holds the lock: the service ends it (its own) and takes the lock
    assert pg_proxy.cut(server_too=server_too) >= 1

    first.wait_log(RETAKEN)
    if not server_too:
        assert "still held by this service's previous session" in first.log()
    second = services.start(direct)
    assert second.wait(30) == 2, second.log()
    assert "already running" in second.log()
    assert f"pid {first.pid} " in second.log(), second.log()
    assert STARTED not in second.log()
    assert [name.split(" on ")[0] for name in lock_sessions(postgres_url)] == [
        f"newswatch pid {first.pid}"
    ]
    assert LOST not in first.log()
    # a job writing when the connections were cut left its transaction open on the server
    # (client end only): the running step may wait on its row locks until the server ends that
    # session (idle_in_transaction_session_timeout), then finishes
    stop(first, blocked=IDLE_IN_TRANSACTION_SECONDS)


def test_a_service_whose_lock_another_took_while_it_was_cut_off_exits_1(
    site: DemoServer,
    mailbox: tuple[Mailbox, int],
    services: Services,
    postgres_url: str,
    pg_proxy: TcpProxy,
) -> None:
    _, port = mailbox
    proxied = services.write(config_text(through(pg_proxy, postgres_url), site, port, every="1h"))
    direct = services.write(config_text(postgres_url, site, port, every="1h"), "direct.toml")
    first = services.start(proxied, CHECK_LOCK_OFTEN)
    first.wait_log(CRAWLED)
    pg_proxy.refusing = True  # the first cannot reconnect ...
    assert pg_proxy.cut() >= 1
    wait_for("the first's lock session to end", lambda: not lock_sessions(postgres_url))

    second = services.start(direct)  # ... while a second, direct, takes the lock and works
    second.wait_log(STARTED)
    second.wait_log(CRAWLED)
    assert RETAKEN not in first.log()

    pg_proxy.refusing = False
    assert first.wait(60) == 1, first.log()
    assert f"{LOST} pid {second.pid} on " in first.log(), first.log()
    assert first.count(LOST) == 1
    assert second.process is not None and second.process.poll() is None
    stop(second)


def test_a_second_service_on_another_spelling_of_the_sqlite_path_is_refused(
    site: DemoServer, mailbox: tuple[Mailbox, int], services: Services, tmp_path: Path
) -> None:
    _, port = mailbox
    real = tmp_path / "data" / "newswatch.db"
    (tmp_path / "links").mkdir()
    file_link = tmp_path / "links" / "news.db"
    file_link.symlink_to(real)
    folder_link = tmp_path / "alias"
    folder_link.symlink_to(tmp_path / "data", target_is_directory=True)
    first = services.start(
        services.write(config_text(f"sqlite:///{real}", site, port, every="1h"), "real.toml")
    )
    first.wait_log(STARTED)

    for n, spelling in enumerate([file_link, folder_link / "newswatch.db"]):
        config = services.write(
            config_text(f"sqlite:///{spelling}", site, port, every="1h"), f"other-{n}.toml"
        )
        other = services.start(config)
        assert other.wait(30) == 2, other.log()
        assert "already running" in other.log() and f"pid {first.pid} " in other.log()
    assert sorted(p.name for p in tmp_path.rglob("*.lock")) == ["newswatch.db.lock"]
    stop(first)


def test_a_removed_sqlite_lock_file_is_taken_back_and_a_second_service_still_refused(
    site: DemoServer, mailbox: tuple[Mailbox, int], services: Services, sqlite_url: str
) -> None:
    _, port = mailbox
    config = services.write(config_text(sqlite_url, site, port, every="1h"))
    first = services.start(config, CHECK_LOCK_OFTEN)
    first.wait_log(STARTED)
    lock_file = Path(f"{make_url(sqlite_url).database}.lock")
    lock_file.unlink()

    first.wait_log(RETAKEN)
    assert f"pid {first.pid} " in lock_file.read_text()
    second = services.start(config)
    assert second.wait(30) == 2, second.log()
    assert "already running" in second.log()
    stop(first)


def test_a_lock_check_interval_that_is_not_seconds_is_refused(
    site: DemoServer, mailbox: tuple[Mailbox, int], services: Services, sqlite_url: str
) -> None:
    _, port = mailbox
    config = services.write(config_text(sqlite_url, site, port, every="1h"))
    service = services.start(config, {"NEWSWATCH_LOCK_CHECK_SECONDS": "soon"})
    assert service.wait(30) == 2
    assert "NEWSWATCH_LOCK_CHECK_SECONDS='soon': not a number of seconds > 0" in service.log()
    assert STARTED not in service.log()


# ---------------------------------------------------------------- 3. SIGTERM mid-crawl


def test_sigterm_mid_crawl_exits_0_leaving_only_complete_rows(
    site: DemoServer, mailbox: tuple[Mailbox, int], services: Services, sqlite_url: str
) -> None:
    _, port = mailbox
    with slow_articles(site, 1.0) as slow:
        service = services.start(services.write(config_text(sqlite_url, site, port, every="1h")))
        service.wait_log(STARTED)
        with Database(sqlite_url, migrate=False) as db:
            wait_for("the crawl to fetch its first articles", lambda: slow.served >= 4)
            assert [r.status for r in crawl_runs(db)] == ["running"]
            crawl = service.children()
            assert crawl, "no crawl subprocess is running"
            service.signal(signal.SIGTERM)
            assert service.wait(STOP_GRACE_SECONDS + 10) == 0, service.log()
            assert not any(alive(pid) for pid in crawl), "the crawl outlived the service"

            demo = {a.short_id: a for a in demo_articles()}
            with db.session() as session:
                stored = list(session.scalars(select(Article)))
            assert 4 <= len(stored) < len(demo), "the crawl was not stopped midway"
            for row in stored:  # each row is the whole article, as the site has it
                article = demo[row.short_id]
                assert (row.title, row.teaser, row.body) == (
                    article.title,
                    article.teaser,
                    article.body,
                ), row.short_id
            runs = crawl_runs(db)
            assert [r.status for r in runs] == ["interrupted"]
            assert runs[0].finished_at is not None and runs[0].new == len(stored)
            # stopped before matching: nothing was matched or mailed
            with db.session() as session:
                assert session.scalar(select(func.count()).select_from(Match)) == 0
            assert outbox(db) == []
    log = service.log()
    assert "asking the running crawl" in log and "newswatch service stopped" in log


def test_sigterm_before_the_scheduler_runs_still_stops_the_service(
    tmp_path: Path, sqlite_url: str
) -> None:
    """A stop asked for while the service is still starting is not lost."""
    script = textwrap.dedent(
        f"""
        import sys, threading
        from scheduler.config import AppConfig
        from scheduler.service import Service

        config = AppConfig.model_validate({{"storage": {{"url": {sqlite_url!r}}}, "sources": []}})
        service = Service(config, None)
        asked = threading.Thread(target=service.stop)
        asked.start()
        asked.join()
        sys.exit(service.run())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- 4. kill -9, restart


@pytest.mark.parametrize("moment", ["crawl", "send"])
def test_kill_9_mid_cycle_then_restart_mails_every_match_exactly_once(
    moment: str,
    site: DemoServer,
    mailbox: tuple[Mailbox, int],
    services: Services,
    sqlite_url: str,
) -> None:
    box, port = mailbox
    config = services.write(config_text(sqlite_url, site, port, every="2s"))
    with Database(sqlite_url) as db:
        if moment == "crawl":  # killed while the crawl is fetching articles
            with slow_articles(site, 0.5) as slow:
                first = services.start(config)
                wait_for("the crawl to fetch articles", lambda: slow.served >= 4)
                first.kill()
        else:  # killed while the SMTP server holds the digest mid-transaction
            box.hold = True
            first = services.start(config)
            wait_for("the digest to be in SMTP DATA", box.holding.is_set)
            first.kill()
            box.release()  # the dead connection gets a 451: the server did not take it
            assert [m.status for m in outbox(db)] == ["pending"]
            with db.engine.begin() as connection:  # the dead sender's claim runs out (LEASE)
                connection.execute(update(OutboxMessage).values(next_attempt_at=datetime.now(UTC)))
        assert box.to(A) == []

        second = services.start(config)  # at once: a crawl of the first may still be stopping
        wait_for("the digest after the restart", lambda: box.to(A))
        wait_for("the outbox to be sent", lambda: all(m.status == "sent" for m in outbox(db)))
        wait_for_next_crawl(second)  # the jobs queued before it ran: nothing went twice
        stop(second)
        first.wait_orphans()
        # the crawl the killed service left recorded how it ended
        assert "running" not in [r.status for r in crawl_runs(db)]

        assert_each_article_mailed_once(box, db, A)
        # every matching article of the last day got there
        assert recent_matches(db) <= set(delivered_short_ids(db, A))


# ---------------------------------------------------------------- 5. downtime over daily slots


def test_downtime_over_two_daily_slots_gives_one_catch_up_digest(
    site: DemoServer, mailbox: tuple[Mailbox, int], services: Services, sqlite_url: str
) -> None:
    box, port = mailbox
    now = datetime.now(UTC)
    slot = (now - timedelta(hours=6)).strftime("%H:%M")  # passed today and yesterday; next in 18h
    daily = "d@example.org"
    config_file = services.write(
        config_text(sqlite_url, site, port, every="2s", subscribers=[(daily, f"daily {slot}")])
    )
    with Database(sqlite_url) as db:
        # the service ran before (it crawled and matched), then was down for two days
        config = load_config(config_file)
        assert all(o.ok for o in crawl_sources(config, db, system_clock))
        assert match_new(config, db, system_clock).watchlists["syria"].new
        last = now - timedelta(days=2)
        with db.session() as session, session.begin():
            session.add(SubscriberState(email=daily, last_digest_at=last))

        service = services.start(config_file)
        wait_for("the catch-up digest", lambda: box.to(daily))
        wait_for_next_crawl(service)  # every job queued at start has run: no second digest
        stop(service)

        assert len(box.to(daily)) == 1
        assert service.count(f"digest for {daily}") == 1
        assert_each_article_mailed_once(box, db, daily)
        with db.session() as session:
            state = session.get(SubscriberState, daily)
            assert state is not None and state.last_digest_at is not None
            assert state.last_digest_at >= now
        # not due again until the next slot, 18 hours away
        assert not parse_schedule(f"daily {slot}").is_due(now + timedelta(hours=17), now)


# ---------------------------------------------------------------- 6. SIGHUP


def broken_configs(good: str) -> list[str]:
    """Configs a reload must refuse: not TOML, a field at fault, a crawl cron APScheduler
    cannot read (the model takes any text there)."""
    return [
        good + "\n[crawl\nevery = ",
        good + '\n[[subscribers]]\nemail = "x@example.org"\nwatchlists = ["nope"]\n',
        good.replace('every = "3s"', 'cron = "every tuesday"'),
    ]


def test_sighup_keeps_a_broken_config_out_and_takes_a_good_one(
    site: DemoServer, mailbox: tuple[Mailbox, int], services: Services, sqlite_url: str
) -> None:
    box, port = mailbox
    good = config_text(sqlite_url, site, port, every="3s")
    config = services.write(good)
    service = services.start(config)
    wait_for(f"the first digest for {A}", lambda: box.to(A))

    for failures, broken in enumerate([*broken_configs(good), None], start=1):
        if broken is None:
            config.unlink()  # a missing file is no config either (not the built-in defaults)
        else:
            config.write_text(broken, encoding="utf-8")
        service.signal(signal.SIGHUP)
        service.wait_log("config reload failed", times=failures, timeout=10)
    assert service.count("config reloaded") == 0
    assert service.process is not None and service.process.poll() is None

    wait_for_next_crawl(service)  # the running config goes on: a crawl starts on schedule

    # a good change takes effect: a new subscriber gets the digest
    services.write(
        config_text(sqlite_url, site, port, subscribers=[(A, "immediate"), (B, "immediate")])
    )
    service.signal(signal.SIGHUP)
    service.wait_log("config reloaded", timeout=10)
    wait_for(f"a digest for the new subscriber {B}", lambda: box.to(B))
    stop(service)
    assert len(box.to(A)) == 1 and len(box.to(B)) == 1
    assert box.to(B)[0].short_ids() == box.to(A)[0].short_ids()


# ---------------------------------------------------------------- 7. schedules, frozen clock


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_schedule_trigger_fires_at_the_next_slot_in_the_subscribers_zone() -> None:
    trigger = ScheduleTrigger(parse_schedule("daily 07:00", "Europe/Berlin"))
    # winter: 07:00 in Berlin is 06:00 UTC; a slot exactly now fires now
    assert trigger.get_next_fire_time(None, at("2024-01-10 05:00")) == at("2024-01-10 06:00")
    assert trigger.get_next_fire_time(None, at("2024-01-10 06:00")) == at("2024-01-10 06:00")
    # after a run, the next day's slot
    fired = at("2024-01-10 06:00")
    assert trigger.get_next_fire_time(fired, fired + timedelta(seconds=2)) == at("2024-01-11 06:00")
    # summer time: 05:00 UTC
    assert trigger.get_next_fire_time(None, at("2024-07-10 05:30")) == at("2024-07-11 05:00")


def test_schedule_trigger_after_downtime_fires_once_then_at_the_next_slot() -> None:
    """Three slots missed: APScheduler asks for the fire times up to now; there is no burst."""
    trigger = ScheduleTrigger(parse_schedule("daily 07:00", "UTC"))
    previous, now = at("2024-01-10 07:00"), at("2024-01-13 12:00")
    following = trigger.get_next_fire_time(previous, now)
    assert following == at("2024-01-14 07:00")  # not 01-11, 01-12, 01-13 one after another


def test_schedule_trigger_weekly_and_cron() -> None:
    weekly = ScheduleTrigger(parse_schedule("weekly mon 07:00", "UTC"))
    assert weekly.get_next_fire_time(None, at("2024-01-10 12:00")) == at("2024-01-15 07:00")
    cron = ScheduleTrigger(parse_schedule('cron "30 8 * * 1-5"', "America/New_York"))
    # Friday evening -> Monday 08:30 in New York (13:30 UTC in winter)
    assert cron.get_next_fire_time(None, at("2024-01-12 20:00")) == at("2024-01-15 13:30")
    assert "weekly mon 07:00" in str(weekly)


def test_crawl_trigger_every_and_jitter() -> None:
    config = AppConfig.model_validate({"crawl": {"every": "15m", "jitter": "0s"}})
    trigger = crawl_trigger(config)
    assert isinstance(trigger, IntervalTrigger)
    t0 = at("2024-01-10 12:00")
    assert trigger.get_next_fire_time(t0, t0 + timedelta(seconds=1)) == at("2024-01-10 12:15")

    jittered = crawl_trigger(AppConfig.model_validate({"crawl": {"every": "15m", "jitter": "1m"}}))
    for _ in range(20):
        fire = jittered.get_next_fire_time(t0, t0 + timedelta(seconds=1))
        assert fire is not None
        assert at("2024-01-10 12:15") <= fire <= at("2024-01-10 12:16")


def test_crawl_trigger_cron_is_a_standard_crontab_in_utc() -> None:
    config = AppConfig.model_validate({"crawl": {"cron": "*/15 * * * *", "jitter": "0s"}})
    trigger = crawl_trigger(config)
    assert trigger.get_next_fire_time(None, at("2024-01-10 12:07")) == at("2024-01-10 12:15")
    fired = at("2024-01-10 12:15")
    assert trigger.get_next_fire_time(fired, fired) == at("2024-01-10 12:30")
    # weekdays as cron numbers them (1-5 = Mon-Fri; APScheduler 3's from_crontab: Tue-Sat)
    weekdays = crawl_trigger(
        AppConfig.model_validate({"crawl": {"cron": "0 6 * * 1-5", "jitter": "0s"}})
    )
    assert weekdays.get_next_fire_time(None, at("2024-01-12 07:00")) == at("2024-01-15 06:00")


def test_crawl_trigger_cron_takes_the_jitter() -> None:
    config = AppConfig.model_validate({"crawl": {"cron": "0 * * * *", "jitter": "2m"}})
    trigger = crawl_trigger(config)
    fires = [trigger.get_next_fire_time(None, at("2024-01-10 12:07")) for _ in range(20)]
    assert all(
        f is not None and at("2024-01-10 13:00") <= f <= at("2024-01-10 13:02") for f in fires
    )
    assert len(set(fires)) > 1


def test_a_crawl_cron_the_scheduler_cannot_read_is_a_config_error(
    services: Services, sqlite_url: str
) -> None:
    with pytest.raises(ValidationError, match=r"crawl\.cron"):
        AppConfig.model_validate({"crawl": {"cron": "every tuesday"}})
    text = f'[storage]\nurl = "{sqlite_url}"\n[crawl]\ncron = "every tuesday"\n'
    service = services.start(services.write(text))
    assert service.wait(30) == 2
    assert "crawl.cron" in service.log() and STARTED not in service.log()
