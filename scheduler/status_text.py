"""`newswatch status` for people: a one-screen summary of a
:class:`~scheduler.status_report.StatusReport`, ending with its problems (or "health: ok")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from scheduler.health import health_problems
from scheduler.problems import KeptProblem
from scheduler.status_report import (
    MailState,
    OutboxStatusReport,
    SourceStatus,
    StatusReport,
    SubscriberStatus,
)
from scheduler.time_text import clock_time, relative_time, span
from store.models import OutboxStatus


def render_status(
    report: StatusReport,
    kept: Sequence[KeptProblem] = (),
    silenced: Callable[[str], bool] = lambda key: False,
) -> str:
    """``kept``: the problems table's rows (`scheduler.problems.kept_problems`), for the start
    times; ``silenced``: whether ``[alerts] silence`` covers a problem's key."""
    now, crawl, articles = report.generated_at, report.crawl, report.articles
    cadence = f"cron {crawl.cron!r}" if crawl.cron else f"every {span(crawl.every)}"
    lines = [
        f"newswatch status at {now:%Y-%m-%d %H:%M} UTC",
        f"database: {report.database}",
        f"crawl: {cadence}, jitter {span(crawl.jitter)}",
    ]
    for source in report.sources:
        lines += _source_lines(source, now)
    lines += ["", f"articles: {articles.total} stored, {articles.last_24h} in the last 24 h"]
    lines += [
        f"  watchlist {w.name}: {w.matches} matches, {w.undelivered} undelivered"
        for w in report.watchlists
    ]
    lines += _outbox_lines(report.outbox, now)
    lines += ["subscribers:"] if report.subscribers else []
    for sub in report.subscribers:
        lines += _subscriber_lines(sub, now)
    problems = health_problems(report)
    loud = [p for p in problems if not silenced(p.key)]
    lines += ["", "problems:" if loud else "health: ok"]
    since = {row.key: row.started_at for row in kept if row.ended_at is None}
    for problem in sorted(problems, key=lambda p: silenced(p.key)):
        started = since.get(problem.key)
        when = f" (since {clock_time(started, now)})" if started else ""
        mark = "~ silenced:" if silenced(problem.key) else "!"
        lines.append(f"  {mark} {problem}{when}")
    ended = [row for row in kept if row.ended_at is not None]
    if ended:
        lines.append("recently ended:")
    for row in ended:
        assert row.ended_at is not None
        lines.append(
            f"  - {row.text} ({clock_time(row.started_at, now)} to {clock_time(row.ended_at, now)})"
        )
    return "\n".join(lines)


def _subscriber_lines(sub: SubscriberStatus, now: datetime) -> list[str]:
    """One line per subscriber, as their choices make them; one more per choice ignored."""
    chosen = sub.choices
    last = f"last digest {relative_time(sub.last_digest_at, now)}"
    upcoming = (
        relative_time(sub.next_digest_at, now) if sub.next_digest_at else "at every digest run"
    )
    if sub.state is MailState.UNSUBSCRIBED and chosen is not None:
        state = f"unsubscribed {clock_time(chosen.unsubscribed_at, now)}, not mailed; {last}"
    elif sub.state is MailState.NO_WATCHLISTS:
        state = f"left every watchlist, not mailed; {last}"
    elif sub.state is MailState.PAUSED and chosen is not None:
        state = f"paused until {clock_time(chosen.paused_until, now)}; {last}, next {upcoming}"
    else:
        state = f"{last}, next {upcoming}"
    notes = []
    if chosen is not None and (chosen.schedule or chosen.timezone):
        notes.append("their own schedule")
    if chosen is not None and chosen.left_watchlists and sub.state is not MailState.NO_WATCHLISTS:
        notes.append(f"left {', '.join(chosen.left_watchlists)}")
    extra = f" ({'; '.join(notes)})" if notes else ""
    lines = [f"  {sub.email} ({sub.schedule}, {sub.timezone}): {state}{extra}"]
    if sub.channels:
        lines.append(f"    channels: {', '.join(sub.channels)}")
    ignored = chosen.ignored if chosen is not None else ()
    lines += [f"    ! ignoring their choice of {problem}" for problem in ignored]
    return lines + [f"    ! {problem}" for problem in sub.problems]


def _source_lines(source: SourceStatus, now: datetime) -> list[str]:
    upcoming = "now" if source.never_crawled else relative_time(source.next_crawl_at, now)
    lines = [
        "",
        f"source {source.name}: last ok {relative_time(source.last_success_at, now)}, "
        f"next crawl {upcoming}",
    ]
    for run in source.runs:
        lines.append(
            f"  {relative_time(run.started_at, now)}  {run.status:<11} {run.pages} pages, "
            f"{run.new} new, {run.updated} updated, {run.skipped_known} known, "
            f"{run.errors} errors, {run.selector_fallbacks} fallbacks"
        )
    if source.never_crawled:
        lines.append("  never crawled")
    return lines + [f"  ! {warning}" for warning in source.warnings]


def _outbox_lines(outbox: OutboxStatusReport, now: datetime) -> list[str]:
    age = outbox.oldest_pending_age
    oldest = f" (oldest waiting {span(age.total_seconds())})" if age is not None else ""
    counts = outbox.counts
    lines = [
        f"outbox: {outbox.pending} pending{oldest}, {counts[OutboxStatus.SENT]} sent, "
        f"{counts[OutboxStatus.FAILED]} failed, {counts[OutboxStatus.UNCERTAIN]} uncertain"
    ]
    if claimed := outbox.claimed:
        lines.append(
            f"  {claimed.count} claimed by a sender since {clock_time(claimed.since, now)} "
            f"(lease until {clock_time(claimed.lease_end, now)})"
        )
    if stale := outbox.stale_claims:
        lines.append(
            f"  {stale.count} claimed by a sender since {clock_time(stale.since, now)} that "
            f"stopped: the lease ran out at {clock_time(stale.lease_end, now)}, due again"
        )
    if outbox.returned_matches:
        lines.append(
            f"  {outbox.returned_matches} matches of failed messages wait for the "
            "subscribers' next digests"
        )
    for p in outbox.problems:
        upcoming = f" (next try {clock_time(p.next_attempt_at, now)})" if p.next_attempt_at else ""
        lines.append(
            f"  #{p.id} {p.shown_status} after {p.attempts} attempts: {p.recipient}"
            f"{'' if p.channel == 'email' else ' via ' + p.channel} "
            f"{p.subject!r}: {p.last_error}{upcoming}"
        )
    if outbox.retrying_not_shown:
        lines.append(f"  … and {outbox.retrying_not_shown} more retrying")
    if outbox.acknowledged:
        lines.append(f"  {outbox.acknowledged} failed or uncertain, acknowledged (not shown)")
    if any(not p.retrying for p in outbox.problems):
        lines.append(
            "  send again: `newswatch send --retry [--failed]`; "
            "accept as it is: `newswatch send --acknowledge ID`"
        )
    return lines
