"""The operator's hand on the outbox: `newswatch send --retry [--failed]` re-queues what did
not go, `newswatch send --acknowledge ID...` marks failed or uncertain messages as known.

Both are short conditional UPDATEs, so a sender running meanwhile is never overruled: a
message it holds (claimed) is left to it, and a message whose matches were given back
(`alerts.outbox`) is re-queued only while no later digest has carried them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from store.db import Database
from store.models import Delivery, OutboxMessage
from store.models import OutboxStatus as Status

_OUTBOX = cast(Table, OutboxMessage.__table__)
_DELIVERIES = cast(Table, Delivery.__table__)


@dataclass(frozen=True)
class Handled:
    """A message an operator's command touched (or left, saying why)."""

    id: int
    recipient: str
    subject: str
    status: str  # what it was: pending (waiting for its backoff), uncertain, failed
    attempts: int
    last_error: str | None
    skipped: str | None = None  # why it was left as it was

    def line(self, verb: str) -> str:
        what = f"#{self.id} {self.status} {self.recipient} {self.subject!r}"
        if self.skipped:
            return f"not {verb} {what}: {self.skipped}"
        error = f": {self.last_error}" if self.last_error else ""
        return f"{verb} {what} ({self.attempts} attempts{error})"


_SHOWN = (
    _OUTBOX.c.id,
    _OUTBOX.c.recipient,
    _OUTBOX.c.subject,
    _OUTBOX.c.status,
    _OUTBOX.c.attempts,
    _OUTBOX.c.last_error,
)


def requeue(db: Database, now: datetime, *, failed: bool = False) -> list[Handled]:
    """`newswatch send --retry`: every pending message waiting for its backoff is due at
    ``now``; every uncertain message (not acknowledged) is pending again, for one more send
    (a 4xx is retried as usual; any final failure, or a lost reply, leaves it uncertain again);
    with ``failed``, failed ones (not acknowledged) too, taking back the matches they had given
    back. A failed message whose matches have gone into a later digest since is left: it would
    repeat them. ``give_up_after`` counts from ``now`` for the uncertain and failed messages
    re-queued (``requeued_at``); hurrying a waiting message does not extend its deadline."""
    handled: list[Handled] = []
    waiting = (
        update(_OUTBOX)
        .where(
            _OUTBOX.c.status == Status.PENDING,
            _OUTBOX.c.claimed_at.is_(None),
            _OUTBOX.c.next_attempt_at > now,
        )
        .values(next_attempt_at=now)
        .returning(*_SHOWN)
    )
    again = {
        "status": Status.PENDING,
        "next_attempt_at": now,
        "requeued_at": now,
        "claimed_at": None,
    }
    uncertain = (
        update(_OUTBOX)
        .where(_OUTBOX.c.status == Status.UNCERTAIN, _OUTBOX.c.acknowledged_at.is_(None))
        .values(**again)
        .returning(*_SHOWN)
    )
    with db.engine.begin() as connection:
        # RETURNING gives the new values: the old status is known from the statement
        for statement, was in ((waiting, Status.PENDING), (uncertain, Status.UNCERTAIN)):
            for row in connection.execute(statement).all():
                handled.append(
                    Handled(row.id, row.recipient, row.subject, was, row.attempts, row.last_error)
                )
    if failed:
        handled += [_requeue_failed(db, row, again) for row in _failed(db)]
    return sorted(handled, key=lambda each: each.id)


def _failed(db: Database) -> Sequence[Handled]:
    query = (
        select(*_SHOWN)
        .where(_OUTBOX.c.status == Status.FAILED, _OUTBOX.c.acknowledged_at.is_(None))
        .order_by(_OUTBOX.c.id)
    )
    with db.engine.connect() as connection:
        return [Handled(*row) for row in connection.execute(query).all()]


def _requeue_failed(db: Database, row: Handled, again: dict[str, object]) -> Handled:
    # the digest's deliveries point at its first row: those of this row's digest
    digest = select(_OUTBOX.c.digest_id).where(_OUTBOX.c.id == row.id).scalar_subquery()
    rows = select(_OUTBOX.c.id).where(or_(_OUTBOX.c.id == row.id, _OUTBOX.c.digest_id == digest))
    given = aliased(Delivery)
    taken = (
        select(func.count())
        .select_from(Delivery)
        .where(
            Delivery.message_id.in_(rows),
            Delivery.returned_at.is_not(None),
            exists().where(
                and_(
                    given.subscriber == Delivery.subscriber,
                    given.match_id == Delivery.match_id,
                    given.returned_at.is_(None),
                )
            ),
        )
    )
    take_back = (
        update(_DELIVERIES)
        .where(_DELIVERIES.c.message_id.in_(rows), _DELIVERIES.c.returned_at.is_not(None))
        .values(returned_at=None)
    )
    try:
        with db.engine.begin() as connection:
            later = connection.execute(taken).scalar_one()
            if later:
                why = f"{later} of its matches went into a later digest: it would repeat them"
                return _skip(row, why)
            moved = connection.execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.id == row.id, _OUTBOX.c.status == Status.FAILED)
                .values(**again)
            )
            if moved.rowcount != 1:
                return _skip(row, "it changed meanwhile")
            connection.execute(take_back)
    except IntegrityError:  # a digest took one of its matches meanwhile
        return _skip(row, "a digest took its matches meanwhile: it would repeat them")
    return row


def _skip(row: Handled, why: str) -> Handled:
    return Handled(row.id, row.recipient, row.subject, row.status, row.attempts, None, why)


def acknowledge(db: Database, ids: Sequence[int], now: datetime) -> list[Handled]:
    """`newswatch send --acknowledge ID...`: the failed or uncertain messages ``ids`` are known
    to the operator; `status` shows them only as a count ("acknowledged (not shown)"),
    `status --check` no longer counts them. Nothing is sent. Ids that are not failed or
    uncertain (or already acknowledged) are reported as skipped."""
    marked = (
        update(_OUTBOX)
        .where(
            _OUTBOX.c.id.in_(list(ids)),
            _OUTBOX.c.status.in_([Status.FAILED, Status.UNCERTAIN]),
            _OUTBOX.c.acknowledged_at.is_(None),
        )
        .values(acknowledged_at=now)
        .returning(*_SHOWN)
    )
    with db.engine.begin() as connection:
        done = {row.id: Handled(*row) for row in connection.execute(marked).all()}
        others = connection.execute(
            select(*_SHOWN, _OUTBOX.c.acknowledged_at).where(
                _OUTBOX.c.id.in_([i for i in ids if i not in done])
            )
        ).all()
    found = {row.id: row for row in others}
    handled = []
    for row_id in dict.fromkeys(ids):
        if row_id in done:
            handled.append(done[row_id])
        elif row_id in found:
            row = found[row_id]
            why = "acknowledged already" if row.acknowledged_at else "not failed or uncertain"
            handled.append(_skip(Handled(*row[:6]), why))
        else:
            handled.append(Handled(row_id, "?", "?", "unknown", 0, None, "no such message"))
    return handled
