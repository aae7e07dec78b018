"""Deliver the outbox's channel rows: chat, push and webhook messages (`alerts.channels`), with
the promises the email has (`alerts.outbox`).

Rows go out oldest first, a few batches of ``4 × channels.concurrency`` at a time. A batch is
claimed before anything of it is sent, then sent ``channels.concurrency`` at a time, each row
on its own: a service that hangs holds up one worker for at most ``channels.timeout`` twice
(connecting, then waiting for the answer), never the other channels, and never the email (the
service sends mail beside this, `scheduler.jobs`). Every outcome is committed on its own, and no
database transaction stays open while the network is in use.

A killed sender leaves its claimed rows pending; they are due again when the lease runs out.
A row that went just before the kill goes again then: a webhook receiver knows it by its
``Idempotency-Key`` (the digest id), the same in every send of the digest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from alerts.channel_send import ChannelFailure, send_channel
from alerts.channels import parse_channel
from alerts.config import ChannelsConfig
from alerts.mailer import DeliveryReport
from alerts.outbox import (
    LEASE,
    Failure,
    Settled,
    claim_all,
    due,
    record_failure,
    record_sent,
)
from store.clock import Clock
from store.db import Database
from store.models import OutboxMessage

log = logging.getLogger(__name__)

BATCHES_PER_WORKER = 4  # a batch holds this many rows per worker


def lease_for_channels(channels: ChannelsConfig) -> timedelta:
    """A claim outlasts the slowest batch twice over: each worker sends
    BATCHES_PER_WORKER rows, each waiting at most the timeout to connect and again for the
    answer."""
    slowest = timedelta(seconds=BATCHES_PER_WORKER * 2 * channels.timeout)
    return max(LEASE, 2 * slowest)


@dataclass(frozen=True)
class _Outcome:
    row: OutboxMessage
    sent: bool
    settled: Settled | None = None  # for a failure: what became of the row (None: not ours)


def deliver_channels(
    db: Database,
    channels: ChannelsConfig,
    *,
    clock: Clock,
    environ: Mapping[str, str],
) -> DeliveryReport:
    """Send every channel row that is due when it starts; ``environ`` holds the secrets the
    channel URLs name (``${VARIABLE}``) and the webhook's signing key."""
    started = clock()
    lease = lease_for_channels(channels)
    batch = BATCHES_PER_WORKER * channels.concurrency
    report = DeliveryReport()
    done: set[int] = set()
    with ThreadPoolExecutor(channels.concurrency, thread_name_prefix="channel") as pool:
        while ids := due(db, started, batch, exclude=done, channels=True):
            done.update(ids)
            rows = claim_all(db, ids, clock(), lease)
            for outcome in pool.map(lambda row: _send_one(db, row, channels, clock, environ), rows):
                _count(outcome, report)
            if len(ids) < batch:
                break
    return report


def _send_one(
    db: Database,
    row: OutboxMessage,
    channels: ChannelsConfig,
    clock: Clock,
    environ: Mapping[str, str],
) -> _Outcome:
    assert row.channel is not None  # `due` gave channel rows only
    try:
        channel = parse_channel(row.channel)
    except ValueError as error:  # a row written by a newswatch that knew this URL
        failure = ChannelFailure(Failure.PERMANENT, f"the channel cannot be used: {error}")
    else:
        try:
            send_channel(
                channel,
                title=row.subject,
                body=row.text,
                digest_id=row.digest_id or row.message_id,
                environ=environ,
                timeout=channels.timeout,
            )
        except ChannelFailure as raised:
            failure = raised
        else:
            # The service has it. Should we die before this commit, the row stays pending
            # and goes again when the lease ends, with the same Idempotency-Key.
            record_sent(db, row, clock())
            return _Outcome(row, sent=True)
    settled = record_failure(
        db,
        row,
        failure.failure,
        failure.reason,
        clock(),
        channels,
        retry_after=failure.retry_after,
    )
    return _Outcome(row, sent=False, settled=settled)


def _count(outcome: _Outcome, report: DeliveryReport) -> None:
    if outcome.sent:
        report.sent += 1
        return
    settled = outcome.settled
    if settled is None:  # another sender took it over
        return
    row = outcome.row
    label = channel_label(row.channel)
    report.count_failure(settled, f"{row.recipient} via {label}")
    log.warning("channel %s of %s: %s", label, row.recipient, settled.last_error)


def channel_label(url: str | None) -> str:
    """How `status`, `send` and the logs name a row's channel: never with a secret."""
    if url is None:
        return "email"
    try:
        return parse_channel(url).label
    except ValueError:
        return f"{url.partition(':')[0]}://…"
