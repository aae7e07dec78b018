"""Shared fixtures: the real DW samples, databases (SQLite files, PostgreSQL on loopback)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PG_HOST, PG_PORT = "127.0.0.1", 5432


def services_required() -> bool:
    return os.environ.get("NEWSWATCH_REQUIRE_SERVICES") == "1"


def need(condition: bool, reason: str) -> None:
    """Skip with the reason, or fail where CI requires the machine's services."""
    if condition:
        return
    if services_required():
        pytest.fail(f"{reason} (NEWSWATCH_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def place_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The place-name cache (alerts.places) of this test run, for it and every process it starts:
    built once per run, never in the user's ~/.cache."""
    folder = tmp_path_factory.mktemp("newswatch-cache")
    before = os.environ.get("NEWSWATCH_CACHE_DIR")
    os.environ["NEWSWATCH_CACHE_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("NEWSWATCH_CACHE_DIR", None)
    else:
        os.environ["NEWSWATCH_CACHE_DIR"] = before


@pytest.fixture(scope="session")
def dw_samples() -> Path:
    folder = os.environ.get("NEWSWATCH_DW_SAMPLES")
    need(bool(folder), "NEWSWATCH_DW_SAMPLES is not set: no real DW pages to test against")
    path = Path(folder or "")
    need(path.is_dir(), f"NEWSWATCH_DW_SAMPLES={folder} is not a folder")
    return path


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'newswatch.db'}"


@contextmanager
def fresh_database_url(kind: str, folder: Path) -> Iterator[str]:
    """A new empty database: a SQLite file in ``folder``, or a PostgreSQL database on
    127.0.0.1:5432 dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'newswatch-{uuid.uuid4().hex[:8]}.db'}"
        return
    need(_reachable(PG_HOST, PG_PORT), f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT}")
    import psycopg

    name = f"newswatch_test_{uuid.uuid4().hex[:12]}"
    admin = f"host={PG_HOST} port={PG_PORT} dbname=test user=postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database_url("postgresql", tmp_path) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes this runs on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")
