"""What `newswatch` says when its database cannot be used: a missing SQLite file for a command
that only reads, an unreachable server, a full disk, a schema from another version. Each is one
line on stderr and exit 1 (the traceback only with -v), and reading never creates or upgrades
the database. The commands run as real processes, as a user runs them."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text

from store.articles import upsert_article
from store.db import Database, alembic_config, make_engine
from store.models import Article, Match
from tests.articles import article_fields
from tests.conftest import fresh_database_url

ROOT = Path(__file__).resolve().parents[1]
CREATES = "(`newswatch crawl` or `newswatch run` creates it; or fix storage.url)"
READING = [["status"], ["status", "--check"], ["status", "--json"], ["articles"]]
READING += [["match", "--dry-run"]]


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def error_line(self) -> str:
        """The one line the failure printed; fails unless stdout is empty and stderr one line."""
        assert self.out == "", self.out
        lines = self.err.splitlines()
        assert len(lines) == 1, self.err
        return lines[0]


def newswatch(config: Path, *args: str, cwd: Path) -> Result:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    done = subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**env, "PYTHONPATH": str(ROOT)},
        timeout=300,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_config(folder: Path, url: str) -> Path:
    """A config whose one source is a loopback port nothing listens on: a crawl that did start
    would fail at once, without reaching the internet."""
    path = folder / "newswatch.toml"
    path.write_text(
        f'[storage]\nurl = "{url}"\n\n'
        f'[[sources]]\nname = "local"\nfeeds = ["http://127.0.0.1:{free_port()}/feed"]\n'
        'allowed_domains = ["127.0.0.1"]\n\n'
        '[[watchlists]]\nname = "syria"\nterms = ["Raqqa"]\n',
        encoding="utf-8",
    )
    return path


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ---------------------------------------------------------------- a missing SQLite file


@pytest.mark.parametrize("command", READING, ids=" ".join)
def test_reading_a_mistyped_sqlite_path_says_it_does_not_exist_and_creates_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    config = write_config(tmp_path, "sqlite:///newswach.db")  # newswatch.db, mistyped
    before = files_in(tmp_path)
    result = newswatch(config, *command, cwd=tmp_path)
    assert result.code == 1
    assert result.error_line == (
        f"newswatch: database sqlite:///newswach.db ({tmp_path / 'newswach.db'}) does not exist "
        + CREATES
    )
    assert files_in(tmp_path) == before


def test_reading_a_path_in_a_missing_folder_creates_neither_folder_nor_file(
    tmp_path: Path,
) -> None:
    database = tmp_path / "no-such-folder" / "newswatch.db"
    config = write_config(tmp_path, f"sqlite:///{database}")
    result = newswatch(config, "status", "--check", cwd=tmp_path)
    assert result.code == 1
    assert result.error_line == f"newswatch: database sqlite:///{database} does not exist {CREATES}"
    assert not database.parent.exists()


def test_a_command_that_writes_still_creates_the_database_and_status_then_shows_it_empty(
    tmp_path: Path,
) -> None:
    database = tmp_path / "new" / "newswatch.db"
    config = write_config(tmp_path, f"sqlite:///{database}")
    match = newswatch(config, "match", cwd=tmp_path)
    assert match.code == 0 and match.out.startswith("0 articles checked\n")
    assert database.is_file()
    status = newswatch(config, "status", cwd=tmp_path)
    assert status.code == 0 and status.err == ""
    lines = status.out.splitlines()
    assert lines[1:] == [
        f"database: sqlite:///{database}",
        "crawl: every 5m, jitter 10s",
        "",
        "source local: last ok never, next crawl now",
        "  never crawled",
        "",
        "articles: 0 stored, 0 in the last 24 h",
        "  watchlist syria: 0 matches, 0 undelivered",
        "outbox: 0 pending, 0 sent, 0 failed, 0 uncertain",
        "",
        "health: ok",
    ]
    check = newswatch(config, "status", "--check", cwd=tmp_path)
    assert (check.code, check.out, check.err) == (0, "ok\n", "")


def test_a_sqlite_path_under_a_file_is_one_line_for_a_command_that_writes(
    tmp_path: Path,
) -> None:
    (tmp_path / "data").write_text("not a folder")
    config = write_config(tmp_path, "sqlite:///data/newswatch.db")
    result = newswatch(config, "crawl", cwd=tmp_path)
    assert result.code == 1
    assert result.error_line == (
        "newswatch: cannot open database sqlite:///data/newswatch.db: Not a directory: data"
    )
    assert (tmp_path / "data").read_text() == "not a folder"


def test_a_file_that_is_not_a_database_is_one_line_and_left_alone(tmp_path: Path) -> None:
    config = write_config(tmp_path, "sqlite:///newswatch.toml")  # the config, not the database
    before = config.read_bytes()
    for command in (["status"], ["crawl"]):
        result = newswatch(config, *command, cwd=tmp_path)
        assert result.code == 1
        assert result.error_line == (
            "newswatch: cannot open database sqlite:///newswatch.toml: file is not a database"
        )
    assert config.read_bytes() == before
    assert files_in(tmp_path) == ["newswatch.toml"]


# ---------------------------------------------------------------- an unreachable server


@pytest.mark.parametrize("command", ["run", "status", "crawl"])
def test_an_unreachable_postgresql_server_is_one_line_without_the_password(
    tmp_path: Path, command: str
) -> None:
    port = free_port()
    config = write_config(tmp_path, f"postgresql://newswatch:hunter2@127.0.0.1:{port}/newswatch")
    result = newswatch(config, command, cwd=tmp_path)
    assert result.code == 1
    assert result.error_line == (
        f"newswatch: cannot open database postgresql://newswatch:***@127.0.0.1:{port}/newswatch: "
        f'connection failed: connection to server at "127.0.0.1", port {port} failed: '
        "Connection refused"
    )


def test_verbose_adds_the_traceback_and_still_not_the_password(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, f"postgresql://newswatch:hunter2@127.0.0.1:{port}/newswatch")
    result = newswatch(config, "-v", "status", cwd=tmp_path)
    assert result.code == 1 and result.out == ""
    first, *rest = result.err.splitlines()
    assert first.startswith("newswatch: cannot open database postgresql://newswatch:***@")
    assert "Traceback (most recent call last):" in rest
    assert any("psycopg.OperationalError" in line for line in rest)
    assert "hunter2" not in result.err


def test_an_empty_postgresql_database_is_refused_by_status_and_left_empty(tmp_path: Path) -> None:
    with fresh_database_url("postgresql", tmp_path) as url:
        config = write_config(tmp_path, url)
        result = newswatch(config, "status", cwd=tmp_path)
        assert result.code == 1
        assert result.error_line == (
            f"newswatch: database {url} has no newswatch tables (`newswatch crawl` or "
            "`newswatch run` creates them; or fix storage.url)"
        )
        engine = make_engine(url)
        try:
            assert inspect(engine).get_table_names() == []
        finally:
            engine.dispose()


# ---------------------------------------------------------------- a schema of another version


# the schema this newswatch migrates to: its newest Alembic revision
HEAD = ScriptDirectory.from_config(alembic_config(make_engine("sqlite://"))).get_current_head()


def test_an_older_schema_is_named_by_reading_commands_and_upgraded_by_writing_ones(
    tmp_path: Path,
) -> None:
    from alembic import command as alembic

    url = f"sqlite:///{tmp_path / 'newswatch.db'}"
    engine = make_engine(url)
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        alembic.upgrade(config, "0001")
    engine.dispose()
    config_file = write_config(tmp_path, url)
    for command in (["status"], ["articles"], ["match", "--dry-run"]):
        result = newswatch(config_file, *command, cwd=tmp_path)
        assert result.code == 1
        assert result.error_line == (
            f"newswatch: database {url} has an older schema (revision 0001; this newswatch "
            f"needs {HEAD}): `newswatch crawl` or `newswatch run` upgrades it"
        )
    assert _revision(url) == "0001"  # reading did not upgrade it
    assert newswatch(config_file, "match", cwd=tmp_path).code == 0
    assert _revision(url) == HEAD
    assert newswatch(config_file, "status", "--check", cwd=tmp_path).out == "ok\n"


def test_a_schema_from_a_newer_newswatch_is_one_line_for_reading_and_writing(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'newswatch.db'}"
    with Database(url) as db, db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0009'"))
    config = write_config(tmp_path, url)
    for command in (["status"], ["crawl"], ["match"]):
        result = newswatch(config, *command, cwd=tmp_path)
        assert result.code == 1
        assert result.error_line == (
            f"newswatch: database {url} has schema revision 0009, which this newswatch does not "
            "know (a newer newswatch upgraded it): upgrade newswatch"
        )
    assert _revision(url) == "0009"


def _revision(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()


# ---------------------------------------------------------------- a full disk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real file system of its own, 4 MB (tmpfs; mounting needs root: skipped without)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill ``disk`` up, then free ``leave`` bytes; the filler file is returned."""
    filler = disk / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for chunk in (b"\0" * (1 << 16), b"\0" * (1 << 12)):
            try:
                while os.write(descriptor, chunk):
                    pass
            except OSError as error:
                assert error.errno == errno.ENOSPC
    finally:
        os.close(descriptor)
    os.truncate(filler, max(filler.stat().st_size - leave, 0))
    return filler


def test_a_full_disk_at_start_is_one_line(small_disk: Path) -> None:
    fill(small_disk)
    url = f"sqlite:///{small_disk / 'newswatch.db'}"
    config = write_config(small_disk.parent, url)
    for command in ("crawl", "run"):
        result = newswatch(config, command, cwd=small_disk.parent)
        assert result.code == 1
        assert (
            result.error_line == f"newswatch: cannot open database {url}: database or disk is full"
        )


def test_a_disk_filling_up_during_a_command_is_one_line_and_loses_nothing(
    small_disk: Path,
) -> None:
    url = f"sqlite:///{small_disk / 'newswatch.db'}"
    body = "Residents return to Raqqa. " + "The city is rebuilt street by street. " * 40
    with Database(url) as db, db.session() as session:
        for n in range(400):
            cid = 70_000_000 + n
            upsert_article(
                session,
                article_fields(
                    cid,
                    url=f"https://www.dw.com/en/x/a-{cid}",
                    title=f"Raqqa, day {n}",
                    body=body,
                    published_at=datetime(2026, 11, 30, tzinfo=UTC),
                ),
                datetime(2026, 11, 30, 12, tzinfo=UTC),
            )
        session.commit()
    filler = fill(small_disk, leave=64 << 10)  # room to open, not to store 400 matches
    config = write_config(small_disk.parent, url)
    result = newswatch(config, "match", cwd=small_disk.parent)
    assert result.code == 1
    assert result.error_line == f"newswatch: database {url}: database or disk is full"
    filler.unlink()
    with Database(url, must_exist=True) as db, db.session() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 400
        assert session.scalar(select(func.count()).select_from(Match)) == 0
        assert session.scalar(select(func.count()).where(Article.matched_at.is_not(None))) == 0
