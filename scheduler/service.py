"""`newswatch run`: one APScheduler BlockingScheduler that keeps crawling, matching and mailing.

- a crawl cycle per source every ``[crawl] every`` (or ``cron``) with jitter, the first at once:
  crawl (a subprocess) -> match -> immediate digests -> send;
- a digest job per distinct subscriber schedule, in the subscriber's time zone;
- a send/retry job every minute, which first builds the digests of subscribers who chose their
  own schedule on the web (the config's schedules do not plan them), and a daily prune.

Jobs run one at a time (one worker thread), never overlap themselves and collapse missed runs
into one. Schedules come from the config and the database (SubscriberState), not from a pickled
job store, so a digest missed during downtime is built once on start. SIGHUP reloads the config
(a bad one is logged and the old one kept); SIGTERM/SIGINT let the running step finish, ask a
running crawl to stop, and exit 0. The service lock (one service per database) is checked
every NEWSWATCH_LOCK_CHECK_SECONDS (15): found gone it is taken back, and a service that lost it
to another stops at once and exits 1.

The web app (``[web] listen``; empty: off) is served beside the jobs by uvicorn in a thread
(web/server.py): started before the first job (a port in use: exit 1), stopped after the last,
given the reloaded config on SIGHUP (moved when ``listen`` changed).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import threading
from collections.abc import Callable
from datetime import UTC, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.events import EVENT_SCHEDULER_STARTED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError

from alerts.schedules import Schedule
from scheduler import jobs
from scheduler.config import AppConfig, ConfigError, check_templates, load_config
from scheduler.crawling import STOP_GRACE_SECONDS, crawl_spares
from scheduler.exits import EXIT_FAILURE, CommandError
from scheduler.lock import AlreadyRunning, ServiceLock, service_lock
from scheduler.lock_keeper import LockKeeper, check_every, standby_poll_seconds
from scheduler.schedule_trigger import ScheduleTrigger
from scheduler.web_command import check_web, web_app
from store.clock import Clock, system_clock
from store.db import Database, display_url
from store.models import CrawlRun, CrawlStatus
from store.prune import prune

if TYPE_CHECKING:
    from web.server import WebServer

log = logging.getLogger("newswatch.service")
SEND_EVERY = timedelta(minutes=1)
PRUNE_EVERY = timedelta(days=1)
PROBLEMS_EVERY = timedelta(minutes=1)  # the problems table kept in step, the operator told


def crawl_trigger(config: AppConfig) -> BaseTrigger:
    """``[crawl] every`` or ``cron`` (standard crontab in UTC: 0 and 7 are Sunday, unlike
    APScheduler 3's CronTrigger.from_crontab, which also takes no jitter)."""
    jitter = int(config.crawl.jitter) or None
    if config.crawls is not None:
        return ScheduleTrigger(config.crawls, jitter)
    return IntervalTrigger(seconds=config.crawl.every, jitter=jitter, timezone=UTC)


class Service:
    def __init__(
        self,
        config: AppConfig,
        config_file: Path | None,
        clock: Clock = system_clock,
        *,
        standby: bool = False,
    ) -> None:
        self.config = config
        self.standby = standby  # wait for the lock instead of exiting 2 when another holds it
        self.config_file = config_file
        # what jobs store and decide by; APScheduler's own timers keep the system's time
        self.clock = clock
        self.db = Database(config.storage.url)
        self.scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        self.stopping = threading.Event()
        self._busy = threading.Lock()  # held while a job runs
        self._crawl: subprocess.Popen | None = None
        # the next crawl's process, started as soon as the last crawl ended ([crawl] warm)
        self._spares = crawl_spares()
        self._web: WebServer | None = None

    # ------------------------------------------------------------------ life cycle

    def run(self) -> int:
        check_templates(self.config)
        check_web(self.config)
        every = check_every()
        lock = service_lock(self.db, self.clock)
        if not self._acquire(lock):  # AlreadyRunning propagates: exit 2 with the holder named
            lock.release()
            self.db.close()
            log.info("newswatch standby stopped")
            return 0
        self._keeper = keeper = LockKeeper(lock, every, self._lost_lock)
        try:
            self._close_abandoned_crawls()
            self._start_web()  # a port in use: one line, exit 1, before any job ran
            self._install_signals()
            # a stop asked for before the scheduler ran shuts it down as soon as it starts
            self.scheduler.add_listener(lambda _: self._shutdown(), EVENT_SCHEDULER_STARTED)
            self.schedule_jobs(first_run=True)
            log.info(
                "newswatch service started: %d sources, %d subscribers, database %s",
                len(self.config.sources),
                len(self.config.subscribers),
                display_url(self.db.url),
            )
            keeper.start()
            self._run_scheduler()  # blocks until shutdown
            with self._busy:  # the running step finishes before we exit
                pass
            self._stop_web()
            if keeper.lost_to is not None:
                return EXIT_FAILURE  # systemd: failed, with the "lost the service lock" line
            log.info("newswatch service stopped")
            return 0
        finally:
            self._stop_web()
            self._spares.close()
            keeper.stop()
            lock.release()
            self.db.close()

    def _acquire(self, lock: ServiceLock) -> bool:
        """Take the service lock. As a standby, wait for it: try again every
        NEWSWATCH_STANDBY_POLL_SECONDS (5) until the active service's session ends (it stopped,
        was killed or its machine is gone), then carry on as a service that starts, catch-up
        included. False: stopped while standing by."""
        if not self.standby:
            lock.acquire()
            return True
        for stop_signal in (signal.SIGTERM, signal.SIGINT):  # a standby stops at once
            signal.signal(stop_signal, lambda *_: self.stopping.set())
        poll = standby_poll_seconds()
        waiting_for: str | None = None
        unreachable = False
        while not self.stopping.is_set():
            try:
                lock.acquire()
            except AlreadyRunning as error:
                if error.holder != waiting_for:
                    log.info(
                        "standing by: the service lock is held by %s; taking over when it is "
                        "released (checked every %gs)",
                        error.holder,
                        poll,
                    )
                    waiting_for = error.holder
                unreachable = False
            except DBAPIError as error:
                if not unreachable:
                    log.warning("standing by: cannot reach the database (%s); retrying", error)
                unreachable = True
            else:
                if waiting_for is not None:
                    log.warning("taking over from %s: this service is now active", waiting_for)
                return True
            self.stopping.wait(poll)
        return False

    def _run_scheduler(self) -> None:
        try:
            self.scheduler.start()
        except JobLookupError:
            # APScheduler 3.11 race: a stop (shutdown from the signal's thread) marks the
            # scheduler stopped while its loop removes a finished one-shot job (the catch-up),
            # which it then cannot find. Only a stop gets here; anything else is a real error.
            if not self.stopping.is_set():
                raise
            log.debug("the scheduler's loop ended on a job it had just removed (stopping)")

    def _close_abandoned_crawls(self) -> None:
        """Crawl runs a killed service left "running": their crawl died with it (SIGTERM from
        each of its exiting threads forces Scrapy's unclean shutdown, which records nothing).
        A crawl that is in fact still finishing records its own outcome over this."""
        with self.db.engine.begin() as connection:
            closed = connection.execute(
                update(CrawlRun)
                .where(CrawlRun.status == CrawlStatus.RUNNING)
                .values(status=CrawlStatus.INTERRUPTED, finished_at=self.clock())
            ).rowcount
        if closed:
            log.warning("%d crawl run(s) left running by a stopped service: interrupted", closed)

    def _install_signals(self) -> None:
        # handlers only hand the work to a thread: the scheduler's lock is not re-entered
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop_signal, lambda *_: threading.Thread(target=self.stop).start())
        signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=self.reload).start())

    def stop(self) -> None:
        if self.stopping.is_set():
            return
        log.info("stopping: no new jobs; the running step finishes")
        self.stopping.set()
        self._spares.close()
        crawl = self._crawl
        if crawl is not None and crawl.poll() is None:
            log.info("asking the running crawl (pid %s) to stop", crawl.pid)
            crawl.send_signal(signal.SIGINT)
            killer = threading.Timer(STOP_GRACE_SECONDS, _kill_if_running, [crawl])
            killer.daemon = True
            killer.start()
        self._shutdown()

    def _shutdown(self) -> None:
        if not self.stopping.is_set():
            return
        with contextlib.suppress(SchedulerNotRunningError):  # not started yet, or already down
            self.scheduler.shutdown(wait=False)

    _keeper: LockKeeper | None = None

    def _lost_lock(self, holder: str) -> None:
        log.error("lost the service lock to %s; stopping", holder)
        self.stop()

    def _holds_lock(self, job_id: str) -> bool:
        """Checked before each job: the lock's session is still ours (taken back if needed)."""
        if self._keeper is None or self._keeper.verify():
            return True
        if self._keeper.lost_to is None:
            log.warning("job %s skipped: the service lock is not confirmed", job_id)
        return False

    def reload(self) -> None:
        try:
            # the file the service runs on must be there (not the built-in defaults instead)
            config = load_config(self.config_file, required=self.config_file is not None)
            check_templates(config)
            check_web(config)
        except ConfigError as error:
            log.error("config reload failed, keeping the running config: %s", error)
            return
        if config.storage.url != self.config.storage.url:
            log.warning("storage.url changed: restart the service to use the new database")
            config = config.model_copy(update={"storage": self.config.storage})
        self.config = config
        self.schedule_jobs(first_run=False)
        self._reload_web()
        log.info("config reloaded from %s", self.config_file)

    # ------------------------------------------------------------------ the web app

    def _start_web(self) -> None:
        from web.server import ListenError, WebServer

        if not self.config.web.enabled:
            log.info("web app off (web.listen is empty)")
            return
        server = WebServer(web_app(self.config, self.db, self.clock), self.config.web)
        try:
            self._web = server.start()
        except ListenError as error:
            raise CommandError(str(error)) from None

    def _stop_web(self) -> None:
        web, self._web = self._web, None
        if web is not None:
            web.stop()
            log.info("web app stopped")

    def _reload_web(self) -> None:
        """The same address: the running server gets an app on the new config (its socket
        stays open); another address (or none): the server is moved (or stopped). A move that
        fails is logged and the old address served again."""
        from web.server import ListenError

        web = self._web
        if web is not None and web.web.listen == self.config.web.listen:
            web.web = self.config.web
            web.replace_app(web_app(self.config, self.db, self.clock))
            return
        old = web.web if web is not None else None
        if old is not None:
            log.info("web.listen changed: moving the web app to %r", self.config.web.listen)
        self._stop_web()
        try:
            self._start_web()
        except CommandError as error:
            log.error("web app not moved: %s", error)
            if old is not None:
                self.config = self.config.model_copy(update={"web": old})
                with contextlib.suppress(CommandError, ListenError):
                    self._start_web()

    # ------------------------------------------------------------------ jobs

    def schedule_jobs(self, *, first_run: bool) -> None:
        """(Re)create every job from the config. On reload, a source keeps its next crawl time
        (reloading must not push crawls back); a new source is crawled at once."""
        planned = {job.id: job.next_run_time for job in self.scheduler.get_jobs()}
        self.scheduler.remove_all_jobs()
        now = self.clock()
        crawls = crawl_trigger(self.config)  # one trigger, one crontab parsed, for every source
        for source in self.config.sources:
            job_id = f"crawl:{source.name}"
            self._add(
                self.crawl_cycle,
                crawls,
                job_id,
                args=[source.name],
                next_run_time=now if first_run else (planned.get(job_id) or now),
            )
        for key, schedule in self._digest_schedules().items():
            self._add(self.digest_job, ScheduleTrigger(schedule), f"digest:{key}")
        # catch up at once: subscribers whose slot passed while the service was down
        self._add(self.digest_job, None, "digest:catch-up", next_run_time=now)
        self._add(
            self.send_job,
            IntervalTrigger(seconds=SEND_EVERY.total_seconds()),
            "send",
            next_run_time=now,
        )
        self._add(
            self.problems_job,
            IntervalTrigger(seconds=PROBLEMS_EVERY.total_seconds()),
            "problems",
            next_run_time=now + PROBLEMS_EVERY,
        )
        self._add(
            self.prune_job,
            IntervalTrigger(seconds=PRUNE_EVERY.total_seconds()),
            "prune",
            next_run_time=now + timedelta(minutes=5),
        )

    def _add(
        self, func: Callable[..., None], trigger: BaseTrigger | None, job_id: str, **options: Any
    ) -> None:
        if trigger is None:
            options.setdefault("trigger", "date")
        else:
            options["trigger"] = trigger
        self.scheduler.add_job(
            self._guarded(func, job_id), id=job_id, name=job_id, replace_existing=True, **options
        )

    def _digest_schedules(self) -> dict[str, Schedule]:
        schedules = {}
        for subscriber in self.config.subscribers:
            schedule = subscriber.schedule
            if schedule.kind != "immediate":
                schedules[f"{schedule.text}|{schedule.timezone}"] = schedule
        return schedules

    def _guarded(self, func: Callable[..., None], job_id: str) -> Callable[..., None]:
        def run(*args: Any) -> None:
            if self.stopping.is_set():
                return
            with self._busy:
                if not self._holds_lock(job_id):
                    return
                try:
                    func(*args)
                except Exception:  # one failed job must not stop the service
                    log.exception("job %s failed", job_id)

        return run

    def crawl_cycle(self, source: str) -> None:
        config, db, clock = self.config, self.db, self.clock
        if not config.crawl.warm:
            self._spares.discard()
        jobs.crawl_sources(
            config,
            db,
            clock,
            source,
            on_start=self._track_crawl,
            stopping=self.stopping,
            spares=self._spares if config.crawl.warm else None,
        )
        self._crawl = None
        if self.stopping.is_set() or not self._holds_lock(f"crawl:{source} (match and send)"):
            return
        jobs.match_new(config, db, clock)
        # immediate as their choices make them: the config's, or one they chose
        jobs.build_digests(config, db, clock, only=jobs.immediate)
        jobs.send_outbox(config, db, clock)
        jobs.check_problems(config, db, clock)

    def _track_crawl(self, process: subprocess.Popen) -> None:
        self._crawl = process
        if self.stopping.is_set():
            process.send_signal(signal.SIGINT)

    def digest_job(self) -> None:
        # digests speak of every article crawled so far
        jobs.match_new(self.config, self.db, self.clock)
        if jobs.build_digests(self.config, self.db, self.clock):
            jobs.send_outbox(self.config, self.db, self.clock)

    def send_job(self) -> None:
        jobs.build_digests(self.config, self.db, self.clock, only=jobs.own_schedule)
        jobs.send_outbox(self.config, self.db, self.clock)

    def problems_job(self) -> None:
        jobs.check_problems(self.config, self.db, self.clock)

    def prune_job(self) -> None:
        removed = prune(self.db, keep_days=self.config.storage.keep_days, now=self.clock())
        log.info("prune: %s", ", ".join(f"{n} {what}" for what, n in removed.items()))


def _kill_if_running(process: subprocess.Popen) -> None:
    if process.poll() is None:
        log.warning("crawl pid %s did not stop in %ss: killing it", process.pid, STOP_GRACE_SECONDS)
        process.kill()
