"""Risk-pool service request and response models (XCreate / XPublic), separate from the tables."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from kit.money import Money, NonNegativeMoney, PositiveMoney, Rate

DivisionCode = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]
LoanId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,64}$")]
HouseholdId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,64}$")]
Party = Literal["government", "bank", "insurer", "guarantor", "reguarantor"]
BorrowerType = Literal["household", "enterprise"]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- funds ------------------------------------------------------------------------------------


class FundCreate(Strict):
    code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    level: Literal["city", "county"]
    region_code: DivisionCode = Field(description="city (411200000000) or county (411224000000) division code")


class FundPublic(BaseModel):
    id: int
    code: str
    name: str
    level: str
    region_code: str
    county_code: str | None
    balance: Money
    covered_outstanding: Money = Field(description="covered principal outstanding on loans of this county")
    leverage_capacity: Money | None = Field(None, description="leverage × balance under the county's household scheme")
    created_at: datetime


class FundPage(BaseModel):
    items: list[FundPublic]
    next_cursor: str | None = None


class MovementCreate(Strict):
    amount: PositiveMoney
    memo: Annotated[str, StringConstraints(max_length=500)] = ""
    reference: Reference | None = None
    value_date: date | None = Field(None, description="defaults to the business date")


class TopUpCreate(Strict):
    amount: PositiveMoney
    memo: Annotated[str, StringConstraints(max_length=500)] = ""
    reference: Reference | None = None
    value_date: date | None = None
    volume_from: date | None = Field(None, description="count lending volume of loans started on or after this date")
    volume_to: date | None = Field(None, description="... and on or before this date")


class JournalLinePublic(BaseModel):
    account: str
    amount: Money


class JournalEntryPublic(BaseModel):
    id: int
    kind: str
    entry_date: date
    memo: str
    reference: str | None
    claim_id: int | None
    created_by: str
    created_at: datetime
    lines: list[JournalLinePublic]


class TopUpPart(BaseModel):
    fund_code: str
    county_code: str
    lending_volume: Money
    amount: Money


class TopUpPublic(BaseModel):
    entry: JournalEntryPublic
    parts: list[TopUpPart]
    claims_paid: int


class MovementPublic(BaseModel):
    entry: JournalEntryPublic
    balance: Money
    claims_paid: int = Field(description="claims waiting for money that this movement let the fund pay")


class StatementLine(BaseModel):
    entry_id: int
    entry_date: date
    kind: str
    memo: str
    reference: str | None
    claim_id: int | None
    amount: Money
    balance_after: Money


class StatementPublic(BaseModel):
    fund_code: str
    period_from: date
    period_to: date
    opening_balance: Money
    total_in: Money
    total_out: Money
    closing_balance: Money
    lines: list[StatementLine]


# ---- sharing schemes ------------------------------------------------------------------------


class ShareIn(Strict):
    party: Party
    share: Rate = Field(description="fraction of the loss: 0.35 = 35%")
    party_account: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        None, description="insurer/guarantor/re-guarantor: the account (token subject) that settles this party's obligations"
    )


class SchemeCreate(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    county_code: DivisionCode
    borrower_type: BorrowerType
    effective_from: date
    shares: list[ShareIn]
    covered_principal_cap: PositiveMoney | None = Field(None, description="50000.00 for households; null = no cap")
    leverage: Annotated[Decimal, Field(gt=0, le=1000, max_digits=9, decimal_places=2)] = Decimal("10")
    claim_trigger_days: Annotated[int, Field(ge=0, le=3650)] = 90
    guarantee_fee_rate: Rate = Decimal("0")
    fee_day_basis: Literal[360, 365] = 360


class SharePublic(BaseModel):
    party: str
    share: Rate
    party_account: str | None


class SchemePublic(BaseModel):
    id: int
    name: str
    county_code: str
    borrower_type: str
    effective_from: date
    shares: list[SharePublic]
    covered_principal_cap: Money | None
    leverage: Decimal
    claim_trigger_days: int
    guarantee_fee_rate: Rate
    fee_day_basis: int
    created_by: str
    created_at: datetime


class SchemePage(BaseModel):
    items: list[SchemePublic]
    next_cursor: str | None = None


class SplitPreview(BaseModel):
    loss: Money
    parts: list[dict[str, str]]


# ---- loan events (the shared contract) --------------------------------------------------------


class EventData(BaseModel):
    """Common loan attributes every event carries; consumers ignore fields they do not know."""

    model_config = ConfigDict(extra="allow")

    household_id: HouseholdId | None = None
    enterprise_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    borrower_type: BorrowerType
    registered_poor: bool = False
    village_code: DivisionCode
    township_code: DivisionCode
    county_code: DivisionCode
    bank_id: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    principal: NonNegativeMoney
    annual_rate: Rate
    start_date: date
    maturity_date: date
    industry: str | None = None
    driven_households: list[str] = []
    outstanding_principal: NonNegativeMoney | None = None
    overdue_principal: NonNegativeMoney | None = None
    unpaid_interest: NonNegativeMoney | None = None
    amount: NonNegativeMoney | None = None
    kind: str | None = None
    days_past_due: Annotated[int, Field(ge=0)] | None = None
    default_date: date | None = None


EventType = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$")]


class LoanEventHeader(BaseModel):
    """What every loan event carries, whatever its type."""

    model_config = ConfigDict(extra="allow")

    seq: Annotated[int, Field(ge=1, le=2**62)]
    loan_id: LoanId
    type: EventType
    business_date: date


class LoanEventIn(LoanEventHeader):
    data: EventData


class EventsApplied(BaseModel):
    received: int
    applied: int
    skipped_seqs: list[int] = Field(description="already applied earlier (each seq is applied once)")
    ignored_seqs: list[int] = Field(description="event types this service does not know: recorded as applied, no effect")
    villages_touched: int
    breakers_tripped: list[str]
    business_date: date | None


# ---- exposures ------------------------------------------------------------------------------


class ExposurePublic(BaseModel):
    loan_id: str
    borrower_type: str
    household_id: str | None
    enterprise_id: str | None
    registered_poor: bool
    village_code: str
    township_code: str
    county_code: str
    bank_id: str
    principal: Money
    status: str
    outstanding_principal: Money
    overdue_principal: Money
    days_past_due: int
    default_date: date | None
    unpaid_interest: Money
    diverted: bool
    scheme_id: int | None
    covered: bool
    cover_note: str
    covered_principal: Money
    status_date: date
    last_seq: int


class VillageExposurePublic(BaseModel):
    village_code: str
    township_code: str
    county_code: str
    borrowers: int
    loans: int
    outstanding: Money
    npl_outstanding: Money
    npl_ratio: Rate
    poor_borrowers: int
    poor_overdue_borrowers: int
    poor_overdue_ratio: Rate


class VillageExposurePage(BaseModel):
    items: list[VillageExposurePublic]
    next_cursor: str | None = None


# ---- claims, obligations, recoveries --------------------------------------------------------


class ClaimCreate(Strict):
    loan_id: LoanId


class ClaimBatchCreate(Strict):
    loan_ids: Annotated[list[LoanId], Field(min_length=1, max_length=20000)]


class ClaimPartPublic(BaseModel):
    party: str
    party_account: str
    share: Rate
    amount: Money
    recovered: Money


class ClaimPublic(BaseModel):
    id: int
    loan_id: str
    bank_id: str
    borrower_type: str
    village_code: str
    county_code: str
    scheme_id: int
    fund_code: str
    days_past_due: int
    covered_principal: Money
    covered_interest: Money
    loss: Money
    government_part: Money
    recovered: Money
    outstanding_loss: Money
    status: str = Field(description="awaiting_funds: the fund cannot pay yet, paid in filing order when money arrives; paid")
    queue_position: int | None = Field(None, description="1 = next to be paid from the fund")
    business_date: date
    filed_by: str
    filed_at: datetime
    paid_at: datetime | None
    parts: list[ClaimPartPublic]


class ClaimPage(BaseModel):
    items: list[ClaimPublic]
    next_cursor: str | None = None


class ClaimBatchPublic(BaseModel):
    filed: int
    paid: int
    awaiting_funds: int
    claim_ids: list[int]


class ObligationPublic(BaseModel):
    id: int
    claim_id: int
    loan_id: str
    bank_id: str
    county_code: str
    party: str
    party_account: str
    amount: Money
    status: str
    settled_at: datetime | None
    settled_by: str | None
    settlement_reference: str | None


class ObligationPage(BaseModel):
    items: list[ObligationPublic]
    next_cursor: str | None = None


class SettlementCreate(Strict):
    reference: Reference


class RecoveryCreate(Strict):
    amount: PositiveMoney
    reference: Reference
    value_date: date | None = None


class RecoveryPartPublic(BaseModel):
    party: str
    party_account: str
    amount: Money


class RecoveryPublic(BaseModel):
    id: int
    claim_id: int
    amount: Money
    reference: str
    value_date: date
    recorded_by: str
    recorded_at: datetime
    parts: list[RecoveryPartPublic]
    claim_outstanding_loss: Money


# ---- breakers and lending status -------------------------------------------------------------


class BreakerPolicyIn(Strict):
    rule: Literal["npl_ratio", "poor_overdue_ratio"] = "npl_ratio"
    village_threshold: Annotated[Decimal, Field(gt=0, lt=1, max_digits=9, decimal_places=6)] = Decimal("0.05")
    township_threshold: Annotated[Decimal, Field(gt=0, le=1, max_digits=9, decimal_places=6)] = Decimal("0.30")
    npl_days: Annotated[int, Field(gt=0, le=3650)] = 90


class BreakerPolicyPublic(BaseModel):
    county_code: str
    rule: str
    village_threshold: Rate
    township_threshold: Rate
    npl_days: int
    is_default: bool


class BreakerChangePublic(BaseModel):
    from_state: str
    to_state: str
    ratio: Rate
    threshold: Rate
    rule: str
    business_date: date | None
    actor: str
    reason: str
    at: datetime


class BreakerPublic(BaseModel):
    level: str
    code: str
    county_code: str
    state: str
    ratio: Rate = Field(description="at the last evaluation: the village's ratio, or the township's broken-village share")
    threshold: Rate
    rule: str
    changed_on: date | None
    history: list[BreakerChangePublic] = []


class BreakerPage(BaseModel):
    items: list[BreakerPublic]
    next_cursor: str | None = None


class ReinstatementCreate(Strict):
    reason: Text


class LendingStatus(BaseModel):
    village_code: str
    township_code: str
    may_lend: bool
    reasons: list[str]
    village_state: Literal["open", "broken"]
    township_state: Literal["open", "broken"]


# ---- guarantee fees -------------------------------------------------------------------------


class FeeBillingCreate(Strict):
    county_code: DivisionCode
    period_end: date = Field(description="accrue and bill up to (not including) this date")


class FeeBillPublic(BaseModel):
    id: int
    loan_id: str
    bank_id: str
    county_code: str
    payee_account: str
    period_start: date
    period_end: date
    amount: Money
    billed_by: str
    billed_at: datetime


class FeeBillPage(BaseModel):
    items: list[FeeBillPublic]
    next_cursor: str | None = None


class FeeBillingPublic(BaseModel):
    bills: int
    total: Money


# ---- figures -----------------------------------------------------------------------------------


class PartyFigure(BaseModel):
    party: str
    party_account: str
    claimed: Money
    recovered: Money
    obligations_open: Money
    obligations_settled: Money


class FundFigure(BaseModel):
    fund_code: str
    county_code: str | None
    balance: Money
    covered_outstanding: Money
    leverage_used: Rate | None = Field(None, description="covered outstanding ÷ (leverage × balance)")
    claims_awaiting_funds: int
    amount_awaiting_funds: Money


class BreakerMapEntry(BaseModel):
    level: str
    code: str
    state: str
    ratio: Rate


class RiskFigures(BaseModel):
    region: str | None
    business_date: date | None
    funds: list[FundFigure] = Field(description="the funds covering the region: its county fund(s) and the city fund above")
    breaker_state: Literal["open", "broken"] | None = Field(
        None, description="熔断 state of the region itself when it is a village or township (null for a county or no region)")
    claims: int
    loss_claimed: Money
    recovered: Money
    by_party: list[PartyFigure]
    villages_broken: int
    townships_broken: int
    breaker_map: list[BreakerMapEntry]
