"""`newswatch demo`: the whole flow offline, against the bundled DW-shaped site on loopback.

Serves the demo site on 127.0.0.1, writes a config for it into the demo folder, then runs
crawl -> match -> digest -> send into a Maildir, printing what a user would read."""

from __future__ import annotations

import shutil
import tomllib
from datetime import datetime
from pathlib import Path

from alerts.config import MailConfig, SubscriberConfig
from alerts.schedules import parse_schedule
from alerts.watchlists import WatchlistConfig
from crawler.config import CrawlConfig, SourceConfig
from demo import DemoServer, demo_articles
from scheduler.config import AppConfig
from store.config import StorageConfig

STARTER_WATCHLIST = WatchlistConfig(
    name="syria", terms=["Raqqa", "Daesh", "Islamic State"], match_case=["IS"]
)
STARTER_SUBSCRIBER = "analyst@example.org"


def demo_config(folder: Path, base_url: str) -> AppConfig:
    """A config for the demo site: fast crawl on loopback, the starter watchlist, one
    immediate subscriber, delivery into a Maildir in the demo folder."""
    return AppConfig(
        storage=StorageConfig(url=f"sqlite:///{(folder / 'newswatch.db').resolve()}"),
        crawl=CrawlConfig(every=60, delay=0, autothrottle=False, concurrency=4),
        sources=[
            SourceConfig(
                name="demo-site",
                feeds=[f"{base_url}/rdf/rss-en-all", f"{base_url}/xml/rss-de-all"],
                sitemaps=[f"{base_url}/sitemap.xml"],
                pages=[f"{base_url}/en/top-stories/s-9097"],
                allowed_domains=["127.0.0.1"],
            )
        ],
        watchlists=[STARTER_WATCHLIST],
        subscribers=[
            SubscriberConfig(
                email=STARTER_SUBSCRIBER,
                watchlists=["syria"],
                schedule=parse_schedule("immediate"),
                timezone="Europe/Berlin",
            )
        ],
        mail=MailConfig(maildir=str((folder / "mail").resolve())),
    )


def config_toml(config: AppConfig) -> str:
    """The config as TOML, so the demo's database can be explored with the other commands."""
    lines: list[str] = []
    data = config.model_dump(mode="json", exclude_defaults=False)
    for table in ("storage", "crawl", "mail", "web"):
        lines.append(f"[{table}]")
        lines += [
            f"{key} = {_toml(value)}" for key, value in data[table].items() if value is not None
        ]
        lines.append("")
    for array in ("sources", "watchlists", "subscribers"):
        for entry in data[array]:
            lines.append(f"[[{array}]]")
            lines += [
                f"{key} = {_toml(value)}" for key, value in entry.items() if value is not None
            ]
            lines.append("")
    text = "\n".join(lines)
    tomllib.loads(text)  # what we write must read back
    return text


def _toml(value: object) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


MARKER = ".newswatch-demo"


class DemoFolderError(Exception):
    """The demo would overwrite a folder it did not make."""


def prepare_folder(folder: Path) -> None:
    """A fresh demo folder: the previous demo's database and mail are removed. A folder that
    holds anything else and was not made by the demo is left alone (it may be the real one)."""
    if folder.exists() and any(folder.iterdir()) and not (folder / MARKER).exists():
        raise DemoFolderError(
            f"{folder} is not empty and was not made by `newswatch demo`; choose another --folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("made by newswatch demo; its contents are replaced each run\n")
    for name in ("newswatch.db", "newswatch.db-wal", "newswatch.db-shm", "crawl.log"):
        (folder / name).unlink(missing_ok=True)
    shutil.rmtree(folder / "mail", ignore_errors=True)


def serve_demo_site(now: datetime) -> DemoServer:
    """The demo site, its articles dated relative to ``now``."""
    return DemoServer(demo_articles(now))
