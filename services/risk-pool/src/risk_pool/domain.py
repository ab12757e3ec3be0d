"""Pure rules of the risk-pool service: plain values in, values out; no I/O.

Policy: ``shared/domain/policy.md`` §6 (风险补偿金, 风险分担, 熔断) and §7 (money).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from kit.money import ZERO, quantize_fen, split_by_shares

PARTIES = ("government", "bank", "insurer", "guarantor", "reguarantor")
OUTSIDE_PARTIES = frozenset({"insurer", "guarantor", "reguarantor"})  # need a party_account
EVENT_TYPES = frozenset({"disbursed", "repayment_recorded", "overdue", "defaulted", "closed", "written_off", "renewed", "extended",
                         "diverted"})
LIVE_STATUSES = frozenset({"active", "overdue", "defaulted"})
RATIO_PLACES = Decimal("0.000001")

# Defaults of a county policy profile (policy.md §6); every one is overridable per scheme or county.
DEFAULT_LEVERAGE = Decimal("10")
DEFAULT_CLAIM_TRIGGER_DAYS = 90
DEFAULT_HOUSEHOLD_CAP = Decimal("50000.00")
DEFAULT_VILLAGE_NPL_THRESHOLD = Decimal("0.05")
DEFAULT_POOR_OVERDUE_THRESHOLD = Decimal("0.07")
DEFAULT_TOWNSHIP_THRESHOLD = Decimal("0.30")
DEFAULT_NPL_DAYS = 90


# ---- 风险分担: sharing schemes -------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    party: str
    share: Decimal
    party_account: str | None = None


def share_problems(shares: Sequence[Share]) -> list[str]:
    """Everything wrong with a scheme's shares, so one 422 can list it all."""
    problems: list[str] = []
    if not shares:
        return ["a scheme needs at least one party"]
    seen: set[str] = set()
    for s in shares:
        if s.party not in PARTIES:
            problems.append(f"unknown party {s.party!r}; parties are {', '.join(PARTIES)}")
        if s.party in seen:
            problems.append(f"party {s.party} appears twice")
        seen.add(s.party)
        if s.share <= 0 or s.share > 1:
            problems.append(f"share of {s.party} must be above 0 and at most 1, not {s.share}")
        if s.party in OUTSIDE_PARTIES and not s.party_account:
            problems.append(f"party {s.party} needs a party_account (the insurer's or guarantor's account name)")
    total = sum((s.share for s in shares), Decimal(0))
    if total != 1:
        problems.append(f"shares must sum to exactly 100%, they sum to {total * 100:f}%")
    return problems


def fee_problems(*, fee_rate: Decimal, shares: Sequence[Share]) -> list[str]:
    """A guarantee fee (担保费) is paid to the scheme's guarantor, so a fee needs one."""
    if fee_rate > 0 and not any(s.party == "guarantor" for s in shares):
        return ["a guarantee_fee_rate above 0 needs a guarantor party to receive the fee"]
    return []


def split_loss(loss: Decimal, shares: Sequence[Decimal]) -> list[Decimal]:
    """Each party's part of a loss; the parts add up to the loss to the fen (largest remainder)."""
    return split_by_shares(loss, shares)


# ---- cover: cap and leverage (杠杆) --------------------------------------------------------


def covered_principal(outstanding: Decimal, cap: Decimal | None) -> Decimal:
    """Principal the pool covers: the part above the cap gets no risk-fund cover (policy.md §4)."""
    if cap is None:
        return outstanding
    return min(outstanding, cap)


def leverage_allows(*, covered_outstanding: Decimal, new_cover: Decimal, fund_balance: Decimal, leverage: Decimal) -> bool:
    """Banks lend up to leverage × the fund: new cover is refused when covered outstanding would exceed it."""
    return covered_outstanding + new_cover <= leverage * fund_balance


def fee_rate_for(*, borrower_type: str, registered_poor: bool, scheme_rate: Decimal) -> Decimal:
    """担保费: registered poor households (建档立卡贫困户) pay none; others pay the scheme's rate."""
    if borrower_type == "household" and registered_poor:
        return Decimal("0")
    return scheme_rate


def guarantee_fee(principal: Decimal, rate: Decimal, days: int, day_basis: int) -> Decimal:
    """Fee on ``principal`` for ``days`` at an annual ``rate``, rounded half-up to the fen."""
    return quantize_fen(principal * rate * days / day_basis)


# ---- loan exposure from loan events --------------------------------------------------------


@dataclass(frozen=True)
class Exposure:
    loan_id: str
    borrower_type: str
    household_id: str | None
    enterprise_id: str | None
    registered_poor: bool
    village_code: str
    township_code: str
    county_code: str
    bank_id: str
    principal: Decimal
    annual_rate: Decimal
    start_date: date
    maturity_date: date
    driven_households: int
    status: str
    outstanding_principal: Decimal
    overdue_principal: Decimal
    days_past_due: int
    default_date: date | None
    unpaid_interest: Decimal
    diverted: bool
    scheme_id: int | None
    covered: bool
    cover_note: str
    covered_principal: Decimal
    status_date: date
    last_seq: int
    fee_rate: Decimal
    fee_day_basis: int
    fee_accrued_to: date | None


@dataclass(frozen=True)
class LoanEvent:
    seq: int
    loan_id: str
    type: str
    business_date: date
    data: dict[str, object]


@dataclass(frozen=True)
class CoverTerms:
    """What the scheme in force gives a new loan."""

    scheme_id: int | None
    cap: Decimal | None
    fee_rate: Decimal
    fee_day_basis: int


@dataclass(frozen=True)
class FeeAccrual:
    loan_id: str
    start_date: date
    end_date: date
    principal: Decimal
    rate: Decimal
    day_basis: int


def _money(data: dict[str, object], key: str, default: Decimal) -> Decimal:
    value = data.get(key)
    if value is None:
        return default
    return quantize_fen(value if isinstance(value, Decimal) else str(value))


def new_exposure(event: LoanEvent, terms: CoverTerms) -> Exposure:
    """The exposure for a loan seen for the first time (normally its ``disbursed`` event)."""
    d = event.data
    principal = _money(d, "principal", ZERO)
    borrower_type = str(d["borrower_type"])
    registered_poor = bool(d.get("registered_poor"))
    driven = d.get("driven_households") or []
    fee_rate = fee_rate_for(borrower_type=borrower_type, registered_poor=registered_poor, scheme_rate=terms.fee_rate)
    return Exposure(
        loan_id=event.loan_id,
        borrower_type=borrower_type,
        household_id=d.get("household_id"),  # type: ignore[arg-type]
        enterprise_id=d.get("enterprise_id"),  # type: ignore[arg-type]
        registered_poor=registered_poor,
        village_code=str(d["village_code"]),
        township_code=str(d["township_code"]),
        county_code=str(d["county_code"]),
        bank_id=str(d["bank_id"]),
        principal=principal,
        annual_rate=Decimal(str(d["annual_rate"])),
        start_date=d["start_date"],  # type: ignore[arg-type]
        maturity_date=d["maturity_date"],  # type: ignore[arg-type]
        driven_households=len(driven) if isinstance(driven, list) else 0,
        status="active",
        outstanding_principal=principal,
        overdue_principal=ZERO,
        days_past_due=0,
        default_date=None,
        unpaid_interest=ZERO,
        diverted=False,
        scheme_id=terms.scheme_id,
        covered=False,
        cover_note="",
        covered_principal=ZERO,
        status_date=event.business_date,
        last_seq=event.seq,
        fee_rate=fee_rate,
        fee_day_basis=terms.fee_day_basis,
        fee_accrued_to=d["start_date"] if fee_rate > 0 else None,  # type: ignore[arg-type]
    )


def with_cover(exposure: Exposure, *, granted: bool, note: str, cap: Decimal | None) -> Exposure:
    covered = covered_principal(exposure.outstanding_principal, cap) if granted else ZERO
    return replace(exposure, covered=granted, cover_note=note, covered_principal=covered)


FEE_STOPS = frozenset({"defaulted", "closed", "written_off"})


def apply_event(exposure: Exposure, event: LoanEvent, *, cap: Decimal | None) -> tuple[Exposure, FeeAccrual | None]:
    """The exposure after ``event``, and the guarantee-fee stretch that ended with it.

    Events are applied in ``seq`` order. The fee accrues on the outstanding principal while the
    loan performs or is overdue; default, closing and write-off stop it.
    """
    d = event.data
    accrual: FeeAccrual | None = None
    fee_to = exposure.fee_accrued_to
    if fee_to is not None and event.business_date > fee_to:
        accrual = FeeAccrual(exposure.loan_id, fee_to, event.business_date, exposure.outstanding_principal,
                             exposure.fee_rate, exposure.fee_day_basis)
        fee_to = event.business_date
    outstanding = _money(d, "outstanding_principal", exposure.outstanding_principal)
    changes: dict[str, object] = {"last_seq": event.seq, "outstanding_principal": outstanding, "fee_accrued_to": fee_to}
    kind = event.type
    if kind == "repayment_recorded":
        # The event does not say whether the loan is cured; an overdue loan counts as cured when its
        # overdue principal is paid off or, when only interest was overdue, at a late interest
        # payment. This errs towards "performing" until the next overdue/defaulted event, never
        # towards keeping a repaid loan delinquent (which would trip breakers and allow claims).
        cured = False
        if d.get("kind") == "principal" and exposure.overdue_principal > 0:
            overdue = max(ZERO, exposure.overdue_principal - _money(d, "amount", ZERO))
            changes["overdue_principal"] = overdue
            cured = overdue == 0
        elif d.get("kind") == "interest" and exposure.overdue_principal == 0:
            cured = bool(d.get("late"))
        if cured and exposure.status == "overdue":
            changes.update(status="active", days_past_due=0, status_date=event.business_date)
    elif kind == "overdue":
        changes.update(
            days_past_due=int(d.get("days_past_due") or 0),  # type: ignore[call-overload]
            overdue_principal=_money(d, "overdue_principal", exposure.overdue_principal),
            status_date=event.business_date,
        )
        if exposure.status != "defaulted":
            changes["status"] = "overdue"
    elif kind == "defaulted":
        changes.update(
            status="defaulted",
            days_past_due=int(d.get("days_past_due") or 0),  # type: ignore[call-overload]
            default_date=d.get("default_date") or event.business_date,
            unpaid_interest=_money(d, "unpaid_interest", exposure.unpaid_interest),
            status_date=event.business_date,
        )
        if exposure.overdue_principal == 0:
            changes["overdue_principal"] = outstanding
    elif kind in ("closed", "written_off"):
        changes.update(status=kind, status_date=event.business_date)
    elif kind in ("renewed", "extended"):
        # 续贷 / 展期: the loan performs again under its new maturity
        changes.update(status="active", days_past_due=0, overdue_principal=ZERO, status_date=event.business_date)
        if d.get("maturity_date"):
            changes["maturity_date"] = d["maturity_date"]
    elif kind == "diverted":
        changes["diverted"] = True  # 资金挪用
    new_status = changes.get("status", exposure.status)
    if new_status in FEE_STOPS:
        changes["fee_accrued_to"] = None
    updated = replace(exposure, **changes)  # type: ignore[arg-type]
    if updated.covered:
        live = updated.status in LIVE_STATUSES
        updated = replace(updated, covered_principal=covered_principal(updated.outstanding_principal, cap) if live else ZERO)
    return updated, accrual


# ---- claims (代偿) --------------------------------------------------------------------------


def days_past_due_on(*, days_at_status: int, status: str, status_date: date, today: date) -> int:
    """Days past due on ``today``, counting on from the last event that stated them."""
    if status not in ("overdue", "defaulted"):
        return 0
    return days_at_status + max(0, (today - status_date).days)


def days_until_claimable(*, days_past_due: int, trigger_days: int) -> int:
    """0 when a claim may be filed, else how many more days the loan must stay unpaid."""
    return max(0, trigger_days - days_past_due)


@dataclass(frozen=True)
class Loss:
    covered_principal: Decimal
    covered_interest: Decimal

    @property
    def total(self) -> Decimal:
        return self.covered_principal + self.covered_interest


def claim_loss(*, outstanding: Decimal, unpaid_interest: Decimal, cap: Decimal | None) -> Loss:
    """Loss = unpaid covered principal + its normal interest (never penalty interest, 罚息).

    Above the cap there is no cover, so interest is covered in the same proportion as principal.
    """
    principal = covered_principal(outstanding, cap)
    if outstanding == 0 or principal == outstanding:
        interest = unpaid_interest
    else:
        interest = quantize_fen(unpaid_interest * principal / outstanding)
    return Loss(principal, interest)


def split_recovery(*, amount: Decimal, shares: Sequence[Decimal], remaining: Sequence[Decimal]) -> list[Decimal]:
    """A recovery (追偿) back to the parties in the claim's proportions, to the fen.

    Normally split by the claim's shares. When that would give a party more than it still has
    outstanding (possible only near the end, from rounding), split by what each still has
    outstanding, which keeps the proportions and never overpays. A recovery that completes the
    loss gives each party exactly what it has left.
    """
    if amount == sum(remaining, ZERO):
        return list(remaining)
    parts = split_by_shares(amount, shares)
    if all(p <= r for p, r in zip(parts, remaining, strict=True)):
        return parts
    return split_by_shares(amount, remaining)


def top_up_parts(amount: Decimal, volumes: Sequence[Decimal]) -> list[Decimal]:
    """The city fund's top-up (奖补) of county funds in proportion to their lending volume."""
    return split_by_shares(amount, volumes)


# ---- 熔断: circuit breakers -----------------------------------------------------------------


@dataclass(frozen=True)
class BreakerRule:
    rule: str  # npl_ratio | poor_overdue_ratio
    village_threshold: Decimal
    township_threshold: Decimal
    npl_days: int


DEFAULT_RULE = BreakerRule("npl_ratio", DEFAULT_VILLAGE_NPL_THRESHOLD, DEFAULT_TOWNSHIP_THRESHOLD, DEFAULT_NPL_DAYS)


def ratio(part: Decimal | int, whole: Decimal | int) -> Decimal:
    if not whole:
        return Decimal("0").quantize(RATIO_PLACES)
    return (Decimal(part) / Decimal(whole)).quantize(RATIO_PLACES, rounding=ROUND_HALF_UP)


def village_ratio(rule: BreakerRule, *, outstanding: Decimal, npl_outstanding: Decimal,
                  poor_borrowers: int, poor_overdue_borrowers: int) -> Decimal:
    """不良率 (non-performing outstanding ÷ outstanding), or under the other county's rule the share
    of the village's registered-poor borrowers overdue on principal."""
    if rule.rule == "poor_overdue_ratio":
        return ratio(poor_overdue_borrowers, poor_borrowers)
    return ratio(npl_outstanding, outstanding)


def village_trips(village_ratio_: Decimal, threshold: Decimal) -> bool:
    """A village breaks when its ratio exceeds the threshold (5%: 不良率超过5%)."""
    return village_ratio_ > threshold


def township_trips(broken_share: Decimal, threshold: Decimal) -> bool:
    """A township breaks when at least the threshold share of its villages are broken (30%)."""
    return broken_share >= threshold


def reinstatement_refusal(*, level: str, state: str, current_ratio: Decimal, threshold: Decimal) -> str | None:
    """Why a reinstatement (恢复) may not happen now, or None when it may."""
    if state != "broken":
        return f"the {level} is {state}, not broken"
    blocked = village_trips(current_ratio, threshold) if level == "village" else township_trips(current_ratio, threshold)
    if blocked:
        return (f"the {level}'s ratio {current_ratio * 100:.4f}% is not back under the threshold "
                f"{threshold * 100:.4f}%")
    return None


def township_of(village_code: str) -> str:
    return village_code[:9] + "000"


def county_of(code: str) -> str:
    return code[:6] + "000000"


def leverage_used(*, covered_outstanding: Decimal, leverage: Decimal, balance: Decimal) -> Decimal:
    """杠杆 used: covered outstanding ÷ (leverage × fund balance); an empty fund with covered loans
    is infinitely over its leverage, an empty fund without any is at zero."""
    capacity = leverage * balance
    if capacity == 0:
        return Decimal("Infinity") if covered_outstanding > 0 else Decimal("0")
    return (covered_outstanding / capacity).quantize(RATIO_PLACES, rounding=ROUND_HALF_UP)
