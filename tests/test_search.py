"""store.search on SQLite (FTS5) and PostgreSQL (GIN over to_tsvector): articles stored through
the real upsert, found, highlighted and paged as the /search page shows them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, text

from crawler.dw_page import parse_page
from store.article_schema import CrawledArticle
from store.articles import Upsert, upsert_articles
from store.db import Database
from store.prune import prune
from store.search import (
    MAX_LIMIT,
    SearchHit,
    SearchQueryError,
    SearchResults,
    search_articles,
)
from store.search_query import parse_query
from tests.articles import article_fields

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
GERMAN_SAMPLE = "article-de-2024-a-68117411-new-layout.html"  # "Die erste Hürde hat er gemeistert"
HOSTILE = [
    '"',
    '""',
    "*",
    "**",
    "raq**",
    "NEAR(",
    "NEAR(a b",
    "a NEAR/3 b",
    "') OR 1=1 --",
    "'; DROP TABLE articles; --",
    "title:syria",
    "^syria",
    "syria AND",
    "OR",
    "-syria",
    "syria & | ! <-> :*",
    "'syria':*",
    "\\'",
    '"unclosed phrase',
    "\x00syria",
    "\ud800",
    "syria " * 400,
    "a" * 5000,
    "x" * 65,
]


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    with Database(database_url) as database:
        yield database


def store(db: Database, *items: dict[str, Any], now: datetime = T0) -> list[Upsert]:
    with db.session() as session:
        outcomes = upsert_articles(session.connection(), items, now)
        session.commit()
    return outcomes


def search(db: Database, query: str, **paging: int) -> SearchResults:
    with db.session() as session:
        return search_articles(session, query, **paging)


def found(db: Database, query: str) -> list[str]:
    return [hit.short_id for hit in search(db, query).hits]


def hit_words(pieces: list[tuple[str, bool]]) -> list[str]:
    return [piece for piece, is_hit in pieces if is_hit]


def test_an_article_is_found_by_a_word_of_its_body_alone(db: Database) -> None:
    wanted = article_fields(
        1, title="Weather", teaser="Rain today.", body="Long text. The Euphrates rose again."
    )
    store(db, wanted, article_fields(2, body="Nothing about rivers here."))
    results = search(db, "euphrates")
    assert results.total == 1
    [hit] = results.hits
    assert hit.short_id == wanted["short_id"]
    assert hit_words(hit.snippet) == ["Euphrates"]
    assert "The Euphrates rose again" in "".join(piece for piece, _ in hit.snippet)
    assert hit.title == [("Weather", False)]
    assert (hit.language, hit.first_seen_at) == ("en", T0)


def test_a_phrase_needs_its_words_together_and_in_order(db: Database) -> None:
    together = article_fields(1, body="Aid from the Red Cross arrived.")
    apart = article_fields(2, body="The cross was painted red.")
    store(db, together, apart)
    assert found(db, '"red cross"') == [together["short_id"]]
    assert sorted(found(db, "red cross")) == sorted([together["short_id"], apart["short_id"]])
    [hit] = search(db, '"red cross"').hits
    assert "".join(hit_words(hit.snippet)).replace(" ", "") in ("RedCross", "Red Cross")


def test_a_prefix_finds_the_words_it_begins(db: Database) -> None:
    raqqa = article_fields(1, body="Fighting near Raqqa continued.")
    store(db, raqqa, article_fields(2, body="Fighting near Aleppo continued."))
    assert found(db, "raq*") == [raqqa["short_id"]]
    assert found(db, "raq") == []
    assert found(db, '"near raq"*') == [raqqa["short_id"]]
    [hit] = search(db, "raq*").hits
    assert hit_words(hit.snippet) == ["Raqqa"]


def test_a_word_the_article_lacks_finds_nothing(db: Database) -> None:
    store(db, article_fields(1, title="Syria", body="Talks in Geneva."))
    assert search(db, "syria geneva").total == 1
    results = search(db, "syria moscow")  # every word must be there
    assert (results.total, results.hits) == (0, [])


def test_a_changed_body_is_found_by_its_new_words_only(db: Database) -> None:
    store(db, article_fields(1, body="Talks in Geneva."))
    assert store(
        db, article_fields(1, body="Talks moved to Vienna."), now=T0 + timedelta(hours=1)
    ) == [Upsert.UPDATED]
    assert found(db, "vienna") == [article_fields(1)["short_id"]]
    assert found(db, "geneva") == []


def test_a_pruned_article_is_not_found(db: Database) -> None:
    store(db, article_fields(1, body="An old story about Tikrit."))
    store(db, article_fields(2, body="A new story about Tikrit."), now=T0 + timedelta(days=40))
    removed = prune(db, keep_days=30, now=T0 + timedelta(days=40))
    assert removed["articles"] == 1
    assert found(db, "tikrit") == [article_fields(2)["short_id"]]


def test_german_words_are_found_whatever_their_case(
    db: Database, dw_samples: Path, database_url: str
) -> None:
    page = parse_page((dw_samples / GERMAN_SAMPLE).read_bytes())
    store(db, CrawledArticle.of_page(page).values(), article_fields(2, body="Keine Hürden."))
    assert "Hürde" not in page.title and "Die erste Hürde" in page.body
    for query in ("Hürde", "hürde", "HÜRDE", '"erste hürde"', "Präsidentschafts*"):
        assert found(db, query) == [page.short_id], query
    [hit] = search(db, "HÜRDE").hits
    assert "Hürde" in hit_words(hit.snippet)
    assert (hit.language, hit.title) == ("de", [(page.title, False)])
    assert found(db, "putin") == [page.short_id]  # "Putin-Ära" in the title
    if database_url.startswith("sqlite"):  # FTS5 folds accents; PostgreSQL's 'simple' does not
        assert found(db, "hurde") == [page.short_id]


def test_arabic_and_russian_words_are_found(db: Database) -> None:
    arabic = article_fields(
        1, language="ar", title="سوريا", body="قالت الأمم المتحدة إن المساعدات وصلت إلى حلب اليوم."
    )
    russian = article_fields(2, language="ru", title="Новости", body="Путин выступил в Москве.")
    store(db, arabic, russian)
    assert found(db, "حلب") == [arabic["short_id"]]
    assert found(db, '"الأمم المتحدة"') == [arabic["short_id"]]
    assert found(db, "ПУТИН") == [russian["short_id"]]
    assert found(db, "моск*") == [russian["short_id"]]
    [hit] = search(db, "حلب").hits
    assert hit_words(hit.snippet) == ["حلب"]


@pytest.mark.parametrize("query", HOSTILE, ids=range(len(HOSTILE)))
def test_a_hostile_query_gives_results_or_a_one_line_error(db: Database, query: str) -> None:
    store(db, article_fields(1, title="Syria", body="Syria talks: NEAR the end, a OR b."))
    try:
        results = search(db, query)
    except SearchQueryError as error:
        assert str(error) and "\n" not in str(error)
    else:
        assert results.total == len(results.hits)
    assert found(db, "syria") == [article_fields(1)["short_id"]]  # nothing was dropped


def test_queries_of_nothing_searchable_are_refused_with_a_reason(db: Database) -> None:
    for query in ("", "   ", "***", '""', "?!.,;", "-- ()"):
        with pytest.raises(SearchQueryError, match="nothing to search for"):
            search(db, query)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=st.text(max_size=80))
def test_any_text_gives_results_or_a_search_error(db: Database, query: str) -> None:
    try:
        results = search(db, query)
    except SearchQueryError:
        return
    assert results.total >= len(results.hits)


def test_the_query_language_parses_words_phrases_and_prefixes() -> None:
    terms = parse_query('Syria "Red  Cross" raq* al-Assad "near raq"* OR')
    assert [(t.words, t.prefix) for t in terms] == [
        (("Syria",), False),
        (("Red", "Cross"), False),
        (("raq",), True),
        (("al", "Assad"), False),
        (("near", "raq"), True),
        (("OR",), False),
    ]


def test_a_script_in_a_title_comes_back_as_plain_text(db: Database) -> None:
    title = "<script>alert('x')</script> Syria & <b>more</b>"
    store(db, article_fields(1, title=title, body="Syria."))
    [hit] = search(db, "syria").hits
    assert "".join(piece for piece, _ in hit.title) == title
    assert ("Syria", True) in hit.title
    assert all("\x02" not in piece and "\x03" not in piece for piece, _ in hit.title + hit.snippet)


def test_a_title_word_ranks_above_a_body_word(db: Database) -> None:
    in_body = article_fields(1, title="News", body="A long report that mentions Homs once.")
    in_title = article_fields(2, title="Homs", body="A long report.")
    store(db, in_body, in_title)
    assert found(db, "homs") == [in_title["short_id"], in_body["short_id"]]


def test_pages_of_equal_hits_go_newest_published_first_with_the_total(db: Database) -> None:
    items = [
        article_fields(cid, body="Idlib report.", published_at=T0 - timedelta(hours=cid))
        for cid in range(1, 26)
    ]
    store(db, *items)
    newest_first = [item["short_id"] for item in items]
    pages = [search(db, "idlib", limit=10, offset=offset) for offset in (0, 10, 20)]
    assert [p.total for p in pages] == [25, 25, 25]
    assert [len(p.hits) for p in pages] == [10, 10, 5]
    assert [hit.short_id for p in pages for hit in p.hits] == newest_first
    assert pages[0].hits[0].published_at == T0 - timedelta(hours=1)
    assert search(db, "idlib", offset=30).hits == []
    assert len(search(db, "idlib", limit=0).hits) == 1  # limits are bounded, not refused
    assert search(db, "idlib", offset=-5).hits[0].short_id == newest_first[0]
    assert search(db, "idlib", offset=10**12) == SearchResults("idlib", [], 25)


def test_no_more_than_a_hundred_hits_come_back_at_once(db: Database) -> None:
    store(db, *(article_fields(cid, body="Daraa.") for cid in range(1, MAX_LIMIT + 6)))
    results = search(db, "daraa", limit=10_000)
    assert (results.total, len(results.hits)) == (MAX_LIMIT + 5, MAX_LIMIT)
    assert all(isinstance(hit, SearchHit) for hit in results.hits)


def test_postgresql_answers_from_the_search_index(postgres_url: str) -> None:
    """(The GIN expression index is PostgreSQL's; SQLite's FTS5 table is its own index.)"""
    with Database(postgres_url) as db:
        store(db, article_fields(1, body="Deir ez-Zor."))
        statements: list[tuple[str, Any]] = []

        def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
            statements.append((statement, params))

        event.listen(db.engine, "before_cursor_execute", record)
        assert found(db, "deir") == [article_fields(1)["short_id"]]
        event.remove(db.engine, "before_cursor_execute", record)
        assert len(statements) == 2  # the count, the page
        with db.engine.connect() as connection:
            connection.execute(text("SET enable_seqscan = off"))  # a few rows: else a seq scan
            cursor = connection.connection.cursor()
            for statement, params in statements:
                cursor.execute("EXPLAIN " + statement, params)
                plan = "\n".join(row[0] for row in cursor.fetchall())
                assert "ix_articles_search" in plan, plan


def test_the_snippet_is_a_few_dozen_words_around_the_hit(db: Database) -> None:
    words = [f"filler{n}" for n in range(400)]
    words[200] = "Kobani"
    store(db, article_fields(1, body=" ".join(words)))
    [hit] = search(db, "kobani").hits
    shown = "".join(piece for piece, _ in hit.snippet)
    assert hit_words(hit.snippet) == ["Kobani"]
    assert 10 <= len(shown.split()) <= 60
    assert shown.startswith("…") and shown.endswith("…")  # text left out on both sides


def test_an_article_with_only_a_title_has_an_empty_snippet(db: Database) -> None:
    store(db, article_fields(1, title="Hasakah"))
    [hit] = search(db, "hasakah").hits
    assert (hit.title, hit.snippet) == ([("Hasakah", True)], [])
