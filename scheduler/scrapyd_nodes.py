"""One crawl of one source as a job on a scrapyd node (``[crawl] scrapyd``), through scrapyd's
JSON API (https://scrapyd.readthedocs.io/en/latest/api.html).

- the crawler's egg (``scheduler.egg``, one per code version) goes to a node by
  ``addversion.json`` the first time that node is asked to run that version;
- the node is chosen by load (``daemonstatus.json``: fewest running + pending jobs; among equal
  ones the one used least recently, by the CrawlRun rows); a node that is down (connection
  refused, timeout) or refuses the job is passed over for the next one;
- the job is ``schedule.json``: spider ``dw`` with the source's name and the CrawlRun id as
  spider arguments (``source``, ``run_id``), the source and the [crawl] section as settings, and
  the database URL WITHOUT its password (``NEWSWATCH_DATABASE_URL``). scrapyd shows every job's
  arguments and settings (``listjobs.json``, its logs): the password never goes there. The node's
  crawl reads it the way libpq does, from the node's own ``~/.pgpass`` (or ``PGPASSFILE``) or the
  ``PGPASSWORD`` environment variable of the scrapyd process;
- ``listjobs.json`` is polled until the job has finished; past the crawl's time limit the job is
  cancelled (``cancel.json``: SIGINT, Scrapy closes cleanly; after a grace period SIGKILL).

Nodes with scrapyd's HTTP basic auth (its ``username``/``password``) are reached as
``crawl.scrapyd_user`` with the password from ``NEWSWATCH_SCRAPYD_PASSWORD``.

The crawl on the node completes its CrawlRun row itself (``crawler.crawl_run``), as a local one
does; the node and job id are on the row from the start. When the job ends without recording
(it died, its node went away), the row is completed here, failed, with the error lines of the
job's log when the node still serves it. Remote nodes need PostgreSQL: a SQLite file is not
shared between machines."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from sqlalchemy import func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from crawler.config import CrawlConfig, SourceConfig, scrapy_settings
from crawler.crawl_run import LOG_PREFIX, RUN_ERRORS_KEPT
from scheduler.crawling import (
    MIN_CRAWL_SECONDS,
    STOP_GRACE_SECONDS,
    CrawlOutcome,
    log_error_lines,
    start_run,
)
from scheduler.egg import Egg, EggError, crawler_egg
from store.clock import Clock
from store.db import Database, describe_error
from store.models import CrawlRun, CrawlStatus

log = logging.getLogger(__name__)
PROJECT = "newswatch"
SPIDER = "dw"
CONNECT_SECONDS = 5.0
ANSWER_SECONDS = 30.0
DEPLOY_SECONDS = 120.0  # addversion.json lists the egg's spiders in a subprocess first
POLL_SECONDS = 1.0
LOG_TAIL_BYTES = 65_536
NODE_DOWN = (requests.ConnectionError, requests.Timeout)


class NodeError(Exception):
    """A scrapyd node answered, but not with what was asked (an error status, not JSON)."""


class Node:
    """One scrapyd node's JSON API."""

    def __init__(self, url: str, http: requests.Session) -> None:
        self.url = url.rstrip("/")
        self.http = http

    def _call(self, method: str, endpoint: str, read: float = ANSWER_SECONDS, **kw: Any) -> Any:
        response = self.http.request(
            method, f"{self.url}/{endpoint}", timeout=(CONNECT_SECONDS, read), **kw
        )
        if response.status_code != 200:
            raise NodeError(f"{endpoint}: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise NodeError(f"{endpoint}: not a JSON answer") from None
        if not isinstance(data, dict) or data.get("status") != "ok":
            message = data.get("message") if isinstance(data, dict) else None
            raise NodeError(f"{endpoint}: {str(message or data).splitlines()[0][:300]}")
        return data

    def load(self) -> int:
        """Its running and pending jobs, all projects."""
        status = self._call("GET", "daemonstatus.json")
        return int(status.get("running", 0)) + int(status.get("pending", 0))

    def deploy(self, egg: Egg) -> None:
        """The egg's version on this node, uploaded unless the node has it already."""
        versions = self._call("GET", "listversions.json", params={"project": PROJECT})
        if egg.version in versions.get("versions", []):
            return
        self._call(
            "POST",
            "addversion.json",
            read=DEPLOY_SECONDS,
            data={"project": PROJECT, "version": egg.version},
            files={"egg": (f"{PROJECT}-{egg.version}.egg", egg.data)},
        )
        log.info("scrapyd node %s: deployed the crawler, version %s", self.url, egg.version)

    def schedule(
        self, job_id: str, version: str, args: dict[str, str], settings: dict[str, str]
    ) -> None:
        data: list[tuple[str, str]] = [
            ("project", PROJECT),
            ("spider", SPIDER),
            ("_version", version),
            ("jobid", job_id),
            *args.items(),
            *(("setting", f"{name}={value}") for name, value in settings.items()),
        ]
        self._call("POST", "schedule.json", data=data)

    def job(self, job_id: str) -> tuple[str | None, dict[str, Any]]:
        """The job's state (pending, running, finished; None: the node knows no such job)."""
        jobs = self._call("GET", "listjobs.json", params={"project": PROJECT})
        for state in ("finished", "running", "pending"):
            for entry in jobs.get(state, []):
                if entry.get("id") == job_id:
                    return state, entry
        return None, {}

    def cancel(self, job_id: str, signal: str = "INT") -> None:
        self._call(
            "POST", "cancel.json", data={"project": PROJECT, "job": job_id, "signal": signal}
        )

    def log_text(self, entry: dict[str, Any]) -> str:
        """The end of the job's log, when the node serves it ("" otherwise)."""
        where = entry.get("log_url")
        if not where:
            return ""
        url, timeout = f"{self.url}{where}", (CONNECT_SECONDS, ANSWER_SECONDS)
        try:
            # its size first: Twisted answers a suffix range longer than the file with a 500
            size = int(self.http.head(url, timeout=timeout).headers.get("Content-Length") or 0)
            tail = {"Range": f"bytes={size - LOG_TAIL_BYTES}-"} if size > LOG_TAIL_BYTES else {}
            response = self.http.get(url, headers=tail, timeout=timeout)
        except (*NODE_DOWN, ValueError):
            return ""
        return response.content.decode("utf-8", "replace") if response.ok else ""


def job_database_url(url: str) -> str:
    """The database URL a job gets: the service's, without its password (in the URL or its
    query string). The node supplies the password itself (libpq: ~/.pgpass or PGPASSWORD)."""
    parsed = make_url(url)  # URL.set(password=None) would keep it: None means "unchanged"
    bare = URL.create(
        parsed.drivername,
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query={key: value for key, value in parsed.query.items() if key != "password"},
    )
    return bare.render_as_string(hide_password=False)


def job_settings(source: SourceConfig, crawl: CrawlConfig, database_url: str) -> dict[str, str]:
    """The job's Scrapy settings (scrapyd lists them: no secret here)."""
    return {
        **scrapy_settings(crawl),
        "NEWSWATCH_SOURCE": source.model_dump_json(),
        "NEWSWATCH_DATABASE_URL": job_database_url(database_url),
        "LOG_LEVEL": "INFO",
        "CLOSESPIDER_TIMEOUT": str(int(max(crawl.every, MIN_CRAWL_SECONDS))),
    }


@dataclass
class Dispatch:
    node: Node
    job_id: str
    started: float  # time.monotonic() when it was scheduled


def run_on_nodes(
    source: SourceConfig,
    crawl: CrawlConfig,
    database: Database,
    clock: Clock,
    timeout: float | None = None,
    stopping: threading.Event | None = None,
) -> CrawlOutcome:
    """Crawl one source as a job on the least loaded scrapyd node of ``crawl.scrapyd``; its
    CrawlRun row (with node and job id) tells what it found. ``stopping`` (a stopping service)
    cancels the job as the time limit does."""
    if make_url(database.url).get_backend_name() != "postgresql":
        refused = (
            "crawl not started: crawl.scrapyd needs PostgreSQL storage "
            "(a node cannot reach this database)"
        )
        log.error("%s: %s", source.name, refused)
        return CrawlOutcome(source.name, -1, None, "", cause=refused)
    try:
        egg = crawler_egg()
    except EggError as error:
        log.error("%s: crawl not started: %s", source.name, error)
        return CrawlOutcome(source.name, -1, None, "", cause=str(error))
    run_id = start_run(database, source, clock)
    if isinstance(run_id, CrawlOutcome):
        return run_id
    bound = max(crawl.every, MIN_CRAWL_SECONDS)
    limit = timeout if timeout is not None else bound + STOP_GRACE_SECONDS + crawl.timeout
    with requests.Session() as http:
        if crawl.scrapyd_user:  # scrapyd's own HTTP basic auth (its username/password)
            password = crawl.scrapyd_password.get_secret_value() if crawl.scrapyd_password else ""
            http.auth = (crawl.scrapyd_user, password)
        nodes = [Node(url, http) for url in crawl.scrapyd]
        try:
            return _crawl_on(nodes, source, crawl, database, clock, egg, run_id, limit, stopping)
        except SQLAlchemyError as error:  # the row could not be read or written: say so
            cause = f"crawl not recorded: the database refused its row: {describe_error(error)}"
            log.error("crawl of %s: %s", source.name, cause)
            return CrawlOutcome(source.name, -1, None, "", cause=cause)


def _crawl_on(
    nodes: list[Node],
    source: SourceConfig,
    crawl: CrawlConfig,
    database: Database,
    clock: Clock,
    egg: Egg,
    run_id: int,
    limit: float,
    stopping: threading.Event | None,
) -> CrawlOutcome:
    tried: list[str] = []
    dispatch = _dispatch(source, crawl, database, egg, run_id, nodes, tried)
    if dispatch is None:
        reason = "no scrapyd node took the crawl: " + "; ".join(tried)
        log.error("crawl of %s: %s", source.name, reason)
        run = _complete(database, run_id, [reason], clock())
        return CrawlOutcome(source.name, -1, run, "", [reason])
    state, entry, lost = _wait(dispatch, limit, stopping or threading.Event())
    stopped = stopping is not None and stopping.is_set()
    cancelled = stopped or time.monotonic() - dispatch.started >= limit
    text = dispatch.node.log_text(entry) if state == "finished" else ""
    log_errors = log_error_lines(text.splitlines())
    tail = "\n".join(text.splitlines()[-15:])
    where = f"scrapyd job {dispatch.job_id} on {dispatch.node.url}"
    if lost:
        errors = [f"{where} {lost}"]
    elif cancelled:
        why = "the service stopped" if stopped else f"past the crawl's time limit ({limit:.0f}s)"
        errors = [f"{where} was cancelled: {why}"]
    else:
        errors = [f"{where} ended without recording the crawl"]
    # completed here only when the job did not record itself
    run = _complete(database, run_id, [*errors, *(LOG_PREFIX + e for e in log_errors)], clock())
    if run is not None and run.status == CrawlStatus.FAILED and run.last_errors[:1] == errors:
        log.warning("crawl of %s: %s", source.name, "; ".join(run.last_errors[:3]))
    return CrawlOutcome(source.name, 0 if state == "finished" else -1, run, tail, log_errors)


def _dispatch(
    source: SourceConfig,
    crawl: CrawlConfig,
    database: Database,
    egg: Egg,
    run_id: int,
    nodes: list[Node],
    tried: list[str],
) -> Dispatch | None:
    """Schedule the job on the first node, by load, that takes it; note each that did not."""
    loads: dict[str, int] = {}
    for node in nodes:
        try:
            loads[node.url] = node.load()
        except (*NODE_DOWN, NodeError) as error:
            tried.append(f"{node.url}: {_why(error)}")
            log.warning("scrapyd node %s is passed over: %s", node.url, _why(error))
    last_used = _last_used(database, list(loads))
    ordered = sorted(
        (node for node in nodes if node.url in loads),
        key=lambda node: (loads[node.url], _when(last_used.get(node.url))),
    )
    settings = job_settings(source, crawl, database.url)
    for node in ordered:
        job_id = f"{source.name}-{run_id}-{uuid.uuid4().hex[:8]}"
        try:
            node.deploy(egg)
            # on the row before the job exists: a service that dies now leaves it findable
            _note_job(database, run_id, node.url, job_id)
            node.schedule(
                job_id, egg.version, {"source": source.name, "run_id": str(run_id)}, settings
            )
        except (*NODE_DOWN, NodeError) as error:
            tried.append(f"{node.url}: {_why(error)}")
            log.warning(
                "scrapyd node %s did not take the crawl of %s: %s",
                node.url,
                source.name,
                _why(error),
            )
            continue
        log.info("crawl of %s: scrapyd job %s on %s", source.name, job_id, node.url)
        return Dispatch(node, job_id, time.monotonic())
    return None


def _wait(
    dispatch: Dispatch, limit: float, stopping: threading.Event
) -> tuple[str | None, dict[str, Any], str]:
    """Poll the job until it has finished; cancel it past ``limit`` seconds or once
    ``stopping`` is set (SIGINT, then SIGKILL after a grace period). Returns its last state and
    entry, and why it was lost ("" when it finished on its own or by the cancel)."""
    node, job_id = dispatch.node, dispatch.job_id
    started = dispatch.started
    signals = [("INT", limit), ("KILL", limit + STOP_GRACE_SECONDS)]
    give_up = limit + 2 * STOP_GRACE_SECONDS
    state: str | None = "pending"
    entry: dict[str, Any] = {}
    unreachable: str | None = None
    missing = 0
    while True:
        try:
            state, entry = node.job(job_id)
            unreachable = None
        except (*NODE_DOWN, NodeError) as error:
            unreachable = _why(error)
        if state == "finished":
            return state, entry, ""
        missing = missing + 1 if state is None else 0
        if missing >= 3:  # cancelled while pending, or the node restarted and forgot it
            cancelled = len(signals) < 2
            return state, entry, "" if cancelled else "is gone from its node (restarted?)"
        if stopping.is_set() and signals and signals[0][0] == "INT":
            limit = min(limit, time.monotonic() - started)  # the stop: as if the limit were now
            signals = [("INT", limit), ("KILL", limit + STOP_GRACE_SECONDS)]
            give_up = limit + 2 * STOP_GRACE_SECONDS
        waited = time.monotonic() - started
        if signals and waited >= signals[0][1] and unreachable is None:
            signal, _ = signals.pop(0)
            why = "the service is stopping" if stopping.is_set() else f"it ran past {limit:.0f}s"
            log.warning(
                "scrapyd job %s on %s: %s, cancelling it (%s)", job_id, node.url, why, signal
            )
            try:
                node.cancel(job_id, signal)
            except (*NODE_DOWN, NodeError) as error:
                log.warning("cancelling scrapyd job %s failed: %s", job_id, _why(error))
        if waited >= give_up:
            why = f"unreachable: {unreachable}" if unreachable else f"still {state}"
            return state, entry, f"did not end within {give_up:.0f}s ({why})"
        if stopping.is_set():
            time.sleep(POLL_SECONDS)
        else:
            stopping.wait(POLL_SECONDS)  # a stop is seen at once


def _note_job(database: Database, run_id: int, node: str, job_id: str) -> None:
    with database.session() as session:
        run = session.get(CrawlRun, run_id)
        if run is not None:
            run.node, run.job_id = node, job_id
            session.commit()


def _last_used(database: Database, nodes: list[str]) -> dict[str, datetime]:
    """When each node last got a crawl, by the CrawlRun rows (absent: never)."""
    if not nodes:
        return {}
    try:
        with database.session() as session:
            rows = session.execute(
                select(CrawlRun.node, func.max(CrawlRun.started_at))
                .where(CrawlRun.node.in_(nodes))
                .group_by(CrawlRun.node)
            )
            return {node: started for node, started in rows if node and started}
    except SQLAlchemyError as error:  # only the tie-break: by the config's order then
        log.warning("reading when each scrapyd node was used failed: %s", describe_error(error))
        return {}


def _complete(database: Database, run_id: int, errors: list[str], now: datetime) -> CrawlRun | None:
    """The row as the job left it; completed here, failed, only when the job did not."""
    with database.session() as session:
        run = session.get(CrawlRun, run_id)
        if run is None or run.status != CrawlStatus.RUNNING:
            return run
        run.status, run.finished_at = CrawlStatus.FAILED, now
        run.last_errors = errors[-RUN_ERRORS_KEPT:]
        session.commit()
        return run


def _when(used: datetime | None) -> float:
    return used.timestamp() if used is not None else float("-inf")


def _why(error: BaseException) -> str:
    if isinstance(error, requests.Timeout):
        return "timed out"
    if isinstance(error, requests.ConnectionError):
        return "connection refused or lost"
    return str(error)
