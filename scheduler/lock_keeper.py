"""The service's lock kept alive: checked every ``check_every()`` seconds in a thread of its
own and before each job, so that no job starts on a lock not confirmed just then, and a
service that lost its lock to another stops."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from scheduler.exits import EXIT_USAGE, CommandError
from scheduler.lock import AlreadyRunning, ServiceLock

log = logging.getLogger("newswatch.lock")
CHECK_EVERY_VARIABLE = "NEWSWATCH_LOCK_CHECK_SECONDS"
CHECK_EVERY_SECONDS = 15.0
STANDBY_POLL_VARIABLE = "NEWSWATCH_STANDBY_POLL_SECONDS"
STANDBY_POLL_SECONDS = 5.0


def check_every() -> float:
    """Seconds between two checks of the lock: NEWSWATCH_LOCK_CHECK_SECONDS, default 15."""
    return _seconds(CHECK_EVERY_VARIABLE, CHECK_EVERY_SECONDS)


def standby_poll_seconds() -> float:
    """Seconds between a standby's tries for the lock: NEWSWATCH_STANDBY_POLL_SECONDS,
    default 5 (a standby takes over within that of the active service's end)."""
    return _seconds(STANDBY_POLL_VARIABLE, STANDBY_POLL_SECONDS)


def _seconds(variable: str, default: float) -> float:
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise CommandError(f"{variable}={raw!r}: not a number of seconds > 0", EXIT_USAGE)
    return seconds


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
