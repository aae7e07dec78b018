"""Engine and session factory from a database URL; the schema is upgraded on open.

A command that only reads opens with ``must_exist=True``: a missing SQLite file is refused, not
created, and the schema is checked, not upgraded. Every failure to open, and every database
error escaping a ``with Database(...)`` block, is a :class:`DatabaseUnavailable` whose message
is one line naming the database (never its password); the driver's error is its cause."""

from __future__ import annotations

import errno
import os
import sqlite3
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from types import TracebackType

    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000
FIRST_WRITE = "`newswatch crawl` or `newswatch run`"  # the commands that create a database


class DatabaseUnavailable(Exception):
    """The database cannot be used as asked. The message is one line for the user; the
    driver's error, if there was one, is the ``__cause__``."""


def display_url(url: str) -> str:
    """The database URL as it may be printed or logged: no password."""
    return make_url(url).render_as_string(hide_password=True)


def driver_message(error: BaseException) -> str:
    """The first line of what the database driver said (without SQLAlchemy's SQL and link)."""
    original = error.orig if isinstance(error, DBAPIError) else error
    if isinstance(original, OSError) and original.strerror:
        where = original.filename
        return f"{original.strerror}: {where}" if where else original.strerror
    lines = str(original).strip().splitlines()
    return " ".join(lines[0].split()) if lines else type(original).__name__


def describe_error(error: BaseException, limit: int = 300) -> str:
    """The error's type and the driver's first line, at most ``limit`` characters (the
    SQLAlchemy text repeats the statement and every parameter)."""
    cause = getattr(error, "orig", None) or error
    return f"{type(cause).__name__}: {driver_message(error)}"[:limit]


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for PostgreSQL and in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if "uri" in parsed.query:  # a SQLite URI (file:...?mode=...): SQLite decides
        return None
    return Path(parsed.database or "")


# every PostgreSQL connection notices a silently dead peer (a failover, a cut cable, no RST) in
# seconds, not after the kernel's two hours of TCP retries; and a session left behind in the
# middle of a transaction (its client gone, its server end still open: a proxy, a NAT) is ended
# by the server before its row locks can block the next writer for good. newswatch never keeps a
# transaction waiting that long between two statements (no network I/O inside one).
IDLE_IN_TRANSACTION_SECONDS = 20
POSTGRES_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
    "options": f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_SECONDS}s",
}


def make_engine(url: str, *, must_exist: bool = False, **kwargs: Any) -> Engine:
    """An engine for SQLite (WAL, busy timeout, foreign keys) or PostgreSQL (psycopg 3).

    ``postgresql://`` URLs use psycopg 3, the driver newswatch installs. SQLite creates a
    missing file (and its folder); with ``must_exist`` it refuses to (SQLite's ``mode=rw``)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(url)
        if path is not None and must_exist:
            uri = "file:" + quote(str(path.absolute()))
            parsed = parsed.set(database=uri, query={**parsed.query, "mode": "rw", "uri": "true"})
        elif path is not None:
            _make_folder(path.parent)
        engine = create_engine(
            parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )
        # WAL is kept in the file: a reading open need not (re)set it, which would write
        event.listen(engine, "connect", partial(_sqlite_pragmas, wal=not must_exist))
        return engine
    connect_args = {**POSTGRES_CONNECT_ARGS, **kwargs.pop("connect_args", {})}
    return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def _make_folder(folder: Path) -> None:
    """``folder`` and its parents; a file in the way is "Not a directory", not "File exists"."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(existing))
    folder.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, wal: bool = True) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    if wal:
        _journal_in_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _journal_in_wal(cursor: sqlite3.Cursor) -> None:
    """``PRAGMA journal_mode=WAL``. Two connections turning one new file to WAL at the same
    moment: SQLite refuses one at once ("database is locked") without asking its busy handler,
    so it is asked again, every 10 ms until the busy timeout, as the busy handler would."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            busy = error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY  # "database is locked"
            if not busy or time.monotonic() >= deadline:
                raise
        time.sleep(0.01)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config  # imported on use: a crawl subprocess need not load it

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


# PostgreSQL advisory lock key held while a process upgrades the schema ("newswatc" in ASCII)
MIGRATION_LOCK = 0x6E657773_77617463


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (a no-op when it is there already), one process
    at a time: each holds the database's lock for its whole upgrade, so that processes opening
    a new database at once (`newswatch run` and `newswatch crawl` started together) wait for the
    first, which makes the schema, and then find it made, instead of making the same tables
    again ("table articles already exists")."""
    from alembic import command

    with engine.begin() as connection:
        _lock_for_upgrade(connection)
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _revisions(connection: Connection) -> tuple[set[str], set[str]]:
    """The database's schema revisions, and the newest this newswatch knows."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    current = MigrationContext.configure(connection).get_current_heads()
    return set(current), set(script.get_heads())


def _lock_for_upgrade(connection: Connection) -> None:
    """SQLite: take the write lock now (``BEGIN IMMEDIATE``; the driver would begin only at the
    first INSERT, after the tables are made), waiting up to the busy timeout for another writer.
    PostgreSQL: newswatch's advisory lock, released with the transaction."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")


def schema_problem(
    current: set[str], newest: set[str], shown: str, *, must_be_newest: bool
) -> str | None:
    """Why a database at schema revisions ``current`` will not do, in one line, or None
    (``_revisions``). A revision this newswatch does not know never does; one behind the newest
    (or none) only ``must_be_newest``."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    if current == newest:
        return None
    script = ScriptDirectory(str(MIGRATIONS))
    for revision in current:
        try:
            script.get_revision(revision)
        except CommandError:
            return (
                f"database {shown} has schema revision {revision}, which this newswatch does "
                "not know (a newer newswatch upgraded it): upgrade newswatch"
            )
    if not must_be_newest:
        return None
    if not current:
        return (
            f"database {shown} has no newswatch tables ({FIRST_WRITE} creates them; "
            "or fix storage.url)"
        )
    return (
        f"database {shown} has an older schema (revision {', '.join(sorted(current))}; this "
        f"newswatch needs {', '.join(sorted(newest))}): {FIRST_WRITE} upgrades it"
    )


class Database:
    """One database: its engine and a session factory. ``Database(url)`` upgrades the schema
    (creating a missing SQLite file); ``must_exist=True``, for commands that only read, writes
    nothing: it refuses a missing SQLite file and a schema that is not the newest."""

    def __init__(self, url: str, *, migrate: bool = True, must_exist: bool = False) -> None:
        self.url = url
        shown = display_url(url)
        path = sqlite_file(url)
        if must_exist and path is not None and not path.is_file():
            where = "" if path.is_absolute() else f" ({path.absolute()})"
            raise DatabaseUnavailable(
                f"database {shown}{where} does not exist ({FIRST_WRITE} creates it; "
                "or fix storage.url)"
            )
        try:
            self.engine = make_engine(url, must_exist=must_exist)
        except OSError as error:  # the SQLite file's folder cannot be made
            raise DatabaseUnavailable(
                f"cannot open database {shown}: {driver_message(error)}"
            ) from error
        try:
            if must_exist or migrate:
                with self.engine.connect() as connection:
                    current, newest = _revisions(connection)
                problem = schema_problem(current, newest, shown, must_be_newest=must_exist)
                if problem:
                    raise DatabaseUnavailable(problem)
                # the common case, the schema newest already, takes no lock; else upgrade()
                # takes it, and finds what another opener made meanwhile
                if migrate and not must_exist and current != newest:
                    upgrade(self.engine)
        except (DBAPIError, OSError) as error:
            self.engine.dispose()
            raise DatabaseUnavailable(
                f"cannot open database {shown}: {driver_message(error)}"
            ) from error
        except BaseException:
            self.engine.dispose()
            raise
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self.sessions()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()
        if isinstance(error, DBAPIError):  # e.g. the disk filled up, the server went away
            raise DatabaseUnavailable(
                f"database {display_url(self.url)}: {driver_message(error)}"
            ) from error
