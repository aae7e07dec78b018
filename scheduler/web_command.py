"""`newswatch web`, and the web app's composition: what the app is given (database, config,
signed links, the clock, the operator's token, the status report), built here for both
`newswatch web` and `newswatch run` (scheduler.service)."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from scheduler import jobs
from scheduler.config import AppConfig, ConfigError, config_path, describe, load_config
from scheduler.exits import EXIT_OK, EXIT_USAGE, CommandError
from store.clock import Clock
from store.db import Database
from web.config import WebConfig
from web.context import WebContext

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("newswatch.web")


def add_web(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser(
        "web",
        help="serve the web app alone (archive, search, feeds, subscriber pages, dashboard)",
        description="Serves the web app on [web] listen (or --listen) until SIGTERM/SIGINT "
        "(exit 0), on the configured database; it writes only subscriber choices. Beyond "
        "loopback it needs $NEWSWATCH_WEB_TOKEN (exit 2 without); a port in use exits 1. "
        "`newswatch run` serves the same app beside the service.",
    )
    sub.add_argument("--listen", metavar="HOST:PORT", help="listen there instead of [web] listen")
    sub.set_defaults(run=cmd_web)


def cmd_web(args: argparse.Namespace) -> int:
    config = load_config(config_path(args.config))
    if args.listen is not None:
        config = with_listen(config, args.listen)
    if not config.web.enabled:
        raise CommandError(
            "web.listen is empty (the web app is off): set it, or pass --listen HOST:PORT",
            EXIT_USAGE,
        )
    check_web(config)
    from web.server import ListenError, serve_forever  # uvicorn: loaded by the commands serving

    with Database(config.storage.url) as db:
        app = web_app(config, db, args.clock)
        try:
            serve_forever(app, config.web)
        except ListenError as error:
            raise CommandError(str(error)) from None
    log.info("web app stopped")
    return EXIT_OK


def with_listen(config: AppConfig, listen: str) -> AppConfig:
    """``config`` with the web app listening on ``listen`` (checked as ``web.listen`` is)."""
    try:
        checked = WebConfig.model_validate({"listen": listen}).listen
    except ValidationError as error:
        raise CommandError(f"--listen: {describe(error).partition(': ')[2]}", EXIT_USAGE) from None
    return config.model_copy(update={"web": config.web.model_copy(update={"listen": checked})})


def check_web(config: AppConfig) -> None:
    """A config error (exit 2) when the web app would listen publicly without a token."""
    from web.server import listen_problem

    problem = listen_problem(config.web)
    if problem:
        raise ConfigError(problem)


def web_context(config: AppConfig, db: Database, clock: Clock) -> WebContext:
    def status() -> dict[str, Any]:
        from scheduler.health import health_problems
        from scheduler.problems import kept_problems
        from scheduler.status_queries import collect_status

        report = collect_status(config, db, clock())
        silenced = config.alerts.silenced
        return {
            **report.to_json(),
            "problems": [p for p in health_problems(report) if not silenced(p.key)],
            "kept_problems": [row.to_json() for row in kept_problems(config, db)],
        }

    token = config.web.token.get_secret_value() if config.web.token else None
    return WebContext(
        db=db,
        web=config.web,
        watchlists=tuple(config.watchlists),
        subscribers=tuple(config.subscribers),
        links=jobs.signed_links(config, db, clock),
        clock=clock,
        token=token,
        status=status,
    )


def web_app(config: AppConfig, db: Database, clock: Clock) -> FastAPI:
    from web.app import create_app

    return create_app(web_context(config, db, clock))
