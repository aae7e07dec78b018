"""The health rules of `newswatch status`: one line per problem (``status --check``).

All are measured against the crawl *interval* (``crawl.every``, or with ``crawl.cron`` the gap
between its next two fire times):

* a source with no successful (``ok``) crawl in 3 intervals. A source that never succeeded is
  measured from the first crawl run in the database, so a fresh install that has crawled
  nothing yet is healthy; a source added to an old database counts until its first crawl;
* each failed or uncertain outbox message (one line each) until an operator re-queues it
  (``send --retry [--failed]``) or acknowledges it (``send --acknowledge ID``); each unrendered
  one (``not_rendered``) until a digest renders for that subscriber again (it cannot be
  re-queued or acknowledged); a backlog: a pending message older than 1 hour, or over 100
  pending;
* every source warning (:func:`source_warnings`): the last 3 finished runs found nothing, the
  last finished run needed the selector fallback (DW may have changed its layout), the newest
  run still "running" after 2 intervals (the crawl was killed or hangs).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from scheduler.status_report import (
    MessageProblem,
    OutboxStatusReport,
    RunFigures,
    SourceStatus,
    StatusReport,
)
from scheduler.time_text import iso, span
from store.models import CrawlStatus, OutboxStatus

EMPTY_RUNS = 3  # this many empty finished runs in a row: a warning
STALE_INTERVALS = 2  # a run "running" for longer than this many intervals was killed
UNHEALTHY_INTERVALS = 3  # no successful crawl for this many intervals: a problem
BACKLOG_AGE = timedelta(hours=1)
BACKLOG_COUNT = 100


class Problem(str):
    """One problem: its text, as ``status --check`` prints it, and a ``key`` that stays the same
    while the problem lasts (``source:dw-en:no-success``, ``outbox:message:12``), which the
    problems table, the operator's alerts and ``[alerts] silence`` go by."""

    key: str

    def __new__(cls, text: str, key: str) -> Problem:
        problem = super().__new__(cls, text)
        problem.key = key
        return problem


def source_warnings(
    runs: Sequence[RunFigures], interval: timedelta, running_for: timedelta | None
) -> tuple[Problem, ...]:
    """What the latest runs of a source (newest first) warn of; ``running_for``: how long the
    newest run has been "running" (None when it is not)."""
    warnings: list[Problem] = []
    finished = [run for run in runs if run.status != CrawlStatus.RUNNING]
    if len(finished) >= EMPTY_RUNS and all(map(_found_nothing, finished[:EMPTY_RUNS])):
        warnings.append(Problem(f"the last {EMPTY_RUNS} runs found nothing", "empty-runs"))
    if finished and finished[0].selector_fallbacks:
        warnings.append(
            Problem(
                f"the last run needed the selector fallback on {finished[0].selector_fallbacks} "
                "pages: DW may have changed its layout",
                "selector-fallback",
            )
        )
    if runs and running_for is not None and running_for > STALE_INTERVALS * interval:
        warnings.append(
            Problem(
                f"the crawl started {iso(runs[0].started_at)} is still 'running' after "
                f"{span(running_for.total_seconds())}: it was probably killed",
                "stale-run",
            )
        )
    return tuple(warnings)


def _found_nothing(run: RunFigures) -> bool:
    return not run.pages or not run.new + run.updated + run.skipped_known


def health_problems(report: StatusReport) -> list[Problem]:
    """One line per problem; an empty list means healthy."""
    problems = []
    for source in report.sources:
        stale = _no_recent_success(source, report)
        if stale:
            problems.append(
                Problem(f"source {source.name}: {stale}", f"source:{source.name}:no-success")
            )
        problems += [
            Problem(f"source {source.name}: {w}", f"source:{source.name}:{_key(w)}")
            for w in source.warnings
        ]
    return problems + _outbox_problems(report.outbox)


def _key(warning: str) -> str:
    return warning.key if isinstance(warning, Problem) else "warning"


def _no_recent_success(source: SourceStatus, report: StatusReport) -> str | None:
    limit = UNHEALTHY_INTERVALS * report.crawl.interval
    now, last = report.generated_at, source.last_success_at
    if last is not None:
        if now - last <= limit:
            return None
        return f"no successful crawl since {iso(last)} (over {span(limit.total_seconds())})"
    first = report.first_crawl_at
    if first is None or now - first <= limit:
        return None  # nothing crawled yet at all, or crawling began too recently to judge
    return (
        f"no successful crawl yet, {span((now - first).total_seconds())} after the first crawl "
        "in the database"
    )


def _outbox_problems(outbox: OutboxStatusReport) -> list[Problem]:
    problems = [_message_problem(p) for p in outbox.problems if not p.retrying]
    age = outbox.oldest_pending_age
    if outbox.pending > BACKLOG_COUNT or (age is not None and age > BACKLOG_AGE):
        waiting = age.total_seconds() if age is not None else 0
        problems.append(
            Problem(
                f"outbox: backlog of {outbox.pending} pending messages, the oldest waiting "
                f"{span(waiting)}",
                "outbox:backlog",
            )
        )
    return problems


def _message_problem(p: MessageProblem) -> Problem:
    if p.status == OutboxStatus.NOT_RENDERED:
        problem = str(p.last_error).removeprefix("digest not rendered: ")
        return Problem(
            f"outbox: the digest for {p.recipient} did not render ({p.attempts} tries): {problem}",
            f"outbox:not-rendered:{p.recipient}",
        )
    return Problem(
        f"outbox: #{p.id} to {p.recipient} {p.status} after {p.attempts} attempts: {p.last_error}",
        f"outbox:message:{p.id}",
    )
