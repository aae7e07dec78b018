"""Digest throughput: 1,000 subscribers x 20 matches, built and mailed to a local SMTP server.

    python bench/digest.py [--subscribers N] [--profile]

Setup (not timed): a fresh SQLite file in a temporary folder; 2,000 generated English articles
(a ~10-word title, a ~30-word teaser, a ~400-word body in paragraphs, curly quotes and dashes,
published in the last 20 hours) stored with `store.articles.upsert_article`; 200 watchlists of
three made-up terms (a two-word name, a place, an organisation; every fourth also a match_case
acronym), each term word used by one watchlist only and never by the filler text, so each
watchlist hits exactly 10 articles (1-3 occurrences in the body, some in the title or teaser);
the Match rows, with their real snippets, come from `alerts.match_stage.match_articles`. Each of
the subscribers (schedule "immediate", one of four time zones) follows two watchlists that hit
disjoint articles: 20 undelivered matches, two groups per digest.

The SMTP server is aiosmtpd on 127.0.0.1 in a separate process (this script's `_serve`, started
with multiprocessing "spawn"), so its CPU is not the benchmark's; its handler only counts the
messages and keeps their Message-IDs, which are checked against the outbox after each run.

Timed, in one run:
  newswatch  build_digests(...) then deliver_outbox(...) with smtp_url=smtp://127.0.0.1:PORT
             (default batch: one connection per 200 messages, NOOP before each reuse, one commit
             per message sent)
  smtplib    the same 1,000 messages, built from the outbox rows with `alerts.mime.build_message`
             before timing, sent with `smtplib.SMTP.send_message` over one connection
Target: newswatch messages/s at least 0.5x smtplib's (wall clock). The table also gives the CPU
seconds of this process and of the server's during each part, and the same ratio from CPU
seconds, which other load on the machine disturbs less. Prints a table, then one JSON line per
figure, then the ratios. `--profile` runs the newswatch part under cProfile (its timings are
then inflated) and prints where the time of build and of deliver goes, then the top functions.

Over 300 lines for one benchmark: its data setup (articles, watchlists, matches as the
stages make them), the raw-smtplib baseline, the SMTP sink and the report must sit in one
script that runs on its own (`python bench/digest.py`).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import multiprocessing
import pstats
import random
import re
import smtplib
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select

from alerts.address import parse_address
from alerts.config import MailConfig, SubscriberConfig
from alerts.digest import BuiltDigest, build_digests
from alerts.mailer import DeliveryReport, deliver_outbox
from alerts.match_stage import match_articles
from alerts.mime import build_message
from alerts.watchlists import WatchlistConfig
from store.articles import upsert_article
from store.clock import system_clock
from store.db import Database
from store.dw_ids import short_id
from store.models import Match, OutboxMessage

SEED = 20151127
SUBSCRIBERS = 1_000
WATCHLISTS = 200
ARTICLES_PER_WATCHLIST = 10  # two watchlists per subscriber: 20 matches
BODY_WORDS = 400
TARGET_RATIO = 0.5
SENDER = "newswatch <alerts@example.org>"
ZONES = ("Europe/Berlin", "UTC", "America/New_York", "Asia/Kolkata")
T = TypeVar("T")


def _words_of(text: str) -> list[str]:
    return text.split()


# Filler: real words only, so a made-up watchlist term never appears by accident.
FUNCTION_WORDS = _words_of(
    "the of and to in a is that for on it with as was at by be this from are have has not but or "
    "an they which were been their said also its after more than who will would about over into "
    "could other two some when there had new up out we all one first last year years"
)
NEWS_WORDS = _words_of(
    "government minister president election vote parliament party opposition coalition court "
    "ruling law police protest protesters city capital region border troops army soldiers attack "
    "ceasefire talks agreement deal negotiations sanctions economy inflation prices energy gas "
    "oil pipeline supply market markets company companies workers union strike wages budget "
    "deficit debt bank banks interest rates growth crisis refugees migrants asylum aid "
    "humanitarian hospital doctors patients health vaccine climate emissions floods drought "
    "heat wildfire storm village villages residents officials spokesperson statement report "
    "investigation journalists media press freedom rights activists prison sentence trial judge "
    "prosecutors charges corruption scandal reform pension schools students teachers university "
    "research scientists technology internet data security intelligence military defense "
    "spending weapons missile drone drones strikes offensive front line civilians casualties "
    "killed injured wounded displaced fighting forces rebels militia group leaders summit "
    "meeting visit delegation ambassador embassy foreign ministry trade exports imports tariffs "
    "farmers harvest food water electricity grid power plant nuclear coal renewable wind solar "
    "transport rail airport flights traffic housing rents tenants construction infrastructure "
    "investment investors shares stock analysts forecast quarter record decline increase rise "
    "fall week month weekend morning evening night today yesterday tomorrow recently already "
    "still again however although while because despite during before since until several many "
    "most few dozens hundreds thousands millions billions percent euros dollars according "
    "announced warned called urged rejected accused denied confirmed told added noted stressed"
)
PLACES = _words_of(
    "Berlin Brussels Paris London Warsaw Rome Madrid Vienna Kyiv Moscow Ankara Cairo Nairobi "
    "Lagos Delhi Beijing Tokyo Washington Brazil Germany France Poland Italy Spain Ukraine Russia "
    "Turkey Egypt Kenya Nigeria India China Japan Europe Africa Asia"
)
ORGS = ("EU", "UN", "NATO", "WHO", "IMF", "G7", "Bundestag", "Bundesbank")
SYLLABLES = _words_of(
    "ka ri to ma ne lo sa vi de bu ra mo ti ze pa lu ho ge fi ny al ber stan gar kov ich ova "
    "ski dor wel zan qua rek vash tul orm yev"
)


@dataclass(frozen=True)
class Setup:
    watchlists: list[WatchlistConfig]
    subscribers: list[SubscriberConfig]
    articles: int
    body_words: float
    matches: int


class TextWriter:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def word(self) -> str:
        roll = self.rng.random()
        if roll < 0.45:
            return self.rng.choice(FUNCTION_WORDS)
        if roll < 0.93:
            return self.rng.choice(NEWS_WORDS)
        if roll < 0.98:
            return self.rng.choice(PLACES)
        return self.rng.choice(ORGS)

    def sentence(self, words: int, insert: Sequence[str] = ()) -> str:
        tokens = [self.word() for _ in range(words)]
        for term in insert:
            tokens.insert(self.rng.randrange(len(tokens) + 1), term)
        quoted = self.rng.random() < 0.15
        if not quoted and self.rng.random() < 0.1 and len(tokens) > 1:
            tokens[0] += " –"  # after the first token, never inside a phrase term
        text = " ".join(tokens)
        if quoted:
            text = f"“{text}”"
        return text[0].upper() + text[1:] + "."

    def paragraphs(self, words: int, hits: Sequence[str]) -> str:
        """About ``words`` words in paragraphs of 2-5 sentences; ``hits`` go into random
        sentences."""
        lengths = []
        while words > 0:
            lengths.append(min(words, self.rng.randint(10, 24)))
            words -= lengths[-1]
        placed: dict[int, list[str]] = {}
        for hit in hits:
            placed.setdefault(self.rng.randrange(len(lengths)), []).append(hit)
        sentences = [self.sentence(n, placed.get(i, ())) for i, n in enumerate(lengths)]
        paragraphs, start = [], 0
        while start < len(sentences):
            size = self.rng.randint(2, 5)
            paragraphs.append(" ".join(sentences[start : start + size]))
            start += size
        return "\n\n".join(paragraphs)


def made_up_words(rng: random.Random, count: int) -> list[str]:
    """Capitalised invented words, none of them a filler word (case-insensitively)."""
    taken = {word.lower() for word in (*FUNCTION_WORDS, *NEWS_WORDS, *PLACES, *ORGS)}
    words: list[str] = []
    while len(words) < count:
        word = "".join(rng.choices(SYLLABLES, k=rng.choice((2, 3, 3, 4))))
        if len(word) >= 5 and word not in taken:
            taken.add(word)
            words.append(word.capitalize())
    return words


def made_up_acronyms(rng: random.Random, count: int) -> list[str]:
    taken = {org.lower() for org in ORGS}
    acronyms: list[str] = []
    while len(acronyms) < count:
        acronym = "".join(rng.choices("BCDFGHJKLMNPQRSTVWXZ", k=rng.choice((3, 4))))
        if acronym.lower() not in taken:
            taken.add(acronym.lower())
            acronyms.append(acronym)
    return acronyms


def make_watchlists(rng: random.Random) -> list[WatchlistConfig]:
    words = iter(made_up_words(rng, WATCHLISTS * 4))
    acronyms = iter(made_up_acronyms(rng, WATCHLISTS))
    watchlists = []
    for number in range(WATCHLISTS):
        person = f"{next(words)} {next(words)}"
        place, org = next(words), next(words)
        acronym = next(acronyms)
        watchlists.append(
            WatchlistConfig(
                name=f"{place.lower()}-watch-{number:03d}",
                terms=[person, place, org],
                match_case=[acronym] if number % 4 == 0 else [],
            )
        )
    return watchlists


def make_article(
    writer: TextWriter, rng: random.Random, number: int, watchlist: WatchlistConfig, now: Any
) -> dict[str, Any]:
    terms = [*watchlist.terms, *watchlist.match_case]
    hits = [rng.choice(terms) for _ in range(rng.randint(1, 3))]
    title_hits = [rng.choice(terms)] if rng.random() < 0.3 else []
    teaser_hits = [rng.choice(terms)] if rng.random() < 0.2 else []
    cid = 60_000_000 + number
    return {
        "short_id": short_id(cid),
        "content_id": cid,
        "url": f"https://www.dw.com/en/story-{number}/a-{cid}",
        "language": "en",
        "kind": "article",
        "title": writer.sentence(rng.randint(6, 11), title_hits).rstrip("."),
        "teaser": writer.paragraphs(rng.randint(22, 36), teaser_hits).replace("\n\n", " "),
        "body": writer.paragraphs(BODY_WORDS + rng.randint(-40, 40), hits),
        "captions": [writer.sentence(8)],
        "authors": [f"{rng.choice(PLACES)} correspondent"],
        "topics": rng.sample(PLACES, 2),
        "published_at": now - timedelta(minutes=rng.randint(10, 20 * 60)),
        "modified_at": None,
        "selector_fallback": False,
    }


def setup(db: Database, subscribers: int) -> Setup:
    rng = random.Random(SEED)
    writer = TextWriter(rng)
    watchlists = make_watchlists(rng)
    now = system_clock()
    articles = [
        make_article(writer, rng, number, watchlists[number % WATCHLISTS], now)
        for number in range(WATCHLISTS * ARTICLES_PER_WATCHLIST)
    ]
    with db.session() as session:
        for fields in articles:
            upsert_article(session, fields, now)
        session.commit()
    match_articles(db, watchlists, now=now)
    with db.session() as session:
        per_watchlist = dict(
            session.execute(select(Match.watchlist, func.count()).group_by(Match.watchlist)).all()
        )
    expected = {w.name: ARTICLES_PER_WATCHLIST for w in watchlists}
    if per_watchlist != expected:
        raise SystemExit(f"setup: watchlists do not hit {ARTICLES_PER_WATCHLIST} articles each")
    people = []
    for number in range(subscribers):
        first = number % WATCHLISTS
        second = (first + 1 + number // WATCHLISTS) % WATCHLISTS
        people.append(
            SubscriberConfig(
                email=f"reader{number:05d}@example.org",
                watchlists=[watchlists[first].name, watchlists[second].name],
                schedule="immediate",
                timezone=ZONES[number % len(ZONES)],
            )
        )
    words = sum(len(a["body"].split()) for a in articles) / len(articles)
    return Setup(watchlists, people, len(articles), words, sum(per_watchlist.values()))


# --- the SMTP server, in its own process -------------------------------------------------------

_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


class CountingHandler:
    """Accepts everything; keeps only the Message-ID, recipients and size of each message."""

    def __init__(self) -> None:
        self.message_ids: list[str] = []
        self.recipients = 0
        self.bytes = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        headers = content.split(b"\r\n\r\n", 1)[0]
        found = _MESSAGE_ID.search(headers)
        self.message_ids.append(found.group(1).decode("ascii", "replace") if found else "")
        self.recipients += len(envelope.rcpt_tos)
        self.bytes += len(content)
        return "250 2.0.0 counted"


def _serve(port: int, control: Connection) -> None:
    """The child process: aiosmtpd on 127.0.0.1:port; answers "report", "cpu" (its CPU seconds),
    "reset" and "stop"."""
    from aiosmtpd.controller import Controller

    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    control.send("ready")
    try:
        while True:
            command = control.recv()
            if command == "report":
                ids = list(handler.message_ids)
                control.send((ids, handler.recipients, handler.bytes))
            elif command == "cpu":
                control.send(time.process_time())
            elif command == "reset":
                handler.message_ids, handler.recipients, handler.bytes = [], 0, 0
                control.send("ok")
            else:
                break
    finally:
        controller.stop()


@dataclass(frozen=True)
class Received:
    message_ids: list[str]
    recipients: int
    bytes: int


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        context = multiprocessing.get_context("spawn")
        self.control, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(self.port, child), daemon=True)

    def __enter__(self) -> SmtpServer:
        self.process.start()
        if not self.control.poll(30) or self.control.recv() != "ready":
            raise SystemExit("the SMTP server process did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        with suppress(OSError):
            self.control.send("stop")
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)

    def report(self) -> Received:
        self.control.send("report")
        return Received(*self.control.recv())

    def cpu(self) -> float:
        self.control.send("cpu")
        return float(self.control.recv())

    def reset(self) -> None:
        self.control.send("reset")
        self.control.recv()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- the timed parts -------------------------------------------------------------------------


@dataclass
class Span:
    wall: float = 0.0
    cpu: float = 0.0  # this process
    server_cpu: float = 0.0  # the SMTP server's process


@contextmanager
def _timing(server: SmtpServer) -> Iterator[Span]:
    """Wall and CPU seconds of the block, and the server's CPU seconds meanwhile (asked for
    outside the wall time). The garbage collector stays on: the service runs with it."""
    gc.collect()
    span = Span()
    server_cpu = server.cpu()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield span
    finally:
        span.wall = time.perf_counter() - wall
        span.cpu = time.process_time() - cpu
        span.server_cpu = server.cpu() - server_cpu


# What the time of each timed call goes to: (label, file suffix, function name); a figure is the
# cumulative time of the matching function (the largest, where several match).
FOCUS = {
    "build_digests": [
        (
            "undelivered_matches: SQL + ORM loading",
            "alerts/digest_candidates.py",
            "undelivered_matches",
        ),
        ("digest_view", "alerts/digest_view.py", "digest_view"),
        ("DigestRenderer.render", "alerts/render.py", "render"),
        ("  Jinja wordwrap filter (text part)", "jinja2/filters.py", "do_wordwrap"),
        ("  css_inline.inline", "~", "<inline>"),
        ("  template up-to-date checks (os.stat)", "~", "<built-in method posix.stat>"),
        ("Session.get(SubscriberState)", "sqlalchemy/orm/session.py", "get"),
        ("Session.commit: flush (one INSERT per Delivery)", "sqlalchemy/orm/session.py", "commit"),
        ("  sqlite3 COMMIT", "~", "<method 'commit' of 'sqlite3.Connection' objects>"),
    ],
    "deliver_outbox": [
        ("due: batch queries", "alerts/outbox.py", "due"),
        ("message_bytes: build + serialise (email package)", "alerts/mime.py", "message_bytes"),
        ("  build_message", "alerts/mime.py", "build_message"),
        ("  flatten (BytesGenerator)", "email/generator.py", "flatten"),
        ("SmtpTransport.send", "alerts/transports.py", "send"),
        ("  NOOP before each reuse (_alive)", "alerts/transports.py", "_alive"),
        (
            "  waiting for replies (recv_into)",
            "~",
            "<method 'recv_into' of '_socket.socket' objects>",
        ),
        ("  sendall (server not reading)", "~", "<method 'sendall' of '_socket.socket' objects>"),
        ("record_sent: one transaction per message", "alerts/outbox.py", "record_sent"),
        ("  sqlite3 COMMIT", "~", "<method 'commit' of 'sqlite3.Connection' objects>"),
        ("SMTP connect + ssl context (per batch)", "alerts/transports.py", "_open"),
    ],
}


class Profiles:
    """cProfile around the timed calls when asked for, else nothing."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.stats: dict[str, pstats.Stats] = {}

    def run(self, name: str, call: Callable[[], T]) -> T:
        if not self.enabled:
            return call()
        profile = cProfile.Profile()
        result = profile.runcall(call)
        self.stats[name] = pstats.Stats(profile, stream=io.StringIO())
        return result

    def _print_focus(self, name: str, stats: pstats.Stats) -> None:
        total = stats.total_tt  # type: ignore[attr-defined]
        print(f"\n-- profile: {name}, {total:.2f}s under cProfile; where it goes (cumulative)")
        for label, suffix, function in FOCUS.get(name, []):
            seconds = _cumulative(stats, suffix, function)
            print(f"{label:<52}{seconds:>8.2f}s{100 * seconds / total:>6.0f}%")

    def print(self, top: int = 25) -> None:
        for name, stats in self.stats.items():
            self._print_focus(name, stats)
        for name, stats in self.stats.items():
            for order in ("tottime", "cumulative"):
                out = io.StringIO()
                stats.stream = out  # type: ignore[attr-defined]
                stats.sort_stats(order).print_stats(top)
                body = out.getvalue().split("\n", 6)[-1]  # skip pstats' preamble
                print(f"\n-- profile: {name}, top {top} by {order}\n{body.rstrip()}")


def _cumulative(stats: pstats.Stats, suffix: str, name: str) -> float:
    found = [
        row[3]
        for (file, _line, function), row in stats.stats.items()  # type: ignore[attr-defined]
        if file.endswith(suffix) and function == name
    ]
    return max(found, default=0.0)


def run_newswatch(
    db: Database,
    people: Sequence[SubscriberConfig],
    mail: MailConfig,
    server: SmtpServer,
    profiles: Profiles,
) -> tuple[list[BuiltDigest], DeliveryReport, Span, Span]:
    with _timing(server) as build:
        built = profiles.run(
            "build_digests", lambda: build_digests(db, people, mail, now=system_clock())
        )
    with _timing(server) as deliver:
        report = profiles.run(
            "deliver_outbox", lambda: deliver_outbox(db, mail, clock=system_clock)
        )
    return built, report, build, deliver


def outbox_messages(db: Database) -> list[tuple[EmailMessage, str]]:
    with db.session() as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    sender = parse_address(SENDER, "sender")
    return [
        (build_message(row, sender), parse_address(row.recipient, "recipient").addr_spec)
        for row in rows
    ]


def run_smtplib(server: SmtpServer, messages: Sequence[tuple[EmailMessage, str]]) -> Span:
    sender = parse_address(SENDER, "sender").addr_spec
    with _timing(server) as span, smtplib.SMTP("127.0.0.1", server.port, timeout=30) as smtp:
        for message, recipient in messages:
            smtp.send_message(message, from_addr=sender, to_addrs=[recipient])
    return span


def check_arrived(server: SmtpServer, expected: set[str], what: str) -> Received:
    received = server.report()
    if len(received.message_ids) != len(expected) or set(received.message_ids) != expected:
        raise SystemExit(
            f"{what}: the server got {len(received.message_ids)} messages "
            f"({len(set(received.message_ids) & expected)} of the {len(expected)} expected)"
        )
    return received


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=SUBSCRIBERS)
    parser.add_argument("--profile", action="store_true", help="cProfile build and deliver")
    options = parser.parse_args(argv)
    profiles = Profiles(options.profile)

    with (
        tempfile.TemporaryDirectory(prefix="bench-digest-") as folder,
        Database(f"sqlite:///{Path(folder) / 'newswatch.db'}") as db,
        SmtpServer() as server,
    ):
        started = time.perf_counter()
        data = setup(db, options.subscribers)
        setup_s = time.perf_counter() - started
        mail = MailConfig(smtp_url=f"smtp://127.0.0.1:{server.port}", sender=SENDER)

        built, report, build, deliver = run_newswatch(db, data.subscribers, mail, server, profiles)
        count = len(data.subscribers)
        if len(built) != count or {b.articles for b in built} != {20}:
            sizes = sorted({b.articles for b in built})
            raise SystemExit(f"built {len(built)} digests of {sizes} articles, not {count} of 20")
        if report.sent != count:
            raise SystemExit(f"deliver_outbox: {report.summary()}; {report.errors[:3]}")
        messages = outbox_messages(db)
        expected = {message["Message-ID"] for message, _ in messages}
        ours = check_arrived(server, expected, "newswatch")

        server.reset()
        raw = run_smtplib(server, messages)
        raw_received = check_arrived(server, expected, "smtplib")
        with db.session() as session:
            html = session.scalar(select(func.avg(func.length(OutboxMessage.html))))

    rows = [
        _row("newswatch build+deliver", count, _sum(build, deliver), ours),
        _row("  build_digests", count, build, None),
        _row("  deliver_outbox", count, deliver, None),
        _row("smtplib one connection", count, raw, raw_received),
    ]
    newswatch = _sum(build, deliver)
    ratios = [
        # the target: messages/s (wall clock) of newswatch over those of smtplib
        ("ratio_vs_smtplib", raw.wall / newswatch.wall, "wall clock"),
        # the same from CPU seconds (this process + the server's): less sensitive to other load
        # on the machine, which stretches the wall clock of both
        (
            "ratio_vs_smtplib_cpu",
            (raw.cpu + raw.server_cpu) / (newswatch.cpu + newswatch.server_cpu),
            "bench + server CPU seconds, for comparison",
        ),
    ]
    _print_table(data, rows, setup_s, float(html or 0), options.profile)
    for row in rows:
        print(json.dumps({"bench": "digest", **row, "case": row["case"].strip()}))
    for name, ratio, basis in ratios:
        verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
        print(f"{name}: {ratio:.2f} ({basis}; target >= {TARGET_RATIO}: {verdict})")
    for name, ratio, _basis in ratios:
        line = {"bench": "digest", "case": name, "ratio": round(ratio, 3)}
        print(json.dumps({**line, "target": f">= {TARGET_RATIO}", "met": ratio >= TARGET_RATIO}))
    profiles.print()
    return 0


def _sum(first: Span, second: Span) -> Span:
    return Span(
        first.wall + second.wall, first.cpu + second.cpu, first.server_cpu + second.server_cpu
    )


def _row(case: str, messages: int, span: Span, received: Received | None) -> dict[str, Any]:
    return {
        "case": case,
        "messages": messages,
        "seconds": round(span.wall, 3),
        "messages_per_s": round(messages / span.wall, 1),
        "bench_cpu_s": round(span.cpu, 3),
        "server_cpu_s": round(span.server_cpu, 3),
        "arrived": None if received is None else len(received.message_ids),
        "kb_per_message": None if received is None else round(received.bytes / messages / 1024, 1),
    }


def _print_table(
    data: Setup, rows: list[dict[str, Any]], setup_s: float, html: float, profiled: bool
) -> None:
    print(
        f"digest bench: {len(data.subscribers)} subscribers x 20 matches, "
        f"{data.articles} articles (~{data.body_words:.0f}-word bodies), "
        f"{len(data.watchlists)} watchlists, {data.matches} matches via match_articles"
    )
    print(
        f"setup {setup_s:.1f}s (not timed); aiosmtpd in a separate process; "
        f"HTML part ~{html / 1024:.1f} KB (css inlined)"
        + ("; UNDER cProfile: times inflated" if profiled else "")
    )
    header = (
        f"{'case':<26}{'messages':>9}{'wall s':>9}{'msg/s':>8}{'cpu s':>8}{'srv cpu s':>10}"
        f"{'arrived':>8}{'KB/msg':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        arrived = "" if row["arrived"] is None else row["arrived"]
        kb = "" if row["kb_per_message"] is None else row["kb_per_message"]
        print(
            f"{row['case']:<26}{row['messages']:>9}{row['seconds']:>9.2f}"
            f"{row['messages_per_s']:>8}{row['bench_cpu_s']:>8.2f}{row['server_cpu_s']:>10.2f}"
            f"{arrived:>8}{kb:>7}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
