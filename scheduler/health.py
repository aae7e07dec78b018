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
  newest run that read articles needed the selector fallback (DW may have changed its layout;
  a re-crawl answered 304 reads none, so it cannot tell), the newest run still "running" after
  2 intervals (the crawl was killed or hangs).

And, with the thresholds of ``[health]`` (:class:`scheduler.config.HealthConfig`), read from a
source's recent history (runs with no extraction data, as old rows have, are ignored):

* drift (``source:<name>:drift:<field>``): over ``drift_share`` of the newest run's pages
  needed a fallback for a field that needed none over the ``drift_runs`` runs before the drift
  began; body length (``source:<name>:body-length``): the newest run's median body length at
  most ``body_length_ratio`` of the median over those runs. Each ends when the newest run is
  clean again;
* quiet (``source:<name>:quiet``): the source answers (its newest finished run is ``ok``) but
  found nothing new for longer than its usual gap (the ``quiet_quantile`` of the gaps between
  runs that found something new, times ``quiet_factor``), and at least ``quiet_after`` (the
  source's own, else ``health.quiet_after``);
* failing (``source:<name>:failing``): its last ``failing_crawls`` finished runs failed;
* robots (``source:<name>:robots``): robots.txt disallowed pages in the newest run where an
  earlier run had none disallowed;
* a missed digest (``digest:<subscriber key>:missed``): an active subscriber's scheduled slot
  passed over ``digest_grace`` ago, with matches waiting from before it, and no digest since.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from scheduler.config import HealthConfig
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
BACKLOG_AGE = timedelta(hours=1)  # the defaults of health.backlog_age and backlog_count
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
    # a run that read no article (every index answered 304, nothing new) cannot tell whether
    # the layout is back: the newest run that read articles decides
    reading = [run for run in finished if run.new + run.updated or run.selector_fallbacks]
    if reading and reading[0].selector_fallbacks:
        warnings.append(
            Problem(
                f"the last run needed the selector fallback on {reading[0].selector_fallbacks} "
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


@dataclass(frozen=True)
class PastRun:
    """A finished crawl run, as the history rules read it."""

    started_at: datetime
    status: CrawlStatus
    new: int
    extraction: Mapping[str, Any]

    @property
    def measured(self) -> bool:
        """Whether the crawl recorded extraction figures (old rows: ``{}``)."""
        return bool(self.extraction) and bool(self.extraction.get("pages"))


def history_warnings(
    history: Sequence[PastRun],
    found_new: Sequence[datetime],
    now: datetime,
    health: HealthConfig,
    quiet_after: float | None = None,
) -> tuple[Problem, ...]:
    """The history rules for one source: ``history``, its finished runs newest first;
    ``found_new``, the start of its runs that found something new, newest first."""
    measured = [run.extraction for run in history if run.measured]
    return (
        *_drift(measured, health),
        *_body_length(measured, health),
        *_robots(history),
        *_failing(history, health),
        *_quiet(history, found_new, now, health, quiet_after),
    )


def _count(figures: Mapping[str, Any], name: str) -> int:
    value = figures.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _fallbacks(figures: Mapping[str, Any], field: str) -> int:
    counts = figures.get("fallbacks")
    return _count(counts, field) if isinstance(counts, Mapping) else 0


def _streak(runs: Sequence[Any], bad: Any) -> int:
    """How many runs, from the newest, are ``bad`` in a row."""
    streak = 0
    while streak < len(runs) and bad(runs[streak]):
        streak += 1
    return streak


def _drift(measured: Sequence[Mapping[str, Any]], health: HealthConfig) -> list[Problem]:
    if not measured or not isinstance(measured[0].get("fallbacks"), Mapping):
        return []
    newest, problems = measured[0], []
    for field in sorted(newest["fallbacks"]):

        def drifted(figures: Mapping[str, Any], field: str = field) -> bool:
            pages = _count(figures, "pages")
            return pages > 0 and _fallbacks(figures, field) / pages > health.drift_share

        streak = _streak(measured, drifted)
        before = measured[streak : streak + health.drift_runs]
        if not streak or not before or any(_fallbacks(f, field) for f in before):
            continue
        pages, needed = _count(newest, "pages"), _fallbacks(newest, field)
        lasting = f" ({streak} runs in a row)" if streak > 1 else ""
        problems.append(
            Problem(
                f"{needed / pages:.0%} of the last run's pages ({needed} of {pages}) needed a "
                f"fallback for {field}{lasting}, none over the {len(before)} runs before: "
                "DW may have changed its layout",
                f"drift:{field}",
            )
        )
    return problems


def _median_length(figures: Mapping[str, Any]) -> float | None:
    value = figures.get("median_body_length")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _body_length(measured: Sequence[Mapping[str, Any]], health: HealthConfig) -> list[Problem]:
    lengths = [length for f in measured if (length := _median_length(f)) is not None]
    for streak in range(1, len(lengths)):
        # the newest `streak` runs all short against the runs before them
        before = lengths[streak : streak + health.drift_runs]
        usual = statistics.median(before)
        if max(lengths[:streak]) > usual * health.body_length_ratio:
            continue
        return [
            Problem(
                f"the median body length fell to {lengths[0]:.0f} characters in the last run, "
                f"from {usual:.0f} over the {len(before)} runs before: DW may have changed "
                "its layout",
                "body-length",
            )
        ]
    return []


def _robots(history: Sequence[PastRun]) -> list[Problem]:
    measured = [run for run in history if run.extraction and "robots_disallowed" in run.extraction]
    if not measured:
        return []
    disallowed = _count(measured[0].extraction, "robots_disallowed")
    if not disallowed or not any(
        _count(r.extraction, "robots_disallowed") == 0 for r in measured[1:]
    ):
        return []
    return [
        Problem(
            f"robots.txt disallowed {disallowed} pages in the last run, where earlier runs "
            "were allowed them",
            "robots",
        )
    ]


def _failing(history: Sequence[PastRun], health: HealthConfig) -> list[Problem]:
    failed = _streak(history, lambda run: run.status == CrawlStatus.FAILED)
    if failed < health.failing_crawls:
        return []
    return [Problem(f"the last {failed} crawls failed", "failing")]


def usual_gap(found_new: Sequence[datetime], health: HealthConfig) -> float | None:
    """Seconds: the ``quiet_quantile`` of the gaps between runs that found something new,
    times ``quiet_factor``; None with fewer than two such runs."""
    gaps = sorted((a - b).total_seconds() for a, b in pairwise(found_new))
    if not gaps:
        return None
    index = min(len(gaps) - 1, max(0, round(health.quiet_quantile * len(gaps)) - 1))
    return gaps[index] * health.quiet_factor


def _quiet(
    history: Sequence[PastRun],
    found_new: Sequence[datetime],
    now: datetime,
    health: HealthConfig,
    quiet_after: float | None,
) -> list[Problem]:
    if not history or history[0].status != CrawlStatus.OK:
        return []  # it does not answer: the failing and no-success rules speak
    floor = quiet_after if quiet_after is not None else health.quiet_after
    limit = max(floor, usual_gap(found_new, health) or 0.0)
    since = found_new[0] if found_new else history[-1].started_at
    if (now - since).total_seconds() <= limit:
        return []
    what = f"since {iso(since)}" if found_new else f"in any run since {iso(since)}"
    return [
        Problem(
            f"answers but found nothing new {what} "
            f"({span((now - since).total_seconds())}; quiet after {span(limit)})",
            "quiet",
        )
    ]


def digest_warning(
    key: str, slot: datetime | None, waiting: int, now: datetime, health: HealthConfig
) -> Problem | None:
    """A missed digest: ``slot``, the latest passed slot the subscriber had no digest since;
    ``waiting``, the matches for them from before it."""
    if slot is None or not waiting or (now - slot).total_seconds() <= health.digest_grace:
        return None
    return Problem(
        f"digest: no digest for {key} since the slot {iso(slot)} "
        f"({span((now - slot).total_seconds())} ago), with {waiting} matches waiting",
        f"digest:{key}:missed",
    )


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
    problems += [
        p if isinstance(p, Problem) else Problem(p, f"digest:{sub.email}:missed")
        for sub in report.subscribers
        for p in sub.problems
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
    if outbox.pending > outbox.backlog_count or (age is not None and age > outbox.backlog_age):
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
