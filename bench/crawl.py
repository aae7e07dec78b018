"""Crawl speed: the full newswatch crawl against a bare Scrapy spider, and the incremental crawl.

    python bench/crawl.py [--articles N] [--concurrency C] [--rounds R] [--rss-articles M]
                          [--parse-workers N|auto] [--cpus N]

``--cpus 1`` shows what a parse worker costs a crawl that has one core (``auto`` gives none).

The demo site with N generated articles (``synthetic_articles(N)``, default 2,000) is served on
loopback by ``DemoServer`` in a separate process (this script run with ``--serve``), so the
server's CPU never shares a GIL with a crawl. Every page is rendered before the first crawl,
so neither crawl pays for the server's first-request rendering. The server process records when
each request arrives; article requests are those naming ``/a-<id>`` or ``/av-<id>``.

Cases, one after another against the same server:

* ``bare-scrapy``: a Scrapy spider (defined below, run by ``scrapy runspider``) that only
  downloads the article URLs the sitemaps list, with the project's Scrapy settings and the same
  ``-s`` overrides newswatch passes (CONCURRENT_REQUESTS_PER_DOMAIN=C, no delay, no
  AutoThrottle, robots.txt obeyed).
* ``newswatch``: ``run_crawl`` (a ``scrapy crawl dw`` subprocess) of a source whose only start
  URL is the sitemap index, into a fresh SQLite file: discovery, parsing, storing. As the
  service runs it (``[crawl] warm``): in the process started ahead, ready before the clock
  starts (its imports done while nothing was due), with ``[crawl] parse_workers`` as
  ``--parse-workers`` says (default ``auto``, the configuration's default: one worker process
  where the crawl has two CPUs or more). The re-crawls below run the same way.
* ``newswatch-incremental``: the same crawl again into the same database with the stored
  validators dropped: every index is read again, nothing is new, no article is fetched.
* ``newswatch-304``: the same crawl again as newswatch runs it: the unchanged sitemap index is
  asked for conditionally and answers 304 (with robots.txt, the crawl's only requests).
* ``newswatch-304-cold``: the same, in a process started for it, as ``newswatch crawl`` by hand
  or ``warm = false`` run it: its start-up (imports) is in its wall time.
* ``newswatch-in-thread``: the first crawl with ``[crawl] parse_workers = 0`` and
  ``store_writer = false``, every page parsed and every article stored in the reactor's thread,
  into a fresh database: what the parse workers and the writer bring, against ``newswatch``.
* once, after the rounds: a first crawl of a site with ``--rss-articles`` (20,000) articles, for
  the crawl subprocess's peak RSS (VmHWM) against that of the 2,000-article first crawl.

Ratios are taken within a round (the two crawls back to back on the same server) and the median
of the rounds is reported: on a loaded machine only figures of the same run compare. Five rounds
by default: on this project's 2-CPU machine one round's newswatch/bare ratio ranged from 0.47 to
0.83 within minutes (bare alone from 606 to 1,140 pages/s), so the median of three moved by
more than the effects being measured.

pages/s is article pages over the article-fetch phase, timed by the server from the first
article request to the last one; Scrapy startup and shutdown are in neither (newswatch fetches
its sitemaps first, at a higher priority, so they are almost all outside it too). The wall
column is the whole subprocess from the moment it is started or, warm, handed its command line.
Within the same phase (the server's clock is this one's: both monotonic), the CPU a page of the
crawl's main thread (the reactor's), of its child processes (the parse workers and the writer)
and of the server, read from /proc every 20 ms: on 2 CPUs a crawl whose roles together need
more than two CPUs' worth waits for a CPU, whatever its own thread costs.
Prints a table, then one JSON line per figure.

Over 300 lines for one benchmark: the bare Scrapy baseline spider, the newswatch crawl,
the served site and the alternating runs and their table live in one script that runs on
its own.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Literal

from scrapy import Request, Spider
from scrapy.http import Response

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ARTICLES = 2000
CONCURRENCY = 8
ROUNDS = 5  # at least 3 (the issue); see the module's note on the spread
RATIO_TARGET = 0.7
INCREMENTAL_TIME_TARGET = 0.10  # of the first crawl's wall time
RSS_ARTICLES = 20000
RSS_GROWTH_TARGET = 1.5  # peak RSS at RSS_ARTICLES over that at ARTICLES
_ARTICLE_PATH = re.compile(r"/(a|av)-\d+(?:/|$)")
_LOC = re.compile(rb"<loc>\s*([^<\s]+)\s*</loc>")


class BareSpider(Spider):
    """Downloads the given URLs and nothing else (``-a urls_file=PATH``, one URL a line)."""

    name = "bare"

    def __init__(self, urls_file: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls = Path(urls_file).read_text().split()
        self.allowed_domains = ["127.0.0.1"]

    async def start(self) -> AsyncIterator[Request]:
        for url in self.urls:
            yield Request(url, callback=self.parse)

    def parse(self, response: Response, **kwargs: Any) -> None:
        return None


# ---------------------------------------------------------------------- the server process


def serve(articles: int) -> None:
    """Serve the demo site; answer ``stats`` / ``clear`` lines on stdin until stdin closes."""
    from demo.server import DemoServer, RequestLog
    from demo.synthetic import synthetic_articles

    class TimedLog(RequestLog):
        def __init__(self) -> None:
            super().__init__()
            self.arrivals: list[tuple[float, str]] = []

        def record(self, target: str) -> None:
            arrived = time.perf_counter()
            with self._lock:
                self.arrivals.append((arrived, target))

        def clear(self) -> None:
            with self._lock:
                self.arrivals.clear()
                self.answers.clear()
                self.bytes_sent = 0

        def stats(self) -> dict[str, Any]:
            with self._lock:
                arrivals = list(self.arrivals)
                answers, sent = list(self.answers), self.bytes_sent
            times = [t for t, target in arrivals if _ARTICLE_PATH.search(target.split("?")[0])]
            targets = [target for _, target in arrivals]
            return {
                "requests": len(arrivals),
                "article_requests": len(times),
                "article_window_s": (times[-1] - times[0]) if len(times) > 1 else 0.0,
                "article_window": [times[0], times[-1]] if len(times) > 1 else None,
                "article_targets": sorted(t for t in targets if _ARTICLE_PATH.search(t)),
                "not_modified": sum(1 for _, status in answers if status == 304),
                "bytes_sent": sent,
            }

    server = DemoServer(synthetic_articles(articles))
    log = TimedLog()
    server.request_log = log
    for article in server.site.articles:  # render every page now, not during a crawl
        server.site.page(article)
    server.start()
    print(server.base_url, flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "clear":
            log.clear()
            print("{}", flush=True)
        elif command == "stats":
            print(json.dumps(log.stats()), flush=True)
    server.stop()


class ServerProcess:
    def __init__(self, articles: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", "--articles", str(articles)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.lock = threading.Lock()
        self.base_url = self._line().strip()

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the demo server process exited")
        return line

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(self._line())

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ---------------------------------------------------------------------- the crawls


def sitemap_urls(base_url: str) -> list[str]:
    """The article URLs the sitemaps under ``/sitemap.xml`` list (as the crawl discovers them)."""

    def locs(url: str) -> list[str]:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return [loc.decode() for loc in _LOC.findall(answer.read())]

    return [url for sitemap in locs(base_url + "/sitemap.xml") for url in locs(sitemap)]


def _elapsed(log: Path) -> float | None:
    """Scrapy's own ``elapsed_time_seconds`` (engine start to close) from a crawl log."""
    found = re.findall(r"'elapsed_time_seconds': ([\d.]+)", log.read_text(errors="replace"))
    return float(found[-1]) if found else None


class _Child:
    """Wall and CPU seconds (user + system) of the subprocesses waited for in the block."""

    def __enter__(self) -> _Child:
        self.started = time.perf_counter()
        self.usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu = (usage.ru_utime - self.usage.ru_utime) + (usage.ru_stime - self.usage.ru_stime)


def run_bare(
    urls: list[str], settings: dict[str, str], workdir: Path, log: Path, watch: Watch
) -> _Child:
    """``scrapy runspider`` of the bare spider over ``urls``, with the project's settings."""
    urls_file = workdir / "urls.txt"
    urls_file.write_text("\n".join(urls) + "\n")
    command = [sys.executable, "-m", "scrapy", "runspider", str(Path(__file__).resolve())]
    command += ["-a", f"urls_file={urls_file}"]
    for name, value in {**settings, "LOG_LEVEL": "INFO"}.items():
        command += ["-s", f"{name}={value}"]
    env = {**os.environ, "SCRAPY_SETTINGS_MODULE": "crawler.settings"}
    with open(log, "wb") as sink, _Child() as child:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=sink, stderr=sink)
        watch.watch(process)
        code = process.wait()
    watch.join()
    if code != 0:
        raise RuntimeError(f"bare crawl exited {code}:\n{log.read_text()[-3000:]}")
    return child


_TICK = os.sysconf("SC_CLK_TCK")


def _ticks(stat: Path) -> int:
    """utime + stime (clock ticks) of a /proc .../stat file; 0 once it is gone."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])


class Watch:
    """A crawl subprocess's peak resident memory (VmHWM) and, every SAMPLE_S, the CPU of its
    main thread (the reactor's), of its descendants (parse workers, writer) and of the server
    process: read from /proc until it exits, so that the CPU a case spent in the article
    phase (the server's window, on the same monotonic clock) can be taken per role."""

    SAMPLE_S = 0.02

    def __init__(self, server_pid: int) -> None:
        self.server = Path(f"/proc/{server_pid}/stat")
        self.kib = 0
        self.samples: list[tuple[float, int, int, int]] = []  # when, thread, helpers, server
        self._thread: threading.Thread | None = None

    def watch(self, process: subprocess.Popen) -> None:
        def sample() -> None:
            root = Path(f"/proc/{process.pid}")
            helpers: dict[int, int] = {}  # pid -> its last ticks (kept once it has exited)
            while process.poll() is None:
                try:
                    for line in (root / "status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.kib = max(self.kib, int(line.split()[1]))
                except (OSError, ValueError):
                    pass
                for pid in _descendants(root):
                    helpers[pid] = max(helpers.get(pid, 0), _ticks(Path(f"/proc/{pid}/stat")))
                thread = _ticks(root / "task" / str(process.pid) / "stat")
                self.samples.append(
                    (time.perf_counter(), thread, sum(helpers.values()), _ticks(self.server))
                )
                time.sleep(self.SAMPLE_S)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()

    def join(self) -> float:
        """The peak RSS in MB, once the process has exited."""
        if self._thread is not None:
            self._thread.join()
        return round(self.kib / 1024, 1)

    def cpu_ms(self, window: list[float] | None, pages: int) -> dict[str, float | None]:
        """CPU milliseconds a page within ``window`` (two perf_counter readings): the crawl's
        main thread, its helper processes, the server."""
        roles = ("thread_ms", "helpers_ms", "server_ms")
        if window is None or not pages or len(self.samples) < 2:
            return dict.fromkeys(roles)
        first, last = (self._at(when) for when in window)
        return {
            role: round((last[n] - first[n]) / _TICK * 1000 / pages, 3)
            for n, role in enumerate(roles)
        }

    def _at(self, when: float) -> tuple[float, ...]:
        """The three tick counts at ``when``, interpolated between the samples around it."""
        samples = self.samples
        after = next((n for n, s in enumerate(samples) if s[0] >= when), len(samples) - 1)
        before = max(0, after - 1)
        (t0, *a), (t1, *b) = samples[before], samples[after]
        share = min(1.0, max(0.0, (when - t0) / (t1 - t0))) if t1 > t0 else 1.0
        return tuple(x + (y - x) * share for x, y in zip(a, b, strict=True))


def _descendants(root: Path) -> list[int]:
    """The pids of every process below ``root`` (a /proc/<pid> folder), children first."""
    found: list[int] = []
    folders = [root]
    while folders:
        folder = folders.pop()
        try:
            tasks = list((folder / "task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = [int(pid) for pid in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            folders += [Path(f"/proc/{pid}") for pid in children]
    return found


def run_newswatch(
    base_url: str,
    concurrency: int,
    database_url: str,
    log: Path,
    *,
    forget: bool = False,
    warm: bool = True,
    parse_workers: int | Literal["auto"] = "auto",
    store_writer: bool | Literal["auto"] = "auto",
    watch: Watch,
) -> tuple[_Child, float]:
    """``run_crawl`` of the sitemap index into ``database_url`` (a ``scrapy crawl dw``), and its
    peak RSS in MB; ``forget``: drop the stored validators first (no conditional request);
    ``warm``: as the service runs it, in the process started ahead (``crawl_spares``), which
    has done its imports before the clock starts; else a process started for it."""
    from sqlalchemy import delete

    from crawler.config import CrawlConfig, SourceConfig
    from scheduler.crawling import crawl_environment, crawl_spares, run_crawl
    from store.clock import system_clock
    from store.db import Database
    from store.models import FetchValidator

    source = SourceConfig(
        name="bench", sitemaps=[base_url + "/sitemap.xml"], allowed_domains=["127.0.0.1"]
    )
    crawl = CrawlConfig(
        delay=0,
        autothrottle=False,
        concurrency=concurrency,
        parse_workers=parse_workers,
        store_writer=store_writer,
    )
    # Database() migrates the schema before the clock starts
    with Database(database_url) as database:
        if forget:
            with database.engine.begin() as connection:
                connection.execute(delete(FetchValidator))
        spares = crawl_spares() if warm else None
        if spares is not None:
            spares.prepare(
                crawl_environment(os.environ, database.url, crawl.parse_workers, crawl.store_writer)
            )
            if not spares.wait_ready(120):
                raise RuntimeError("the crawl process started ahead did not get ready")
        try:
            with _Child() as child:
                outcome = run_crawl(
                    source,
                    crawl,
                    database,
                    system_clock,
                    log_file=log,
                    timeout=1800,
                    on_start=watch.watch,
                    spares=spares,
                )
        finally:
            if spares is not None:
                spares.close()
    if not outcome.ok:
        raise RuntimeError(f"newswatch crawl failed ({outcome.exit_code}):\n{outcome.log_tail}")
    return child, watch.join()


def _row(
    case: str,
    stats: dict[str, Any],
    child: _Child,
    log: Path,
    watch: Watch,
    rss: float | None = None,
) -> dict[str, Any]:
    pages = stats["article_requests"]
    window = stats["article_window_s"]
    elapsed = _elapsed(log)
    return {
        "case": case,
        "article_requests": pages,
        "requests": stats["requests"],
        "not_modified": stats["not_modified"],
        "bytes_sent": stats["bytes_sent"],
        "article_phase_s": round(window, 3),
        "pages_per_s": round(pages / window, 1) if window else None,
        "scrapy_elapsed_s": None if elapsed is None else round(elapsed, 2),
        "wall_s": round(child.wall, 2),
        "cpu_s": round(child.cpu, 2),
        "peak_rss_mb": rss,
        **watch.cpu_ms(stats["article_window"], pages),
    }


# the newswatch cases of a round after bare, in order, into one database: a first crawl (fresh
# database), a re-crawl with the validators dropped (every index read again, no article
# fetched), and a re-crawl as newswatch does it (conditional requests: the unchanged sitemap
# index answers 304) (case, drop the validators, in the process started ahead); the last, for
# reference: the re-crawl as `newswatch crawl` by hand runs it, in a process started for it
# (its imports timed)
CRAWLS = (
    ("newswatch", False, True),
    ("newswatch-incremental", True, True),
    ("newswatch-304", False, True),
    ("newswatch-304-cold", False, False),
)


def crawl_round(
    server: ServerProcess,
    urls: list[str],
    concurrency: int,
    workdir: Path,
    number: int,
    parse_workers: int | Literal["auto"] = "auto",
) -> tuple[list[dict[str, Any]], bool]:
    """bare, the newswatch cases parsing in ``parse_workers`` processes, then a first crawl
    parsing in the reactor's thread: their rows, and whether the bare and the first newswatch
    crawl requested the same article URLs."""
    from crawler.config import CrawlConfig, scrapy_settings

    settings = scrapy_settings(CrawlConfig(delay=0, autothrottle=False, concurrency=concurrency))
    rows = []
    server.ask("clear")
    log = workdir / f"bare-{number}.log"
    watch = Watch(server.process.pid)
    child = run_bare(urls, settings, workdir, log, watch)
    bare = server.ask("stats")
    rows.append(_row("bare-scrapy", bare, child, log, watch))
    database_url = f"sqlite:///{workdir / f'bench-{number}.db'}"
    same = False
    for case, forget, warm in CRAWLS:
        row, stats = newswatch_case(
            server, case, concurrency, database_url, workdir / f"{case}-{number}.log",
            forget=forget, warm=warm, parse_workers=parse_workers,
        )  # fmt: skip
        rows.append(row)
        if case == "newswatch":
            same = stats["article_targets"] == bare["article_targets"]
    in_thread_url = f"sqlite:///{workdir / f'bench-in-thread-{number}.db'}"
    row, _ = newswatch_case(
        server, "newswatch-in-thread", concurrency, in_thread_url,
        workdir / f"newswatch-in-thread-{number}.log", parse_workers=0, store_writer=False,
    )  # fmt: skip
    rows.append(row)
    return rows, same


def newswatch_case(
    server: ServerProcess,
    case: str,
    concurrency: int,
    database_url: str,
    log: Path,
    **options: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One newswatch crawl (``run_newswatch`` with ``options``) against a cleared server,
    watched: its row and the server's stats."""
    server.ask("clear")
    watch = Watch(server.process.pid)
    child, rss = run_newswatch(
        server.base_url, concurrency, database_url, log, watch=watch, **options
    )
    stats = server.ask("stats")
    return _row(case, stats, child, log, watch, rss), stats


def peak_rss(
    articles: int, concurrency: int, workdir: Path, parse_workers: int | Literal["auto"]
) -> dict[str, Any]:
    """One first crawl of a site with ``articles`` generated articles (its own server): its row."""
    server = ServerProcess(articles)
    try:
        url = f"sqlite:///{workdir / f'rss-{articles}.db'}"
        row, _ = newswatch_case(
            server, f"newswatch-{articles}", concurrency, url,
            workdir / f"rss-{articles}.log", parse_workers=parse_workers,
        )  # fmt: skip
        return row
    finally:
        server.close()


def best(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per case, the round with the shortest article phase (the re-crawls: shortest wall)."""
    chosen: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = "article_phase_s" if row["pages_per_s"] is not None else "wall_s"
        if row["case"] not in chosen or row[key] < chosen[row["case"]][key]:
            chosen[row["case"]] = row
    return list(chosen.values())


def per_round(every: list[dict[str, Any]], case: str, base: str, key: str) -> list[float]:
    """``case``'s figure over ``base``'s, round by round (the two measured back to back)."""
    rounds: list[dict[str, dict[str, Any]]] = []
    for row in every:
        if row["case"] == "bare-scrapy":
            rounds.append({})
        rounds[-1][row["case"]] = row
    return [
        round(r[case][key] / r[base][key], 3)
        for r in rounds
        if r.get(case, {}).get(key) and r.get(base, {}).get(key)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=ARTICLES, help="generated articles")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="requests per host")
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS, help="rounds; each ratio is their median"
    )
    parser.add_argument(
        "--rss-articles",
        type=int,
        default=RSS_ARTICLES,
        help="also crawl a site this large once for peak RSS (0: skip)",
    )
    parser.add_argument(
        "--parse-workers",
        type=_workers,
        default="auto",
        help="[crawl] parse_workers of the newswatch cases (newswatch-in-thread: 0); default "
        "auto, as configured by default",
    )
    parser.add_argument(
        "--cpus",
        type=int,
        default=0,
        help="run the crawls on the first N CPUs only (the server keeps every CPU); 0: all",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.serve:
        serve(options.articles)
        return 0

    every: list[dict[str, Any]] = []
    same = True
    large: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as temp:
        server = ServerProcess(options.articles)
        if options.cpus:  # the crawls this process starts inherit it; the server has started
            os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: options.cpus])
        workers = options.parse_workers
        try:
            urls = sitemap_urls(server.base_url)
            for number in range(options.rounds):
                rows, same_urls = crawl_round(
                    server, urls, options.concurrency, Path(temp), number, workers
                )
                every += rows
                same = same and same_urls
        finally:
            server.close()
        if options.rss_articles:
            large = peak_rss(options.rss_articles, options.concurrency, Path(temp), workers)

    rows = best(every)
    by_case = {row["case"]: row for row in rows}
    first, again, unchanged = (
        by_case["newswatch"],
        by_case["newswatch-incremental"],
        by_case["newswatch-304"],
    )
    ratios = per_round(every, "newswatch", "bare-scrapy", "pages_per_s")
    ratio = statistics.median(ratios)
    recrawl = statistics.median(per_round(every, "newswatch-304", "newswatch", "wall_s"))
    unconditional = statistics.median(
        per_round(every, "newswatch-incremental", "newswatch", "wall_s")
    )
    cold = statistics.median(per_round(every, "newswatch-304-cold", "newswatch", "wall_s"))
    workers_pay = per_round(every, "newswatch", "newswatch-in-thread", "pages_per_s")
    one_304 = unchanged["not_modified"] == 1 and unchanged["article_requests"] == 0
    checks = [
        ("newswatch_vs_bare_pages_per_s", ratio, f">= {RATIO_TARGET}", ratio >= RATIO_TARGET),
        ("incremental_article_requests", again["article_requests"], "== 0",
         again["article_requests"] == 0),
        ("recrawl_vs_first_wall_time", recrawl, f"<= {INCREMENTAL_TIME_TARGET}",
         recrawl <= INCREMENTAL_TIME_TARGET),
        ("unchanged_sitemap_304s", unchanged["not_modified"], "== 1 (and no article)", one_304),
    ]  # fmt: skip
    notes = [
        ("newswatch_vs_bare_pages_per_s_rounds", ratios),
        ("recrawl_without_validators_vs_first_wall_time", unconditional),
        ("recrawl_in_a_process_of_its_own_vs_first_wall_time", cold),
        ("parse_workers_vs_in_thread_pages_per_s_rounds", workers_pay),
        (
            "parse_workers_vs_in_thread_cpu_time",
            cpu_ratio(by_case, "newswatch", "newswatch-in-thread"),
        ),
        ("newswatch_vs_bare_cpu_time", bare_cpu_share(by_case)),
        (
            "newswatch_vs_bare_thread_cpu_per_page_rounds",
            per_round(every, "newswatch", "bare-scrapy", "thread_ms"),
        ),
    ]
    if large is not None:
        growth = large["peak_rss_mb"] / first["peak_rss_mb"]
        checks.append(
            (f"peak_rss_{options.rss_articles}_vs_{options.articles}", growth,
             f"<= {RSS_GROWTH_TARGET}", growth <= RSS_GROWTH_TARGET)
        )  # fmt: skip
        rows.append(large)

    _print_table(every, rows, options, len(urls), same)
    for name, value, target, met in checks:
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"{name}: {shown} (target {target}: {'met' if met else 'NOT met'})")
    for name, note in notes:
        print(f"{name}: {note} (for reference)")
    for row in rows:
        print(json.dumps({"bench": "crawl", **row, "concurrency": options.concurrency}))
    for name, value, target, met in checks:
        value = round(value, 3) if isinstance(value, float) else value
        print(json.dumps({"bench": "crawl", "case": name, "value": value, "target": target,
                          "met": met}))  # fmt: skip
    for name, note in notes:
        print(json.dumps({"bench": "crawl", "case": name, "value": note}))
    return 0


def _workers(value: str) -> int | Literal["auto"]:
    """``--parse-workers``: auto or a number of processes."""
    return "auto" if value == "auto" else int(value)


def _worker_count(setting: int | Literal["auto"]) -> int:
    from crawler.parse_pool import worker_count

    return worker_count(setting)


def cpu_ratio(by_case: dict[str, dict[str, Any]], case: str, base: str) -> float:
    return round(by_case[case]["cpu_s"] / by_case[base]["cpu_s"], 3)


def bare_cpu_share(by_case: dict[str, dict[str, Any]]) -> float:
    return round(by_case["bare-scrapy"]["cpu_s"] / by_case["newswatch"]["cpu_s"], 3)


def _shown(value: object) -> str:
    return "-" if value is None else str(value)


def _print_table(
    every: list[dict[str, Any]], rows: list[dict[str, Any]], options: Any, urls: int, same: bool
) -> None:
    print(
        f"crawl bench: demo site with {options.articles} generated articles ({urls} in the "
        f"sitemaps), server in its own process on loopback; concurrency {options.concurrency} "
        "per host, no delay, no AutoThrottle, robots.txt obeyed"
    )
    print(
        "pages/s: article pages / article phase (server-timed, first to last article request; "
        "no Scrapy startup in either)"
    )
    print(
        "scrapy s: Scrapy's elapsed_time_seconds; wall s and cpu s: the whole crawl subprocess, "
        "from its start (bare, -cold) or from being handed its command line (warm: imports done)"
    )
    print(
        f"CPUs for the crawls: {len(os.sched_getaffinity(0))}; the newswatch cases: "
        f"parse_workers {options.parse_workers} ({_worker_count(options.parse_workers)} "
        "worker processes here, their CPU in cpu s) and store_writer auto; "
        "newswatch-in-thread: parse_workers 0 and store_writer false, every page parsed and "
        "stored in the reactor's thread"
    )
    print(
        f"best of {options.rounds} rounds; every round, back to back: bare-scrapy, newswatch "
        "(fresh database), newswatch-incremental (validators dropped: every index read, no "
        "article), newswatch-304 (conditional requests), newswatch-304-cold (the same in a "
        "process started for it), newswatch-in-thread (fresh database); ratios are the "
        "median of the rounds' "
        "own ratios. The machine may be loaded: compare within a run only"
    )
    print(
        "thread, helpers, server: CPU ms an article page within the article phase, of the "
        "crawl's main thread (the reactor's), of its child processes (parse workers, writer) "
        "and of the server process (sampled from /proc every 20 ms)"
    )
    print(f"newswatch requested exactly the bare spider's article URLs: {same}")
    header = (
        f"{'case':<24}{'articles':>9}{'requests':>9}{'304s':>6}{'KB sent':>9}{'phase s':>9}"
        f"{'pages/s':>9}{'scrapy s':>10}{'wall s':>8}{'cpu s':>8}{'RSS MB':>8}"
        f"{'thread':>8}{'helpers':>8}{'server':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        rate = "-" if row["pages_per_s"] is None else row["pages_per_s"]
        print(
            f"{row['case']:<24}{row['article_requests']:>9}{row['requests']:>9}"
            f"{row['not_modified']:>6}{row['bytes_sent'] // 1024:>9}"
            f"{row['article_phase_s']:>9}{rate:>9}{_shown(row['scrapy_elapsed_s']):>10}"
            f"{row['wall_s']:>8}{row['cpu_s']:>8}{_shown(row['peak_rss_mb']):>8}"
            f"{_shown(row['thread_ms']):>8}{_shown(row['helpers_ms']):>8}"
            f"{_shown(row['server_ms']):>8}"
        )
    spread: dict[str, list[float]] = {}
    for row in every:
        if row["pages_per_s"] is not None:
            spread.setdefault(row["case"], []).append(row["pages_per_s"])
    print(
        "pages/s in every round: "
        + "; ".join(f"{case} {', '.join(map(str, rates))}" for case, rates in spread.items())
    )


if __name__ == "__main__":
    raise SystemExit(main())
