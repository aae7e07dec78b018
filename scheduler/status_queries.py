"""The queries behind `newswatch status`: :func:`collect_status` reads the database into a
:class:`~scheduler.status_report.StatusReport` (only reads; one session)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, aliased

from alerts.channel_delivery import channel_label
from alerts.schedules import Schedule
from alerts.subscribers import Effective, with_choices
from crawler.config import CrawlConfig, SourceConfig
from scheduler.config import AppConfig, HealthConfig
from scheduler.health import PastRun, digest_warning, history_warnings, source_warnings
from scheduler.status_report import (
    ArticleCounts,
    ChoicesStatus,
    Claims,
    CrawlCadence,
    MailState,
    MessageProblem,
    OutboxStatusReport,
    RunFigures,
    SourceStatus,
    StatusReport,
    SubscriberStatus,
    WatchlistStatus,
)
from store.db import Database, display_url
from store.models import (
    Article,
    CrawlRun,
    CrawlStatus,
    Delivery,
    Match,
    OutboxMessage,
    OutboxStatus,
    SubscriberState,
)
from store.subscriber_choices import choices_of

RUNS_SHOWN = 5
HISTORY_RUNS = 200  # finished runs the history rules read, newest first
NEW_HISTORY = 100  # runs that found something new: their gaps make a source's usual gap
RETRYING_SHOWN = 10  # of the messages waiting to be tried again; the flagged ones: all
# problems: failed and uncertain until an operator re-queues or acknowledges them, not_rendered
# until a digest renders for that subscriber again
_FLAGGED = OutboxMessage.status.in_(
    [OutboxStatus.FAILED, OutboxStatus.UNCERTAIN, OutboxStatus.NOT_RENDERED]
)


def collect_status(config: AppConfig, db: Database, now: datetime) -> StatusReport:
    """Everything `newswatch status` shows at ``now``."""
    now = now.astimezone(UTC)
    crawls = config.crawls
    interval = crawl_interval(config.crawl, crawls, now)
    cadence = CrawlCadence(
        every=config.crawl.every,
        cron=config.crawl.cron,
        interval=interval,
        jitter=config.crawl.jitter,
    )
    with db.session() as session:
        first_crawl = session.scalar(select(func.min(CrawlRun.started_at)))
        return StatusReport(
            generated_at=_second(now),
            database=display_url(config.storage.url),
            crawl=cadence,
            first_crawl_at=_optional_second(first_crawl),
            sources=tuple(
                _source(session, source, config.health, crawls, interval, now)
                for source in config.sources
            ),
            articles=_articles(session, now),
            watchlists=tuple(_watchlist(session, w.name) for w in config.watchlists),
            outbox=_outbox(session, now, config.health),
            subscribers=_subscribers(session, config, now),
        )


def crawl_interval(crawl: CrawlConfig, crawls: Schedule | None, now: datetime) -> timedelta:
    """``every``, or with the ``cron`` schedule the gap between its next two fire times after
    `now`."""
    if crawls is None:
        return timedelta(seconds=crawl.every)
    first = crawls.next_slot(now)
    second = crawls.next_slot(first) if first else None
    return second - first if first and second else timedelta(seconds=crawl.every)


def _second(moment: datetime) -> datetime:
    """As the report shows a time: UTC, to the second."""
    return moment.astimezone(UTC).replace(microsecond=0)


def _optional_second(moment: datetime | None) -> datetime | None:
    return _second(moment) if moment else None


def _source(
    session: Session,
    source: SourceConfig,
    health: HealthConfig,
    crawls: Schedule | None,
    interval: timedelta,
    now: datetime,
) -> SourceStatus:
    name = source.name
    rows = session.scalars(
        select(CrawlRun)
        .where(CrawlRun.source == name)
        .order_by(CrawlRun.started_at.desc(), CrawlRun.id.desc())
        .limit(RUNS_SHOWN)
    ).all()
    last_ok = session.scalar(
        select(func.max(CrawlRun.finished_at)).where(
            CrawlRun.source == name, CrawlRun.status == CrawlStatus.OK
        )
    )
    runs = tuple(_run(row) for row in rows)
    running = rows[0] if rows and rows[0].status == CrawlStatus.RUNNING else None
    if not rows:
        upcoming = None  # the service crawls each source at once when it starts
    elif crawls is not None:
        upcoming = crawls.next_slot(now)
    else:
        upcoming = rows[0].started_at + interval
    return SourceStatus(
        name=name,
        last_success_at=_optional_second(last_ok),
        next_crawl_at=_optional_second(upcoming),
        runs=runs,
        warnings=source_warnings(
            runs, interval, now - running.started_at if running is not None else None
        )
        + history_warnings(
            _history(session, name),
            _found_new(session, name),
            now,
            health,
            source.quiet_after,
        ),
    )


def _history(session: Session, name: str) -> list[PastRun]:
    """The source's finished runs, newest first, as the history rules read them."""
    rows = session.execute(
        select(CrawlRun.started_at, CrawlRun.status, CrawlRun.new, CrawlRun.extraction)
        .where(CrawlRun.source == name, CrawlRun.status != CrawlStatus.RUNNING)
        .order_by(CrawlRun.started_at.desc(), CrawlRun.id.desc())
        .limit(HISTORY_RUNS)
    ).all()
    return [
        PastRun(_second(started), status, new, extraction if isinstance(extraction, dict) else {})
        for started, status, new, extraction in rows
    ]


def _found_new(session: Session, name: str) -> list[datetime]:
    """When the source's runs that found something new started, newest first."""
    return [
        _second(started)
        for started in session.scalars(
            select(CrawlRun.started_at)
            .where(CrawlRun.source == name, CrawlRun.new > 0)
            .order_by(CrawlRun.started_at.desc())
            .limit(NEW_HISTORY)
        )
    ]


def _run(run: CrawlRun) -> RunFigures:
    return RunFigures(
        started_at=_second(run.started_at),
        finished_at=_optional_second(run.finished_at),
        status=run.status,
        pages=run.pages,
        new=run.new,
        updated=run.updated,
        skipped_known=run.skipped_known,
        errors=run.errors,
        selector_fallbacks=run.selector_fallbacks,
        last_errors=tuple(run.last_errors or []),
    )


def _count(session: Session, model: type[Any], *where: Any) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _articles(session: Session, now: datetime) -> ArticleCounts:
    recent = Article.first_seen_at >= now - timedelta(hours=24)
    return ArticleCounts(total=_count(session, Article), last_24h=_count(session, Article, recent))


def _watchlist(session: Session, name: str) -> WatchlistStatus:
    """Matches of one watchlist; `undelivered`: given to no subscriber yet (or given back)."""
    mine = Match.watchlist == name
    delivered = exists().where(Delivery.match_id == Match.id, Delivery.returned_at.is_(None))
    return WatchlistStatus(
        name=name,
        matches=_count(session, Match, mine),
        undelivered=_count(session, Match, mine, ~delivered),
    )


def _outbox(session: Session, now: datetime, health: HealthConfig) -> OutboxStatusReport:
    by_status = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    counts: dict[OutboxStatus, int] = dict(session.execute(by_status).all())
    pending = OutboxMessage.status == OutboxStatus.PENDING
    oldest = session.scalar(select(func.min(OutboxMessage.created_at)).where(pending))
    problems, retrying_not_shown = _message_problems(session)
    claimed, stale_claims = _claims(session, now)
    return OutboxStatusReport(
        counts={status: counts.get(status, 0) for status in OutboxStatus},
        oldest_pending_at=_optional_second(oldest),
        oldest_pending_age=now - oldest if oldest else None,
        claimed=claimed,
        stale_claims=stale_claims,
        returned_matches=_returned_matches(session),
        problems=problems,
        retrying_not_shown=retrying_not_shown,
        acknowledged=_count(
            session, OutboxMessage, _FLAGGED, OutboxMessage.acknowledged_at.is_not(None)
        ),
        backlog_age=timedelta(seconds=health.backlog_age),
        backlog_count=health.backlog_count,
    )


def _claims(session: Session, now: datetime) -> tuple[Claims | None, Claims | None]:
    """Messages a sender holds: under its lease (until the latest lease's end), and those
    whose lease ran out without an outcome (since the earliest end: the sender stopped,
    perhaps mid-DATA; due again)."""
    claimed = (OutboxMessage.status == OutboxStatus.PENDING) & OutboxMessage.claimed_at.is_not(None)
    lease_end = OutboxMessage.next_attempt_at
    return (
        _claims_where(session, claimed & (lease_end > now), func.max(lease_end)),
        _claims_where(session, claimed & (lease_end <= now), func.min(lease_end)),
    )


def _claims_where(session: Session, where: Any, lease_end: Any) -> Claims | None:
    count, since, end = session.execute(
        select(func.count(), func.min(OutboxMessage.claimed_at), lease_end).where(where)
    ).one()
    return Claims(count, _second(since), _second(end)) if count else None


def _returned_matches(session: Session) -> int:
    """Matches failed messages gave back that no digest has carried yet."""
    given = aliased(Delivery)
    again = exists().where(
        given.subscriber == Delivery.subscriber,
        given.match_id == Delivery.match_id,
        given.returned_at.is_(None),
    )
    return _count(session, Delivery, Delivery.returned_at.is_not(None), ~again)


def _message_problems(session: Session) -> tuple[tuple[MessageProblem, ...], int]:
    """Every failed, uncertain or not-rendered message not acknowledged, and the newest of
    those waiting to be tried again (pending with an error), newest first; and how many more
    are retrying."""
    retrying = (
        (OutboxMessage.status == OutboxStatus.PENDING)
        & OutboxMessage.last_error.is_not(None)
        & OutboxMessage.claimed_at.is_(None)
    )
    newest = (OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
    shown = [
        *session.scalars(
            select(OutboxMessage)
            .where(_FLAGGED, OutboxMessage.acknowledged_at.is_(None))
            .order_by(*newest)
        ),
        *session.scalars(
            select(OutboxMessage).where(retrying).order_by(*newest).limit(RETRYING_SHOWN)
        ),
    ]
    shown.sort(key=lambda m: (m.created_at, m.id), reverse=True)
    retrying_total = _count(session, OutboxMessage, retrying)
    return tuple(map(_message, shown)), max(retrying_total - RETRYING_SHOWN, 0)


def _message(m: OutboxMessage) -> MessageProblem:
    status = m.status
    return MessageProblem(
        id=m.id,
        status=status,
        recipient=m.recipient,
        subject=m.subject,
        message_id=m.message_id,
        created_at=_second(m.created_at),
        attempts=m.attempts,
        last_error=m.last_error,
        next_attempt_at=_second(m.next_attempt_at) if status == OutboxStatus.PENDING else None,
        channel=channel_label(m.channel),
    )


def _subscribers(
    session: Session, config: AppConfig, now: datetime
) -> tuple[SubscriberStatus, ...]:
    """Each subscriber as their choices make them: whether they are mailed, their schedule in
    effect, last digest and next slot (None for "immediate": every digest run; and for who is
    not mailed; after the pause for who paused)."""
    states = select(SubscriberState.email, SubscriberState.last_digest_at)
    last: dict[str, datetime | None] = dict(session.execute(states).all())
    chosen = choices_of(session)
    rows = []
    for configured in config.subscribers:
        effective = with_choices(configured, chosen.get(configured.key))
        sub, previous = effective.subscriber, last.get(configured.key)
        schedule, state = sub.schedule, _mail_state(effective, now)
        upcoming = None
        if state is MailState.ACTIVE:
            upcoming = schedule.next_slot(now)
        elif state is MailState.PAUSED and effective.choices.paused_until is not None:
            upcoming = schedule.next_slot(effective.choices.paused_until)
        rows.append(
            SubscriberStatus(
                email=sub.key,
                schedule=schedule.text,
                timezone=sub.timezone,
                last_digest_at=_optional_second(previous),
                next_digest_at=_optional_second(upcoming),
                due=state is MailState.ACTIVE and schedule.is_due(now, previous),
                state=state,
                choices=_choices(effective) if configured.key in chosen else None,
                channels=tuple(channel_label(url) for url in sub.channels),
                problems=_missed_digest(session, config.health, effective, state, previous, now),
            )
        )
    return tuple(rows)


def _missed_digest(
    session: Session,
    health: HealthConfig,
    effective: Effective,
    state: MailState,
    previous: datetime | None,
    now: datetime,
) -> tuple[str, ...]:
    """``digest:<key>:missed`` when an active subscriber's latest slot passed without a digest
    while matches from before it wait for them."""
    sub = effective.subscriber
    slot = sub.schedule.previous_slot(now) if state is MailState.ACTIVE else None
    if slot is None or (previous is not None and previous.astimezone(UTC) >= slot):
        return ()
    paused_until = effective.choices.paused_until
    if paused_until is not None and slot <= paused_until.astimezone(UTC):
        return ()  # the slot fell in a pause
    given = exists().where(
        Delivery.match_id == Match.id,
        Delivery.subscriber == sub.key,
        Delivery.returned_at.is_(None),
    )
    waiting = _count(
        session, Match, Match.watchlist.in_(sub.watchlists), Match.created_at <= slot, ~given
    )
    problem = digest_warning(sub.key, slot, waiting, now, health)
    return (problem,) if problem else ()


def _mail_state(effective: Effective, now: datetime) -> MailState:
    if effective.unsubscribed:
        return MailState.UNSUBSCRIBED
    if not effective.mailed:
        return MailState.NO_WATCHLISTS
    return MailState.PAUSED if effective.paused(now) else MailState.ACTIVE


def _choices(effective: Effective) -> ChoicesStatus:
    chosen = effective.choices
    return ChoicesStatus(
        unsubscribed_at=_optional_second(chosen.unsubscribed_at),
        paused_until=_optional_second(chosen.paused_until),
        schedule=chosen.schedule,
        timezone=chosen.timezone,
        left_watchlists=chosen.left_watchlists,
        updated_at=_optional_second(chosen.updated_at),
        ignored=effective.ignored,
    )
