"""Imports point one way (DESIGN.md): scheduler -> crawler, alerts, store; crawler -> store;
alerts -> store. alerts and store never load Scrapy or Twisted."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import crawler.dw
from store import dw_ids

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("crawler", "store", "alerts", "scheduler", "demo", "web")
ALLOWED = {
    "store": set(),
    "crawler": {"store"},
    "alerts": {"store"},
    "demo": {"crawler", "store"},
    "web": {"alerts", "store"},
    "scheduler": {"crawler", "alerts", "store", "demo", "web"},
}
# what the web app may take from alerts: the typed config and what a subscriber may choose
WEB_TAKES_FROM_ALERTS = {"alerts.config", "alerts.watchlists", "alerts.schedules"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def imported_stages(path: Path) -> set[str]:
    return {name.split(".")[0] for name in imported_modules(path)} & set(STAGES)


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_imports_only_the_stages_below_it(stage: str) -> None:
    wrong = {}
    for path in sorted((ROOT / stage).rglob("*.py")):
        bad = imported_stages(path) - ALLOWED[stage] - {stage}
        if bad:
            wrong[str(path.relative_to(ROOT))] = sorted(bad)
    assert wrong == {}


def test_the_web_app_takes_from_alerts_only_its_config_and_schedule_parsing() -> None:
    taken = {
        name
        for path in (ROOT / "web").rglob("*.py")
        for name in imported_modules(path)
        if name.split(".")[0] == "alerts"
    }
    assert taken <= WEB_TAKES_FROM_ALERTS


def test_dw_ids_and_time_zone_are_imported_from_store_dw_ids_alone() -> None:
    """DW's ids and time zone have one home: no module takes them from another one."""
    names = {name for name in vars(dw_ids) if not name.startswith("_")} - {
        "annotations",
        "ZoneInfo",
    }
    wrong = []
    for stage in (*STAGES, "tests", "bench"):
        for path in sorted((ROOT / stage).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module != "store.dw_ids":
                    taken = {alias.name for alias in node.names} & names
                    wrong += [f"{path.relative_to(ROOT)}: {name}" for name in sorted(taken)]
    assert wrong == []
    assert not hasattr(crawler.dw, "short_id")  # crawler.dw knows URLs, not ids


def test_only_the_cli_imports_the_demo_site() -> None:
    users = {
        str(path.relative_to(ROOT))
        for stage in ("crawler", "store", "alerts", "scheduler")
        for path in (ROOT / stage).rglob("*.py")
        if "demo" in imported_stages(path)
    }
    assert users <= {"scheduler/cli.py", "scheduler/demo_flow.py"}


def test_alerts_and_store_load_neither_scrapy_nor_twisted() -> None:
    modules = [
        f"{stage}.{path.stem}"
        for stage in ("alerts", "store")
        for path in (ROOT / stage).glob("*.py")
        if path.stem != "__init__"
    ]
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'scrapy', 'twisted'})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert json.loads(result.stdout) == []


def test_the_matching_engine_and_the_schedules_load_no_database() -> None:
    """Text in, hits or slots out: what the match and digest stages build on holds no
    database (bench/match.py and the schedule tests run them alone)."""
    pure = [
        "alerts.matcher",
        "alerts.word_automaton",
        "alerts.watchlists",
        "alerts.snippets",
        "alerts.textnorm",
        "alerts.schedules",
        "alerts.schedule_patterns",
    ]
    code = (
        "import importlib, json, sys\n"
        f"for name in {pure!r}: importlib.import_module(name)\n"
        "database = {'sqlalchemy', 'store'}\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & database)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert json.loads(result.stdout) == []


def imported_alerts_modules(path: Path) -> set[str]:
    found = imported_modules(path)
    return {name.removeprefix("alerts.") for name in found if name.startswith("alerts.")}


# within alerts, the mail side points one way: the delivery loop (mailer) uses the transports,
# the message builder and the outbox; none of those uses it, and the address parser and the
# template size caps stand on their own
MAIL_SIDE_MAY_IMPORT = {
    "address": set(),
    "template_caps": set(),
    "mime": {"address"},
    "outbox": {"config"},
    "requeue": set(),
    "transports": {"config", "outbox"},
    "mailer": {"address", "config", "mime", "outbox", "transports"},
    "sandbox": {"template_caps"},
}


@pytest.mark.parametrize("module", sorted(MAIL_SIDE_MAY_IMPORT))
def test_the_mail_side_of_alerts_imports_one_way(module: str) -> None:
    imported = imported_alerts_modules(ROOT / "alerts" / f"{module}.py")
    assert imported - MAIL_SIDE_MAY_IMPORT[module] == set()


STATUS_OVER_THE_REPORT = ("health", "status_report", "status_text", "time_text")


@pytest.mark.parametrize("module", STATUS_OVER_THE_REPORT)
def test_status_rules_and_renderings_work_on_the_report_not_the_database(module: str) -> None:
    """Only scheduler/status_queries.py reads the database for `status`; the health rules, the
    screen and the JSON work on the StatusReport it returns."""
    reached = {
        name
        for name in imported_modules(ROOT / "scheduler" / f"{module}.py")
        if name.split(".")[0] == "sqlalchemy" or name in {"store.db", "scheduler.status_queries"}
    }
    assert reached == set()
