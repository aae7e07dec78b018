"""`newswatch` commands that run the stages once: crawl, articles, match, digest and cycle
(crawl -> match -> digest -> send); `send` is in scheduler/send_command.py, the offline demo of
them all in scheduler/demo_command.py."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta

from sqlalchemy import select

from alerts.digest import Digests
from alerts.match_stage import MatchReport, match_articles, match_json, matches_of
from scheduler import jobs
from scheduler.config import config_path, load_config
from scheduler.crawling import CrawlOutcome
from scheduler.exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CommandError
from store.articles import article_json
from store.db import Database
from store.durations import parse_duration
from store.models import Article, Match

# ---------------------------------------------------------------- crawl / articles


def add_crawl(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser("crawl", help="crawl every source (or one) once; store what is new")
    sub.add_argument("--source", metavar="NAME", help="only this [[sources]] entry")
    sub.set_defaults(run=cmd_crawl)


def cmd_crawl(args: argparse.Namespace) -> int:
    config = load_config(config_path(args.config))
    with Database(config.storage.url) as db:
        outcomes = jobs.crawl_sources(config, db, args.clock, args.source)
    for outcome in outcomes:
        print(crawl_summary(outcome))
    return EXIT_OK if all(outcome.ok for outcome in outcomes) else EXIT_FAILURE


def crawl_summary(outcome: CrawlOutcome) -> str:
    run = outcome.run
    if run is None and outcome.cause:  # the database refused the crawl's row: say why
        lines = [f"{outcome.source}: failed: {outcome.cause}"]
        lines += [f"  error: {line}" for line in outcome.log_errors]
        return "\n".join(lines)
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


def since_duration(text: str) -> timedelta:
    """``--since``: a duration up to 100 years back; argparse prints why one is refused."""
    try:
        return timedelta(seconds=parse_duration(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_articles(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser("articles", help="list stored articles, newest first")
    sub.add_argument(
        "--since",
        metavar="DURATION",
        type=since_duration,
        help="first seen within this long (e.g. 24h, 7d)",
    )
    sub.add_argument("--limit", type=int, default=50, metavar="N", help="at most N (default 50)")
    sub.add_argument("--watchlist", metavar="NAME", help="only articles this watchlist matched")
    sub.add_argument("--json", action="store_true", help="print one JSON array")
    sub.set_defaults(run=cmd_articles)


def cmd_articles(args: argparse.Namespace) -> int:
    config = load_config(config_path(args.config))
    with Database(config.storage.url, must_exist=True) as db, db.session() as session:
        query = select(Article).order_by(Article.first_seen_at.desc(), Article.id.desc())
        if args.since is not None:
            query = query.where(Article.first_seen_at >= args.clock() - args.since)
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


def add_match(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser(
        "match", help="match stored articles against the watchlists and print what matched"
    )
    sub.add_argument(
        "--since",
        metavar="DURATION",
        type=since_duration,
        help="only articles first seen within this long (e.g. 24h)",
    )
    sub.add_argument("--watchlist", metavar="NAME", help="only this watchlist")
    sub.add_argument("--dry-run", action="store_true", help="print matches without storing them")
    sub.set_defaults(run=cmd_match)


def cmd_match(args: argparse.Namespace) -> int:
    config = load_config(config_path(args.config))
    if args.watchlist and args.watchlist not in {w.name for w in config.watchlists}:
        raise CommandError(f"no watchlist named {args.watchlist!r}", EXIT_USAGE)
    now = args.clock()
    since = now - args.since if args.since is not None else None
    with Database(config.storage.url, must_exist=args.dry_run) as db:  # a dry run only reads
        report = match_articles(
            db,
            config.watchlists,
            now=now,
            since=since,
            only=args.watchlist,
            dry_run=args.dry_run,
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
                lines.append("           " + found.snippet.highlighted("[", "]"))
    return "\n".join(lines)


# ---------------------------------------------------------------- digest / cycle


def add_digest(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser(
        "digest", help="build the digest of every subscriber who is due into the outbox"
    )
    sub.add_argument("--now", action="store_true", help="every subscriber, due or not")
    sub.set_defaults(run=cmd_digest)


def cmd_digest(args: argparse.Namespace) -> int:
    config = load_config(config_path(args.config))
    with Database(config.storage.url) as db:
        built = jobs.build_digests(config, db, args.clock, force=args.now)
    for each in built:
        print(f"{each.recipient}: {each.subject}")
    print(f"{len(built)} digests put into the outbox; `newswatch send` delivers them")
    print_not_rendered(built)
    return EXIT_FAILURE if built.not_rendered else EXIT_OK


def print_not_rendered(built: Digests) -> None:
    for recipient, problem in built.not_rendered.items():
        print(f"{recipient}: digest not rendered: {problem}", file=sys.stderr)


def add_cycle(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser("cycle", help="crawl -> match -> digest -> send, once")
    sub.set_defaults(run=cmd_cycle)


def cmd_cycle(args: argparse.Namespace) -> int:
    config = load_config(config_path(args.config))
    with Database(config.storage.url) as db:
        outcomes = jobs.crawl_sources(config, db, args.clock)
        for outcome in outcomes:
            print(crawl_summary(outcome))
        print(match_summary(jobs.match_new(config, db, args.clock)))
        built = jobs.build_digests(config, db, args.clock)
        for each in built:
            print(f"digest for {each.recipient}: {each.subject}")
        print_not_rendered(built)
        report = jobs.send_outbox(config, db, args.clock)
    print(report.summary())
    ok = (
        all(o.ok for o in outcomes)
        and not (report.failed or report.uncertain)
        and not built.not_rendered
    )
    return EXIT_OK if ok else EXIT_FAILURE
