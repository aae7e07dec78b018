"""`newswatch notify-test SUBSCRIBER`: a test message through each of a subscriber's channels,
now, with each one's outcome printed. Nothing goes into the outbox: it tests the URLs, the
secrets the environment gives them, and the services' answers."""

from __future__ import annotations

import argparse
import json
import os
from uuid import uuid4

from alerts.channel_send import ChannelFailure, send_channel
from alerts.channels import parse_channel
from alerts.config import SubscriberConfig
from scheduler.config import config_path, load_config
from scheduler.exits import EXIT_FAILURE, EXIT_OK, CommandError
from store.clock import Clock

TEST_TITLE = "newswatch: test message"


def add_notify_test(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser(
        "notify-test",
        help="send a test message through each of a subscriber's channels",
        description="Sends a short test message through every channel of the subscriber "
        "(chat, push, webhook; a webhook gets a digest document with no watchlists, signed as "
        "usual) and prints each outcome. Nothing is queued and nothing is retried. Exits 1 when "
        "a channel failed, or the subscriber has none.",
    )
    sub.add_argument(
        "subscriber",
        metavar="SUBSCRIBER",
        help="the subscriber's email, or name for one without email, as the config lists it",
    )
    sub.set_defaults(run=cmd_notify_test)


def cmd_notify_test(args: argparse.Namespace) -> int:
    path = config_path(args.config)
    config = load_config(path)
    subscriber = next((s for s in config.subscribers if s.key == args.subscriber), None)
    if subscriber is None:
        known = ", ".join(s.key for s in config.subscribers) or "none"
        raise CommandError(f"no subscriber {args.subscriber!r} in {path} (known: {known})")
    if not subscriber.channels:
        raise CommandError(f"{subscriber.key} has no channels (subscribers[].channels)")
    failed = 0
    for url in subscriber.channels:
        channel = parse_channel(url)
        digest_id = f"test-{uuid4().hex}"
        body = (
            _test_body(subscriber, digest_id, args.clock)
            if channel.format == "json"
            else (
                f"This is a test message from newswatch for **{subscriber.key}**: "
                "this channel works. Digests of "
                f"{', '.join(subscriber.watchlists)} will come here ({subscriber.schedule.text})."
            )
        )
        try:
            send_channel(
                channel,
                title=TEST_TITLE,
                body=body,
                digest_id=digest_id,
                environ=os.environ,
                timeout=config.channels.timeout,
            )
        except ChannelFailure as failure:
            failed += 1
            print(f"{channel.label}: failed ({failure.failure}): {failure.reason}")
        else:
            print(f"{channel.label}: sent")
    if failed:
        print(f"{failed} of {len(subscriber.channels)} channels failed")
        return EXIT_FAILURE
    return EXIT_OK


def _test_body(subscriber: SubscriberConfig, digest_id: str, clock: Clock) -> str:
    """The webhook's test document: a digest's shape, with no watchlists."""
    created = clock().isoformat()
    document = {"id": digest_id, "subscriber": subscriber.key, "created_at": created}
    return json.dumps(document | {"watchlists": []}, ensure_ascii=False, separators=(",", ":"))
