"""Subsidy service request and response models (money as strings with two decimals)."""

from __future__ import annotations

import base64
import json
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from kit.errors import InvalidInput
from kit.identifiers import division_code_error
from kit.money import Money, NonNegativeMoney, Rate

LoanId = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$", examples=["L-2026-000123"])]
HouseholdId = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$", examples=["H-411224-0001"])]
DivisionCode = Annotated[str, Field(pattern=r"^[0-9]{12}$", examples=["411224101000"])]
BankId = Annotated[str, Field(min_length=1, max_length=32, examples=["RCC"])]


def _division(value: str) -> str:
    problem = division_code_error(value)
    if problem:
        raise ValueError(problem)
    return value


# ---------------------------------------------------------------- paging


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, default=str).encode()).decode()


def decode_cursor(cursor: str | None) -> list[Any] | None:
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, json.JSONDecodeError) as exc:
        raise InvalidInput("cursor is not one this service issued", errors=[{"field": "cursor", "message": "unreadable"}]) from exc
    if not isinstance(key, list):
        raise InvalidInput("cursor is not one this service issued", errors=[{"field": "cursor", "message": "unreadable"}])
    return key


# ---------------------------------------------------------------- plans


class FixedRate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["fixed"]
    rate: Rate


class ReferenceRate(BaseModel):
    """A reference rate (e.g. the 1-year LPR) times a ratio: 4.35% = LPR 3.45% × 1.26087."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["reference"]
    reference: str = Field(min_length=1, max_length=32, examples=["LPR-1Y"])
    reference_rate: Rate
    ratio: Annotated[Decimal, Field(ge=0, le=100, max_digits=9, decimal_places=6)]


class AllocationIn(BaseModel):
    township_code: DivisionCode
    loan_volume: NonNegativeMoney

    _check_code = field_validator("township_code")(_division)


class AllocationPublic(BaseModel):
    township_code: str
    loan_volume: Money


class PlanCreate(BaseModel):
    """A county's yearly subsidy plan (贴息计划)."""

    model_config = ConfigDict(extra="forbid")
    county_code: DivisionCode
    year: int = Field(ge=2000, le=2100)
    name: str = Field("", max_length=200)
    subsidy_rate: Annotated[FixedRate | ReferenceRate, Field(discriminator="kind")]
    cap_rate_at_loan_rate: bool = True
    day_basis: Literal[360, 365] = 365
    principal_cap: NonNegativeMoney = Decimal("50000.00")
    driven_household_rate: Rate = Decimal("0.020000")
    late_interest_limit: int = Field(2, ge=1, le=12)
    subsidy_term_months: int = Field(36, ge=1, le=600)
    period_start: date
    period_end: date
    total_fund: NonNegativeMoney
    allocations: list[AllocationIn] = Field(default_factory=list, max_length=1000)

    _check_code = field_validator("county_code")(_division)

    @model_validator(mode="after")
    def _consistent(self) -> PlanCreate:
        if self.period_end < self.period_start:
            raise ValueError("period_end must not be before period_start")
        townships = [a.township_code for a in self.allocations]
        if len(set(townships)) != len(townships):
            raise ValueError("each township appears at most once in allocations")
        return self


class FundUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    total_fund: NonNegativeMoney


class PlanPublic(BaseModel):
    id: int
    county_code: str
    year: int
    name: str
    rate_kind: str
    reference_name: str | None
    reference_rate: Rate | None
    reference_ratio: Decimal | None
    rate: Rate
    cap_rate_at_loan_rate: bool
    day_basis: int
    principal_cap: Money
    driven_household_rate: Rate
    late_interest_limit: int
    subsidy_term_months: int
    period_start: date
    period_end: date
    total_fund: Money
    fund_committed: Money
    fund_paid: Money
    fund_remaining: Money
    allocations: list[AllocationPublic]


class PlanPage(BaseModel):
    items: list[PlanPublic]
    next_cursor: str | None


# ---------------------------------------------------------------- loan events


class CommonData(BaseModel):
    """Attributes every loan event carries; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")
    household_id: HouseholdId | None = None
    enterprise_id: str | None = Field(None, max_length=18)
    borrower_type: Literal["household", "enterprise"]
    registered_poor: bool
    village_code: DivisionCode
    township_code: DivisionCode
    county_code: DivisionCode
    bank_id: BankId
    principal: NonNegativeMoney
    annual_rate: Rate
    start_date: date
    maturity_date: date
    industry: str | None = None
    driven_households: list[HouseholdId] = Field(default_factory=list)

    @model_validator(mode="after")
    def _borrower(self) -> CommonData:
        if self.borrower_type == "household" and not self.household_id:
            raise ValueError("a household loan carries household_id")
        if self.borrower_type == "enterprise" and not self.enterprise_id:
            raise ValueError("an enterprise loan carries enterprise_id")
        return self


class ScheduleItem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    loan_year: int = Field(ge=1, le=50)
    due_date: date
    interest_due: NonNegativeMoney
    principal_due: NonNegativeMoney


class DisbursedData(CommonData):
    term_months: int | None = Field(None, ge=1, le=600)
    purpose: str | None = None
    schedule: list[ScheduleItem] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _schedule(self) -> DisbursedData:
        years = [s.loan_year for s in self.schedule]
        if len(set(years)) != len(years):
            raise ValueError("schedule loan years must be unique")
        ordered = sorted(self.schedule, key=lambda s: s.loan_year)
        begin = self.start_date
        for item in ordered:
            if item.due_date < begin:
                raise ValueError(f"schedule year {item.loan_year} falls due before it starts")
            begin = item.due_date
        return self


class RepaymentData(CommonData):
    kind: Literal["interest", "principal"]
    amount: NonNegativeMoney
    value_date: date
    due_date: date
    loan_year: int = Field(ge=1, le=50)
    late: bool
    bank_reference: str | None = None
    outstanding_principal: NonNegativeMoney | None = None


class OverdueData(CommonData):
    days_past_due: int = Field(ge=0)
    outstanding_principal: NonNegativeMoney
    overdue_principal: NonNegativeMoney


class DefaultedData(CommonData):
    days_past_due: int = Field(ge=0)
    default_date: date | None = None
    outstanding_principal: NonNegativeMoney
    unpaid_interest: NonNegativeMoney | None = None


class BalanceData(CommonData):
    outstanding_principal: NonNegativeMoney


class ReshapedData(CommonData):
    outstanding_principal: NonNegativeMoney
    term_months: int | None = Field(None, ge=1, le=600)
    # The loan's schedule after the change, as applications now sends it (all years or only the
    # changed ones); absent on older events, which are rebuilt on the shared convention instead.
    schedule: list[ScheduleItem] | None = Field(None, max_length=50)

    @model_validator(mode="after")
    def _unique_years(self) -> ReshapedData:
        years = [s.loan_year for s in self.schedule or []]
        if len(set(years)) != len(years):
            raise ValueError("schedule loan years must be unique")
        return self


class DivertedData(CommonData):
    reason: str | None = None


class _EventBase(BaseModel):
    model_config = ConfigDict(extra="ignore")
    seq: int = Field(ge=1)
    loan_id: LoanId
    business_date: date


class DisbursedEvent(_EventBase):
    type: Literal["disbursed"]
    data: DisbursedData


class RepaymentEvent(_EventBase):
    type: Literal["repayment_recorded"]
    data: RepaymentData


class OverdueEvent(_EventBase):
    type: Literal["overdue"]
    data: OverdueData


class DefaultedEvent(_EventBase):
    type: Literal["defaulted"]
    data: DefaultedData


class BalanceEvent(_EventBase):
    type: Literal["closed", "written_off"]
    data: BalanceData


class ReshapedEvent(_EventBase):
    """续贷 (renewed) and 展期 (extended): a new maturity date."""

    type: Literal["renewed", "extended"]
    data: ReshapedData


class DivertedEvent(_EventBase):
    type: Literal["diverted"]
    data: DivertedData


class OtherEvent(_EventBase):
    """An event type this service does not know yet: recorded once, common attributes kept."""

    type: str
    data: CommonData


_KNOWN = {
    "disbursed": "disbursed",
    "repayment_recorded": "repayment_recorded",
    "overdue": "overdue",
    "defaulted": "defaulted",
    "closed": "balance",
    "written_off": "balance",
    "renewed": "reshaped",
    "extended": "reshaped",
    "diverted": "diverted",
}


def _event_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return _KNOWN.get(kind, "other") if isinstance(kind, str) else "other"


LoanEventIn = Annotated[
    Annotated[DisbursedEvent, Tag("disbursed")]
    | Annotated[RepaymentEvent, Tag("repayment_recorded")]
    | Annotated[OverdueEvent, Tag("overdue")]
    | Annotated[DefaultedEvent, Tag("defaulted")]
    | Annotated[BalanceEvent, Tag("balance")]
    | Annotated[ReshapedEvent, Tag("reshaped")]
    | Annotated[DivertedEvent, Tag("diverted")]
    | Annotated[OtherEvent, Tag("other")],
    Discriminator(_event_tag),
]


class EventsApplied(BaseModel):
    applied: list[int]
    duplicates: list[int]


class HouseholdStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    household_id: HouseholdId
    registered: bool


class HouseholdsUpdated(BaseModel):
    updated: int


# ---------------------------------------------------------------- accounts


class LoanYearPublic(BaseModel):
    loan_year: int
    start_date: date
    due_date: date
    opening_principal: Money
    interest_due: Money
    principal_due: Money
    interest_paid: Money
    principal_paid: Money
    late_interest_payments: int
    principal_paid_late: bool
    last_interest_paid_on: date | None
    last_principal_paid_on: date | None
    settled_batch_id: int | None = None
    settled_status: str | None = None
    granted_amount: Money | None = None


class AccountPublic(BaseModel):
    loan_id: str
    borrower_type: str
    household_id: str | None
    enterprise_id: str | None
    registered_poor: bool
    household_registered: bool
    village_code: str
    township_code: str
    county_code: str
    bank_id: str
    principal: Money
    annual_rate: Rate
    start_date: date
    maturity_date: date
    industry: str | None
    driven_households: list[str]
    status: str
    outstanding_principal: Money
    overdue_principal: Money
    principal_repaid: Money
    closed_on: date | None
    subsidy_granted: Money
    years: list[LoanYearPublic] = Field(default_factory=list)


class AccountPage(BaseModel):
    items: list[AccountPublic]
    next_cursor: str | None


# ---------------------------------------------------------------- settlements


class SettlementCreate(BaseModel):
    """Settle a township's loan-years that fell due in a period of a plan (default: the plan's)."""

    model_config = ConfigDict(extra="forbid")
    plan_id: int = Field(ge=1)
    township_code: DivisionCode
    period_start: date | None = None
    period_end: date | None = None

    _check_code = field_validator("township_code")(_division)

    @model_validator(mode="after")
    def _ordered(self) -> SettlementCreate:
        if self.period_start and self.period_end and self.period_end < self.period_start:
            raise ValueError("period_end must not be before period_start")
        return self


class BatchPublic(BaseModel):
    id: int
    plan_id: int
    county_code: str
    township_code: str
    period_start: date
    period_end: date
    business_date: date
    status: str
    computed_total: Money
    granted_total: Money
    remaining_before: Money
    fund_rule: str
    eligible_count: int
    excluded_count: int
    reduced_count: int
    recipient_count: int
    excluded_by_reason: dict[str, int] = Field(default_factory=dict)
    created_by: str
    approved_by: str | None
    paid_by: str | None
    paid_on: date | None
    reconciled_by: str | None
    reconciled_on: date | None
    statement_reference: str | None


class BatchPage(BaseModel):
    items: list[BatchPublic]
    next_cursor: str | None


class LinePublic(BaseModel):
    loan_id: str
    loan_year: int
    recipient_type: str
    recipient_id: str
    village_code: str
    bank_id: str
    year_start: date
    year_end: date
    days: int
    subsidised_principal: Money
    rate: Rate
    driven_count: int
    driven_principal: Money
    computed_amount: Money
    granted_amount: Money
    eligible: bool
    reason: str | None


class LinePage(BaseModel):
    items: list[LinePublic]
    next_cursor: str | None


class PaymentIn(BaseModel):
    recipient_id: HouseholdId
    payment_reference: str = Field(min_length=1, max_length=64)


class BatchPay(BaseModel):
    """发放: the township finance office pays each recipient and records its payment reference."""

    model_config = ConfigDict(extra="forbid")
    paid_on: date
    payments: list[PaymentIn] = Field(max_length=200_000)


class BatchReconcile(BaseModel):
    """对账: the bank or treasury statement confirms what left the account."""

    model_config = ConfigDict(extra="forbid")
    reconciled_on: date
    statement_reference: str = Field(min_length=1, max_length=64)
    statement_total: NonNegativeMoney


# ---------------------------------------------------------------- notices, figures, forms


class NoticePublic(BaseModel):
    batch_id: int
    plan_id: int
    plan_year: int
    township_code: str
    recipient_id: str
    recipient_type: str
    village_code: str
    loan_years: int
    amount: Money
    batch_status: str
    payment_reference: str | None
    pdf: str


class NoticePage(BaseModel):
    items: list[NoticePublic]
    next_cursor: str | None


class PaidFigure(BaseModel):
    region_code: str
    year: int
    recipients: int
    loan_years: int
    amount: Money


class PaidTotal(BaseModel):
    recipients: int = Field(description="distinct households and enterprises paid")
    loan_years: int = Field(description="loan-years paid")
    amount: Money = Field(description="subsidy paid, yuan")


class PaidFigures(BaseModel):
    """Subsidy paid (batches paid or reconciled) inside ``region``, grouped by ``level`` and plan year."""

    region: str | None = Field(description="the region asked for (12-digit code), or null for all the caller may see")
    level: str = Field(description="county, township or village: how items are grouped (never coarser than the region)")
    year: int | None = Field(description="plan year filter, or null for every year")
    total: PaidTotal
    items: list[PaidFigure]


class FundFigure(BaseModel):
    plan_id: int
    county_code: str
    year: int
    total_fund: Money
    committed: Money
    paid: Money
    remaining: Money
    ledger_available: Money
    ledger_reserved: Money
    ledger_paid: Money


class FundFigures(BaseModel):
    items: list[FundFigure]


class ExpectedYear(BaseModel):
    loan_year: int
    start_date: date
    due_date: date
    plan_id: int | None
    days: int
    amount: Money | None


class ApprovalForm(BaseModel):
    """扶贫贴息贷款申报审批表: the fields, for the applications side to render."""

    title: str = "扶贫贴息贷款申报审批表"
    loan_id: str
    borrower_type: str
    household_id: str | None
    enterprise_id: str | None
    registered_poor: bool
    village_code: str
    township_code: str
    county_code: str
    bank_id: str
    industry: str | None
    purpose: str | None
    principal: Money
    annual_rate: Rate
    term_months: int | None
    start_date: date
    maturity_date: date
    driven_households: list[str]
    subsidised_principal: Money | None
    expected_subsidy: list[ExpectedYear]
    expected_subsidy_total: Money
    granted_to_date: Money
    approvals: list[dict[str, str | None]]
