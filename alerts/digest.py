"""Building digests: each due subscriber's undelivered matches become one digest: an outbox
row for their email and one for each of their channels (chat, push, webhooks).

The OutboxMessage rows (sharing one ``digest_id``), its Delivery rows and the subscriber's
state are written in one transaction, so a crash leaves either a complete digest waiting to be
sent or nothing at all; the unique (subscriber, match) of the Delivery rows not returned means
no match is ever put in two digests. A digest none of whose rows could go (each failed for
good) gives its matches back (`alerts.outbox`): they go into the subscriber's next digest
whatever their age, which says they are late.

A digest whose templates fail to render (TemplateProblem) is not built: the subscriber's state
stays, so their matches wait, undelivered, for the next build, and the other subscribers'
digests are built as usual. The failure is kept where `newswatch status` sees it: one
"not_rendered" outbox row per such subscriber, without deliveries (never sent, nothing lost),
its ``last_error`` the problem and ``attempts`` the builds that failed. The next digest that
renders for them removes it.

What subscribers chose on the web overrides the config (`alerts.subscribers`): who
unsubscribed, left every watchlist or paused is mailed nothing, but their schedule moves on as
for an empty digest: whoever comes back (resubscribes, rejoins, the pause ends) gets what
matched since, not the backlog of their absence. The choices are read with
the states, in the same few queries. With ``links`` every digest carries the subscriber's
signed "manage" and one-click unsubscribe addresses (the outbox row keeps the latter for the
List-Unsubscribe header); without, the footer names the sender's address.

Which matches a digest gets is `alerts.digest_candidates`', how they are shown
`alerts.digest_view`'s; this module decides who is due, renders, and writes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import make_msgid
from hashlib import sha256
from typing import cast
from uuid import uuid4

from sqlalchemy import Connection, Table, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts.channel_render import webhook_document
from alerts.channels import parse_channel
from alerts.config import ChannelsConfig, MailConfig, SubscriberConfig
from alerts.digest_candidates import Candidate, DueSubscriber, chunks, undelivered_matches
from alerts.digest_view import EntryCache, digest_view
from alerts.render import Digest, DigestRenderer, Rendered
from alerts.sandbox import TemplateProblem
from alerts.subscribers import with_choices
from store.db import Database
from store.links import Links
from store.models import Delivery, OutboxMessage, OutboxStatus, SubscriberState
from store.subscriber_choices import Choices, choices_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuiltDigest:
    recipient: str  # the subscriber's key
    subject: str
    articles: int
    outbox_id: int  # the digest's first row (its email, if any)
    channels: int = 0  # its rows for channels


class Digests(list[BuiltDigest]):
    """The digests a build put into the outbox; ``not_rendered``: the subscribers whose digest
    failed to render, with the problem (recorded in the outbox as not rendered)."""

    def __init__(self) -> None:
        super().__init__()
        self.not_rendered: dict[str, str] = {}


class _Unrenderable:
    """Stands in for a renderer that could not be made: every digest fails with its problem."""

    def __init__(self, problem: TemplateProblem) -> None:
        self.problem = problem

    def render(self, digest: Digest) -> Rendered:
        raise self.problem

    def render_markdown(self, digest: Digest, **_: object) -> Rendered:
        raise self.problem


class _Raced(Exception):
    """Another builder moved this subscriber's state since it was read."""


_STATES = cast(Table, SubscriberState.__table__)
# the statements of the writes, built once: each digest only binds its values
_INSERT_STATE = insert(_STATES)
_MOVE_STATE = (
    update(_STATES)
    .where(_STATES.c.email == bindparam("was_email"))
    .where(_STATES.c.last_digest_at == bindparam("was_at"))
)
_MOVE_NULL_STATE = (
    update(_STATES)
    .where(_STATES.c.email == bindparam("was_email"))
    .where(_STATES.c.last_digest_at.is_(None))
)
_OUTBOX = cast(Table, OutboxMessage.__table__)
_INSERT_OUTBOX = insert(_OUTBOX)
# the outbox row that stands for a subscriber's digest that did not render
NOT_RENDERED_SUBJECT = "(digest not rendered)"
_NOT_RENDERED_PREFIX = "<not-rendered."
_CLEAR_NOT_RENDERED = delete(_OUTBOX).where(_OUTBOX.c.message_id == bindparam("not_rendered"))
_INSERT_DELIVERIES = insert(cast(Table, Delivery.__table__))


def build_digests(
    db: Database,
    subscribers: Sequence[SubscriberConfig],
    mail: MailConfig,
    *,
    now: datetime,
    force: bool = False,
    renderer: DigestRenderer | None = None,
    links: Links | None = None,
    channels: ChannelsConfig | None = None,
) -> Digests:
    """A digest for every subscriber who is due at ``now`` (or every one, with ``force``), as
    their choices make them; ``links``: the signed addresses of their pages (None: no web app,
    the footer names the sender's address instead).

    The states and the candidate matches of all due subscribers are read up front, in a few
    queries; each digest is then written in its own transaction, which refuses it (skips that
    subscriber) if another builder changed the subscriber's state or took one of its matches
    in the meantime."""
    using: DigestRenderer | _Unrenderable
    try:
        using = renderer or DigestRenderer(mail.templates or None)
    except TemplateProblem as problem:  # the folder went away: no digest renders
        using = _Unrenderable(problem)
    # the same article in many digests: entries are shared
    build = _Build(mail, channels or ChannelsConfig(), mail.sender.addr_spec, using, {}, links)
    built = Digests()
    failing = _not_rendered_recipients(db)
    # a subscriber listed twice is built again after the first, from what that one wrote
    rounds: list[dict[str, SubscriberConfig]] = []
    for subscriber in subscribers:
        for batch in rounds:
            if subscriber.key not in batch:
                batch[subscriber.key] = subscriber
                break
        else:
            rounds.append({subscriber.key: subscriber})
    for batch in rounds:
        with db.session() as session:
            due, held = _due_subscribers(session, list(batch.values()), now, force)
            mailed = [each for each in due if each.subscriber.key not in held]
            matches = undelivered_matches(session, mailed, now)
        for each in due:
            key = each.subscriber.key
            mine = matches.get(key, [])  # held back: none, and the schedule moves on
            try:
                digest = _build_one(build, db, each, mine, now, key in failing)
            except (IntegrityError, _Raced):  # another builder took these: they are sent once
                log.warning("digest for %s was built concurrently; skipped", key)
                continue
            except TemplateProblem as problem:
                log.error(
                    "digest for %s not built: %s; its %d matches wait for the next digest",
                    key,
                    problem,
                    len(mine),
                )
                _record_not_rendered(db, key, str(problem), now)
                failing.add(key)
                built.not_rendered[key] = str(problem)
                continue
            if digest is not None:
                built.append(digest)
    return built


def not_rendered_id(email: str) -> str:
    """The Message-ID of the "not rendered" outbox row that says this subscriber's digest did not
    render: one per subscriber (never sent; ``.invalid`` is no domain)."""
    return f"{_NOT_RENDERED_PREFIX}{sha256(email.encode()).hexdigest()[:32]}@newswatch.invalid>"


def _not_rendered_recipients(db: Database) -> set[str]:
    with db.session() as session:
        rows = session.scalars(
            select(OutboxMessage.recipient).where(
                OutboxMessage.status == OutboxStatus.NOT_RENDERED,
                OutboxMessage.message_id.startswith(_NOT_RENDERED_PREFIX, autoescape=True),
            )
        )
        return set(rows)


def _record_not_rendered(db: Database, email: str, problem: str, now: datetime) -> None:
    """Keep the problem where `newswatch status` shows it: the subscriber's one "not rendered"
    outbox row (never sent, never re-queued), its ``attempts`` counting the builds that
    failed."""
    message_id = not_rendered_id(email)
    with db.session() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.message_id == message_id))
        if row is None:
            row = OutboxMessage(
                message_id=message_id,
                recipient=email,
                subject=NOT_RENDERED_SUBJECT,
                text="",
                html="",
                attempts=0,
                created_at=now,
            )
            session.add(row)
        row.status = OutboxStatus.NOT_RENDERED
        row.attempts += 1
        row.last_error = f"digest not rendered: {problem}"
        row.next_attempt_at = now
        session.commit()


def _due_subscribers(
    session: Session, subscribers: Sequence[SubscriberConfig], now: datetime, force: bool
) -> tuple[list[DueSubscriber], set[str]]:
    """The subscribers whose schedule (theirs, if they chose one) says a digest is due at
    ``now`` (all, with ``force``), as their choices make them, with their state as read; and
    the emails of those held back, who paused, unsubscribed or left every watchlist (due, so
    that their schedule moves on, but mailed nothing)."""
    emails = [subscriber.key for subscriber in subscribers]
    states: dict[str, datetime | None] = {}
    choices: dict[str, Choices] = {}
    for chunk in chunks(emails):
        rows = session.execute(
            select(SubscriberState.email, SubscriberState.last_digest_at).where(
                SubscriberState.email.in_(chunk)
            )
        )
        states.update(rows.all())
        choices.update(choices_of(session, chunk))
    due: list[DueSubscriber] = []
    held: set[str] = set()
    for configured in subscribers:
        effective = with_choices(configured, choices.get(configured.key))
        subscriber, last = effective.subscriber, states.get(configured.key)
        if force or subscriber.schedule.is_due(now, last):
            due.append(DueSubscriber(subscriber, subscriber.key in states, last))
            if not effective.mailed or effective.paused(now):
                held.add(subscriber.key)
    return due, held


@dataclass(frozen=True)
class _Build:
    """What every digest of a build is made with."""

    mail: MailConfig
    channels: ChannelsConfig
    sender: str
    renderer: DigestRenderer | _Unrenderable
    entries: EntryCache
    links: Links | None


def _build_one(
    build: _Build,
    db: Database,
    due: DueSubscriber,
    matches: list[Candidate],
    now: datetime,
    was_not_rendered: bool = False,
) -> BuiltDigest | None:
    """Raises TemplateProblem, having written nothing, when the digest does not render."""
    subscriber, links = due.subscriber, build.links
    unsubscribe_url = links.unsubscribe_url(subscriber.key) if links else None
    if not matches:  # no empty digests; the schedule still moves on
        with db.session() as session:
            _record_state(session.connection(), due, now)
            session.commit()
        return None
    manage_url = links.preferences_url(subscriber.key) if links else None
    digest = digest_view(
        subscriber,
        matches,
        build.sender,
        build.entries,
        manage_url=manage_url,
        unsubscribe_url=unsubscribe_url,
    )
    digest_id = uuid4().hex
    rows = _outbox_rows(build, subscriber, digest, matches, digest_id, unsubscribe_url, now)
    with db.session() as session:
        connection = session.connection()
        _record_state(connection, due, now)
        ids = [connection.execute(_INSERT_OUTBOX, row).inserted_primary_key for row in rows]
        first = ids[0]
        assert first is not None  # an INSERT of one row
        connection.execute(
            _INSERT_DELIVERIES,
            [
                {
                    "subscriber": subscriber.key,
                    "match_id": m.id,
                    "message_id": first[0],
                    "created_at": now,
                }
                for m in matches
            ],
        )
        if was_not_rendered:  # this one rendered: the problem is over
            connection.execute(
                _CLEAR_NOT_RENDERED, {"not_rendered": not_rendered_id(subscriber.key)}
            )
        session.commit()
    subject = str(rows[0]["subject"])
    log.info("digest for %s: %s (%d outbox rows)", subscriber.key, subject, len(rows))
    return BuiltDigest(subscriber.key, subject, digest.total, first[0], len(rows) - 1)


def _outbox_rows(
    build: _Build,
    subscriber: SubscriberConfig,
    digest: Digest,
    matches: list[Candidate],
    digest_id: str,
    unsubscribe_url: str | None,
    now: datetime,
) -> list[dict[str, object]]:
    """The digest's outbox rows, rendered: the email (if the subscriber has an address), then
    one per channel, each in its form (Markdown cut to the service's limit, or the webhook's
    JSON). Raises TemplateProblem when a template fails."""
    common = {
        "recipient": subscriber.key,
        "status": OutboxStatus.PENDING,
        "created_at": now,
        "next_attempt_at": now,
        "digest_id": digest_id,
    }
    rows: list[dict[str, object]] = []
    if subscriber.email is not None:
        rendered = build.renderer.render(digest)
        rows.append(
            common
            | {
                "message_id": make_msgid("digest", domain=build.mail.sender.domain),
                "subject": rendered.subject,
                "text": rendered.text,
                "html": rendered.html,
                "unsubscribe_url": unsubscribe_url,
            }
        )
    archive_url = build.links.watchlist_url if build.links else None
    for number, url in enumerate(subscriber.channels, start=1):
        channel = parse_channel(url)
        if channel.format == "json":
            # what `status` calls the row: the receiver gets only the JSON
            title = f"webhook: {digest.total} article{'s' * (digest.total != 1)}"
            body = webhook_document(
                digest_id=digest_id,
                subscriber=subscriber.key,
                created_at=now,
                watchlists=subscriber.watchlists,
                matches=matches,
            )
        else:
            markdown = build.renderer.render_markdown(
                digest,
                fits=channel.fits,
                max_articles=build.channels.max_articles,
                archive_url=archive_url,
            )
            title, body = markdown.subject, markdown.text
        rows.append(
            common
            | {
                "message_id": f"<{digest_id}.{number}@channel.newswatch.invalid>",
                "subject": title,
                "text": body,
                "html": "",
                "channel": url,
            }
        )
    return rows


def _record_state(connection: Connection, due: DueSubscriber, now: datetime) -> None:
    """last_digest_at = now, if it is still what was read (else `_Raced`); a new row raises
    IntegrityError if another builder wrote one first."""
    email = due.subscriber.key
    if not due.known:
        connection.execute(_INSERT_STATE, {"email": email, "last_digest_at": now})
        return
    if due.last_digest_at is None:
        result = connection.execute(_MOVE_NULL_STATE, {"was_email": email, "last_digest_at": now})
    else:
        values = {"was_email": email, "was_at": due.last_digest_at, "last_digest_at": now}
        result = connection.execute(_MOVE_STATE, values)
    if result.rowcount != 1:
        raise _Raced(email)
