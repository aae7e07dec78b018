"""The `newswatch` command line. Exit 0 ok, 1 failure, 2 bad usage or config."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from importlib import resources
from pathlib import Path

from sqlalchemy import select

from alerts.matching import MatchReport, match_articles, match_json, matches_of
from alerts.snippets import Snippet
from crawler.config import parse_duration
from scheduler import jobs
from scheduler.config import ConfigError, check_templates, config_path, load_config
from scheduler.crawling import CrawlOutcome
from scheduler.lock import AlreadyRunning
from scheduler.logs import setup_logging
from store.articles import article_json
from store.db import Database, display_url
from store.models import Article, Match, utcnow

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class CommandError(Exception):
    """A failure to report in one line; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


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
        print(
            f"  watchlist {watchlist.name}: {len(watchlist.terms) + len(watchlist.match_case)} "
            "terms"
        )
    for subscriber in config.subscribers:
        print(f"  subscriber {subscriber.email}: {subscriber.schedule} ({subscriber.timezone})")
    print(f"  mail: {config.mail.smtp_url or 'maildir ' + config.mail.maildir}")
    return EXIT_OK


# ---------------------------------------------------------------- parse


def _add_parse(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser("parse", help="parse one DW page (file or URL) and print its fields")
    sub.add_argument("page", metavar="FILE_OR_URL")
    sub.add_argument("--url", help="the address a FILE was fetched from")
    sub.add_argument("--json", action="store_true", help="print one JSON object")
    sub.set_defaults(run=cmd_parse)


def cmd_parse(args: argparse.Namespace) -> int:
    from crawler.dw_page import PageError, parse_page

    data, url = _read_page(args.page, args.url)
    try:
        page = parse_page(data, url=url)
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


def _read_page(page: str, url: str | None) -> tuple[bytes, str | None]:
    if page.startswith(("http://", "https://")):
        from urllib.error import URLError
        from urllib.request import Request, urlopen

        request = Request(page, headers={"User-Agent": "newswatch parse"})
        try:
            with urlopen(request, timeout=30) as response:
                return response.read(), url or response.geturl()
        except (URLError, OSError) as error:
            raise CommandError(f"{page}: {error}") from None
    try:
        return Path(page).read_bytes(), url
    except OSError as error:
        raise CommandError(f"{page}: {error.strerror}", EXIT_USAGE) from None


# ---------------------------------------------------------------- crawl / articles


def _add_crawl(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser("crawl", help="crawl every source (or one) once; store what is new")
    sub.add_argument("--source", metavar="NAME", help="only this [[sources]] entry")
    sub.set_defaults(run=cmd_crawl)


def cmd_crawl(args: argparse.Namespace) -> int:
    config = load_config(config_path(args.config))
    with Database(config.storage.url) as db:
        outcomes = jobs.crawl_sources(config, db, args.source)
    for outcome in outcomes:
        print(crawl_summary(outcome))
    return EXIT_OK if all(outcome.ok for outcome in outcomes) else EXIT_FAILURE


def crawl_summary(outcome: CrawlOutcome) -> str:
    run = outcome.run
    if run is None:
        return (
            f"{outcome.source}: crawl did not start (exit {outcome.exit_code})\n{outcome.log_tail}"
        )
    seconds = ((run.finished_at or run.started_at) - run.started_at).total_seconds()
    lines = [
        f"{run.source}: {run.status} in {seconds:.1f}s: {run.pages} pages, {run.new} new, "
        f"{run.updated} updated, {run.skipped_known} already known, {run.errors} errors, "
        f"{run.selector_fallbacks} selector fallbacks"
    ]
    lines += [f"  error: {error}" for error in run.last_errors[-5:]]
    if outcome.exit_code != 0:  # the crawl process itself failed: show why
        lines += [f"  crawl process exited {outcome.exit_code}; its last lines:"]
        lines += [f"  | {line}" for line in outcome.log_tail.splitlines()]
    return "\n".join(lines)


def _add_articles(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser("articles", help="list stored articles, newest first")
    sub.add_argument(
        "--since",
        metavar="DURATION",
        type=parse_duration,
        help="first seen within this long (e.g. 24h, 7d)",
    )
    sub.add_argument("--limit", type=int, default=50, metavar="N", help="at most N (default 50)")
    sub.add_argument("--watchlist", metavar="NAME", help="only articles this watchlist matched")
    sub.add_argument("--json", action="store_true", help="print one JSON array")
    sub.set_defaults(run=cmd_articles)


def cmd_articles(args: argparse.Namespace) -> int:
    config = load_config(config_path(args.config))
    with Database(config.storage.url) as db, db.session() as session:
        query = select(Article).order_by(Article.first_seen_at.desc(), Article.id.desc())
        if args.since is not None:
            query = query.where(Article.first_seen_at >= utcnow() - timedelta(seconds=args.since))
        if args.watchlist:
            matched = select(Match.article_id).where(Match.watchlist == args.watchlist)
            query = query.where(Article.id.in_(matched))
        articles = session.scalars(query.limit(max(args.limit, 0))).all()
        rows = [article_json(article) for article in articles]
        if args.watchlist:
            for row, article in zip(rows, articles, strict=True):
                row["matches"] = [match_json(m) for m in matches_of(session, article.id)]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    for row in rows:
        published = (row["published_at"] or "")[:10]
        print(f"{row['short_id']:>7}  {row['language'] or '--':5} {published:10}  {row['title']}")
        for match in row.get("matches", []):
            print(f"{'':9}{match['watchlist']}: {', '.join(match['terms'])}")
    print(f"{len(rows)} articles")
    return EXIT_OK


# ---------------------------------------------------------------- match


def _add_match(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser(
        "match", help="match stored articles against the watchlists and print what matched"
    )
    sub.add_argument(
        "--since",
        metavar="DURATION",
        type=parse_duration,
        help="only articles first seen within this long (e.g. 24h)",
    )
    sub.add_argument("--watchlist", metavar="NAME", help="only this watchlist")
    sub.add_argument("--dry-run", action="store_true", help="print matches without storing them")
    sub.set_defaults(run=cmd_match)


def cmd_match(args: argparse.Namespace) -> int:
    config = load_config(config_path(args.config))
    if args.watchlist and args.watchlist not in {w.name for w in config.watchlists}:
        raise CommandError(f"no watchlist named {args.watchlist!r}", EXIT_USAGE)
    since = utcnow() - timedelta(seconds=args.since) if args.since is not None else None
    with Database(config.storage.url) as db:
        report = match_articles(
            db, config.watchlists, since=since, only=args.watchlist, dry_run=args.dry_run
        )
    print(match_summary(report, dry_run=args.dry_run))
    return EXIT_OK


def match_summary(report: MatchReport, *, dry_run: bool = False, snippets: bool = False) -> str:
    lines = [
        f"{report.articles_checked} articles checked"
        + (" (dry run: nothing stored)" if dry_run else "")
    ]
    if report.rematched_watchlists:
        lines.append(
            "re-matched all stored articles for: " + ", ".join(report.rematched_watchlists)
        )
    for watch in report.watchlists.values():
        lines.append(
            f"{watch.name}: {len(watch.new)} new matches, {watch.changed} changed, "
            f"{watch.dropped} dropped"
        )
        for found in watch.new:
            terms = ", ".join(f"{term} ×{count}" for term, count in found.terms.items())
            lines.append(f"  {found.short_id:>7}  {found.title[:70]}  [{terms}]")
            if snippets:
                lines.append("           " + Snippet.from_dict(found.snippet).highlighted("[", "]"))
    return "\n".join(lines)


# ---------------------------------------------------------------- digest / send / cycle


def _add_digest(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser(
        "digest", help="build the digest of every subscriber who is due into the outbox"
    )
    sub.add_argument("--now", action="store_true", help="every subscriber, due or not")
    sub.set_defaults(run=cmd_digest)


def cmd_digest(args: argparse.Namespace) -> int:
    config = load_config(config_path(args.config))
    with Database(config.storage.url) as db:
        built = jobs.build_digests(config, db, force=args.now)
    for each in built:
        print(f"{each.recipient}: {each.subject}")
    print(f"{len(built)} digests put into the outbox; `newswatch send` delivers them")
    return EXIT_OK


def _add_send(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser("send", help="deliver the outbox (SMTP, or the Maildir)")
    sub.set_defaults(run=cmd_send)


def cmd_send(args: argparse.Namespace) -> int:
    config = load_config(config_path(args.config))
    with Database(config.storage.url) as db:
        report = jobs.send_outbox(config, db)
    print(report.summary())
    return EXIT_FAILURE if report.failed else EXIT_OK


def _add_cycle(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser("cycle", help="crawl -> match -> digest -> send, once")
    sub.set_defaults(run=cmd_cycle)


def cmd_cycle(args: argparse.Namespace) -> int:
    config = load_config(config_path(args.config))
    with Database(config.storage.url) as db:
        outcomes = jobs.crawl_sources(config, db)
        for outcome in outcomes:
            print(crawl_summary(outcome))
        print(match_summary(jobs.match_new(config, db)))
        for each in jobs.build_digests(config, db):
            print(f"digest for {each.recipient}: {each.subject}")
        report = jobs.send_outbox(config, db)
    print(report.summary())
    return EXIT_OK if all(o.ok for o in outcomes) and not report.failed else EXIT_FAILURE


# ---------------------------------------------------------------- run


def _add_run(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser(
        "run",
        help="the service: crawl, match, digest and send on schedule until stopped",
        description="Runs until SIGTERM/SIGINT (the running step finishes; exit 0). SIGHUP "
        "reloads the config (a bad one is logged and the old one kept). One service per "
        "database: a second one exits 2 naming the first.",
    )
    sub.set_defaults(run=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from scheduler.service import Service

    path = config_path(args.config)
    config = load_config(path)
    return Service(config, path).run()


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
    from scheduler import status

    config = load_config(config_path(args.config))
    with Database(config.storage.url) as db:
        report = status.collect_status(config, db)
    problems = status.health_problems(report)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2, default=str))
    elif not args.check:
        print(status.render_status(report))
    if args.check:
        for problem in problems:
            print(problem)
        if not problems:
            print("ok")
        return EXIT_FAILURE if problems else EXIT_OK
    return EXIT_OK


# ---------------------------------------------------------------- demo


def _add_demo(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser(
        "demo", help="run the whole flow offline against the bundled DW sample site"
    )
    sub.add_argument(
        "--folder",
        default="demo-output",
        help="where the demo writes (default: "
        "./demo-output; its previous database and mail are replaced)",
    )
    sub.set_defaults(run=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from scheduler import demo_flow

    if not args.verbose:  # the demo prints what happened; the job log lines would repeat it
        logging.getLogger().setLevel(logging.WARNING)
    folder = Path(args.folder)
    try:
        demo_flow.prepare_folder(folder)
    except demo_flow.DemoFolderError as error:
        raise CommandError(str(error), EXIT_USAGE) from None
    with demo_flow.serve_demo_site() as server:
        config = demo_flow.demo_config(folder, server.base_url)
        config_file = folder / "newswatch.toml"
        config_file.write_text(demo_flow.config_toml(config), encoding="utf-8")
        print(f"demo site: {server.base_url} ({len(server.site.articles)} DW-shaped articles)")
        print(f"config:    {config_file}")
        with Database(config.storage.url) as db:
            print("\n== crawl")
            outcomes = jobs.crawl_sources(config, db, log_file=folder / "crawl.log")
            for outcome in outcomes:
                print(crawl_summary(outcome))
            with db.session() as session:
                stored = session.scalars(select(Article).order_by(Article.id)).all()
            for article in stored:
                print(
                    f"  {article.short_id:>6}  {article.language or '--':3} {article.kind:8} "
                    f"{article.title[:70]}"
                )
            seed = next((a for a in stored if a.short_id == "1HDPC"), None)
            found = f"{seed.short_id} {seed.title!r} ({seed.url})" if seed else "MISSING"
            print(f"stored {len(stored)} articles; the seed article: {found}")
            print("\n== match (watchlist syria: Raqqa, Daesh, Islamic State, IS)")
            print(match_summary(jobs.match_new(config, db), snippets=True))
            print("\n== digest and send")
            built = jobs.build_digests(config, db)
            report = jobs.send_outbox(config, db)
        print(report.summary())
        for each in built:
            print(f"digest for {each.recipient}: {each.subject!r}")
        print(f"delivered into the Maildir {config.mail.maildir}")
        for path in sorted(Path(config.mail.maildir, "new").glob("*")):
            print(f"  {path}")
    print(f"\nexplore: newswatch --config {config_file} articles --watchlist syria")
    ok = all(o.ok for o in outcomes) and seed is not None and built and not report.failed
    return EXIT_OK if ok else EXIT_FAILURE


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_init,
    _add_check,
    _add_parse,
    _add_crawl,
    _add_articles,
    _add_match,
    _add_digest,
    _add_send,
    _add_cycle,
    _add_run,
    _add_status,
    _add_demo,
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
