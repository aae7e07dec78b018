"""Storage: the schema migrates itself, articles are stored once per short id even under races."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, inspect, select, text

from store.articles import Upsert, upsert_article, upsert_articles
from store.db import Database
from store.models import Article
from tests.articles import article_fields as stored_article

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def article_fields(cid: int, **changes: object) -> dict:
    return stored_article(
        cid,
        **{
            "teaser": "A teaser.",
            "body": "First paragraph.\n\nSecond paragraph.",
            "authors": ["A. Writer"],
            "topics": ["Syria"],
            "published_at": datetime(2015, 11, 27, 10, 0, tzinfo=UTC),
            **changes,
        },
    )


def test_opening_an_empty_database_creates_every_table(database_url: str) -> None:
    with Database(database_url) as db:
        tables = set(inspect(db.engine).get_table_names())
    assert {"articles", "crawl_runs", "alembic_version"} <= tables


def test_opening_twice_keeps_the_data(database_url: str) -> None:
    with Database(database_url) as db, db.session() as session:
        upsert_article(session, article_fields(18879446), NOW)
        session.commit()
    with Database(database_url) as db, db.session() as session:
        stored = session.scalars(select(Article)).one()
    assert stored.short_id == "1HDPC"
    assert stored.published_at == datetime(2015, 11, 27, 10, 0, tzinfo=UTC)


def test_same_article_again_is_unchanged_and_changed_content_updates_the_row(
    database_url: str,
) -> None:
    with Database(database_url) as db, db.session() as session:
        assert upsert_article(session, article_fields(18879446), NOW) is Upsert.NEW
        assert upsert_article(session, article_fields(18879446), NOW) is Upsert.UNCHANGED
        other_url = article_fields(18879446, url="https://www.dw.com/en/old-slug/a-18879446")
        assert upsert_article(session, other_url, NOW) is Upsert.UNCHANGED
        changed = article_fields(18879446, body="First paragraph.\n\nA correction.")
        assert upsert_article(session, changed, NOW) is Upsert.UPDATED
        session.commit()
        rows = session.scalars(select(Article)).all()
    assert len(rows) == 1
    assert rows[0].body.endswith("A correction.")


def _race_writer(url: str, ids: list[int], barrier: multiprocessing.synchronize.Barrier,
                 results: multiprocessing.Queue) -> None:  # fmt: skip
    try:
        db = Database(url, migrate=False)
        outcomes = []
        barrier.wait(timeout=60)
        for cid in ids:
            with db.session() as session:
                outcomes.append(upsert_article(session, article_fields(cid), NOW).value)
                session.commit()
        db.close()
        results.put(outcomes)
    except BaseException as error:  # report it to the test instead of hanging it
        results.put(f"writer failed: {error!r}")
        raise


def _first_opener(url: str, barrier: multiprocessing.synchronize.Barrier,
                  results: multiprocessing.Queue) -> None:  # fmt: skip
    try:
        barrier.wait(timeout=60)
        Database(url).close()  # creates the schema, or finds it made by another
        results.put("opened")
    except BaseException as error:  # report it to the test instead of hanging it
        results.put(f"opening failed: {error}")


def test_processes_opening_a_new_database_at_once_all_open_it(database_url: str) -> None:
    """`newswatch run` and `newswatch crawl` (or a test and its service) started together on
    a database not made yet: one makes the schema, the others wait for it and use it, instead
    of making the same tables again ("table articles already exists")."""
    context = multiprocessing.get_context("spawn")
    openers = 4
    barrier = context.Barrier(openers)
    results = context.Queue()
    processes = [
        context.Process(target=_first_opener, args=(database_url, barrier, results))
        for _ in range(openers)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert outcomes == ["opened"] * openers
    with Database(database_url, must_exist=True) as db:
        assert {"articles", "alembic_version"} <= set(inspect(db.engine).get_table_names())


@pytest.mark.parametrize("writers", [2])
def test_two_processes_storing_the_same_articles_leave_one_row_each(
    database_url: str, writers: int
) -> None:
    Database(database_url).close()  # migrate once, before the race
    ids = list(range(18879446, 18879446 + 60))
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(writers)
    results = context.Queue()
    processes = [
        context.Process(target=_race_writer, args=(database_url, ids, barrier, results))
        for _ in range(writers)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    assert all(isinstance(outcome, list) for outcome in outcomes), outcomes
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    with Database(database_url, migrate=False) as db, db.session() as session:
        count = session.scalar(select(func.count()).select_from(Article))
    assert count == len(ids)
    news = sum(outcome.count("new") for outcome in outcomes)
    assert news == len(ids), "each article is new exactly once across both writers"


def test_a_transaction_left_behind_a_cut_connection_does_not_block_the_next_writer(
    postgres_url: str,
) -> None:
    """A writer cut off mid-transaction whose server end stays open (a proxy, a NAT) still holds
    its row locks; the server ends that session (idle in transaction) and the next writer of the
    same article goes on instead of waiting for ever."""
    from sqlalchemy.engine import make_url

    from tests.service_helpers import TcpProxy

    with TcpProxy("127.0.0.1", 5432) as proxy:
        proxied = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
        with Database(postgres_url) as direct, Database(proxied.render_as_string(False)) as cut:
            stranded = cut.engine.connect()
            stranded.begin()
            upsert_articles(stranded, [article_fields(18879446)], NOW)  # the row is locked
            assert proxy.cut(server_too=False) == 1  # the server's end of it stays open
            # a generous bound, so that a regression fails here instead of hanging the suite
            with direct.engine.begin() as other:
                other.execute(text("SET LOCAL statement_timeout = '120s'"))
                [outcome] = upsert_articles(other, [article_fields(18879446)], NOW)
            assert outcome is Upsert.NEW  # the stranded insert was rolled back by the server
            with direct.session() as session:
                assert session.scalar(select(func.count()).select_from(Article)) == 1
            stranded.invalidate()
