"""Durations and sizes `check` accepts are ones `run` can use: the rest is a one-line error
naming the field (exit 2), never an OverflowError later."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler.cli import main
from scheduler.config import load_config
from scheduler.service import crawl_trigger
from store.db import Database
from store.prune import prune

HUGE_INT = "9" * 400  # a TOML integer no float holds


def check(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str, str]:
    code = main(["--config", str(path), "check"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("toml", "field", "why"),
    [
        ('[crawl]\nevery = "inf"\n', "crawl.every", "not a duration"),
        ("[crawl]\nevery = inf\n", "crawl.every", "too long"),
        ("[crawl]\nevery = nan\n", "crawl.every", "not a duration"),
        ("[crawl]\nevery = 1e308\n", "crawl.every", "too long"),
        (f"[crawl]\nevery = {HUGE_INT}\n", "crawl.every", "too long"),
        ('[crawl]\nevery = "99999999999d"\n', "crawl.every", "too long"),
        ('[crawl]\nevery = "366d"\n', "crawl.every", "at most 365d"),
        ('[crawl]\nevery = "0s"\n', "crawl.every", "longer than 0"),
        ('[crawl]\nevery = "-5m"\n', "crawl.every", "not a duration"),
        ("[crawl]\nevery = -300\n", "crawl.every", "negative"),
        ('[crawl]\njitter = "9999999d"\n', "crawl.jitter", "too long"),
        ('[crawl]\nevery = "15m"\njitter = "16m"\n', "crawl.jitter", "longer than crawl.every"),
        ('[crawl]\nevery = "5s"\n', "crawl.jitter", "longer than crawl.every"),  # the 10s default
        (
            '[crawl]\ncron = "*/5 * * * *"\njitter = "6m"\n',
            "crawl.jitter",
            "shortest gap between crawl.cron's times (5m)",
        ),
        ("[crawl]\njitter = -1\n", "crawl.jitter", "negative"),
        ('[crawl]\ndelay = "2h"\n', "crawl.delay", "at most 1h"),
        ("[crawl]\ndelay = inf\n", "crawl.delay", "too long"),
        ('[crawl]\ntimeout = "0s"\n', "crawl.timeout", "longer than 0"),
        ("[crawl]\ntimeout = 1e308\n", "crawl.timeout", "at most 1h"),
        ('[crawl]\nmax_page_size = "99999999999GB"\n', "crawl.max_page_size", "at most 100MB"),
        (f"[crawl]\nmax_page_size = {HUGE_INT}\n", "crawl.max_page_size", "too large"),
        ("[crawl]\nmax_page_size = inf\n", "crawl.max_page_size", "not a size"),
        ("[crawl]\nmax_page_size = 0\n", "crawl.max_page_size", "more than 0"),
        ("[mail]\ntimeout = inf\n", "mail.timeout", "too long"),
        ("[mail]\ntimeout = 1e308\n", "mail.timeout", "at most 1h"),
        ("[mail]\ntimeout = -1\n", "mail.timeout", "negative"),
        ('[mail]\ntimeout = "0s"\n', "mail.timeout", "longer than 0"),
        ('[mail]\ngive_up_after = "99999d"\n', "mail.give_up_after", "at most 30d"),
        ('[mail]\ngive_up_after = "10m"\n', "mail.give_up_after", "3600"),
        ("[storage]\nkeep_days = 99999999999\n", "storage.keep_days", "36500"),
        ("[storage]\nkeep_days = 0\n", "storage.keep_days", "greater than or equal to 1"),
        ("[crawl]\nparse_workers = -1\n", "crawl.parse_workers", "from 0 to 32"),
        ('[crawl]\nparse_workers = "many"\n', "crawl.parse_workers", "'many': \"auto\" or a"),
        ("[crawl]\nparse_workers = 33\n", "crawl.parse_workers", "from 0 to 32"),
    ],
)
def test_a_hostile_duration_or_size_is_one_line_naming_the_field(
    capsys, tmp_path, toml, field, why
) -> None:
    path = tmp_path / "newswatch.toml"
    path.write_text(toml)
    code, out, err = check(capsys, path)
    assert code == 2
    assert out == ""
    [line] = err.strip().splitlines()
    assert f": {field}: " in line
    assert why in line


def test_the_largest_values_check_accepts_are_ones_the_service_can_schedule(
    capsys, tmp_path
) -> None:
    url = f"sqlite:///{tmp_path / 'nw.db'}"
    path = tmp_path / "newswatch.toml"
    path.write_text(
        f'[storage]\nurl = "{url}"\nkeep_days = 36500\n'
        '[crawl]\nevery = "365d"\njitter = "365d"\ndelay = "1h"\ntimeout = "1h"\n'
        'max_page_size = "100MB"\n'
        "[mail]\ntimeout = 3600\n"
    )
    assert check(capsys, path)[0] == 0
    config = load_config(path)
    now = datetime.now(UTC)
    first = crawl_trigger(config).get_next_fire_time(None, now)
    assert first is not None and first >= now
    assert crawl_trigger(config).get_next_fire_time(first, first) > first
    with Database(url) as db:
        assert prune(db, keep_days=config.storage.keep_days, now=now)["articles"] == 0
    assert main(["--config", str(path), "status", "--check"]) == 0
    assert main(["--config", str(path), "articles", "--since", "36500d"]) == 0
    assert capsys.readouterr().out.strip().endswith("0 articles")


@pytest.mark.parametrize("since", ["99999999999d", "1e400", "inf", "-1h"])
@pytest.mark.parametrize("command", ["articles", "match"])
def test_a_hostile_since_is_a_usage_error_not_a_traceback(capsys, tmp_path, command, since):
    path = tmp_path / "newswatch.toml"
    path.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "nw.db"}"\n')
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(path), command, "--since", since])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"newswatch {command}: error: argument --since")
