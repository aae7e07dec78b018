"""`newswatch subscriber resume EMAIL`: the operator's undo of what a subscriber chose on the
web that stops their mail (an unsubscribe, a pause, watchlists they left). Their own schedule
and time zone are kept: those change when mail comes, not whether. `newswatch status` shows
every subscriber's choices."""

from __future__ import annotations

import argparse
from datetime import datetime

from scheduler.config import config_path, load_config
from scheduler.exits import EXIT_FAILURE, EXIT_OK, CommandError
from scheduler.time_text import clock_time
from store.db import Database
from store.subscriber_choices import Choices, choices_of, resume


def add_subscriber(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser(
        "subscriber",
        help="undo a subscriber's unsubscribe, pause or left watchlists",
        description="What subscribers choose on their preferences page overrides the config "
        "file; `newswatch status` shows it.",
    )
    actions = sub.add_subparsers(dest="action", metavar="ACTION", required=True)
    again = actions.add_parser(
        "resume",
        help="mail this subscriber again as the config says",
        description="Clears the subscriber's unsubscribe, pause and left watchlists, so that "
        "their next digest comes as the config file says (their own schedule and time zone, "
        "if they chose one, are kept). Prints what was undone; exits 1 for an email that is "
        "not a subscriber in the config, or one with nothing to undo.",
    )
    again.add_argument("email", metavar="EMAIL", help="as the config's [[subscribers]] lists it")
    again.set_defaults(run=cmd_resume)


def cmd_resume(args: argparse.Namespace) -> int:
    path = config_path(args.config)
    config = load_config(path)
    if args.email not in {subscriber.key for subscriber in config.subscribers}:
        raise CommandError(f"{args.email} is not a subscriber in {path}", EXIT_FAILURE)
    now = args.clock()
    with Database(config.storage.url) as db:
        with db.session() as session:
            before = choices_of(session, [args.email]).get(args.email)
        undone = _stopping(before, now) if before else []
        if not undone:
            raise CommandError(
                f"{args.email}: nothing to undo (not unsubscribed, not paused, no watchlist left)",
                EXIT_FAILURE,
            )
        resume(db, args.email, now)
    print(f"{args.email}: resumed; undid {', '.join(undone)}")
    return EXIT_OK


def _stopping(choices: Choices, now: datetime) -> list[str]:
    """What in ``choices`` holds the subscriber's mail back at ``now``, in words."""
    found: list[str] = []
    if choices.unsubscribed_at is not None:
        found.append(f"the unsubscribe of {clock_time(choices.unsubscribed_at, now)}")
    if choices.paused(now):
        found.append(f"the pause until {clock_time(choices.paused_until, now)}")
    if choices.left_watchlists:
        found.append(f"leaving {', '.join(choices.left_watchlists)}")
    return found
