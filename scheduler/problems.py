"""The service's own problems, kept in the ``problems`` table, and the operator told once.

:func:`sync_problems` keeps the table in step with `scheduler.health.health_problems`: a key
not open yet opens a row (``started_at`` now), an open key seen again updates its text and
``last_seen_at``, an open key no longer seen ends (``ended_at`` now). Silenced keys
(``[alerts] silence``) get rows too, so `status` can show them, marked silenced.

:func:`notify_operator` tells the operator (``[alerts] operator`` by mail, ``operator_channels``
through `alerts.channel_send`) of every start not told yet, in one message per cycle, and of
every end of a problem whose start was told (the all-clear), in one more; silenced problems are
never told. When SMTP will not take the message, it goes into the Maildir
``[alerts] operator_maildir`` and ``notify_error`` says why; the problem counts as told either
way, so nothing is sent once per cycle. With nobody to tell, a start is logged at WARNING and
an end at INFO, once each.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import select

from alerts.channel_send import ChannelFailure, send_channel
from alerts.channels import parse_channel
from alerts.transports import (
    MaildirTransport,
    OutcomeUnknown,
    Unavailable,
    describe,
    open_transport,
)
from scheduler.config import AppConfig
from scheduler.health import Problem, health_problems
from scheduler.time_text import iso
from store.clock import Clock
from store.db import Database
from store.models import Problem as ProblemRow

log = logging.getLogger("newswatch.problems")

RECENTLY_ENDED = 10  # ended problems `status` lists beside the open ones


@dataclass(frozen=True)
class KeptProblem:
    """A row of the problems table as `status` and the dashboard show it."""

    key: str
    text: str
    started_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None
    start_notified_at: datetime | None
    end_notified_at: datetime | None
    notify_error: str | None
    silenced: bool

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "text": self.text,
            "started_at": iso(self.started_at),
            "last_seen_at": iso(self.last_seen_at),
            "ended_at": iso(self.ended_at),
            "start_notified_at": iso(self.start_notified_at),
            "end_notified_at": iso(self.end_notified_at),
            "notify_error": self.notify_error,
            "silenced": self.silenced,
        }


@dataclass
class Notified:
    """What one run of :func:`check_problems` did."""

    started: list[str] = field(default_factory=list)  # keys opened
    ended: list[str] = field(default_factory=list)  # keys ended
    told_start: list[str] = field(default_factory=list)
    told_end: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # why SMTP or a channel did not take it


def sync_problems(db: Database, problems: Sequence[Problem], now: datetime) -> Notified:
    """Open, update and end rows so that the open ones are exactly ``problems``' keys."""
    current: dict[str, str] = {}
    for problem in problems:
        current.setdefault(problem.key, str(problem))
    done = Notified()
    with db.session() as session:
        open_rows = session.scalars(select(ProblemRow).where(ProblemRow.ended_at.is_(None))).all()
        seen = set()
        for row in open_rows:
            if row.key in current:
                row.text, row.last_seen_at = current[row.key], now
                seen.add(row.key)
            else:
                row.ended_at = now
                done.ended.append(row.key)
        for key, text in current.items():
            if key not in seen:
                session.add(ProblemRow(key=key, text=text, started_at=now, last_seen_at=now))
                done.started.append(key)
        session.commit()
    return done


def check_problems(
    config: AppConfig, db: Database, clock: Clock, environ: Mapping[str, str] | None = None
) -> Notified:
    """One cycle: the health rules, the table in step with them, the operator told."""
    from scheduler.status_queries import collect_status

    now = clock()
    done = sync_problems(db, health_problems(collect_status(config, db, now)), now)
    told = notify_operator(config, db, clock, os.environ if environ is None else environ)
    done.told_start, done.told_end, done.errors = told.told_start, told.told_end, told.errors
    return done


def notify_operator(
    config: AppConfig, db: Database, clock: Clock, environ: Mapping[str, str]
) -> Notified:
    """Tell of the starts and ends not told yet (see the module's docstring)."""
    alerts = config.alerts
    done = Notified()
    with db.session() as session:
        rows = session.scalars(
            select(ProblemRow)
            .where(
                (ProblemRow.start_notified_at.is_(None) & ProblemRow.ended_at.is_(None))
                | (
                    ProblemRow.ended_at.is_not(None)
                    & ProblemRow.start_notified_at.is_not(None)
                    & ProblemRow.end_notified_at.is_(None)
                )
            )
            .order_by(ProblemRow.started_at, ProblemRow.id)
        ).all()
        rows = [row for row in rows if not alerts.silenced(row.key)]
        # a problem that began and ended between two cycles' notifications is told of neither
        starts = [row for row in rows if row.start_notified_at is None]
        ends = [row for row in rows if row.start_notified_at is not None]
        for batch, starting in ((starts, True), (ends, False)):
            if not batch:
                continue
            error = _tell(config, batch, starting, clock(), environ)
            now = clock()
            for row in batch:
                if starting:
                    row.start_notified_at = now
                    done.told_start.append(row.key)
                else:
                    row.end_notified_at = now
                    done.told_end.append(row.key)
                if error:
                    row.notify_error = error
            if error:
                done.errors.append(error)
        session.commit()
    return done


def _tell(
    config: AppConfig,
    rows: Sequence[ProblemRow],
    starting: bool,
    now: datetime,
    environ: Mapping[str, str],
) -> str | None:
    """Send one message about ``rows``; None when every way took it, else why one did not."""
    alerts = config.alerts
    if starting:
        subject = (
            f"newswatch: problem: {rows[0].text}"
            if len(rows) == 1
            else f"newswatch: {len(rows)} problems started"
        )
        lines = [f"since {iso(row.started_at)}: {row.text}  [{row.key}]" for row in rows]
    else:
        subject = (
            f"newswatch: all clear: {rows[0].text}"
            if len(rows) == 1
            else f"newswatch: all clear: {len(rows)} problems ended"
        )
        lines = [
            f"ended {iso(row.ended_at)} (since {iso(row.started_at)}): {row.text}  [{row.key}]"
            for row in rows
        ]
    body = "\n".join(lines) + '\n\nSilence a known problem with [alerts] silence = ["<key>"].\n'
    if not alerts.operator and not alerts.operator_channels:
        for line in lines:
            if starting:
                log.warning("problem started (no operator to tell): %s", line)
            else:
                log.info("problem ended (no operator to tell): %s", line)
        return None
    for line in lines:
        log.log(logging.WARNING if starting else logging.INFO, "operator told: %s", line)
    errors = []
    if alerts.operator:
        error = _mail(config, subject, body, now)
        if error:
            errors.append(error)
    document = json.dumps(
        {
            "type": "problems.started" if starting else "problems.ended",
            "problems": [
                {
                    "key": row.key,
                    "text": row.text,
                    "started_at": iso(row.started_at),
                    "ended_at": iso(row.ended_at),
                }
                for row in rows
            ],
        },
        ensure_ascii=False,
    )
    event = f"{'start' if starting else 'end'}-{'-'.join(str(row.id) for row in rows)}"
    for url in alerts.operator_channels:
        channel = parse_channel(url)
        try:
            send_channel(
                channel,
                title=subject,
                body=document if channel.kind == "webhook" else body,
                digest_id=f"problems-{event}",
                environ=environ,
                timeout=config.channels.timeout,
            )
        except ChannelFailure as failed:
            log.error("operator alert through %s: %s", channel.label, failed.reason)
            errors.append(f"{channel.label}: {failed.reason}")
    return "; ".join(errors) or None


def _mail(config: AppConfig, subject: str, body: str, now: datetime) -> str | None:
    """Mail the operator over the [mail] transport; into ``operator_maildir`` when it will not
    take the message. None when sent, else why SMTP did not take it."""
    mail, operator = config.mail, config.alerts.operator
    assert operator is not None
    message = EmailMessage()
    message["From"] = str(mail.sender)
    message["To"] = operator
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid("problems", mail.sender.domain or "localhost")
    message.set_content(body)
    sender = mail.sender.addr_spec
    password = mail.password.get_secret_value() if mail.password else None
    transport = open_transport(mail, password)
    try:
        transport.send(_bytes(message, transport.linesep), sender, operator)
        return None
    except (smtplib.SMTPException, OSError, OutcomeUnknown, Unavailable) as error:
        why = describe(error)
    finally:
        transport.close()
    fallback = MaildirTransport(config.alerts.operator_maildir)
    try:
        fallback.send(_bytes(message, fallback.linesep), sender, operator)
    except (OSError, Unavailable) as error:
        log.error("operator alert lost: mail: %s; Maildir: %s", why, describe(error))
        return f"mail: {why}; Maildir {fallback.path}: {describe(error)}"
    log.error("operator alert put into the Maildir %s: mail: %s", fallback.path, why)
    return f"mail: {why} (put into the Maildir {fallback.path})"


def _bytes(message: EmailMessage, linesep: str) -> bytes:
    return message.as_bytes(policy=message.policy.clone(linesep=linesep))


def kept_problems(config: AppConfig, db: Database) -> list[KeptProblem]:
    """The open problems, oldest first, then the last few that ended, newest first."""
    with db.session() as session:
        open_rows = session.scalars(
            select(ProblemRow)
            .where(ProblemRow.ended_at.is_(None))
            .order_by(ProblemRow.started_at, ProblemRow.id)
        ).all()
        ended = session.scalars(
            select(ProblemRow)
            .where(ProblemRow.ended_at.is_not(None))
            .order_by(ProblemRow.ended_at.desc(), ProblemRow.id.desc())
            .limit(RECENTLY_ENDED)
        ).all()
        return [
            KeptProblem(
                key=row.key,
                text=row.text,
                started_at=row.started_at,
                last_seen_at=row.last_seen_at,
                ended_at=row.ended_at,
                start_notified_at=row.start_notified_at,
                end_notified_at=row.end_notified_at,
                notify_error=row.notify_error,
                silenced=config.alerts.silenced(row.key),
            )
            for row in [*open_rows, *ended]
        ]
