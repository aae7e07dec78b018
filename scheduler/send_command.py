"""`newswatch send`: deliver the outbox; with --retry first re-queue what waits (--failed: the
failed messages too), with --acknowledge accept failed or uncertain messages and send nothing;
with --loop go on sending until stopped, as an extra sender beside the service (on this machine
or another one on the same PostgreSQL): senders claim each message before sending it, so no
message goes twice however many run."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from alerts.requeue import acknowledge, requeue
from scheduler import jobs
from scheduler.config import AppConfig, config_path, load_config
from scheduler.exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CommandError
from store.db import Database

ERRORS_SHOWN = 10  # `send` prints this many of the messages that did not go
LOOP_EVERY = 5.0  # seconds between two rounds of `send --loop` that found nothing to send

log = logging.getLogger("newswatch.send")


def add_send(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser("send", help="deliver the outbox (SMTP, or the Maildir)")
    sub.add_argument(
        "--retry",
        action="store_true",
        help="first re-queue every uncertain message and every one waiting for its backoff",
    )
    sub.add_argument(
        "--failed", action="store_true", help="with --retry: re-queue failed messages too"
    )
    sub.add_argument(
        "--acknowledge",
        nargs="+",
        type=int,
        metavar="ID",
        help="mark these failed or uncertain messages (#ID in `status`) as seen; send nothing",
    )
    sub.add_argument(
        "--loop",
        action="store_true",
        help="go on sending until SIGTERM/SIGINT (the message being sent finishes): an extra "
        "sender beside the service; it takes no service lock",
    )
    sub.add_argument(
        "--every",
        type=_seconds,
        default=LOOP_EVERY,
        metavar="SECONDS",
        help=f"with --loop: seconds between rounds that found nothing to send ({LOOP_EVERY:g})",
    )
    sub.set_defaults(run=cmd_send)


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: not a number of seconds from 0 to 3600")
    return seconds


def cmd_send(args: argparse.Namespace) -> int:
    if args.failed and not args.retry:
        raise CommandError("--failed goes with --retry", EXIT_USAGE)
    if args.acknowledge and args.retry:
        raise CommandError("--acknowledge sends nothing: leave out --retry", EXIT_USAGE)
    if args.loop and (args.retry or args.acknowledge):
        raise CommandError("--loop only sends: leave out --retry and --acknowledge", EXIT_USAGE)
    config = load_config(config_path(args.config))
    if args.loop:
        return _send_loop(config, args)
    with Database(config.storage.url) as db:
        if args.acknowledge:
            handled = acknowledge(db, args.acknowledge, args.clock())
            for each in handled:
                print(each.line("acknowledged"))
            return EXIT_FAILURE if any(each.skipped for each in handled) else EXIT_OK
        if args.retry:
            handled = requeue(db, args.clock(), failed=args.failed)
            for each in handled:
                print(each.line("re-queued"))
            print(f"{sum(not each.skipped for each in handled)} messages re-queued")
        report = jobs.send_outbox(config, db, args.clock)
    print(report.summary())
    for error in report.errors[:ERRORS_SHOWN]:
        print(f"  {error}")
    if len(report.errors) > ERRORS_SHOWN:
        print(f"  … and {len(report.errors) - ERRORS_SHOWN} more (`newswatch status` lists them)")
    return EXIT_FAILURE if report.failed or report.uncertain else EXIT_OK


def _send_loop(config: AppConfig, args: argparse.Namespace) -> int:
    """Send rounds until stopped: the next at once after a round that sent something, else
    after ``--every`` seconds."""
    stopping = threading.Event()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: stopping.set())
    with Database(config.storage.url) as db:
        log.info("sender started: sending the outbox every %gs until stopped", args.every)
        while not stopping.is_set():
            report = jobs.send_outbox(config, db, args.clock)
            # the round logged what it did (newswatch.jobs); an idle one waits
            if not report.sent + report.retrying + report.failed + report.uncertain:
                stopping.wait(args.every)
    log.info("sender stopped")
    return EXIT_OK
