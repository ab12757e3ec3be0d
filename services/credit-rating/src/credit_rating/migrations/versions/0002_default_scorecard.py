"""default scorecard: the 144-indicator 三好三强 / 三有三无 scorecard shipped in credit_rating/data, published as version 1

Revision ID: 0002
Revises: 0001
"""
import json
from importlib import resources

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    definition = json.loads((resources.files("credit_rating") / "data" / "default_scorecard.json").read_text(encoding="utf-8"))
    op.get_bind().execute(
        sa.text(
            "INSERT INTO scorecards (id, name, county_code, status, definition, indicator_count, created_by, published_by, published_at)"
            " VALUES (1, :name, NULL, 'published', CAST(:definition AS jsonb), :count, 'migration', 'migration', now())"
        ),
        {"name": definition["name"], "definition": json.dumps(definition, ensure_ascii=False), "count": len(definition["indicators"])},
    )
    op.execute("SELECT setval(pg_get_serial_sequence('scorecards', 'id'), 1)")


def downgrade() -> None:
    op.execute("ALTER TABLE scorecards DISABLE TRIGGER scorecards_frozen")
    op.execute("DELETE FROM scorecards WHERE id = 1 AND created_by = 'migration'")
    op.execute("ALTER TABLE scorecards ENABLE TRIGGER scorecards_frozen")
