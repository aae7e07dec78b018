"""The outbox as a queue: senders claim messages and every send's outcome is recorded
(what an operator can do with a message that did not go is `alerts.requeue`).

The promises are Postfix's (retry with capped backoff, give up late, always tell someone):

* A temporary failure (4xx, no server) puts the message off, 1 minute after the first failure,
  doubling up to an hour, until ``mail.give_up_after`` after it was queued (or re-queued). Then
  it fails, and its matches are given back (``Delivery.returned_at``): the subscriber's next
  digest carries them, saying they are late.
* A permanent refusal of the recipient (5xx to RCPT, an address it cannot take) fails the
  message and keeps its matches: that address takes nothing. Any other permanent refusal (5xx
  to MAIL or to the message) fails it and gives its matches back.
* A send whose outcome was lost (the whole message went, the server's reply did not come) may
  have arrived. The message goes again, same Message-ID, at most ``mail.uncertain_retries``
  times; after that it is ``uncertain`` and stays so until an operator re-queues it (``send
  --retry``: one more send) or acknowledges it (`alerts.requeue`). A message that may have
  arrived is never given back: its matches could arrive twice.

A digest goes out as one row for the email and one per channel (`alerts.channel_delivery`),
each retried, failed or left uncertain on its own, under the same rules (a channel's 4xx other
than 408 and 429 is permanent; its Retry-After is honoured). The digest's matches are given back
only once every one of its rows has failed for good: while any row went, or may have, or may
still go, giving them back would repeat them there.

Claims: a sender takes the messages of a batch by moving their ``next_attempt_at`` a lease
ahead (and setting ``claimed_at``), in one conditional UPDATE only one sender can win for each
message; a claim about to run out mid-batch is renewed the same way. Should a sender die
holding a claim, its messages are due again when the lease runs out, with the same Message-IDs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, cast

from sqlalchemy import ColumnElement, Connection, Table, bindparam, select, update

from alerts.config import MailConfig
from store.db import Database
from store.models import Delivery, OutboxMessage
from store.models import OutboxStatus as Status

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=1)  # Postfix's maximal_backoff_time is 4000 s
# how long a claimed message is left to its sender, at the least (`lease_for`)
LEASE = timedelta(minutes=10)


class Failure(StrEnum):
    """What a failed send says about the message."""

    TEMPORARY = "temporary"  # try again later: 4xx, the server unreachable or gone
    PERMANENT = "permanent"  # this message cannot go: a 5xx to it, or it cannot be made
    REFUSED = "refused"  # the recipient is refused for good: 5xx to RCPT
    LOST = "lost"  # the whole message went, the server's reply did not come back


class RetryPolicy(Protocol):
    """How long a row is retried (``[mail]`` for the email, ``[channels]`` for the others)."""

    @property
    def give_up_after(self) -> float: ...  # seconds after it was queued, or re-queued

    @property
    def uncertain_retries(self) -> int: ...  # sends again after a lost outcome


def retry_delay(attempts: int) -> timedelta:
    """1 minute after the first failure, then 2, 4, 8, ... minutes, never more than an hour."""
    return min(FIRST_RETRY * (1 << min(max(attempts - 1, 0), 20)), MAX_RETRY)


def lease_for(mail: MailConfig) -> timedelta:
    """A claim outlasts the slowest send twice over: a batch renews its claim when half of it
    is left, so each message starts with time for a whole SMTP exchange at every timeout (about
    15 command round trips, then the wait for the reply to the message)."""
    slowest = timedelta(seconds=mail.data_timeout + 15 * mail.timeout)
    return max(LEASE, 2 * slowest)


_OUTBOX = cast(Table, OutboxMessage.__table__)
# built once: each call only binds values (statement construction is most of a short UPDATE)
_CLAIM = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.id.in_(bindparam("ids", expanding=True)),
        _OUTBOX.c.status == Status.PENDING,
        _OUTBOX.c.next_attempt_at <= bindparam("now"),
    )
    .values(next_attempt_at=bindparam("until"), claimed_at=bindparam("now"))
    .returning(*_OUTBOX.c)
)
_RENEW = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.id.in_(bindparam("ids", expanding=True)),
        _OUTBOX.c.status == Status.PENDING,
        _OUTBOX.c.next_attempt_at == bindparam("held"),
    )
    .values(next_attempt_at=bindparam("until"))
    .returning(*_OUTBOX.c)
)
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("row_id"), _OUTBOX.c.status != Status.SENT)
    .values(
        status=Status.SENT,
        sent_at=bindparam("now"),
        last_error=None,
        claimed_at=None,
        attempts=_OUTBOX.c.attempts + 1,
    )
)
_DELIVERIES = cast(Table, Delivery.__table__)
_GIVE_BACK = (
    update(_DELIVERIES)
    .where(
        _DELIVERIES.c.message_id.in_(bindparam("row_ids", expanding=True)),
        _DELIVERIES.c.returned_at.is_(None),
    )
    .values(returned_at=bindparam("now"))
)
# the rows of a digest, locked (PostgreSQL) while one of them is settled
_DIGEST_ROWS = (
    select(_OUTBOX.c.id, _OUTBOX.c.status)
    .where(_OUTBOX.c.digest_id == bindparam("digest_id"))
    .with_for_update()
)


def due(
    db: Database, now: datetime, batch: int, exclude: set[int], *, channels: bool = False
) -> list[int]:
    """The ids of up to ``batch`` pending, due emails (with ``channels``: channel rows),
    oldest first, read in a short transaction. Not yet claimed: the sender claims them
    (`claim_all`) just before sending."""
    query = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.status == Status.PENDING,
            OutboxMessage.next_attempt_at <= now,
            OutboxMessage.channel.is_not(None) if channels else OutboxMessage.channel.is_(None),
        )
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
        .limit(batch)
    )
    if exclude:
        query = query.where(OutboxMessage.id.not_in(exclude))
    with db.session() as session:
        return list(session.scalars(query))


def claim_all(
    db: Database,
    ids: list[int],
    now: datetime,
    lease: timedelta,
    *,
    held: datetime | None = None,
) -> list[OutboxMessage]:
    """Take the messages ``ids`` for this sender until ``now + lease``, those still pending and
    due; or, with ``held`` (the lease this sender holds them under), extend the claim on those
    still under it. The messages as they are now (``next_attempt_at`` being our lease), in the
    order of ``ids``, without those another sender got first. One short write transaction: the
    conditional UPDATE lets only one sender win each message."""
    if not ids:
        return []
    values: dict[str, object] = {"ids": ids, "until": now + lease}
    if held is None:
        statement, values["now"] = _CLAIM, now
    else:
        statement, values["held"] = _RENEW, held
    with db.engine.begin() as connection:
        claimed = connection.execute(statement, values).all()
    by_id = {row.id: OutboxMessage(**row._mapping) for row in claimed}
    return [by_id[row_id] for row_id in ids if row_id in by_id]


def claim(db: Database, row_id: int, now: datetime, lease: timedelta) -> OutboxMessage | None:
    """`claim_all` for one message: the row, or None when another sender got it first."""
    claimed = claim_all(db, [row_id], now, lease)
    return claimed[0] if claimed else None


def _ours(row: OutboxMessage) -> list[ColumnElement[bool]]:
    """Still pending and still under the lease this sender took (`claim`)."""
    return [
        _OUTBOX.c.id == row.id,
        _OUTBOX.c.status == Status.PENDING,
        _OUTBOX.c.next_attempt_at == row.next_attempt_at,
    ]


def record_sent(db: Database, row: OutboxMessage, now: datetime) -> None:
    """Mark the message sent; the server has it, so this holds even after our lease ran out
    (only a row another sender has already marked sent is left as it is)."""
    with db.engine.begin() as connection:
        marked = connection.execute(_MARK_SENT, {"row_id": row.id, "now": now})
    if marked.rowcount != 1:
        log.warning(
            "mail to %s %s was sent twice: our claim had run out", row.recipient, row.message_id
        )


@dataclass(frozen=True)
class Settled:
    """What a failed send made of the message."""

    status: Status  # pending: it goes again at ``next_attempt_at``
    last_error: str
    returned: int = 0  # matches given back to the subscriber's next digest


def record_failure(
    db: Database,
    row: OutboxMessage,
    failure: Failure,
    reason: str,
    now: datetime,
    policy: RetryPolicy,
    *,
    retry_after: timedelta | None = None,
) -> Settled | None:
    """Put the claimed message off with backoff (or when the service's ``retry_after`` says),
    or fail it, or leave it uncertain, as the module says; None when it was no longer ours.
    ``row`` is as `claim` read it; nobody else writes it while our lease holds, and should the
    lease have run out and another sender taken over, it is left to that one."""
    attempts, lost = row.attempts + 1, row.lost_outcomes + (failure is Failure.LOST)
    queued = row.requeued_at or row.created_at
    deadline = queued + timedelta(seconds=policy.give_up_after)
    status, error, retry_at = Status.PENDING, reason, None
    if failure is Failure.LOST:
        if lost <= policy.uncertain_retries:
            retry_at = now + retry_delay(attempts)
        else:
            status = Status.UNCERTAIN
    elif failure is Failure.TEMPORARY and now < deadline:
        wait = retry_delay(attempts) if retry_after is None else max(retry_after, timedelta(0))
        retry_at = min(now + wait, deadline)
    else:
        if failure is Failure.TEMPORARY:
            error = f"gave up after {_days(now - queued)} and {attempts} attempts: {reason}"
        if lost:  # an earlier send may have arrived: neither failed nor given back
            status = Status.UNCERTAIN
            error += f" (the outcome of {lost} earlier send{'s' * (lost > 1)} is unknown)"
        else:
            status = Status.FAILED
    values: dict[str, object] = {
        "attempts": attempts,
        "last_error": error,
        "lost_outcomes": lost,
        "claimed_at": None,
    }
    if retry_at is not None:
        values["next_attempt_at"] = retry_at
    else:
        values["status"] = status
    give_back = status is Status.FAILED and failure is not Failure.REFUSED
    returned = 0
    with db.engine.begin() as connection:
        digest = _digest_of(connection, row)
        recorded = connection.execute(update(_OUTBOX).where(*_ours(row)).values(**values))
        if recorded.rowcount == 1 and give_back and all_failed(digest, row.id):
            returned = connection.execute(
                _GIVE_BACK, {"row_ids": list(digest), "now": now}
            ).rowcount
    if recorded.rowcount != 1:
        log.warning(
            "mail to %s %s: %s (taken over by another sender)",
            row.recipient,
            row.message_id,
            reason,
        )
        return None
    return Settled(status, error, returned)


def _digest_of(connection: Connection, row: OutboxMessage) -> dict[int, Status]:
    """The status of each row of ``row``'s digest (its own included, as it was), locked on
    PostgreSQL so that two senders settling rows of one digest see each other's outcome. A
    row from before channels is a digest of its own."""
    if row.digest_id is None:
        return {row.id: row.status}
    found = connection.execute(_DIGEST_ROWS, {"digest_id": row.digest_id}).all()
    return {found_id: Status(status) for found_id, status in found}


def all_failed(digest: dict[int, Status], failing: int) -> bool:
    """Whether ``failing`` failing for good leaves none of the digest's rows sent, pending or
    uncertain: only then may its matches go into the next digest."""
    return all(status is Status.FAILED for row_id, status in digest.items() if row_id != failing)


def _days(span: timedelta) -> str:
    hours = round(span.total_seconds() / 3600)
    return f"{hours // 24}d {hours % 24}h" if hours % 24 else f"{hours // 24}d"
