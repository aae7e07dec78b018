"""Pruning: articles older than ``keep_days`` go, unless a subscriber was sent them (delivered
history stays); crawl runs and sent or failed outbox messages without deliveries likewise."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import CursorResult, Delete, delete, exists, select
from sqlalchemy.orm import Session

from store.db import Database
from store.models import Article, CrawlRun, Delivery, Match, OutboxMessage, OutboxStatus


def prune(db: Database, *, keep_days: int, now: datetime) -> dict[str, int]:
    cutoff = now - timedelta(days=keep_days)
    delivered = exists().where(Match.article_id == Article.id, Delivery.match_id == Match.id)
    with db.session() as session:
        old_articles = select(Article.id).where(Article.first_seen_at < cutoff, ~delivered)
        ids = list(session.scalars(old_articles))
        removed = {"articles": 0, "crawl runs": 0}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            session.execute(delete(Match).where(Match.article_id.in_(chunk)))
            removed["articles"] += _deleted(session, delete(Article).where(Article.id.in_(chunk)))
        removed["crawl runs"] = _deleted(
            session, delete(CrawlRun).where(CrawlRun.started_at < cutoff)
        )
        removed["messages"] = _deleted(
            session,
            delete(OutboxMessage).where(
                OutboxMessage.created_at < cutoff,
                OutboxMessage.status != OutboxStatus.PENDING,
                ~exists().where(Delivery.message_id == OutboxMessage.id),
            ),
        )
        session.commit()
    return removed


def _deleted(session: Session, statement: Delete) -> int:
    """Run a DELETE; how many rows it removed."""
    result = session.execute(statement)
    assert isinstance(result, CursorResult)  # a DML statement's result
    return result.rowcount
