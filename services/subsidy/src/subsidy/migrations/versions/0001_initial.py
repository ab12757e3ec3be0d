"""initial

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 13:24:38.804738
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('households',
    sa.Column('household_id', sa.String(length=64, collation='C'), nullable=False),
    sa.Column('registered', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('household_id')
    )
    op.create_table('loan_accounts',
    sa.Column('loan_id', sa.String(length=64, collation='C'), nullable=False),
    sa.Column('borrower_type', sa.String(length=16), nullable=False),
    sa.Column('household_id', sa.String(length=64, collation='C'), nullable=True),
    sa.Column('enterprise_id', sa.String(length=18, collation='C'), nullable=True),
    sa.Column('registered_poor', sa.Boolean(), nullable=False),
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('township_code', sa.String(length=12), nullable=False),
    sa.Column('county_code', sa.String(length=12), nullable=False),
    sa.Column('bank_id', sa.String(length=32), nullable=False),
    sa.Column('principal', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('annual_rate', sa.Numeric(precision=9, scale=6), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('maturity_date', sa.Date(), nullable=False),
    sa.Column('industry', sa.Text(), nullable=True),
    sa.Column('purpose', sa.Text(), nullable=True),
    sa.Column('term_months', sa.Integer(), nullable=True),
    sa.Column('driven_households', sa.ARRAY(sa.String(length=64)), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_seq', sa.BigInteger(), nullable=False),
    sa.Column('outstanding_principal', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('overdue_principal', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('principal_repaid', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(borrower_type = 'household' AND household_id IS NOT NULL) OR (borrower_type = 'enterprise' AND enterprise_id IS NOT NULL)", name='borrower_identified'),
    sa.CheckConstraint("borrower_type IN ('household', 'enterprise')", name='borrower_type_known'),
    sa.CheckConstraint("county_code ~ '^[0-9]{12}$'", name='county_code_format'),
    sa.CheckConstraint("status IN ('active', 'overdue', 'defaulted', 'closed', 'written_off', 'diverted')", name='status_known'),
    sa.CheckConstraint("township_code ~ '^[0-9]{12}$'", name='township_code_format'),
    sa.CheckConstraint("village_code ~ '^[0-9]{12}$'", name='village_code_format'),
    sa.CheckConstraint('annual_rate >= 0 AND annual_rate <= 1', name='annual_rate_range'),
    sa.CheckConstraint('outstanding_principal >= 0', name='outstanding_non_negative'),
    sa.CheckConstraint('overdue_principal >= 0', name='overdue_non_negative'),
    sa.CheckConstraint('principal >= 0', name='principal_non_negative'),
    sa.CheckConstraint('principal_repaid >= 0', name='repaid_non_negative'),
    sa.PrimaryKeyConstraint('loan_id')
    )
    op.create_index('ix_loan_accounts_bank', 'loan_accounts', ['bank_id'], unique=False)
    op.create_index('ix_loan_accounts_household', 'loan_accounts', ['household_id'], unique=False)
    op.create_index('ix_loan_accounts_region', 'loan_accounts', ['county_code', 'township_code', 'loan_id'], unique=False)
    op.create_table('loan_events',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('loan_id', sa.String(length=64, collation='C'), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    op.create_index(op.f('ix_loan_events_loan_id'), 'loan_events', ['loan_id'], unique=False)
    op.create_table('subsidy_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('county_code', sa.String(length=12), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('rate_kind', sa.String(length=16), nullable=False),
    sa.Column('reference_name', sa.String(length=32), nullable=True),
    sa.Column('reference_rate', sa.Numeric(precision=9, scale=6), nullable=True),
    sa.Column('reference_ratio', sa.Numeric(precision=9, scale=6), nullable=True),
    sa.Column('rate', sa.Numeric(precision=9, scale=6), nullable=False),
    sa.Column('cap_rate_at_loan_rate', sa.Boolean(), nullable=False),
    sa.Column('day_basis', sa.SmallInteger(), nullable=False),
    sa.Column('principal_cap', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('driven_household_rate', sa.Numeric(precision=9, scale=6), nullable=False),
    sa.Column('late_interest_limit', sa.SmallInteger(), nullable=False),
    sa.Column('subsidy_term_months', sa.SmallInteger(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('total_fund', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('fund_committed', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('fund_paid', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("county_code ~ '^[0-9]{12}$'", name='county_code_format'),
    sa.CheckConstraint("rate_kind = 'fixed' OR (reference_name IS NOT NULL AND reference_rate IS NOT NULL AND reference_ratio IS NOT NULL)", name='reference_rate_complete'),
    sa.CheckConstraint("rate_kind IN ('fixed', 'reference')", name='rate_kind_known'),
    sa.CheckConstraint('day_basis IN (360, 365)', name='day_basis_known'),
    sa.CheckConstraint('driven_household_rate >= 0 AND driven_household_rate <= 1', name='driven_rate_range'),
    sa.CheckConstraint('fund_committed >= 0 AND fund_committed <= total_fund', name='fund_not_exceeded'),
    sa.CheckConstraint('fund_paid >= 0 AND fund_paid <= fund_committed', name='paid_within_committed'),
    sa.CheckConstraint('late_interest_limit >= 1', name='late_limit_positive'),
    sa.CheckConstraint('subsidy_term_months BETWEEN 1 AND 600', name='subsidy_term_range'),
    sa.CheckConstraint('period_end >= period_start', name='period_ordered'),
    sa.CheckConstraint('principal_cap >= 0', name='principal_cap_non_negative'),
    sa.CheckConstraint('rate >= 0 AND rate <= 1', name='rate_range'),
    sa.CheckConstraint('total_fund >= 0', name='total_fund_non_negative'),
    sa.CheckConstraint('year BETWEEN 2000 AND 2100', name='year_range'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('loan_payments',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('loan_id', sa.String(length=64, collation='C'), nullable=False),
    sa.Column('loan_year', sa.SmallInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('value_date', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('bank_reference', sa.Text(), nullable=True),
    sa.CheckConstraint("kind IN ('interest', 'principal')", name='kind_known'),
    sa.CheckConstraint('amount >= 0', name='amount_non_negative'),
    sa.ForeignKeyConstraint(['seq'], ['loan_events.seq'], ),
    sa.PrimaryKeyConstraint('seq')
    )
    op.create_index('ix_loan_payments_loan', 'loan_payments', ['loan_id', 'loan_year'], unique=False)
    op.create_table('loan_years',
    sa.Column('loan_id', sa.String(length=64, collation='C'), nullable=False),
    sa.Column('loan_year', sa.SmallInteger(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('opening_principal', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('interest_due', sa.Numeric(precision=20, scale=2), server_default='0', nullable=False),
    sa.Column('principal_due', sa.Numeric(precision=20, scale=2), server_default='0', nullable=False),
    sa.Column('interest_paid', sa.Numeric(precision=20, scale=2), server_default='0', nullable=False),
    sa.Column('principal_paid', sa.Numeric(precision=20, scale=2), server_default='0', nullable=False),
    sa.Column('late_interest_payments', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('principal_paid_late', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('last_interest_paid_on', sa.Date(), nullable=True),
    sa.Column('last_principal_paid_on', sa.Date(), nullable=True),
    sa.CheckConstraint('due_date >= start_date', name='year_ordered'),
    sa.CheckConstraint('interest_due >= 0 AND principal_due >= 0', name='due_non_negative'),
    sa.CheckConstraint('interest_paid >= 0 AND principal_paid >= 0', name='paid_non_negative'),
    sa.CheckConstraint('late_interest_payments >= 0', name='late_count_non_negative'),
    sa.CheckConstraint('loan_year >= 1', name='loan_year_positive'),
    sa.CheckConstraint('opening_principal >= 0', name='opening_non_negative'),
    sa.ForeignKeyConstraint(['loan_id'], ['loan_accounts.loan_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('loan_id', 'loan_year')
    )
    op.create_table('plan_allocations',
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('township_code', sa.String(length=12), nullable=False),
    sa.Column('loan_volume', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.CheckConstraint("township_code ~ '^[0-9]{12}$'", name='township_code_format'),
    sa.CheckConstraint('loan_volume >= 0', name='loan_volume_non_negative'),
    sa.ForeignKeyConstraint(['plan_id'], ['subsidy_plans.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('plan_id', 'township_code')
    )
    op.create_table('settlement_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('county_code', sa.String(length=12), nullable=False),
    sa.Column('township_code', sa.String(length=12), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('computed_total', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('granted_total', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('remaining_before', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('fund_rule', sa.String(length=16), nullable=False),
    sa.Column('eligible_count', sa.Integer(), nullable=False),
    sa.Column('excluded_count', sa.Integer(), nullable=False),
    sa.Column('reduced_count', sa.Integer(), nullable=False),
    sa.Column('recipient_count', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('approved_by', sa.Text(), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paid_by', sa.Text(), nullable=True),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.Column('reconciled_by', sa.Text(), nullable=True),
    sa.Column('reconciled_on', sa.Date(), nullable=True),
    sa.Column('statement_reference', sa.Text(), nullable=True),
    sa.Column('cancelled_by', sa.Text(), nullable=True),
    sa.CheckConstraint("fund_rule IN ('full', 'pro_rata')", name='fund_rule_known'),
    sa.CheckConstraint("status IN ('draft', 'approved', 'paid', 'reconciled', 'cancelled')", name='status_known'),
    sa.CheckConstraint("township_code ~ '^[0-9]{12}$'", name='township_code_format'),
    sa.CheckConstraint('computed_total >= 0 AND granted_total >= 0 AND granted_total <= computed_total', name='totals_consistent'),
    sa.CheckConstraint('period_end >= period_start', name='period_ordered'),
    sa.ForeignKeyConstraint(['plan_id'], ['subsidy_plans.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_settlement_batches_plan', 'settlement_batches', ['plan_id', 'township_code'], unique=False)
    op.create_table('fund_journals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('memo', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['settlement_batches.id'], ),
    sa.ForeignKeyConstraint(['plan_id'], ['subsidy_plans.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('settlement_lines',
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.String(length=64, collation='C'), nullable=False),
    sa.Column('loan_year', sa.SmallInteger(), nullable=False),
    sa.Column('recipient_type', sa.String(length=16), nullable=False),
    sa.Column('recipient_id', sa.String(length=64, collation='C'), nullable=False),
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('bank_id', sa.String(length=32), nullable=False),
    sa.Column('year_start', sa.Date(), nullable=False),
    sa.Column('year_end', sa.Date(), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('subsidised_principal', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('rate', sa.Numeric(precision=9, scale=6), nullable=False),
    sa.Column('driven_count', sa.Integer(), nullable=False),
    sa.Column('driven_principal', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('computed_amount', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('granted_amount', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('eligible', sa.Boolean(), nullable=False),
    sa.Column('claimed', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.CheckConstraint('NOT claimed OR eligible', name='only_eligible_claim'),
    sa.CheckConstraint('computed_amount >= 0 AND granted_amount >= 0 AND granted_amount <= computed_amount', name='amounts_consistent'),
    sa.CheckConstraint('days >= 0', name='days_non_negative'),
    sa.CheckConstraint('eligible OR granted_amount = 0', name='excluded_get_nothing'),
    sa.PrimaryKeyConstraint('batch_id', 'loan_id', 'loan_year')
    )
    op.create_index('ix_settlement_lines_recipient', 'settlement_lines', ['batch_id', 'recipient_id'], unique=False)
    op.create_index('ux_settlement_lines_paid_once', 'settlement_lines', ['loan_id', 'loan_year'], unique=True, postgresql_where=sa.text('claimed'))
    op.create_table('settlement_recipients',
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('recipient_id', sa.String(length=64, collation='C'), nullable=False),
    sa.Column('recipient_type', sa.String(length=16), nullable=False),
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('loan_years', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('payment_reference', sa.Text(), nullable=True),
    sa.CheckConstraint('amount > 0', name='amount_positive'),
    sa.PrimaryKeyConstraint('batch_id', 'recipient_id')
    )
    op.create_index('ux_settlement_recipients_reference', 'settlement_recipients', ['batch_id', 'payment_reference'], unique=True, postgresql_where=sa.text('payment_reference IS NOT NULL'))
    op.create_table('fund_postings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('journal_id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('account', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.CheckConstraint("account IN ('finance', 'available', 'reserved', 'paid')", name='account_known'),
    sa.CheckConstraint('amount <> 0', name='amount_non_zero'),
    sa.ForeignKeyConstraint(['journal_id'], ['fund_journals.id'], ),
    sa.ForeignKeyConstraint(['plan_id'], ['subsidy_plans.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_fund_postings_journal_id'), 'fund_postings', ['journal_id'], unique=False)
    op.create_index('ix_fund_postings_plan_account', 'fund_postings', ['plan_id', 'account'], unique=False)

    # Hand-written invariants (not generated).
    # One plan per county and year, and a county's plans never overlap in their subsidy period
    # (贴息期限), so a loan-year is governed by exactly one plan.
    op.create_unique_constraint("uq_subsidy_plans_county_year", "subsidy_plans", ["county_code", "year"])
    # A trigger rather than an EXCLUDE constraint: that would need the btree_gist extension, which
    # not every PostgreSQL (the embedded development server among them) ships. The advisory lock
    # serialises concurrent inserts for one county, so two overlapping plans cannot both pass.
    op.execute("""
        CREATE FUNCTION subsidy_plans_no_overlap() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtext('subsidy_plans:' || NEW.county_code));
            IF EXISTS (
                SELECT 1 FROM subsidy_plans p
                WHERE p.county_code = NEW.county_code AND p.id <> NEW.id AND p.year <> NEW.year  -- same year: the unique key says so
                  AND daterange(p.period_start, p.period_end, '[]') && daterange(NEW.period_start, NEW.period_end, '[]')
            ) THEN
                RAISE EXCEPTION 'county % already has a plan overlapping % to %', NEW.county_code, NEW.period_start, NEW.period_end
                    USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'plans_do_not_overlap';
            END IF;
            RETURN NEW;
        END $$
    """)
    op.execute(
        "CREATE TRIGGER subsidy_plans_no_overlap BEFORE INSERT OR UPDATE OF county_code, period_start, period_end "
        "ON subsidy_plans FOR EACH ROW EXECUTE FUNCTION subsidy_plans_no_overlap()"
    )
    # Batch state machine (draft → approved → paid → reconciled; draft → cancelled), enforced by
    # the database as well as by the service.
    op.execute("""
        CREATE FUNCTION settlement_batch_transition() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.status = OLD.status THEN
                RETURN NEW;
            END IF;
            IF (OLD.status, NEW.status) NOT IN (
                ('draft', 'approved'), ('approved', 'paid'), ('paid', 'reconciled'), ('draft', 'cancelled')
            ) THEN
                RAISE EXCEPTION 'settlement batch % cannot go from % to %', OLD.id, OLD.status, NEW.status
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NEW;
        END $$
    """)
    op.execute(
        "CREATE TRIGGER settlement_batch_transition BEFORE UPDATE OF status ON settlement_batches "
        "FOR EACH ROW EXECUTE FUNCTION settlement_batch_transition()"
    )
    # 复式记账: every journal's postings sum to zero, checked at commit.
    op.execute("""
        CREATE FUNCTION fund_journal_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            total numeric;
        BEGIN
            SELECT coalesce(sum(amount), 0) INTO total FROM fund_postings WHERE journal_id = NEW.journal_id;
            IF total <> 0 THEN
                RAISE EXCEPTION 'fund journal % is unbalanced by %', NEW.journal_id, total USING ERRCODE = 'check_violation';
            END IF;
            RETURN NULL;
        END $$
    """)
    op.execute(
        "CREATE CONSTRAINT TRIGGER fund_journal_balanced AFTER INSERT OR UPDATE ON fund_postings "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fund_journal_balanced()"
    )
    # Recorded events and payments are append-only.
    op.execute("""
        CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'check_violation';
        END $$
    """)
    # settlement_lines and settlement_recipients carry no foreign key to their batch: a million-line INSERT … SELECT would pay
    # one key lookup per row. They are only written by the settlement that created the batch in
    # the same statement's transaction, and batches are never deleted, so no row can be orphaned.
    op.execute("CREATE TRIGGER settlement_batches_kept BEFORE DELETE ON settlement_batches FOR EACH ROW EXECUTE FUNCTION refuse_change()")
    for table in ("loan_events", "loan_payments", "fund_postings", "fund_journals"):
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_change()")



def downgrade() -> None:
    for table in ("loan_events", "loan_payments", "fund_postings", "fund_journals"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.execute("DROP TRIGGER IF EXISTS fund_journal_balanced ON fund_postings")
    op.execute("DROP TRIGGER IF EXISTS settlement_batches_kept ON settlement_batches")
    op.execute("DROP TRIGGER IF EXISTS settlement_batch_transition ON settlement_batches")
    op.execute("DROP FUNCTION IF EXISTS refuse_change, fund_journal_balanced, settlement_batch_transition")
    op.drop_index('ix_fund_postings_plan_account', table_name='fund_postings')
    op.drop_index(op.f('ix_fund_postings_journal_id'), table_name='fund_postings')
    op.drop_table('fund_postings')
    op.drop_index('ux_settlement_recipients_reference', table_name='settlement_recipients')
    op.drop_table('settlement_recipients')
    op.drop_index('ux_settlement_lines_paid_once', table_name='settlement_lines', postgresql_where=sa.text('claimed'))
    op.drop_index('ix_settlement_lines_recipient', table_name='settlement_lines')
    op.drop_table('settlement_lines')
    op.drop_table('fund_journals')
    op.drop_index('ix_settlement_batches_plan', table_name='settlement_batches')
    op.drop_table('settlement_batches')
    op.drop_table('plan_allocations')
    op.drop_table('loan_years')
    op.drop_index('ix_loan_payments_loan', table_name='loan_payments')
    op.drop_table('loan_payments')
    op.drop_table('subsidy_plans')
    op.drop_index(op.f('ix_loan_events_loan_id'), table_name='loan_events')
    op.drop_table('loan_events')
    op.drop_index('ix_loan_accounts_region', table_name='loan_accounts')
    op.drop_index('ix_loan_accounts_household', table_name='loan_accounts')
    op.drop_index('ix_loan_accounts_bank', table_name='loan_accounts')
    op.drop_table('loan_accounts')
    op.drop_table('households')
