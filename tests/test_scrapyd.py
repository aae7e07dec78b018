"""Crawls on scrapyd nodes ([crawl] scrapyd): two real scrapyd processes on loopback ports, each
with its own scrapyd.conf and folders, running the crawler's egg from this checkout against the
demo site, storing into a fresh PostgreSQL database on 127.0.0.1:5432."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from crawler.config import CrawlConfig, SourceConfig
from demo import DemoServer, demo_articles
from scheduler import jobs
from scheduler.config import AppConfig, ConfigError, load_config
from scheduler.egg import code_version
from scheduler.scrapyd_nodes import run_on_nodes
from store.clock import system_clock
from store.config import StorageConfig
from store.db import Database
from store.models import Article, CrawlRun, CrawlStatus
from tests.conftest import fresh_database_url, need
from tests.crawling import DEMO_ARTICLES, FAST, demo_source

NODE_START_SECONDS = 60.0
PASSWORD = "s3cret-pw-never-on-a-node"  # PostgreSQL's trust auth takes any password


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ScrapydNode:
    folder: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def finished_jobs(self) -> set[str]:
        jobs = requests.get(f"{self.url}/listjobs.json", timeout=10).json()
        return {job["id"] for job in jobs.get("finished", [])}

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _start_node(folder: Path, auth: str = "") -> ScrapydNode:
    """A scrapyd process of this venv on a free loopback port, its config in ``folder``
    (``auth``: more lines for it, e.g. its username and password)."""
    folder.mkdir(parents=True)
    port = _free_port()
    (folder / "scrapyd.conf").write_text(
        "[scrapyd]\n"
        "bind_address = 127.0.0.1\n"
        f"http_port = {port}\n"
        f"eggs_dir = {folder / 'eggs'}\n"
        f"logs_dir = {folder / 'logs'}\n"
        f"dbs_dir = {folder / 'dbs'}\n"
        "poll_interval = 0.2\n"
        "max_proc = 4\n" + auth
    )
    output = open(folder / "scrapyd.out", "wb")  # noqa: SIM115 (the process outlives this call)
    process = subprocess.Popen(
        [sys.executable, "-m", "scrapyd"],
        cwd=folder,
        stdout=output,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output.close()
    node = ScrapydNode(folder, port, process)
    deadline = time.monotonic() + NODE_START_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{node.url}/daemonstatus.json", timeout=1).status_code in (200, 401):
                return node
        except requests.ConnectionError:
            time.sleep(0.1)  # the port opens once twistd has read its config
    node.stop()
    text = (folder / "scrapyd.out").read_text(errors="replace")[-2000:]
    need(False, f"scrapyd did not start on 127.0.0.1:{port}: {text}")
    raise AssertionError("unreachable")


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[ScrapydNode]]:
    """Two scrapyd nodes on loopback; stopped (and their folders left) afterwards."""
    need(_has_scrapyd(), "scrapyd is not installed (pip install -e '.[test]')")
    started: list[ScrapydNode] = []
    try:
        for name in ("node1", "node2"):
            started.append(_start_node(tmp_path / name))
        yield started
    finally:
        for node in started:
            node.stop()


def _has_scrapyd() -> bool:
    try:
        import scrapyd  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL database's URL, with a password the nodes must never see."""
    with fresh_database_url("postgresql", tmp_path) as url:
        yield make_url(url).set(password=PASSWORD).render_as_string(hide_password=False)


@pytest.fixture
def demo() -> Iterator[DemoServer]:
    with DemoServer(demo_articles()) as server:
        yield server


def english_and_german(server: DemoServer) -> list[SourceConfig]:
    """The demo site split into two sources."""
    return [
        SourceConfig(
            name="demo-en",
            feeds=[server.url("/rdf/rss-en-all")],
            pages=[server.url("/en/top-stories/s-9097")],
            allowed_domains=["127.0.0.1"],
        ),
        SourceConfig(
            name="demo-de",
            feeds=[server.url("/xml/rss-de-all")],
            sitemaps=[server.url("/sitemap.xml")],
            allowed_domains=["127.0.0.1"],
        ),
    ]


def app_config(url: str, sources: list[SourceConfig], nodes: list[ScrapydNode]) -> AppConfig:
    crawl = FAST.model_copy(update={"scrapyd": [node.url for node in nodes]})
    return AppConfig(storage=StorageConfig(url=url), crawl=crawl, sources=sources)


def crawl_runs(database: Database) -> list[CrawlRun]:
    with database.session() as session:
        return list(session.scalars(select(CrawlRun).order_by(CrawlRun.id)))


def test_two_sources_run_on_both_nodes_and_store_every_article_once(
    nodes: list[ScrapydNode], postgres: str, demo: DemoServer
) -> None:
    config = app_config(postgres, english_and_german(demo), nodes)
    with Database(postgres) as database:
        outcomes = jobs.crawl_sources(config, database, system_clock)
        assert [o.ok for o in outcomes] == [True, True], [o.log_tail for o in outcomes]
        runs = crawl_runs(database)
        again = jobs.crawl_sources(config, database, system_clock)  # nothing new by now
        assert [o.ok for o in again] == [True, True], [o.log_tail for o in again]
        assert [o.run.new for o in again if o.run] == [0, 0]
        assert all(o.run.skipped_known for o in again if o.run)
        with database.session() as session:
            stored = session.scalar(select(func.count()).select_from(Article))
            distinct = session.scalar(select(func.count(func.distinct(Article.short_id))))
    assert stored == distinct == DEMO_ARTICLES
    assert all("Spider closed (finished)" in o.log_tail for o in outcomes)  # the node's log
    assert [r.source for r in runs] == ["demo-en", "demo-de"]  # the first round
    assert {r.status for r in runs} == {CrawlStatus.OK}
    assert sum(r.new for r in runs) == DEMO_ARTICLES
    # each node ran one of the two jobs, and each row names its node and job
    assert sorted(r.node for r in runs) == sorted(n.url for n in nodes)
    by_url = {n.url: n for n in nodes}
    for run in runs:
        assert run.job_id and run.job_id in by_url[run.node].finished_jobs()
    # the egg went to each node once, as this code's version, though each crawled twice
    for node in nodes:
        versions = requests.get(
            f"{node.url}/listversions.json", params={"project": "newswatch"}, timeout=10
        ).json()["versions"]
        assert versions == [code_version()]
        uploads = (node.folder / "scrapyd.out").read_text().count("POST /addversion.json")
        assert uploads == 1
    # the password went nowhere a node keeps or shows: not its job list, logs or files
    for node in nodes:
        listed = requests.get(f"{node.url}/listjobs.json", timeout=10).text
        assert PASSWORD not in listed
        for path in node.folder.rglob("*"):
            if path.is_file() and path.suffix != ".egg":
                assert PASSWORD.encode() not in path.read_bytes(), path


def test_a_killed_node_sends_its_sources_next_crawl_to_the_other(
    nodes: list[ScrapydNode], postgres: str, demo: DemoServer
) -> None:
    english = english_and_german(demo)[0]
    config = app_config(postgres, [english], nodes)
    with Database(postgres) as database:
        first = jobs.crawl_sources(config, database, system_clock)[0]
        assert first.ok, first.log_tail
        assert first.run is not None
        ran_on = next(n for n in nodes if n.url == first.run.node)
        other = next(n for n in nodes if n is not ran_on)
        ran_on.kill()
        demo.site.update_article(demo.site.articles[0].content_id, title="Changed on the site")
        second = jobs.crawl_sources(config, database, system_clock)[0]
    assert second.ok, second.log_tail
    assert second.run is not None
    assert second.run.node == other.url
    assert second.run.job_id in other.finished_jobs()


def test_a_job_past_its_time_limit_is_cancelled(
    nodes: list[ScrapydNode], postgres: str, demo: DemoServer
) -> None:
    # one request at a time, 0.6 s apart: the whole demo site takes half a minute (stopping
    # takes a while too: Scrapy fetches the requests its downloader already holds, 16 at most)
    slow = CrawlConfig(
        delay=0.6, autothrottle=False, concurrency=1, scrapyd=[nodes[0].url, nodes[1].url]
    )
    source = demo_source(demo)
    with Database(postgres) as database:
        started = time.monotonic()
        outcome = run_on_nodes(source, slow, database, system_clock, timeout=3.0)
        took = time.monotonic() - started
    assert outcome.run is not None, outcome.log_tail
    # stopped by the cancel: the crawl recorded itself as interrupted, or, cancelled before it
    # could (still starting on a busy machine), the row says why it failed
    assert outcome.run.status in (CrawlStatus.INTERRUPTED, CrawlStatus.FAILED)
    if outcome.run.status == CrawlStatus.FAILED:
        assert "was cancelled: past the crawl's time limit" in outcome.run.last_errors[0]
    assert outcome.run.pages < DEMO_ARTICLES
    assert took < 20, took
    assert outcome.run.job_id in {job for node in nodes for job in node.finished_jobs()}


def test_a_stopping_service_cancels_its_job(
    nodes: list[ScrapydNode], postgres: str, demo: DemoServer
) -> None:
    slow = CrawlConfig(delay=0.6, autothrottle=False, concurrency=1, scrapyd=[nodes[0].url])
    stopping = threading.Event()

    def stop_once_running() -> None:  # the stop comes while the job runs, as a SIGTERM would
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not stopping.is_set():
            running = requests.get(f"{nodes[0].url}/listjobs.json", timeout=10).json()["running"]
            if running:
                stopping.set()
            time.sleep(0.1)

    stopper = threading.Thread(target=stop_once_running, daemon=True)
    stopper.start()
    with Database(postgres) as database:
        outcome = run_on_nodes(demo_source(demo), slow, database, system_clock, stopping=stopping)
    stopper.join()
    assert stopping.is_set()
    assert outcome.run is not None, outcome.log_tail
    assert outcome.run.status in (CrawlStatus.INTERRUPTED, CrawlStatus.FAILED)
    if outcome.run.status == CrawlStatus.FAILED:  # not recorded by the crawl: we say why
        assert "was cancelled: the service stopped" in outcome.run.last_errors[0]
    assert outcome.run.job_id in nodes[0].finished_jobs()


def test_nodes_behind_basic_auth_take_the_password_from_the_environment(
    tmp_path: Path, postgres: str, demo: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    need(_has_scrapyd(), "scrapyd is not installed (pip install -e '.[test]')")
    node = _start_node(tmp_path / "guarded", auth="username = crawler\npassword = node-secret\n")
    try:
        toml = tmp_path / "newswatch.toml"
        toml.write_text(f'[crawl]\nscrapyd = ["{node.url}"]\nscrapyd_user = "crawler"\n')
        monkeypatch.setenv("NEWSWATCH_DATABASE_URL", postgres)
        source = english_and_german(demo)[0]
        with Database(postgres) as database:
            refused = run_on_nodes(source, load_config(toml).crawl, database, system_clock)
            monkeypatch.setenv("NEWSWATCH_SCRAPYD_PASSWORD", "node-secret")
            crawl = load_config(toml).crawl.model_copy(update={"delay": 0})
            taken = run_on_nodes(source, crawl, database, system_clock)
    finally:
        node.stop()
    assert refused.run is not None and not refused.ok
    assert "HTTP 401" in refused.run.last_errors[0], refused.run.last_errors
    assert taken.ok, taken.log_tail
    assert taken.run is not None and taken.run.node == node.url


def test_scrapyd_nodes_with_sqlite_are_refused_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "newswatch.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "x.db"}"\n'
        '[crawl]\nscrapyd = ["http://127.0.0.1:6800"]\n'
    )
    with pytest.raises(ConfigError) as refused:
        load_config(config)
    message = str(refused.value)
    assert "\n" not in message
    assert "crawl.scrapyd" in message and "PostgreSQL" in message
    checked = subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "--config", str(config), "check"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "NEWSWATCH_DATABASE_URL"},
    )
    assert checked.returncode != 0
    errors = [line for line in checked.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "crawl.scrapyd" in errors[0], checked.stderr


def test_a_sqlite_database_never_reaches_a_node(tmp_path: Path) -> None:
    source = SourceConfig(name="x", feeds=["http://127.0.0.1:9/feed"])
    crawl = CrawlConfig(scrapyd=["http://127.0.0.1:9"])
    with Database(f"sqlite:///{tmp_path / 'x.db'}") as database:
        outcome = run_on_nodes(source, crawl, database, system_clock)
        assert crawl_runs(database) == []
    assert not outcome.ok
    assert outcome.cause is not None and "PostgreSQL" in outcome.cause


def test_node_urls_are_checked() -> None:
    assert CrawlConfig(scrapyd=["http://node1:6800/"]).scrapyd == ["http://node1:6800"]
    for bad in ("node1:6800", "http://node1:6800/path", "ftp://node1", "http://u:p@node1:6800"):
        with pytest.raises(ValueError, match="scrapyd node URL"):
            CrawlConfig(scrapyd=[bad])
