"""Writing articles: one row per short id, safe when two writers race."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Table, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.article_schema import HASHED_FIELDS, CrawledArticle, fields_json
from store.models import Article

# the fields a crawl supplies (store.article_schema); every other column of Article is bookkeeping
ARTICLE_FIELDS = tuple(f.name for f in dataclasses.fields(CrawledArticle))


class Upsert(StrEnum):
    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


def content_hash(fields: Mapping[str, Any]) -> str:
    """A fingerprint of what a reader sees; the URL and crawl times do not count."""
    payload = {name: fields.get(name) for name in HASHED_FIELDS}
    text = json.dumps(payload, sort_keys=True, default=_json_default, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot hash {type(value).__name__}")


def _insert_for(dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"newswatch supports SQLite and PostgreSQL, not {dialect}")


def upsert_article(session: Session, fields: Mapping[str, Any], now: datetime) -> Upsert:
    """Insert the article, or update it when its content changed, or touch it, as of ``now``.
    The caller commits."""
    return upsert_articles(session.connection(), [fields], now)[0]


def upsert_articles(
    connection: Connection, items: Sequence[Mapping[str, Any]], now: datetime
) -> list[Upsert]:
    """Store a batch of articles by short id, as of ``now`` (first seen, updated, checked):
    new -> insert, changed content -> update, same content -> touch. Insert-on-conflict makes
    two crawls that store the same short id at once leave one row (the loser updates or touches
    it). Core statements, compiled once and cached, keep this cheap; the caller commits."""
    table = Article.__table__
    assert isinstance(table, Table)  # a declarative model's table
    rows = []
    for fields in items:
        values = {name: fields[name] for name in ARTICLE_FIELDS if name in fields}
        rows.append({**values, "content_hash": content_hash(values), "updated_at": now,
                     "checked_at": now})  # fmt: skip
    stored: dict[str, str] = dict(
        connection.execute(
            select(table.c.short_id, table.c.content_hash).where(
                table.c.short_id.in_({row["short_id"] for row in rows})
            )
        ).all()
    )
    insert = (
        _insert_for(connection.dialect.name)(table)
        .on_conflict_do_nothing()  # either unique key (short id, content id): it is stored
        .returning(table.c.short_id)
    )
    inserted = _insert_new(connection, insert, rows, stored, now)
    outcomes = []
    for row in rows:
        short = row["short_id"]
        if short in inserted:
            inserted.discard(short)  # a second row of the same short id compares with it
            stored[short] = row["content_hash"]
            outcomes.append(Upsert.NEW)
            continue
        if short not in stored:
            # another crawl stored it a moment ago: compare with what it stored
            stored[short] = connection.execute(
                select(table.c.content_hash).where(table.c.short_id == short)
            ).scalar_one()
        if stored[short] != row["content_hash"]:
            # matched_at cleared: the match stage takes it up again, however close the clock
            # readings of the two versions are
            changed = {**row, "matched_at": None}
            connection.execute(update(table).where(table.c.short_id == short).values(changed))
            stored[short] = row["content_hash"]
            outcomes.append(Upsert.UPDATED)
        else:
            # how this version was read is kept even when what it says is unchanged
            touch = {"checked_at": now, **_present(row, "listed_at"), **_given(row, *_HOW_READ)}
            connection.execute(update(table).where(table.c.short_id == short).values(touch))
            outcomes.append(Upsert.UNCHANGED)
    return outcomes


def _insert_new(
    connection: Connection,
    insert: Any,
    rows: list[dict[str, Any]],
    stored: Mapping[str, str],
    now: datetime,
) -> set[str]:
    """Insert the batch's first row of each short id not stored yet, in one statement per set of
    columns (executemany with RETURNING): the short ids inserted. A row that another crawl
    stored a moment ago is not among them."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    seen: set[str] = set()
    for row in rows:
        short = row["short_id"]
        if short not in stored and short not in seen:
            seen.add(short)
            groups.setdefault(frozenset(row), []).append({**row, "first_seen_at": now})
    inserted: set[str] = set()
    for group in groups.values():
        inserted.update(connection.execute(insert, group).scalars())
    return inserted


def _present(values: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {name: values[name] for name in names if values.get(name) is not None}


_HOW_READ = ("selector_fallback", "fallbacks")  # not hashed: they say how, not what


def _given(values: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {name: values[name] for name in names if name in values}


def known_versions(session: Session, content_ids: list[int]) -> dict[int, datetime | None]:
    """content id -> the newest date known for the stored version (modified, published or listed),
    for the ids already stored."""
    known: dict[int, datetime | None] = {}
    for chunk_start in range(0, len(content_ids), 500):
        chunk = content_ids[chunk_start : chunk_start + 500]
        rows = session.execute(
            select(
                Article.content_id, Article.modified_at, Article.published_at, Article.listed_at
            ).where(Article.content_id.in_(chunk))
        )
        for cid, *dates in rows:
            present = [d for d in dates if d is not None]
            known[cid] = max(present) if present else None
    return known


def raise_listed_dates(connection: Connection, dates: Mapping[int, datetime]) -> None:
    """Record, for stored articles, a later date an index gave than the one they were fetched
    under (``listed_at``): an article fetched through an undated link (a listing page) while a
    feed of the same crawl dates it is then not fetched again by the next crawl for that date.
    The caller commits."""
    table = Article.__table__
    assert isinstance(table, Table)
    raise_date = (
        update(table)
        .where(
            table.c.content_id == bindparam("cid"),
            or_(table.c.listed_at.is_(None), table.c.listed_at < bindparam("listed")),
        )
        .values(listed_at=bindparam("listed"))
    )
    rows = [{"cid": cid, "listed": listed} for cid, listed in dates.items()]
    if rows:
        connection.execute(raise_date, rows)


def article_json(article: Article) -> dict[str, Any]:
    """An article as `newswatch articles --json` prints it: the keys of `newswatch parse --json`
    plus first_seen_at."""
    return fields_json(article, "first_seen_at")
