"""Service memory and cycle time: the real `newswatch run` process over 100 crawl cycles.

    python bench/service.py [--cycles N] [--every DURATION] [--static]

The demo site is served on a free loopback port by a separate process (this script run with
``--serve``: ``demo.server.DemoServer`` with the bundled articles, which publishes one more
article, a watchlist hit, each time the benchmark sees a cycle end; with ``--static`` it is
``python -m demo.server`` and later cycles are steady-state incremental crawls that find
nothing new). The service (``python -m scheduler.cli --config ... --log-file ... run``) gets a
config for that site with ``every`` 1s, no jitter, no download delay, no AutoThrottle, one
watchlist and one immediate subscriber delivering into a Maildir in a temporary folder, so a
cycle is crawl (a subprocess) -> match -> immediate digest -> delivery.

Cycles are counted from the service's log lines ``crawl demo: ...`` (one per crawl). The
resident memory (VmRSS in /proc/<pid>/status) of the service process, not of its crawl
subprocesses, is sampled every 50 ms; the figure for cycle N is the last sample before the line
of cycle N+1 appeared, taken while the service waited on that crawl, so after cycle N's match,
digest and delivery. Cycle time is the interval between consecutive ``crawl demo:`` lines (log
timestamps; cycle 1 from the service's start line), averaged over the cycles since the row
before (rows: cycles 1, 10, N/2 and N); the crawl subprocess's lifetime is timed by watching
the service's child processes. At the end the service gets SIGTERM (during crawl N+1; the mail
count includes that cycle's) and its exit status is reported. Target: at most 20 MB growth from
cycle 10 to cycle N (100). Prints a table, then one JSON line per figure, then the verdict.

Over 300 lines for one benchmark: it drives a real service process, serves the demo site
from a second process and samples memory from /proc, all in one script that runs on its own.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CYCLES = 100
EVERY = "1s"
CHECKPOINTS = (1, 10, 100)
GROWTH_TARGET_MB = 20.0
POLL_S = 0.05
STOP_TIMEOUT_S = 60.0
SOURCE = "demo"
NEWSWATCH = [sys.executable, "-m", "scheduler.cli"]
_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
_CRAWL_LINE = re.compile(rf" newswatch\.jobs: crawl {SOURCE}: (\S+?),")
_ERROR_LINE = re.compile(r"^\S+ \S+ (?:ERROR|CRITICAL) ")
_STARTED_LINE = " newswatch.service: newswatch service started"


# ---------------------------------------------------------------------- the server process


def serve(cycles: int) -> None:
    """Serve the demo site; publish one more article (a watchlist hit) per ``publish`` line on
    stdin, until stdin closes."""
    from demo.articles import demo_articles
    from demo.server import DemoServer
    from demo.synthetic import synthetic_articles

    # every tenth generated article quotes "Islamic State" (IS): the watchlist below hits it
    pool = [a for a in synthetic_articles(10 * (cycles + 10)) if "(IS)" in a.body]
    server = DemoServer(demo_articles()).start()
    print(server.base_url, flush=True)
    for line in sys.stdin:
        if line.strip() == "publish" and pool:
            now = datetime.now(UTC).replace(microsecond=0)
            server.site.add_article(replace(pool.pop(0), published_at=now, modified_at=now))
    server.stop()


class SiteProcess:
    def __init__(self, cycles: int, static: bool) -> None:
        if static:
            command = [sys.executable, "-m", "demo.server", "--port", "0"]
        else:
            command = [sys.executable, str(Path(__file__).resolve()), "--serve", str(cycles)]
        self.static = static
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            preexec_fn=_die_with_parent,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        found = re.search(r"(http://[^\s/]+)", line)
        if not found:
            raise RuntimeError(f"the demo server did not start: {line!r}")
        self.base_url = found.group(1)

    def publish(self) -> None:
        if not self.static and self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("publish\n")
            self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()  # the --serve loop ends
        if self.static or _wait(self.process, 5) is None:
            self.process.terminate()
            if _wait(self.process, 5) is None:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def _die_with_parent() -> None:
    """In a child: SIGTERM when the benchmark dies, even by SIGKILL (Linux), so that neither
    the site nor the service outlives it."""
    with contextlib.suppress(OSError):  # not Linux: no such guard
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _wait(process: subprocess.Popen, timeout: float) -> int | None:
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


# ---------------------------------------------------------------------- the service


def service_config(folder: Path, base_url: str, every: str) -> str:
    return f"""\
[storage]
url = "sqlite:///{folder / "newswatch.db"}"

[crawl]
every = "{every}"
jitter = "0s"
delay = "0s"
autothrottle = false
concurrency = 4

[[sources]]
name = "{SOURCE}"
feeds = ["{base_url}/rdf/rss-en-all", "{base_url}/xml/rss-de-all"]
sitemaps = ["{base_url}/sitemap.xml"]
pages = ["{base_url}/en/top-stories/s-9097"]
allowed_domains = ["127.0.0.1"]

[[watchlists]]
name = "syria"
terms = ["Raqqa", "Daesh", "Islamic State", "Islamischer Staat"]
match_case = ["IS"]

[[subscribers]]
email = "analyst@example.org"
watchlists = ["syria"]
schedule = "immediate"
timezone = "UTC"

[mail]
maildir = "{folder / "mail"}"
"""


def rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else None


@dataclass
class Cycle:
    number: int
    status: str
    logged: datetime  # the log line's timestamp
    crawl_s: float | None  # how long the crawl subprocess ran (to the benchmark's 50 ms poll)
    rss_mb: float | None = None  # after this cycle (filled in when the next one is seen)


@dataclass
class Watch:
    started: datetime | None = None
    cycles: list[Cycle] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class LogFollower:
    """Reads the service's log file as it grows, one complete line at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._partial = ""

    def lines(self) -> list[str]:
        if self._file is None:
            if not self.path.exists():
                return []
            self._file = open(self.path, encoding="utf-8", errors="replace")  # noqa: SIM115
        text = self._partial + self._file.read()
        *complete, self._partial = text.split("\n")
        return complete

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _log_time(line: str) -> datetime | None:
    found = _LOG_TIME.match(line)
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f") if found else None


def children_of(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (from /proc/<n>/stat)."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid):
            children.add(int(stat.parent.name))
    return children


def watch_service(
    service: subprocess.Popen, log: LogFollower, site: SiteProcess, cycles: int, deadline: float
) -> Watch:
    """Follow the log until cycle ``cycles + 1`` is logged, sampling the service's RSS and
    timing its crawl subprocesses."""
    watch = Watch()
    last_rss: float | None = None
    running: dict[int, float] = {}  # crawl pid -> first seen (monotonic)
    finished: set[int] = set()
    crawl_s: list[float] = []  # crawls that ended since the last cycle line
    in_error = False  # the last log record was an error: lines without a time continue it
    while len(watch.cycles) <= cycles:
        if service.poll() is not None:
            raise RuntimeError(f"the service exited {service.returncode} early")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {len(watch.cycles)} cycles")
        # sample before reading the log: what was sampled precedes every line read below
        last_rss = rss_mb(service.pid) or last_rss
        now = time.monotonic()
        # scanning /proc costs ~5 ms: only while no crawl runs, else check that one still does
        if running:
            children = {pid for pid in running if Path(f"/proc/{pid}").exists()}
        else:
            children = children_of(service.pid)
        for pid in children - running.keys() - finished:
            running[pid] = now
        for pid in running.keys() - children:
            crawl_s.append(now - running.pop(pid))
            finished.add(pid)
        for line in log.lines():
            if _STARTED_LINE in line:
                watch.started = _log_time(line)
            if _LOG_TIME.match(line):
                in_error = bool(_ERROR_LINE.match(line))
                if in_error:
                    watch.errors.append(line)
            elif in_error:
                watch.errors[-1] += "\n" + line  # its traceback
            found = _CRAWL_LINE.search(line)
            if found:
                if watch.cycles:
                    watch.cycles[-1].rss_mb = last_rss
                # the crawl has ended when its line is logged, whether or not we saw it go
                now = time.monotonic()
                crawl_s += [now - running.pop(pid) for pid in list(running)]
                finished.update(children)
                logged = _log_time(line) or datetime.now()
                number = len(watch.cycles) + 1
                watch.cycles.append(Cycle(number, found.group(1), logged, sum(crawl_s) or None))
                crawl_s.clear()
                site.publish()
        time.sleep(POLL_S)
    return watch


def stop_service(service: subprocess.Popen) -> int:
    if service.poll() is None:
        service.send_signal(signal.SIGTERM)
    code = _wait(service, STOP_TIMEOUT_S)
    if code is None:
        service.kill()
        service.wait()
        raise RuntimeError(f"the service did not stop within {STOP_TIMEOUT_S:.0f}s of SIGTERM")
    return code


# ---------------------------------------------------------------------- report


def rows_of(watch: Watch, checkpoints: Sequence[int]) -> list[dict[str, object]]:
    rows = []
    previous: Cycle | None = None
    for number in checkpoints:
        cycle = watch.cycles[number - 1]
        begin = previous.logged if previous else watch.started or cycle.logged
        count = number - (previous.number if previous else 0)
        span = watch.cycles[number - count : number]
        timed = [c.crawl_s for c in span if c.crawl_s is not None]
        origin = watch.started or watch.cycles[0].logged
        rows.append(
            {
                "cycle": number,
                "rss_mb": None if cycle.rss_mb is None else round(cycle.rss_mb, 1),
                "elapsed_s": round((cycle.logged - origin).total_seconds(), 1),
                "cycles_in_span": f"{number - count + 1}-{number}",
                "mean_cycle_s": round((cycle.logged - begin).total_seconds() / count, 2),
                "mean_crawl_s": round(sum(timed) / len(timed), 2) if timed else None,
            }
        )
        previous = cycle
    return rows


def _growth(rows: list[dict[str, object]], first: int, last: int) -> float | None:
    by_cycle = {row["cycle"]: row["rss_mb"] for row in rows}
    start, end = by_cycle.get(first), by_cycle.get(last)
    if not isinstance(start, float) or not isinstance(end, float):
        return None
    return round(end - start, 1)


def report(
    watch: Watch,
    rows: list[dict[str, object]],
    exit_code: int,
    mails: int,
    options: argparse.Namespace,
) -> None:
    first, last = CHECKPOINTS[1], options.cycles
    statuses: dict[str, int] = {}
    for cycle in watch.cycles[: options.cycles]:
        statuses[cycle.status] = statuses.get(cycle.status, 0) + 1
    not_ok = [c.number for c in watch.cycles[: options.cycles] if c.status != "ok"]
    site = "static site (steady-state incremental)" if options.static else "one new article a cycle"
    print(
        f"service bench: {options.cycles} crawl cycles of `newswatch run`, every {options.every}, "
        f"{site}"
    )
    print(
        "rss_mb: VmRSS of the service process after the cycle; mean_cycle_s: between consecutive "
        "`crawl` log lines, over the cycles listed; mean_crawl_s: the crawl subprocess's lifetime "
        "(50 ms polls)"
    )
    header = (
        f"{'cycle':>6}{'rss_mb':>9}{'elapsed_s':>11}{'cycles':>9}{'mean_cycle_s':>14}"
        f"{'mean_crawl_s':>14}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        rss = "-" if row["rss_mb"] is None else f"{row['rss_mb']:.1f}"
        crawl = row["mean_crawl_s"]
        print(
            f"{row['cycle']:>6}{rss:>9}{row['elapsed_s']:>11}{row['cycles_in_span']:>9}"
            f"{row['mean_cycle_s']:>14}{'-' if crawl is None else crawl:>14}"
        )
    growth = _growth(rows, first, last)
    growth_all = _growth(rows, 1, last)
    met = growth is not None and growth <= GROWTH_TARGET_MB
    print(
        f"crawl statuses: {', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))}"
        f"{f' (not ok: cycles {not_ok})' if not_ok else ''}; "
        f"mails in the Maildir: {mails}; errors logged: {len(watch.errors)}; "
        f"exit status after SIGTERM: {exit_code}"
    )
    for row in rows:
        print(json.dumps({"bench": "service", **row}))
    run = {"crawl_statuses": statuses, "not_ok_cycles": not_ok, "mails": mails}
    run |= {"errors": len(watch.errors), "sigterm_exit": exit_code}
    print(json.dumps({"bench": "service", "case": "run", **run}))
    target = f"<= {GROWTH_TARGET_MB:.0f}"
    case = f"rss_growth_{first}_to_{last}_mb"
    print(
        json.dumps({"bench": "service", "case": case, "mb": growth, "target": target, "met": met})
    )
    print(json.dumps({"bench": "service", "case": f"rss_growth_1_to_{last}_mb", "mb": growth_all}))
    print(
        f"rss growth cycle {first} -> {last}: {growth} MB (target <= {GROWTH_TARGET_MB:.0f} MB: "
        f"{'met' if met else 'NOT met'}); cycle 1 -> {last}: {growth_all} MB"
    )
    if watch.errors:
        print(f"the first of {len(watch.errors)} errors the service logged:")
        print(watch.errors[0][-6000:])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=CYCLES, help="crawl cycles to measure")
    parser.add_argument("--every", default=EVERY, help="[crawl] every (default 1s)")
    parser.add_argument("--static", action="store_true", help="serve an unchanging site")
    parser.add_argument("--serve", type=int, metavar="CYCLES", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.serve is not None:
        serve(options.serve)
        return 0
    if options.cycles < CHECKPOINTS[1]:
        parser.error(f"--cycles must be at least {CHECKPOINTS[1]}")
    checkpoints = sorted({*CHECKPOINTS[:2], options.cycles // 2, options.cycles})

    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    with tempfile.TemporaryDirectory(prefix="newswatch-bench-service-") as temp:
        folder = Path(temp)
        site = SiteProcess(options.cycles, options.static)
        service: subprocess.Popen | None = None
        log = LogFollower(folder / "service.log")
        try:
            config = folder / "newswatch.toml"
            config.write_text(service_config(folder, site.base_url, options.every))
            with open(folder / "service.stderr", "wb") as stderr:
                service = subprocess.Popen(
                    [*NEWSWATCH, "--config", str(config), "--log-file", str(log.path), "run"],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=stderr,
                    stderr=stderr,
                    preexec_fn=_die_with_parent,
                )
            deadline = time.monotonic() + 30 + 10 * options.cycles
            try:
                watch = watch_service(service, log, site, options.cycles, deadline)
            except RuntimeError:
                for name in ("service.log", "service.stderr"):
                    print(f"== {name} (the end)", file=sys.stderr)
                    path = folder / name
                    text = path.read_text(errors="replace") if path.exists() else ""
                    print(text[-3000:], file=sys.stderr)
                raise
            exit_code = stop_service(service)
            mails = len(list((folder / "mail" / "new").glob("*")))
        finally:
            if service is not None and service.poll() is None:  # the benchmark failed
                service.terminate()
                if _wait(service, STOP_TIMEOUT_S) is None:
                    service.kill()
                    service.wait()
            site.stop()
            log.close()
    report(watch, rows_of(watch, checkpoints), exit_code, mails, options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
