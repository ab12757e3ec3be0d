"""consumer cursors: the applications loan-event consumer and the registry reader

The kit table ``consumer_cursors`` exactly as its SQLModel definition (``kit.consumer.ConsumerCursor``)
says. Rows: ``applications-loan-events`` (the loan event log, kit.consumer) and
``applications-households`` (the 建档立卡 registry reader; ``pass-done`` between full passes).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consumer_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.String(length=200), server_default="", nullable=False),
        sa.Column("applied", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("consumer_cursors")
