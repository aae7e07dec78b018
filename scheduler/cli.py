"""The `newswatch` command line. Exit 0 ok, 1 failure, 2 bad usage or config."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from alerts.channels import parse_channel
from alerts.channels import problems as channel_problems
from alerts.watchlists import ROLES, WatchlistConfig
from scheduler.config import ConfigError, check_templates, config_path, load_config
from scheduler.demo_command import add_demo
from scheduler.exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CommandError
from scheduler.explain_command import add_explain
from scheduler.lock import AlreadyRunning
from scheduler.logs import setup_logging
from scheduler.notify_command import add_notify_test
from scheduler.problems_command import add_problems
from scheduler.send_command import add_send
from scheduler.stage_commands import add_articles, add_crawl, add_cycle, add_digest, add_match
from scheduler.subscriber_command import add_subscriber
from scheduler.web_command import add_web
from store.clock import Clock, system_clock
from store.db import Database, DatabaseUnavailable, display_url, driver_message

log = logging.getLogger("newswatch")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newswatch",
        description="Watch Deutsche Welle for your watchlists and mail each subscriber a digest "
        "of what is new.",
        epilog="The config file is --config, else $NEWSWATCH_CONFIG, else ./newswatch.toml "
        "(embedded defaults when that is missing). Exit status: 0 ok, 1 failure, 2 bad usage "
        "or config.",
    )
    parser.add_argument("--config", metavar="PATH", help="config file (default: newswatch.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    parser.add_argument("--log-file", metavar="PATH", help="log there instead of to stderr")
    parser.add_argument("--json-logs", action="store_true", help="log one JSON object per line")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(commands)
    return parser


# ---------------------------------------------------------------- init / check


def _add_init(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser("init", help="write a commented starter config")
    sub.add_argument("path", nargs="?", help="where to write it (default: the config path)")
    sub.add_argument("--force", action="store_true", help="overwrite an existing file")
    sub.set_defaults(run=cmd_init)


def starter_config() -> str:
    return resources.files("scheduler").joinpath("starter.toml").read_text(encoding="utf-8")


def cmd_init(args: argparse.Namespace) -> int:
    path = Path(args.path) if args.path else config_path(args.config)
    if path.exists() and not args.force:
        raise CommandError(f"{path} exists already; use --force to overwrite it", EXIT_USAGE)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(starter_config(), encoding="utf-8")
    print(f"wrote {path}; edit it, then run `newswatch check --config {path}`")
    return EXIT_OK


def _add_check(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser("check", help="validate the config and say what it sets up")
    sub.set_defaults(run=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    path = config_path(args.config)
    config = load_config(path, required=True)
    check_templates(config)
    print(f"{path}: ok")
    print(f"  storage: {display_url(config.storage.url)}")
    for source in config.sources:
        print(f"  source {source.name}: {len(source.start_urls())} start URLs")
    for watchlist in config.watchlists:
        what = (
            f"query {watchlist.query.strip()!r}"
            if watchlist.query.strip()
            else f"{len(watchlist.terms) + len(watchlist.match_case)} terms"
        )
        print(
            f"  watchlist {watchlist.name}: {what}; inflections "
            f"{'on' if watchlist.inflections else 'off'}, "
            f"places {'on' if watchlist.places else 'off'}"
        )
        for expansion in _place_expansions(watchlist):
            print(f"    place {expansion}")
    if any(watchlist.inflections for watchlist in config.watchlists):
        from alerts.inflections import INFLECTED_LANGUAGES

        print(
            f"  inflections: for articles in {', '.join(sorted(INFLECTED_LANGUAGES))}; "
            "in other languages terms match as written"
        )
    problems = 0
    for subscriber in config.subscribers:
        print(f"  subscriber {subscriber.key}: {subscriber.schedule.text} ({subscriber.timezone})")
        for url in subscriber.channels:
            channel = parse_channel(url)
            found = channel_problems(channel, os.environ)
            problems += len(found)
            print(f"    channel {channel.label}: {'; '.join(found) if found else 'ok'}")
    print(f"  mail: {config.mail.smtp_url or 'maildir ' + config.mail.maildir}")
    if problems:
        print(f"{path}: {problems} channel problems: their messages would wait in the outbox")
        return EXIT_FAILURE
    return EXIT_OK


def _place_expansions(watchlist: WatchlistConfig) -> list[str]:
    """describe_expansions of each term that names a place, for a watchlist with places on
    (`exclude`/`require` terms marked so); match_case, prefix and `=` terms do not expand."""
    if not watchlist.places:
        return []
    from alerts.places import describe_expansions

    if watchlist.query.strip():  # its words and phrases, but prefix* and =Word ones
        from alerts.query_eval import leaves

        found = (describe_expansions(leaf.text) for leaf in leaves(watchlist.rules()))
        return [
            line
            for line, leaf in zip(found, leaves(watchlist.rules()), strict=True)
            if line and not (leaf.prefix or leaf.exact)
        ]
    lines = []
    for role in ROLES:
        for written, parsed in watchlist.parsed(role):
            line = describe_expansions(written.strip()) if parsed.expands else ""
            if line:
                lines.append(line if role == "terms" else f"({role}) {line}")
    return lines


# ---------------------------------------------------------------- parse


def _add_parse(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser("parse", help="parse one DW page (file or URL) and print its fields")
    sub.add_argument("page", metavar="FILE_OR_URL")
    sub.add_argument("--url", help="the address a FILE was fetched from")
    sub.add_argument("--json", action="store_true", help="print one JSON object")
    sub.set_defaults(run=cmd_parse)


def cmd_parse(args: argparse.Namespace) -> int:
    from crawler.dw_page import PageError, parse_page

    data, url, content_type = _read_page(args.page, args.url)
    try:
        page = parse_page(data, url, content_type)
    except PageError as error:
        raise CommandError(f"{args.page}: {error}") from None
    fields = page.to_json()
    if args.json:
        print(json.dumps(fields, ensure_ascii=False, indent=2))
        return EXIT_OK
    for name, value in fields.items():
        if name == "body":
            value = f"{len(value.split())} words: {value[:200]}…" if value else ""
        print(f"{name:18} {value}")
    for warning in page.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return EXIT_OK


def _read_page(page: str, url: str | None) -> tuple[bytes, str | None, str | None]:
    """The page's bytes, its address and, fetched over HTTP, its Content-Type header."""
    if page.startswith(("http://", "https://")):
        from urllib.error import URLError
        from urllib.request import Request, urlopen

        request = Request(page, headers={"User-Agent": "newswatch parse"})
        try:
            with urlopen(request, timeout=30) as response:
                return (
                    response.read(),
                    url or response.geturl(),
                    response.headers.get("Content-Type"),
                )
        except (URLError, OSError) as error:
            raise CommandError(f"{page}: {error}") from None
    try:
        return Path(page).read_bytes(), url, None
    except OSError as error:
        raise CommandError(f"{page}: {error.strerror}", EXIT_USAGE) from None


# ---------------------------------------------------------------- run


def _add_run(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser(
        "run",
        help="the service: crawl, match, digest and send on schedule until stopped",
        description="Runs until SIGTERM/SIGINT (the running step finishes; exit 0). SIGHUP "
        "reloads the config (a bad one is logged and the old one kept). One service per "
        "database: a second one exits 2 naming the first; one that loses the lock to another "
        "(checked every NEWSWATCH_LOCK_CHECK_SECONDS, 15) exits 1. It also serves the web app "
        "on [web] listen (empty: off; see `newswatch web`).",
    )
    sub.add_argument(
        "--standby",
        action="store_true",
        help="when another service holds the database, wait (logging that it stands by) and "
        "take over when that one's lock goes (it stopped, was killed or its machine is gone), "
        "instead of exiting 2; tries every NEWSWATCH_STANDBY_POLL_SECONDS (5)",
    )
    sub.set_defaults(run=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from scheduler.service import Service

    path = config_path(args.config)
    config = load_config(path)
    return Service(config, path, args.clock, standby=args.standby).run()


# ---------------------------------------------------------------- status


def _add_status(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser(
        "status", help="what the service has done: crawls, articles, matches, outbox, next runs"
    )
    sub.add_argument("--json", action="store_true", help="print one JSON object")
    sub.add_argument(
        "--check",
        action="store_true",
        help="exit 1 with one line per problem when unhealthy (for monitoring)",
    )
    sub.set_defaults(run=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    from scheduler.health import health_problems
    from scheduler.problems import kept_problems
    from scheduler.status_queries import collect_status
    from scheduler.status_text import render_status

    config = load_config(config_path(args.config))
    with Database(config.storage.url, must_exist=True) as db:
        report = collect_status(config, db, args.clock())
        kept = kept_problems(config, db)
    # silenced problems ([alerts] silence) are shown, marked, and do not fail --check
    problems = [p for p in health_problems(report) if not config.alerts.silenced(p.key)]
    if args.json:
        shown = {**report.to_json(), "kept_problems": [row.to_json() for row in kept]}
        print(json.dumps(shown, ensure_ascii=False, indent=2))
    elif not args.check:
        print(render_status(report, kept, config.alerts.silenced))
    if args.check:
        for problem in problems:
            print(problem)
        if not problems:
            print("ok")
        return EXIT_FAILURE if problems else EXIT_OK
    return EXIT_OK


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_init,
    _add_check,
    _add_parse,
    add_explain,
    add_crawl,
    add_articles,
    add_match,
    add_digest,
    add_send,
    add_notify_test,
    add_cycle,
    _add_run,
    add_web,
    _add_status,
    add_problems,
    add_subscriber,
    add_demo,
]


def main(argv: Sequence[str] | None = None, clock: Clock = system_clock) -> int:
    """The composition root: every command gets its config, its database and ``clock``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.clock = clock
    setup_logging(verbose=args.verbose, log_file=args.log_file, json_logs=args.json_logs)
    try:
        return args.run(args)
    except ConfigError as error:
        print(f"newswatch: config error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except CommandError as error:
        print(f"newswatch: {error}", file=sys.stderr)
        return error.code
    except AlreadyRunning as error:
        print(f"newswatch: {error}", file=sys.stderr)
        return EXIT_USAGE
    except DatabaseUnavailable as error:
        return _failed(str(error), error)
    except DBAPIError as error:  # a database error outside a `with Database(...)`
        return _failed(f"database error: {driver_message(error)}", error)
    except OSError as error:  # e.g. no space left on device, a folder that cannot be made
        return _failed(driver_message(error), error)
    except KeyboardInterrupt:
        return 130


def _failed(message: str, error: BaseException) -> int:
    """One line on stderr; the traceback only in the debug log (-v)."""
    print(f"newswatch: {message}", file=sys.stderr)
    log.debug("the traceback of that failure", exc_info=error)
    return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
