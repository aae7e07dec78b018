"""outbox outcomes (claims, lost replies, re-queues, acknowledgements) and returned deliveries

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 10:00:00

The outbox learns who holds a message (``claimed_at``), how many of its sends lost their
outcome (``lost_outcomes``), when an operator re-queued or acknowledged it. A Delivery can be
*returned* when its message failed, so the match goes into the subscriber's next digest: the
one-per-(subscriber, match) rule becomes a unique index over the rows not returned.
"""

import sqlalchemy as sa
from alembic import op

import store.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claimed_at", store.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("lost_outcomes", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("requeued_at", store.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("acknowledged_at", store.models.UTCDateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("returned_at", store.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.drop_constraint(batch_op.f("uq_deliveries_subscriber"), type_="unique")
        batch_op.create_index(
            "uq_deliveries_given",
            ["subscriber", "match_id"],
            unique=True,
            sqlite_where=sa.text("returned_at IS NULL"),
            postgresql_where=sa.text("returned_at IS NULL"),
        )
        batch_op.create_index(
            "ix_deliveries_returned",
            ["subscriber"],
            unique=False,
            sqlite_where=sa.text("returned_at IS NOT NULL"),
            postgresql_where=sa.text("returned_at IS NOT NULL"),
        )


def downgrade() -> None:
    # returned rows are the record of failed messages; with one row per (subscriber, match)
    # again, a returned row that was given anew must go
    deliveries = sa.table(
        "deliveries", sa.column("returned_at", store.models.UTCDateTime(timezone=True))
    )
    op.execute(deliveries.delete().where(deliveries.c.returned_at.is_not(None)))
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_returned")
        batch_op.drop_index("uq_deliveries_given")
        batch_op.create_unique_constraint(
            batch_op.f("uq_deliveries_subscriber"), ["subscriber", "match_id"]
        )
        batch_op.drop_column("returned_at")

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("acknowledged_at")
        batch_op.drop_column("requeued_at")
        batch_op.drop_column("lost_outcomes")
        batch_op.drop_column("claimed_at")
