"""subscriber choices, generated secrets, the digest's unsubscribe URL, full-text search

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 05:00:00

Subscribers choose on the web (unsubscribe, pause, schedule, leave a watchlist): one
``subscriber_choices`` row each, overriding the config file. ``app_secrets`` keeps the key that
signs their links when ``$NEWSWATCH_SECRET_KEY`` is unset. Each outbox row keeps the one-click
unsubscribe URL its digest was built with (its List-Unsubscribe header).

Search over title, teaser and body is the database's own: on SQLite an FTS5 index with external
content (the ``articles`` rows) kept in step by triggers on every insert, update and delete; on
PostgreSQL a GIN index over the same ``to_tsvector('simple', ...)`` expression that
``store/search.py`` queries. (A later migration that rebuilds ``articles`` with
``batch_alter_table`` on SQLite drops the triggers: it must create them again.)
"""

import sqlalchemy as sa
from alembic import op

import store.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SQLITE_SEARCH = [
    "CREATE VIRTUAL TABLE articles_fts USING fts5(title, teaser, body, content='articles', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN "
    "INSERT INTO articles_fts(rowid, title, teaser, body) "
    "VALUES (new.id, new.title, new.teaser, new.body); END",
    "CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN "
    "INSERT INTO articles_fts(articles_fts, rowid, title, teaser, body) "
    "VALUES ('delete', old.id, old.title, old.teaser, old.body); END",
    "CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, teaser, body ON articles BEGIN "
    "INSERT INTO articles_fts(articles_fts, rowid, title, teaser, body) "
    "VALUES ('delete', old.id, old.title, old.teaser, old.body); "
    "INSERT INTO articles_fts(rowid, title, teaser, body) "
    "VALUES (new.id, new.title, new.teaser, new.body); END",
    "INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')",
]
# the expression store/search.py matches against: the index is used only for the same one
POSTGRES_SEARCH = (
    "CREATE INDEX ix_articles_search ON articles USING gin "
    "(to_tsvector('simple'::regconfig, title || ' ' || teaser || ' ' || body))"
)


def upgrade() -> None:
    op.create_table(
        "subscriber_choices",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("unsubscribed_at", store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paused_until", store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("schedule", sa.String(length=200), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("left_watchlists", sa.JSON(), nullable=False),
        sa.Column("updated_at", store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_subscriber_choices")),
    )
    op.create_table(
        "app_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_app_secrets")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unsubscribe_url", sa.Text(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_SEARCH:
            op.execute(statement)
    else:
        op.execute(POSTGRES_SEARCH)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS articles_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS articles_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_articles_search")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("unsubscribe_url")
    op.drop_table("app_secrets")
    op.drop_table("subscriber_choices")
