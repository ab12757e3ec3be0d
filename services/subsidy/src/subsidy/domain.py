"""Pure rules of the subsidy service: plain values in, values out; no I/O.

The settlement SQL in ``repo.py`` computes the same rules set-based for a million loan-years; the
integration tests check that both agree loan by loan, so these functions are the reference.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

from kit.money import quantize_fen, split_by_shares

RATE_PLACES = Decimal("0.000001")
DAY_BASES = (360, 365)

# Why a loan-year gets no subsidy, in the order they are checked (the first that applies is given).
DIVERTED = "diverted"  # 资金挪用: the loan was used outside its purpose
WRITTEN_OFF = "written_off"  # 核销
PRINCIPAL_OVERDUE = "principal_overdue"  # 本金逾期: lost while principal is overdue
LATE_INTEREST = "late_interest"  # 1年有2次不按时还利息就不能贴息了
NOT_REPAID = "not_repaid"  # 还本付息后方可兑付: the year's principal and interest are not yet repaid
HOUSEHOLD_NOT_REGISTERED = "household_not_registered"  # 建档立卡 status lost (removed)
OUTSIDE_SUBSIDY_TERM = "outside_subsidy_term"  # 贴息期限 over before this year began
FUND_EXHAUSTED = "fund_exhausted_pro_rata"  # granted less than computed: the plan's fund ran short

EXCLUSION_REASONS = (DIVERTED, WRITTEN_OFF, PRINCIPAL_OVERDUE, LATE_INTEREST, NOT_REPAID, HOUSEHOLD_NOT_REGISTERED, OUTSIDE_SUBSIDY_TERM)

# Settlement batch state machine: draft → approved (乡镇财政所审核) → paid (发放) → reconciled (对账);
# a draft may be cancelled, which releases its loan-years and reserved fund.
BATCH_TRANSITIONS: dict[tuple[str, str], str] = {
    ("draft", "approve"): "approved",
    ("approved", "pay"): "paid",
    ("paid", "reconcile"): "reconciled",
    ("draft", "cancel"): "cancelled",
}
BATCH_STATUSES = ("draft", "approved", "paid", "reconciled", "cancelled")
NOTICE_STATUSES = frozenset({"approved", "paid", "reconciled"})


def next_batch_status(current: str, action: str) -> str | None:
    """The status after ``action``, or None when the action is not allowed from ``current``."""
    return BATCH_TRANSITIONS.get((current, action))


def plan_rate(*, kind: str, fixed_rate: Decimal | None, reference_rate: Decimal | None, ratio: Decimal | None) -> Decimal:
    """贴息利率: a fixed rate, or a reference rate (e.g. the 1-year LPR) times a ratio, to six places."""
    if kind == "fixed":
        if fixed_rate is None:
            raise ValueError("a fixed plan rate needs a rate")
        return fixed_rate.quantize(RATE_PLACES, rounding=ROUND_HALF_UP)
    if reference_rate is None or ratio is None:
        raise ValueError("a reference plan rate needs the reference rate and the ratio")
    return (reference_rate * ratio).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def rate_for_loan(*, plan_rate: Decimal, loan_rate: Decimal, cap_at_loan_rate: bool) -> Decimal:
    """The subsidy rate a loan gets: the plan's, but never more than the interest it bears when the
    plan says so (贴息不超过实际利息)."""
    return min(plan_rate, loan_rate) if cap_at_loan_rate else plan_rate


def add_months(day: date, months: int) -> date:
    """``day`` plus whole months, clamped to the month's last day (as PostgreSQL's ``+ interval``)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def year_end(*, due_date: date, closed_on: date | None) -> date:
    """A loan-year ends at its due date, or earlier when the loan was closed (repaid) early."""
    return min(due_date, closed_on) if closed_on is not None else due_date


def subsidy_days(*, year_start: date, year_end: date, loan_start: date, subsidy_term_months: int) -> int:
    """Interest days of a loan-year that fall inside the subsidy term (贴息期限) counted from the
    loan's start: partial years count their actual days."""
    term_end = add_months(loan_start, subsidy_term_months)
    return max(0, (min(year_end, term_end) - year_start).days)


def driven_principal(*, principal: Decimal, driven_households: int, cap: Decimal) -> Decimal:
    """带贫: each driven household brings up to one household cap of the enterprise's principal
    into the extra subsidy, never more than the principal itself."""
    return min(principal, cap * driven_households)


def subsidy_for_year(
    *,
    principal: Decimal,
    rate: Decimal,
    days: int,
    basis: int,
    cap: Decimal,
    driven_households: int = 0,
    driven_rate: Decimal = Decimal(0),
) -> Decimal:
    """贴息金额 = min(principal, cap) × rate × days ÷ basis, plus for an enterprise 带贫 loan
    min(principal, driven households × cap) × driven rate × days ÷ basis; rounded half-up to the fen
    once, at the end. Penalty interest never enters: the amount is computed from principal and rate.

    >>> subsidy_for_year(principal=Decimal("50000"), rate=Decimal("0.0435"), days=365, basis=365, cap=Decimal("50000"))
    Decimal('2175.00')
    """
    if basis not in DAY_BASES:
        raise ValueError(f"day basis must be 360 or 365, not {basis}")
    if days < 0:
        raise ValueError("days must not be negative")
    base = min(principal, cap)
    extra = driven_principal(principal=principal, driven_households=driven_households, cap=cap)
    with localcontext() as ctx:
        ctx.prec = 60
        exact = (base * rate + extra * driven_rate) * days / basis
    return quantize_fen(exact)


@dataclass(frozen=True)
class LoanYearFacts:
    """What settlement needs to know about one loan-year and its loan."""

    status: str
    overdue_principal: Decimal
    principal_paid_late: bool
    late_interest_payments: int
    interest_due: Decimal
    interest_paid: Decimal
    principal_due: Decimal
    principal_paid: Decimal
    borrower_type: str
    household_registered: bool
    days: int
    closed_early: bool = False  # closed before the due date: the bank closes a loan only once it is repaid


def exclusion_reason(facts: LoanYearFacts, *, late_interest_limit: int) -> str | None:
    """None when the loan-year may be subsidised, else the first reason it may not."""
    if facts.status == "diverted":
        return DIVERTED
    if facts.status == "written_off":
        return WRITTEN_OFF
    # A loan overdue on interest only is not "principal overdue": its year waits for the interest
    # (not_repaid) and counts the late payment instead.
    if facts.status == "defaulted" or facts.overdue_principal > 0 or facts.principal_paid_late:
        return PRINCIPAL_OVERDUE
    if facts.late_interest_payments >= late_interest_limit:
        return LATE_INTEREST
    if not facts.closed_early and (facts.interest_paid < facts.interest_due or facts.principal_paid < facts.principal_due):
        return NOT_REPAID
    if facts.borrower_type == "household" and not facts.household_registered:
        return HOUSEHOLD_NOT_REGISTERED
    if facts.days == 0:
        return OUTSIDE_SUBSIDY_TERM
    return None


def grant_within_fund(amounts: Sequence[Decimal], remaining: Decimal) -> list[Decimal]:
    """What each eligible loan-year is granted from the plan's remaining fund.

    When the fund covers the batch, everyone gets the full amount. Otherwise the remaining fund is
    shared pro rata to the computed amounts (按比例), largest remainder to the fen, so the batch
    uses the remaining fund exactly and no loan-year gets more than it computed.
    """
    total = sum(amounts, Decimal("0.00"))
    if total <= remaining:
        return list(amounts)
    return split_by_shares(remaining, amounts)


def last_interest_day(*, year_end: date) -> date:
    """A loan-year is settled in the period holding its last interest day, the day before it ends."""
    return year_end - timedelta(days=1)


def period_has_ended(*, period_end: date, business_date: date) -> bool:
    """A subsidy period can be settled only once its last day is behind the business date."""
    return period_end < business_date


@dataclass(frozen=True)
class ScheduledYear:
    loan_year: int
    start_date: date
    due_date: date
    opening_principal: Decimal
    interest_due: Decimal
    principal_due: Decimal


def loan_years_from_schedule(
    *, start_date: date, principal: Decimal, schedule: Sequence[tuple[int, date, Decimal, Decimal]]
) -> list[ScheduledYear]:
    """Loan-years from a disbursement schedule of (loan_year, due_date, interest_due, principal_due).

    A year starts where the previous one fell due (the first at the loan's start); its opening
    principal is the principal less what earlier years were due to repay (1年1还).
    """
    years: list[ScheduledYear] = []
    begin, opening = start_date, principal
    for loan_year, due_date, interest_due, principal_due in sorted(schedule, key=lambda s: s[0]):
        years.append(ScheduledYear(loan_year, begin, due_date, max(opening, Decimal("0.00")), interest_due, principal_due))
        begin, opening = due_date, opening - principal_due
    return years


def revised_schedule(
    current: Sequence[tuple[int, date, Decimal, Decimal]], revised: Sequence[tuple[int, date, Decimal, Decimal]]
) -> list[tuple[int, date, Decimal, Decimal]]:
    """The schedule after a 续贷 or 展期 sent with its own schedule: each (loan_year, due_date,
    interest_due, principal_due) the event names replaces the year of that number, years it does
    not name stay as they were, so a full or a partial schedule both give the whole loan."""
    merged = {item[0]: item for item in current}
    merged.update({item[0]: item for item in revised})
    return [merged[year] for year in sorted(merged)]


def months_between(earlier: date, later: date) -> int:
    """Whole calendar months from ``earlier`` to ``later`` (a maturity moved by 展期)."""
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def renewal_years(
    *, first_year: int, start_date: date, outstanding: Decimal, annual_rate: Decimal, term_months: int
) -> list[ScheduledYear]:
    """续贷: the principal still owed rolls into new loan-years from the old maturity, on the shared
    schedule convention (1年1还): principal spread over the years in proportion to their months
    (largest remainder), each year's interest = opening balance × rate × months ÷ 12, to the fen."""
    if term_months < 1:
        raise ValueError("a renewal term is at least one month")
    months = [min(12, term_months - 12 * k) for k in range((term_months + 11) // 12)]
    shares = split_by_shares(outstanding, [Decimal(m) for m in months])
    years: list[ScheduledYear] = []
    balance, elapsed, begin = outstanding, 0, start_date
    for index, (month_count, part) in enumerate(zip(months, shares, strict=True)):
        elapsed += month_count
        due = add_months(start_date, elapsed)
        interest = quantize_fen(balance * annual_rate * Decimal(month_count) / Decimal(12))
        years.append(ScheduledYear(first_year + index, begin, due, balance, interest, part))
        balance, begin = balance - part, due
    return years


def extension_interest(*, outstanding: Decimal, annual_rate: Decimal, months: int) -> Decimal:
    """展期: the last loan-year falls due ``months`` later and bears interest for them."""
    return quantize_fen(outstanding * annual_rate * Decimal(months) / Decimal(12))
