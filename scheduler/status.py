"""`newswatch status`: what the service has done, what comes next, and whether it is healthy.

:func:`collect_status` reads the database into one JSON-ready dict (datetimes as ISO strings),
:func:`health_problems` turns that dict into one line per problem (``status --check``) and
:func:`render_status` into a one-screen summary. Health rules, all measured against the crawl
*interval* (``crawl.every``, or with ``crawl.cron`` the gap between its next two fire times):

* a source with no successful (``ok``) crawl in 3 intervals. A source that never succeeded is
  measured from the first crawl run in the database, so a fresh install that has crawled
  nothing yet is healthy; a source added to an old database counts until its first crawl;
* each failed or uncertain outbox message (one line each) until an operator re-queues it
  (``send --retry [--failed]``) or acknowledges it (``send --acknowledge ID``); a backlog: a
  pending message older than 1 hour, or over 100 pending;
* every source warning: the last 3 finished runs found nothing, the last finished run needed
  the selector fallback (DW may have changed its layout), the newest run still "running" after
  2 intervals (the crawl was killed or hangs).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, aliased

from crawler.config import CrawlConfig
from scheduler.config import AppConfig, crawl_schedule
from store.db import Database, display_url
from store.models import (
    Article,
    CrawlRun,
    Delivery,
    Match,
    OutboxMessage,
    OutboxStatus,
    SubscriberState,
)

Report = dict[str, Any]

RUNS_SHOWN = 5
EMPTY_RUNS = 3  # this many empty finished runs in a row: a warning
STALE_INTERVALS = 2  # a run "running" for longer than this many intervals was killed
UNHEALTHY_INTERVALS = 3  # no successful crawl for this many intervals: a problem
BACKLOG_AGE = timedelta(hours=1)
BACKLOG_COUNT = 100
RETRYING_SHOWN = 10  # of the messages waiting to be tried again; failed and uncertain: all
RUN_FIGURES = ("status", "pages", "new", "updated", "skipped_known", "errors", "selector_fallbacks")


def collect_status(config: AppConfig, db: Database, now: datetime) -> Report:
    """Everything `newswatch status` shows at ``now``, as a JSON-ready dict."""
    now = now.astimezone(UTC)
    interval = crawl_interval(config.crawl, now)
    with db.session() as session:
        return {
            "generated_at": _iso(now),
            "database": display_url(config.storage.url),
            "crawl": {
                "every_seconds": None if config.crawl.cron else config.crawl.every,
                "cron": config.crawl.cron,
                "interval_seconds": interval.total_seconds(),
                "jitter_seconds": config.crawl.jitter,
            },
            "first_crawl_at": _iso(session.scalar(select(func.min(CrawlRun.started_at)))),
            "sources": [
                _source(session, source.name, config.crawl, interval, now)
                for source in config.sources
            ],
            "articles": _articles(session, now),
            "watchlists": [_watchlist(session, w.name) for w in config.watchlists],
            "outbox": _outbox(session, now),
            "subscribers": _subscribers(session, config, now),
        }


def crawl_interval(crawl: CrawlConfig, now: datetime) -> timedelta:
    """``every``, or with ``cron`` the gap between its next two fire times after `now`."""
    if not crawl.cron:
        return timedelta(seconds=crawl.every)
    schedule = crawl_schedule(crawl.cron)
    first = schedule.next_slot(now)
    second = schedule.next_slot(first) if first else None
    return second - first if first and second else timedelta(seconds=crawl.every)


def _source(
    session: Session, name: str, crawl: CrawlConfig, interval: timedelta, now: datetime
) -> Report:
    runs = session.scalars(
        select(CrawlRun)
        .where(CrawlRun.source == name)
        .order_by(CrawlRun.started_at.desc(), CrawlRun.id.desc())
        .limit(RUNS_SHOWN)
    ).all()
    last_ok = session.scalar(
        select(func.max(CrawlRun.finished_at)).where(
            CrawlRun.source == name, CrawlRun.status == "ok"
        )
    )
    return {
        "name": name,
        "last_success_at": _iso(last_ok),
        "next_crawl_at": _next_crawl(runs, crawl, interval, now),
        "runs": [_run(run) for run in runs],
        "warnings": _source_warnings(runs, interval, now),
    }


def _next_crawl(
    runs: Sequence[CrawlRun], crawl: CrawlConfig, interval: timedelta, now: datetime
) -> str | None:
    if not runs:
        return "now"  # the service crawls each source at once when it starts
    if crawl.cron:
        return _iso(crawl_schedule(crawl.cron).next_slot(now))
    return _iso(runs[0].started_at + interval)


def _run(run: CrawlRun) -> Report:
    figures = {name: getattr(run, name) for name in RUN_FIGURES}
    started, finished = _iso(run.started_at), _iso(run.finished_at)
    return {
        "started_at": started,
        "finished_at": finished,
        **figures,
        "last_errors": list(run.last_errors or []),
    }


def _found_nothing(run: CrawlRun) -> bool:
    return not run.pages or not run.new + run.updated + run.skipped_known


def _source_warnings(runs: Sequence[CrawlRun], interval: timedelta, now: datetime) -> list[str]:
    warnings = []
    finished = [run for run in runs if run.status != "running"]
    if len(finished) >= EMPTY_RUNS and all(map(_found_nothing, finished[:EMPTY_RUNS])):
        warnings.append(f"the last {EMPTY_RUNS} runs found nothing")
    if finished and finished[0].selector_fallbacks:
        warnings.append(
            f"the last run needed the selector fallback on {finished[0].selector_fallbacks} "
            "pages: DW may have changed its layout"
        )
    newest = runs[0] if runs else None
    if newest is not None and newest.status == "running":
        age = now - newest.started_at
        if age > STALE_INTERVALS * interval:
            warnings.append(
                f"the crawl started {_iso(newest.started_at)} is still 'running' after "
                f"{_span(age.total_seconds())}: it was probably killed"
            )
    return warnings


def _count(session: Session, model: type[Any], *where: Any) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _articles(session: Session, now: datetime) -> Report:
    recent = Article.first_seen_at >= now - timedelta(hours=24)
    return {"total": _count(session, Article), "last_24h": _count(session, Article, recent)}


def _watchlist(session: Session, name: str) -> Report:
    """Matches of one watchlist; `undelivered`: given to no subscriber yet (or given back)."""
    mine = Match.watchlist == name
    delivered = exists().where(Delivery.match_id == Match.id, Delivery.returned_at.is_(None))
    return {
        "name": name,
        "matches": _count(session, Match, mine),
        "undelivered": _count(session, Match, mine, ~delivered),
    }


def _outbox(session: Session, now: datetime) -> Report:
    by_status = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    counts: dict[str, int] = dict(session.execute(by_status).all())
    pending = OutboxMessage.status == OutboxStatus.PENDING
    oldest = session.scalar(select(func.min(OutboxMessage.created_at)).where(pending))
    return {
        **{status.value: counts.get(status, 0) for status in OutboxStatus},
        "oldest_pending_at": _iso(oldest),
        "oldest_pending_age_seconds": (now - oldest).total_seconds() if oldest else None,
        **_claims(session, now),
        "returned_matches": _returned_matches(session),
        **_message_problems(session),
    }


def _claims(session: Session, now: datetime) -> Report:
    """Messages a sender holds: under its lease (``claimed``), or whose lease ran out without
    an outcome (``stale_claims``: the sender stopped, perhaps mid-DATA; due again)."""
    claimed = (OutboxMessage.status == OutboxStatus.PENDING) & OutboxMessage.claimed_at.is_not(None)
    found: Report = {}
    for key, held in (("claimed", OutboxMessage.next_attempt_at > now), ("stale_claims", None)):
        where = claimed & (held if held is not None else OutboxMessage.next_attempt_at <= now)
        count, since, lease_ends, lease_ended = session.execute(
            select(
                func.count(),
                func.min(OutboxMessage.claimed_at),
                func.max(OutboxMessage.next_attempt_at),
                func.min(OutboxMessage.next_attempt_at),
            ).where(where)
        ).one()
        if not count:
            found[key] = None
        elif key == "claimed":
            found[key] = {"count": count, "since": _iso(since), "lease_until": _iso(lease_ends)}
        else:
            found[key] = {"count": count, "since": _iso(since), "lease_ran_out": _iso(lease_ended)}
    return found


def _returned_matches(session: Session) -> int:
    """Matches failed messages gave back that no digest has carried yet."""
    given = aliased(Delivery)
    again = exists().where(
        given.subscriber == Delivery.subscriber,
        given.match_id == Delivery.match_id,
        given.returned_at.is_(None),
    )
    return _count(session, Delivery, Delivery.returned_at.is_not(None), ~again)


def _message_problems(session: Session) -> Report:
    """Every failed or uncertain message not acknowledged, and the newest of those waiting to
    be tried again (pending with an error), newest first, with their errors."""
    flagged = OutboxMessage.status.in_(
        [OutboxStatus.FAILED, OutboxStatus.UNCERTAIN, OutboxStatus.NOT_RENDERED]
    )
    retrying = (
        (OutboxMessage.status == OutboxStatus.PENDING)
        & OutboxMessage.last_error.is_not(None)
        & OutboxMessage.claimed_at.is_(None)
    )
    newest = (OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
    shown = [
        *session.scalars(
            select(OutboxMessage)
            .where(flagged, OutboxMessage.acknowledged_at.is_(None))
            .order_by(*newest)
        ),
        *session.scalars(
            select(OutboxMessage).where(retrying).order_by(*newest).limit(RETRYING_SHOWN)
        ),
    ]
    shown.sort(key=lambda m: (m.created_at, m.id), reverse=True)
    retrying_total = _count(session, OutboxMessage, retrying)
    return {
        "problems": [_message(m) for m in shown],
        "retrying_not_shown": max(retrying_total - RETRYING_SHOWN, 0),
        "acknowledged": _count(
            session, OutboxMessage, flagged, OutboxMessage.acknowledged_at.is_not(None)
        ),
    }


def _message(m: OutboxMessage) -> Report:
    status = "retrying" if m.status == OutboxStatus.PENDING else str(m.status)
    return {
        "id": m.id,
        "status": status,
        "recipient": m.recipient,
        "subject": m.subject,
        "message_id": m.message_id,
        "created_at": _iso(m.created_at),
        "attempts": m.attempts,
        "last_error": m.last_error,
        "next_attempt_at": _iso(m.next_attempt_at) if status == "retrying" else None,
    }


def _subscribers(session: Session, config: AppConfig, now: datetime) -> list[Report]:
    """Each subscriber's last digest and next slot (None for "immediate": every digest run)."""
    states = select(SubscriberState.email, SubscriberState.last_digest_at)
    last: dict[str, datetime | None] = dict(session.execute(states).all())
    rows = []
    for sub in config.subscribers:
        schedule = sub.schedule
        previous = last.get(sub.email)
        rows.append(
            {
                "email": sub.email,
                "schedule": schedule.text,
                "timezone": sub.timezone,
                "last_digest_at": _iso(previous),
                "next_digest_at": _iso(schedule.next_slot(now)),
                "due": schedule.is_due(now, previous),
            }
        )
    return rows


# ---------------------------------------------------------------- health


def health_problems(report: Report) -> list[str]:
    """One line per problem; an empty list means healthy."""
    now = _parse(report["generated_at"])
    assert now is not None
    interval = report["crawl"]["interval_seconds"]
    problems = []
    for source in report["sources"]:
        stale = _no_recent_success(source, report.get("first_crawl_at"), interval, now)
        if stale:
            problems.append(f"source {source['name']}: {stale}")
        problems += [f"source {source['name']}: {w}" for w in source["warnings"]]
    return problems + _outbox_problems(report["outbox"])


def _no_recent_success(
    source: Report, first_crawl_at: str | None, interval: float, now: datetime
) -> str | None:
    limit = UNHEALTHY_INTERVALS * interval
    last = _parse(source["last_success_at"])
    if last is not None:
        if (now - last).total_seconds() <= limit:
            return None
        return f"no successful crawl since {_iso(last)} (over {_span(limit)})"
    first = _parse(first_crawl_at)
    if first is None or (now - first).total_seconds() <= limit:
        return None  # nothing crawled yet at all, or crawling began too recently to judge
    since = _span((now - first).total_seconds())
    return f"no successful crawl yet, {since} after the first crawl in the database"


def _outbox_problems(outbox: Report) -> list[str]:
    problems = [_message_problem(p) for p in outbox["problems"] if p["status"] != "retrying"]
    age = outbox["oldest_pending_age_seconds"]
    if outbox["pending"] > BACKLOG_COUNT or (age is not None and age > BACKLOG_AGE.total_seconds()):
        problems.append(
            f"outbox: backlog of {outbox['pending']} pending messages, the oldest waiting "
            f"{_span(age or 0)}"
        )
    return problems


def _message_problem(p: Report) -> str:
    if p["status"] == OutboxStatus.NOT_RENDERED:
        problem = str(p["last_error"]).removeprefix("digest not rendered: ")
        return (
            f"outbox: the digest for {p['recipient']} did not render ({p['attempts']} tries): "
            f"{problem}"
        )
    return (
        f"outbox: #{p['id']} to {p['recipient']} {p['status']} after {p['attempts']} attempts: "
        f"{p['last_error']}"
    )


# ---------------------------------------------------------------- text


def render_status(report: Report) -> str:
    """A one-screen summary of the report, ending with its problems (or "health: ok")."""
    now = _parse(report["generated_at"])
    assert now is not None
    crawl, articles = report["crawl"], report["articles"]
    cadence = (
        f"cron {crawl['cron']!r}" if crawl["cron"] else f"every {_span(crawl['every_seconds'])}"
    )
    lines = [
        f"newswatch status at {now:%Y-%m-%d %H:%M} UTC",
        f"database: {report['database']}",
        f"crawl: {cadence}, jitter {_span(crawl['jitter_seconds'])}",
    ]
    for source in report["sources"]:
        lines += _source_lines(source, now)
    lines += ["", f"articles: {articles['total']} stored, {articles['last_24h']} in the last 24 h"]
    lines += [
        f"  watchlist {w['name']}: {w['matches']} matches, {w['undelivered']} undelivered"
        for w in report["watchlists"]
    ]
    lines += _outbox_lines(report["outbox"], now)
    lines += ["subscribers:"] if report["subscribers"] else []
    for sub in report["subscribers"]:
        upcoming = (
            _show(sub["next_digest_at"], now) if sub["next_digest_at"] else "at every digest run"
        )
        lines.append(
            f"  {sub['email']} ({sub['schedule']}, {sub['timezone']}): last digest "
            f"{_show(sub['last_digest_at'], now)}, next {upcoming}"
        )
    problems = health_problems(report)
    lines += ["", "problems:" if problems else "health: ok", *(f"  ! {p}" for p in problems)]
    return "\n".join(lines)


def _source_lines(source: Report, now: datetime) -> list[str]:
    lines = [
        "",
        f"source {source['name']}: last ok {_show(source['last_success_at'], now)}, "
        f"next crawl {_show(source['next_crawl_at'], now)}",
    ]
    for run in source["runs"]:
        lines.append(
            f"  {_show(run['started_at'], now)}  {run['status']:<11} {run['pages']} pages, "
            f"{run['new']} new, {run['updated']} updated, {run['skipped_known']} known, "
            f"{run['errors']} errors, {run['selector_fallbacks']} fallbacks"
        )
    if not source["runs"]:
        lines.append("  never crawled")
    return lines + [f"  ! {warning}" for warning in source["warnings"]]


def _outbox_lines(outbox: Report, now: datetime) -> list[str]:
    age = outbox["oldest_pending_age_seconds"]
    oldest = f" (oldest waiting {_span(age)})" if age is not None else ""
    lines = [
        f"outbox: {outbox['pending']} pending{oldest}, {outbox['sent']} sent, "
        f"{outbox['failed']} failed, {outbox['uncertain']} uncertain"
    ]
    if claimed := outbox["claimed"]:
        lines.append(
            f"  {claimed['count']} claimed by a sender since {_at(claimed['since'], now)} "
            f"(lease until {_at(claimed['lease_until'], now)})"
        )
    if stale := outbox["stale_claims"]:
        lines.append(
            f"  {stale['count']} claimed by a sender since {_at(stale['since'], now)} that "
            f"stopped: the lease ran out at {_at(stale['lease_ran_out'], now)}, due again"
        )
    if outbox["returned_matches"]:
        lines.append(
            f"  {outbox['returned_matches']} matches of failed messages wait for the "
            "subscribers' next digests"
        )
    for p in outbox["problems"]:
        upcoming = f" (next try {_at(p['next_attempt_at'], now)})" if p["next_attempt_at"] else ""
        lines.append(
            f"  #{p['id']} {p['status']} after {p['attempts']} attempts: {p['recipient']} "
            f"{p['subject']!r}: {p['last_error']}{upcoming}"
        )
    if outbox["retrying_not_shown"]:
        lines.append(f"  … and {outbox['retrying_not_shown']} more retrying")
    if outbox["acknowledged"]:
        lines.append(f"  {outbox['acknowledged']} failed or uncertain, acknowledged (not shown)")
    if any(p["status"] != "retrying" for p in outbox["problems"]):
        lines.append(
            "  send again: `newswatch send --retry [--failed]`; "
            "accept as it is: `newswatch send --acknowledge ID`"
        )
    return lines


# ---------------------------------------------------------------- times


def _span(seconds: float) -> str:
    """``45s``, ``15m``, ``2h 5m``, ``3d 4h``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 3600:
        return f"{minutes}m"
    if seconds < 86400:
        return f"{hours}h {minutes % 60}m" if minutes % 60 else f"{hours}h"
    return f"{days}d {hours % 24}h" if hours % 24 else f"{days}d"


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text and text != "now" else None


def _at(text: str | None, now: datetime) -> str:
    """``11:55 UTC`` today, ``2024-05-01 11:55 UTC`` on another day."""
    moment = _parse(text)
    if moment is None:
        return text or "never"
    return f"{moment:%H:%M} UTC" if moment.date() == now.date() else f"{moment:%Y-%m-%d %H:%M} UTC"


def _show(text: str | None, now: datetime) -> str:
    """``2024-05-01 07:00 UTC (15m ago)``, ``... (in 5m)``, ``never`` or ``now``."""
    moment = _parse(text)
    if moment is None:
        return text or "never"
    delta = (moment - now).total_seconds()
    relative = f"in {_span(delta)}" if delta > 0 else f"{_span(-delta)} ago"
    return f"{moment:%Y-%m-%d %H:%M} UTC ({relative})"
