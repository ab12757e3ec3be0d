"""subsidy routes: parse, call the service, return."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from kit.auth import Principal, require_scope
from kit.db import Session
from kit.errors import Conflict, DependencyUnavailable, Forbidden, InvalidInput, problem_responses
from subsidy import documents, service
from subsidy.errors import (
    AccountNotFound,
    BatchNotFound,
    BatchStateConflict,
    FundBelowCommitted,
    InvalidPlan,
    NoticeNotFound,
    PaymentsIncomplete,
    PeriodNotEnded,
    PlanExists,
    PlanNotFound,
    RegisterTooLong,
)
from subsidy.schemas import (
    AccountPage,
    AccountPublic,
    AllocationIn,
    ApprovalForm,
    BatchPage,
    BatchPay,
    BatchPublic,
    BatchReconcile,
    EventsApplied,
    FundFigures,
    FundUpdate,
    HouseholdStatus,
    HouseholdsUpdated,
    LinePage,
    LoanEventIn,
    NoticePage,
    PaidFigures,
    PlanCreate,
    PlanPage,
    PlanPublic,
    SettlementCreate,
    decode_cursor,
    encode_cursor,
)

router = APIRouter(prefix="/v1")
# kit's scoped("…") as explicit aliases, so type checkers accept them in annotations
SubsidyReader = Annotated[Principal, Depends(require_scope("subsidy:read"))]
SubsidyWriter = Annotated[Principal, Depends(require_scope("subsidy:write"))]
InternalCaller = Annotated[Principal, Depends(require_scope("internal"))]

Limit = Annotated[int, Query(ge=1, le=500)]
VillageQuery = Annotated[str | None, Query(pattern=r"^[0-9]{12}$", description="only this village's lines")]
LoanIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,64}$")]
PDF: dict[int | str, dict[str, Any]] = {200: {"content": {"application/pdf": {}}, "description": "PDF document"}}
CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}, "description": "CSV document"}}


def _bad_cursor() -> InvalidInput:
    return InvalidInput("cursor is not one this service issued", errors=[{"field": "cursor", "message": "unreadable"}])


def _cursor_int(cursor: str | None) -> int:
    key = decode_cursor(cursor)
    if key is None:
        return 0
    if len(key) != 1 or not isinstance(key[0], int):
        raise _bad_cursor()
    return key[0]


def _cursor_key(cursor: str | None, *types: type) -> tuple[Any, ...] | None:
    """A cursor this service issued, as a tuple of the given types (None when absent)."""
    key = decode_cursor(cursor)
    if key is None:
        return None
    if len(key) != len(types) or not all(isinstance(part, kind) for part, kind in zip(key, types, strict=True)):
        raise _bad_cursor()
    return tuple(key)


def _next(key: Any) -> str | None:
    if key is None:
        return None
    return encode_cursor(list(key) if isinstance(key, tuple) else [key])


# ---------------------------------------------------------------- plans


@router.post(
    "/subsidy-plans", status_code=201, response_model=PlanPublic, summary="Create a county subsidy plan (贴息计划)",
    responses=problem_responses(InvalidPlan, Forbidden, PlanExists),
)
async def create_plan(body: PlanCreate, session: Session, principal: SubsidyWriter) -> dict[str, Any]:
    return await service.create_plan(session=session, principal=principal, data=body)


@router.get("/subsidy-plans", response_model=PlanPage, summary="List subsidy plans")
async def list_plans(
    session: Session, principal: SubsidyReader, county_code: Annotated[str | None, Query(pattern=r"^[0-9]{12}$")] = None,
    year: int | None = None, limit: Limit = 50, cursor: str | None = None,
) -> dict[str, Any]:
    items, key = await service.list_plans(session=session, after_id=_cursor_int(cursor), limit=limit, county_code=county_code, year=year)
    return {"items": items, "next_cursor": _next(key)}


@router.get("/subsidy-plans/{plan_id}", response_model=PlanPublic, summary="One subsidy plan", responses=problem_responses(PlanNotFound))
async def get_plan(plan_id: int, session: Session, principal: SubsidyReader) -> dict[str, Any]:
    return await service.get_plan(session=session, plan_id=plan_id)


@router.put(
    "/subsidy-plans/{plan_id}/fund", response_model=PlanPublic, summary="Change a plan's total fund (贴息资金总额)",
    responses=problem_responses(PlanNotFound, Forbidden, FundBelowCommitted),
)
async def set_fund(plan_id: int, body: FundUpdate, session: Session, principal: SubsidyWriter) -> dict[str, Any]:
    return await service.set_total_fund(session=session, principal=principal, plan_id=plan_id, total_fund=body.total_fund)


@router.put(
    "/subsidy-plans/{plan_id}/allocations", response_model=PlanPublic, summary="Replace the township allocation (计划分配)",
    responses=problem_responses(PlanNotFound, Forbidden, InvalidPlan),
)
async def set_allocations(
    plan_id: int, body: Annotated[list[AllocationIn], Body(max_length=1000)], session: Session, principal: SubsidyWriter
) -> dict[str, Any]:
    return await service.replace_allocations(session=session, principal=principal, plan_id=plan_id, allocations=body)


# ---------------------------------------------------------------- loan events and households (internal)


@router.post(
    "/subsidy-events", response_model=EventsApplied,
    summary="Replay loan events, each applied once by seq (internal; operators only: the consumer reads the log itself)",
    responses=problem_responses(InvalidInput, Forbidden),
)
async def apply_events(
    request: Request, body: Annotated[list[LoanEventIn], Body(max_length=5000)], session: Session, principal: InternalCaller
) -> dict[str, Any]:
    limit = request.app.state.settings.event_batch_limit
    if len(body) > limit:
        raise InvalidInput(f"at most {limit} events per request", errors=[{"field": "body", "message": f"{len(body)} events"}])
    return await service.apply_events(session=session, events=body)


@router.put(
    "/subsidy-accounts/households", response_model=HouseholdsUpdated, summary="Household registry status (建档立卡) (internal)",
    responses=problem_responses(InvalidInput, Forbidden),
)
async def put_households(
    request: Request, body: Annotated[list[HouseholdStatus], Body(max_length=100_000)], session: Session, principal: InternalCaller
) -> dict[str, Any]:
    limit = request.app.state.settings.household_batch_limit
    if len(body) > limit:
        raise InvalidInput(f"at most {limit} households per request", errors=[{"field": "body", "message": f"{len(body)} households"}])
    return {"updated": await service.update_households(session=session, households=body)}


# ---------------------------------------------------------------- accounts


@router.get("/subsidy-accounts", response_model=AccountPage, summary="Per-loan subsidy accounts the caller may see")
async def list_accounts(
    session: Session, principal: SubsidyReader,
    household_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9-]{1,64}$")] = None,
    status: Literal["active", "overdue", "defaulted", "closed", "written_off", "diverted"] | None = None,
    limit: Limit = 50, cursor: str | None = None,
) -> dict[str, Any]:
    key = _cursor_key(cursor, str)
    items, last = await service.list_accounts(
        session=session, principal=principal, after=key[0] if key else None, limit=limit, household_id=household_id, status=status
    )
    return {"items": items, "next_cursor": _next(last)}


@router.get(
    "/subsidy-accounts/{loan_id}", response_model=AccountPublic, summary="One loan's subsidy account with its loan-years",
    responses=problem_responses(AccountNotFound, Forbidden),
)
async def get_account(loan_id: LoanIdPath, session: Session, principal: SubsidyReader) -> dict[str, Any]:
    return await service.get_account(session=session, principal=principal, loan_id=loan_id)


@router.get(
    "/subsidy-approval-forms/{loan_id}", response_model=ApprovalForm, summary="扶贫贴息贷款申报审批表 fields",
    responses=problem_responses(AccountNotFound, Forbidden),
)
async def approval_form(loan_id: LoanIdPath, session: Session, principal: SubsidyReader) -> dict[str, Any]:
    return await service.approval_form(session=session, principal=principal, loan_id=loan_id)


# ---------------------------------------------------------------- settlements


@router.post(
    "/settlements", status_code=201, response_model=BatchPublic, summary="Settle a township's loan-years for a plan period",
    responses=problem_responses(InvalidInput, Forbidden, PlanNotFound, PeriodNotEnded, DependencyUnavailable),
)
async def create_settlement(request: Request, body: SettlementCreate, session: Session, principal: SubsidyWriter) -> dict[str, Any]:
    return await service.create_settlement(
        session=session, principal=principal, data=body, applications=request.app.state.applications,
        chunk_loans=request.app.state.settings.settlement_chunk_loans,
    )


EXPORT_FORMATS = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
SNAPSHOT = re.compile(r"^[0-9]{1,20}:[0-9]{1,20}:([0-9]{1,20}(,[0-9]{1,20})*)?$")
EXPORT_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One row per settlement line; the next page's cursor in the X-Next-Cursor header (absent on the last page)",
        "content": {"application/x-ndjson": {}, "text/csv": {}},
        "headers": {"X-Next-Cursor": {"description": "cursor of the next page", "schema": {"type": "string"}}},
    }
}


def _valid_snapshot(snapshot: str) -> bool:
    """``xmin:xmax:xip,…`` as PostgreSQL accepts it: xmin ≤ xmax, in-progress ids ascending in [xmin, xmax)."""
    if not SNAPSHOT.match(snapshot):
        return False
    xmin, xmax, xip = snapshot.split(":")
    ids = [int(x) for x in xip.split(",") if x]
    bounded = all(0 < int(v) < 2**63 for v in (xmin, xmax, *ids))
    return bounded and int(xmin) <= int(xmax) and ids == sorted(set(ids)) and all(int(xmin) <= x < int(xmax) for x in ids)


def _export_position(cursor: str | None, filters: list[str]) -> service.ExportPosition | None:
    """An export cursor: the first page's snapshot, the filters it was issued for, the last key."""
    key = _cursor_key(cursor, str, str, str, str, int, str, int)
    if key is None:
        return None
    snapshot, *issued_for = key[:4]
    if not _valid_snapshot(snapshot):
        raise _bad_cursor()
    if list(issued_for) != filters:
        raise InvalidInput("this cursor was issued for other region or period filters", errors=[{"field": "cursor", "message": "filters differ"}])
    return service.ExportPosition(snapshot=snapshot, after=(key[4], key[5], key[6]))


@router.get(
    "/settlements/export", summary="Settlement lines granted or paid, per region and period (NDJSON or CSV, cursor-paged)",
    response_class=Response, responses={**EXPORT_DOC, **problem_responses(InvalidInput, Forbidden)},
)
async def export_settlements(
    session: Session, principal: SubsidyReader,
    region: Annotated[str | None, Query(pattern=r"^[0-9]{12}$", description="12-digit division code")] = None,
    date_from: Annotated[date | None, Query(alias="from", description="first period date (payment date, or business date while unpaid)")] = None,
    date_to: Annotated[date | None, Query(alias="to", description="last period date, inclusive")] = None,
    format: Literal["ndjson", "csv"] = "ndjson",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1_000,
    cursor: str | None = None,
) -> Response:
    filters = [region or "", date_from.isoformat() if date_from else "", date_to.isoformat() if date_to else ""]
    rows, position = await service.export_settlement_lines(
        session=session, principal=principal, region=region, date_from=date_from, date_to=date_to,
        position=_export_position(cursor, filters), limit=limit,
    )
    body = documents.export_csv(rows) if format == "csv" else documents.export_ndjson(rows)
    headers = {}
    if position is not None and position.after is not None:
        headers["X-Next-Cursor"] = encode_cursor([position.snapshot, *filters, *position.after])
    return Response(body, media_type=EXPORT_FORMATS[format], headers=headers)


@router.get("/settlements", response_model=BatchPage, summary="Settlement batches in the caller's region")
async def list_settlements(
    session: Session, principal: SubsidyReader, plan_id: int | None = None,
    status: Literal["draft", "approved", "paid", "reconciled", "cancelled"] | None = None, limit: Limit = 50, cursor: str | None = None,
) -> dict[str, Any]:
    items, key = await service.list_batches(
        session=session, principal=principal, after_id=_cursor_int(cursor), limit=limit, plan_id=plan_id, status=status
    )
    return {"items": items, "next_cursor": _next(key)}


@router.get("/settlements/{batch_id}", response_model=BatchPublic, summary="One settlement batch", responses=problem_responses(BatchNotFound, Forbidden))
async def get_settlement(batch_id: int, session: Session, principal: SubsidyReader) -> dict[str, Any]:
    return await service.get_batch(session=session, principal=principal, batch_id=batch_id)


@router.get(
    "/settlements/{batch_id}/lines", response_model=LinePage, summary="A batch's loan-years: amount, eligibility, reason",
    responses=problem_responses(BatchNotFound, Forbidden),
)
async def settlement_lines(
    batch_id: int, session: Session, principal: SubsidyReader, eligible: bool | None = None, reason: str | None = None,
    limit: Limit = 100, cursor: str | None = None,
) -> dict[str, Any]:
    after = _cursor_key(cursor, str, int)
    items, last = await service.batch_lines(session=session, principal=principal, batch_id=batch_id, after=after, limit=limit, eligible=eligible, reason=reason)
    return {"items": items, "next_cursor": _next(last)}


@router.post(
    "/settlements/{batch_id}/approve", response_model=BatchPublic, summary="Township finance office approves a draft batch",
    responses=problem_responses(BatchNotFound, Forbidden, BatchStateConflict),
)
async def approve_settlement(batch_id: int, session: Session, principal: SubsidyWriter) -> dict[str, Any]:
    return await service.approve_batch(session=session, principal=principal, batch_id=batch_id)


@router.post(
    "/settlements/{batch_id}/pay", response_model=BatchPublic, summary="Record the payment of an approved batch, one reference per recipient",
    responses=problem_responses(BatchNotFound, Forbidden, BatchStateConflict, PaymentsIncomplete),
)
async def pay_settlement(request: Request, batch_id: int, body: BatchPay, session: Session, principal: SubsidyWriter) -> dict[str, Any]:
    return await service.pay_batch(
        session=session, principal=principal, batch_id=batch_id, data=body, webhook_max_lines=request.app.state.settings.webhook_max_lines
    )


@router.post(
    "/settlements/{batch_id}/reconcile", response_model=BatchPublic, summary="Reconcile a paid batch against the statement",
    responses=problem_responses(BatchNotFound, Forbidden, BatchStateConflict, InvalidInput),
)
async def reconcile_settlement(batch_id: int, body: BatchReconcile, session: Session, principal: SubsidyWriter) -> dict[str, Any]:
    return await service.reconcile_batch(session=session, principal=principal, batch_id=batch_id, data=body)


@router.post(
    "/settlements/{batch_id}/cancel", response_model=BatchPublic, summary="Withdraw a draft batch, releasing its loan-years and fund",
    responses=problem_responses(BatchNotFound, Forbidden, BatchStateConflict),
)
async def cancel_settlement(batch_id: int, session: Session, principal: SubsidyWriter) -> dict[str, Any]:
    return await service.cancel_batch(session=session, principal=principal, batch_id=batch_id)


@router.get(
    "/settlements/{batch_id}/register.csv", summary="贴息资金发放登记表 (CSV)", response_class=StreamingResponse,
    responses={**CSV, **problem_responses(BatchNotFound, Forbidden)},
)
async def register_csv(
    request: Request, batch_id: int, session: Session, principal: SubsidyReader, village_code: VillageQuery = None
) -> StreamingResponse:
    body = await service.register_csv(
        session=session, sessionmaker=request.app.state.sessionmaker, principal=principal, batch_id=batch_id, village_code=village_code
    )
    return StreamingResponse(
        body, media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f"attachment; filename=\"register-{batch_id}.csv\""},
    )


@router.get(
    "/settlements/{batch_id}/register.pdf", summary="贴息资金发放登记表 (PDF)", response_class=Response,
    responses={**PDF, **problem_responses(BatchNotFound, Forbidden, RegisterTooLong)},
)
async def register_pdf(
    request: Request, batch_id: int, session: Session, principal: SubsidyReader, village_code: VillageQuery = None
) -> Response:
    pdf = await service.register_pdf(
        session=session, principal=principal, batch_id=batch_id, village_code=village_code,
        max_lines=request.app.state.settings.register_pdf_max_lines,
    )
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": f"inline; filename=\"register-{batch_id}.pdf\""})


# ---------------------------------------------------------------- notices and figures


@router.get("/subsidy-notices", response_model=NoticePage, summary="Collection notices (贴息资金领取通知书) the caller may see")
async def list_notices(
    session: Session, principal: SubsidyReader, household_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9-]{1,64}$")] = None,
    batch_id: int | None = None, limit: Limit = 50, cursor: str | None = None,
) -> dict[str, Any]:
    after = _cursor_key(cursor, int, str)
    items, last = await service.list_notices(session=session, principal=principal, after=after, limit=limit, household_id=household_id, batch_id=batch_id)
    return {"items": items, "next_cursor": _next(last)}


@router.get(
    "/subsidy-notices/{batch_id}/{recipient_id}.pdf", summary="贴息资金领取通知书 for one recipient (PDF)", response_class=Response,
    responses={**PDF, **problem_responses(NoticeNotFound, Forbidden, Conflict)},
)
async def notice_pdf(
    batch_id: int, recipient_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,64}$")], session: Session, principal: SubsidyReader
) -> Response:
    pdf = await service.notice_pdf(session=session, principal=principal, batch_id=batch_id, recipient_id=recipient_id)
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": f"inline; filename=\"notice-{batch_id}-{recipient_id}.pdf\""})


@router.get(
    "/subsidy-figures/paid", response_model=PaidFigures, summary="Subsidy paid in a region, by sub-region and plan year, with the total",
    responses=problem_responses(InvalidInput, Forbidden),
)
async def paid_figures(
    session: Session, principal: SubsidyReader, level: Literal["county", "township", "village"] = "township", year: int | None = None,
    region: Annotated[str | None, Query(pattern=r"^[0-9]{12}$", description="any division code inside the caller's region")] = None,
) -> dict[str, Any]:
    return await service.paid_figures(session=session, principal=principal, level=level, year=year, region=region)


@router.get("/subsidy-figures/funds", response_model=FundFigures, summary="Fund used and remaining per plan", responses=problem_responses(Forbidden))
async def fund_figures(session: Session, principal: SubsidyReader, year: int | None = None) -> dict[str, Any]:
    return {"items": await service.fund_figures(session=session, principal=principal, year=year)}

