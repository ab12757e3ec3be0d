"""Applications service request and response models (separate from the tables)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from applications.domain import PolicyProfile
from kit.money import Money, PositiveMoney, Rate

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,64}$")]
DivisionCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- business date ----


class BusinessDateOut(BaseModel):
    business_date: date


class BusinessDateIn(Strict):
    business_date: date


class BusinessDateMoved(BaseModel):
    business_date: date
    previous: date
    loans_overdue: int = Field(description="loans that became overdue with this move")
    loans_defaulted: int = Field(description="loans that reached the default threshold with this move")


# ---- registry ----


class ImportError_(BaseModel):
    line: int
    key: str | None
    reason: str


class ImportReport(BaseModel):
    received: int = Field(description="data rows read (header excluded)")
    inserted: int
    updated: int
    unchanged: int
    invalid: int
    errors: list[ImportError_] = Field(description="invalid rows with their line and reason, in line order (capped)")
    errors_truncated: bool


class RegionOut(BaseModel):
    code: str
    level: str
    name: str
    parent_code: str | None


class RegionPage(BaseModel):
    items: list[RegionOut]
    next_cursor: str | None


class MemberIO(BaseModel):
    name: str
    relation: str = Field(description="'head' for the head of household, else free text (spouse, child, parent …)")
    birth_date: str = Field(description="YYYY-MM-DD")
    labour_capacity: str = Field(description="full | partial | none")


class IdentificationIO(BaseModel):
    """三审两公示一公告: the date of each identification step."""

    applied_on: date | None = None
    democratic_vote_on: date | None = None
    village_notice_on: date | None = None
    township_notice_on: date | None = None
    county_announcement_on: date | None = None


class HouseholdIn(Strict):
    head_resident_id: str
    head_name: str
    village_code: str
    household_type: str = Field(description="一般贫困户 | 低保户 | 五保户 | 低保贫困户")
    main_cause: str = Field(description="exactly one of the 12 poverty causes (致贫原因)")
    secondary_causes: list[str] = Field(default_factory=list, max_length=10)
    members: list[MemberIO]
    status: str = Field(description="poor | exited | edge | removed")
    identification: IdentificationIO = Field(default_factory=IdentificationIO)


class HouseholdOut(BaseModel):
    household_id: str
    head_resident_id: str = Field(description="masked: first 6 and last 4 characters")
    head_name: str
    village_code: str
    township_code: str
    county_code: str
    household_type: str
    main_cause: str
    secondary_causes: list[str]
    members: list[MemberIO]
    status: str
    identification: IdentificationIO
    updated_at: datetime


class HouseholdPage(BaseModel):
    items: list[HouseholdOut]
    next_cursor: str | None


class EnterpriseIn(Strict):
    enterprise_id: str = Field(description="18-character Unified Social Credit Code (GB 32100)")
    name: str = Field(min_length=1, max_length=200)
    village_code: DivisionCode


class EnterpriseOut(BaseModel):
    enterprise_id: str
    name: str
    village_code: str
    township_code: str
    county_code: str


class EnterprisePage(BaseModel):
    items: list[EnterpriseOut]
    next_cursor: str | None


# ---- lending policy ----


class LendingPolicyIn(Strict):
    effective_from: date = Field(description="first business date the version is in force; not before the current business date")
    profile: PolicyProfile = Field(default_factory=PolicyProfile)


class LendingPolicyOut(BaseModel):
    county_code: str
    effective_from: date | None = Field(description="null when no version is stored and the defaults apply")
    source: Literal["stored", "default"]
    created_by: str | None
    profile: PolicyProfile


class LendingPolicyPage(BaseModel):
    items: list[LendingPolicyOut]


# ---- eligibility and applications ----


class FailureOut(BaseModel):
    code: str
    message: str


class EligibilityIn(Strict):
    household_id: Identifier
    amount: PositiveMoney
    term_months: int = Field(ge=1, le=120)
    purpose: str
    industry: str


class EligibilityOut(BaseModel):
    eligible: bool
    failures: list[FailureOut]
    checked: list[str] = Field(description="registry, policy, rating (credit-rating), lending_status (risk-pool)")
    policy_effective_from: date | None


class ApplicationCreate(Strict):
    borrower_type: Literal["household", "enterprise"] = "household"
    household_id: Identifier | None = None
    enterprise_id: str | None = None
    driven_households: list[Identifier] = Field(default_factory=list, max_length=1000, description="带贫: households an enterprise loan drives")
    amount: PositiveMoney
    term_months: int = Field(ge=1, le=120)
    purpose: str = Field(min_length=1, max_length=64)
    industry: str = Field(min_length=1, max_length=64)
    project: str = Field("", max_length=2000, description="the production project (致富项目)")


class AttestationIn(Strict):
    """村级: the village secretary (村支书), the resident secretary (驻村第一书记) and the bank's credit officer."""

    village_secretary: str = Field(min_length=1, max_length=100)
    resident_secretary: str = Field(min_length=1, max_length=100)
    credit_officer: str = Field(min_length=1, max_length=100)


class NoteIn(Strict):
    note: str = Field("", max_length=2000)


class RecommendationIn(Strict):
    bank_id: str = Field(pattern=r"^[A-Za-z0-9-]{1,32}$")


class ApprovalIn(Strict):
    approved_amount: PositiveMoney | None = Field(None, description="defaults to the amount applied for; never above it")
    annual_rate: Rate


class ReasonIn(Strict):
    reason: str = Field(min_length=1, max_length=2000)


class DisbursementIn(Strict):
    start_date: date | None = Field(None, description="defaults to the business date; never before it")


class StepOut(BaseModel):
    step: str
    from_status: str | None
    to_status: str
    actor: str
    actor_role: str
    business_date: date
    at: datetime
    detail: dict[str, Any]


class ApplicationOut(BaseModel):
    application_id: str
    borrower_type: str
    household_id: str | None
    enterprise_id: str | None
    driven_households: list[str]
    registered_poor: bool
    village_code: str
    township_code: str
    county_code: str
    amount: Money
    term_months: int
    purpose: str
    industry: str
    project: str
    status: str
    village_secretary: str | None
    resident_secretary: str | None
    credit_officer: str | None
    bank_id: str | None
    approved_amount: Money | None
    annual_rate: Rate | None
    reason: str | None
    loan_id: str | None
    submitted_on: date
    decided_on: date | None
    approval_days: int | None = Field(description="business days from submission to the bank's approval")
    steps: list[StepOut]


class ApplicationPage(BaseModel):
    items: list[ApplicationOut]
    next_cursor: str | None


# ---- loans ----


class InstallmentOut(BaseModel):
    loan_year: int
    due_date: date
    interest_due: Money
    principal_due: Money
    interest_paid: Money
    principal_paid: Money
    late_interest_count: int = Field(description="interest payments made after the due date in this loan year")


class LoanOut(BaseModel):
    loan_id: str
    application_id: str
    borrower_type: str
    household_id: str | None
    enterprise_id: str | None
    registered_poor: bool
    village_code: str
    township_code: str
    county_code: str
    bank_id: str
    principal: Money
    annual_rate: Rate
    start_date: date
    term_months: int
    maturity_date: date
    purpose: str
    industry: str
    driven_households: list[str]
    status: str
    outstanding_principal: Money
    days_past_due: int
    renewals: int
    extensions: int
    default_date: date | None
    diverted: bool
    schedule: list[InstallmentOut]


class LoanPage(BaseModel):
    items: list[LoanOut]
    next_cursor: str | None


class RepaymentIn(Strict):
    kind: Literal["interest", "principal"]
    amount: PositiveMoney
    value_date: date
    bank_reference: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/-]+$")


class RepaymentOut(BaseModel):
    repayment_id: int
    loan_id: str
    bank_id: str
    bank_reference: str
    kind: str
    amount: Money
    value_date: date
    loan_year: int
    due_date: date
    late: bool
    outstanding_principal: Money
    business_date: date
    recorded_at: datetime


class ExtensionIn(Strict):
    months: int = Field(ge=1, le=60, description="展期: months added to the maturity date")


class RenewalIn(Strict):
    term_months: int = Field(ge=1, le=120, description="续贷: the new term for the principal still owed")


class LoanEventOut(BaseModel):
    seq: int
    txid: str = Field(description="the writing transaction (xid8); the log is ordered by (txid, seq)")
    loan_id: str
    type: str
    business_date: date
    data: dict[str, Any]


class LoanEventPage(BaseModel):
    items: list[LoanEventOut]
    next_cursor: str = Field(description='pass as ?after= for the next page: "txid:seq" of the last event, or the cursor given when the page is empty')
    remaining: int = Field(description="visible events after this page")


# ---- figures ----


class CoverageRow(BaseModel):
    region_code: str
    name: str | None
    registered_households: int
    borrowing_households: int
    coverage: Decimal = Field(description="户贷率 = borrowing ÷ registered, four decimals")


class CoverageOut(BaseModel):
    region_code: str
    total: CoverageRow
    items: list[CoverageRow]


class AmountRow(BaseModel):
    key: str
    loans: int
    principal: Money
    outstanding_principal: Money


class AmountsOut(BaseModel):
    region_code: str
    by: str
    items: list[AmountRow]


class OverviewOut(BaseModel):
    """The gateway's overview inputs for one region (any level)."""

    region: str
    registered_households: int = Field(description="建档立卡 households, poor or exited")
    borrowing_households: int = Field(description="of them, those that have had a loan")
    household_loan_coverage: Decimal = Field(description="户贷率 = borrowing ÷ registered, four decimals")
    loans_outstanding: Money = Field(description="outstanding principal of open loans")
    non_performing_outstanding: Money = Field(description="of it, loans in default or 90 days or more past due (不良)")
    non_performing_ratio: Decimal = Field(description="non_performing_outstanding ÷ loans_outstanding, four decimals")
    loans_active: int = Field(description="open loans (active, overdue, defaulted)")


class ApprovalTimesOut(BaseModel):
    region_code: str
    count: int
    mean_days: Decimal | None
    p50_days: Decimal | None
    p90_days: Decimal | None
    p99_days: Decimal | None
    max_days: int | None
