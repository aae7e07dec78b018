"""The article's fields are declared once (store.article_schema): the parser's result, the crawl's
item, the stored columns and the JSON of `newswatch parse` / `newswatch articles` agree with it,
and it agrees with the documented JSON keys (tests/test_cli.py PARSE_KEYS, PARSE_JSON_KEYS)."""

from __future__ import annotations

import types
import typing
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select

from crawler.dw_page import ParsedPage
from store.article_schema import HASHED_FIELDS, PAGE_FIELDS, ArticleFields, CrawledArticle
from store.articles import ARTICLE_FIELDS, article_json, content_hash, upsert_articles
from store.db import Database
from store.models import Article
from tests.test_cli import PARSE_JSON_KEYS, PARSE_KEYS

# the Article columns no crawl supplies: the store's own bookkeeping
BOOKKEEPING = {"id", "content_hash", "first_seen_at", "updated_at", "checked_at", "matched_at"}
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def page(**changes: object) -> ArticleFields:
    values: dict[str, object] = {
        "short_id": "1HDPC",
        "content_id": 18879446,
        "url": "https://www.dw.com/en/france-wants-to-hit-nerve-center-of-is/a-18879446",
        "language": "en",
        "kind": "article",
        "title": "France wants to hit 'nerve center' of 'IS'",
        "teaser": "The main objective.",
        "body": "First.\n\nSecond.",
        "captions": ["A caption"],
        "authors": ["A. Author"],
        "topics": ["Syria"],
        "published_at": datetime(2015, 11, 27, tzinfo=timezone(timedelta(hours=1))),
        "modified_at": None,
        "selector_fallback": False,
        "fallbacks": [],
    }
    return ArticleFields(**{**values, **changes})


def test_the_schema_is_the_documented_json_of_parse() -> None:
    assert list(PAGE_FIELDS) == names(ArticleFields) == PARSE_KEYS
    data = page().to_json()
    assert list(data) == PARSE_KEYS
    assert data["published_at"] == "2015-11-27T00:00:00+01:00" and data["modified_at"] is None
    data["captions"].append("changed")  # a copy: the page keeps its own list
    assert page().to_json()["captions"] == ["A caption"]


def test_the_parser_and_the_crawl_add_only_their_own_fields() -> None:
    assert names(ParsedPage) == [*PARSE_KEYS, "sources", "short_id_mismatch", "warnings"]
    assert names(CrawledArticle) == [*PARSE_KEYS, "listed_at"] == list(ARTICLE_FIELDS)
    parsed = ParsedPage(**{name: getattr(page(), name) for name in PAGE_FIELDS}, warnings=["w"])
    # the sources are printed, the warnings are not part of the JSON
    assert list(parsed.to_json()) == PARSE_JSON_KEYS
    crawled = CrawledArticle.of_page(parsed, listed_at=NOW)
    assert crawled.values() == {**{n: getattr(parsed, n) for n in PAGE_FIELDS}, "listed_at": NOW}


def _allows_none(hint: object) -> bool:
    return isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)


def test_the_article_table_stores_exactly_the_crawled_fields_and_its_bookkeeping() -> None:
    columns = Article.__table__.columns
    assert set(columns.keys()) == set(ARTICLE_FIELDS) | BOOKKEEPING
    assert not set(ARTICLE_FIELDS) & BOOKKEEPING
    hints = typing.get_type_hints(CrawledArticle)
    nullable = {name: columns[name].nullable for name in ARTICLE_FIELDS}
    assert nullable == {name: _allows_none(hints[name]) for name in ARTICLE_FIELDS}


def test_articles_json_prints_what_was_stored_in_the_parse_keys(sqlite_url: str) -> None:
    crawled = CrawledArticle.of_page(page(modified_at=NOW - timedelta(days=1)), listed_at=NOW)
    with Database(sqlite_url) as db:
        with db.engine.begin() as connection:
            upsert_articles(connection, [crawled.values()], NOW)
        with db.session() as session:
            stored = session.scalars(select(Article)).one()
            data = article_json(stored)
    assert list(data) == [*PARSE_KEYS, "first_seen_at"]
    when = {"published_at", "modified_at", "first_seen_at"}
    assert {k: v for k, v in data.items() if k not in when} == {
        k: v for k, v in crawled.to_json().items() if k not in when
    }
    # dates come back in UTC: the same moments
    assert datetime.fromisoformat(data["published_at"]) == crawled.published_at
    assert datetime.fromisoformat(data["modified_at"]) == crawled.modified_at
    assert data["first_seen_at"] == NOW.isoformat()


# the crawled fields whose change is no change a reader sees (the contract: a new field must be
# put here or marked READER_SEES in the schema, or this test fails)
NOT_HASHED = {
    "short_id",
    "content_id",
    "url",
    "language",
    "kind",
    "modified_at",
    "selector_fallback",
    "fallbacks",  # how the page was read, not what it says
    "listed_at",
}


def test_every_crawled_field_is_either_seen_by_a_reader_or_named_as_not() -> None:
    assert set(HASHED_FIELDS) | NOT_HASHED == set(ARTICLE_FIELDS)
    assert not set(HASHED_FIELDS) & NOT_HASHED


def test_the_content_hash_of_a_stored_article_stays_what_it_was() -> None:
    """Stored rows keep their hashes across releases: a different hash for the same text would
    make every stored article "updated" at the next crawl."""
    fields = {
        "title": "France wants to hit 'nerve center' of 'IS'",
        "teaser": "A teaser.",
        "body": "First paragraph.\n\nSecond paragraph.",
        "captions": [],
        "authors": ["A. Writer"],
        "topics": ["Syria"],
        "published_at": datetime(2015, 11, 27, 10, 0, tzinfo=UTC),
        "url": "https://www.dw.com/en/any-url/a-18879446",  # not hashed
    }
    assert content_hash(fields) == (
        "d4824fdf371871e09ac7225596437af416b5f4ad95f44ef4e2410364ae9b8fca"
    )
