"""loan-event consumer cursor, webhook outbox, export high-water marks

The kit tables ``consumer_cursors`` and ``outbox_messages`` exactly as their SQLModel definitions
(``kit.consumer.ConsumerCursor``, ``kit.outbox.OutboxMessage``) say.

Exported rows (claims, breaker history) carry the id of the transaction that wrote them
(``txid``): an export's high-water mark is the oldest transaction still running when its first page
was read, so every row below it is committed (or never will be) and the pages of one export are a
fixed set even while claims and breaker changes keep arriving (ids commit out of order).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TXID = "CAST(CAST(pg_current_xact_id() AS text) AS bigint)"


def upgrade() -> None:
    op.create_table(
        "consumer_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.String(length=200), server_default="", nullable=False),
        sa.Column("applied", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    op.create_index(op.f("ix_outbox_messages_sent_at"), "outbox_messages", ["sent_at"], unique=False)

    op.add_column("claims", sa.Column("txid", sa.BigInteger(), server_default=sa.text(TXID), nullable=False))
    op.add_column("breaker_history", sa.Column("txid", sa.BigInteger(), server_default=sa.text(TXID), nullable=False))
    op.create_index("claims_filed_on", "claims", ["business_date", "id"], unique=False)
    op.create_index("breaker_history_changed_on", "breaker_history", ["business_date", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("breaker_history_changed_on", table_name="breaker_history")
    op.drop_index("claims_filed_on", table_name="claims")
    op.drop_column("breaker_history", "txid")
    op.drop_column("claims", "txid")
    op.drop_index(op.f("ix_outbox_messages_sent_at"), table_name="outbox_messages")
    op.drop_table("outbox_messages")
    op.drop_table("consumer_cursors")
