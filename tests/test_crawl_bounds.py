"""Least privilege and bounds for the crawl subprocess, and nothing it logs goes unseen.

One crawl (the ``bounds`` fixture) covers three things at once:

- its environment: the service's secrets (SMTP password, webhook secret, ...) are set, and the
  crawl subprocess, which parses untrusted pages, must not have them (read from
  ``/proc/<pid>/environ`` while it runs);
- a feed and a sitemap far over ``[crawl] max_items_per_feed``: only the newest items of each
  are fetched, the rest skipped and counted;
- articles and a feed caught in redirect loops (a -> b -> a, a -> a, a chain past Scrapy's
  REDIRECT_MAX_TIMES): each one counted error naming the URL the index gave.

Two more crawls meet a database that refuses their writes: the crawl's own "attempt to write a
readonly database" reaches the CrawlRun row, the log and what ``newswatch crawl`` prints,
although the crawl process exits 0.
"""

from __future__ import annotations

import json
import logging
import random
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from sqlalchemy.engine import make_url

from crawler.config import CrawlConfig, SourceConfig
from crawler.discovery import ListedArticle, newest
from crawler.dw import ref_from_url
from demo import DemoArticle, DemoServer, Route, demo_articles, synthetic_articles
from scheduler.cli import main
from scheduler.crawling import crawl_environment, log_error_lines, run_crawl
from scheduler.stage_commands import crawl_summary
from store.clock import system_clock
from store.db import Database
from store.models import CrawlRun
from tests.conftest import PG_HOST, PG_PORT, fresh_database_url
from tests.crawling import CRAWL_TIMEOUT, FAST, RSS, FeedItem, crawl, rss_feed

SECRETS = {
    "NEWSWATCH_SMTP_PASSWORD": "smtp-password-5f3a9c",
    "NEWSWATCH_WEBHOOK_SECRET": "webhook-secret-77c1e0",
    "NEWSWATCH_SECRET_KEY": "secret-key-b2d4aa",
    "NEWSWATCH_WEB_TOKEN": "web-token-91e0fd",
    "AWS_SECRET_ACCESS_KEY": "aws-key-0c5e11",
}
PASSED_ON = {"LC_TIME": "C.UTF-8", "FAKETIME_NO_CACHE": "1"}  # the locale; libfaketime's own
LIMIT = 50
SYNTHETIC = 5000  # 3,333 English articles in the big feed, 1,667 German ones in the big sitemap
UNDATED = 20  # of the feed's items, without a date: read after every dated one
NEWEST = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # the feed's and sitemap's newest date

# the redirect loops, by their URL in the feed
LOOP_A, LOOP_B = "/en/loop-a/a-9100001", "/en/loop-b/a-9100001"
SELF_LOOP = "/en/self/a-9100002"
CHAIN = "/en/hop-{}/a-9100003"  # hop-0 -> hop-1 -> ... -> hop-29
CHAIN_HOPS = 30
REDIRECT_MAX_TIMES = 20  # Scrapy's default
FEED_LOOP, FEED_LOOP_BACK = "/feeds/loop.xml", "/feeds/loop-back.xml"


@dataclass
class ChildEnviron:
    """The crawl subprocess's environment and command line, as /proc showed them while the
    crawl ran."""

    raw: bytes = b""
    command: list[str] = field(default_factory=list)
    problem: str = "on_start was never called"

    def variables(self) -> dict[str, str]:
        entries = [entry.decode() for entry in self.raw.split(b"\0") if b"=" in entry]
        return dict(entry.split("=", 1) for entry in entries)


def environ_reader(found: ChildEnviron) -> Callable[[subprocess.Popen], None]:
    """An on_start callback: read ``/proc/<pid>/environ`` of the crawl as soon as it exec'd
    (Popen returns after exec; until then /proc would show this process's environment)."""
    own = Path("/proc/self/environ").read_bytes()

    def read(process: subprocess.Popen) -> None:
        deadline = time.monotonic() + CRAWL_TIMEOUT
        while time.monotonic() < deadline:
            try:
                raw = Path(f"/proc/{process.pid}/environ").read_bytes()
            except OSError as error:
                found.problem = f"cannot read the crawl's environment: {error}"
                return
            if raw and raw != own:
                found.raw, found.problem = raw, ""
                cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
                found.command = [part.decode() for part in cmdline.split(b"\0") if part]
                return
            if process.poll() is not None:
                found.problem = "the crawl ended before its environment was read"
                return
            time.sleep(0.005)  # polling for the exec, not a timed assertion
        found.problem = "the crawl's environment never changed from this process's"

    return read


def w3c(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def dated(articles: list[DemoArticle], rng: random.Random) -> dict[int, datetime]:
    """Distinct dates for the articles, in an order unrelated to the document's."""
    minutes = list(range(len(articles)))
    rng.shuffle(minutes)
    return {
        a.content_id: NEWEST - timedelta(minutes=m) for a, m in zip(articles, minutes, strict=True)
    }


def newest_ids(dates: dict[int, datetime], count: int) -> set[int]:
    return set(sorted(dates, key=dates.__getitem__, reverse=True)[:count])


def sitemap(server: DemoServer, articles: list[DemoArticle], dates: dict[int, datetime]) -> bytes:
    entries = "".join(
        f"<url><loc>{escape(server.url(a.canonical_path))}</loc>"
        f"<lastmod>{w3c(dates[a.content_id])}</lastmod></url>"
        for a in articles
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>\n'
    ).encode()


def redirect(server: DemoServer, path: str) -> Route:
    return Route(status=301, headers={"Location": server.url(path)})


@dataclass
class BoundsCrawl:
    run: CrawlRun
    environ: ChildEnviron
    database_url: str
    base_url: str
    log: str
    requests: list[str]  # request targets the demo server received
    newest_en: set[int]  # the LIMIT newest items of the big feed
    newest_de: set[int]  # ... and of the big sitemap
    english: set[int] = field(default_factory=set)
    german: set[int] = field(default_factory=set)
    undated: set[int] = field(default_factory=set)

    def requested_ids(self) -> list[int]:
        ids = []
        for target in self.requests:
            ref = ref_from_url("http://127.0.0.1" + target)
            if ref is not None:
                ids.append(ref.content_id)
        return ids

    def requested(self, fragment: str) -> list[str]:
        return [target for target in self.requests if fragment in target]

    def errors_naming(self, fragment: str) -> list[str]:
        return [line for line in self.run.last_errors if fragment in line]


@pytest.fixture(scope="module")
def bounds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BoundsCrawl]:
    folder = tmp_path_factory.mktemp("bounds")
    rng = random.Random(10)
    articles = synthetic_articles(SYNTHETIC, seed=10)
    english = [a for a in articles if a.language == "en"]
    german = [a for a in articles if a.language == "de"]
    rng.shuffle(english)
    rng.shuffle(german)
    undated, dated_english = english[:UNDATED], english[UNDATED:]
    english_dates, german_dates = dated(dated_english, rng), dated(german, rng)
    with DemoServer(articles) as server:
        items = [
            FeedItem(
                a.title,
                server.url(a.canonical_path),
                str(a.content_id),
                english_dates[a.content_id],
            )
            for a in dated_english
        ]
        for article in undated:  # undated items anywhere in the feed, some near its top
            items.insert(
                rng.randrange(len(items)),
                FeedItem(
                    article.title, server.url(article.canonical_path), str(article.content_id)
                ),
            )
        loops = [FeedItem("loop", server.url(LOOP_A)), FeedItem("self", server.url(SELF_LOOP))]
        loops.append(FeedItem("chain", server.url(CHAIN.format(0))))
        server.routes |= {
            "/feeds/big.xml": Route(body=rss_feed(items), headers={"Content-Type": RSS}),
            "/sitemaps/big.xml": Route(
                body=sitemap(server, german, german_dates),
                headers={"Content-Type": "application/xml"},
            ),
            "/feeds/loops.xml": Route(body=rss_feed(loops), headers={"Content-Type": RSS}),
            LOOP_A: redirect(server, LOOP_B),
            LOOP_B: redirect(server, LOOP_A),
            SELF_LOOP: redirect(server, SELF_LOOP),
            FEED_LOOP: redirect(server, FEED_LOOP_BACK),
            FEED_LOOP_BACK: redirect(server, FEED_LOOP),
        }
        for hop in range(CHAIN_HOPS):
            server.routes[CHAIN.format(hop)] = redirect(server, CHAIN.format(hop + 1))
        source = SourceConfig(
            name="bounds",
            feeds=[server.url(p) for p in ("/feeds/big.xml", "/feeds/loops.xml", FEED_LOOP)],
            sitemaps=[server.url("/sitemaps/big.xml")],
            allowed_domains=["127.0.0.1"],
        )
        config = CrawlConfig(delay=0, autothrottle=False, concurrency=8, max_items_per_feed=LIMIT)
        environ = ChildEnviron()
        with (
            pytest.MonkeyPatch.context() as env,
            Database(f"sqlite:///{folder / 'bounds.db'}") as database,
        ):
            for name, value in (SECRETS | PASSED_ON).items():
                env.setenv(name, value)
            log_file = folder / "crawl.log"
            outcome = crawl(source, database, config, log_file, on_start=environ_reader(environ))
        assert outcome.run is not None
        yield BoundsCrawl(
            run=outcome.run,
            environ=environ,
            database_url=database.url,
            base_url=server.base_url,
            log=log_file.read_text(),
            requests=list(server.request_log),
            newest_en=newest_ids(english_dates, LIMIT),
            newest_de=newest_ids(german_dates, LIMIT),
            english={a.content_id for a in english},
            german={a.content_id for a in german},
            undated={a.content_id for a in undated},
        )


# ---------------------------------------------------------------------- environment


def test_the_crawl_subprocess_has_none_of_the_services_secrets(bounds: BoundsCrawl) -> None:
    assert not bounds.environ.problem, bounds.environ.problem
    seen = bounds.environ.variables()
    for name, value in SECRETS.items():
        assert name not in seen
        assert value.encode() not in bounds.environ.raw
    # what it needs it has: its settings, the locale, libfaketime's variables, PATH
    assert seen["NEWSWATCH_DATABASE_URL"] == bounds.database_url
    assert seen["SCRAPY_SETTINGS_MODULE"] == "crawler.settings"
    assert {name: seen.get(name) for name in PASSED_ON} == PASSED_ON
    assert "PATH" in seen


def test_the_crawl_is_given_its_source_once(bounds: BoundsCrawl) -> None:
    command = bounds.environ.command
    assert command[command.index("scrapy") :][:3] == ["scrapy", "crawl", "dw"]
    assert "-a" not in command  # no spider argument repeats the source's name
    [source] = [part for part in command if part.startswith("NEWSWATCH_SOURCE=")]
    assert json.loads(source.split("=", 1)[1])["name"] == bounds.run.source


def test_the_crawl_without_secrets_still_crawls(bounds: BoundsCrawl) -> None:
    assert bounds.run.status == "ok"
    assert bounds.run.new == 2 * LIMIT


def test_crawl_environment_keeps_only_the_allow_list() -> None:
    parent = {
        "PATH": "/usr/bin",
        "HOME": "/home/newswatch",
        "LANG": "de_DE.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "Europe/Berlin",
        "https_proxy": "http://proxy:3128",
        "NO_PROXY": "localhost",
        "SSL_CERT_FILE": "/etc/ssl/cert.pem",
        "LD_PRELOAD": "/usr/lib/libfaketime.so.1",
        "FAKETIME": "+6d",
        "NEWSWATCH_DATABASE_URL": "sqlite:///elsewhere.db",
        "NEWSWATCH_CONFIG": "/etc/newswatch.toml",
        "NEWSWATCH_SMTP_URL": "smtp://mail:25",
        "SCRAPY_SETTINGS_MODULE": "somewhere.else",
        "PYTHONSTARTUP": "/tmp/evil.py",
        "LD_LIBRARY_PATH": "/tmp/lib",
        **SECRETS,
    }
    kept = crawl_environment(parent, "sqlite:///newswatch.db")
    assert kept == {
        "PATH": "/usr/bin",
        "HOME": "/home/newswatch",
        "LANG": "de_DE.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "Europe/Berlin",
        "https_proxy": "http://proxy:3128",
        "NO_PROXY": "localhost",
        "SSL_CERT_FILE": "/etc/ssl/cert.pem",
        "LD_PRELOAD": "/usr/lib/libfaketime.so.1",
        "FAKETIME": "+6d",
        "NEWSWATCH_DATABASE_URL": "sqlite:///newswatch.db",
        "NEWSWATCH_PARSE_WORKERS": "auto",
        "NEWSWATCH_STORE_WRITER": "auto",
        "SCRAPY_SETTINGS_MODULE": "crawler.settings",
    }


# ---------------------------------------------------------------------- max_items_per_feed


def test_a_feed_over_the_limit_contributes_only_its_newest_items(bounds: BoundsCrawl) -> None:
    english = [cid for cid in bounds.requested_ids() if cid in bounds.english]
    assert sorted(english) == sorted(bounds.newest_en)  # the newest 50, each once
    assert not bounds.undated & set(english)  # undated items come after every dated one


def test_a_sitemap_over_the_limit_contributes_only_its_newest_urls(bounds: BoundsCrawl) -> None:
    german = [cid for cid in bounds.requested_ids() if cid in bounds.german]
    assert sorted(german) == sorted(bounds.newest_de)


def test_skipped_items_are_logged_once_per_feed_and_counted(bounds: BoundsCrawl) -> None:
    feed_items, sitemap_items = len(bounds.english), len(bounds.german)
    warnings = re.findall(r"WARNING: (\S+): (\d+) items; only the newest (\d+)", bounds.log)
    assert sorted(warnings) == [
        (f"{bounds.base_url}/feeds/big.xml", str(feed_items), str(LIMIT)),
        (f"{bounds.base_url}/sitemaps/big.xml", str(sitemap_items), str(LIMIT)),
    ]
    skipped = re.search(r"'newswatch/skipped_over_limit': (\d+)", bounds.log)  # Scrapy's stats
    assert skipped is not None
    assert int(skipped.group(1)) == feed_items + sitemap_items - 2 * LIMIT
    assert not bounds.errors_naming("big.xml")  # skipped items are not errors


def test_newest_keeps_the_newest_dated_then_the_undated_in_document_order() -> None:
    day = datetime(2026, 1, 5, tzinfo=UTC)
    entries = [
        ListedArticle("u1", 1, "article"),
        ListedArticle("d2", 2, "article", day - timedelta(days=2)),
        ListedArticle("u3", 3, "article"),
        ListedArticle("d4", 4, "article", day),
        ListedArticle("d5", 5, "article", day - timedelta(days=1)),
        ListedArticle("u6", 6, "article"),
    ]
    assert [c.content_id for c in newest(entries, 4)[0]] == [4, 5, 2, 1]
    assert newest(entries, 4)[1] == 2
    assert newest(entries, 6) == (entries, 0)


# ---------------------------------------------------------------------- redirect loops


def test_an_article_redirect_loop_is_one_counted_error_naming_its_url(bounds: BoundsCrawl) -> None:
    [error] = bounds.errors_naming(LOOP_A)
    assert error.startswith(bounds.base_url + LOOP_A + ": ")  # the URL the feed gave
    assert "redirect loop" in error
    assert (len(bounds.requested(LOOP_A)), len(bounds.requested(LOOP_B))) == (1, 1)


def test_an_article_redirecting_to_itself_is_one_counted_error(bounds: BoundsCrawl) -> None:
    [error] = bounds.errors_naming(SELF_LOOP)
    assert "redirect loop" in error
    assert len(bounds.requested(SELF_LOOP)) == 1


def test_a_redirect_chain_past_the_maximum_is_one_counted_error(bounds: BoundsCrawl) -> None:
    [error] = bounds.errors_naming(CHAIN.format(0))
    assert error.startswith(bounds.base_url + CHAIN.format(0) + ": ")
    assert "max redirections reached" in error
    assert len(bounds.requested("/a-9100003")) == REDIRECT_MAX_TIMES + 1


def test_a_feed_redirect_loop_is_one_counted_error(bounds: BoundsCrawl) -> None:
    [error] = bounds.errors_naming(FEED_LOOP)
    assert error.startswith(bounds.base_url + FEED_LOOP + ": ") and "redirect loop" in error
    assert (len(bounds.requested(FEED_LOOP)), len(bounds.requested(FEED_LOOP_BACK))) == (1, 1)


def test_the_loops_are_all_the_errors(bounds: BoundsCrawl) -> None:
    assert bounds.run.errors == 4 == len(bounds.run.last_errors)


# ---------------------------------------------------------------------- a read-only database


def one_feed(server: DemoServer) -> SourceConfig:
    return SourceConfig(
        name="ro", feeds=[server.url("/rdf/rss-en-all")], allowed_domains=["127.0.0.1"]
    )


def test_a_crawl_refused_by_a_read_only_database_says_why_though_it_exits_0(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "newswatch.db"
    with DemoServer(demo_articles()) as server, Database(f"sqlite:///{path}") as database:
        # The database turned read-only while the service runs: the service's own connection
        # still writes, a new one (the crawl's) cannot. Tests run as root, for whom chmod
        # changes nothing, so the crawl is pointed at the file opened read-only by SQLite.
        database.url = f"sqlite:///file:{path}?mode=ro&uri=true"
        with caplog.at_level(logging.WARNING, logger="scheduler.crawling"):
            outcome = run_crawl(
                one_feed(server), FAST, database, system_clock, timeout=CRAWL_TIMEOUT
            )
    assert outcome.exit_code == 0  # the reason its output used to be dropped
    assert outcome.run is not None and outcome.run.status == "failed"
    assert "attempt to write a readonly database" in outcome.run.last_errors[-1]
    assert not outcome.ok
    with Database(f"sqlite:///{path}") as database, database.session() as session:
        [run] = session.query(CrawlRun).all()
        assert "attempt to write a readonly database" in run.last_errors[-1]
    assert "attempt to write a readonly database" in crawl_summary(outcome)
    assert any("attempt to write a readonly database" in r.getMessage() for r in caplog.records)


def test_when_the_database_refuses_the_service_too_the_crawl_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import psycopg

    admin = f"host={PG_HOST} port={PG_PORT} dbname=test user=postgres"
    with (
        fresh_database_url("postgresql", tmp_path) as url,
        DemoServer(demo_articles()) as server,
        Database(url) as database,
    ):
        name = make_url(url).database

        def read_only(process: subprocess.Popen) -> None:
            """Once the crawl's row exists: every new session of the database is read-only,
            and the open ones (the service's) are closed."""
            with psycopg.connect(admin, autocommit=True) as connection:
                connection.execute(
                    f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'
                )
                connection.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )

        with caplog.at_level(logging.WARNING, logger="scheduler.crawling"):
            outcome = run_crawl(
                one_feed(server),
                FAST,
                database,
                system_clock,
                timeout=CRAWL_TIMEOUT,
                on_start=read_only,
            )
    assert outcome.run is None and not outcome.ok
    assert outcome.cause is not None and "read-only transaction" in outcome.cause
    assert "read-only transaction" in outcome.log_errors[-1]  # the crawl's own words
    summary = crawl_summary(outcome)
    assert outcome.cause in summary and outcome.log_errors[-1] in summary
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert outcome.log_errors[-1] in record.getMessage()


def test_newswatch_crawl_on_a_read_only_database_prints_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "newswatch.db"
    Database(f"sqlite:///{path}").close()  # the schema, then read-only from here on
    config = tmp_path / "newswatch.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///file:{path}?mode=ro&uri=true"\n'
        '[[sources]]\nname = "ro"\nfeeds = ["http://127.0.0.1:9/feed"]\n'
    )
    code = main(["--config", str(config), "crawl"])
    out = capsys.readouterr().out
    assert code == 1
    assert "ro: failed: crawl not started" in out and "attempt to write a readonly database" in out


def test_log_error_lines_are_error_log_lines_and_the_exception_of_each_traceback() -> None:
    output = """\
2026-01-05 12:00:00 [scrapy.core.engine] INFO: Spider opened
2026-01-05 12:00:01 [dw] WARNING: http://x/a-1: HTTP 404
2026-01-05 12:00:02 [scrapy.utils.signal] ERROR: Error caught on signal handler: <bound method>
Traceback (most recent call last):
  File "/x/pipelines.py", line 160, in record_run
    session.commit()
    ^^^^^^^^^^^^^^^^
sqlite3.OperationalError: attempt to write a readonly database

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/x/pipelines.py", line 160, in record_run
sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) attempt to write a readonly database
[SQL: UPDATE crawl_runs SET status=?]
2026-01-05 12:00:03 [scrapy.core.engine] INFO: Spider closed (finished)
2026-01-05 12:00:03 [scrapy.utils.signal] ERROR: Error caught on signal handler: <bound method>
"""
    assert log_error_lines(output.splitlines(keepends=True)) == [
        "sqlite3.OperationalError: attempt to write a readonly database",
        "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) attempt to write a "
        "readonly database",
        "[scrapy.utils.signal] ERROR: Error caught on signal handler: <bound method>",
    ]
    assert log_error_lines(output.splitlines(), keep=1) == [
        "[scrapy.utils.signal] ERROR: Error caught on signal handler: <bound method>"
    ]
