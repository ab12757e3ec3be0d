"""event consumer cursor, webhook outbox, transaction ids for stable exports

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 14:20:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# The top-level transaction id as a plain bigint (xid8 has no cast to bigint, its text has).
CURRENT_TXID = "(CAST(CAST(pg_current_xact_id() AS text) AS bigint))"


def upgrade() -> None:
    # kit.consumer.ConsumerCursor, exactly as its SQLModel definition says.
    op.create_table('consumer_cursors',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('cursor', sa.String(length=200), server_default='', nullable=False),
    sa.Column('applied', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    # kit.outbox.OutboxMessage, exactly as its SQLModel definition says.
    op.create_table('outbox_messages',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id')
    )
    op.create_index(op.f('ix_outbox_messages_sent_at'), 'outbox_messages', ['sent_at'], unique=False)
    # Which transaction created a batch and which paid it: an export pins the set of batches (and
    # whether each was paid) to the snapshot of its first page, so later commits never shift pages.
    op.add_column('settlement_batches', sa.Column('created_txid', sa.BigInteger(), server_default=sa.text(CURRENT_TXID), nullable=False))
    op.add_column('settlement_batches', sa.Column('paid_txid', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column('settlement_batches', 'paid_txid')
    op.drop_column('settlement_batches', 'created_txid')
    op.drop_index(op.f('ix_outbox_messages_sent_at'), table_name='outbox_messages')
    op.drop_table('outbox_messages')
    op.drop_table('consumer_cursors')
