"""One service per database: a file lock beside a SQLite file, an advisory lock on PostgreSQL.

Both are released by the operating system or the server when the process dies, so a lock left
by a killed service never blocks a restart.

A lock is only worth what its holder knows about it: a PostgreSQL restart, a failover or a proxy
that drops connections ends the lock's session (and frees the lock) while the service goes on
reconnecting for its queries. So the service checks its lock every ``check_every()`` seconds
and before each job (:class:`LockKeeper`): a lock found gone is taken back on a new connection,
and no job starts until it is; one another service took meanwhile stops this one."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy import Connection, NullPool, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from scheduler.exits import EXIT_USAGE, CommandError
from store.clock import Clock
from store.db import Database, make_engine

log = logging.getLogger("newswatch.lock")
ADVISORY_KEY = 0x6E657773  # "news"
APPLICATION_PREFIX = "newswatch "
CHECK_EVERY_VARIABLE = "NEWSWATCH_LOCK_CHECK_SECONDS"
CHECK_EVERY_SECONDS = 15.0
# a session of ours the server has not yet noticed is gone: how long to wait for it to end
STALE_SESSION_WAIT_SECONDS = 5.0
# the lock's connection notices a silently dead peer (no RST: a failover, a cut cable) in
# seconds, not after the kernel's two hours of TCP retries
LOCK_CONNECT_ARGS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}
HELD_BY_THIS_SESSION = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 "
    "AND objid = :key AND objsubid = 1 AND pid = pg_backend_pid() AND granted"
)


class AlreadyRunning(Exception):
    """Another service holds the lock; the message names it, ``holder`` is who it is."""

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


def check_every() -> float:
    """Seconds between two checks of the lock: NEWSWATCH_LOCK_CHECK_SECONDS, default 15."""
    raw = os.environ.get(CHECK_EVERY_VARIABLE, "").strip()
    if not raw:
        return CHECK_EVERY_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise CommandError(
            f"{CHECK_EVERY_VARIABLE}={raw!r}: not a number of seconds > 0", EXIT_USAGE
        )
    return seconds


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
        self._engine = make_engine(db.url, poolclass=NullPool, connect_args=LOCK_CONNECT_ARGS)
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
                theirs = holder is not None and holder["name"] != self.name
                if theirs or (holder is None and late):  # None: a holder we cannot see
                    who = self._describe(holder)
                    raise AlreadyRunning(
                        f"newswatch is already running on this database ({who})", who
                    )
                if late:
                    connection.close()
                    return False
                if holder is not None and holder["pid"] not in ended:  # ours: end it
                    ended.add(holder["pid"])
                    log.info(
                        "the service lock is still held by this service's previous session "
                        "(server pid %s): ending it",
                        holder["pid"],
                    )
                    try:
                        connection.execute(
                            text("SELECT pg_terminate_backend(:pid)"), {"pid": holder["pid"]}
                        )
                    except DBAPIError as error:
                        log.debug("cannot end server pid %s: %s", holder["pid"], _one_line(error))
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

    def _holding_session(self, connection: Connection) -> dict[str, Any] | None:
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
        return {
            "pid": row.pid,
            "name": row.application_name,
            "client": row.client_addr,
            "since": row.backend_start,
        }

    @staticmethod
    def _describe(holder: dict[str, Any] | None) -> str:
        if holder is None:
            return "another process"
        return (
            f"{holder['name'].removeprefix(APPLICATION_PREFIX) or '?'}, "
            f"server pid {holder['pid']} from {holder['client'] or 'local socket'} "
            f"since {holder['since']:%Y-%m-%d %H:%M:%S}"
        )

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


class LockKeeper:
    """Checks a held lock every ``every`` seconds in a daemon thread, apart from the job
    worker, which calls :meth:`verify` before each job (one round trip: a job never starts on
    a lock not confirmed just then). When another service has taken the lock,
    ``on_lost(holder)`` is called once and the keeper stops."""

    def __init__(self, lock: ServiceLock, every: float, on_lost: Callable[[str], None]) -> None:
        self.lock = lock
        self.every = every
        self.on_lost = on_lost
        self.lost_to: str | None = None
        self._stopped = threading.Event()
        self._losing = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="lock-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=60)

    def verify(self) -> bool:
        """Check the lock now; True while it is ours."""
        if self.lost_to is not None:
            return False
        try:
            held = self.lock.check()
        except AlreadyRunning as error:
            with self._losing:  # the worker and the keeper may both find it: one report
                first = self.lost_to is None
                self.lost_to = self.lost_to or error.holder
            if first:
                self._stopped.set()
                self.on_lost(error.holder)
            return False
        except Exception:  # the keeper must outlive an unexpected error: retried next time
            log.exception("checking the service lock failed")
            return False
        return held

    def _run(self) -> None:
        while not self._stopped.wait(self.every):
            self.verify()
