"""`newswatch problems`: run the operator's check once, as the service does each minute: the
problems table kept in step with the health rules, the operator told of each start and end
not told yet (`scheduler.problems`). Prints the open problems with their start times.
(`newswatch status --check` stays read-only.)"""

from __future__ import annotations

import argparse
import json
import os

from scheduler.config import config_path, load_config
from scheduler.exits import EXIT_FAILURE, EXIT_OK
from scheduler.problems import check_problems, kept_problems
from scheduler.time_text import iso
from store.db import Database


def add_problems(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser(
        "problems",
        help="update the problems table and tell the operator, once (as the service does)",
        description="Runs the health rules, opens and ends rows of the problems table, and "
        "tells the operator ([alerts] operator, operator_channels) of each start and end not "
        "told yet. Exits 1 while a problem that is not silenced is open.",
    )
    sub.add_argument("--json", action="store_true", help="print the table's rows as JSON")
    sub.set_defaults(run=cmd_problems)


def cmd_problems(args: argparse.Namespace) -> int:
    config = load_config(config_path(args.config))
    with Database(config.storage.url, must_exist=True) as db:
        check_problems(config, db, args.clock, os.environ)
        kept = kept_problems(config, db)
    open_rows = [row for row in kept if row.ended_at is None]
    if args.json:
        print(json.dumps([row.to_json() for row in kept], ensure_ascii=False, indent=2))
    else:
        for row in open_rows:
            mark = "silenced " if row.silenced else ""
            print(f"{mark}since {iso(row.started_at)}: {row.text}")
        if not open_rows:
            print("ok")
    return EXIT_FAILURE if any(not row.silenced for row in open_rows) else EXIT_OK
