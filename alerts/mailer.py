"""Deliver the outbox: claim the pending messages, send each over a transport
(`alerts.transports`: SMTP or a Maildir), record what became of it.

Pending messages go out oldest first, one connection per batch; `alerts.outbox` says what
becomes of a message whose send fails, and how senders share the outbox. Every outcome is
committed on its own, and no database transaction stays open while the network is in use.

Copies can arrive twice only from the sends of a message whose outcome was lost (at most
``mail.uncertain_retries`` more, see `alerts.outbox`), and from a sender killed after the server
accepted a message and before it recorded so: the message goes again when its claim runs out.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import timedelta

from alerts.address import parse_address
from alerts.config import MailConfig
from alerts.mime import message_bytes
from alerts.outbox import (
    Failure,
    Settled,
    claim_all,
    due,
    lease_for,
    record_failure,
    record_sent,
)
from alerts.transports import (
    OutcomeUnknown,
    Transport,
    Unavailable,
    describe,
    failure_of,
    open_transport,
)
from store.clock import Clock
from store.db import Database
from store.models import OutboxMessage
from store.models import OutboxStatus as Status

log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    """What one run of the mailer did; ``errors`` has one line per message that did not go."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    uncertain: int = 0  # left uncertain: the server may have them, they are not sent again
    returned: int = 0  # matches of failed messages, given back to the subscribers' next digests
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        """Count ``other``'s outcomes (the channels' beside the email's) in this report."""
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        self.uncertain += other.uncertain
        self.returned += other.returned
        self.errors += other.errors

    def count_failure(self, settled: Settled, what: str) -> None:
        """Count a send that did not go, as `alerts.outbox.record_failure` left it; ``what``
        names the message in its error line."""
        if settled.status is Status.PENDING:
            self.retrying += 1
        elif settled.status is Status.UNCERTAIN:
            self.uncertain += 1
        else:
            self.failed += 1
        self.returned += settled.returned
        self.errors.append(f"{what}: {settled.last_error}")

    def summary(self) -> str:
        counts = (
            f"sent {self.sent}, retrying {self.retrying}, failed {self.failed}, "
            f"uncertain {self.uncertain}"
        )
        if self.returned:
            counts += f" ({self.returned} matches go into the next digests)"
        return counts


def deliver_outbox(
    db: Database,
    mail: MailConfig,
    *,
    clock: Clock,
    password: str | None = None,
    batch: int = 200,
) -> DeliveryReport:
    """Send every pending message that is due when it starts, oldest first; every time it
    records (claims, outcomes) is read from ``clock``.

    The SMTP password is ``mail.password`` (scheduler.config fills it from the environment);
    ``password`` overrides it. Batches of ``batch`` messages share one connection; when the
    server cannot be reached, the rest of the run waits for the next one. Messages another
    sender has claimed are left to it."""
    if password is None and mail.password is not None:
        password = mail.password.get_secret_value()
    started = clock()
    lease = lease_for(mail)
    report = DeliveryReport()
    done: set[int] = set()
    while ids := due(db, started, batch, exclude=done):
        done.update(ids)
        transport = open_transport(mail, password)
        try:
            reachable = _send_batch(db, transport, ids, mail, clock, lease, report)
        finally:
            transport.close()
        if not reachable or len(ids) < batch:
            break
    return report


def _send_batch(
    db: Database,
    transport: Transport,
    ids: list[int],
    mail: MailConfig,
    clock: Clock,
    lease: timedelta,
    report: DeliveryReport,
) -> bool:
    """Claim the messages ``ids`` and send them over one transport, in that order; False when it
    became unreachable (the rest are put off). Messages another sender holds are left to it."""
    sender = mail.sender.addr_spec
    rows = claim_all(db, ids, clock(), lease)
    position = 0
    while position < len(rows):
        row = rows[position]
        now = clock()
        if now >= row.next_attempt_at - lease / 2:
            # a slow batch: renew the claim on the rest before it can run out under us
            rest = [waiting.id for waiting in rows[position:]]
            rows[position:] = claim_all(db, rest, now, lease, held=row.next_attempt_at)
            continue
        position += 1
        try:
            recipient = parse_address(row.recipient, "recipient").addr_spec
        except ValueError as error:
            _failed(db, row, Failure.REFUSED, str(error), clock, mail, report)
            continue
        international = transport.utf8_addresses and not (sender + recipient).isascii()
        try:
            message = message_bytes(row, mail.sender, linesep=transport.linesep, utf8=international)
        except ValueError as error:
            _failed(db, row, Failure.PERMANENT, str(error), clock, mail, report)
            continue
        try:
            transport.send(message, sender, recipient)
        except Unavailable as error:
            for waiting in rows[position - 1 :]:
                _failed(db, waiting, Failure.TEMPORARY, describe(error), clock, mail, report)
            return False
        except (smtplib.SMTPException, OSError, OutcomeUnknown) as error:
            _failed(db, row, failure_of(error, recipient), describe(error), clock, mail, report)
            continue
        # The server has the message. Should we die before this commit, the message stays
        # pending and goes again when the lease ends: at most this one message is duplicated
        # (at-least-once).
        record_sent(db, row, clock())
        report.sent += 1
    return True


def _failed(
    db: Database,
    row: OutboxMessage,
    failure: Failure,
    reason: str,
    clock: Clock,
    mail: MailConfig,
    report: DeliveryReport,
) -> None:
    settled = record_failure(db, row, failure, reason, clock(), mail)
    if settled is None:  # another sender took it over
        return
    report.count_failure(settled, f"{row.recipient} {row.message_id}")
    log.warning("mail to %s %s: %s", row.recipient, row.message_id, settled.last_error)
