"""risk-pool routes: parse, call the service, return."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import Response

from kit.auth import CurrentPrincipal, Principal, require_scope
from kit.db import Session
from kit.errors import Forbidden, InvalidInput, problem_responses
from risk_pool import errors, service
from risk_pool.exports import ExportFormat, export_response
from risk_pool.schemas import (
    BreakerPage,
    BreakerPolicyIn,
    BreakerPolicyPublic,
    BreakerPublic,
    ClaimBatchCreate,
    ClaimBatchPublic,
    ClaimCreate,
    ClaimPage,
    ClaimPublic,
    EventsApplied,
    ExposurePublic,
    FeeBillingCreate,
    FeeBillingPublic,
    FeeBillPage,
    FundCreate,
    FundPage,
    FundPublic,
    LendingStatus,
    LoanEventIn,
    MovementCreate,
    MovementPublic,
    ObligationPage,
    ObligationPublic,
    RecoveryCreate,
    RecoveryPublic,
    ReinstatementCreate,
    RiskFigures,
    SchemeCreate,
    SchemePage,
    SchemePublic,
    SettlementCreate,
    StatementPublic,
    TopUpCreate,
    TopUpPublic,
    VillageExposurePage,
)

router = APIRouter(prefix="/v1")

READ_SCOPES = frozenset({"registry:read", "applications:read", "rating:read", "risk:read", "subsidy:read"})
Reader = Annotated[Principal, Depends(require_scope("risk:read"))]
Writer = Annotated[Principal, Depends(require_scope("risk:write"))]
Internal = Annotated[Principal, Depends(require_scope("internal"))]
Limit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(max_length=64)]
Division = Annotated[str, Path(pattern=r"^\d{12}$")]
DivisionQuery = Annotated[str | None, Query(pattern=r"^\d{12}$")]
FundCode = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Id = Annotated[int, Path(ge=1, le=2**62)]


async def any_read_scope(principal: CurrentPrincipal) -> Principal:
    """Lending status is asked by applications with its caller's token: any read scope will do."""
    if not READ_SCOPES.intersection(principal.scopes):
        raise Forbidden("token carries no read scope")
    return principal


ExportLimit = Annotated[int, Query(ge=1, le=10_000)]
ExportCursor = Annotated[str | None, Query(max_length=8192, description="X-Next-Cursor of the previous page")]
PeriodFrom = Annotated[date | None, Query(alias="from")]
PeriodTo = Annotated[date | None, Query(alias="to")]
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/x-ndjson": {}, "text/csv": {}},
          "description": "Rows as NDJSON or CSV (header row); X-Next-Cursor names the next page, absent on the last",
          "headers": {"X-Next-Cursor": {"schema": {"type": "string"}, "description": "cursor of the next page"}}},
    **problem_responses(Forbidden, InvalidInput),
}

AnyReader = Annotated[Principal, Depends(any_read_scope)]
# the gateway requires an Idempotency-Key on operations marked so (a replay returns the stored answer)
MONEY_MOVING: dict[str, Any] = {"x-money-moving": True}


# ---- funds ----------------------------------------------------------------------------------


@router.get("/funds", response_model=FundPage, summary="List risk-compensation funds (风险补偿金)")
async def list_funds(session: Session, principal: Reader, limit: Limit = 100, cursor: Cursor = None) -> dict[str, Any]:
    items, next_cursor = await service.list_funds(session=session, principal=principal, cursor=cursor, limit=limit)
    return {"items": items, "next_cursor": next_cursor}


@router.post("/funds", response_model=FundPublic, status_code=201, summary="Open a fund (finance bureau)",
             responses=problem_responses(Forbidden, InvalidInput, errors.FundExists))
async def create_fund(session: Session, principal: Writer, body: FundCreate) -> dict[str, Any]:
    return await service.create_fund(session=session, principal=principal, data=body)


@router.get("/funds/{code}", response_model=FundPublic, summary="One fund with its balance and leverage capacity",
            responses=problem_responses(Forbidden, errors.FundNotFound))
async def get_fund(session: Session, principal: Reader, code: FundCode) -> dict[str, Any]:
    return await service.get_fund(session=session, principal=principal, code=code)


@router.post("/funds/{code}/deposits", response_model=MovementPublic, status_code=201, summary="Deposit into a fund (finance bureau)",
             responses=problem_responses(Forbidden, errors.FundNotFound, errors.DuplicateReference), openapi_extra=MONEY_MOVING)
async def deposit(session: Session, principal: Writer, code: FundCode, body: MovementCreate) -> dict[str, Any]:
    return await service.deposit(session=session, principal=principal, code=code, amount=body.amount, memo=body.memo,
                                 reference=body.reference, value_date=body.value_date)


@router.post("/funds/{code}/withdrawals", response_model=MovementPublic, status_code=201, summary="Withdraw from a fund (finance bureau)",
             responses=problem_responses(Forbidden, errors.FundNotFound, errors.InsufficientFunds), openapi_extra=MONEY_MOVING)
async def withdraw(session: Session, principal: Writer, code: FundCode, body: MovementCreate) -> dict[str, Any]:
    return await service.withdraw(session=session, principal=principal, code=code, amount=body.amount, memo=body.memo,
                                  reference=body.reference, value_date=body.value_date)


@router.post("/funds/{code}/top-ups", response_model=TopUpPublic, status_code=201,
             summary="City fund tops up county funds by lending volume (市级奖补)",
             responses=problem_responses(Forbidden, errors.FundNotFound, errors.NotACityFund, errors.InsufficientFunds), openapi_extra=MONEY_MOVING)
async def top_up(session: Session, principal: Writer, code: FundCode, body: TopUpCreate) -> dict[str, Any]:
    return await service.top_up(session=session, principal=principal, code=code, amount=body.amount, memo=body.memo,
                                reference=body.reference, value_date=body.value_date, volume_from=body.volume_from,
                                volume_to=body.volume_to)


@router.get("/funds/{code}/statement", response_model=StatementPublic, summary="Fund statement for a period",
            responses=problem_responses(Forbidden, errors.FundNotFound, InvalidInput))
async def statement(session: Session, principal: Reader, code: FundCode,
                    period_from: Annotated[date, Query(alias="from")], period_to: Annotated[date, Query(alias="to")]) -> dict[str, Any]:
    return await service.fund_statement(session=session, principal=principal, code=code, period_from=period_from, period_to=period_to)


# ---- sharing schemes ------------------------------------------------------------------------


@router.post("/sharing-schemes", response_model=SchemePublic, status_code=201, summary="Add a loss-sharing scheme (风险分担)",
             responses=problem_responses(Forbidden, errors.SchemeInvalid, errors.SchemeExists))
async def create_scheme(session: Session, principal: Writer, body: SchemeCreate) -> dict[str, Any]:
    return await service.create_scheme(session=session, principal=principal, data=body)


@router.get("/sharing-schemes", response_model=SchemePage, summary="List sharing schemes")
async def list_schemes(session: Session, principal: Reader, county_code: DivisionQuery = None,
                       borrower_type: Literal["household", "enterprise"] | None = None,
                       limit: Limit = 100, cursor: Cursor = None) -> dict[str, Any]:
    items, next_cursor = await service.list_schemes(session=session, county_code=county_code, borrower_type=borrower_type,
                                                    cursor=cursor, limit=limit)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/sharing-schemes/{scheme_id}", response_model=SchemePublic, summary="One sharing scheme",
            responses=problem_responses(errors.SchemeNotFound))
async def get_scheme(session: Session, principal: Reader, scheme_id: Id) -> dict[str, Any]:
    return await service.get_scheme(session=session, scheme_id=scheme_id)


# ---- loan events (internal) ---------------------------------------------------------------------


@router.post("/risk-events", response_model=EventsApplied,
             summary="Operator replay: apply loan events, once each by seq (internal; the consumer reads applications' log itself)",
             responses=problem_responses(Forbidden, InvalidInput))
async def apply_events(session: Session, principal: Internal,
                       body: Annotated[list[LoanEventIn], Body(max_length=50_000)]) -> dict[str, Any]:
    return await service.apply_events(session=session, events=body)


# ---- exposures ------------------------------------------------------------------------------


@router.get("/exposures/loans/{loan_id}", response_model=ExposurePublic, summary="One loan's exposure",
            responses=problem_responses(Forbidden, errors.LoanNotFound))
async def get_exposure(session: Session, principal: Reader, loan_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,64}$")]) -> dict[str, Any]:
    return await service.get_exposure(session=session, principal=principal, loan_id=loan_id)


@router.get("/exposures/villages", response_model=VillageExposurePage, summary="Exposure per village",
            responses=problem_responses(Forbidden))
async def list_village_exposures(session: Session, principal: Reader, region: DivisionQuery = None, limit: Limit = 100,
                                 cursor: Cursor = None) -> dict[str, Any]:
    items, next_cursor = await service.list_village_exposures(session=session, principal=principal, region=region, cursor=cursor, limit=limit)
    return {"items": items, "next_cursor": next_cursor}


# ---- claims ---------------------------------------------------------------------------------


@router.post("/claims", response_model=ClaimPublic, status_code=201, summary="File a loss claim for a defaulted loan (bank)",
             responses=problem_responses(Forbidden, errors.LoanNotFound, errors.NotYetClaimable, errors.ClaimExists), openapi_extra=MONEY_MOVING)
async def file_claim(session: Session, principal: Writer, body: ClaimCreate) -> dict[str, Any]:
    result = await service.file_claims(session=session, principal=principal, loan_ids=[body.loan_id])
    return await service.get_claim(session=session, principal=principal, claim_id=result["claim_ids"][0])


@router.post("/claims/batches", response_model=ClaimBatchPublic, status_code=201, summary="File many claims at once (bank)",
             responses=problem_responses(Forbidden, InvalidInput, errors.ClaimsRejected), openapi_extra=MONEY_MOVING)
async def file_claims(session: Session, principal: Writer, body: ClaimBatchCreate) -> dict[str, Any]:
    return await service.file_claims(session=session, principal=principal, loan_ids=body.loan_ids)


@router.get("/claims", response_model=ClaimPage, summary="List claims (a bank its own, officers their region)",
            responses=problem_responses(Forbidden))
async def list_claims(session: Session, principal: Reader, status: Literal["awaiting_funds", "paid"] | None = None,
                      limit: Limit = 100, cursor: Cursor = None) -> dict[str, Any]:
    items, next_cursor = await service.list_claims(session=session, principal=principal, status=status, cursor=cursor, limit=limit)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/claims/export", response_class=Response, responses=EXPORT_RESPONSES,
            summary="Export claims with their parts, per region and filing period (NDJSON or CSV, keyset-paged)")
async def export_claims(session: Session, principal: Reader, region: DivisionQuery = None, period_from: PeriodFrom = None,
                        period_to: PeriodTo = None, format: ExportFormat = "ndjson", limit: ExportLimit = 1000,
                        cursor: ExportCursor = None) -> Response:
    items, next_cursor = await service.export_claims(session=session, principal=principal, region=region, period_from=period_from,
                                                     period_to=period_to, cursor=cursor, limit=limit)
    return export_response(items, columns=service.CLAIM_EXPORT_COLUMNS, fmt=format, next_cursor=next_cursor)


@router.get("/claims/{claim_id}", response_model=ClaimPublic, summary="One claim with its parts",
            responses=problem_responses(Forbidden, errors.ClaimNotFound))
async def get_claim(session: Session, principal: Reader, claim_id: Id) -> dict[str, Any]:
    return await service.get_claim(session=session, principal=principal, claim_id=claim_id)


@router.post("/claims/{claim_id}/recoveries", response_model=RecoveryPublic, status_code=201,
             summary="Record money recovered after a claim (追偿)",
             responses=problem_responses(Forbidden, errors.ClaimNotFound, errors.RecoveryTooLarge, errors.ClaimAwaitingFunds), openapi_extra=MONEY_MOVING)
async def record_recovery(session: Session, principal: Writer, claim_id: Id, body: RecoveryCreate) -> dict[str, Any]:
    return await service.record_recovery(session=session, principal=principal, claim_id=claim_id, amount=body.amount,
                                         reference=body.reference, value_date=body.value_date)


@router.get("/claims/{claim_id}/recoveries", response_model=list[RecoveryPublic], summary="Recoveries of a claim",
            responses=problem_responses(Forbidden, errors.ClaimNotFound))
async def list_recoveries(session: Session, principal: Reader, claim_id: Id) -> list[dict[str, Any]]:
    return await service.list_recoveries(session=session, principal=principal, claim_id=claim_id)


# ---- obligations ----------------------------------------------------------------------------


@router.get("/obligations", response_model=ObligationPage, summary="Obligations (insurers and guarantors: their own)")
async def list_obligations(session: Session, principal: Reader, status: Literal["open", "settled"] | None = None,
                           claim_id: Annotated[int | None, Query(ge=1)] = None, limit: Limit = 100,
                           cursor: Cursor = None) -> dict[str, Any]:
    items, next_cursor = await service.list_obligations(session=session, principal=principal, status=status, claim_id=claim_id,
                                                        cursor=cursor, limit=limit)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/obligations/{obligation_id}", response_model=ObligationPublic, summary="One obligation",
            responses=problem_responses(Forbidden, errors.ObligationNotFound))
async def get_obligation(session: Session, principal: Reader, obligation_id: Id) -> dict[str, Any]:
    return await service.get_obligation(session=session, principal=principal, obligation_id=obligation_id)


@router.post("/obligations/{obligation_id}/settlement", response_model=ObligationPublic,
             summary="Settle an obligation (its insurer or guarantor)",
             responses=problem_responses(Forbidden, errors.ObligationNotFound, errors.ObligationSettled), openapi_extra=MONEY_MOVING)
async def settle_obligation(session: Session, principal: Writer, obligation_id: Id, body: SettlementCreate) -> dict[str, Any]:
    return await service.settle_obligation(session=session, principal=principal, obligation_id=obligation_id, reference=body.reference)


# ---- breakers and lending status -------------------------------------------------------------


@router.get("/breakers", response_model=BreakerPage, summary="Breaker map (熔断): villages and townships")
async def list_breakers(session: Session, principal: Reader, region: DivisionQuery = None,
                        level: Literal["village", "township"] | None = None, state: Literal["open", "broken"] | None = None,
                        limit: Limit = 100, cursor: Cursor = None) -> dict[str, Any]:
    items, next_cursor = await service.list_breakers(session=session, principal=principal, region=region, level=level, state=state,
                                                     cursor=cursor, limit=limit)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/breakers/export", response_class=Response, responses=EXPORT_RESPONSES,
            summary="Export breaker trips and reinstatements (熔断 history), per region and change period (NDJSON or CSV)")
async def export_breakers(session: Session, principal: Reader, region: DivisionQuery = None, period_from: PeriodFrom = None,
                          period_to: PeriodTo = None, format: ExportFormat = "ndjson", limit: ExportLimit = 1000,
                          cursor: ExportCursor = None) -> Response:
    items, next_cursor = await service.export_breaker_changes(session=session, principal=principal, region=region,
                                                              period_from=period_from, period_to=period_to, cursor=cursor, limit=limit)
    return export_response(items, columns=service.BREAKER_EXPORT_COLUMNS, fmt=format, next_cursor=next_cursor)


@router.get("/breakers/villages/{code}", response_model=BreakerPublic, summary="A village's breaker with its history",
            responses=problem_responses(errors.BreakerNotFound))
async def get_village_breaker(session: Session, principal: Reader, code: Division) -> dict[str, Any]:
    return await service.get_breaker(session=session, level="village", code=code)


@router.get("/breakers/townships/{code}", response_model=BreakerPublic, summary="A township's breaker with its history",
            responses=problem_responses(errors.BreakerNotFound))
async def get_township_breaker(session: Session, principal: Reader, code: Division) -> dict[str, Any]:
    return await service.get_breaker(session=session, level="township", code=code)


@router.post("/breakers/villages/{code}/reinstatements", response_model=BreakerPublic, status_code=201,
             summary="Reinstate a broken village (county officer)",
             responses=problem_responses(Forbidden, errors.BreakerNotFound, errors.ReinstatementRefused))
async def reinstate_village(session: Session, principal: Writer, code: Division, body: ReinstatementCreate) -> dict[str, Any]:
    return await service.reinstate(session=session, principal=principal, level="village", code=code, reason=body.reason)


@router.post("/breakers/townships/{code}/reinstatements", response_model=BreakerPublic, status_code=201,
             summary="Reinstate a broken township (county officer)",
             responses=problem_responses(Forbidden, errors.BreakerNotFound, errors.ReinstatementRefused))
async def reinstate_township(session: Session, principal: Writer, code: Division, body: ReinstatementCreate) -> dict[str, Any]:
    return await service.reinstate(session=session, principal=principal, level="township", code=code, reason=body.reason)


@router.get("/breakers/policies/{county_code}", response_model=BreakerPolicyPublic, summary="A county's breaker rule")
async def get_breaker_policy(session: Session, principal: Reader, county_code: Division) -> dict[str, Any]:
    return await service.get_breaker_policy(session=session, county_code=county_code)


@router.put("/breakers/policies/{county_code}", response_model=BreakerPolicyPublic, summary="Set a county's breaker rule (county officer)",
            responses=problem_responses(Forbidden, InvalidInput))
async def set_breaker_policy(session: Session, principal: Writer, county_code: Division, body: BreakerPolicyIn) -> dict[str, Any]:
    return await service.set_breaker_policy(session=session, principal=principal, county_code=county_code, data=body)


@router.get("/lending-status/{village_code}", response_model=LendingStatus, summary="May new loans be recommended in this village?")
async def lending_status(session: Session, principal: AnyReader, village_code: Division) -> dict[str, Any]:
    return await service.lending_status(session=session, village_code=village_code)


# ---- guarantee fees -------------------------------------------------------------------------


@router.post("/guarantee-fees/billings", response_model=FeeBillingPublic, status_code=201,
             summary="Accrue and bill guarantee fees (担保费) of a county up to a date",
             responses=problem_responses(Forbidden))
async def bill_fees(session: Session, principal: Writer, body: FeeBillingCreate) -> dict[str, Any]:
    return await service.bill_guarantee_fees(session=session, principal=principal, county_code=body.county_code, period_end=body.period_end)


@router.get("/guarantee-fees/bills", response_model=FeeBillPage, summary="Guarantee-fee bills (guarantor: its own; bank: its loans)")
async def list_fee_bills(session: Session, principal: Reader, loan_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9-]{1,64}$")] = None,
                         limit: Limit = 100, cursor: Cursor = None) -> dict[str, Any]:
    items, next_cursor = await service.list_fee_bills(session=session, principal=principal, loan_id=loan_id, cursor=cursor, limit=limit)
    return {"items": items, "next_cursor": next_cursor}


# ---- figures ------------------------------------------------------------------------------------


@router.get("/risk-figures", response_model=RiskFigures, summary="Fund balances, leverage used, claims by party, breaker map",
            responses=problem_responses(Forbidden))
async def risk_figures(session: Session, principal: Reader, region: DivisionQuery = None) -> dict[str, Any]:
    return await service.figures(session=session, principal=principal, region=region)
