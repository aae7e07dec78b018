"""outbox rows for chat, push and webhook channels: the channel and the digest of each row

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 08:00:00

A digest now goes out as several outbox rows: the email (``channel`` NULL) and one per channel of
the subscriber (``channel`` the URL as configured, its secrets still ``${VARIABLE}``s). The rows
of one digest share ``digest_id``, which a webhook receives as its ``Idempotency-Key``. Rows
written before this migration have no ``digest_id``: each is a digest of its own.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("channel", sa.Text(), nullable=True))
    op.add_column("outbox", sa.Column("digest_id", sa.String(length=64), nullable=True))
    op.create_index("ix_outbox_digest_id", "outbox", ["digest_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_digest_id", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("digest_id")
        batch.drop_column("channel")
