"""HTTP validators of feeds, sitemaps and listing pages (``ETag``, ``Last-Modified``), kept per URL.

The crawl sends them back (``If-None-Match``, ``If-Modified-Since``): an index that did not change
answers 304 and costs nothing to parse. A crawl keeps an index's validators only when everything
that index led to was fetched and stored, so a 304 never hides an article a crawl missed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.models import FetchValidator

MAX_VALIDATOR = 500  # characters; a longer header is not kept (and so never sent back)


class Validators(NamedTuple):
    etag: str | None
    last_modified: str | None

    def headers(self) -> dict[str, str]:
        """The conditional request headers these validators make."""
        found = {}
        if self.etag:
            found["If-None-Match"] = self.etag
        if self.last_modified:
            found["If-Modified-Since"] = self.last_modified
        return found


def usable(etag: str | None, last_modified: str | None) -> Validators | None:
    """The validators of an answer worth keeping: printable, one line, not too long."""

    def clean(value: str | None) -> str | None:
        if not value or len(value) > MAX_VALIDATOR or not value.isprintable():
            return None
        return value.strip() or None

    found = Validators(clean(etag), clean(last_modified))
    return found if found.etag or found.last_modified else None


def load_validators(session: Session) -> dict[str, Validators]:
    """Every URL's validators (one row per feed, sitemap or listing page: a small table)."""
    rows = session.execute(
        select(FetchValidator.url, FetchValidator.etag, FetchValidator.last_modified)
    )
    return {url: Validators(etag, modified) for url, etag, modified in rows}


def keep_validators(connection: Connection, found: Mapping[str, Validators], now: datetime) -> None:
    """Insert or replace the validators of these URLs, in the caller's transaction."""
    if not found:
        return
    dialect = connection.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(FetchValidator.__table__)  # type: ignore[arg-type]
    statement = statement.on_conflict_do_update(
        index_elements=["url"],
        set_={
            "etag": statement.excluded.etag,
            "last_modified": statement.excluded.last_modified,
            "updated_at": statement.excluded.updated_at,
        },
    )
    rows = [
        {"url": url, "etag": v.etag, "last_modified": v.last_modified, "updated_at": now}
        for url, v in found.items()
    ]
    connection.execute(statement, rows)
