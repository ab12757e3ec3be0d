"""Credit-rating service request and response models."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kit.money import Money, PositiveMoney

HouseholdId = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$", examples=["HH-411224-000123"])]
DivisionCode = Annotated[str, Field(pattern=r"^\d{12}$", examples=["411224101001"])]
IndicatorCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,32}$")]
Points = Annotated[int, Field(ge=0, le=1000)]


# ---------------------------------------------------------------- scorecards


class YesNoPoints(BaseModel):
    model_config = ConfigDict(extra="forbid")
    yes: Points = 0
    no: Points = 0


class ChoiceOption(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: Annotated[str, Field(min_length=1, max_length=64)]
    label: str = ""
    points: Points = 0


class NumberBand(BaseModel):
    """``min`` ≤ value < ``max``; the last band may leave ``max`` out (no upper limit)."""

    model_config = ConfigDict(extra="forbid")
    min: Decimal
    max: Decimal | None = None
    points: Points = 0


class IndicatorDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: IndicatorCode
    category: Annotated[str, Field(min_length=1, max_length=32)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: Literal["base", "bonus", "deduction", "veto"]
    value_type: Literal["yes_no", "choice", "number"]
    required: bool | None = Field(None, description="Default: base and veto indicators are required, bonus and deduction optional.")
    points: YesNoPoints | None = None
    options: list[ChoiceOption] | None = None
    bands: list[NumberBand] | None = None
    veto_when: bool | None = Field(None, description="For a veto indicator: the answer that vetoes (default true).")
    unit: str | None = None


class CategoryDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Annotated[str, Field(min_length=1, max_length=32)]
    name: Annotated[str, Field(min_length=1, max_length=100)]
    group: str | None = None


class GradeDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grade: Annotated[str, Field(pattern=r"^[A-Z]{1,5}[+-]?$")]
    min_score: int
    max_score: int
    credit_line: PositiveMoney


class LoanEventRuleDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["deduction", "blacklist", "none"]
    points: Points = 0


class Scale(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min: int = 0
    max: int = 100


class ScorecardDefinition(BaseModel):
    """A scorecard version: the indicator catalogue, the grade table and credit lines (授信额度)."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str = ""
    scale: Scale = Scale()
    validity_days: Annotated[int, Field(ge=1, le=3660)] = 365
    grades: list[GradeDefinition]
    min_lending_grade: str = "A"
    loan_events: dict[Literal["defaulted", "diverted"], LoanEventRuleDefinition] = {}
    categories: Annotated[list[CategoryDefinition], Field(min_length=1, max_length=100)]
    indicators: Annotated[list[IndicatorDefinition], Field(min_length=1, max_length=1000)]


class ScorecardCreate(ScorecardDefinition):
    county_code: DivisionCode | None = Field(None, description="The county this version is for; null = province-wide default.")


class ScorecardSummary(BaseModel):
    version: int
    name: str
    county_code: str | None
    status: Literal["draft", "published"]
    indicator_count: int
    created_by: str
    created_at: datetime
    published_by: str | None
    published_at: datetime | None


class ScorecardPublic(ScorecardSummary):
    definition: dict[str, Any]


class ScorecardPage(BaseModel):
    items: list[ScorecardSummary]
    next_cursor: str | None


# ---------------------------------------------------------------- assessments


class AssessmentCreate(BaseModel):
    household_id: HouseholdId
    village_code: DivisionCode
    values: dict[str, Any] = Field(description="Indicator code → answer: true/false, a choice value, or a number.")
    assessed_on: date | None = Field(None, description="Date of the field assessment; default today; never in the future.")
    scorecard_version: int | None = Field(
        None, ge=1, le=2**63 - 1, description="Default: the latest published version for the household's county."
    )


class BatchItem(BaseModel):
    household_id: HouseholdId
    village_code: DivisionCode
    values: dict[str, Any]
    assessed_on: date | None = None


class CategoryBreakdown(BaseModel):
    code: str
    name: str
    base: int
    bonus: int
    deduction: int
    vetoes: list[str]


class IndicatorLine(BaseModel):
    code: str
    category: str
    name: str
    kind: str
    value: Any
    points: int = Field(description="Signed contribution: deductions are negative.")
    vetoes: bool


class ReviewCreate(BaseModel):
    decision: Literal["confirmed", "disputed"]
    note: Annotated[str | None, Field(max_length=1000)] = Field(None, description="Required when disputed.")


class ReviewPublic(BaseModel):
    review_id: int
    assessment_id: int
    decision: Literal["confirmed", "disputed"]
    note: str | None
    reviewer: str
    reviewer_role: str
    created_at: datetime | None


class AssessmentPublic(BaseModel):
    assessment_id: int
    household_id: str
    village_code: str
    scorecard_version: int
    assessed_on: date
    valid_until: date
    score: int
    raw_score: int = Field(description="base + bonus − deductions before bounding to the scale")
    base_points: int
    bonus_points: int
    deduction_points: int
    grade: str | None
    credit_line: Money | None
    vetoed: bool
    veto_reasons: list[str]
    is_current: bool
    supersedes: int | None = Field(description="The assessment this one replaced (re-assessment).")
    superseded_by: int | None
    assessed_by: str
    created_at: datetime | None
    categories: list[CategoryBreakdown]
    indicators: list[IndicatorLine] | None = None
    reviews: list[ReviewPublic] | None = Field(None, description="Township and county reviews (on the single-assessment reads).")


class AssessmentPage(BaseModel):
    items: list[AssessmentPublic]
    next_cursor: str | None


class BatchItemResult(BaseModel):
    index: int
    household_id: str | None
    status: Literal["created", "error"]
    assessment_id: int | None = None
    supersedes: int | None = None
    score: int | None = None
    grade: str | None = None
    credit_line: Money | None = None
    vetoed: bool | None = None
    veto_reasons: list[str] | None = None
    errors: list[dict[str, str]] | None = None


class BatchResult(BaseModel):
    received: int
    created: int
    failed: int
    results: list[BatchItemResult]


# ---------------------------------------------------------------- ratings


class PenaltyPublic(BaseModel):
    points: int
    reason: str
    loan_id: str | None


class RatingPublic(BaseModel):
    household_id: str
    village_code: str | None
    status: Literal["current", "expired", "none"]
    score: int | None
    grade: str | None
    credit_line: Money | None
    vetoed: bool
    veto_reasons: list[str]
    blacklisted: bool
    eligible_to_borrow: bool
    valid_until: date | None
    scorecard_version: int | None
    assessment_id: int | None
    assessed_score: int | None = Field(None, description="The assessment's own score, before loan-event deductions.")
    penalties: list[PenaltyPublic] = []


# ---------------------------------------------------------------- certificates


class CertificateCreate(BaseModel):
    household_id: HouseholdId


class Revocation(BaseModel):
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class CertificatePublic(BaseModel):
    number: str
    household_id: str
    village_code: str
    assessment_id: int
    grade: str
    credit_line: Money
    issued_on: date
    valid_until: date
    issued_by: str
    status: Literal["valid", "revoked", "expired"]
    revoked_at: datetime | None
    revoked_reason: str | None


class CertificateVerification(CertificatePublic):
    """For banks: the certificate, and whether the household may borrow today."""

    current_grade: str | None
    eligible_to_borrow: bool


# ---------------------------------------------------------------- blacklist


class BlacklistCreate(BaseModel):
    household_id: HouseholdId
    village_code: DivisionCode
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    source: Literal["officer", "court", "bank"] = "officer"


class BlacklistPublic(BaseModel):
    entry_id: int
    household_id: str
    village_code: str
    reason: str
    source: str
    actor: str
    loan_id: str | None
    created_at: datetime | None
    active: bool
    removed_at: datetime | None
    removed_by: str | None
    removal_reason: str | None


class BlacklistPage(BaseModel):
    items: list[BlacklistPublic]
    next_cursor: str | None


# ---------------------------------------------------------------- loan events, roster, coverage


class LoanEvent(BaseModel):
    """One event of the applications service's loan event log; unknown fields are ignored."""

    seq: Annotated[int, Field(ge=1, le=2**63 - 1)]
    loan_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")]
    type: Annotated[str, Field(min_length=1, max_length=64)]
    business_date: date
    data: dict[str, Any] = {}


class EventsApplied(BaseModel):
    received: int
    applied: int = Field(description="Events that changed a rating: defaulted (deduction or blacklist) and diverted (blacklist).")
    duplicates: int = Field(description="Events whose seq was applied before: nothing changed.")
    ignored: int = Field(description="Other event types, and enterprise loans.")


class RosterEntry(BaseModel):
    household_id: HouseholdId
    village_code: DivisionCode
    registered: bool


class RosterUpserted(BaseModel):
    upserted: int


class CoverageFigure(BaseModel):
    region: str | None
    registered: int
    rated: int
    coverage: Decimal | None = Field(description="rated ÷ registered, four decimals; null when no household is registered.")


class CoverageReport(CoverageFigure):
    as_of: date
    by_subregion: list[CoverageFigure]
