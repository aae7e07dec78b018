"""`newswatch demo`: the whole flow offline against the bundled DW sample site, printing what a
user would read (its site, config and folder come from scheduler/demo_flow.py)."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from pathlib import Path

from sqlalchemy import select

from scheduler import jobs
from scheduler.exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CommandError
from scheduler.stage_commands import crawl_summary, match_summary
from store.db import Database
from store.models import Article


def add_demo(commands: argparse._SubParsersAction) -> None:
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
    with demo_flow.serve_demo_site(args.clock()) as server:
        config = demo_flow.demo_config(folder, server.base_url)
        config_file = folder / "newswatch.toml"
        config_file.write_text(demo_flow.config_toml(config), encoding="utf-8")
        print(f"demo site: {server.base_url} ({len(server.site.articles)} DW-shaped articles)")
        print(f"config:    {config_file}")
        with Database(config.storage.url) as db:
            print("\n== crawl")
            outcomes = jobs.crawl_sources(config, db, args.clock, log_file=folder / "crawl.log")
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
            print(match_summary(jobs.match_new(config, db, args.clock), snippets=True))
            print("\n== digest and send")
            built = jobs.build_digests(config, db, args.clock)
            report = jobs.send_outbox(config, db, args.clock)
        print(report.summary())
        for each in built:
            print(f"digest for {each.recipient}: {each.subject!r}")
        print(f"delivered into the Maildir {config.mail.maildir}")
        for path in sorted(Path(config.mail.maildir, "new").glob("*")):
            print(f"  {path}")
    command = _this_command()
    print(f"\nexplore: {command} --config {config_file} articles --watchlist syria")
    print(f"         {command} --config {config_file} status")
    print("\nthe web app on the demo's database (archive, search, feeds, the digest's links):")
    print(f"  {command} --config {config_file} web")
    print(f"  then open {config.web.link_base}/")
    ok = all(o.ok for o in outcomes) and seed is not None and built and not report.failed
    return EXIT_OK if ok else EXIT_FAILURE


def _this_command() -> str:
    """How the user can run newswatch again: the path they ran it by, if it is not on PATH."""
    invoked = Path(sys.argv[0])
    if invoked.name == "newswatch" and shutil.which("newswatch") != str(invoked.resolve()):
        relative = os.path.relpath(invoked)
        return str(invoked.resolve()) if relative.startswith("..") else relative
    return "newswatch"
