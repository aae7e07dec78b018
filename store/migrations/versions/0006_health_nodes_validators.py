"""self-watching, crawl nodes and conditional requests

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 11:30:00

* ``articles.fallbacks``: the fields the parser read from a fallback source;
* ``crawl_runs.extraction``: the run's extraction health (pages per fallback field, empty bodies,
  missing dates and authors, the median body length ...);
* ``crawl_runs.node`` / ``job_id``: the scrapyd node and job that ran the crawl;
* ``problems``: each problem the service found in itself, with its start, end and the times the
  operator was told (one open row per key);
* ``fetch_validators``: ETag / Last-Modified per feed, sitemap or listing URL.
"""

import sqlalchemy as sa
from alembic import op

import store.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("fallbacks", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("crawl_runs") as batch:
        batch.add_column(sa.Column("extraction", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("node", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("job_id", sa.String(length=64), nullable=True))
    op.create_table(
        "problems",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("started_at", store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("start_notified_at", store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_notified_at", store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("notify_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_problems")),
    )
    op.create_index("ix_problems_key", "problems", ["key"])
    op.create_index(
        "uq_problems_open",
        "problems",
        ["key"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_table(
        "fetch_validators",
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("updated_at", store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("url", name=op.f("pk_fetch_validators")),
    )


def downgrade() -> None:
    op.drop_table("fetch_validators")
    op.drop_index("uq_problems_open", table_name="problems")
    op.drop_index("ix_problems_key", table_name="problems")
    op.drop_table("problems")
    with op.batch_alter_table("crawl_runs") as batch:
        batch.drop_column("job_id")
        batch.drop_column("node")
        batch.drop_column("extraction")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("fallbacks")
