"""Building digests: each due subscriber's undelivered matches become one outbox message.

The OutboxMessage, its Delivery rows and the subscriber's state are written in one
transaction, so a crash leaves either a complete digest waiting to be sent or nothing at all;
the unique (subscriber, match) of the Delivery rows not returned means no match is ever put in
two messages. A message that failed for good gives its matches back (`alerts.outbox`): they go
into the subscriber's next digest whatever their age, which says they are late.

A digest whose templates fail to render (TemplateProblem) is not built: the subscriber's state
stays, so their matches wait, undelivered, for the next build, and the other subscribers'
digests are built as usual. The failure is kept where `newswatch status` sees it: one
"not_rendered" outbox row per such subscriber, without deliveries (never sent, nothing lost),
its ``last_error`` the problem and ``attempts`` the builds that failed. The next digest that
renders for them removes it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from email.utils import make_msgid
from hashlib import sha256
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, case, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from alerts.config import MailConfig, SubscriberConfig
from alerts.render import Digest, DigestRenderer, Entry, Group, Rendered, TemplateProblem
from alerts.schedules import parse_schedule
from alerts.snippets import Snippet
from store.db import Database
from store.dw_ids import DW_TIMEZONE, short_url
from store.models import (
    Article,
    Delivery,
    Match,
    OutboxMessage,
    OutboxStatus,
    SubscriberState,
)

log = logging.getLogger(__name__)
# a digest never reaches further back than this before the previous one (or now, the first)
LOOKBACK = timedelta(hours=24)
# an article found after the previous digest is still news if DW published it this recently
LATE_FIND = timedelta(days=7)


@dataclass(frozen=True)
class BuiltDigest:
    recipient: str
    subject: str
    articles: int
    outbox_id: int


class Digests(list[BuiltDigest]):
    """The digests a build put into the outbox; ``not_rendered``: the subscribers whose digest
    failed to render, with the problem (recorded in the outbox as not rendered)."""

    def __init__(self) -> None:
        super().__init__()
        self.not_rendered: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class Candidate:
    """A match with the article columns a digest shows: what the candidate query loads."""

    id: int
    watchlist: str
    terms: dict[str, Any]
    snippet: dict[str, Any]
    article_id: int
    article: CandidateArticle
    late: bool = False  # given back by a message that failed: due in an earlier digest


@dataclass(frozen=True, slots=True)
class CandidateArticle:
    short_id: str
    title: str
    teaser: str
    language: str | None
    published_at: datetime | None
    first_seen_at: datetime
    recent: datetime  # as `_recent` in SQL: the date the digest window is checked against


@dataclass(frozen=True, slots=True)
class _Due:
    subscriber: SubscriberConfig
    known: bool  # has a SubscriberState row
    last_digest_at: datetime | None


class _Unrenderable:
    """Stands in for a renderer that could not be made: every digest fails with its problem."""

    def __init__(self, problem: TemplateProblem) -> None:
        self.problem = problem

    def render(self, digest: Digest) -> Rendered:
        raise self.problem


class _Raced(Exception):
    """Another builder moved this subscriber's state since it was read."""


_STATES = SubscriberState.__table__
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
_OUTBOX = OutboxMessage.__table__
_INSERT_OUTBOX = insert(_OUTBOX)
# the outbox row that stands for a subscriber's digest that did not render
NOT_RENDERED_SUBJECT = "(digest not rendered)"
_NOT_RENDERED_PREFIX = "<not-rendered."
_CLEAR_NOT_RENDERED = delete(_OUTBOX).where(_OUTBOX.c.message_id == bindparam("not_rendered"))
_INSERT_DELIVERIES = insert(Delivery.__table__)
# rows per IN (...) list: far below any database's limit on bound parameters
_CHUNK = 500


def build_digests(
    db: Database,
    subscribers: Sequence[SubscriberConfig],
    mail: MailConfig,
    *,
    now: datetime,
    force: bool = False,
    renderer: DigestRenderer | None = None,
) -> Digests:
    """A digest for every subscriber who is due at ``now`` (or every one, with ``force``).

    The states and the candidate matches of all due subscribers are read up front, in a few
    queries; each digest is then written in its own transaction, which refuses it (skips that
    subscriber) if another builder changed the subscriber's state or took one of its matches
    in the meantime."""
    using: DigestRenderer | _Unrenderable
    try:
        using = renderer or DigestRenderer(mail.templates or None)
    except TemplateProblem as problem:  # the folder went away: no digest renders
        using = _Unrenderable(problem)
    sender = mail.sender.addr_spec
    built = Digests()
    failing = _not_rendered_recipients(db)
    entries: dict[tuple[str, tuple[int, ...]], Entry] = {}  # the same article in many digests
    # a subscriber listed twice is built again after the first, from what that one wrote
    rounds: list[dict[str, SubscriberConfig]] = []
    for subscriber in subscribers:
        for batch in rounds:
            if subscriber.email not in batch:
                batch[subscriber.email] = subscriber
                break
        else:
            rounds.append({subscriber.email: subscriber})
    for batch in rounds:
        with db.session() as session:
            due = _due(session, list(batch.values()), now, force)
            matches = undelivered_matches(session, due, now)
        for each in due:
            email, mine = each.subscriber.email, matches[each.subscriber.email]
            try:
                digest = _build_one(
                    db, each, mine, mail, sender, using, entries, now, email in failing
                )
            except (IntegrityError, _Raced):  # another builder took these: they are sent once
                log.warning("digest for %s was built concurrently; skipped", email)
                continue
            except TemplateProblem as problem:
                log.error(
                    "digest for %s not built: %s; its %d matches wait for the next digest",
                    email,
                    problem,
                    len(mine),
                )
                _record_not_rendered(db, email, str(problem), now)
                failing.add(email)
                built.not_rendered[email] = str(problem)
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


def _due(
    session: Session, subscribers: Sequence[SubscriberConfig], now: datetime, force: bool
) -> list[_Due]:
    emails = [subscriber.email for subscriber in subscribers]
    states: dict[str, datetime | None] = {}
    for start in range(0, len(emails), _CHUNK):
        chunk = emails[start : start + _CHUNK]
        rows = session.execute(
            select(SubscriberState.email, SubscriberState.last_digest_at).where(
                SubscriberState.email.in_(chunk)
            )
        )
        states.update(rows.all())
    due = []
    for subscriber in subscribers:
        last = states.get(subscriber.email)
        schedule = parse_schedule(subscriber.schedule, subscriber.timezone)
        if force or schedule.is_due(now, last):
            due.append(_Due(subscriber, subscriber.email in states, last))
    return due


def _build_one(
    db: Database,
    due: _Due,
    matches: list[Candidate],
    mail: MailConfig,
    sender: str,
    renderer: DigestRenderer | _Unrenderable,
    entries: dict[tuple[str, tuple[int, ...]], Entry],
    now: datetime,
    was_not_rendered: bool = False,
) -> BuiltDigest | None:
    """Raises TemplateProblem, having written nothing, when the digest does not render."""
    subscriber = due.subscriber
    rendered = digest = None
    if matches:  # no empty digests; the schedule still moves on
        digest = digest_view(subscriber, matches, sender, entries)
        rendered = renderer.render(digest)
    with db.session() as session:
        connection = session.connection()
        _record_state(connection, due, now)
        if digest is None or rendered is None:
            session.commit()
            return None
        outbox_id = connection.execute(
            _INSERT_OUTBOX,
            {
                "message_id": make_msgid("digest", domain=mail.sender.domain),
                "recipient": subscriber.email,
                "subject": rendered.subject,
                "text": rendered.text,
                "html": rendered.html,
                "status": OutboxStatus.PENDING,
                "created_at": now,
                "next_attempt_at": now,
            },
        ).inserted_primary_key[0]
        connection.execute(
            _INSERT_DELIVERIES,
            [
                {
                    "subscriber": subscriber.email,
                    "match_id": m.id,
                    "message_id": outbox_id,
                    "created_at": now,
                }
                for m in matches
            ],
        )
        if was_not_rendered:  # this one rendered: the problem is over
            connection.execute(
                _CLEAR_NOT_RENDERED, {"not_rendered": not_rendered_id(subscriber.email)}
            )
        session.commit()
    log.info("digest for %s: %s", subscriber.email, rendered.subject)
    return BuiltDigest(subscriber.email, rendered.subject, digest.total, outbox_id)


def _record_state(connection: Any, due: _Due, now: datetime) -> None:
    """last_digest_at = now, if it is still what was read (else `_Raced`); a new row raises
    IntegrityError if another builder wrote one first."""
    email = due.subscriber.email
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


def undelivered_matches(
    session: Session, due: Sequence[_Due], now: datetime
) -> dict[str, list[Candidate]]:
    """For each subscriber, the matches of their watchlists not yet given to them, newest first.

    A first digest holds articles published (or listed by a feed) in the last 24 hours: no
    flood of the archive. Later ones hold articles published since 24 hours before the previous
    digest, and those newswatch found only after it (a crawl outage, a slow feed) if DW
    published them within the last week. Matches a failed message gave back (`late`) are held
    whatever their age.

    One query loads the candidates of all the subscribers (they share watchlists) in the
    union of their windows, one more the deliveries among them; each subscriber's own window
    is then applied here, with the same rules (`_window` and `_in_window`)."""
    found: dict[str, list[Candidate]] = {each.subscriber.email: [] for each in due}
    if not due:
        return found
    watchlists = sorted({name for each in due for name in each.subscriber.watchlists})
    published = func.coalesce(Article.published_at, Article.first_seen_at)
    recent = _recent(published)
    # every subscriber's window lies within one of these: an earlier previous digest only
    # widens both of `_window`'s conditions
    lasts = [each.last_digest_at for each in due if each.last_digest_at is not None]
    windows = [_window(recent, min(lasts), now)] if lasts else []
    if len(lasts) < len(due):
        windows.append(_window(recent, None, now))
    where = (Match.watchlist.in_(watchlists), or_(*windows))
    columns = (
        Match.id,
        Match.watchlist,
        Match.terms,
        Match.snippet,
        Match.article_id,
        Article.short_id,
        Article.title,
        Article.teaser,
        Article.language,
        Article.published_at,
        Article.first_seen_at,
        recent,
    )
    query = (
        select(*columns)
        .join(Match.article)
        .where(*where)
        .order_by(published.desc(), Article.id.desc())
    )
    candidates = _candidates(session, query)
    emails = list(found)
    returned = _returned(session, emails)
    known = {candidate.id for candidate in candidates}
    missing = sorted({m for ids in returned.values() for m in ids} - known)
    if missing:  # returned matches outside every window: loaded by id
        for start in range(0, len(missing), _CHUNK):
            chunk = missing[start : start + _CHUNK]
            candidates += _candidates(
                session, select(*columns).join(Match.article).where(Match.id.in_(chunk))
            )
        candidates.sort(key=_newest_first)
    if not candidates:
        return found
    delivered: set[tuple[str, int]] = set()
    for start in range(0, len(emails), _CHUNK):
        rows = session.execute(
            select(Delivery.subscriber, Delivery.match_id).where(
                Delivery.subscriber.in_(emails[start : start + _CHUNK]),
                Delivery.match_id.in_(select(Match.id).join(Match.article).where(*where)),
                Delivery.returned_at.is_(None),
            )
        )
        delivered.update(rows.all())
    by_watchlist: dict[str, list[tuple[int, Candidate]]] = {}
    for position, candidate in enumerate(candidates):
        by_watchlist.setdefault(candidate.watchlist, []).append((position, candidate))
    for each in due:
        email = each.subscriber.email
        late = returned.get(email, set())
        names = set(each.subscriber.watchlists)
        mine = [hit for name in names for hit in by_watchlist.get(name, ())]
        mine.sort(key=itemgetter(0))  # back in the query's order: newest first
        found[email] = [
            replace(c, late=True) if c.id in late else c
            for _, c in mine
            if (c.id in late or _in_window(c.article, each.last_digest_at, now))
            and (email, c.id) not in delivered
        ]
    return found


def _candidates(session: Session, query: Any) -> list[Candidate]:
    return [
        Candidate(
            match_id,
            watchlist,
            terms,
            snippet,
            article_id,
            CandidateArticle(short, title, teaser, language, published_at, first_seen, when),
        )
        for (
            match_id,
            watchlist,
            terms,
            snippet,
            article_id,
            short,
            title,
            teaser,
            language,
            published_at,
            first_seen,
            when,
        ) in session.execute(query)
    ]


def _newest_first(candidate: Candidate) -> tuple[float, int]:
    """The candidate query's order (published, then article id, both descending)."""
    article = candidate.article
    moment = article.published_at or article.first_seen_at
    return (-moment.timestamp(), -candidate.article_id)


def _returned(session: Session, emails: list[str]) -> dict[str, set[int]]:
    """The matches failed messages gave back to each of ``emails``, not given anew since."""
    given = aliased(Delivery)
    again = exists().where(
        given.subscriber == Delivery.subscriber,
        given.match_id == Delivery.match_id,
        given.returned_at.is_(None),
    )
    returned: dict[str, set[int]] = {}
    for start in range(0, len(emails), _CHUNK):
        rows = session.execute(
            select(Delivery.subscriber, Delivery.match_id).where(
                Delivery.subscriber.in_(emails[start : start + _CHUNK]),
                Delivery.returned_at.is_not(None),
                ~again,
            )
        )
        for email, match_id in rows:
            returned.setdefault(email, set()).add(match_id)
    return returned


def _recent(published: Any) -> Any:
    # old-layout pages give only the day; the feed's date for the article is more exact
    return case((Article.listed_at > published, Article.listed_at), else_=published)


def _window(recent: Any, last_digest_at: datetime | None, now: datetime) -> Any:
    if last_digest_at is None:
        return recent >= now - LOOKBACK
    found_late = and_(Article.first_seen_at > last_digest_at, recent >= now - LATE_FIND)
    return or_(recent >= last_digest_at - LOOKBACK, found_late)


def _in_window(article: CandidateArticle, last_digest_at: datetime | None, now: datetime) -> bool:
    """`_window`, in Python, for one loaded candidate."""
    if last_digest_at is None:
        return article.recent >= now - LOOKBACK
    if article.recent >= last_digest_at - LOOKBACK:
        return True
    return article.first_seen_at > last_digest_at and article.recent >= now - LATE_FIND


def digest_view(
    subscriber: SubscriberConfig,
    matches: Sequence[Candidate],
    sender: str,
    entries: dict[tuple[str, tuple[int, ...]], Entry] | None = None,
) -> Digest:
    """Group by watchlist in the subscriber's order; an article that several watchlists hit
    appears once, under the first, tagged with all. ``entries`` keeps the entries made, by
    time zone and matches, for the next digests of a build to reuse."""
    zone = ZoneInfo(subscriber.timezone)
    entries = {} if entries is None else entries
    by_article: dict[int, list[Candidate]] = {}
    for match in matches:
        by_article.setdefault(match.article_id, []).append(match)
    order = {name: index for index, name in enumerate(subscriber.watchlists)}
    groups: dict[str, list[Entry]] = {name: [] for name in subscriber.watchlists}
    for hits in by_article.values():
        hits.sort(key=lambda m: order[m.watchlist])
        key = (subscriber.timezone, tuple(m.id for m in hits))
        entry = entries.get(key)
        if entry is None:
            entry = entries[key] = _entry(hits, zone)
        groups[hits[0].watchlist].append(entry)
    return Digest(
        recipient=subscriber.email,
        timezone=subscriber.timezone,
        groups=[Group(name, entries) for name, entries in groups.items() if entries],
        unsubscribe_address=sender,
        late=sum(any(match.late for match in hits) for hits in by_article.values()),
    )


def _entry(hits: list[Candidate], zone: ZoneInfo) -> Entry:
    article = hits[0].article
    snippet = Snippet.from_dict(hits[0].snippet) if hits[0].snippet else None
    # a snippet that is the title is shown as the title, highlighted, not repeated below it
    in_title = snippet is not None and snippet.text == article.title
    title_marked = snippet.segments() if snippet and in_title else [(article.title, False)]
    if in_title:
        snippet = None
    moment = article.published_at or article.first_seen_at
    terms: list[str] = []
    for match in hits:
        terms += [term for term in match.terms if term not in terms]
    return Entry(
        title=article.title,
        title_marked=title_marked,
        url=short_url(article.short_id),
        language=article.language or "?",
        published=local_time(moment, zone),
        teaser=article.teaser,
        snippet=snippet.segments() if snippet else [],
        snippet_text=snippet.highlighted("[", "]") if snippet else "",
        watchlists=[match.watchlist for match in hits],
        terms=terms,
    )


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    """The time in the subscriber's zone; a date alone where DW gave only the day (old-layout
    pages are dated at midnight in Berlin)."""
    if moment.astimezone(DW_TIMEZONE).time() == time(0, 0):
        return moment.astimezone(DW_TIMEZONE).strftime("%d %b %Y")
    return moment.astimezone(zone).strftime("%d %b %Y %H:%M %Z")
