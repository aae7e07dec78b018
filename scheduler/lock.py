"""One service per database: a file lock beside a SQLite file, an advisory lock on PostgreSQL.

Both are released by the operating system or the server when the process dies, so a lock left
by a killed service never blocks a restart."""

from __future__ import annotations

import fcntl
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from store.db import Database

ADVISORY_KEY = 0x6E657773  # "news"
APPLICATION_PREFIX = "newswatch "


class AlreadyRunning(Exception):
    """Another service holds the lock; the message names it."""


def _holder() -> str:
    started = datetime.now(UTC).isoformat(timespec="seconds")
    return f"pid {os.getpid()} on {socket.gethostname()} since {started}"


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held while running
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise AlreadyRunning(
                f"newswatch is already running on this database ({holder}; lock {self.path})"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(_holder() + "\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class AdvisoryLock:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._connection: Connection | None = None

    def acquire(self) -> None:
        connection = self.db.engine.connect()
        got = connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
        ).scalar()
        if not got:
            holder = connection.execute(
                text(
                    "SELECT a.pid, a.client_addr, a.backend_start, a.application_name "
                    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.objid = :key AND l.granted "
                    "AND l.database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database()) LIMIT 1"
                ),
                {"key": ADVISORY_KEY},
            ).first()
            connection.close()
            who = (
                (
                    f"{holder.application_name.removeprefix(APPLICATION_PREFIX) or '?'}; "
                    f"server pid {holder.pid} from {holder.client_addr or 'local socket'} "
                    f"since {holder.backend_start:%Y-%m-%d %H:%M:%S}"
                )
                if holder
                else "another process"
            )
            raise AlreadyRunning(f"newswatch is already running on this database ({who})")
        # the lock's session names the service (pid and host) for a refused second one
        name = f"{APPLICATION_PREFIX}pid {os.getpid()} on {socket.gethostname()}"
        connection.execute(
            text("SELECT set_config('application_name', :name, false)"), {"name": name[:63]}
        )
        connection.commit()
        self._connection = connection

    def release(self) -> None:
        if self._connection is not None:
            self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
            self._connection.close()
            self._connection = None


def service_lock(db: Database) -> FileLock | AdvisoryLock:
    url = make_url(db.url)
    if url.get_backend_name() == "postgresql":
        return AdvisoryLock(db)
    database = url.database or "memory"
    # keyed by the file itself: a symlink or another spelling of its path gives the same lock
    real = Path(database).resolve()
    return FileLock(real.with_name(f"{real.name}.lock"))
