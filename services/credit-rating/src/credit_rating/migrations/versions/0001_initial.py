"""initial: scorecards, roster, assessments, penalties, blacklist, applied loan events, certificates

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 13:25:09.141509
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


HOUSEHOLD = "'^[A-Za-z0-9-]{1,64}$'"
DIVISION = "'^[0-9]{12}$'"

# Invariants held by the database, added by hand after autogeneration.
INVARIANTS = [
    # scorecards (评分卡): a published version is frozen; assessments may only use published versions.
    "ALTER TABLE scorecards ADD CONSTRAINT scorecards_status_ck CHECK (status IN ('draft', 'published'))",
    f"ALTER TABLE scorecards ADD CONSTRAINT scorecards_county_ck CHECK (county_code IS NULL OR county_code ~ {DIVISION})",
    "ALTER TABLE scorecards ADD CONSTRAINT scorecards_published_ck CHECK ((status = 'published') = (published_at IS NOT NULL))",
    "ALTER TABLE scorecards ADD CONSTRAINT scorecards_id_status_uq UNIQUE (id, status)",
    """CREATE FUNCTION scorecards_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        IF OLD.status = 'published' THEN
          RAISE EXCEPTION 'scorecard version % is published and cannot be deleted', OLD.id USING ERRCODE = 'check_violation';
        END IF;
        RETURN OLD;
      END IF;
      IF OLD.status = 'published' AND (NEW.definition IS DISTINCT FROM OLD.definition OR NEW.status IS DISTINCT FROM OLD.status
          OR NEW.county_code IS DISTINCT FROM OLD.county_code OR NEW.name IS DISTINCT FROM OLD.name) THEN
        RAISE EXCEPTION 'scorecard version % is published and immutable', OLD.id USING ERRCODE = 'check_violation';
      END IF;
      RETURN NEW;
    END $$""",
    "CREATE TRIGGER scorecards_frozen BEFORE UPDATE OR DELETE ON scorecards FOR EACH ROW EXECUTE FUNCTION scorecards_frozen()",
    # roster
    f"ALTER TABLE rating_households ADD CONSTRAINT rating_households_id_ck CHECK (household_id ~ {HOUSEHOLD})",
    f"ALTER TABLE rating_households ADD CONSTRAINT rating_households_village_ck CHECK (village_code ~ {DIVISION})",
    "CREATE INDEX rating_households_village_ix ON rating_households (village_code)",
    # assessments
    f"ALTER TABLE assessments ADD CONSTRAINT assessments_household_ck CHECK (household_id ~ {HOUSEHOLD})",
    f"ALTER TABLE assessments ADD CONSTRAINT assessments_village_ck CHECK (village_code ~ {DIVISION})",
    "ALTER TABLE assessments ADD CONSTRAINT assessments_scorecard_fk FOREIGN KEY (scorecard_id, scorecard_status) REFERENCES scorecards (id, status)",
    "ALTER TABLE assessments ADD CONSTRAINT assessments_published_ck CHECK (scorecard_status = 'published')",
    "ALTER TABLE assessments ADD CONSTRAINT assessments_validity_ck CHECK (valid_until >= assessed_on)",
    "ALTER TABLE assessments ADD CONSTRAINT assessments_line_ck CHECK (credit_line IS NULL OR credit_line > 0)",
    "ALTER TABLE assessments ADD CONSTRAINT assessments_grade_line_ck CHECK ((grade IS NULL) = (credit_line IS NULL))",
    # 一否决: a vetoed assessment has no grade and no credit line
    "ALTER TABLE assessments ADD CONSTRAINT assessments_veto_ck CHECK (NOT vetoed OR grade IS NULL)",
    "ALTER TABLE assessments ADD CONSTRAINT assessments_points_ck CHECK (cardinality(category_points) % 3 = 0)",
    "ALTER TABLE assessments ADD CONSTRAINT assessments_supersession_ck CHECK (is_current OR superseded_by_id IS NOT NULL)",
    "ALTER TABLE assessments ADD CONSTRAINT assessments_supersedes_fk FOREIGN KEY (supersedes_id) REFERENCES assessments (id) DEFERRABLE INITIALLY DEFERRED",
    "ALTER TABLE assessments ADD CONSTRAINT assessments_superseded_by_fk FOREIGN KEY (superseded_by_id) REFERENCES assessments (id) DEFERRABLE INITIALLY DEFERRED",
    "CREATE UNIQUE INDEX assessments_one_current_ux ON assessments (household_id) WHERE is_current",
    "CREATE UNIQUE INDEX assessments_supersedes_ux ON assessments (supersedes_id) WHERE supersedes_id IS NOT NULL",
    "CREATE INDEX assessments_household_ix ON assessments (household_id, id DESC)",
    # an assessment is a record: only its supersession may change afterwards
    """CREATE FUNCTION assessments_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF (NEW.household_id, NEW.village_code, NEW.scorecard_id, NEW.assessed_on, NEW.valid_until, NEW.score, NEW.raw_score,
          NEW.grade, NEW.credit_line, NEW.vetoed, NEW.veto_reasons, NEW.indicator_values::text, NEW.category_points, NEW.supersedes_id)
         IS DISTINCT FROM
         (OLD.household_id, OLD.village_code, OLD.scorecard_id, OLD.assessed_on, OLD.valid_until, OLD.score, OLD.raw_score,
          OLD.grade, OLD.credit_line, OLD.vetoed, OLD.veto_reasons, OLD.indicator_values::text, OLD.category_points, OLD.supersedes_id)
         OR (NOT OLD.is_current AND NEW.is_current) THEN
        RAISE EXCEPTION 'assessment % is a record; only its supersession may change', OLD.id USING ERRCODE = 'check_violation';
      END IF;
      RETURN NEW;
    END $$""",
    "CREATE TRIGGER assessments_immutable BEFORE UPDATE ON assessments FOR EACH ROW EXECUTE FUNCTION assessments_immutable()",
    # township / county review (乡镇审核, 县级复核) of an assessment
    "ALTER TABLE assessment_reviews ADD CONSTRAINT reviews_decision_ck CHECK (decision IN ('confirmed', 'disputed'))",
    "ALTER TABLE assessment_reviews ADD CONSTRAINT reviews_note_ck CHECK (decision = 'confirmed' OR length(btrim(coalesce(note, ''))) > 0)",
    "CREATE INDEX assessment_reviews_assessment_ix ON assessment_reviews (assessment_id, id)",
    # penalties from loan events
    "ALTER TABLE penalties ADD CONSTRAINT penalties_points_ck CHECK (points > 0)",
    "CREATE UNIQUE INDEX penalties_event_ux ON penalties (event_seq) WHERE event_seq IS NOT NULL",
    "CREATE INDEX penalties_assessment_ix ON penalties (assessment_id)",
    "CREATE INDEX penalties_household_ix ON penalties (household_id)",
    # blacklist (失信)
    f"ALTER TABLE blacklist_entries ADD CONSTRAINT blacklist_village_ck CHECK (village_code ~ {DIVISION})",
    "ALTER TABLE blacklist_entries ADD CONSTRAINT blacklist_source_ck CHECK (source IN ('officer', 'loan-event', 'court', 'bank'))",
    "ALTER TABLE blacklist_entries ADD CONSTRAINT blacklist_reason_ck CHECK (length(btrim(reason)) > 0)",
    "ALTER TABLE blacklist_entries ADD CONSTRAINT blacklist_removal_ck CHECK ((removed_at IS NULL) = (removed_by IS NULL) AND (removed_at IS NULL) = (removal_reason IS NULL))",
    "CREATE UNIQUE INDEX blacklist_event_ux ON blacklist_entries (event_seq) WHERE event_seq IS NOT NULL",
    "CREATE INDEX blacklist_active_ix ON blacklist_entries (household_id) WHERE removed_at IS NULL",
    "CREATE INDEX blacklist_village_ix ON blacklist_entries (village_code, id)",
    # loan events applied once
    "ALTER TABLE applied_loan_events ADD CONSTRAINT applied_events_action_ck CHECK (action IN ('deduction', 'blacklist', 'none'))",
    # certificates (信用证): one valid certificate per household
    "ALTER TABLE certificates ADD CONSTRAINT certificates_status_ck CHECK (status IN ('valid', 'revoked'))",
    "ALTER TABLE certificates ADD CONSTRAINT certificates_line_ck CHECK (credit_line > 0)",
    "ALTER TABLE certificates ADD CONSTRAINT certificates_validity_ck CHECK (valid_until >= issued_on)",
    "ALTER TABLE certificates ADD CONSTRAINT certificates_revoked_ck CHECK ((status = 'revoked') = (revoked_at IS NOT NULL) AND (status = 'revoked') = (revoked_reason IS NOT NULL))",
    "CREATE UNIQUE INDEX certificates_one_valid_ux ON certificates (household_id) WHERE status = 'valid'",
    "CREATE INDEX certificates_village_ix ON certificates (village_code, id)",
]


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table('applied_loan_events',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('loan_id', sa.Text(), nullable=False),
    sa.Column('type', sa.Text(), nullable=False),
    sa.Column('household_id', sa.Text(), nullable=False),
    sa.Column('action', sa.Text(), nullable=False),
    sa.Column('points', sa.Integer(), server_default='0', nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    op.create_table('assessments',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('household_id', sa.Text(), nullable=False),
    sa.Column('village_code', sa.Text(), nullable=False),
    sa.Column('scorecard_id', sa.BigInteger(), nullable=False),
    sa.Column('scorecard_status', sa.Text(), server_default='published', nullable=False),
    sa.Column('assessed_on', sa.Date(), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('raw_score', sa.Integer(), nullable=False),
    sa.Column('base_points', sa.Integer(), nullable=False),
    sa.Column('bonus_points', sa.Integer(), nullable=False),
    sa.Column('deduction_points', sa.Integer(), nullable=False),
    sa.Column('grade', sa.Text(), nullable=True),
    sa.Column('credit_line', sa.Numeric(precision=20, scale=2), nullable=True),
    sa.Column('vetoed', sa.Boolean(), nullable=False),
    sa.Column('veto_reasons', sa.ARRAY(sa.Text()), nullable=False),
    sa.Column('indicator_values', sa.JSON(), nullable=False),
    sa.Column('category_points', sa.ARRAY(sa.Integer()), nullable=False),
    sa.Column('is_current', sa.Boolean(), nullable=False),
    sa.Column('supersedes_id', sa.BigInteger(), nullable=True),
    sa.Column('superseded_by_id', sa.BigInteger(), nullable=True),
    sa.Column('assessed_by', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('blacklist_entries',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('household_id', sa.Text(), nullable=False),
    sa.Column('village_code', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('loan_id', sa.Text(), nullable=True),
    sa.Column('event_seq', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('removed_by', sa.Text(), nullable=True),
    sa.Column('removal_reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('rating_households',
    sa.Column('household_id', sa.Text(), nullable=False),
    sa.Column('village_code', sa.Text(), nullable=False),
    sa.Column('registered', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('household_id')
    )
    op.create_table('scorecards',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('county_code', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), server_default='draft', nullable=False),
    sa.Column('definition', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('indicator_count', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('published_by', sa.Text(), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('certificates',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('number', sa.Text(), nullable=False),
    sa.Column('household_id', sa.Text(), nullable=False),
    sa.Column('village_code', sa.Text(), nullable=False),
    sa.Column('assessment_id', sa.BigInteger(), nullable=False),
    sa.Column('grade', sa.Text(), nullable=False),
    sa.Column('credit_line', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=False),
    sa.Column('issued_by', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default='valid', nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.Text(), nullable=True),
    sa.Column('revoked_reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['assessment_id'], ['assessments.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('number')
    )
    op.create_table('assessment_reviews',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('assessment_id', sa.BigInteger(), nullable=False),
    sa.Column('decision', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('reviewer', sa.Text(), nullable=False),
    sa.Column('reviewer_role', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['assessment_id'], ['assessments.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('penalties',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('household_id', sa.Text(), nullable=False),
    sa.Column('assessment_id', sa.BigInteger(), nullable=True),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('loan_id', sa.Text(), nullable=True),
    sa.Column('event_seq', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['assessment_id'], ['assessments.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    # ### end Alembic commands ###
    for statement in INVARIANTS:
        op.execute(statement)


def downgrade() -> None:
    for table in ("assessment_reviews", "penalties", "certificates", "assessments", "scorecards", "rating_households", "blacklist_entries", "applied_loan_events"):
        op.drop_table(table)
    op.execute("DROP FUNCTION IF EXISTS scorecards_frozen()")
    op.execute("DROP FUNCTION IF EXISTS assessments_immutable()")
