"""Alert latency: from DW publishing a matching article to an immediate subscriber's inbox.

    python bench/latency.py [--publications N] [--every DURATION] [--seed S]

The demo site (``demo.server.DemoServer``, in this process) is watched by the real service
(``python -m scheduler.cli --config ... run``) with ``[crawl] every`` (default 30s, no jitter,
no download delay), one watchlist and one ``immediate`` subscriber whose mail goes by SMTP to an
aiosmtpd server in this process. At N random moments (default 20; each after a random wait of
up to one interval, so publications fall anywhere in the crawl cycle) the site publishes a new
article the watchlist matches: it appears in the feed at once. Latency is the time from that
moment to the arrival of the first message naming the article's short link (p.dw.com/p/<id>).

After the last arrival the benchmark watches two more crawl cycles in which nothing changed
and reports the requests and body bytes the site sent per poll (with conditional requests:
robots.txt and a 304 per feed). Target: p95 latency <= every + 15 s. Prints a table, then one
JSON line per figure. The machine may be loaded: the figures are of this run only.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from demo import DemoServer, demo_articles  # noqa: E402
from store.dw_ids import short_id  # noqa: E402

PUBLICATIONS = 20
EVERY = 30.0
SLACK_TARGET = 15.0  # seconds past the interval, for the p95
TERM = "Zebrafinch"  # in no demo article: only the published ones match
FIRST_ID = 99100000
CRAWLED = "crawl demo:"
SHORT_LINK = re.compile(r"https://p\.dw\.com/p/([0-9A-Za-z]+)")


class Inbox:
    """An aiosmtpd handler noting when each short link first arrived."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrived: dict[str, float] = {}
        self.messages = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.time()
        message = email.message_from_bytes(
            envelope.original_content or b"", policy=email.policy.default
        )
        texts = [
            part.get_content()
            for part in message.walk()
            if part.get_content_maintype() == "text" and not part.is_multipart()
        ]
        with self.lock:
            self.messages += 1
            for found in SHORT_LINK.findall(" ".join(texts)):
                self.arrived.setdefault(found, now)
        return "250 OK"


def config(database: Path, site: DemoServer, smtp_port: int, every: float) -> str:
    return f"""
[storage]
url = "sqlite:///{database}"

[crawl]
every = "{every:g}s"
jitter = "0s"
delay = "0s"
autothrottle = false

[[sources]]
name = "demo"
feeds = ["{site.url("/rdf/rss-en-all")}"]
allowed_domains = ["127.0.0.1"]

[[watchlists]]
name = "birds"
terms = ["{TERM}"]

[[subscribers]]
email = "reader@example.org"
watchlists = ["birds"]
schedule = "immediate"
timezone = "UTC"

[mail]
smtp_url = "smtp://127.0.0.1:{smtp_port}"

[web]
listen = ""
"""


def wait(what: str, check: Any, timeout: float, service: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if service.poll() is not None:
            raise RuntimeError(f"the service exited {service.returncode} waiting for {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publications", type=int, default=PUBLICATIONS, help="articles")
    parser.add_argument("--every", type=float, default=EVERY, help="[crawl] every, seconds")
    parser.add_argument("--seed", type=int, default=17, help="random seed of the moments")
    options = parser.parse_args(argv)
    chance = random.Random(options.seed)

    articles = demo_articles()
    model = next(a for a in articles if a.language == "en" and a.kind == "article")
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    latencies: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="newswatch-latency-") as temp,
        DemoServer(articles) as site,
    ):
        folder = Path(temp)
        path = folder / "newswatch.toml"
        path.write_text(config(folder / "latency.db", site, smtp.port, options.every))
        log_path = folder / "service.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
        with open(log_path, "ab") as log:
            service = subprocess.Popen(
                [sys.executable, "-m", "scheduler.cli", "--config", str(path), "run"],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            )  # fmt: skip

        def crawls() -> int:
            return log_path.read_text(errors="replace").count(CRAWLED)

        try:
            wait("the first crawl", lambda: crawls() >= 1, 120, service)
            for number in range(options.publications):
                time.sleep(chance.uniform(0, options.every))
                content_id = FIRST_ID + number
                now = datetime.now(UTC).replace(microsecond=0)
                short = short_id(content_id)
                site.site.add_article(
                    replace(
                        model,
                        content_id=content_id,
                        short_id=short,
                        slug=f"zebrafinch-sighting-{number}",
                        title=f"{TERM} sighting number {number} near Bonn",
                        published_at=now,
                        modified_at=now,
                    )
                )
                published = time.time()
                wait(f"the mail naming {short}", lambda short=short: short in inbox.arrived,
                     3 * options.every + 120, service)  # fmt: skip
                latencies.append(inbox.arrived[short] - published)
                print(f"publication {number + 1}: {latencies[-1]:.1f} s", file=sys.stderr)
            # polls of an unchanged site
            site.request_log.clear()
            before = crawls()
            wait("two quiet polls", lambda: crawls() >= before + 2, 3 * options.every + 60,
                 service)  # fmt: skip
            quiet = {
                "polls": crawls() - before,
                "requests": len(site.request_log),
                "not_modified": sum(1 for _, s in site.request_log.answers if s == 304),
                "bytes": site.request_log.bytes_sent,
            }
        finally:
            service.terminate()
            try:
                service.wait(60)
            except subprocess.TimeoutExpired:
                service.kill()
            smtp.stop()

    median, p95 = statistics.median(latencies), percentile(latencies, 0.95)
    target = options.every + SLACK_TARGET
    polls = max(quiet["polls"], 1)
    per_poll = {
        "requests_per_poll": round(quiet["requests"] / polls, 1),
        "not_modified_per_poll": round(quiet["not_modified"] / polls, 1),
        "bytes_per_poll": round(quiet["bytes"] / polls),
    }
    print(
        f"latency bench: {len(latencies)} publications at random moments, `newswatch run` "
        f"with every = {options.every:g}s (no jitter), one immediate subscriber over SMTP "
        "(aiosmtpd), the demo site's English RDF feed; the machine may be loaded"
    )
    header = f"{'figure':<28}{'value':>10}"
    print(header)
    print("-" * len(header))
    rows = [
        ("latency median s", round(median, 1)),
        ("latency p95 s", round(p95, 1)),
        ("latency max s", round(max(latencies), 1)),
        ("quiet polls watched", quiet["polls"]),
        *((name.replace("_", " "), value) for name, value in per_poll.items()),
    ]
    for name, value in rows:
        print(f"{name:<28}{value:>10}")
    met = p95 <= target
    print(f"latency_p95_s: {p95:.1f} (target <= {target:g}: {'met' if met else 'NOT met'})")
    print(json.dumps({"bench": "latency", "case": "latency_s", "median": round(median, 2),
                      "p95": round(p95, 2), "max": round(max(latencies), 2),
                      "publications": len(latencies), "every_s": options.every}))  # fmt: skip
    print(json.dumps({"bench": "latency", "case": "quiet_poll", **per_poll}))
    print(json.dumps({"bench": "latency", "case": "latency_p95_s", "value": round(p95, 2),
                      "target": f"<= {target:g}", "met": met}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
