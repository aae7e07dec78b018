"""What the web app is given by its composition root (`newswatch run` or `newswatch web`):
the database, the typed config it shows, the signed links, the clock, the operator's token and
a way to read the status report. The web stage imports no other stage's runtime; it meets them
in the database."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from alerts.config import SubscriberConfig
from alerts.watchlists import WatchlistConfig
from store.clock import Clock
from store.db import Database
from store.links import Links
from web.config import WebConfig


@dataclass(frozen=True)
class WebContext:
    db: Database
    web: WebConfig
    watchlists: Sequence[WatchlistConfig]
    subscribers: Sequence[SubscriberConfig]
    links: Links
    clock: Clock
    # the operator's token ($NEWSWATCH_WEB_TOKEN), None when unset
    token: str | None
    # `newswatch status --json` as of now: the dashboard and /api/status show it
    status: Callable[[], dict[str, Any]]
