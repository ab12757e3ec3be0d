"""Subsidy service tables.

Invariants that money depends on live here as CHECK constraints and unique indexes; the triggers
that complete them (batch state machine, balanced journals, non-overlapping plans) are in the
migration.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

MONEY = Numeric(20, 2)
RATE = Numeric(9, 6)
DIVISION_CHECK = "~ '^[0-9]{12}$'"
# Identifier columns (loan_id, household_id, recipient_id, enterprise_id) use COLLATE "C": byte-wise
# comparison is cheaper in the million-row indexes of a settlement, and it is Python's order, so
# cursors and the pro-rata tie-break agree with the domain functions.


def _created_at() -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))


class SubsidyPlan(SQLModel, table=True):
    """A county's yearly interest-subsidy plan (贴息计划), set by the county poverty office."""

    __tablename__ = "subsidy_plans"
    __table_args__ = (
        CheckConstraint(f"county_code {DIVISION_CHECK}", name="county_code_format"),
        CheckConstraint("year BETWEEN 2000 AND 2100", name="year_range"),
        CheckConstraint("rate_kind IN ('fixed', 'reference')", name="rate_kind_known"),
        CheckConstraint("rate >= 0 AND rate <= 1", name="rate_range"),
        CheckConstraint(
            "rate_kind = 'fixed' OR (reference_name IS NOT NULL AND reference_rate IS NOT NULL AND reference_ratio IS NOT NULL)",
            name="reference_rate_complete",
        ),
        CheckConstraint("day_basis IN (360, 365)", name="day_basis_known"),
        CheckConstraint("principal_cap >= 0", name="principal_cap_non_negative"),
        CheckConstraint("driven_household_rate >= 0 AND driven_household_rate <= 1", name="driven_rate_range"),
        CheckConstraint("late_interest_limit >= 1", name="late_limit_positive"),
        CheckConstraint("subsidy_term_months BETWEEN 1 AND 600", name="subsidy_term_range"),
        CheckConstraint("period_end >= period_start", name="period_ordered"),
        CheckConstraint("total_fund >= 0", name="total_fund_non_negative"),
        # 贴息资金总额: what is reserved for batches and paid out never exceeds the plan's fund.
        CheckConstraint("fund_committed >= 0 AND fund_committed <= total_fund", name="fund_not_exceeded"),
        CheckConstraint("fund_paid >= 0 AND fund_paid <= fund_committed", name="paid_within_committed"),
    )

    id: int | None = Field(default=None, primary_key=True)
    county_code: str = Field(sa_type=String(12), nullable=False)
    year: int = Field(sa_type=Integer, nullable=False)
    name: str = Field(default="", sa_type=Text, nullable=False)
    rate_kind: str = Field(sa_type=String(16), nullable=False)
    reference_name: str | None = Field(default=None, sa_type=String(32), nullable=True)
    reference_rate: Decimal | None = Field(default=None, sa_type=RATE, nullable=True)
    reference_ratio: Decimal | None = Field(default=None, sa_type=RATE, nullable=True)
    rate: Decimal = Field(sa_type=RATE, nullable=False)
    cap_rate_at_loan_rate: bool = Field(default=True, sa_type=Boolean, nullable=False)
    day_basis: int = Field(sa_type=SmallInteger, nullable=False)
    principal_cap: Decimal = Field(sa_type=MONEY, nullable=False)
    driven_household_rate: Decimal = Field(sa_type=RATE, nullable=False)
    late_interest_limit: int = Field(default=2, sa_type=SmallInteger, nullable=False)
    subsidy_term_months: int = Field(default=36, sa_type=SmallInteger, nullable=False)
    period_start: date = Field(sa_type=Date, nullable=False)
    period_end: date = Field(sa_type=Date, nullable=False)
    total_fund: Decimal = Field(sa_type=MONEY, nullable=False)
    fund_committed: Decimal = Field(default=Decimal("0.00"), sa_type=MONEY, nullable=False)
    fund_paid: Decimal = Field(default=Decimal("0.00"), sa_type=MONEY, nullable=False)
    created_by: str = Field(sa_type=Text, nullable=False)
    created_at: datetime | None = _created_at()


class PlanAllocation(SQLModel, table=True):
    """计划分配: the loan volume the county allots to a township under a plan."""

    __tablename__ = "plan_allocations"
    __table_args__ = (
        CheckConstraint(f"township_code {DIVISION_CHECK}", name="township_code_format"),
        CheckConstraint("loan_volume >= 0", name="loan_volume_non_negative"),
    )

    plan_id: int = Field(sa_column=Column(Integer, ForeignKey("subsidy_plans.id", ondelete="CASCADE"), primary_key=True))
    township_code: str = Field(sa_column=Column(String(12), primary_key=True))
    loan_volume: Decimal = Field(sa_type=MONEY, nullable=False)


class Household(SQLModel, table=True):
    """Registry status of a household as the poverty office reports it (建档立卡, not removed)."""

    __tablename__ = "households"

    household_id: str = Field(sa_column=Column(String(64, collation="C"), primary_key=True))
    registered: bool = Field(sa_type=Boolean, nullable=False)
    updated_at: datetime | None = _created_at()


class LoanAccount(SQLModel, table=True):
    """Per-loan subsidy account, maintained from loan events."""

    __tablename__ = "loan_accounts"
    __table_args__ = (
        CheckConstraint("borrower_type IN ('household', 'enterprise')", name="borrower_type_known"),
        CheckConstraint(
            "(borrower_type = 'household' AND household_id IS NOT NULL) OR (borrower_type = 'enterprise' AND enterprise_id IS NOT NULL)",
            name="borrower_identified",
        ),
        CheckConstraint(
            "status IN ('active', 'overdue', 'defaulted', 'closed', 'written_off', 'diverted')", name="status_known"
        ),
        CheckConstraint(f"village_code {DIVISION_CHECK}", name="village_code_format"),
        CheckConstraint(f"township_code {DIVISION_CHECK}", name="township_code_format"),
        CheckConstraint(f"county_code {DIVISION_CHECK}", name="county_code_format"),
        CheckConstraint("principal >= 0", name="principal_non_negative"),
        CheckConstraint("annual_rate >= 0 AND annual_rate <= 1", name="annual_rate_range"),
        CheckConstraint("outstanding_principal >= 0", name="outstanding_non_negative"),
        CheckConstraint("overdue_principal >= 0", name="overdue_non_negative"),
        CheckConstraint("principal_repaid >= 0", name="repaid_non_negative"),
        Index("ix_loan_accounts_region", "county_code", "township_code", "loan_id"),
        Index("ix_loan_accounts_household", "household_id"),
        Index("ix_loan_accounts_bank", "bank_id"),
    )

    loan_id: str = Field(sa_column=Column(String(64, collation="C"), primary_key=True))
    borrower_type: str = Field(sa_type=String(16), nullable=False)
    household_id: str | None = Field(default=None, sa_type=String(64, collation="C"), nullable=True)
    enterprise_id: str | None = Field(default=None, sa_type=String(18, collation="C"), nullable=True)
    registered_poor: bool = Field(sa_type=Boolean, nullable=False)
    village_code: str = Field(sa_type=String(12), nullable=False)
    township_code: str = Field(sa_type=String(12), nullable=False)
    county_code: str = Field(sa_type=String(12), nullable=False)
    bank_id: str = Field(sa_type=String(32), nullable=False)
    principal: Decimal = Field(sa_type=MONEY, nullable=False)
    annual_rate: Decimal = Field(sa_type=RATE, nullable=False)
    start_date: date = Field(sa_type=Date, nullable=False)
    maturity_date: date = Field(sa_type=Date, nullable=False)
    industry: str | None = Field(default=None, sa_type=Text, nullable=True)
    purpose: str | None = Field(default=None, sa_type=Text, nullable=True)
    term_months: int | None = Field(default=None, sa_type=Integer, nullable=True)
    driven_households: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(String(64)), nullable=False, server_default=text("'{}'"))
    )
    status: str = Field(default="active", sa_type=String(16), nullable=False)
    status_seq: int = Field(default=0, sa_type=BigInteger, nullable=False)
    outstanding_principal: Decimal = Field(default=Decimal("0.00"), sa_type=MONEY, nullable=False)
    overdue_principal: Decimal = Field(default=Decimal("0.00"), sa_type=MONEY, nullable=False)
    principal_repaid: Decimal = Field(default=Decimal("0.00"), sa_type=MONEY, nullable=False)
    closed_on: date | None = Field(default=None, sa_type=Date, nullable=True)
    last_seq: int = Field(default=0, sa_type=BigInteger, nullable=False)
    updated_at: datetime | None = _created_at()


class LoanYear(SQLModel, table=True):
    """One loan year (贷款年度) of a loan's schedule, with what was due and what was paid when."""

    __tablename__ = "loan_years"
    __table_args__ = (
        CheckConstraint("loan_year >= 1", name="loan_year_positive"),
        CheckConstraint("due_date >= start_date", name="year_ordered"),
        CheckConstraint("opening_principal >= 0", name="opening_non_negative"),
        CheckConstraint("interest_due >= 0 AND principal_due >= 0", name="due_non_negative"),
        CheckConstraint("interest_paid >= 0 AND principal_paid >= 0", name="paid_non_negative"),
        CheckConstraint("late_interest_payments >= 0", name="late_count_non_negative"),
    )

    loan_id: str = Field(sa_column=Column(String(64, collation="C"), ForeignKey("loan_accounts.loan_id", ondelete="CASCADE"), primary_key=True))
    loan_year: int = Field(sa_column=Column(SmallInteger, primary_key=True))
    start_date: date = Field(sa_type=Date, nullable=False)
    due_date: date = Field(sa_type=Date, nullable=False)
    opening_principal: Decimal = Field(sa_type=MONEY, nullable=False)
    interest_due: Decimal = Field(default=Decimal("0.00"), sa_type=MONEY, nullable=False, sa_column_kwargs={"server_default": "0"})
    principal_due: Decimal = Field(default=Decimal("0.00"), sa_type=MONEY, nullable=False, sa_column_kwargs={"server_default": "0"})
    interest_paid: Decimal = Field(default=Decimal("0.00"), sa_type=MONEY, nullable=False, sa_column_kwargs={"server_default": "0"})
    principal_paid: Decimal = Field(default=Decimal("0.00"), sa_type=MONEY, nullable=False, sa_column_kwargs={"server_default": "0"})
    late_interest_payments: int = Field(default=0, sa_type=SmallInteger, nullable=False, sa_column_kwargs={"server_default": "0"})
    principal_paid_late: bool = Field(default=False, sa_type=Boolean, nullable=False, sa_column_kwargs={"server_default": "false"})
    last_interest_paid_on: date | None = Field(default=None, sa_type=Date, nullable=True)
    last_principal_paid_on: date | None = Field(default=None, sa_type=Date, nullable=True)


class LoanEvent(SQLModel, table=True):
    """Every loan event applied, once by ``seq``: the consumer's record of what it has seen."""

    __tablename__ = "loan_events"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    loan_id: str = Field(sa_type=String(64, collation="C"), nullable=False, index=True)
    type: str = Field(sa_type=String(32), nullable=False)
    business_date: date = Field(sa_type=Date, nullable=False)
    data: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    applied_at: datetime | None = _created_at()


class LoanPayment(SQLModel, table=True):
    """A repayment (interest or principal) with its due and value dates, from the bank's record."""

    __tablename__ = "loan_payments"
    __table_args__ = (
        CheckConstraint("kind IN ('interest', 'principal')", name="kind_known"),
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        Index("ix_loan_payments_loan", "loan_id", "loan_year"),
    )

    seq: int = Field(sa_column=Column(BigInteger, ForeignKey("loan_events.seq"), primary_key=True, autoincrement=False))
    loan_id: str = Field(sa_type=String(64, collation="C"), nullable=False)
    loan_year: int = Field(sa_type=SmallInteger, nullable=False)
    kind: str = Field(sa_type=String(16), nullable=False)
    amount: Decimal = Field(sa_type=MONEY, nullable=False)
    value_date: date = Field(sa_type=Date, nullable=False)
    due_date: date = Field(sa_type=Date, nullable=False)
    late: bool = Field(sa_type=Boolean, nullable=False)
    bank_reference: str | None = Field(default=None, sa_type=Text, nullable=True)


class SettlementBatch(SQLModel, table=True):
    """结算批次: one township's subsidy for a plan and period; draft → approved → paid → reconciled."""

    __tablename__ = "settlement_batches"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'approved', 'paid', 'reconciled', 'cancelled')", name="status_known"),
        CheckConstraint(f"township_code {DIVISION_CHECK}", name="township_code_format"),
        CheckConstraint("period_end >= period_start", name="period_ordered"),
        CheckConstraint("computed_total >= 0 AND granted_total >= 0 AND granted_total <= computed_total", name="totals_consistent"),
        CheckConstraint("fund_rule IN ('full', 'pro_rata')", name="fund_rule_known"),
        Index("ix_settlement_batches_plan", "plan_id", "township_code"),
    )

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(sa_column=Column(Integer, ForeignKey("subsidy_plans.id"), nullable=False))
    county_code: str = Field(sa_type=String(12), nullable=False)
    township_code: str = Field(sa_type=String(12), nullable=False)
    period_start: date = Field(sa_type=Date, nullable=False)
    period_end: date = Field(sa_type=Date, nullable=False)
    business_date: date = Field(sa_type=Date, nullable=False)
    status: str = Field(default="draft", sa_type=String(16), nullable=False)
    computed_total: Decimal = Field(default=Decimal("0.00"), sa_type=MONEY, nullable=False)
    granted_total: Decimal = Field(default=Decimal("0.00"), sa_type=MONEY, nullable=False)
    remaining_before: Decimal = Field(default=Decimal("0.00"), sa_type=MONEY, nullable=False)
    fund_rule: str = Field(default="full", sa_type=String(16), nullable=False)
    eligible_count: int = Field(default=0, sa_type=Integer, nullable=False)
    excluded_count: int = Field(default=0, sa_type=Integer, nullable=False)
    reduced_count: int = Field(default=0, sa_type=Integer, nullable=False)
    recipient_count: int = Field(default=0, sa_type=Integer, nullable=False)
    created_by: str = Field(sa_type=Text, nullable=False)
    created_at: datetime | None = _created_at()
    approved_by: str | None = Field(default=None, sa_type=Text, nullable=True)
    approved_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True), nullable=True)
    paid_by: str | None = Field(default=None, sa_type=Text, nullable=True)
    paid_on: date | None = Field(default=None, sa_type=Date, nullable=True)
    reconciled_by: str | None = Field(default=None, sa_type=Text, nullable=True)
    reconciled_on: date | None = Field(default=None, sa_type=Date, nullable=True)
    statement_reference: str | None = Field(default=None, sa_type=Text, nullable=True)
    cancelled_by: str | None = Field(default=None, sa_type=Text, nullable=True)
    # The transactions that created and paid the batch (pg_current_xact_id): exports pin what they
    # list to the snapshot of their first page by these.
    created_txid: int | None = Field(
        default=None,
        sa_column=Column(BigInteger, nullable=False, server_default=text("(CAST(CAST(pg_current_xact_id() AS text) AS bigint))")),
    )
    paid_txid: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class SettlementLine(SQLModel, table=True):
    """One loan-year in a batch: what it earns, whether it is eligible, what it is granted and why."""

    __tablename__ = "settlement_lines"
    __table_args__ = (
        CheckConstraint("computed_amount >= 0 AND granted_amount >= 0 AND granted_amount <= computed_amount", name="amounts_consistent"),
        CheckConstraint("days >= 0", name="days_non_negative"),
        CheckConstraint("eligible OR granted_amount = 0", name="excluded_get_nothing"),
        CheckConstraint("NOT claimed OR eligible", name="only_eligible_claim"),
        # 一个贷款年度只贴息一次: a loan-year is claimed by at most one live batch.
        Index("ux_settlement_lines_paid_once", "loan_id", "loan_year", unique=True, postgresql_where=text("claimed")),
        Index("ix_settlement_lines_recipient", "batch_id", "recipient_id"),
    )

    # No foreign key on purpose (bulk insert path); batches are never deleted (trigger in the migration).
    batch_id: int = Field(sa_column=Column(Integer, primary_key=True))
    loan_id: str = Field(sa_column=Column(String(64, collation="C"), primary_key=True))
    loan_year: int = Field(sa_column=Column(SmallInteger, primary_key=True))
    recipient_type: str = Field(sa_type=String(16), nullable=False)
    recipient_id: str = Field(sa_type=String(64, collation="C"), nullable=False)
    village_code: str = Field(sa_type=String(12), nullable=False)
    bank_id: str = Field(sa_type=String(32), nullable=False)
    year_start: date = Field(sa_type=Date, nullable=False)
    year_end: date = Field(sa_type=Date, nullable=False)
    days: int = Field(sa_type=Integer, nullable=False)
    subsidised_principal: Decimal = Field(sa_type=MONEY, nullable=False)
    rate: Decimal = Field(sa_type=RATE, nullable=False)
    driven_count: int = Field(default=0, sa_type=Integer, nullable=False)
    driven_principal: Decimal = Field(default=Decimal("0.00"), sa_type=MONEY, nullable=False)
    computed_amount: Decimal = Field(sa_type=MONEY, nullable=False)
    granted_amount: Decimal = Field(sa_type=MONEY, nullable=False)
    eligible: bool = Field(sa_type=Boolean, nullable=False)
    claimed: bool = Field(sa_type=Boolean, nullable=False)
    reason: str | None = Field(default=None, sa_type=Text, nullable=True)


class SettlementRecipient(SQLModel, table=True):
    """One payee of a batch (household or enterprise): its total, notice and payment reference."""

    __tablename__ = "settlement_recipients"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ux_settlement_recipients_reference", "batch_id", "payment_reference", unique=True,
              postgresql_where=text("payment_reference IS NOT NULL")),
    )

    batch_id: int = Field(sa_column=Column(Integer, primary_key=True))  # no foreign key: see SettlementLine
    recipient_id: str = Field(sa_column=Column(String(64, collation="C"), primary_key=True))
    recipient_type: str = Field(sa_type=String(16), nullable=False)
    village_code: str = Field(sa_type=String(12), nullable=False)
    loan_years: int = Field(sa_type=Integer, nullable=False)
    amount: Decimal = Field(sa_type=MONEY, nullable=False)
    payment_reference: str | None = Field(default=None, sa_type=Text, nullable=True)


class FundJournal(SQLModel, table=True):
    """A balanced movement of subsidy money (复式记账): its postings sum to zero."""

    __tablename__ = "fund_journals"

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(sa_column=Column(Integer, ForeignKey("subsidy_plans.id"), nullable=False))
    batch_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("settlement_batches.id"), nullable=True))
    kind: str = Field(sa_type=String(32), nullable=False)
    memo: str = Field(default="", sa_type=Text, nullable=False)
    created_at: datetime | None = _created_at()


class FundPosting(SQLModel, table=True):
    """One leg of a journal on one account of a plan (finance, available, reserved, paid)."""

    __tablename__ = "fund_postings"
    __table_args__ = (
        CheckConstraint("account IN ('finance', 'available', 'reserved', 'paid')", name="account_known"),
        CheckConstraint("amount <> 0", name="amount_non_zero"),
        Index("ix_fund_postings_plan_account", "plan_id", "account"),
    )

    id: int | None = Field(default=None, primary_key=True)
    journal_id: int = Field(sa_column=Column(Integer, ForeignKey("fund_journals.id"), nullable=False, index=True))
    plan_id: int = Field(sa_column=Column(Integer, ForeignKey("subsidy_plans.id"), nullable=False))
    account: str = Field(sa_type=String(16), nullable=False)
    amount: Decimal = Field(sa_type=MONEY, nullable=False)
