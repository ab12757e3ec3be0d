"""Pure rules of the applications service: plain values in, values out; no I/O.

Sources: ``shared/domain/policy.md`` §2 (建档立卡 registry) and §4 (loan applications and loans).
Every number is a default of a county's lending policy profile (:class:`PolicyProfile`).
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kit.identifiers import birth_date_from_resident_id, division_code_error, division_level, resident_id_error, uscc_error
from kit.money import PositiveMoney, Rate, quantize_fen, split_by_shares

# ---- 建档立卡 registry (policy.md §2) ----------------------------------------------------------

HOUSEHOLD_TYPES = ("一般贫困户", "低保户", "五保户", "低保贫困户")
POVERTY_CAUSES = ("因病", "因残", "因学", "因灾", "缺土地", "缺水", "缺技术", "缺劳力", "缺资金", "交通条件落后", "自身发展动力不足", "其它")
HOUSEHOLD_STATUSES = ("poor", "exited", "edge", "removed")  # 贫困户, 已脱贫, 边缘易致贫户, 已清退
# 劳动能力: full (普通/技能劳动力), partial (弱劳动力或半劳动力), none (丧失劳动力/无劳动力)
LABOUR_CAPACITIES = ("full", "partial", "none")
ID_PATTERN = re.compile(r"^[A-Za-z0-9-]{1,64}$")
NOTICE_DAYS = 7  # 公示 lasts 7 days [national]
# 三审两公示一公告, in order: 申请, 村民小组民主评议, 村委会审查公示, 乡镇审核公示, 县审批公告
IDENTIFICATION_STEPS = ("applied_on", "democratic_vote_on", "village_notice_on", "township_notice_on", "county_announcement_on")


@dataclass(frozen=True)
class Member:
    name: str
    relation: str
    birth_date: date
    labour_capacity: str

    @property
    def is_head(self) -> bool:
        return self.relation == "head"


@dataclass(frozen=True)
class HouseholdRecord:
    """A validated registry row, ready to be stored."""

    household_id: str
    head_resident_id: str
    head_name: str
    village_code: str
    township_code: str
    county_code: str
    household_type: str
    main_cause: str
    secondary_causes: tuple[str, ...]
    members: tuple[Member, ...]
    status: str
    identification: dict[str, date | None]

    def members_json(self) -> list[dict[str, str]]:
        return [{"name": m.name, "relation": m.relation, "birth_date": m.birth_date.isoformat(), "labour_capacity": m.labour_capacity} for m in self.members]


def township_of(village_code: str) -> str:
    return village_code[:9] + "000"


def county_of(code: str) -> str:
    return code[:6] + "000000"


def _parse_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("not a YYYY-MM-DD date")
    return date.fromisoformat(value)


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else str(value)


def _list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            parsed = json.loads(text)
            if not isinstance(parsed, list):
                raise ValueError("not a list")
            return parsed
        return [part.strip() for part in text.split(";") if part.strip()]
    if isinstance(value, list):
        return value
    raise ValueError("not a list")


def validate_household(raw: Mapping[str, Any]) -> tuple[HouseholdRecord | None, list[str]]:
    """Check one registry row against policy.md §2; every problem is reported, not the first.

    ``raw`` holds strings (a CSV row) or JSON values (an NDJSON line or an API body); list fields
    may be JSON text or ``;``-separated text in CSV.
    """
    errors: list[str] = []
    household_id = _text(raw, "household_id")
    if not ID_PATTERN.match(household_id):
        errors.append("household_id: must match ^[A-Za-z0-9-]{1,64}$")
    resident_id = _text(raw, "head_resident_id").upper()
    id_error = resident_id_error(resident_id)
    if id_error:
        errors.append(f"head_resident_id: {id_error}")
    head_name = _text(raw, "head_name")
    if not head_name:
        errors.append("head_name: required")
    village = _text(raw, "village_code")
    code_error = division_code_error(village)
    if code_error:
        errors.append(f"village_code: {code_error}")
    elif division_level(village) != "village":
        errors.append("village_code: is not a village code (last three digits are 000)")
    household_type = _text(raw, "household_type")
    if household_type not in HOUSEHOLD_TYPES:
        errors.append(f"household_type: must be one of {' '.join(HOUSEHOLD_TYPES)}")
    main_cause = _text(raw, "main_cause")
    if main_cause not in POVERTY_CAUSES:
        errors.append("main_cause: must be exactly one of the 12 poverty causes (致贫原因)")
    secondary: list[str] = []
    try:
        secondary = [str(c).strip() for c in _list(raw.get("secondary_causes"))]
    except ValueError:
        errors.append("secondary_causes: not a list")
    if len(secondary) > 2:
        errors.append("secondary_causes: at most two secondary causes")
    if any(c not in POVERTY_CAUSES for c in secondary):
        errors.append("secondary_causes: unknown poverty cause")
    if main_cause in secondary or len(set(secondary)) != len(secondary):
        errors.append("secondary_causes: must differ from each other and from the main cause")
    status = _text(raw, "status")
    if status not in HOUSEHOLD_STATUSES:
        errors.append(f"status: must be one of {', '.join(HOUSEHOLD_STATUSES)}")
    members = _members(raw.get("members"), errors)
    heads = [m for m in members if m.is_head]
    if members and len(heads) != 1:
        errors.append("members: exactly one member has relation 'head'")
    elif heads and not id_error and heads[0].birth_date.isoformat() != birth_date_from_resident_id(resident_id):
        errors.append("members: the head's birth date differs from the one in head_resident_id")
    identification = _identification(raw, errors)
    if errors:
        return None, errors
    return (
        HouseholdRecord(
            household_id=household_id,
            head_resident_id=resident_id,
            head_name=head_name,
            village_code=village,
            township_code=township_of(village),
            county_code=county_of(village),
            household_type=household_type,
            main_cause=main_cause,
            secondary_causes=tuple(secondary),
            members=tuple(members),
            status=status,
            identification=identification,
        ),
        [],
    )


def _members(value: Any, errors: list[str]) -> list[Member]:
    try:
        items = _list(value)
    except ValueError:
        errors.append("members: not a JSON list")
        return []
    if not items:
        errors.append("members: at least one member (the head)")
        return []
    members: list[Member] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(f"members[{i}]: not an object")
            continue
        name, relation = str(item.get("name") or "").strip(), str(item.get("relation") or "").strip()
        capacity = str(item.get("labour_capacity") or "")
        try:
            born = _parse_date(item.get("birth_date"))
        except ValueError:
            errors.append(f"members[{i}].birth_date: not a YYYY-MM-DD date")
            continue
        if not name or not relation:
            errors.append(f"members[{i}]: name and relation are required")
            continue
        if capacity not in LABOUR_CAPACITIES:
            errors.append(f"members[{i}].labour_capacity: must be one of {', '.join(LABOUR_CAPACITIES)}")
            continue
        members.append(Member(name=name, relation=relation, birth_date=born, labour_capacity=capacity))
    return members


def _identification(raw: Mapping[str, Any], errors: list[str]) -> dict[str, date | None]:
    nested = raw.get("identification")
    source: Mapping[str, Any] = nested if isinstance(nested, Mapping) else raw
    steps: dict[str, date | None] = {}
    for step in IDENTIFICATION_STEPS:
        value = source.get(step)
        if value in (None, ""):
            steps[step] = None
            continue
        try:
            steps[step] = _parse_date(value)
        except ValueError:
            errors.append(f"{step}: not a YYYY-MM-DD date")
            steps[step] = None
    errors.extend(identification_order_errors(steps))
    return steps


def identification_order_errors(steps: Mapping[str, date | None]) -> list[str]:
    """三审两公示一公告 runs in order, and each public notice (公示) lasts 7 days before the next review."""
    problems: list[str] = []
    previous: tuple[str, date] | None = None
    for step in IDENTIFICATION_STEPS:
        day = steps.get(step)
        if day is None:
            continue
        if previous is not None:
            gap = NOTICE_DAYS if previous[0] in ("village_notice_on", "township_notice_on") else 0
            if day < previous[1] + timedelta(days=gap):
                rule = f"at least {NOTICE_DAYS} days after" if gap else "on or after"
                problems.append(f"{step}: must be {rule} {previous[0]} ({previous[1].isoformat()})")
        previous = (step, day)
    return problems


def age_on(birth: date, on: date) -> int:
    """Completed years (周岁)."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def members_from_json(items: Sequence[Mapping[str, Any]]) -> tuple[Member, ...]:
    return tuple(
        Member(name=m["name"], relation=m["relation"], birth_date=date.fromisoformat(m["birth_date"]), labour_capacity=m["labour_capacity"]) for m in items
    )


def validate_enterprise_id(value: str) -> str | None:
    return uscc_error(value)


# ---- lending policy (policy.md §4) ------------------------------------------------------------

GRADE_RANK = {"AAA": 3, "AA": 2, "A": 1}
PRODUCTION_PURPOSES = ("planting", "breeding", "processing", "rural_tourism", "commerce", "transport", "handicraft", "services")
# 消费贷款贷不出来; [national] no marriage, house building, wealth products, household goods, 入股分红/转贷/指标交换
REFUSED_PURPOSES: dict[str, str] = {
    "consumption": "consumption loans (消费贷款) are not lent",
    "car_purchase": "buying a car is consumption (买车这叫消费贷款)",
    "house_building": "house building (盖房子) is not a production use",
    "marriage": "marriage expenses are not a production use",
    "wealth_products": "wealth-management products are not a production use",
    "household_goods": "household goods are consumption",
    "company_investment": "handing the money to a company (入股分红) is refused",
    "relending": "on-lending (转贷) is refused",
    "quota_exchange": "exchanging loan quotas (指标交换) is refused",
}
INDUSTRIES = ("tobacco", "tea", "vegetables", "mulberry", "livestock", "mushrooms", "fruit", "grain", "herbs", "tourism", "crafts", "other")


class PolicyProfile(BaseModel):
    """A county's lending policy profile; every field defaults to the value in policy.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_age: int = Field(18, ge=16, le=100, description="youngest borrower age at application (周岁)")
    max_age: int = Field(60, ge=16, le=100, description="oldest borrower age at application; [national] 2019 allows 65")
    labour_required: bool = Field(True, description="the borrower must have labour capacity (有劳动能力)")
    min_grade: Literal["A", "AA", "AAA"] = Field("A", description="lowest credit grade that may borrow")
    eligible_statuses: list[Literal["poor", "exited", "edge"]] = Field(
        default_factory=lambda: ["poor", "exited"], description="household statuses that may borrow (建档立卡 poor and exited)"
    )
    subsidised_principal_cap: PositiveMoney = Field(Decimal("50000.00"), description="principal covered by 贴息 and the risk fund")
    household_cap: PositiveMoney = Field(Decimal("200000.00"), description="all loans of one household together")
    enterprise_cap: PositiveMoney = Field(Decimal("1000000.00"), description="one enterprise 带贫 loan")
    max_term_months: int = Field(36, ge=1, le=120, description="longest term")
    repayment: Literal["yearly"] = Field("yearly", description="1年1还: interest and that year's principal due every loan year")
    max_annual_rate: Rate | None = Field(None, description="highest annual rate a bank may set; null = no cap")
    allowed_purposes: list[str] = Field(default_factory=lambda: list(PRODUCTION_PURPOSES), description="production purposes")
    refused_purposes: dict[str, str] = Field(default_factory=lambda: dict(REFUSED_PURPOSES), description="refused purpose → reason")
    allowed_industries: list[str] = Field(default_factory=lambda: list(INDUSTRIES))
    participating_banks: list[str] = Field(default_factory=lambda: ["RCC", "ABC", "ADBC", "PSBC", "DSB"])
    default_days_past_due: int = Field(90, ge=1, le=3650, description="days past due at which a loan is in default")
    max_extensions: int = Field(1, ge=0, le=10, description="展期 allowed per loan")
    max_extension_months: int = Field(12, ge=1, le=60)
    max_renewals: int = Field(1, ge=0, le=10, description="续贷 allowed per loan")
    driven_min_age: int = Field(60, ge=16, le=120, description="带贫: a household qualifies when every member is older or has no labour capacity")
    driven_subsidy_rate: Rate = Field(Decimal("0.02"), description="extra subsidy per driven household (the subsidy service applies it)")

    @model_validator(mode="after")
    def _ranges(self) -> PolicyProfile:
        if self.min_age > self.max_age:
            raise ValueError("min_age is above max_age")
        if self.subsidised_principal_cap > self.household_cap:
            raise ValueError("subsidised_principal_cap is above household_cap")
        if set(self.allowed_purposes) & set(self.refused_purposes):
            raise ValueError("a purpose is both allowed and refused")
        return self


# ---- eligibility --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    code: str
    message: str


@dataclass(frozen=True)
class RatingFacts:
    """What credit-rating says about a household (``GET /v1/ratings/{household_id}``)."""

    status: str
    grade: str | None
    credit_line: Decimal | None
    vetoed: bool = False
    veto_reasons: tuple[str, ...] = ()
    blacklisted: bool = False


@dataclass(frozen=True)
class LendingStatusFacts:
    """What risk-pool says about a village (``GET /v1/lending-status/{village_code}``): 熔断 or open."""

    may_lend: bool
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoanRequest:
    amount: Decimal
    term_months: int
    purpose: str
    industry: str
    bank_id: str | None = None
    annual_rate: Decimal | None = None


def purpose_failures(policy: PolicyProfile, request: LoanRequest) -> list[Failure]:
    out: list[Failure] = []
    if request.purpose in policy.refused_purposes:
        out.append(Failure("PURPOSE", f"purpose {request.purpose}: {policy.refused_purposes[request.purpose]}"))
    elif request.purpose not in policy.allowed_purposes:
        out.append(Failure("PURPOSE", f"purpose {request.purpose} is not a production purpose of this county"))
    if request.industry not in policy.allowed_industries:
        out.append(Failure("INDUSTRY", f"industry {request.industry} is not allowed in this county"))
    if request.term_months > policy.max_term_months:
        out.append(Failure("TERM", f"term {request.term_months} months exceeds {policy.max_term_months}"))
    if request.bank_id is not None and request.bank_id not in policy.participating_banks:
        out.append(Failure("BANK", f"bank {request.bank_id} does not take part in this county"))
    if request.annual_rate is not None and policy.max_annual_rate is not None and request.annual_rate > policy.max_annual_rate:
        out.append(Failure("RATE", f"annual rate {request.annual_rate} exceeds {policy.max_annual_rate}"))
    return out


def rating_failures(policy: PolicyProfile, rating: RatingFacts | None, amount: Decimal) -> list[Failure]:
    if rating is None:
        return []
    out: list[Failure] = []
    if rating.blacklisted:
        out.append(Failure("BLACKLIST", "the household is on the blacklist (黑名单)"))
    if rating.vetoed:
        out.append(Failure("GRADE", "the rating is vetoed (一否决): " + ", ".join(rating.veto_reasons or ("no reason given",))))
    elif rating.status != "current":
        out.append(Failure("GRADE", f"no current credit rating (status {rating.status})"))
    elif GRADE_RANK.get(rating.grade or "", 0) < GRADE_RANK[policy.min_grade]:
        out.append(Failure("GRADE", f"grade {rating.grade or 'none'} is below {policy.min_grade}"))
    elif rating.credit_line is not None and amount > rating.credit_line:
        out.append(Failure("CREDIT_LINE", f"amount {amount} exceeds the credit line (授信额度) {rating.credit_line}"))
    return out


def lending_status_failures(status: LendingStatusFacts | None) -> list[Failure]:
    if status is None or status.may_lend:
        return []
    return [Failure("REGION_SUSPENDED", "lending is suspended here (熔断): " + "; ".join(status.reasons or ("no reason given",)))]


def household_eligibility(
    *,
    household_status: str | None,
    members: Sequence[Member],
    policy: PolicyProfile,
    request: LoanRequest,
    on: date,
    outstanding: Decimal = Decimal("0"),
    rating: RatingFacts | None = None,
    lending_status: LendingStatusFacts | None = None,
) -> list[Failure]:
    """Every rule a household loan breaks (not just the first). ``outstanding`` is the principal
    the household already owes on other loans (the household cap counts them)."""
    out: list[Failure] = []
    if household_status is None:
        return [Failure("NOT_REGISTERED", "the household is not in the 建档立卡 registry")]
    if household_status not in policy.eligible_statuses:
        out.append(Failure("NOT_REGISTERED", f"household status {household_status} may not borrow here"))
    head = next((m for m in members if m.is_head), None)
    if head is not None:
        age = age_on(head.birth_date, on)
        if not policy.min_age <= age <= policy.max_age:
            out.append(Failure("AGE", f"the borrower is {age}; the county lends from {policy.min_age} to {policy.max_age}"))
        if policy.labour_required and head.labour_capacity == "none":
            out.append(Failure("LABOUR", "the borrower has no labour capacity (无劳动能力); such households are driven (带贫) instead"))
    out.extend(purpose_failures(policy, request))
    if outstanding + request.amount > policy.household_cap:
        out.append(Failure("AMOUNT", f"{request.amount} with {outstanding} outstanding exceeds the household cap {policy.household_cap}"))
    out.extend(rating_failures(policy, rating, request.amount))
    out.extend(lending_status_failures(lending_status))
    return out


def qualifies_for_driving(members: Sequence[Member], policy: PolicyProfile, on: date) -> bool:
    """带贫: every member is over the age line or has no labour capacity, so the household cannot
    borrow itself and is driven by an enterprise."""
    return all(age_on(m.birth_date, on) > policy.driven_min_age or m.labour_capacity == "none" for m in members)


def driven_household_failures(
    *,
    household_id: str,
    household_status: str | None,
    members: Sequence[Member],
    policy: PolicyProfile,
    on: date,
    county_code: str | None,
    enterprise_county: str,
) -> list[Failure]:
    if household_status is None:
        return [Failure("NOT_REGISTERED", f"driven household {household_id} is not in the registry")]
    out: list[Failure] = []
    if household_status not in policy.eligible_statuses:
        out.append(Failure("NOT_REGISTERED", f"driven household {household_id} has status {household_status}"))
    if county_code != enterprise_county:
        out.append(Failure("DRIVEN_REGION", f"driven household {household_id} lives outside the enterprise's county"))
    if not qualifies_for_driving(members, policy, on):
        out.append(Failure("DRIVEN_NOT_QUALIFIED", f"household {household_id} has a member of working age with labour capacity"))
    return out


def enterprise_eligibility(
    *, policy: PolicyProfile, request: LoanRequest, driven: Sequence[str], lending_status: LendingStatusFacts | None = None
) -> list[Failure]:
    out = purpose_failures(policy, request)
    if request.amount > policy.enterprise_cap:
        out.append(Failure("AMOUNT", f"{request.amount} exceeds the enterprise cap {policy.enterprise_cap}"))
    if not driven:
        out.append(Failure("NO_DRIVEN_HOUSEHOLDS", "a 带贫 loan names at least one driven household"))
    if len(set(driven)) != len(driven):
        out.append(Failure("DRIVEN_DUPLICATE", "a driven household is named twice"))
    out.extend(lending_status_failures(lending_status))
    return out


# ---- the approval chain -------------------------------------------------------------------------

OPEN_STATUSES = ("submitted", "attested", "reviewed", "confirmed", "recommended", "approved")
APPLICATION_STATES = (*OPEN_STATUSES, "declined", "disbursed", "rejected", "withdrawn")
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "attest": (("submitted",), "attested"),  # 村级: village secretary, resident secretary, credit officer
    "review": (("attested",), "reviewed"),  # 乡镇审核
    "confirm": (("reviewed",), "confirmed"),  # 县级确认
    "recommend": (("confirmed",), "recommended"),  # 推荐给银行
    "approve": (("recommended",), "approved"),  # 银行自主审批
    "decline": (("recommended",), "declined"),
    "disburse": (("approved",), "disbursed"),  # 放款
    "reject": (("submitted", "attested", "reviewed", "confirmed"), "rejected"),
    "withdraw": (OPEN_STATUSES, "withdrawn"),
}
# who rejects at each step: the level whose step is next
REJECTING_ROLE = {"submitted": "village_officer", "attested": "township_officer", "reviewed": "county_officer", "confirmed": "county_officer"}


def next_status(action: str, current: str) -> str | None:
    """The status after ``action``, or None when the step is out of order."""
    allowed, target = TRANSITIONS[action]
    return target if current in allowed else None


def attesters_distinct(*names: str) -> bool:
    """Three attesters are three people (村支书, 驻村第一书记, 信贷员)."""
    cleaned = [n.strip() for n in names]
    return all(cleaned) and len(set(cleaned)) == len(cleaned)


# ---- loans --------------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class PlannedInstallment:
    loan_year: int
    due_date: date
    interest_due: Decimal
    principal_due: Decimal


def yearly_schedule(*, principal: Decimal, annual_rate: Decimal, start_date: date, term_months: int, first_year: int = 1) -> list[PlannedInstallment]:
    """1年1还: each loan year ends with that year's interest and its share of principal.

    The principal is spread over the loan years in proportion to their months (largest remainder,
    so the parts add up to the fen); interest is the year's opening balance × rate × months/12,
    rounded half-up to the fen. The last installment falls on the maturity date.
    """
    if term_months < 1:
        raise ValueError("term must be at least one month")
    months = [min(12, term_months - 12 * k) for k in range((term_months + 11) // 12)]
    shares = split_by_shares(principal, [Decimal(m) for m in months])
    out: list[PlannedInstallment] = []
    balance, elapsed = principal, 0
    for i, (m, part) in enumerate(zip(months, shares, strict=True)):
        elapsed += m
        interest = quantize_fen(balance * annual_rate * Decimal(m) / Decimal(12))
        out.append(PlannedInstallment(first_year + i, add_months(start_date, elapsed), interest, part))
        balance -= part
    return out


@dataclass
class InstallmentState:
    loan_year: int
    due_date: date
    interest_due: Decimal
    principal_due: Decimal
    interest_paid: Decimal = Decimal("0.00")
    principal_paid: Decimal = Decimal("0.00")
    late_interest_count: int = 0

    def unpaid(self, kind: str) -> Decimal:
        return self.interest_due - self.interest_paid if kind == "interest" else self.principal_due - self.principal_paid

    @property
    def settled(self) -> bool:
        return self.unpaid("interest") == 0 and self.unpaid("principal") == 0


def days_past_due(installments: Sequence[InstallmentState], on: date) -> int:
    """Days since the earliest due date still unpaid (interest or principal); 0 when none is late."""
    late = [i.due_date for i in installments if not i.settled and i.due_date < on]
    return (on - min(late)).days if late else 0


def delinquency_status(dpd: int, default_days: int) -> str:
    if dpd >= default_days:
        return "defaulted"
    return "overdue" if dpd > 0 else "active"


@dataclass(frozen=True)
class RepaymentTarget:
    loan_year: int
    due_date: date
    late: bool


def repayment_target(installments: Sequence[InstallmentState], *, kind: str, amount: Decimal, value_date: date) -> RepaymentTarget | str:
    """The installment a repayment settles: the earliest one with that kind still unpaid. A
    repayment never spans installments, so its amount is at most what that installment lacks.
    Returns the reason as a string when the repayment does not fit."""
    open_ones = sorted((i for i in installments if i.unpaid(kind) > 0), key=lambda i: i.loan_year)
    if not open_ones:
        return f"no {kind} is outstanding on this loan"
    target = open_ones[0]
    if amount > target.unpaid(kind):
        return f"amount {amount} exceeds the {target.unpaid(kind)} of {kind} outstanding for loan year {target.loan_year}"
    return RepaymentTarget(target.loan_year, target.due_date, late=value_date > target.due_date)


def extension_plan(
    installments: Sequence[InstallmentState], *, outstanding: Decimal, annual_rate: Decimal, maturity: date, months: int
) -> InstallmentState | str:
    """展期: the last installment moves ``months`` later and earns interest for the added months.
    Only the last installment may be open. Returns the changed last installment, or the reason."""
    last = max(installments, key=lambda i: i.loan_year)
    if any(not i.settled for i in installments if i.loan_year != last.loan_year):
        return "earlier installments are not fully repaid"
    if outstanding <= 0:
        return "no principal is outstanding"
    extra = quantize_fen(outstanding * annual_rate * Decimal(months) / Decimal(12))
    return InstallmentState(
        last.loan_year,
        add_months(maturity, months),
        last.interest_due + extra,
        last.principal_due,
        last.interest_paid,
        last.principal_paid,
        last.late_interest_count,
    )


def renewal_plan(
    installments: Sequence[InstallmentState], *, outstanding: Decimal, annual_rate: Decimal, maturity: date, term_months: int
) -> tuple[InstallmentState, list[PlannedInstallment]] | str:
    """续贷: the principal still owed at maturity rolls into a new term from the old maturity date.
    All interest must be paid and every earlier installment settled. Returns the closed last
    installment (its unpaid principal moved on) and the new installments, or the reason."""
    last = max(installments, key=lambda i: i.loan_year)
    if any(not i.settled for i in installments if i.loan_year != last.loan_year):
        return "earlier installments are not fully repaid"
    if last.unpaid("interest") > 0:
        return "interest of the last loan year is unpaid"
    if outstanding <= 0:
        return "no principal is outstanding"
    closed = InstallmentState(
        last.loan_year, last.due_date, last.interest_due, last.principal_paid, last.interest_paid, last.principal_paid, last.late_interest_count
    )
    new = yearly_schedule(principal=outstanding, annual_rate=annual_rate, start_date=maturity, term_months=term_months, first_year=last.loan_year + 1)
    return closed, new


def money_str(value: Decimal) -> str:
    return f"{quantize_fen(value):.2f}"


# ---- notifications and figures ----


def recommended_payload(app: Any, *, recommended_on: date) -> dict[str, Any]:
    """The ``application.recommended`` webhook: what the recommended bank needs to start its own
    review (银行自主审批); ``bank_id`` tells the gateway which bank to notify."""
    borrower = {"household_id": app.household_id} if app.borrower_type == "household" else {"enterprise_id": app.enterprise_id}
    return {
        "bank_id": app.bank_id,
        "application_id": app.application_id,
        "borrower_type": app.borrower_type,
        **borrower,
        "village_code": app.village_code,
        "amount": money_str(app.amount),
        "term_months": app.term_months,
        "purpose": app.purpose,
        "industry": app.industry,
        "recommended_on": recommended_on.isoformat(),
    }


def share(part: Decimal | int, whole: Decimal | int, places: int = 4) -> Decimal:
    """part ÷ whole to ``places`` decimals, half-up; 0 when there is no whole (户贷率, NPL ratio)."""
    if not whole:
        return Decimal(0).quantize(Decimal(1).scaleb(-places))
    return (Decimal(part) / Decimal(whole)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
