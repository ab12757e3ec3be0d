"""safe event-log reading (xid8 txid) and the outbox of bank notifications

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 14:25:00

- ``loan_events.txid`` becomes ``xid8`` from ``pg_current_xact_id()`` so readers can compare it with
  ``pg_snapshot_xmin(pg_current_snapshot())`` (xid8 with xid8), and ``(txid, seq)`` gets the index
  the keyset read walks.
- ``outbox_messages`` exactly as ``kit.outbox.OutboxMessage`` defines it (the
  ``application.recommended`` webhook is enqueued there in the recommending transaction).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a type change rewrites the table without firing the append-only row trigger
    op.execute("ALTER TABLE loan_events ALTER COLUMN txid DROP DEFAULT")
    op.execute("ALTER TABLE loan_events ALTER COLUMN txid TYPE xid8 USING txid::text::xid8")
    op.execute("ALTER TABLE loan_events ALTER COLUMN txid SET DEFAULT pg_current_xact_id()")
    op.execute("CREATE INDEX loan_events_txid_seq ON loan_events (txid, seq)")
    op.create_table(
        'outbox_messages',
        sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('message_id', sa.String(length=64), nullable=False),
        sa.Column('topic', sa.String(length=64), nullable=False),
        sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=True),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('message_id'),
    )
    op.create_index(op.f('ix_outbox_messages_sent_at'), 'outbox_messages', ['sent_at'], unique=False)
    # keyset pages of the exports: repayments by value date within a loan's region come from the loan
    op.create_index('loans_start_date', 'loans', ['start_date'], unique=False)
    op.create_index('repayments_value_date', 'repayments', ['value_date'], unique=False)


def downgrade() -> None:
    op.drop_index('repayments_value_date', table_name='repayments')
    op.drop_index('loans_start_date', table_name='loans')
    op.drop_index(op.f('ix_outbox_messages_sent_at'), table_name='outbox_messages')
    op.drop_table('outbox_messages')
    op.execute("DROP INDEX loan_events_txid_seq")
    op.execute("ALTER TABLE loan_events ALTER COLUMN txid DROP DEFAULT")
    op.execute("ALTER TABLE loan_events ALTER COLUMN txid TYPE bigint USING txid::text::bigint")
    op.execute("ALTER TABLE loan_events ALTER COLUMN txid SET DEFAULT txid_current()")
