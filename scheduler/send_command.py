"""`newswatch send`: deliver the outbox; with --retry first re-queue what waits (--failed: the
failed messages too), with --acknowledge accept failed or uncertain messages and send nothing."""

from __future__ import annotations

import argparse

from alerts.requeue import acknowledge, requeue
from scheduler import jobs
from scheduler.config import config_path, load_config
from scheduler.exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CommandError
from store.db import Database

ERRORS_SHOWN = 10  # `send` prints this many of the messages that did not go


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
    sub.set_defaults(run=cmd_send)


def cmd_send(args: argparse.Namespace) -> int:
    if args.failed and not args.retry:
        raise CommandError("--failed goes with --retry", EXIT_USAGE)
    if args.acknowledge and args.retry:
        raise CommandError("--acknowledge sends nothing: leave out --retry", EXIT_USAGE)
    config = load_config(config_path(args.config))
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
