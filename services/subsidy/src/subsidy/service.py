"""subsidy use cases: repo → domain → repo; flushes, never commits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.auth import Principal
from kit.errors import Forbidden, InvalidInput
from kit.identifiers import division_code_error, division_level, region_contains, region_prefix
from kit.money import ZERO
from subsidy import documents, domain, repo
from subsidy.clients.applications import ApplicationsClient
from subsidy.errors import (
    AccountNotFound,
    BatchNotFound,
    BatchStateConflict,
    FundBelowCommitted,
    InvalidPlan,
    InvalidSettlement,
    NoticeNotFound,
    NoticeNotReady,
    NotYours,
    OutsideRegion,
    PaymentsIncomplete,
    PeriodNotEnded,
    PlanExists,
    PlanNotFound,
    PlanOverlaps,
    ReconciliationMismatch,
    RegisterTooLong,
    SettlementRace,
)
from subsidy.models import SettlementBatch, SubsidyPlan
from subsidy.schemas import (
    AllocationIn,
    BatchPay,
    BatchReconcile,
    HouseholdStatus,
    LoanEventIn,
    PlanCreate,
    SettlementCreate,
)

PLAN_WRITERS = ("county_officer", "admin")  # 县扶贫办 sets plans
SETTLEMENT_MAKERS = ("township_officer", "county_officer", "admin")  # 乡镇扶贫项目办/财政所 decide recipients
BATCH_PAYERS = ("township_officer", "admin")  # 乡镇财政所 approves and pays in its township
BATCH_RECONCILERS = ("township_officer", "county_officer", "admin")
OFFICE_READERS = ("village_officer", "township_officer", "county_officer", "finance_bureau", "monitor", "admin", "service")


# ---------------------------------------------------------------- who may read what


@dataclass(frozen=True)
class ReadScope:
    """What a reader is confined to: a region prefix, one household (applicant) or one bank."""

    region_prefix: str | None = None
    household_id: str | None = None
    bank_id: str | None = None


OFFICERS = ("village_officer", "township_officer", "county_officer")


def _require_officer_region(principal: Principal) -> None:
    """Officers are confined to their region; an officer token without one is refused, never read
    as province-wide (only admin, monitor, finance bureau and service tokens are)."""
    if principal.has_role(*OFFICERS) and not principal.has_role("admin") and not principal.region:
        raise Forbidden("an officer token must carry its region")


def read_scope(principal: Principal) -> ReadScope:
    _require_officer_region(principal)
    if principal.has_role("admin", "monitor", "finance_bureau", "service", "county_officer", "township_officer", "village_officer"):
        return ReadScope(region_prefix=region_prefix(principal.region) if principal.region else None)
    if principal.has_role("bank"):
        if not principal.bank_id:
            raise Forbidden("a bank token must carry bank_id")
        return ReadScope(bank_id=principal.bank_id)
    if principal.has_role("applicant"):
        if not principal.household_id:
            raise Forbidden("an applicant token must carry household_id")
        return ReadScope(household_id=principal.household_id)
    raise Forbidden("this role may not read subsidy records")


def _office_scope(principal: Principal) -> ReadScope:
    if not principal.has_role(*OFFICE_READERS):
        raise Forbidden("settlement batches are read by the offices; households read their notices")
    return read_scope(principal)


def _require_region(principal: Principal, code: str) -> None:
    _require_officer_region(principal)
    if not principal.covers_region(code):
        raise OutsideRegion(f"{code} is outside the caller's region {principal.region}")


def _may_see_account(scope: ReadScope, account: dict[str, Any]) -> bool:
    if scope.household_id is not None:
        return account["household_id"] == scope.household_id
    if scope.bank_id is not None:
        return account["bank_id"] == scope.bank_id
    return scope.region_prefix is None or account["village_code"].startswith(scope.region_prefix)


# ---------------------------------------------------------------- plans


def _plan_public(plan: SubsidyPlan, allocations: Sequence[Any]) -> dict[str, Any]:
    data = plan.model_dump()
    data["fund_remaining"] = plan.total_fund - plan.fund_committed
    data["allocations"] = [{"township_code": a.township_code, "loan_volume": a.loan_volume} for a in allocations]
    return data


def _allocation_problems(county_code: str, allocations: Sequence[AllocationIn]) -> list[dict[str, str]]:
    problems = []
    for i, alloc in enumerate(allocations):
        if division_level(alloc.township_code) != "township" or not region_contains(county_code, alloc.township_code):
            problems.append({"field": f"allocations.{i}.township_code", "message": f"{alloc.township_code} is not a township of {county_code}"})
    return problems


async def create_plan(*, session: AsyncSession, principal: Principal, data: PlanCreate) -> dict[str, Any]:
    principal.require_role(*PLAN_WRITERS)
    _require_region(principal, data.county_code)
    problems = _allocation_problems(data.county_code, data.allocations)
    if division_level(data.county_code) != "county":
        problems.insert(0, {"field": "county_code", "message": f"{data.county_code} is not a county code"})
    if problems:
        raise InvalidPlan("; ".join(p["message"] for p in problems), errors=problems)
    rate = data.subsidy_rate
    plan = SubsidyPlan(
        county_code=data.county_code,
        year=data.year,
        name=data.name,
        rate_kind=rate.kind,
        reference_name=getattr(rate, "reference", None),
        reference_rate=getattr(rate, "reference_rate", None),
        reference_ratio=getattr(rate, "ratio", None),
        rate=domain.plan_rate(
            kind=rate.kind,
            fixed_rate=getattr(rate, "rate", None),
            reference_rate=getattr(rate, "reference_rate", None),
            ratio=getattr(rate, "ratio", None),
        ),
        cap_rate_at_loan_rate=data.cap_rate_at_loan_rate,
        day_basis=data.day_basis,
        principal_cap=data.principal_cap,
        driven_household_rate=data.driven_household_rate,
        late_interest_limit=data.late_interest_limit,
        subsidy_term_months=data.subsidy_term_months,
        period_start=data.period_start,
        period_end=data.period_end,
        total_fund=data.total_fund,
        created_by=principal.subject,
    )
    if plan.rate > 1:
        raise InvalidPlan("the subsidy rate (reference rate × ratio) must not exceed 1", errors=[{"field": "subsidy_rate", "message": "above 1"}])
    allocations = [(a.township_code, a.loan_volume) for a in data.allocations]
    try:
        await repo.insert_plan(session, plan, allocations)
    except IntegrityError as exc:
        name = repo.violated_constraint(exc)
        if name == "uq_subsidy_plans_county_year":
            raise PlanExists(f"county {data.county_code} already has a plan for {data.year}") from exc
        if name == "plans_do_not_overlap":
            raise PlanOverlaps(f"county {data.county_code} already has a plan whose period overlaps {data.period_start}–{data.period_end}") from exc
        raise
    # 贴息资金总额 comes from the finance side into the plan's available fund.
    await repo.post_journal(
        session, plan_id=plan.id or 0, batch_id=None, kind="budget", memo="贴息资金总额", legs=[("finance", -plan.total_fund), ("available", plan.total_fund)]
    )
    return await get_plan(session=session, plan_id=plan.id or 0)


async def get_plan(*, session: AsyncSession, plan_id: int) -> dict[str, Any]:
    plan = await repo.get_plan(session, plan_id)
    if plan is None:
        raise PlanNotFound(f"plan {plan_id} does not exist")
    allocations = await repo.allocations_for(session, [plan_id])
    return _plan_public(plan, allocations[plan_id])


async def list_plans(
    *, session: AsyncSession, after_id: int, limit: int, county_code: str | None, year: int | None
) -> tuple[list[dict[str, Any]], int | None]:
    plans = await repo.list_plans(session, after_id=after_id, limit=limit + 1, county_code=county_code, year=year)
    more = len(plans) > limit
    plans = plans[:limit]
    allocations = await repo.allocations_for(session, [p.id or 0 for p in plans])
    items = [_plan_public(p, allocations[p.id or 0]) for p in plans]
    return items, (plans[-1].id if more and plans else None)


async def _plan_for_write(session: AsyncSession, principal: Principal, plan_id: int) -> SubsidyPlan:
    principal.require_role(*PLAN_WRITERS)
    plan = await repo.get_plan(session, plan_id, for_update=True)
    if plan is None:
        raise PlanNotFound(f"plan {plan_id} does not exist")
    _require_region(principal, plan.county_code)
    return plan


async def set_total_fund(*, session: AsyncSession, principal: Principal, plan_id: int, total_fund: Decimal) -> dict[str, Any]:
    """The county may raise or lower the fund, never below what batches reserved or paid."""
    plan = await _plan_for_write(session, principal, plan_id)
    if total_fund < plan.fund_committed:
        raise FundBelowCommitted(
            f"plan {plan_id} has {plan.fund_committed:.2f} committed to settlement batches; the fund cannot drop to {total_fund:.2f}",
            fund_committed=f"{plan.fund_committed:.2f}",
        )
    delta = total_fund - plan.total_fund
    await repo.set_total_fund(session, plan_id=plan_id, total_fund=total_fund)
    await repo.post_journal(
        session, plan_id=plan_id, batch_id=None, kind="budget_change", memo="调整贴息资金", legs=[("finance", -delta), ("available", delta)]
    )
    return await get_plan(session=session, plan_id=plan_id)


async def replace_allocations(
    *, session: AsyncSession, principal: Principal, plan_id: int, allocations: Sequence[AllocationIn]
) -> dict[str, Any]:
    plan = await _plan_for_write(session, principal, plan_id)
    problems = _allocation_problems(plan.county_code, allocations)
    codes = [a.township_code for a in allocations]
    if len(set(codes)) != len(codes):
        problems.append({"field": "body", "message": "each township appears at most once"})
    if problems:
        raise InvalidPlan("; ".join(p["message"] for p in problems), errors=problems)
    await repo.replace_allocations(session, plan_id=plan_id, allocations=[(a.township_code, a.loan_volume) for a in allocations])
    return await get_plan(session=session, plan_id=plan_id)


# ---------------------------------------------------------------- loan events and households


def _common(data: Any) -> dict[str, Any]:
    return {
        "borrower_type": data.borrower_type,
        "household_id": data.household_id if data.borrower_type == "household" else None,
        "enterprise_id": data.enterprise_id if data.borrower_type == "enterprise" else None,
        "registered_poor": data.registered_poor,
        "village_code": data.village_code,
        "township_code": data.township_code,
        "county_code": data.county_code,
        "bank_id": data.bank_id,
        "principal": data.principal,
        "annual_rate": data.annual_rate,
        "start_date": data.start_date,
        "maturity_date": data.maturity_date,
        "industry": data.industry,
        "driven_households": list(data.driven_households) if data.borrower_type == "enterprise" else [],
    }


async def apply_events(*, session: AsyncSession, events: Sequence[LoanEventIn]) -> dict[str, list[int]]:
    """Apply each loan event once by ``seq``; a replayed event changes nothing."""
    applied: list[int] = []
    duplicates: list[int] = []
    for event in sorted(events, key=lambda e: e.seq):
        fresh = await repo.record_event(
            session, seq=event.seq, loan_id=event.loan_id, type_=event.type, business_date=event.business_date,
            data=event.data.model_dump(mode="json"),
        )
        if not fresh:
            duplicates.append(event.seq)
            continue
        applied.append(event.seq)
        data = event.data
        await repo.upsert_account(session, loan_id=event.loan_id, seq=event.seq, common=_common(data))
        await _apply_effect(session, event)
    return {"applied": applied, "duplicates": duplicates}


_EVENT_PAGE: TypeAdapter[list[Any]] = TypeAdapter(list[LoanEventIn])


async def apply_log_page(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    """The ``applications-loan-events`` consumer's apply: a page of the applications log, through
    the same path as ``POST /v1/subsidy-events``. Positional, as kit.consumer calls it. An event
    this service cannot read raises, so the page (and the cursor) wait for a fix, never skip it."""
    await apply_events(session=session, events=_EVENT_PAGE.validate_python(events))


async def _apply_effect(session: AsyncSession, event: Any) -> None:
    data, loan_id, seq = event.data, event.loan_id, event.seq
    match event.type:
        case "disbursed":
            years = domain.loan_years_from_schedule(
                start_date=data.start_date,
                principal=data.principal,
                schedule=[(s.loan_year, s.due_date, s.interest_due, s.principal_due) for s in data.schedule],
            )
            await repo.upsert_loan_years(session, loan_id=loan_id, years=years)
            await repo.set_disbursement(session, loan_id=loan_id, purpose=data.purpose, term_months=data.term_months)
            await repo.change_status(session, loan_id=loan_id, seq=seq, status="active", outstanding=data.principal)
        case "repayment_recorded":
            await repo.record_repayment(session, seq=seq, loan_id=loan_id, data=data.model_dump(), loan_start=data.start_date)
        case "overdue":
            await repo.change_status(
                session, loan_id=loan_id, seq=seq, status="overdue", outstanding=data.outstanding_principal, overdue=data.overdue_principal
            )
        case "defaulted":
            await repo.change_status(
                session, loan_id=loan_id, seq=seq, status="defaulted", outstanding=data.outstanding_principal,
                overdue=data.outstanding_principal,
            )
        case "closed":
            await repo.change_status(
                session, loan_id=loan_id, seq=seq, status="closed", outstanding=data.outstanding_principal, overdue=ZERO,
                closed_on=event.business_date,
            )
        case "written_off":
            await repo.change_status(session, loan_id=loan_id, seq=seq, status="written_off", outstanding=data.outstanding_principal)
        case "renewed" | "extended":
            await _reshape(session, event)
            await repo.change_status(
                session, loan_id=loan_id, seq=seq, status="active", outstanding=data.outstanding_principal, maturity_date=data.maturity_date
            )
        case "diverted":
            await repo.change_status(session, loan_id=loan_id, seq=seq, status="diverted")
        case _:
            pass  # an event type this service does not act on; its common attributes were kept


async def _reshape(session: AsyncSession, event: Any) -> None:
    """续贷 adds loan-years after the old maturity; 展期 moves the last year's due date and interest.
    The events carry the new maturity (and the renewal term), so the years follow from the shared
    1年1还 schedule convention."""
    data, loan_id = event.data, event.loan_id
    if data.schedule:
        # The producer's own schedule is the truth; years it does not name stay as they were.
        current = await repo.schedule_of(session, loan_id)
        revised = [(s.loan_year, s.due_date, s.interest_due, s.principal_due) for s in data.schedule]
        years = domain.loan_years_from_schedule(
            start_date=data.start_date, principal=data.principal, schedule=domain.revised_schedule(current, revised)
        )
        await repo.upsert_loan_years(session, loan_id=loan_id, years=years)
        return
    # Fallback for events without a schedule (before applications sent one): rebuild it here.
    last = await repo.last_loan_year(session, loan_id)
    if last is None or data.maturity_date <= last["due_date"]:
        return  # nothing scheduled to reshape, or a replay of a change already applied
    if event.type == "extended":
        months = domain.months_between(last["due_date"], data.maturity_date)
        extra = domain.extension_interest(outstanding=data.outstanding_principal, annual_rate=data.annual_rate, months=months)
        await repo.extend_year(session, loan_id=loan_id, loan_year=last["loan_year"], due_date=data.maturity_date, extra_interest=extra)
        return
    await repo.roll_over_principal(session, loan_id=loan_id, loan_year=last["loan_year"])
    years = domain.renewal_years(
        first_year=last["loan_year"] + 1, start_date=last["due_date"], outstanding=data.outstanding_principal,
        annual_rate=data.annual_rate,
        term_months=data.term_months or max(1, domain.months_between(last["due_date"], data.maturity_date)),
    )
    await repo.upsert_loan_years(session, loan_id=loan_id, years=years)


async def update_households(*, session: AsyncSession, households: Sequence[HouseholdStatus]) -> int:
    """建档立卡 status from the poverty office's registry: the last entry for a household wins."""
    latest = {h.household_id: h.registered for h in households}
    await repo.upsert_households(session, household_ids=list(latest), registered=list(latest.values()))
    return len(latest)


# ---------------------------------------------------------------- accounts


async def list_accounts(
    *, session: AsyncSession, principal: Principal, after: str | None, limit: int, household_id: str | None, status: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    scope = read_scope(principal)
    if scope.household_id is not None:
        if household_id is not None and household_id != scope.household_id:
            raise NotYours("an applicant reads only its own household's subsidy accounts")
        household_id = scope.household_id
    rows = await repo.list_accounts(
        session, after=after, limit=limit + 1, region_prefix=scope.region_prefix, household_id=household_id, bank_id=scope.bank_id, status=status
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1]["loan_id"] if more and rows else None)


async def _visible_account(session: AsyncSession, principal: Principal, loan_id: str) -> dict[str, Any]:
    scope = read_scope(principal)
    account = await repo.get_account(session, loan_id)
    if account is None:
        raise AccountNotFound(f"no subsidy account for loan {loan_id}")
    if not _may_see_account(scope, account):
        raise NotYours(f"loan {loan_id} is not the caller's to read")
    return account


async def get_account(*, session: AsyncSession, principal: Principal, loan_id: str) -> dict[str, Any]:
    account = await _visible_account(session, principal, loan_id)
    account["years"] = await repo.loan_years(session, loan_id)
    return account


async def approval_form(*, session: AsyncSession, principal: Principal, loan_id: str) -> dict[str, Any]:
    """扶贫贴息贷款申报审批表: the loan, the borrower, and the subsidy each year is expected to earn
    under the plan in force when it falls due (if it is repaid on time)."""
    account = await _visible_account(session, principal, loan_id)
    years = await repo.loan_years(session, loan_id)
    expected = []
    total = ZERO
    for year in years:
        plan = await repo.plan_covering(session, county_code=account["county_code"], day=year["due_date"] - timedelta(days=1))
        amount, days = None, 0
        if plan is not None:
            days = domain.subsidy_days(
                year_start=year["start_date"], year_end=year["due_date"], loan_start=account["start_date"],
                subsidy_term_months=plan.subsidy_term_months,
            )
            amount = domain.subsidy_for_year(
                principal=year["opening_principal"],
                rate=domain.rate_for_loan(plan_rate=plan.rate, loan_rate=account["annual_rate"], cap_at_loan_rate=plan.cap_rate_at_loan_rate),
                days=days,
                basis=plan.day_basis,
                cap=plan.principal_cap,
                driven_households=len(account["driven_households"]) if account["borrower_type"] == "enterprise" else 0,
                driven_rate=plan.driven_household_rate,
            )
            total += amount
        expected.append(
            {"loan_year": year["loan_year"], "start_date": year["start_date"], "due_date": year["due_date"],
             "plan_id": plan.id if plan else None, "days": days, "amount": amount}
        )
    # The cap of the plan in force at disbursement; none is known before the county sets a plan.
    first_plan = await repo.plan_covering(session, county_code=account["county_code"], day=account["start_date"])
    steps = ("申请人", "村委会审核", "乡镇扶贫项目办审核", "乡镇财政所审核", "县扶贫办审批", "贷款银行意见")
    return {
        **account,
        "subsidised_principal": min(account["principal"], first_plan.principal_cap) if first_plan else None,
        "expected_subsidy": expected,
        "expected_subsidy_total": total,
        "granted_to_date": account["subsidy_granted"],
        "approvals": [{"step": step, "opinion": None, "signed_by": None, "signed_on": None} for step in steps],
    }


# ---------------------------------------------------------------- settlement


async def create_settlement(
    *, session: AsyncSession, principal: Principal, data: SettlementCreate, applications: ApplicationsClient, chunk_loans: int
) -> dict[str, Any]:
    """结算: every loan-year of the township that fell due in the period, judged and priced set-based.

    The plan row is locked for the whole computation, so two settlements of one plan run one after
    the other and both see the fund the other reserved.
    """
    principal.require_role(*SETTLEMENT_MAKERS)
    _require_region(principal, data.township_code)
    plan = await repo.get_plan(session, data.plan_id)
    if plan is None:
        raise PlanNotFound(f"plan {data.plan_id} does not exist")
    period_start = data.period_start or plan.period_start
    period_end = data.period_end or plan.period_end
    problems = []
    if division_level(data.township_code) != "township" or not region_contains(plan.county_code, data.township_code):
        problems.append({"field": "township_code", "message": f"{data.township_code} is not a township of county {plan.county_code}"})
    if period_start < plan.period_start or period_end > plan.period_end:
        problems.append({"field": "period", "message": f"the period must lie within the plan's {plan.period_start}–{plan.period_end}"})
    if period_end < period_start:
        problems.append({"field": "period_end", "message": "period_end must not be before period_start"})
    if problems:
        raise InvalidSettlement("; ".join(p["message"] for p in problems), errors=problems)
    business_date = await applications.business_date(token=principal.token)
    if not domain.period_has_ended(period_end=period_end, business_date=business_date):
        raise PeriodNotEnded(
            f"the period ends {period_end}; the business date is {business_date}, so it cannot be settled yet",
            business_date=business_date.isoformat(),
        )
    # Lock the plan only now, after the call to applications, so no row lock is held across HTTP.
    plan = await repo.get_plan(session, data.plan_id, for_update=True)
    assert plan is not None
    batch = await repo.insert_batch(
        session,
        SettlementBatch(
            plan_id=plan.id or 0, county_code=plan.county_code, township_code=data.township_code, period_start=period_start,
            period_end=period_end, business_date=business_date, created_by=principal.subject,
        ),
    )
    batch_id = batch.id or 0
    params = {
        "batch_id": batch_id, "county": plan.county_code, "township": data.township_code, "chunk": chunk_loans,
        "period_start": period_start, "period_end": period_end, "term_months": plan.subsidy_term_months,
        "cap": plan.principal_cap, "cap_at_loan_rate": plan.cap_rate_at_loan_rate, "rate": plan.rate,
        "driven_rate": plan.driven_household_rate, "late_limit": plan.late_interest_limit, "basis": plan.day_basis,
    }
    after = ""
    await repo.without_jit(session)
    try:
        while True:
            last = await repo.last_loan_of_chunk(session, county=plan.county_code, township=data.township_code, after=after, chunk=chunk_loans)
            if last is None:
                break
            await repo.settle_chunk(session, params={**params, "after": after, "upto": last})
            after = last
    except IntegrityError as exc:
        if repo.violated_constraint(exc) == "ux_settlement_lines_paid_once":
            raise SettlementRace("another settlement claimed some of these loan-years at the same time; retry") from exc
        raise
    remaining = plan.total_fund - plan.fund_committed
    fund_rule = "full"
    if await repo.eligible_total(session, batch_id) > remaining:
        # 资金不足: the remaining fund is shared pro rata; each reduced line says so.
        fund_rule = "pro_rata"
        await repo.grant_pro_rata(session, batch_id=batch_id, remaining=remaining)
    await repo.insert_recipients(session, batch_id)
    counts = await repo.batch_counts(session, batch_id)
    await repo.set_batch(session, batch_id=batch_id, remaining_before=remaining, fund_rule=fund_rule, **counts)
    granted = Decimal(counts["granted_total"])
    await repo.change_fund_committed(session, plan_id=plan.id or 0, committed=granted, paid=ZERO)
    await repo.post_journal(
        session, plan_id=plan.id or 0, batch_id=batch_id, kind="reserve", memo="结算批次预留贴息资金",
        legs=[("available", -granted), ("reserved", granted)],
    )
    return await _batch_public(session, batch_id)


async def _batch_public(session: AsyncSession, batch_id: int) -> dict[str, Any]:
    batch = await repo.get_batch(session, batch_id)
    if batch is None:
        raise BatchNotFound(f"settlement batch {batch_id} does not exist")
    reasons = await repo.excluded_by_reason(session, [batch_id])
    return {**batch.model_dump(), "excluded_by_reason": reasons[batch_id]}


async def _visible_batch(session: AsyncSession, principal: Principal, batch_id: int) -> SettlementBatch:
    scope = _office_scope(principal)
    batch = await repo.get_batch(session, batch_id)
    if batch is None:
        raise BatchNotFound(f"settlement batch {batch_id} does not exist")
    if scope.region_prefix and not batch.township_code.startswith(scope.region_prefix):
        # A village officer sees its township's batch only through notices of its village.
        if not (principal.region and region_contains(batch.township_code, principal.region)):
            raise OutsideRegion(f"batch {batch_id} is outside the caller's region {principal.region}")
    return batch


async def get_batch(*, session: AsyncSession, principal: Principal, batch_id: int) -> dict[str, Any]:
    await _visible_batch(session, principal, batch_id)
    return await _batch_public(session, batch_id)


async def list_batches(
    *, session: AsyncSession, principal: Principal, after_id: int, limit: int, plan_id: int | None, status: str | None
) -> tuple[list[dict[str, Any]], int | None]:
    scope = _office_scope(principal)
    prefix = scope.region_prefix
    if prefix and len(prefix) > 9:
        prefix = prefix[:9]  # a village officer sees its township's batches
    batches = await repo.list_batches(session, after_id=after_id, limit=limit + 1, region_prefix=prefix, plan_id=plan_id, status=status)
    more = len(batches) > limit
    batches = batches[:limit]
    reasons = await repo.excluded_by_reason(session, [b.id or 0 for b in batches])
    items = [{**b.model_dump(), "excluded_by_reason": reasons[b.id or 0]} for b in batches]
    return items, (batches[-1].id if more and batches else None)


async def batch_lines(
    *, session: AsyncSession, principal: Principal, batch_id: int, after: tuple[str, int] | None, limit: int,
    eligible: bool | None, reason: str | None,
) -> tuple[list[dict[str, Any]], tuple[str, int] | None]:
    await _visible_batch(session, principal, batch_id)
    rows = await repo.batch_lines(session, batch_id=batch_id, after=after, limit=limit + 1, eligible=eligible, reason=reason)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, ((rows[-1]["loan_id"], rows[-1]["loan_year"]) if more and rows else None)


async def _batch_for_action(session: AsyncSession, principal: Principal, batch_id: int, roles: tuple[str, ...], action: str) -> tuple[SettlementBatch, str]:
    principal.require_role(*roles)
    batch = await repo.get_batch(session, batch_id, for_update=True)
    if batch is None:
        raise BatchNotFound(f"settlement batch {batch_id} does not exist")
    _require_region(principal, batch.township_code)
    target = domain.next_batch_status(batch.status, action)
    if target is None:
        needed = next((s for (s, a) in domain.BATCH_TRANSITIONS if a == action), "?")
        raise BatchStateConflict(
            f"batch {batch_id} is {batch.status}; {action} needs a {needed} batch", current_status=batch.status
        )
    return batch, target


async def approve_batch(*, session: AsyncSession, principal: Principal, batch_id: int) -> dict[str, Any]:
    """乡镇财政所审核: the township finance office approves the recipients and amounts."""
    _, target = await _batch_for_action(session, principal, batch_id, BATCH_PAYERS, "approve")
    await repo.set_batch(session, batch_id=batch_id, status=target, approved_by=principal.subject)
    await repo.stamp_approval(session, batch_id)
    return await _batch_public(session, batch_id)


async def pay_batch(
    *, session: AsyncSession, principal: Principal, batch_id: int, data: BatchPay, webhook_max_lines: int = 5_000
) -> dict[str, Any]:
    """发放: the township finance office pays each recipient directly and records the reference.
    Each bank with loans paid in the batch is told (webhook ``subsidy.paid``, through the outbox in
    this same transaction)."""
    batch, target = await _batch_for_action(session, principal, batch_id, BATCH_PAYERS, "pay")
    ids = [p.recipient_id for p in data.payments]
    refs = [p.payment_reference for p in data.payments]
    problems = []
    if len(set(ids)) != len(ids):
        problems.append({"field": "payments", "message": "a recipient appears more than once"})
    if len(set(refs)) != len(refs):
        problems.append({"field": "payments", "message": "a payment reference appears more than once"})
    if problems:
        raise PaymentsIncomplete("; ".join(p["message"] for p in problems), errors=problems)
    unknown = await repo.record_payment_references(session, batch_id=batch_id, recipient_ids=ids, references=refs)
    missing = await repo.unpaid_recipients(session, batch_id=batch_id, limit=50)
    if unknown or missing:
        problems = [{"field": "payments", "message": f"{r} is not a recipient of batch {batch_id}"} for r in unknown[:50]]
        problems += [{"field": "payments", "message": f"recipient {r} has no payment reference"} for r in missing]
        raise PaymentsIncomplete(
            f"batch {batch_id} needs exactly one payment per recipient: {len(unknown)} unknown, {len(missing)}+ missing",
            errors=problems, unknown=unknown[:50], missing=missing,
        )
    await repo.set_batch(session, batch_id=batch_id, status=target, paid_by=principal.subject, paid_on=data.paid_on)
    await repo.change_fund_committed(session, plan_id=batch.plan_id, committed=ZERO, paid=batch.granted_total)
    await repo.post_journal(
        session, plan_id=batch.plan_id, batch_id=batch_id, kind="payout", memo="贴息资金发放",
        legs=[("reserved", -batch.granted_total), ("paid", batch.granted_total)],
    )
    await repo.stamp_payment(session, batch_id)
    await repo.enqueue_paid_messages(session, batch_id=batch_id, max_lines=webhook_max_lines)
    return await _batch_public(session, batch_id)


async def reconcile_batch(*, session: AsyncSession, principal: Principal, batch_id: int, data: BatchReconcile) -> dict[str, Any]:
    """对账: the statement must show exactly what the batch paid."""
    batch, target = await _batch_for_action(session, principal, batch_id, BATCH_RECONCILERS, "reconcile")
    if data.statement_total != batch.granted_total:
        raise ReconciliationMismatch(
            f"the statement shows {data.statement_total:.2f} but batch {batch_id} paid {batch.granted_total:.2f}",
            errors=[{"field": "statement_total", "message": f"expected {batch.granted_total:.2f}"}],
        )
    await repo.set_batch(
        session, batch_id=batch_id, status=target, reconciled_by=principal.subject, reconciled_on=data.reconciled_on,
        statement_reference=data.statement_reference,
    )
    return await _batch_public(session, batch_id)


async def cancel_batch(*, session: AsyncSession, principal: Principal, batch_id: int) -> dict[str, Any]:
    """A draft is withdrawn: its loan-years may be settled again and its reserve goes back to the fund."""
    batch, target = await _batch_for_action(session, principal, batch_id, SETTLEMENT_MAKERS, "cancel")
    await repo.release_claims(session, batch_id)
    await repo.set_batch(session, batch_id=batch_id, status=target, cancelled_by=principal.subject)
    await repo.change_fund_committed(session, plan_id=batch.plan_id, committed=-batch.granted_total, paid=ZERO)
    await repo.post_journal(
        session, plan_id=batch.plan_id, batch_id=batch_id, kind="release", memo="撤销结算批次",
        legs=[("reserved", -batch.granted_total), ("available", batch.granted_total)],
    )
    return await _batch_public(session, batch_id)


# ---------------------------------------------------------------- documents


async def register_csv(
    *, session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], principal: Principal, batch_id: int, village_code: str | None
) -> AsyncIterator[str]:
    """贴息资金发放登记表 as CSV. Access is checked now; the rows stream afterwards from a session of
    their own, since the request's session is committed and closed before the body is sent."""
    batch = await _visible_batch(session, principal, batch_id)
    plan = await repo.get_plan(session, batch.plan_id)
    assert plan is not None

    async def pages() -> AsyncIterator[list[dict[str, Any]]]:
        async with sessionmaker() as reader:
            async for page in repo.register_rows(reader, batch_id=batch_id, village_code=village_code):
                yield page

    return documents.register_csv(batch, plan, pages())


async def register_pdf(
    *, session: AsyncSession, principal: Principal, batch_id: int, village_code: str | None, max_lines: int
) -> bytes:
    """贴息资金发放登记表 as PDF; a register too long to print is asked for by village or as CSV."""
    batch = await _visible_batch(session, principal, batch_id)
    plan = await repo.get_plan(session, batch.plan_id)
    assert plan is not None
    count = await repo.count_register_rows(session, batch_id=batch_id, village_code=village_code)
    if count > max_lines:
        raise RegisterTooLong(
            f"the register has {count} lines; a PDF holds at most {max_lines}: ask for one village (?village_code=) or the CSV",
            errors=[{"field": "village_code", "message": "needed for a register this long"}],
        )
    rows: list[dict[str, Any]] = []
    async for page in repo.register_rows(session, batch_id=batch_id, village_code=village_code):
        rows.extend(page)
    return documents.register_pdf(batch, plan, rows)


def _notice_visible(principal: Principal, scope: ReadScope, notice: dict[str, Any]) -> bool:
    if scope.household_id is not None:
        return notice["recipient_id"] == scope.household_id
    if scope.bank_id is not None:
        return False
    return scope.region_prefix is None or notice["village_code"].startswith(scope.region_prefix)


async def list_notices(
    *, session: AsyncSession, principal: Principal, after: tuple[int, str] | None, limit: int, household_id: str | None, batch_id: int | None
) -> tuple[list[dict[str, Any]], tuple[int, str] | None]:
    scope = read_scope(principal)
    if scope.bank_id is not None:
        raise Forbidden("collection notices go to households and the offices, not to banks")
    if scope.household_id is not None:
        if household_id is not None and household_id != scope.household_id:
            raise NotYours("an applicant reads only its own notices")
        household_id = scope.household_id
    rows = await repo.list_notices(
        session, after=after, limit=limit + 1, recipient_id=household_id, region_prefix=scope.region_prefix, batch_id=batch_id
    )
    more = len(rows) > limit
    rows = rows[:limit]
    for row in rows:
        row["pdf"] = f"/v1/subsidy-notices/{row['batch_id']}/{row['recipient_id']}.pdf"
    return rows, ((rows[-1]["batch_id"], rows[-1]["recipient_id"]) if more and rows else None)


async def notice_pdf(*, session: AsyncSession, principal: Principal, batch_id: int, recipient_id: str) -> bytes:
    """贴息资金领取通知书 for one recipient of an approved (or later) batch."""
    scope = read_scope(principal)
    batch = await repo.get_batch(session, batch_id)
    recipient = await repo.get_recipient(session, batch_id=batch_id, recipient_id=recipient_id) if batch else None
    if batch is None or recipient is None:
        raise NoticeNotFound(f"batch {batch_id} has no payment to {recipient_id}")
    if not _notice_visible(principal, scope, recipient):
        raise NotYours(f"the notice for {recipient_id} is not the caller's to read")
    if batch.status not in domain.NOTICE_STATUSES:
        raise NoticeNotReady(f"batch {batch_id} is {batch.status}; notices are issued once it is approved", current_status=batch.status)
    plan = await repo.get_plan(session, batch.plan_id)
    assert plan is not None
    lines = await repo.recipient_lines(session, batch_id=batch_id, recipient_id=recipient_id)
    return documents.notice_pdf(batch, plan, recipient, lines)


# ---------------------------------------------------------------- figures

_LEVELS = {"county": 6, "township": 9, "village": 12}


def _region_for(principal: Principal, scope: ReadScope, region: str | None) -> str | None:
    """The region prefix a reader asks for: its own region when none is named; a named one must lie
    inside the caller's region (officers), any region for the province-wide readers."""
    if region is None:
        return scope.region_prefix
    problem = division_code_error(region)
    if problem:
        raise InvalidInput(f"region {region}: {problem}", errors=[{"field": "region", "message": problem}])
    _require_region(principal, region)
    return region_prefix(region)


async def paid_figures(*, session: AsyncSession, principal: Principal, level: str, year: int | None, region: str | None) -> dict[str, Any]:
    """Subsidy paid inside a region (any division level), grouped by ``level`` and plan year, with
    the region's total; a region with nothing paid answers zeros."""
    scope = _office_scope(principal)
    prefix = _region_for(principal, scope, region)
    prefix_len = max(_LEVELS[level], len(prefix or ""))
    items = await repo.paid_figures(session, prefix_len=prefix_len, region_prefix=prefix, year=year)
    total = await repo.paid_total(session, region_prefix=prefix, year=year)
    grouped = {6: "county", 9: "township", 12: "village"}.get(prefix_len, level)
    return {"region": region, "level": grouped, "year": year, "total": total, "items": items}


# ---------------------------------------------------------------- exports


@dataclass(frozen=True)
class ExportPosition:
    """Where an export's page sequence stands: the snapshot of its first page (the high-water mark:
    only batches visible then are listed, paid only if their payment was visible then) and the
    last (batch_id, loan_id, loan_year) sent."""

    snapshot: str
    after: tuple[int, str, int] | None


async def export_settlement_lines(
    *, session: AsyncSession, principal: Principal, region: str | None, date_from: date | None, date_to: date | None,
    position: ExportPosition | None, limit: int,
) -> tuple[list[dict[str, Any]], ExportPosition | None]:
    """One page of settlement lines (granted or excluded) of the period, for departments and
    regulators. The period date of a line is its batch's payment date, or the batch's business
    date while unpaid. Officers see their region, a bank its own loans, the province-wide readers
    (monitor, finance bureau, admin, service) everything; applicants have their notices instead."""
    scope = read_scope(principal)
    if scope.household_id is not None:
        raise Forbidden("exports are for the offices, departments, regulators and banks")
    prefix = _region_for(principal, scope, region)
    if position is None:
        position = ExportPosition(snapshot=await repo.current_snapshot(session), after=None)
    rows = await repo.export_lines(
        session, snapshot=position.snapshot, region_prefix=prefix, bank_id=scope.bank_id, date_from=date_from, date_to=date_to,
        after=position.after, limit=limit + 1,
    )
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, ExportPosition(snapshot=position.snapshot, after=(last["batch_id"], last["loan_id"], last["loan_year"]))


async def fund_figures(*, session: AsyncSession, principal: Principal, year: int | None) -> list[dict[str, Any]]:
    """Fund used and remaining per plan, with the ledger's balances beside the plan's figures."""
    _office_scope(principal)
    plans, after = [], 0
    while True:
        page = await repo.list_plans(session, after_id=after, limit=500, county_code=None, year=year)
        if not page:
            break
        plans.extend(page)
        after = page[-1].id or 0
    if principal.region:
        # An officer sees the plans of its own county, or of the counties inside its region.
        region = principal.region
        plans = [p for p in plans if region_contains(p.county_code, region) or region_contains(region, p.county_code)]
    balances = await repo.ledger_balances(session, [p.id or 0 for p in plans])
    return [
        {
            "plan_id": p.id, "county_code": p.county_code, "year": p.year, "total_fund": p.total_fund,
            "committed": p.fund_committed, "paid": p.fund_paid, "remaining": p.total_fund - p.fund_committed,
            "ledger_available": balances.get((p.id or 0, "available"), ZERO),
            "ledger_reserved": balances.get((p.id or 0, "reserved"), ZERO),
            "ledger_paid": balances.get((p.id or 0, "paid"), ZERO),
        }
        for p in plans
    ]

