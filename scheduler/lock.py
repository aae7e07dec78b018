"""One service per database: a file lock beside a SQLite file, an advisory lock on PostgreSQL.

Both are released by the operating system or the server when the process dies, so a lock left
by a killed service never blocks a restart.

A lock is only worth what its holder knows about it: a PostgreSQL restart, a failover or a proxy
that drops connections ends the lock's session (and frees the lock) while the service goes on
reconnecting for its queries. So each lock can :meth:`~ServiceLock.check` itself: a lock found
gone is taken back on a new connection; one another service took meanwhile raises
:class:`AlreadyRunning`. :mod:`scheduler.lock_keeper` calls it on a timer and before each job.

About 300 lines: the two locks share the protocol and the refusal, and the advisory lock's
taking back (telling our own stale session from another service's) is most of it."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Connection, NullPool, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from store.clock import Clock
from store.db import Database, make_engine

log = logging.getLogger("newswatch.lock")
ADVISORY_KEY = 0x6E657773  # "news"
APPLICATION_PREFIX = "newswatch "
# a session of ours the server has not yet noticed is gone: how long to wait for it to end
STALE_SESSION_WAIT_SECONDS = 5.0
HELD_BY_THIS_SESSION = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 "
    "AND objid = :key AND objsubid = 1 AND pid = pg_backend_pid() AND granted"
)


class AlreadyRunning(Exception):
    """Another service holds the lock; the message names it, ``holder`` is who it is."""

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


def _holder(since: datetime) -> str:
    started = since.astimezone(UTC).isoformat(timespec="seconds")
    return f"pid {os.getpid()} on {socket.gethostname()} since {started}"


def _one_line(error: BaseException) -> str:
    return " ".join(str(getattr(error, "orig", None) or error).split()) or type(error).__name__


class ServiceLock(Protocol):
    def acquire(self) -> None:
        """Take the lock or raise :class:`AlreadyRunning`."""

    def check(self) -> bool:
        """True: held (taken back if it was gone); False: cannot tell now (the database is
        unreachable); raises :class:`AlreadyRunning` when another service took it."""

    def release(self) -> None: ...


class FileLock:
    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self.clock = clock
        self._file: IO[str] | None = None
        self._mutex = threading.Lock()

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
                f"newswatch is already running on this database ({holder}; lock {self.path})",
                holder,
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(_holder(self.clock()) + "\n")
        handle.flush()
        self._file = handle

    def check(self) -> bool:
        """The lock file we hold must still be the one at the path: a file deleted or replaced
        lets a second service lock a new one."""
        with self._mutex:
            if self._file is not None:
                with contextlib.suppress(OSError):
                    mine, there = os.fstat(self._file.fileno()), os.stat(self.path)
                    if (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino):
                        return True
                log.warning("service lock file %s removed or replaced: taking it back", self.path)
                self._close()
            try:
                self.acquire()
            except OSError as error:
                log.warning("cannot take the service lock %s back: %s", self.path, error)
                return False
            log.warning("took the service lock back (%s)", self.path)
            return True

    def release(self) -> None:
        with self._mutex:
            self._close()

    def _close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


@dataclass(frozen=True)
class LockHolder:
    """The PostgreSQL session that holds the advisory lock."""

    pid: int  # the server's process
    name: str | None  # its application_name: "newswatch pid ... on HOST [token]" for ours
    client: IPv4Address | IPv6Address | None  # None: a local socket
    since: datetime

    def describe(self) -> str:
        return (
            f"{(self.name or '').removeprefix(APPLICATION_PREFIX) or '?'}, "
            f"server pid {self.pid} from {self.client or 'local socket'} "
            f"since {self.since:%Y-%m-%d %H:%M:%S}"
        )


class AdvisoryLock:
    """A session-level advisory lock on a connection of its own (not from the service's pool),
    named in pg_stat_activity by the service's pid and host."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # unique to this process (a container's pid 1 on a fixed hostname is not): a session
        # named so is ours, and only ours may be ended to take the lock back
        token = f" [{secrets.token_hex(3)}]"
        name = f"{APPLICATION_PREFIX}pid {os.getpid()} on {socket.gethostname()}"
        self.name = name[: 63 - len(token)] + token  # application_name keeps 63 bytes
        # its own connection (keepalives from store.db: a dead peer is noticed in seconds)
        self._engine = make_engine(db.url, poolclass=NullPool)
        self._connection: Connection | None = None
        self._mutex = threading.Lock()
        self._unreachable = False  # logged once per outage

    def acquire(self) -> None:
        with self._mutex:
            if not self._take():
                raise AlreadyRunning(
                    "newswatch is already running on this database (a session named as this "
                    "process still holds the lock)",
                    self.name,
                )

    def check(self) -> bool:
        with self._mutex:
            if self._connection is not None:
                try:
                    if self._connection.execute(
                        HELD_BY_THIS_SESSION, {"key": ADVISORY_KEY}
                    ).scalar():
                        return True
                    log.warning("the service lock's session no longer holds it: taking it back")
                except DBAPIError as error:
                    log.warning(
                        "lost the service lock's database connection (%s): taking the lock back",
                        _one_line(error),
                    )
                self._drop()
            try:
                taken = self._take()
            except DBAPIError as error:
                if not self._unreachable:
                    log.warning(
                        "cannot reach the database to take the service lock back (%s): "
                        "no new work until it is back; retrying",
                        _one_line(error),
                    )
                self._unreachable = True
                return False
            self._unreachable = False
            if not taken:
                log.warning(
                    "the service lock is still held by this service's previous session: "
                    "no new work until that session ends; retrying"
                )
                return False
            log.warning("took the service lock back on a new connection")
            return True

    def release(self) -> None:
        with self._mutex:
            if self._connection is not None:
                with contextlib.suppress(DBAPIError):  # a lost session holds nothing to free
                    self._connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY}
                    )
                self._drop()
            self._engine.dispose()

    def _take(self) -> bool:
        """Lock on a new connection: True when taken; False while a session of this very
        service (cut off on our side only, not yet ended on the server's) still holds it;
        AlreadyRunning when another service does."""
        connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            deadline = time.monotonic() + STALE_SESSION_WAIT_SECONDS
            ended: set[int] = set()
            while not connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
            ).scalar():
                holder = self._holding_session(connection)
                late = time.monotonic() > deadline
                theirs = holder is not None and holder.name != self.name
                if theirs or (holder is None and late):  # None: a holder we cannot see
                    who = holder.describe() if holder is not None else "another process"
                    raise AlreadyRunning(
                        f"newswatch is already running on this database ({who})", who
                    )
                if late:
                    connection.close()
                    return False
                if holder is not None and holder.pid not in ended:  # ours: end it
                    ended.add(holder.pid)
                    log.info(
                        "the service lock is still held by this service's previous session "
                        "(server pid %s): ending it",
                        holder.pid,
                    )
                    try:
                        connection.execute(
                            text("SELECT pg_terminate_backend(:pid)"), {"pid": holder.pid}
                        )
                    except DBAPIError as error:
                        log.debug("cannot end server pid %s: %s", holder.pid, _one_line(error))
                time.sleep(0.1)
            # the lock's session names the service (pid and host) for a refused second one
            connection.execute(
                text("SELECT set_config('application_name', :name, false)"), {"name": self.name}
            )
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return True

    def _holding_session(self, connection: Connection) -> LockHolder | None:
        row = connection.execute(
            text(
                "SELECT a.pid, a.client_addr, a.backend_start, a.application_name "
                "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.objid = :key AND l.granted "
                "AND l.database = (SELECT oid FROM pg_database "
                "WHERE datname = current_database()) LIMIT 1"
            ),
            {"key": ADVISORY_KEY},
        ).first()
        if row is None:
            return None
        return LockHolder(row.pid, row.application_name, row.client_addr, row.backend_start)

    def _drop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(DBAPIError):
                self._connection.invalidate()
            with contextlib.suppress(DBAPIError):
                self._connection.close()
            self._connection = None


def service_lock(db: Database, clock: Clock) -> FileLock | AdvisoryLock:
    url = make_url(db.url)
    if url.get_backend_name() == "postgresql":
        return AdvisoryLock(db)
    database = url.database or "memory"
    # keyed by the file itself: a symlink or another spelling of its path gives the same lock
    real = Path(database).resolve()
    return FileLock(real.with_name(f"{real.name}.lock"), clock)
