"""Pruning: articles older than ``keep_days`` go, unless a subscriber was sent them (delivered
history stays); crawl runs and sent or failed outbox messages without deliveries likewise."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select

from store.db import Database
from store.models import Article, CrawlRun, Delivery, Match, OutboxMessage


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
            removed["articles"] += session.execute(
                delete(Article).where(Article.id.in_(chunk))
            ).rowcount
        removed["crawl runs"] = session.execute(
            delete(CrawlRun).where(CrawlRun.started_at < cutoff)
        ).rowcount
        removed["messages"] = session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.created_at < cutoff,
                OutboxMessage.status != "pending",
                ~exists().where(Delivery.message_id == OutboxMessage.id),
            )
        ).rowcount
        session.commit()
    return removed
