"""The match stage over a real database: new articles, edits of watchlists, idempotence."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from alerts.match_stage import match_articles
from alerts.watchlists import WatchlistConfig
from store.articles import upsert_article
from store.db import Database
from store.dw_ids import short_id
from store.models import Delivery, Match, OutboxMessage
from tests.articles import article_fields

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
SYRIA = WatchlistConfig(name="syria", terms=["Raqqa", "Daesh"], match_case=["IS"])
UKRAINE = WatchlistConfig(name="ukraine", terms=["Kyiv"])


def add(db: Database, cid: int, title: str, body: str = "") -> None:
    with db.session() as session:
        upsert_article(
            session,
            article_fields(
                cid,
                url=f"https://www.dw.com/en/a-{cid}",
                title=title,
                body=body,
                published_at=datetime(2026, 11, 24, tzinfo=UTC),
            ),
            NOW,
        )
        session.commit()


def matched(db: Database) -> set[tuple[str, str]]:
    with db.session() as session:
        return {(m.watchlist, m.article.title) for m in session.scalars(select(Match)).unique()}


def test_new_articles_are_matched_once_and_a_second_run_changes_nothing(database_url) -> None:
    with Database(database_url) as db:
        add(db, 1, "Raqqa residents return")
        add(db, 2, "Kyiv without power")
        add(db, 3, "It is raining")
        first = match_articles(db, [SYRIA, UKRAINE], now=NOW)
        assert first.articles_checked == 3
        assert matched(db) == {
            ("syria", "Raqqa residents return"),
            ("ukraine", "Kyiv without power"),
        }
        second = match_articles(db, [SYRIA, UKRAINE], now=NOW)
        assert second.articles_checked == 0
        assert all(not w.new and not w.dropped for w in second.watchlists.values())
        add(db, 4, "Daesh claims attack")
        third = match_articles(db, [SYRIA, UKRAINE], now=NOW)
        assert third.articles_checked == 1
        assert [m.short_id for m in third.watchlists["syria"].new] == [short_id(4)]


def test_a_changed_article_is_matched_again(sqlite_url) -> None:
    with Database(sqlite_url) as db:
        add(db, 1, "Floods in Bavaria")
        match_articles(db, [SYRIA], now=NOW)
        assert matched(db) == set()
        add(db, 1, "Floods in Bavaria", body="Aid also reached Raqqa.")
        match_articles(db, [SYRIA], now=NOW)
        assert matched(db) == {("syria", "Floods in Bavaria")}


def test_editing_a_watchlist_rematches_that_watchlist_only(sqlite_url) -> None:
    syria = SYRIA.model_copy(update={"places": False})  # else Raqqa and Rakka hit each other
    with Database(sqlite_url) as db:
        add(db, 1, "Raqqa residents return")
        add(db, 2, "Kyiv without power")
        add(db, 3, "Rakka rebuilds its bakery")
        match_articles(db, [syria, UKRAINE], now=NOW)
        with db.session() as session:
            ukraine_before = session.scalars(
                select(Match).where(Match.watchlist == "ukraine")
            ).one()
        edited = syria.model_copy(update={"terms": ["Rakka", "Daesh"]})
        report = match_articles(db, [edited, UKRAINE], now=NOW)
        assert report.rematched_watchlists == ["syria"]
        assert matched(db) == {
            ("syria", "Rakka rebuilds its bakery"),
            ("ukraine", "Kyiv without power"),
        }
        with db.session() as session:
            ukraine_after = session.scalars(select(Match).where(Match.watchlist == "ukraine")).one()
        assert ukraine_after.id == ukraine_before.id
        assert ukraine_after.updated_at == ukraine_before.updated_at


def test_a_delivered_match_stays_as_history_when_the_watchlist_no_longer_hits(sqlite_url) -> None:
    with Database(sqlite_url) as db:
        add(db, 1, "Raqqa residents return")
        add(db, 2, "Raqqa market reopens")
        match_articles(db, [SYRIA], now=NOW)
        with db.session() as session:
            first = session.scalars(select(Match).order_by(Match.id)).first()
            message = OutboxMessage(
                message_id="<m@x>",
                recipient="a@example.org",
                subject="s",
                text="t",
                html="h",
                created_at=NOW,
                next_attempt_at=NOW,
            )
            session.add(message)
            session.flush()
            session.add(
                Delivery(
                    subscriber="a@example.org",
                    match_id=first.id,
                    message_id=message.id,
                    created_at=NOW,
                )
            )
            session.commit()
        match_articles(db, [SYRIA.model_copy(update={"terms": ["Daesh"]})], now=NOW)
        assert matched(db) == {("syria", "Raqqa residents return")}  # the delivered one


def test_dry_run_stores_nothing(sqlite_url) -> None:
    with Database(sqlite_url) as db:
        add(db, 1, "Raqqa residents return")
        report = match_articles(db, [SYRIA], now=NOW, dry_run=True)
        assert [m.title for m in report.watchlists["syria"].new] == ["Raqqa residents return"]
        assert matched(db) == set()
        assert match_articles(db, [SYRIA], now=NOW).articles_checked == 1
