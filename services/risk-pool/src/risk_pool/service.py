"""risk-pool use cases: repo → domain → repo; flushes, never commits.

Who may do what is decided here, from the caller's role, region, bank and account: the finance
bureau (财政局) runs funds; banks file claims for their own loans and see their own; insurers and
guarantors see and settle their own obligations (their token subject is the ``party_account`` of
the scheme); officers and monitors read their region.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.errors import Forbidden, InvalidInput, ServiceError
from kit.identifiers import division_level, region_contains, region_prefix
from kit.money import ZERO
from risk_pool import domain, repo
from risk_pool.errors import (
    BreakerNotFound,
    ClaimAwaitingFunds,
    ClaimExists,
    ClaimNotFound,
    ClaimsRejected,
    DuplicateReference,
    FundExists,
    FundNotFound,
    InsufficientFunds,
    LoanNotFound,
    NoLendingVolume,
    NotACityFund,
    NotCovered,
    NotYetClaimable,
    ObligationNotFound,
    ObligationSettled,
    RecoveryTooLarge,
    ReinstatementRefused,
    SchemeExists,
    SchemeInvalid,
    SchemeNotFound,
)
from risk_pool.schemas import (
    BreakerPolicyIn,
    FundCreate,
    LoanEventHeader,
    LoanEventIn,
    SchemeCreate,
)

OFFICERS = ("village_officer", "township_officer", "county_officer")
OUTSIDE_PARTY_ROLES = ("insurer", "guarantor")


# ---- access -----------------------------------------------------------------------------------


def _is_admin(principal: Principal) -> bool:
    return principal.has_role("admin")


def _require(principal: Principal, *roles: str) -> None:
    if not _is_admin(principal):
        principal.require_role(*roles)


def _region_prefix(principal: Principal) -> str | None:
    """The division-code prefix the caller's reads are confined to (None = everywhere)."""
    return region_prefix(principal.region) if principal.region else None


def _require_reader_of(principal: Principal, *, region_code: str, bank_id: str | None = None) -> None:
    """Reading one loan-level record: a bank only its own, insurers and guarantors not at all
    (they read their obligations), everyone else within their region."""
    if _is_admin(principal):
        return
    if principal.has_role("bank"):
        if bank_id is None or principal.bank_id != bank_id:
            raise Forbidden(f"bank {principal.bank_id} sees only its own loans")
        return
    if principal.has_role(*OUTSIDE_PARTY_ROLES) and not principal.has_role("monitor", "finance_bureau", *OFFICERS, "service"):
        raise Forbidden("insurers and guarantors read their own obligations, not loans")
    principal.require_region(region_code)


def _cursor(cursor: str | None) -> int:
    if cursor in (None, ""):
        return 0
    try:
        value = int(cursor)
    except ValueError:
        raise InvalidInput(f"cursor {cursor!r} is not one this service issued", errors=[{"field": "cursor", "message": "invalid cursor"}]) from None
    if not 0 <= value < 2**62:
        raise InvalidInput(f"cursor {cursor!r} is not one this service issued", errors=[{"field": "cursor", "message": "out of range"}])
    return value


def _page(rows: Sequence[Any], limit: int, key: str = "id") -> str | None:
    return str(rows[-1][key]) if len(rows) == limit and rows else None


async def _today(session: AsyncSession) -> date:
    """The business date, derived from the latest applied loan event (applications owns it and
    stamps every event with it); before any event, the calendar date in UTC."""
    return await repo.business_date(session) or datetime.now(UTC).date()


# ---- funds ------------------------------------------------------------------------------------


def _fund_view(row: Any, leverage: Decimal | None) -> dict[str, Any]:
    out = dict(row)
    out["leverage_capacity"] = (leverage * row["balance"]).quantize(Decimal("0.01")) if leverage is not None else None
    return out


async def _household_leverage(session: AsyncSession, county_code: str | None, on: date) -> Decimal | None:
    if county_code is None:
        return None
    schemes = [s for s in await repo.schemes_for_counties(session, [county_code])
               if s["borrower_type"] == "household" and s["effective_from"] <= on]
    return schemes[-1]["leverage"] if schemes else domain.DEFAULT_LEVERAGE


def _can_see_fund(principal: Principal, region_code: str) -> bool:
    """Officers see their county's fund and the city fund above it."""
    if principal.region is None:
        return True
    return region_contains(principal.region, region_code) or region_contains(region_code, principal.region)


async def create_fund(*, session: AsyncSession, principal: Principal, data: FundCreate) -> dict[str, Any]:
    _require(principal, "finance_bureau")
    principal.require_region(data.region_code)
    level = division_level(data.region_code)
    if level != data.level:
        raise InvalidInput(f"region_code {data.region_code} is a {level} code, not a {data.level} code",
                           errors=[{"field": "region_code", "message": f"expected a {data.level} division code"}])
    county_code = data.region_code if data.level == "county" else None
    fund_id = await repo.insert_fund(session, code=data.code, name=data.name, level=data.level, region_code=data.region_code,
                                     county_code=county_code, created_by=principal.subject)
    if fund_id is None:
        clash = await repo.fund_conflicts(session, code=data.code, county_code=county_code)
        what = f"code {data.code}" if any(c["code"] == data.code for c in clash) else f"county {county_code}"
        raise FundExists(f"a fund with {what} exists already")
    return await get_fund(session=session, principal=principal, code=data.code)


async def get_fund(*, session: AsyncSession, principal: Principal, code: str) -> dict[str, Any]:
    row = await repo.get_fund(session, code)
    if row is None or not _can_see_fund(principal, row["region_code"]):
        if row is not None:
            raise Forbidden(f"fund {code} is outside the caller's region {principal.region}")
        raise FundNotFound(f"no fund {code}")
    return _fund_view(row, await _household_leverage(session, row["county_code"], await _today(session)))


async def list_funds(*, session: AsyncSession, principal: Principal, cursor: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    rows = await repo.list_funds(session, after_id=_cursor(cursor), limit=limit)
    today = await _today(session)
    items = [_fund_view(r, await _household_leverage(session, r["county_code"], today)) for r in rows
             if _can_see_fund(principal, r["region_code"])]
    return items, _page(rows, limit)


async def _lock_fund_for_write(session: AsyncSession, principal: Principal, code: str) -> Any:
    _require(principal, "finance_bureau")
    found = await repo.get_fund(session, code)
    if found is None:
        raise FundNotFound(f"no fund {code}")
    principal.require_region(found["region_code"])
    return await repo.lock_fund(session, found["id"])


async def _check_reference(session: AsyncSession, fund_id: int, reference: str | None) -> None:
    if reference and await repo.reference_used(session, fund_id=fund_id, reference=reference):
        raise DuplicateReference(f"reference {reference} was already posted on this fund")


async def deposit(*, session: AsyncSession, principal: Principal, code: str, amount: Decimal, memo: str,
                  reference: str | None, value_date: date | None) -> dict[str, Any]:
    """财政注资: money into a fund from the treasury; claims waiting on the fund are then paid in order."""
    fund = await _lock_fund_for_write(session, principal, code)
    await _check_reference(session, fund["id"], reference)
    on = value_date or await _today(session)
    [entry_id] = await repo.post_entries(
        session,
        entries=[("deposit", on, memo, reference, None, principal.subject)],
        lines=[(0, f"fund:{fund['code']}", fund["id"], amount), (0, f"treasury:{fund['code']}", None, -amount)],
    )
    paid = await _pay_waiting(session, fund_id=fund["id"], on=on, by=principal.subject)
    return await _movement_view(session, entry_id, fund["id"], paid)


async def withdraw(*, session: AsyncSession, principal: Principal, code: str, amount: Decimal, memo: str,
                   reference: str | None, value_date: date | None) -> dict[str, Any]:
    fund = await _lock_fund_for_write(session, principal, code)
    await _check_reference(session, fund["id"], reference)
    waiting = await repo.waiting_claims(session, fund["id"])
    if waiting:
        raise InsufficientFunds(f"fund {code} has {len(waiting)} claims awaiting funds; they are paid before any withdrawal",
                                claims_awaiting_funds=len(waiting))
    if amount > fund["balance"]:
        raise InsufficientFunds(f"fund {code} holds {fund['balance']:.2f}, less than the {amount:.2f} asked for",
                                balance=f"{fund['balance']:.2f}")
    on = value_date or await _today(session)
    [entry_id] = await repo.post_entries(
        session,
        entries=[("withdrawal", on, memo, reference, None, principal.subject)],
        lines=[(0, f"fund:{fund['code']}", fund["id"], -amount), (0, f"treasury:{fund['code']}", None, amount)],
    )
    return await _movement_view(session, entry_id, fund["id"], 0)


async def top_up(*, session: AsyncSession, principal: Principal, code: str, amount: Decimal, memo: str, reference: str | None,
                 value_date: date | None, volume_from: date | None, volume_to: date | None) -> dict[str, Any]:
    """市级奖补: the city fund tops up the county funds in proportion to their lending volume
    (largest remainder to the fen), as one balanced entry."""
    city = await _lock_fund_for_write(session, principal, code)
    if city["level"] != "city":
        raise NotACityFund(f"fund {code} is a {city['level']} fund; top-ups come from the city fund")
    await _check_reference(session, city["id"], reference)
    counties = [f for f in await repo.county_funds(session) if region_contains(city["region_code"], f["county_code"])]
    volumes = await repo.lending_volume_by_county(session, counties=[f["county_code"] for f in counties],
                                                  start_from=volume_from, start_to=volume_to)
    weights = [volumes.get(f["county_code"], ZERO) for f in counties]
    if not counties or sum(weights, ZERO) == 0:
        raise NoLendingVolume("no county fund under this city has lending volume in the period; nothing to split by")
    if amount > city["balance"]:
        raise InsufficientFunds(f"fund {code} holds {city['balance']:.2f}, less than the {amount:.2f} top-up",
                                balance=f"{city['balance']:.2f}")
    await repo.lock_funds_by_code(session, [f["code"] for f in counties])
    parts = domain.top_up_parts(amount, weights)
    on = value_date or await _today(session)
    lines: list[tuple[int, str, int | None, Decimal]] = [(0, f"fund:{city['code']}", city["id"], -amount)]
    lines += [(0, f"fund:{f['code']}", f["id"], part) for f, part in zip(counties, parts, strict=True) if part > 0]
    [entry_id] = await repo.post_entries(session, entries=[("top_up", on, memo, reference, None, principal.subject)], lines=lines)
    paid = 0
    for f, part in zip(counties, parts, strict=True):
        if part > 0:
            paid += await _pay_waiting(session, fund_id=f["id"], on=on, by=principal.subject)
    entry = (await _entries_view(session, [entry_id]))[0]
    return {
        "entry": entry,
        "parts": [{"fund_code": f["code"], "county_code": f["county_code"], "lending_volume": w, "amount": p}
                  for f, w, p in zip(counties, weights, parts, strict=True)],
        "claims_paid": paid,
    }


async def _entries_view(session: AsyncSession, entry_ids: Sequence[int]) -> list[dict[str, Any]]:
    return [{**dict(e), "lines": [dict(ln) for ln in lines]} for e, lines in await repo.entries_with_lines(session, entry_ids)]


async def _movement_view(session: AsyncSession, entry_id: int, fund_id: int, paid: int) -> dict[str, Any]:
    entry = (await _entries_view(session, [entry_id]))[0]
    return {"entry": entry, "balance": await repo.fund_balance(session, fund_id), "claims_paid": paid}


async def fund_statement(*, session: AsyncSession, principal: Principal, code: str, period_from: date, period_to: date) -> dict[str, Any]:
    fund = await get_fund(session=session, principal=principal, code=code)
    if period_to < period_from:
        raise InvalidInput("to must not be before from", errors=[{"field": "to", "message": "before from"}])
    opening, rows = await repo.statement(session, fund_id=fund["id"], period_from=period_from, period_to=period_to)
    balance, lines, total_in, total_out = opening, [], ZERO, ZERO
    for r in rows:
        balance += r["amount"]
        if r["amount"] > 0:
            total_in += r["amount"]
        else:
            total_out -= r["amount"]
        lines.append({**dict(r), "balance_after": balance})
    return {"fund_code": code, "period_from": period_from, "period_to": period_to, "opening_balance": opening,
            "total_in": total_in, "total_out": total_out, "closing_balance": balance, "lines": lines}


# ---- claim payouts from a fund: the queue ----------------------------------------------------


async def _pay_waiting(session: AsyncSession, *, fund_id: int, on: date, by: str) -> int:
    """Pay the claims waiting on a fund (row-locked by the caller) strictly in filing order while
    the balance lasts; the first that does not fit keeps its place and everyone behind it waits."""
    fund = await repo.lock_fund(session, fund_id)
    balance = fund["balance"]
    payable: list[Any] = []
    for claim in await repo.waiting_claims(session, fund_id):
        if claim["government_part"] > balance:
            break
        balance -= claim["government_part"]
        payable.append(claim)
    if not payable:
        return 0
    with_money = [c for c in payable if c["government_part"] > 0]
    entry_ids = await repo.post_entries(
        session,
        entries=[("claim_payout", on, f"代偿 loan {c['loan_id']}", None, c["id"], by) for c in with_money],
        lines=[line for i, c in enumerate(with_money) for line in (
            (i, f"fund:{fund['code']}", fund_id, -c["government_part"]),
            (i, f"bank:{c['bank_id']}", None, c["government_part"]),
        )],
    )
    entry_by_claim = {c["id"]: e for c, e in zip(with_money, entry_ids, strict=True)}
    await repo.mark_claims_paid(session, [c["id"] for c in payable], [entry_by_claim.get(c["id"], 0) for c in payable])
    # the bank hears of it by webhook (claim.settled), announced in this same transaction
    await repo.enqueue_claims_settled(session, claim_ids=[c["id"] for c in payable], paid_on=on)
    return len(payable)


# ---- sharing schemes ------------------------------------------------------------------------


def _scheme_view(row: Any, shares: Sequence[Any]) -> dict[str, Any]:
    return {**dict(row), "shares": [dict(s) for s in shares]}


async def create_scheme(*, session: AsyncSession, principal: Principal, data: SchemeCreate) -> dict[str, Any]:
    _require(principal, "county_officer", "finance_bureau")
    principal.require_region(data.county_code)
    shares = [domain.Share(s.party, s.share, s.party_account) for s in data.shares]
    problems = domain.share_problems(shares) + domain.fee_problems(fee_rate=data.guarantee_fee_rate, shares=shares)
    if division_level(data.county_code) != "county":
        problems.append(f"county_code {data.county_code} is not a county code")
    if problems:
        raise SchemeInvalid("; ".join(problems), errors=[{"field": "shares", "message": p} for p in problems])
    scheme_id = await repo.insert_scheme(
        session,
        values={**data.model_dump(exclude={"shares"}), "created_by": principal.subject},
        shares=[(s.party, s.share, s.party_account) for s in shares],
    )
    if scheme_id is None:
        raise SchemeExists(f"county {data.county_code} already has a {data.borrower_type} scheme from {data.effective_from}")
    return await get_scheme(session=session, scheme_id=scheme_id)


async def get_scheme(*, session: AsyncSession, scheme_id: int) -> dict[str, Any]:
    rows = await repo.get_schemes(session, [scheme_id])
    if not rows:
        raise SchemeNotFound(f"no sharing scheme {scheme_id}")
    shares = await repo.shares_of(session, [scheme_id])
    return _scheme_view(rows[0], shares.get(scheme_id, []))


async def list_schemes(*, session: AsyncSession, county_code: str | None, borrower_type: str | None, cursor: str | None,
                       limit: int) -> tuple[list[dict[str, Any]], str | None]:
    rows = await repo.list_schemes(session, county_prefix=region_prefix(county_code) if county_code else None,
                                   borrower_type=borrower_type, after_id=_cursor(cursor), limit=limit)
    shares = await repo.shares_of(session, [r["id"] for r in rows])
    return [_scheme_view(r, shares.get(r["id"], [])) for r in rows], _page(rows, limit)


def _scheme_in_force(schemes: Sequence[Any], county: str, borrower_type: str, on: date) -> Any | None:
    """The latest scheme of the county and borrower type that started on or before ``on``."""
    found = None
    for s in schemes:
        if s["county_code"] == county and s["borrower_type"] == borrower_type and s["effective_from"] <= on:
            found = s
    return found


# ---- loan events → exposures, villages, breakers ------------------------------------------------


def _event_problems(events: Sequence[LoanEventIn]) -> list[dict[str, Any]]:
    problems = []
    for i, e in enumerate(events):
        d = e.data
        if d.borrower_type == "household" and not d.household_id:
            problems.append({"field": f"{i}.data.household_id", "message": "a household loan needs household_id"})
        if d.borrower_type == "enterprise" and not d.enterprise_id:
            problems.append({"field": f"{i}.data.enterprise_id", "message": "an enterprise loan needs enterprise_id"})
        if not d.village_code.startswith(d.township_code[:9]) or not d.township_code.startswith(d.county_code[:6]):
            problems.append({"field": f"{i}.data.village_code", "message": "village, township and county codes do not nest"})
    return problems


async def apply_events(*, session: AsyncSession, events: Sequence[LoanEventIn]) -> dict[str, Any]:
    """Apply loan events once each (by ``seq``), in ``seq`` order, set-based.

    This is the entry point of the loan-event consumer too. A loan seen for the first time gets
    the scheme in force on its start date and, if leverage allows (杠杆: covered outstanding ≤
    leverage × fund balance), cover; then the touched villages are re-aggregated and their
    breakers (熔断) evaluated.
    """
    problems = _event_problems(events)
    if problems:
        raise InvalidInput("; ".join(f"{p['field']}: {p['message']}" for p in problems[:10]), errors=problems)
    by_seq: dict[int, LoanEventIn] = {}
    for e in sorted(events, key=lambda e: e.seq):
        by_seq.setdefault(e.seq, e)
    ordered = list(by_seq.values())
    fresh = await repo.claim_event_seqs(session, [(e.seq, e.loan_id, e.type, e.business_date) for e in ordered])
    # a type this service does not know is recorded as applied and has no effect, so a new kind of
    # event from applications never stalls the consumer
    ignored = [e.seq for e in ordered if e.seq in fresh and e.type not in domain.EVENT_TYPES]
    todo = [e for e in ordered if e.seq in fresh and e.type in domain.EVENT_TYPES]
    skipped = [e.seq for e in ordered if e.seq not in fresh]
    if not todo:
        return {"received": len(events), "applied": 0, "skipped_seqs": skipped, "ignored_seqs": ignored, "villages_touched": 0,
                "breakers_tripped": [], "business_date": await repo.business_date(session)}
    loan_ids = sorted({e.loan_id for e in todo})
    state = await repo.load_exposures(session, loan_ids, lock=True)
    counties = sorted({e.data.county_code for e in todo} | {x.county_code for x in state.values()})
    schemes = await repo.schemes_for_counties(session, counties)
    scheme_by_id = {s["id"]: s for s in schemes}
    # new cover is decided under the county funds' row locks, so two batches cannot both use the
    # last room under the leverage limit (order: loans, then funds, as claims take them)
    new_counties = sorted({e.data.county_code for e in todo if e.loan_id not in state})
    funds = await repo.funds_for_counties(session, new_counties, lock=True) if new_counties else {}
    covered = await repo.covered_outstanding_by_county(session, counties, excluding=loan_ids)
    for x in state.values():
        covered[x.county_code] = covered.get(x.county_code, ZERO) + (x.covered_principal if x.covered else ZERO)
    accruals: list[domain.FeeAccrual] = []
    for e in todo:
        event = domain.LoanEvent(e.seq, e.loan_id, e.type, e.business_date, e.data.model_dump())
        current = state.get(e.loan_id)
        if current is None:
            current = _first_sight(event, schemes, funds, covered)
        cap = _cap(scheme_by_id, current.scheme_id)
        before = current.covered_principal
        updated, accrual = domain.apply_event(current, event, cap=cap)
        covered[updated.county_code] = covered.get(updated.county_code, ZERO) + updated.covered_principal - before
        state[e.loan_id] = updated
        if accrual is not None:
            accruals.append(accrual)
    touched = [state[loan] for loan in loan_ids]
    await repo.save_exposures(session, touched)
    await repo.insert_fee_accruals(session, accruals)
    today = await _today(session)
    villages = sorted({x.village_code for x in touched})
    tripped = await _evaluate_breakers(session, villages=villages, today=today)
    return {"received": len(events), "applied": len(todo), "skipped_seqs": skipped, "ignored_seqs": ignored, "villages_touched": len(villages),
            "breakers_tripped": tripped, "business_date": today}


_EVENT_LIST = TypeAdapter(list[LoanEventIn])
_HEADER_LIST = TypeAdapter(list[LoanEventHeader])


async def apply_loan_events(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    """The loan-event consumer's ``apply``: a page of applications' log, in the consumer's
    transaction (which also moves its cursor). A type this service does not know is recorded as
    applied whatever its data; an event of a known type that does not parse stops the batch (it is
    retried, and shows as consumer failures and lag) rather than being skipped silently."""
    known = [e for e in events if e.get("type") in domain.EVENT_TYPES]
    try:
        others = _HEADER_LIST.validate_python([e for e in events if e.get("type") not in domain.EVENT_TYPES])
        parsed = _EVENT_LIST.validate_python(known)
    except ValidationError as exc:
        raise InvalidInput(f"loan events do not parse: {exc.errors()[:3]}") from exc
    await repo.claim_event_seqs(session, [(e.seq, e.loan_id, e.type, e.business_date) for e in others])
    if parsed:
        await apply_events(session=session, events=parsed)


def _cap(scheme_by_id: dict[int, Any], scheme_id: int | None) -> Decimal | None:
    scheme = scheme_by_id.get(scheme_id) if scheme_id is not None else None
    return scheme["covered_principal_cap"] if scheme is not None else None


def _first_sight(event: domain.LoanEvent, schemes: Sequence[Any], funds: dict[str, Any], covered: dict[str, Decimal]) -> domain.Exposure:
    d = event.data
    county = str(d["county_code"])
    scheme = _scheme_in_force(schemes, county, str(d["borrower_type"]), d["start_date"])  # type: ignore[arg-type]
    if scheme is None:
        terms = domain.CoverTerms(None, None, Decimal("0"), 360)
        return domain.with_cover(domain.new_exposure(event, terms), granted=False, cap=None,
                                 note=f"no sharing scheme in force for {d['borrower_type']} loans of county {county}")
    terms = domain.CoverTerms(scheme["id"], scheme["covered_principal_cap"], scheme["guarantee_fee_rate"], scheme["fee_day_basis"])
    exposure = domain.new_exposure(event, terms)
    fund = funds.get(county)
    if fund is None:
        return domain.with_cover(exposure, granted=False, cap=None, note=f"county {county} has no risk-compensation fund")
    new_cover = domain.covered_principal(exposure.outstanding_principal, terms.cap)
    current = covered.get(county, ZERO)
    if not domain.leverage_allows(covered_outstanding=current, new_cover=new_cover, fund_balance=fund["balance"], leverage=scheme["leverage"]):
        note = (f"leverage: covered outstanding {current + new_cover:.2f} would exceed {scheme['leverage']} × "
                f"fund balance {fund['balance']:.2f}")
        return domain.with_cover(exposure, granted=False, cap=None, note=note)
    return domain.with_cover(exposure, granted=True, cap=terms.cap, note="covered")


def _rule(policy: Any | None) -> domain.BreakerRule:
    if policy is None:
        return domain.DEFAULT_RULE
    return domain.BreakerRule(policy["rule"], policy["village_threshold"], policy["township_threshold"], policy["npl_days"])


async def _evaluate_breakers(session: AsyncSession, *, villages: Sequence[str], today: date) -> list[str]:
    """熔断: re-aggregate the villages, trip those over the threshold, then their townships.
    Tripping is automatic; reinstatement is an officer's action (never automatic)."""
    await repo.refresh_villages(session, villages=villages, today=today, default_npl_days=domain.DEFAULT_NPL_DAYS)
    aggregates = await repo.village_aggregates(session, villages)
    policies = await repo.policies_for(session, sorted({a["county_code"] for a in aggregates}))
    current = await repo.breakers(session, "village", villages, lock=True)
    states, changes, tripped = [], [], []
    for a in aggregates:
        rule = _rule(policies.get(a["county_code"]))
        r = domain.village_ratio(rule, outstanding=a["outstanding"], npl_outstanding=a["npl_outstanding"],
                                 poor_borrowers=a["poor_borrowers"], poor_overdue_borrowers=a["poor_overdue_borrowers"])
        was = current[a["village_code"]]["state"] if a["village_code"] in current else "open"
        now = "broken" if was == "broken" or domain.village_trips(r, rule.village_threshold) else "open"
        states.append({"level": "village", "code": a["village_code"], "county_code": a["county_code"], "state": now, "ratio": r,
                       "threshold": rule.village_threshold, "rule": rule.rule, "changed_on": today})
        if now != was:
            tripped.append(f"village {a['village_code']}")
            changes.append({"level": "village", "code": a["village_code"], "county_code": a["county_code"], "from_state": was,
                            "to_state": now, "ratio": r, "threshold": rule.village_threshold, "rule": rule.rule,
                            "business_date": today, "actor": "system", "reason": f"{rule.rule} {r} exceeds {rule.village_threshold}"})
    await repo.save_breakers(session, states)
    await repo.record_breaker_changes(session, changes)
    tripped += await _evaluate_townships(session, townships=sorted({a["township_code"] for a in aggregates}), today=today,
                                         policies=policies)
    return tripped


async def _evaluate_townships(session: AsyncSession, *, townships: Sequence[str], today: date, policies: dict[str, Any]) -> list[str]:
    counts = await repo.township_counts(session, townships)
    current = await repo.breakers(session, "township", townships, lock=True)
    states, changes, tripped = [], [], []
    for code in townships:
        villages, broken = counts.get(code, (0, 0))
        rule = _rule(policies.get(domain.county_of(code)))
        share = domain.ratio(broken, villages)
        was = current[code]["state"] if code in current else "open"
        now = "broken" if was == "broken" or domain.township_trips(share, rule.township_threshold) else "open"
        states.append({"level": "township", "code": code, "county_code": domain.county_of(code), "state": now, "ratio": share,
                       "threshold": rule.township_threshold, "rule": "broken_village_share", "changed_on": today})
        if now != was:
            tripped.append(f"township {code}")
            changes.append({"level": "township", "code": code, "county_code": domain.county_of(code), "from_state": was,
                            "to_state": now, "ratio": share, "threshold": rule.township_threshold, "rule": "broken_village_share",
                            "business_date": today, "actor": "system",
                            "reason": f"{broken} of {villages} villages broken, at least {rule.township_threshold}"})
    await repo.save_breakers(session, states)
    await repo.record_breaker_changes(session, changes)
    return tripped


async def set_breaker_policy(*, session: AsyncSession, principal: Principal, county_code: str, data: BreakerPolicyIn) -> dict[str, Any]:
    _require(principal, "county_officer")
    principal.require_region(county_code)
    if division_level(county_code) != "county":
        raise InvalidInput(f"{county_code} is not a county code", errors=[{"field": "county_code", "message": "not a county code"}])
    await repo.upsert_policy(session, county_code=county_code, rule=data.rule, village_threshold=data.village_threshold,
                             township_threshold=data.township_threshold, npl_days=data.npl_days, updated_by=principal.subject)
    return await get_breaker_policy(session=session, county_code=county_code)


async def get_breaker_policy(*, session: AsyncSession, county_code: str) -> dict[str, Any]:
    policy = (await repo.policies_for(session, [county_code])).get(county_code)
    rule = _rule(policy)
    return {"county_code": county_code, "rule": rule.rule, "village_threshold": rule.village_threshold,
            "township_threshold": rule.township_threshold, "npl_days": rule.npl_days, "is_default": policy is None}


async def get_breaker(*, session: AsyncSession, level: str, code: str) -> dict[str, Any]:
    row = (await repo.breakers(session, level, [code])).get(code)
    if row is None:
        raise BreakerNotFound(f"no {level} {code} is known to the breaker map; an unknown {level} is open")
    return {**dict(row), "history": [dict(h) for h in await repo.breaker_history(session, level, code)]}


async def list_breakers(*, session: AsyncSession, principal: Principal, region: str | None, level: str | None, state: str | None,
                        cursor: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    prefix = region_prefix(region) if region else _region_prefix(principal)
    if region:
        principal.require_region(region)
    rows = await repo.list_breakers(session, prefix=prefix, level=level, state=state, after=cursor or "", limit=limit)
    next_cursor = f"{rows[-1]['level']}:{rows[-1]['code']}" if len(rows) == limit and rows else None
    return [dict(r) for r in rows], next_cursor


async def reinstate(*, session: AsyncSession, principal: Principal, level: str, code: str, reason: str) -> dict[str, Any]:
    """恢复: an officer reopens a broken village or township once its ratio is back under the threshold."""
    _require(principal, "county_officer")
    principal.require_region(code)
    row = (await repo.breakers(session, level, [code], lock=True)).get(code)
    if row is None:
        raise BreakerNotFound(f"no {level} {code} is known to the breaker map; an unknown {level} is open")
    today = await _today(session)
    policy = (await repo.policies_for(session, [domain.county_of(code)])).get(domain.county_of(code))
    rule = _rule(policy)
    if level == "village":
        await repo.refresh_villages(session, villages=[code], today=today, default_npl_days=domain.DEFAULT_NPL_DAYS)
        [a] = await repo.village_aggregates(session, [code])
        current = domain.village_ratio(rule, outstanding=a["outstanding"], npl_outstanding=a["npl_outstanding"],
                                       poor_borrowers=a["poor_borrowers"], poor_overdue_borrowers=a["poor_overdue_borrowers"])
        threshold, rule_name = rule.village_threshold, rule.rule
    else:
        villages, broken = (await repo.township_counts(session, [code])).get(code, (0, 0))
        current, threshold, rule_name = domain.ratio(broken, villages), rule.township_threshold, "broken_village_share"
    refusal = domain.reinstatement_refusal(level=level, state=row["state"], current_ratio=current, threshold=threshold)
    if refusal:
        raise ReinstatementRefused(refusal, state=row["state"], ratio=f"{current:.6f}", threshold=f"{threshold:.6f}")
    common = {"level": level, "code": code, "county_code": row["county_code"], "ratio": current, "threshold": threshold, "rule": rule_name}
    await repo.save_breakers(session, [{**common, "state": "open", "changed_on": today}])
    await repo.record_breaker_changes(session, [{**common, "from_state": "broken", "to_state": "open", "business_date": today,
                                                 "actor": principal.subject, "reason": reason}])
    if level == "village":
        await _evaluate_townships(session, townships=[domain.township_of(code)], today=today,
                                  policies={row["county_code"]: policy} if policy else {})
    return await get_breaker(session=session, level=level, code=code)


async def lending_status(*, session: AsyncSession, village_code: str) -> dict[str, Any]:
    """May new loans be recommended in this village? Not while it or its township is broken (熔断)."""
    township = domain.township_of(village_code)
    village_row = (await repo.breakers(session, "village", [village_code])).get(village_code)
    township_row = (await repo.breakers(session, "township", [township])).get(township)
    reasons = []
    if village_row is not None and village_row["state"] == "broken":
        reasons.append(f"village {village_code} is broken (熔断) since {village_row['changed_on']}: {village_row['rule']} "
                       f"{village_row['ratio'] * 100:.2f}% against a threshold of {village_row['threshold'] * 100:.2f}%")
    if township_row is not None and township_row["state"] == "broken":
        reasons.append(f"township {township} is broken (熔断) since {township_row['changed_on']}: "
                       f"{township_row['ratio'] * 100:.2f}% of its villages are broken, threshold {township_row['threshold'] * 100:.2f}%")
    return {
        "village_code": village_code,
        "township_code": township,
        "may_lend": not reasons,
        "reasons": reasons,
        "village_state": village_row["state"] if village_row is not None else "open",
        "township_state": township_row["state"] if township_row is not None else "open",
    }


# ---- exposures ------------------------------------------------------------------------------


async def get_exposure(*, session: AsyncSession, principal: Principal, loan_id: str) -> dict[str, Any]:
    row = await repo.exposure_row(session, loan_id)
    if row is None:
        raise LoanNotFound(f"no loan {loan_id} is known to the risk pool")
    _require_reader_of(principal, region_code=row["village_code"], bank_id=row["bank_id"])
    return dict(row)


async def list_village_exposures(*, session: AsyncSession, principal: Principal, region: str | None, cursor: str | None,
                                 limit: int) -> tuple[list[dict[str, Any]], str | None]:
    if region:
        principal.require_region(region)
    prefix = region_prefix(region) if region else _region_prefix(principal)
    rows = await repo.list_village_aggregates(session, prefix=prefix, after=cursor or "", limit=limit)
    items = [{**dict(r), "npl_ratio": domain.ratio(r["npl_outstanding"], r["outstanding"]),
              "poor_overdue_ratio": domain.ratio(r["poor_overdue_borrowers"], r["poor_borrowers"])} for r in rows]
    return items, _page(rows, limit, "village_code")


# ---- claims (代偿) --------------------------------------------------------------------------


async def file_claims(*, session: AsyncSession, principal: Principal, loan_ids: Sequence[str]) -> dict[str, Any]:
    """A bank files loss claims for its own defaulted loans.

    Loss = unpaid covered principal + its normal interest, split among the scheme's parties to the
    fen. The government part is paid from the county fund (journal) under a row lock on the fund,
    so concurrent claims never overdraw it: a claim the fund cannot pay waits (awaiting_funds)
    and is paid in filing order when money arrives. Every other party's part is an obligation.
    """
    _require(principal, "bank")
    if len(set(loan_ids)) != len(loan_ids):
        raise InvalidInput("a loan appears twice in the batch", errors=[{"field": "loan_ids", "message": "duplicate loan id"}])
    exposures = await repo.load_exposures(session, loan_ids, lock=True)
    existing = await repo.claims_for_loans(session, loan_ids)
    today = await _today(session)
    scheme_ids = sorted({x.scheme_id for x in exposures.values() if x.scheme_id is not None})
    schemes = {s["id"]: s for s in await repo.get_schemes(session, scheme_ids)}
    shares = await repo.shares_of(session, scheme_ids)
    funds = await repo.funds_for_counties(session, sorted({x.county_code for x in exposures.values()}))
    claims: list[dict[str, Any]] = []
    parts: list[list[tuple[str, str, Decimal, Decimal]]] = []
    rejections: list[ServiceError] = []
    for loan_id in loan_ids:
        try:
            claim, claim_parts = _prepare_claim(principal, loan_id, exposures.get(loan_id), existing.get(loan_id), schemes,
                                                shares, funds, today)
        except ServiceError as exc:
            rejections.append(exc)
            continue
        claims.append(claim)
        parts.append(claim_parts)
    if rejections:
        if len(loan_ids) == 1:
            raise rejections[0]
        raise ClaimsRejected(f"{len(rejections)} of {len(loan_ids)} claims cannot be filed; nothing was filed",
                             rejections=[{"status": r.status, "code": r.code, "detail": r.detail} for r in rejections[:1000]])
    fund_ids = sorted({c["fund_id"] for c in claims})
    for fund_id in fund_ids:  # in id order: two batches never wait on each other's funds
        await repo.lock_fund(session, fund_id)
    claim_ids = await repo.insert_claims(session, claims)
    if 0 in claim_ids:
        raced = claims[claim_ids.index(0)]["loan_id"]
        first = (await repo.claims_for_loans(session, [raced]))[raced]
        raise ClaimExists(f"loan {raced} already has claim {first}", claim_id=first)
    await repo.insert_claim_parts(session, [
        (cid, party, account, share, amount, pos)
        for cid, claim_parts in zip(claim_ids, parts, strict=True)
        for pos, (party, account, share, amount) in enumerate(claim_parts, start=1)
    ])
    for fund_id in fund_ids:
        await _pay_waiting(session, fund_id=fund_id, on=today, by=principal.subject)
    statuses = await repo.claim_statuses(session, claim_ids)
    paid = sum(1 for s in statuses.values() if s == "paid")
    return {"filed": len(claim_ids), "paid": paid, "awaiting_funds": len(claim_ids) - paid, "claim_ids": claim_ids}


def _prepare_claim(principal: Principal, loan_id: str, x: domain.Exposure | None, existing: int | None, schemes: dict[int, Any],
                   shares: dict[int, list[Any]], funds: dict[str, Any], today: date) -> tuple[dict[str, Any], list[tuple[str, str, Decimal, Decimal]]]:
    if x is None:
        raise LoanNotFound(f"no loan {loan_id} is known to the risk pool")
    if not _is_admin(principal) and x.bank_id != principal.bank_id:
        raise Forbidden(f"loan {loan_id} belongs to bank {x.bank_id}; a bank files claims only for its own loans")
    if existing is not None:
        raise ClaimExists(f"loan {loan_id} already has claim {existing}", claim_id=existing)
    if not x.covered or x.scheme_id is None:
        raise NotCovered(f"loan {loan_id} has no risk-pool cover: {x.cover_note}")
    if x.status not in ("overdue", "defaulted"):
        raise NotYetClaimable(f"loan {loan_id} is {x.status}; only a loan in default can be claimed", loan_status=x.status)
    scheme = schemes[x.scheme_id]
    dpd = domain.days_past_due_on(days_at_status=x.days_past_due, status=x.status, status_date=x.status_date, today=today)
    remaining = domain.days_until_claimable(days_past_due=dpd, trigger_days=scheme["claim_trigger_days"])
    if remaining > 0:
        raise NotYetClaimable(f"loan {loan_id} is {dpd} days past due; a claim is possible after {scheme['claim_trigger_days']} "
                              f"days, {remaining} days remain", days_past_due=dpd, days_remaining=remaining)
    loss = domain.claim_loss(outstanding=x.outstanding_principal, unpaid_interest=x.unpaid_interest, cap=scheme["covered_principal_cap"])
    if loss.total <= 0:
        raise NotCovered(f"loan {loan_id} has no unpaid covered principal or interest to claim")
    fund = funds[x.county_code]
    scheme_shares = shares[x.scheme_id]
    amounts = domain.split_loss(loss.total, [s["share"] for s in scheme_shares])
    accounts = {"government": fund["code"], "bank": x.bank_id}
    claim_parts = [(s["party"], s["party_account"] or accounts[s["party"]], s["share"], a) for s, a in zip(scheme_shares, amounts, strict=True)]
    government = sum((a for p, _, _, a in claim_parts if p == "government"), ZERO)
    claim = {"loan_id": loan_id, "bank_id": x.bank_id, "borrower_type": x.borrower_type, "village_code": x.village_code,
             "county_code": x.county_code, "scheme_id": x.scheme_id, "fund_id": fund["id"], "days_past_due": dpd,
             "covered_principal": loss.covered_principal, "covered_interest": loss.covered_interest, "loss": loss.total,
             "government_part": government, "business_date": today, "filed_by": principal.subject}
    return claim, claim_parts


def _claim_view(row: Any, parts: Sequence[Any]) -> dict[str, Any]:
    return {**dict(row), "outstanding_loss": row["loss"] - row["recovered"], "parts": [dict(p) for p in parts]}


def _require_claim_reader(principal: Principal, row: Any, parts: Sequence[Any]) -> None:
    if principal.has_role(*OUTSIDE_PARTY_ROLES) and not _is_admin(principal):
        if any(p["party_account"] == principal.subject for p in parts):
            return
        raise Forbidden("insurers and guarantors see only claims they share in")
    _require_reader_of(principal, region_code=row["village_code"], bank_id=row["bank_id"])


async def get_claim(*, session: AsyncSession, principal: Principal, claim_id: int) -> dict[str, Any]:
    row = await repo.get_claim(session, claim_id)
    if row is None:
        raise ClaimNotFound(f"no claim {claim_id}")
    parts = (await repo.claim_parts(session, [claim_id])).get(claim_id, [])
    _require_claim_reader(principal, row, parts)
    return _claim_view(row, parts)


async def list_claims(*, session: AsyncSession, principal: Principal, status: str | None, cursor: str | None,
                      limit: int) -> tuple[list[dict[str, Any]], str | None]:
    if principal.has_role(*OUTSIDE_PARTY_ROLES) and not _is_admin(principal):
        raise Forbidden("insurers and guarantors list their obligations at /v1/obligations")
    bank_id = principal.bank_id if principal.has_role("bank") and not _is_admin(principal) else None
    if principal.has_role("bank") and not bank_id and not _is_admin(principal):
        raise Forbidden("a bank token without bank_id sees no claims")
    rows = await repo.list_claims(session, bank_id=bank_id, prefix=_region_prefix(principal), status=status,
                                  after_id=_cursor(cursor), limit=limit)
    parts = await repo.claim_parts(session, [r["id"] for r in rows])
    return [_claim_view(r, parts.get(r["id"], [])) for r in rows], _page(rows, limit)


# ---- recoveries (追偿) -------------------------------------------------------------------------


async def record_recovery(*, session: AsyncSession, principal: Principal, claim_id: int, amount: Decimal, reference: str,
                          value_date: date | None) -> dict[str, Any]:
    """Money recovered from the borrower after a claim goes back to the parties in the claim's
    proportions, to the fen; the government's part returns to the fund (journal)."""
    _require(principal, "bank")
    row = await repo.get_claim(session, claim_id, lock=True)
    if row is None:
        raise ClaimNotFound(f"no claim {claim_id}")
    if not _is_admin(principal) and row["bank_id"] != principal.bank_id:
        raise Forbidden(f"claim {claim_id} belongs to bank {row['bank_id']}")
    if row["status"] != "paid":
        raise ClaimAwaitingFunds(f"claim {claim_id} is {row['status']}; recoveries are recorded once the fund has paid it",
                                 claim_status=row["status"])
    outstanding = row["loss"] - row["recovered"]
    if amount > outstanding:
        raise RecoveryTooLarge(f"recovery {amount:.2f} exceeds the claim's outstanding loss {outstanding:.2f}",
                               errors=[{"field": "amount", "message": f"at most {outstanding:.2f}"}], outstanding_loss=f"{outstanding:.2f}")
    parts = (await repo.claim_parts(session, [claim_id]))[claim_id]
    amounts = domain.split_recovery(amount=amount, shares=[p["share"] for p in parts],
                                    remaining=[p["amount"] - p["recovered"] for p in parts])
    on = value_date or await _today(session)
    recovery_id = await repo.insert_recovery(
        session, claim_id=claim_id, amount=amount, reference=reference, value_date=on, recorded_by=principal.subject,
        parts=[(p["party"], p["party_account"], a) for p, a in zip(parts, amounts, strict=True)],
    )
    if recovery_id is None:
        raise DuplicateReference(f"claim {claim_id} already has a recovery with reference {reference}")
    government = sum((a for p, a in zip(parts, amounts, strict=True) if p["party"] == "government"), ZERO)
    if government > 0:
        await repo.lock_fund(session, row["fund_id"])
        await repo.post_entries(
            session,
            entries=[("recovery", on, f"追偿 loan {row['loan_id']}", reference, claim_id, principal.subject)],
            lines=[(0, f"fund:{row['fund_code']}", row["fund_id"], government), (0, f"bank:{row['bank_id']}", None, -government)],
        )
        await _pay_waiting(session, fund_id=row["fund_id"], on=on, by=principal.subject)
    return await get_recovery(session=session, recovery_id=recovery_id)


async def get_recovery(*, session: AsyncSession, recovery_id: int) -> dict[str, Any]:
    recovery, parts = await repo.get_recovery(session, recovery_id)
    claim = await repo.get_claim(session, recovery["claim_id"])
    assert claim is not None
    return {**dict(recovery), "parts": [dict(p) for p in parts], "claim_outstanding_loss": claim["loss"] - claim["recovered"]}


async def list_recoveries(*, session: AsyncSession, principal: Principal, claim_id: int) -> list[dict[str, Any]]:
    await get_claim(session=session, principal=principal, claim_id=claim_id)
    return [await get_recovery(session=session, recovery_id=r["id"]) for r in await repo.list_recoveries(session, claim_id)]


# ---- obligations ----------------------------------------------------------------------------


def _require_obligation_reader(principal: Principal, row: Any) -> None:
    if _is_admin(principal):
        return
    if principal.has_role(*OUTSIDE_PARTY_ROLES):
        if row["party_account"] != principal.subject:
            raise Forbidden(f"obligation {row['id']} belongs to {row['party_account']}")
        return
    _require_reader_of(principal, region_code=row["village_code"], bank_id=row["bank_id"])


async def get_obligation(*, session: AsyncSession, principal: Principal, obligation_id: int) -> dict[str, Any]:
    row = await repo.get_obligation(session, obligation_id)
    if row is None:
        raise ObligationNotFound(f"no obligation {obligation_id}")
    _require_obligation_reader(principal, row)
    return dict(row)


async def list_obligations(*, session: AsyncSession, principal: Principal, status: str | None, claim_id: int | None,
                           cursor: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    party_account = bank_id = None
    if not _is_admin(principal):
        if principal.has_role(*OUTSIDE_PARTY_ROLES):
            party_account = principal.subject
        elif principal.has_role("bank"):
            bank_id = principal.bank_id or "-"
    rows = await repo.list_obligations(session, party_account=party_account, bank_id=bank_id,
                                       prefix=None if party_account or bank_id else _region_prefix(principal),
                                       status=status, claim_id=claim_id, after_id=_cursor(cursor), limit=limit)
    return [dict(r) for r in rows], _page(rows, limit)


async def settle_obligation(*, session: AsyncSession, principal: Principal, obligation_id: int, reference: str) -> dict[str, Any]:
    """An insurer or guarantor records that it paid its part of a claim to the bank."""
    _require(principal, *OUTSIDE_PARTY_ROLES)
    row = await repo.get_obligation(session, obligation_id, lock=True)
    if row is None:
        raise ObligationNotFound(f"no obligation {obligation_id}")
    if not _is_admin(principal) and row["party_account"] != principal.subject:
        raise Forbidden(f"obligation {obligation_id} belongs to {row['party_account']}, not {principal.subject}")
    if row["status"] == "settled":
        raise ObligationSettled(f"obligation {obligation_id} was settled at {row['settled_at']:%Y-%m-%d %H:%M:%S} "
                                f"by {row['settled_by']} (reference {row['settlement_reference']})", obligation_status="settled")
    await repo.settle_obligation(session, obligation_id=obligation_id, by=principal.subject, reference=reference)
    return await get_obligation(session=session, principal=principal, obligation_id=obligation_id)


# ---- guarantee fees (担保费) ------------------------------------------------------------------


async def bill_guarantee_fees(*, session: AsyncSession, principal: Principal, county_code: str, period_end: date) -> dict[str, Any]:
    """Accrue every fee-bearing loan of the county up to ``period_end`` and bill each its unbilled
    days (amount = Σ outstanding × rate × days ÷ day basis, rounded half-up to the fen)."""
    _require(principal, "guarantor", "finance_bureau")
    principal.require_region(county_code)
    today = await _today(session)
    if period_end > today:
        # days after the business date may still change their outstanding principal
        raise InvalidInput(f"period_end {period_end} is after the business date {today}; fees are billed for days that have passed",
                           errors=[{"field": "period_end", "message": f"at most {today}"}])
    schemes = await repo.schemes_for_counties(session, [county_code])
    shares = await repo.shares_of(session, [s["id"] for s in schemes])
    payee_by_scheme = {sid: s["party_account"] for sid, rows in shares.items() for s in rows if s["party"] == "guarantor"}
    if principal.has_role("guarantor") and not _is_admin(principal):
        payee_by_scheme = {sid: acct for sid, acct in payee_by_scheme.items() if acct == principal.subject}
    if not payee_by_scheme:
        return {"bills": 0, "total": ZERO}
    count, total = await repo.bill_fees(session, county_code=county_code, period_end=period_end, payee_by_scheme=payee_by_scheme,
                                        billed_by=principal.subject)
    return {"bills": count, "total": total}


async def list_fee_bills(*, session: AsyncSession, principal: Principal, loan_id: str | None, cursor: str | None,
                         limit: int) -> tuple[list[dict[str, Any]], str | None]:
    payee = bank_id = None
    if not _is_admin(principal):
        if principal.has_role(*OUTSIDE_PARTY_ROLES):
            payee = principal.subject
        elif principal.has_role("bank"):
            bank_id = principal.bank_id or "-"
    rows = await repo.list_fee_bills(session, payee=payee, bank_id=bank_id, prefix=None if payee or bank_id else _region_prefix(principal),
                                     loan_id=loan_id, after_id=_cursor(cursor), limit=limit)
    return [dict(r) for r in rows], _page(rows, limit)


# ---- figures ------------------------------------------------------------------------------------


async def figures(*, session: AsyncSession, principal: Principal, region: str | None) -> dict[str, Any]:
    """Fund balances, leverage used, claims and recoveries by party, and the breaker map."""
    if region:
        principal.require_region(region)
    prefix = region_prefix(region) if region else _region_prefix(principal)
    bank_id = principal.bank_id if principal.has_role("bank") and not _is_admin(principal) else None
    today = await _today(session)
    waiting = await repo.waiting_by_fund(session)
    funds = []
    for f in await repo.list_funds(session, after_id=0, limit=10_000):
        if prefix and not (f["region_code"].startswith(prefix) or prefix.startswith(region_prefix(f["region_code"]))):
            continue
        leverage = await _household_leverage(session, f["county_code"], today)
        capacity = leverage * f["balance"] if leverage is not None else None
        used = domain.ratio(f["covered_outstanding"], capacity) if capacity else None
        n, amount = waiting.get(f["id"], (0, ZERO))
        funds.append({"fund_code": f["code"], "county_code": f["county_code"], "balance": f["balance"],
                      "covered_outstanding": f["covered_outstanding"], "leverage_used": used,
                      "claims_awaiting_funds": n, "amount_awaiting_funds": amount})
    claims = await repo.claim_figures(session, prefix=prefix, bank_id=bank_id)
    parties = [dict(p) for p in await repo.party_figures(session, prefix=prefix, bank_id=bank_id)]
    if principal.has_role(*OUTSIDE_PARTY_ROLES) and not _is_admin(principal):
        parties = [p for p in parties if p["party_account"] == principal.subject]
    counts = await repo.breaker_counts(session, prefix)
    broken = await repo.list_breakers(session, prefix=prefix, level=None, state="broken", after="", limit=10_000)
    breaker_state = None
    if region and division_level(region) in ("village", "township"):
        own = (await repo.breakers(session, division_level(region), [region])).get(region)
        breaker_state = own["state"] if own is not None else "open"  # an unknown village or township is open
    return {"region": region or principal.region, "business_date": await repo.business_date(session), "funds": funds,
            "breaker_state": breaker_state,
            "claims": claims["claims"], "loss_claimed": claims["loss"], "recovered": claims["recovered"], "by_party": parties,
            "villages_broken": counts.get("village", 0), "townships_broken": counts.get("township", 0),
            "breaker_map": [{"level": b["level"], "code": b["code"], "state": b["state"], "ratio": b["ratio"]} for b in broken]}


# ---- exports for departments and regulators ----------------------------------------------------

PARTIES = ("government", "bank", "insurer", "guarantor", "reguarantor")
CLAIM_EXPORT_COLUMNS = (
    "claim_id", "loan_id", "bank_id", "borrower_type", "village_code", "county_code", "fund_code", "filed_on", "status", "paid_at",
    "days_past_due", "covered_principal", "covered_interest", "loss", "government_part", "recovered",
    *(f"{p}_{field}" for p in PARTIES for field in ("account", "share", "amount", "recovered", "status")),
)
BREAKER_EXPORT_COLUMNS = ("change_id", "level", "code", "county_code", "from_state", "to_state", "ratio", "threshold", "rule",
                          "changed_on", "at", "actor", "reason")


def _export_window(principal: Principal, region: str | None, period_from: date | None, period_to: date | None) -> str | None:
    if period_from and period_to and period_to < period_from:
        raise InvalidInput("to must not be before from", errors=[{"field": "to", "message": "before from"}])
    if principal.has_role(*OFFICERS) and not principal.region and not _is_admin(principal):
        raise Forbidden("an officer's token must carry the region the officer works in")
    if region:
        principal.require_region(region)
        return region_prefix(region)
    return _region_prefix(principal)


_SNAPSHOT = re.compile(r"^\d{1,20}:\d{1,20}:(\d{1,20}(,\d{1,20})*)?$")


def _export_cursor(snapshot: str, last_id: int) -> str:
    """Opaque: the first page's snapshot (the high-water mark) and the last key sent."""
    return base64.urlsafe_b64encode(f"{snapshot}|{last_id}".encode()).decode().rstrip("=")


def _read_export_cursor(cursor: str) -> tuple[str, int]:
    try:
        snapshot, last = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
        last_id = int(last)
    except ValueError:
        raise InvalidInput(f"cursor {cursor[:40]!r} is not one this service issued", errors=[{"field": "cursor", "message": "invalid cursor"}]) from None
    if not _SNAPSHOT.match(snapshot) or not 0 <= last_id < 2**62:
        raise InvalidInput(f"cursor {cursor[:40]!r} is not one this service issued", errors=[{"field": "cursor", "message": "invalid cursor"}])
    return snapshot, last_id


async def _export_start(session: AsyncSession, cursor: str | None) -> tuple[str, int]:
    if cursor:
        return _read_export_cursor(cursor)
    return await repo.export_snapshot(session), 0


async def export_claims(*, session: AsyncSession, principal: Principal, region: str | None, period_from: date | None,
                        period_to: date | None, cursor: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """One row per claim with its parts (by party), filed in the period, in the region; a bank its
    own claims. Keyset-paged on the claim id under the first page's snapshot (a fixed set)."""
    if principal.has_role(*OUTSIDE_PARTY_ROLES) and not _is_admin(principal):
        raise Forbidden("insurers and guarantors export their obligations' claims through /v1/obligations")
    bank_id = principal.bank_id if principal.has_role("bank") and not _is_admin(principal) else None
    if principal.has_role("bank") and not bank_id and not _is_admin(principal):
        raise Forbidden("a bank token without bank_id sees no claims")
    prefix = _export_window(principal, region, period_from, period_to)
    snapshot, after = await _export_start(session, cursor)
    rows = await repo.export_claims(session, snapshot=snapshot, after_id=after, prefix=prefix, bank_id=bank_id,
                                    filed_from=period_from, filed_to=period_to, limit=limit)
    parts: dict[int, dict[str, Any]] = {}
    for p in await repo.claim_part_rows(session, [r["id"] for r in rows]):
        parts.setdefault(p["claim_id"], {})[p["party"]] = p
    items = []
    for r in rows:
        item = {"claim_id": r["id"], **{k: r[k] for k in CLAIM_EXPORT_COLUMNS[1:16]}}
        for party in PARTIES:
            part = parts.get(r["id"], {}).get(party)
            for field, key in (("account", "party_account"), ("share", "share"), ("amount", "amount"), ("recovered", "recovered"),
                               ("status", "status")):
                item[f"{party}_{field}"] = part[key] if part is not None else None
        items.append(item)
    next_cursor = _export_cursor(snapshot, rows[-1]["id"]) if len(rows) == limit else None
    return items, next_cursor


async def export_breaker_changes(*, session: AsyncSession, principal: Principal, region: str | None, period_from: date | None,
                                 period_to: date | None, cursor: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """One row per breaker trip or reinstatement (熔断 / 恢复) on a business date in the period."""
    prefix = _export_window(principal, region, period_from, period_to)
    snapshot, after = await _export_start(session, cursor)
    rows = await repo.export_breaker_changes(session, snapshot=snapshot, after_id=after, prefix=prefix, changed_from=period_from,
                                             changed_to=period_to, limit=limit)
    items = [{"change_id": r["id"], **{k: r[k] for k in BREAKER_EXPORT_COLUMNS[1:]}} for r in rows]
    next_cursor = _export_cursor(snapshot, rows[-1]["id"]) if len(rows) == limit else None
    return items, next_cursor


# ---- business metrics --------------------------------------------------------------------------


async def business_metrics(*, session: AsyncSession) -> dict[str, Any]:
    """The gauges' values: per fund its balance and leverage used (county funds), and how many
    villages and townships are broken now. A handful of small aggregate queries."""
    today = await _today(session)
    balances: dict[str, Decimal] = {}
    leverage_used: dict[str, Decimal] = {}
    for f in await repo.metric_funds(session):
        balances[f["code"]] = f["balance"]
        leverage = await _household_leverage(session, f["county_code"], today)
        if leverage is not None:
            leverage_used[f["code"]] = domain.leverage_used(covered_outstanding=f["covered_outstanding"], leverage=leverage,
                                                            balance=f["balance"])
    counts = await repo.breaker_counts(session, None)
    return {"balances": balances, "leverage_used": leverage_used,
            "broken": {"village": counts.get("village", 0), "township": counts.get("township", 0)}}
