"""Risk-pool service tables.

Money columns are NUMERIC(20,2), rates and shares NUMERIC(9,6). Invariants that must hold even
if a bug slips through live in the database too: non-negative fund balances (CHECK), balanced
journal entries and shares summing to 100% (deferred constraint triggers in the migration), one
claim per loan (unique), fund balances kept equal to their journal lines (statement trigger).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
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
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlmodel import Field, SQLModel

# kit's tables this service uses, registered on the same metadata (migration 0002 creates them)
from kit.consumer import ConsumerCursor  # noqa: F401
from kit.outbox import OutboxMessage  # noqa: F401

# the id of the writing transaction (epoch-extended, so it only grows)
TXID = text("CAST(CAST(pg_current_xact_id() AS text) AS bigint)")


def _money(*, nullable: bool = False, default: str | None = None) -> Column:  # type: ignore[type-arg]
    return Column(Numeric(20, 2), nullable=nullable, server_default=default)


def _rate(*, nullable: bool = False, default: str | None = None) -> Column:  # type: ignore[type-arg]
    return Column(Numeric(9, 6), nullable=nullable, server_default=default)


def _created() -> Column:  # type: ignore[type-arg]
    return Column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Fund(SQLModel, table=True):
    """A government risk-compensation fund (风险补偿金): one city fund, one per county."""

    __tablename__ = "funds"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="fund_balance_never_negative"),
        CheckConstraint("level IN ('city', 'county')", name="fund_level_known"),
        CheckConstraint("level = 'city' OR county_code IS NOT NULL", name="county_fund_has_county"),
        UniqueConstraint("county_code", name="one_fund_per_county"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    code: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    level: str = Field(sa_column=Column(String(16), nullable=False))
    region_code: str = Field(sa_column=Column(String(12), nullable=False))
    county_code: str | None = Field(default=None, sa_column=Column(String(12), nullable=True))
    balance: Decimal = Field(default=Decimal("0.00"), sa_column=_money(default="0"))
    created_by: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=_created())


class JournalEntry(SQLModel, table=True):
    """One balanced double-entry posting (复式记账): its lines sum to zero."""

    __tablename__ = "journal_entries"
    __table_args__ = (
        CheckConstraint("kind IN ('deposit', 'withdrawal', 'top_up', 'claim_payout', 'recovery')", name="journal_kind_known"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    entry_date: date = Field(sa_column=Column(Date, nullable=False))
    memo: str = Field(default="", sa_column=Column(String(500), nullable=False, server_default=""))
    reference: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    claim_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True, index=True))
    created_by: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=_created())


class JournalLine(SQLModel, table=True):
    """A leg of an entry: positive = debit, negative = credit. Lines on ``fund:<code>`` accounts
    carry ``fund_id`` and move that fund's balance (a database trigger keeps them equal)."""

    __tablename__ = "journal_lines"
    __table_args__ = (CheckConstraint("amount <> 0", name="journal_line_not_zero"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    entry_id: int = Field(sa_column=Column(BigInteger, ForeignKey("journal_entries.id"), nullable=False, index=True))
    account: str = Field(sa_column=Column(String(100), nullable=False))
    fund_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("funds.id"), nullable=True, index=True))
    amount: Decimal = Field(sa_column=_money())


class SharingScheme(SQLModel, table=True):
    """Loss sharing (风险分担) for one county and borrower type, effective from a date until the
    next scheme of the same county and borrower type."""

    __tablename__ = "sharing_schemes"
    __table_args__ = (
        UniqueConstraint("county_code", "borrower_type", "effective_from", name="one_scheme_per_start"),
        CheckConstraint("borrower_type IN ('household', 'enterprise')", name="scheme_borrower_type_known"),
        CheckConstraint("leverage > 0", name="scheme_leverage_positive"),
        CheckConstraint("claim_trigger_days >= 0", name="scheme_trigger_not_negative"),
        CheckConstraint("covered_principal_cap IS NULL OR covered_principal_cap > 0", name="scheme_cap_positive"),
        CheckConstraint("guarantee_fee_rate >= 0 AND guarantee_fee_rate <= 1", name="scheme_fee_rate_range"),
        CheckConstraint("fee_day_basis IN (360, 365)", name="scheme_fee_day_basis_known"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    county_code: str = Field(sa_column=Column(String(12), nullable=False))
    borrower_type: str = Field(sa_column=Column(String(16), nullable=False))
    effective_from: date = Field(sa_column=Column(Date, nullable=False))
    covered_principal_cap: Decimal | None = Field(default=None, sa_column=_money(nullable=True))
    leverage: Decimal = Field(sa_column=Column(Numeric(9, 2), nullable=False))
    claim_trigger_days: int = Field(sa_column=Column(Integer, nullable=False))
    guarantee_fee_rate: Decimal = Field(sa_column=_rate())
    fee_day_basis: int = Field(sa_column=Column(Integer, nullable=False))
    created_by: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=_created())


class SchemeShare(SQLModel, table=True):
    __tablename__ = "scheme_shares"
    __table_args__ = (
        CheckConstraint("share > 0 AND share <= 1", name="share_range"),
        CheckConstraint("party IN ('government', 'bank', 'insurer', 'guarantor', 'reguarantor')", name="share_party_known"),
        CheckConstraint("party IN ('government', 'bank') OR party_account IS NOT NULL", name="share_outside_party_has_account"),
    )

    scheme_id: int = Field(sa_column=Column(Integer, ForeignKey("sharing_schemes.id"), primary_key=True))
    party: str = Field(sa_column=Column(String(16), primary_key=True))
    share: Decimal = Field(sa_column=_rate())
    party_account: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    position: int = Field(sa_column=Column(Integer, nullable=False))


class Exposure(SQLModel, table=True):
    """One loan as this service sees it, kept from loan events."""

    __tablename__ = "exposures"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'overdue', 'defaulted', 'closed', 'written_off')", name="exposure_status_known"),
        CheckConstraint("outstanding_principal >= 0 AND covered_principal >= 0", name="exposure_amounts_not_negative"),
        Index("exposures_village", "village_code"),
        Index("exposures_county", "county_code"),
        Index("exposures_bank", "bank_id"),
    )

    loan_id: str = Field(sa_column=Column(String(64), primary_key=True))
    borrower_type: str = Field(sa_column=Column(String(16), nullable=False))
    household_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    enterprise_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    registered_poor: bool = Field(sa_column=Column(Boolean, nullable=False))
    village_code: str = Field(sa_column=Column(String(12), nullable=False))
    township_code: str = Field(sa_column=Column(String(12), nullable=False))
    county_code: str = Field(sa_column=Column(String(12), nullable=False))
    bank_id: str = Field(sa_column=Column(String(32), nullable=False))
    principal: Decimal = Field(sa_column=_money())
    annual_rate: Decimal = Field(sa_column=_rate())
    start_date: date = Field(sa_column=Column(Date, nullable=False))
    maturity_date: date = Field(sa_column=Column(Date, nullable=False))
    driven_households: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    outstanding_principal: Decimal = Field(sa_column=_money())
    overdue_principal: Decimal = Field(sa_column=_money(default="0"))
    days_past_due: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    default_date: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    unpaid_interest: Decimal = Field(sa_column=_money(default="0"))
    diverted: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default="false"))
    scheme_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("sharing_schemes.id"), nullable=True))
    covered: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default="false"))
    cover_note: str = Field(default="", sa_column=Column(String(300), nullable=False, server_default=""))
    covered_principal: Decimal = Field(sa_column=_money(default="0"))
    status_date: date = Field(sa_column=Column(Date, nullable=False))
    last_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    fee_rate: Decimal = Field(default=Decimal("0"), sa_column=_rate(default="0"))
    fee_day_basis: int = Field(default=360, sa_column=Column(Integer, nullable=False, server_default="360"))
    fee_accrued_to: date | None = Field(default=None, sa_column=Column(Date, nullable=True))


class AppliedEvent(SQLModel, table=True):
    """Each loan event is applied once, by its ``seq``."""

    __tablename__ = "applied_events"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    loan_id: str = Field(sa_column=Column(String(64), nullable=False))
    type: str = Field(sa_column=Column(String(32), nullable=False))
    business_date: date = Field(sa_column=Column(Date, nullable=False, index=True))
    applied_at: datetime | None = Field(default=None, sa_column=_created())


class VillageExposure(SQLModel, table=True):
    """Per-village aggregates behind the circuit breaker (熔断)."""

    __tablename__ = "village_exposures"

    village_code: str = Field(sa_column=Column(String(12), primary_key=True))
    township_code: str = Field(sa_column=Column(String(12), nullable=False, index=True))
    county_code: str = Field(sa_column=Column(String(12), nullable=False, index=True))
    borrowers: int = Field(sa_column=Column(Integer, nullable=False))
    loans: int = Field(sa_column=Column(Integer, nullable=False))
    outstanding: Decimal = Field(sa_column=_money())
    npl_outstanding: Decimal = Field(sa_column=_money())
    poor_borrowers: int = Field(sa_column=Column(Integer, nullable=False))
    poor_overdue_borrowers: int = Field(sa_column=Column(Integer, nullable=False))
    updated_at: datetime | None = Field(default=None, sa_column=_created())


class BreakerPolicy(SQLModel, table=True):
    """A county's breaker rule; counties without a row use the defaults (npl_ratio, 5%, 30%)."""

    __tablename__ = "breaker_policies"
    __table_args__ = (
        CheckConstraint("rule IN ('npl_ratio', 'poor_overdue_ratio')", name="breaker_rule_known"),
        CheckConstraint("village_threshold > 0 AND village_threshold < 1", name="village_threshold_range"),
        CheckConstraint("township_threshold > 0 AND township_threshold <= 1", name="township_threshold_range"),
        CheckConstraint("npl_days > 0", name="npl_days_positive"),
    )

    county_code: str = Field(sa_column=Column(String(12), primary_key=True))
    rule: str = Field(sa_column=Column(String(32), nullable=False))
    village_threshold: Decimal = Field(sa_column=_rate())
    township_threshold: Decimal = Field(sa_column=_rate())
    npl_days: int = Field(sa_column=Column(Integer, nullable=False))
    updated_by: str = Field(sa_column=Column(String(200), nullable=False))
    updated_at: datetime | None = Field(default=None, sa_column=_created())


class Breaker(SQLModel, table=True):
    """Current breaker state of a village or township."""

    __tablename__ = "breakers"
    __table_args__ = (
        CheckConstraint("level IN ('village', 'township')", name="breaker_level_known"),
        CheckConstraint("state IN ('open', 'broken')", name="breaker_state_known"),
        Index("breakers_county", "county_code"),
    )

    level: str = Field(sa_column=Column(String(16), primary_key=True))
    code: str = Field(sa_column=Column(String(12), primary_key=True))
    county_code: str = Field(sa_column=Column(String(12), nullable=False))
    state: str = Field(sa_column=Column(String(16), nullable=False))
    ratio: Decimal = Field(sa_column=_rate())
    threshold: Decimal = Field(sa_column=_rate())
    rule: str = Field(sa_column=Column(String(32), nullable=False))
    changed_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    changed_at: datetime | None = Field(default=None, sa_column=_created())


class BreakerChange(SQLModel, table=True):
    """History: every trip and reinstatement, with the ratio, the rule and who acted."""

    __tablename__ = "breaker_history"
    __table_args__ = (Index("breaker_history_changed_on", "business_date", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    level: str = Field(sa_column=Column(String(16), nullable=False))
    code: str = Field(sa_column=Column(String(12), nullable=False, index=True))
    county_code: str = Field(sa_column=Column(String(12), nullable=False))
    from_state: str = Field(sa_column=Column(String(16), nullable=False))
    to_state: str = Field(sa_column=Column(String(16), nullable=False))
    ratio: Decimal = Field(sa_column=_rate())
    threshold: Decimal = Field(sa_column=_rate())
    rule: str = Field(sa_column=Column(String(32), nullable=False))
    business_date: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    actor: str = Field(sa_column=Column(String(200), nullable=False))
    reason: str = Field(sa_column=Column(String(500), nullable=False))
    at: datetime | None = Field(default=None, sa_column=_created())
    txid: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=False, server_default=TXID))


class Claim(SQLModel, table=True):
    """A bank's loss claim (代偿申请) on a defaulted loan: one per loan."""

    __tablename__ = "claims"
    __table_args__ = (
        UniqueConstraint("loan_id", name="one_claim_per_loan"),
        CheckConstraint("status IN ('awaiting_funds', 'paid')", name="claim_status_known"),
        CheckConstraint("loss > 0 AND loss = covered_principal + covered_interest", name="claim_loss_adds_up"),
        CheckConstraint("recovered >= 0 AND recovered <= loss", name="claim_recovered_within_loss"),
        CheckConstraint("government_part >= 0 AND government_part <= loss", name="claim_government_part_range"),
        Index("claims_fund_status", "fund_id", "status", "id"),
        Index("claims_filed_on", "business_date", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    loan_id: str = Field(sa_column=Column(String(64), nullable=False))
    bank_id: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    borrower_type: str = Field(sa_column=Column(String(16), nullable=False))
    village_code: str = Field(sa_column=Column(String(12), nullable=False))
    county_code: str = Field(sa_column=Column(String(12), nullable=False, index=True))
    scheme_id: int = Field(sa_column=Column(Integer, ForeignKey("sharing_schemes.id"), nullable=False))
    fund_id: int = Field(sa_column=Column(Integer, ForeignKey("funds.id"), nullable=False))
    days_past_due: int = Field(sa_column=Column(Integer, nullable=False))
    covered_principal: Decimal = Field(sa_column=_money())
    covered_interest: Decimal = Field(sa_column=_money())
    loss: Decimal = Field(sa_column=_money())
    government_part: Decimal = Field(sa_column=_money())
    recovered: Decimal = Field(default=Decimal("0.00"), sa_column=_money(default="0"))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    business_date: date = Field(sa_column=Column(Date, nullable=False))
    filed_by: str = Field(sa_column=Column(String(200), nullable=False))
    filed_at: datetime | None = Field(default=None, sa_column=_created())
    paid_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    payout_entry_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("journal_entries.id"), nullable=True))
    # the writing transaction: exports read only rows below their high-water mark (see migration 0002)
    txid: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=False, server_default=TXID))


class ClaimPart(SQLModel, table=True):
    """A party's part of a claim's loss: the parts sum to the loss (largest remainder, to the fen)."""

    __tablename__ = "claim_parts"
    __table_args__ = (CheckConstraint("amount >= 0", name="claim_part_not_negative"),)

    claim_id: int = Field(sa_column=Column(BigInteger, ForeignKey("claims.id"), primary_key=True))
    party: str = Field(sa_column=Column(String(16), primary_key=True))
    party_account: str = Field(sa_column=Column(String(200), nullable=False))
    share: Decimal = Field(sa_column=_rate())
    amount: Decimal = Field(sa_column=_money())
    recovered: Decimal = Field(default=Decimal("0.00"), sa_column=_money(default="0"))
    position: int = Field(sa_column=Column(Integer, nullable=False))


class Obligation(SQLModel, table=True):
    """A non-government party's part of a claim, owed to the bank, with its own settlement status.
    The bank's own part is borne by the bank (银行自担) and recorded as settled when filed."""

    __tablename__ = "obligations"
    __table_args__ = (
        UniqueConstraint("claim_id", "party", name="one_obligation_per_party"),
        CheckConstraint("status IN ('open', 'settled')", name="obligation_status_known"),
        CheckConstraint("(status = 'settled') = (settled_at IS NOT NULL)", name="obligation_settled_has_time"),
        Index("obligations_account", "party_account", "status"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    claim_id: int = Field(sa_column=Column(BigInteger, ForeignKey("claims.id"), nullable=False))
    party: str = Field(sa_column=Column(String(16), nullable=False))
    party_account: str = Field(sa_column=Column(String(200), nullable=False))
    amount: Decimal = Field(sa_column=_money())
    status: str = Field(sa_column=Column(String(16), nullable=False))
    settled_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    settled_by: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    settlement_reference: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))


class Recovery(SQLModel, table=True):
    """Money recovered after a claim (追偿), returned to the parties in the claim's proportions."""

    __tablename__ = "recoveries"
    __table_args__ = (
        UniqueConstraint("claim_id", "reference", name="one_recovery_per_reference"),
        CheckConstraint("amount > 0", name="recovery_positive"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    claim_id: int = Field(sa_column=Column(BigInteger, ForeignKey("claims.id"), nullable=False, index=True))
    amount: Decimal = Field(sa_column=_money())
    reference: str = Field(sa_column=Column(String(200), nullable=False))
    value_date: date = Field(sa_column=Column(Date, nullable=False))
    recorded_by: str = Field(sa_column=Column(String(200), nullable=False))
    recorded_at: datetime | None = Field(default=None, sa_column=_created())


class RecoveryPart(SQLModel, table=True):
    __tablename__ = "recovery_parts"
    __table_args__ = (CheckConstraint("amount >= 0", name="recovery_part_not_negative"),)

    recovery_id: int = Field(sa_column=Column(BigInteger, ForeignKey("recoveries.id"), primary_key=True))
    party: str = Field(sa_column=Column(String(16), primary_key=True))
    party_account: str = Field(sa_column=Column(String(200), nullable=False))
    amount: Decimal = Field(sa_column=_money())


class FeeSegment(SQLModel, table=True):
    """A stretch of days at one outstanding principal on which a guarantee fee (担保费) accrues."""

    __tablename__ = "fee_segments"
    __table_args__ = (
        CheckConstraint("end_date > start_date", name="fee_segment_has_days"),
        CheckConstraint("principal >= 0", name="fee_segment_principal_not_negative"),
        Index("fee_segments_unbilled", "loan_id", postgresql_where="bill_id IS NULL"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    loan_id: str = Field(sa_column=Column(String(64), ForeignKey("exposures.loan_id"), nullable=False))
    start_date: date = Field(sa_column=Column(Date, nullable=False))
    end_date: date = Field(sa_column=Column(Date, nullable=False))
    principal: Decimal = Field(sa_column=_money())
    rate: Decimal = Field(sa_column=_rate())
    day_basis: int = Field(sa_column=Column(Integer, nullable=False))
    bill_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("fee_bills.id"), nullable=True))


class FeeBill(SQLModel, table=True):
    """A guarantee-fee bill for one enterprise loan and period, payable to the guarantor."""

    __tablename__ = "fee_bills"
    __table_args__ = (
        UniqueConstraint("loan_id", "period_end", name="one_bill_per_loan_period"),
        CheckConstraint("amount >= 0", name="fee_bill_not_negative"),
        CheckConstraint("period_end > period_start", name="fee_bill_period_has_days"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    loan_id: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    bank_id: str = Field(sa_column=Column(String(32), nullable=False))
    county_code: str = Field(sa_column=Column(String(12), nullable=False))
    payee_account: str = Field(sa_column=Column(String(200), nullable=False))
    period_start: date = Field(sa_column=Column(Date, nullable=False))
    period_end: date = Field(sa_column=Column(Date, nullable=False))
    amount: Decimal = Field(sa_column=_money())
    billed_by: str = Field(sa_column=Column(String(200), nullable=False))
    billed_at: datetime | None = Field(default=None, sa_column=_created())
