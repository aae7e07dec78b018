"""The health rules read from a source's history and the subscribers' schedules: drift of
the extraction, a quiet source, failing crawls, robots.txt, a backlog, a missed digest. Each is
shown by `newswatch status --check` (rows written under a fixed clock, or the command run under
libfaketime) and ends when its cause does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler.cli import main
from scheduler.config import ConfigError, HealthConfig, load_config
from store.clock import fixed_clock
from store.db import Database
from store.models import Article, CrawlRun, Match, OutboxMessage, SubscriberState
from tests.conftest import need

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
MIN, HOUR = timedelta(minutes=1), timedelta(hours=1)
DRIFT = (
    "source dw-en: 80% of the last run's pages (16 of 20) needed a fallback for authors, "
    "none over the 5 runs before: DW may have changed its layout"
)
FAKETIME = ["faketime", "-f"]
NEWSWATCH = [sys.executable, "-m", "scheduler.cli", "--config"]


@pytest.fixture(autouse=True)
def _no_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSWATCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("NEWSWATCH_SMTP_URL", raising=False)


def write_config(tmp_path: Path, url: str, health: str = "", source: str = "") -> Path:
    path = tmp_path / "newswatch.toml"
    path.write_text(
        f"""
[storage]
url = "{url}"

[crawl]
every = "15m"
jitter = "1m"

[health]
{health}

[[sources]]
name = "dw-en"
feeds = ["https://rss.dw.com/rdf/rss-en-all"]
{source}

[[watchlists]]
name = "syria"
terms = ["Raqqa"]

[[subscribers]]
email = "analyst@example.org"
watchlists = ["syria"]
schedule = "daily 07:00"
timezone = "UTC"
""",
        encoding="utf-8",
    )
    return path


def add(db: Database, *rows: Any) -> None:
    with db.session() as session:
        session.add_all(rows)
        session.commit()


def figures(pages: int = 20, length: int | None = 3000, **counts: Any) -> dict[str, Any]:
    """A run's extraction figures, as the crawl writes them."""
    fallbacks = {"authors": 0, "published_at": 0, "title": 0, "body": 0}
    fallbacks.update(counts.pop("fallbacks", {}))
    return {
        "pages": pages,
        "fallbacks": fallbacks,
        "empty_body": 0,
        "no_date": 0,
        "no_author": 0,
        "short_id_mismatch": 0,
        "median_body_length": length,
        "robots_disallowed": 0,
        **counts,
    }


def crawl_run(started: datetime, status: str = "ok", new: int = 3, **extraction: Any) -> CrawlRun:
    return CrawlRun(
        source="dw-en",
        started_at=started,
        finished_at=started + 2 * MIN,
        status=status,
        pages=0 if status == "failed" else 20,
        new=new,
        updated=0,
        skipped_known=20 - new,
        errors=4 if status == "failed" else 0,
        extraction=extraction.pop("figures", figures(**extraction)),
    )


def history(end: datetime, runs: int = 5) -> list[CrawlRun]:
    """Clean runs every 15 minutes, the last one 15 minutes before ``end``."""
    return [crawl_run(end - 15 * MIN * i) for i in range(runs, 0, -1)]


def check(path: Path, capsys: pytest.CaptureFixture[str], at: datetime = NOW) -> list[str]:
    """`newswatch status --check` at ``at``: its lines, with the exit code first."""
    code = main(["--config", str(path), "status", "--check"], clock=fixed_clock(at))
    return [str(code), *capsys.readouterr().out.splitlines()]


# ---------------------------------------------------------------- drift


def test_a_field_needing_fallbacks_it_never_needed_is_a_drift_until_a_clean_run(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, sqlite_url)
    with Database(sqlite_url) as db:
        add(db, crawl_run(NOW - 3 * HOUR, figures={}))  # an old row without figures
        add(db, *history(NOW - 10 * MIN))
        add(db, crawl_run(NOW - 10 * MIN, fallbacks={"authors": 16, "published_at": 2}))
        assert check(path, capsys) == ["1", DRIFT]
        # a run without figures changes nothing; the drift lasts while the layout does
        add(db, crawl_run(NOW - 8 * MIN, figures={}))
        assert check(path, capsys) == ["1", DRIFT]
        add(db, crawl_run(NOW - 6 * MIN, fallbacks={"authors": 20}))
        assert check(path, capsys) == [
            "1",
            "source dw-en: 100% of the last run's pages (20 of 20) needed a fallback for "
            "authors (2 runs in a row), none over the 5 runs before: DW may have changed its "
            "layout",
        ]
        assert main(["--config", str(path), "status", "--json"], clock=fixed_clock(NOW)) == 0
        report = json.loads(capsys.readouterr().out)
        assert any("fallback for authors" in w for w in report["sources"][0]["warnings"])
        assert main(["--config", str(path), "status"], clock=fixed_clock(NOW)) == 0
        assert "  ! source dw-en: 100% of the last run's pages" in capsys.readouterr().out
        add(db, crawl_run(NOW - 4 * MIN))  # the layout came back
        assert check(path, capsys) == ["0", "ok"]


def test_a_field_that_needed_fallbacks_before_or_a_small_share_is_no_drift(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, sqlite_url, health="drift_share = 0.5\ndrift_runs = 3")
    with Database(sqlite_url) as db:
        add(db, *history(NOW - 10 * MIN, runs=2))
        add(db, crawl_run(NOW - 40 * MIN, fallbacks={"title": 1}))
        add(db, crawl_run(NOW - 12 * MIN, fallbacks={"authors": 8}))  # 40% < 50%
        add(db, crawl_run(NOW - 10 * MIN, fallbacks={"authors": 8, "title": 15}))
        assert check(path, capsys) == ["0", "ok"]  # title needed one 3 runs back


def test_a_halved_median_body_length_is_a_problem_until_bodies_are_whole_again(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, sqlite_url)
    with Database(sqlite_url) as db:
        add(db, *history(NOW - 10 * MIN))
        add(db, crawl_run(NOW - 10 * MIN, length=1600))  # not yet half
        assert check(path, capsys) == ["0", "ok"]
        add(db, crawl_run(NOW - 8 * MIN, length=1200))
        assert check(path, capsys) == [
            "1",
            "source dw-en: the median body length fell to 1200 characters in the last run, "
            "from 3000 over the 5 runs before: DW may have changed its layout",
        ]
        add(db, crawl_run(NOW - 6 * MIN, length=1100))  # still short: still the problem
        assert check(path, capsys)[0] == "1"
        add(db, crawl_run(NOW - 4 * MIN, length=2900))
        assert check(path, capsys) == ["0", "ok"]


# ---------------------------------------------------------------- liveness


def test_three_failed_crawls_in_a_row_are_a_problem_until_one_succeeds(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, sqlite_url)
    with Database(sqlite_url) as db:
        add(db, crawl_run(NOW - 42 * MIN))  # finished 40 minutes ago: within 3 intervals
        add(db, *(crawl_run(NOW - m * MIN, "failed", new=0, figures={}) for m in (35, 20)))
        assert check(path, capsys) == ["0", "ok"]
        add(db, crawl_run(NOW - 5 * MIN, "failed", new=0, figures={}))
        assert check(path, capsys) == [
            "1",
            "source dw-en: the last 3 runs found nothing",  # the older rule, still true
            "source dw-en: the last 3 crawls failed",
        ]
        add(db, crawl_run(NOW - 3 * MIN))
        assert check(path, capsys) == ["0", "ok"]


def test_robots_txt_starting_to_disallow_is_a_problem_until_it_allows_again(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, sqlite_url)
    with Database(sqlite_url) as db:
        add(db, *history(NOW - 10 * MIN))
        add(db, crawl_run(NOW - 10 * MIN, robots_disallowed=4))
        assert check(path, capsys) == [
            "1",
            "source dw-en: robots.txt disallowed 4 pages in the last run, where earlier runs "
            "were allowed them",
        ]
        add(db, crawl_run(NOW - 5 * MIN))
        assert check(path, capsys) == ["0", "ok"]


def quiet_history(db: Database, end: datetime, every: timedelta) -> None:
    """Two days of runs every 15 minutes up to ``end``, finding something new every ``every``."""
    start = end - timedelta(days=2)
    runs, moment, last_new = [], start, start - every
    while moment <= end:
        new = moment - last_new >= every
        runs.append(crawl_run(moment, new=1 if new else 0))
        last_new = moment if new else last_new
        moment += 15 * MIN
    add(db, *runs)


def test_a_source_quiet_for_longer_than_the_floor_is_a_problem_until_something_new_comes(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, sqlite_url)
    with Database(sqlite_url) as db:
        quiet_history(db, NOW - 7 * HOUR, every=HOUR)  # new articles every hour
        # then it answers for 7 hours, with nothing new
        add(db, *(crawl_run(NOW - 7 * HOUR + 15 * MIN * i, new=0) for i in range(1, 28)))
        lines = check(path, capsys, at=NOW - 2 * HOUR)
        assert lines == ["0", "ok"]  # 5 hours: under the 6h floor
        assert check(path, capsys) == [
            "1",
            "source dw-en: answers but found nothing new since 2026-06-10T05:00:00+00:00 "
            "(7h; quiet after 6h)",
        ]
        add(db, crawl_run(NOW + 1 * MIN, new=2))
        assert check(path, capsys, at=NOW + 5 * MIN) == ["0", "ok"]


def test_the_usual_gap_is_learned_from_history_and_a_source_may_set_its_own_floor(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, sqlite_url)
    with Database(sqlite_url) as db:
        quiet_history(db, NOW, every=8 * HOUR)  # a slow section: something new every 8 hours
        last_new = NOW
        add(db, *(crawl_run(NOW + 15 * MIN * i, new=0) for i in range(1, 69)))
        at = last_new + 15 * HOUR
        assert check(path, capsys, at=at) == ["0", "ok"]  # under 2 × 8h
        assert check(path, capsys, at=last_new + 17 * HOUR)[1].endswith("quiet after 16h)")
    own = write_config(tmp_path, sqlite_url, source='quiet_after = "1d"')
    assert check(own, capsys, at=last_new + 17 * HOUR) == ["0", "ok"]


def test_a_quiet_feed_over_a_faked_clock(tmp_path: Path, sqlite_url: str) -> None:
    """`newswatch status --check` run under libfaketime, hours after the last new article."""
    need(shutil.which("faketime") is not None, "faketime is not installed")
    path = write_config(tmp_path, sqlite_url, health='quiet_after = "3h"')
    with Database(sqlite_url) as db:
        quiet_history(db, NOW, every=HOUR)
        add(db, *(crawl_run(NOW + 15 * MIN * i, new=0) for i in range(1, 17)))  # 4 quiet hours

    def status_check(at: datetime) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*FAKETIME, f"@{at:%Y-%m-%d %H:%M:%S}", *NEWSWATCH, str(path), "status", "--check"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "TZ": "UTC"},
        )

    early = status_check(NOW + 2 * HOUR)
    assert (early.returncode, early.stdout) == (0, "ok\n"), early.stderr
    late = status_check(NOW + 4 * HOUR + 5 * MIN)
    assert late.returncode == 1, late.stderr
    assert late.stdout.splitlines() == [
        "source dw-en: answers but found nothing new since 2026-06-10T12:00:00+00:00 "
        "(4h 5m; quiet after 3h)"
    ]


# ---------------------------------------------------------------- outbox and digests


def test_the_backlog_age_is_configurable(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    message = OutboxMessage(
        message_id="<1@newswatch>",
        recipient="reader@example.org",
        subject="Digest",
        text="text",
        html="<p>html</p>",
        status="pending",
        created_at=NOW - 20 * MIN,
        next_attempt_at=NOW - 20 * MIN,
    )
    with Database(sqlite_url) as db:
        add(db, message)
    assert check(write_config(tmp_path, sqlite_url), capsys) == ["0", "ok"]
    assert check(write_config(tmp_path, sqlite_url, health='backlog_age = "10m"'), capsys) == [
        "1",
        "outbox: backlog of 1 pending messages, the oldest waiting 20m",
    ]


def test_a_digest_slot_missed_with_matches_waiting_is_a_problem_until_a_digest_is_built(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, sqlite_url)
    story = Article(
        short_id="s1",
        content_id=1,
        url="https://www.dw.com/en/story/a-1",
        kind="article",
        title="Raqqa",
        content_hash=f"{1:064d}",
        first_seen_at=NOW - 20 * HOUR,
        updated_at=NOW - 20 * HOUR,
        checked_at=NOW - 20 * HOUR,
    )
    yesterday = SubscriberState(email="analyst@example.org", last_digest_at=NOW - 29 * HOUR)
    with Database(sqlite_url) as db:
        add(db, story, yesterday)
        assert check(path, capsys) == ["0", "ok"]  # no match waits: nothing to build
        add(db, Match(article_id=1, watchlist="syria", created_at=NOW - 6 * HOUR, updated_at=NOW))
        assert check(path, capsys, at=NOW - 4 * HOUR - 30 * MIN) == ["0", "ok"]  # in the grace
        assert check(path, capsys) == [
            "1",
            "digest: no digest for analyst@example.org since the slot 2026-06-10T07:00:00+00:00 "
            "(5h ago), with 1 matches waiting",
        ]
        with db.session() as session:
            state = session.get(SubscriberState, "analyst@example.org")
            assert state is not None
            state.last_digest_at = NOW - 5 * HOUR + MIN
            session.commit()
        assert check(path, capsys) == ["0", "ok"]


# ---------------------------------------------------------------- config


def test_health_thresholds_have_defaults_for_dw_and_bad_ones_are_refused(tmp_path: Path) -> None:
    health = HealthConfig()
    assert (health.drift_share, health.drift_runs, health.failing_crawls) == (0.2, 5, 3)
    assert (health.quiet_after, health.backlog_age, health.digest_grace) == (21600, 3600, 3600)
    url = f"sqlite:///{tmp_path / 'n.db'}"
    with pytest.raises(ConfigError, match=r"health\.drift_share"):
        load_config(write_config(tmp_path, url, health="drift_share = 2"))
    with pytest.raises(ConfigError, match=r"sources\[0\]\.quiet_after: .*not a duration"):
        load_config(write_config(tmp_path, url, source='quiet_after = "soon"'))
    assert (
        load_config(write_config(tmp_path, url, source='quiet_after = "12h"'))
        .sources[0]
        .quiet_after
        == 12 * 3600
    )
