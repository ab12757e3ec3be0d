"""applications routes: parse, call the service, return."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import StringConstraints

from applications import service
from applications.errors import (
    AlreadyOpen,
    DateInPast,
    DrivenElsewhere,
    Ineligible,
    InvalidRecord,
    LoanStateConflict,
    StepOutOfOrder,
    UnknownApplication,
    UnknownEnterprise,
    UnknownHousehold,
    UnknownLoan,
    UnknownRegion,
)
from applications.schemas import (
    AmountsOut,
    ApplicationCreate,
    ApplicationOut,
    ApplicationPage,
    ApprovalIn,
    ApprovalTimesOut,
    AttestationIn,
    BusinessDateIn,
    BusinessDateMoved,
    BusinessDateOut,
    CoverageOut,
    DisbursementIn,
    EligibilityIn,
    EligibilityOut,
    EnterpriseIn,
    EnterpriseOut,
    EnterprisePage,
    ExtensionIn,
    HouseholdIn,
    HouseholdOut,
    HouseholdPage,
    ImportReport,
    LendingPolicyIn,
    LendingPolicyOut,
    LendingPolicyPage,
    LoanEventOut,
    LoanEventPage,
    LoanOut,
    LoanPage,
    NoteIn,
    OverviewOut,
    ReasonIn,
    RecommendationIn,
    RegionOut,
    RegionPage,
    RenewalIn,
    RepaymentIn,
    RepaymentOut,
)
from applications.settings import Settings
from kit.auth import CurrentPrincipal, Principal, scoped
from kit.db import Session
from kit.errors import Conflict, DependencyUnavailable, Forbidden, InvalidInput, PayloadTooLarge, UnsupportedMediaType, problem_responses

router = APIRouter(prefix="/v1")

IMPORT_TYPES = frozenset({"text/csv", "application/x-ndjson"})
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,64}$")]
Code = Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")]
Limit = Annotated[int, Query(ge=1, le=1000)]
# The gateway requires an Idempotency-Key on these and replays duplicates; the bank reference and
# the state checks stay the second wall.
MONEY_MOVING: dict[str, Any] = {"x-money-moving": True}


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_clients(request: Request) -> service.Clients:
    return request.app.state.clients  # type: ignore[no-any-return]


AppSettings = Annotated[Settings, Depends(get_settings)]
AppClients = Annotated[service.Clients, Depends(get_clients)]


def any_scope(*scopes: str) -> Any:
    async def _dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.scopes.intersection(scopes):
            raise Forbidden(f"token lacks one of the scopes {', '.join(scopes)}")
        return principal

    return Annotated[Principal, Depends(_dependency)]


RegistryReader = any_scope("registry:read", "applications:read")


def _import_type(request: Request) -> str:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in IMPORT_TYPES:
        raise UnsupportedMediaType("send text/csv (with a header line) or application/x-ndjson")
    return ctype


# ---- business date ----


@router.get("/business-date", response_model=BusinessDateOut, summary="The platform's business date (any valid token)")
async def get_business_date(session: Session, settings: AppSettings, principal: CurrentPrincipal) -> BusinessDateOut:
    return BusinessDateOut(business_date=await service.business_date(session=session, settings=settings))


@router.put(
    "/business-date",
    response_model=BusinessDateMoved,
    summary="Move the business date forward (admin)",
    responses=problem_responses(InvalidInput, Forbidden),
)
async def put_business_date(body: BusinessDateIn, session: Session, settings: AppSettings, principal: CurrentPrincipal) -> BusinessDateMoved:
    return await service.move_business_date(session=session, settings=settings, principal=principal, new=body.business_date)


# ---- regions ----


@router.post(
    "/regions/import",
    response_model=ImportReport,
    summary="Bulk import of regions (text/csv or application/x-ndjson)",
    responses=problem_responses(UnsupportedMediaType, PayloadTooLarge, Forbidden),
)
async def import_regions(request: Request, session: Session, settings: AppSettings, principal: scoped("registry:write")) -> ImportReport:
    return await service.import_regions(session=session, settings=settings, principal=principal, body=request.stream(), content_type=_import_type(request))


@router.get("/regions", response_model=RegionPage, summary="List regions")
async def list_regions(
    session: Session, principal: RegistryReader, parent: Code | None = None, region: Code | None = None, cursor: str | None = None, limit: Limit = 100
) -> RegionPage:
    items, next_cursor = await service.list_regions(session=session, parent=parent, region=region, cursor=cursor, limit=limit)
    return RegionPage(items=items, next_cursor=next_cursor)


@router.get("/regions/{code}", response_model=RegionOut, summary="One region", responses=problem_responses(UnknownRegion))
async def get_region(code: Code, session: Session, principal: RegistryReader) -> RegionOut:
    return await service.get_region(session=session, code=code)


# ---- households ----


@router.post(
    "/households/import",
    response_model=ImportReport,
    summary="Bulk import of 建档立卡 households (text/csv or application/x-ndjson)",
    responses=problem_responses(UnsupportedMediaType, PayloadTooLarge, Forbidden),
)
async def import_households(request: Request, session: Session, settings: AppSettings, principal: scoped("registry:write")) -> ImportReport:
    return await service.import_households(session=session, settings=settings, principal=principal, body=request.stream(), content_type=_import_type(request))


@router.get("/households", response_model=HouseholdPage, summary="List households (an applicant sees its own)", responses=problem_responses(Forbidden))
async def list_households(
    session: Session,
    principal: RegistryReader,
    region: Code | None = None,
    status: Literal["poor", "exited", "edge", "removed"] | None = None,
    cursor: str | None = None,
    limit: Limit = 100,
) -> HouseholdPage:
    items, next_cursor = await service.list_households(session=session, principal=principal, region=region, status=status, cursor=cursor, limit=limit)
    return HouseholdPage(items=items, next_cursor=next_cursor)


@router.get("/households/{household_id}", response_model=HouseholdOut, summary="One household", responses=problem_responses(UnknownHousehold, Forbidden))
async def get_household(household_id: Id, session: Session, principal: RegistryReader) -> HouseholdOut:
    return await service.get_household(session=session, principal=principal, household_id=household_id)


@router.put(
    "/households/{household_id}",
    response_model=HouseholdOut,
    summary="Create or replace one household",
    responses=problem_responses(InvalidRecord, Forbidden),
)
async def put_household(household_id: Id, body: HouseholdIn, response: Response, session: Session, principal: scoped("registry:write")) -> HouseholdOut:
    out, created = await service.put_household(session=session, principal=principal, household_id=household_id, body=body)
    response.status_code = 201 if created else 200
    return out


# ---- enterprises ----


@router.post(
    "/enterprises",
    response_model=EnterpriseOut,
    status_code=201,
    summary="Register an enterprise",
    responses=problem_responses(InvalidRecord, Conflict, Forbidden),
)
async def create_enterprise(body: EnterpriseIn, session: Session, principal: scoped("registry:write")) -> EnterpriseOut:
    return await service.create_enterprise(session=session, principal=principal, body=body)


@router.get("/enterprises", response_model=EnterprisePage, summary="List enterprises")
async def list_enterprises(
    session: Session, principal: RegistryReader, region: Code | None = None, cursor: str | None = None, limit: Limit = 100
) -> EnterprisePage:
    items, next_cursor = await service.list_enterprises(session=session, principal=principal, region=region, cursor=cursor, limit=limit)
    return EnterprisePage(items=items, next_cursor=next_cursor)


@router.get("/enterprises/{enterprise_id}", response_model=EnterpriseOut, summary="One enterprise", responses=problem_responses(UnknownEnterprise, Forbidden))
async def get_enterprise(
    enterprise_id: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{18}$")], session: Session, principal: RegistryReader
) -> EnterpriseOut:
    return await service.get_enterprise(session=session, principal=principal, enterprise_id=enterprise_id.upper())


# ---- lending policy ----


@router.get("/lending-policies/{county_code}", response_model=LendingPolicyOut, summary="The county's policy in force (defaults when none is stored)")
async def get_policy(county_code: Code, session: Session, settings: AppSettings, principal: RegistryReader, on: date | None = None) -> LendingPolicyOut:
    return await service.get_policy(session=session, settings=settings, county_code=county_code, on=on)


@router.get("/lending-policies/{county_code}/versions", response_model=LendingPolicyPage, summary="Every stored version of a county's policy")
async def list_policies(county_code: Code, session: Session, principal: RegistryReader) -> LendingPolicyPage:
    return LendingPolicyPage(items=await service.list_policies(session=session, county_code=county_code))


@router.post(
    "/lending-policies/{county_code}/versions",
    response_model=LendingPolicyOut,
    status_code=201,
    summary="Store a policy version in force from effective_from (county officer of the county, admin)",
    responses=problem_responses(DateInPast, Forbidden),
)
async def put_policy(county_code: Code, body: LendingPolicyIn, session: Session, settings: AppSettings, principal: scoped("policy:write")) -> LendingPolicyOut:
    return await service.put_policy(session=session, settings=settings, principal=principal, county_code=county_code, body=body)


# ---- applications ----


@router.post(
    "/applications/eligibility",
    response_model=EligibilityOut,
    summary="Check every eligibility rule for a household loan",
    responses=problem_responses(Forbidden, DependencyUnavailable),
)
async def check_eligibility(
    body: EligibilityIn, session: Session, settings: AppSettings, clients: AppClients, principal: scoped("applications:read")
) -> EligibilityOut:
    return await service.check_eligibility(session=session, settings=settings, clients=clients, principal=principal, body=body)


@router.post(
    "/applications",
    response_model=ApplicationOut,
    status_code=201,
    summary="Submit a household or enterprise 带贫 application",
    responses=problem_responses(Ineligible, AlreadyOpen, DrivenElsewhere, UnknownEnterprise, Forbidden),
)
async def submit_application(body: ApplicationCreate, session: Session, settings: AppSettings, principal: scoped("applications:write")) -> ApplicationOut:
    return await service.submit_application(session=session, settings=settings, principal=principal, body=body)


@router.get("/applications", response_model=ApplicationPage, summary="List applications visible to the caller")
async def list_applications(
    session: Session,
    principal: scoped("applications:read"),
    region: Code | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: Limit = 100,
) -> ApplicationPage:
    items, next_cursor = await service.list_applications(session=session, principal=principal, region=region, status=status, cursor=cursor, limit=limit)
    return ApplicationPage(items=items, next_cursor=next_cursor)


@router.get(
    "/applications/{application_id}",
    response_model=ApplicationOut,
    summary="One application with its steps",
    responses=problem_responses(UnknownApplication, Forbidden),
)
async def get_application(application_id: Id, session: Session, principal: scoped("applications:read")) -> ApplicationOut:
    return await service.get_application(session=session, principal=principal, application_id=application_id)


STEP_ERRORS = problem_responses(UnknownApplication, StepOutOfOrder, Forbidden, InvalidInput)


@router.post(
    "/applications/{application_id}/attestation", response_model=ApplicationOut, summary="Village attestation (village officer)", responses=STEP_ERRORS
)
async def attest(application_id: Id, body: AttestationIn, session: Session, settings: AppSettings, principal: scoped("applications:write")) -> ApplicationOut:
    return await service.attest(session=session, settings=settings, principal=principal, application_id=application_id, **body.model_dump())


@router.post("/applications/{application_id}/review", response_model=ApplicationOut, summary="Township review (township officer)", responses=STEP_ERRORS)
async def review(application_id: Id, body: NoteIn, session: Session, settings: AppSettings, principal: scoped("applications:write")) -> ApplicationOut:
    return await service.review(session=session, settings=settings, principal=principal, application_id=application_id, note=body.note)


@router.post(
    "/applications/{application_id}/confirmation", response_model=ApplicationOut, summary="County confirmation (county officer)", responses=STEP_ERRORS
)
async def confirm(application_id: Id, body: NoteIn, session: Session, settings: AppSettings, principal: scoped("applications:write")) -> ApplicationOut:
    return await service.confirm(session=session, settings=settings, principal=principal, application_id=application_id, note=body.note)


@router.post(
    "/applications/{application_id}/recommendation",
    response_model=ApplicationOut,
    summary="Recommend to a bank (county officer)",
    responses={**STEP_ERRORS, **problem_responses(Ineligible, DependencyUnavailable)},
)
async def recommend(
    application_id: Id, body: RecommendationIn, session: Session, settings: AppSettings, clients: AppClients, principal: scoped("applications:write")
) -> ApplicationOut:
    return await service.recommend(
        session=session, settings=settings, clients=clients, principal=principal, application_id=application_id, bank_id=body.bank_id
    )


@router.post("/applications/{application_id}/approval", response_model=ApplicationOut, summary="The bank approves (its own bank only)", responses=STEP_ERRORS)
async def approve(application_id: Id, body: ApprovalIn, session: Session, settings: AppSettings, principal: scoped("applications:write")) -> ApplicationOut:
    return await service.approve(
        session=session,
        settings=settings,
        principal=principal,
        application_id=application_id,
        approved_amount=body.approved_amount,
        annual_rate=body.annual_rate,
    )


@router.post("/applications/{application_id}/decline", response_model=ApplicationOut, summary="The bank declines with a reason", responses=STEP_ERRORS)
async def decline(application_id: Id, body: ReasonIn, session: Session, settings: AppSettings, principal: scoped("applications:write")) -> ApplicationOut:
    return await service.decline(session=session, settings=settings, principal=principal, application_id=application_id, reason=body.reason)


@router.post(
    "/applications/{application_id}/rejection",
    response_model=ApplicationOut,
    summary="Reject with a reason (the officer of the next step)",
    responses=STEP_ERRORS,
)
async def reject(application_id: Id, body: ReasonIn, session: Session, settings: AppSettings, principal: scoped("applications:write")) -> ApplicationOut:
    return await service.reject(session=session, settings=settings, principal=principal, application_id=application_id, reason=body.reason)


@router.post("/applications/{application_id}/withdrawal", response_model=ApplicationOut, summary="The applicant withdraws", responses=STEP_ERRORS)
async def withdraw(application_id: Id, body: NoteIn, session: Session, settings: AppSettings, principal: scoped("applications:write")) -> ApplicationOut:
    return await service.withdraw(session=session, settings=settings, principal=principal, application_id=application_id, reason=body.note or None)


@router.post(
    "/applications/{application_id}/disbursement",
    response_model=LoanOut,
    status_code=201,
    summary="The bank disburses: the loan is created",
    openapi_extra=MONEY_MOVING,
    responses={**STEP_ERRORS, **problem_responses(DateInPast)},
)
async def disburse(application_id: Id, body: DisbursementIn, session: Session, settings: AppSettings, principal: scoped("applications:write")) -> LoanOut:
    return await service.disburse(session=session, settings=settings, principal=principal, application_id=application_id, start_date=body.start_date)


# ---- loans ----


@router.get("/loans", response_model=LoanPage, summary="List loans visible to the caller")
async def list_loans(
    session: Session,
    settings: AppSettings,
    principal: scoped("applications:read"),
    region: Code | None = None,
    status: Literal["active", "overdue", "defaulted", "closed", "written_off"] | None = None,
    cursor: str | None = None,
    limit: Limit = 100,
) -> LoanPage:
    items, next_cursor = await service.list_loans(
        session=session, settings=settings, principal=principal, region=region, status=status, cursor=cursor, limit=limit
    )
    return LoanPage(items=items, next_cursor=next_cursor)


EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "one page; the next page's cursor is in the X-Next-Cursor header (absent on the last page)",
        "content": {"application/x-ndjson": {"schema": {"type": "string"}}, "text/csv": {"schema": {"type": "string"}}},
        "headers": {"X-Next-Cursor": {"schema": {"type": "string"}, "description": "pass as ?cursor= for the next page"}},
    },
    **problem_responses(InvalidInput, Forbidden),
}
ExportLimit = Annotated[int, Query(ge=1, le=10_000, description="rows per page")]


def _export_response(page: service.ExportPage) -> Response:
    headers = {"X-Next-Cursor": page.next_cursor} if page.next_cursor else {}
    return Response(content=page.body, media_type=page.media_type, headers=headers)


# declared before /loans/{loan_id} so that "export" is never read as a loan id
@router.get("/loans/export", response_class=Response, summary="Export loans disbursed in a period (NDJSON or CSV, keyset-paged)", responses=EXPORT_RESPONSES)
async def export_loans(
    session: Session,
    settings: AppSettings,
    principal: scoped("applications:read"),
    region: Code | None = None,
    since: Annotated[date | None, Query(alias="from", description="first disbursement date (inclusive)")] = None,
    until: Annotated[date | None, Query(alias="to", description="last disbursement date (inclusive)")] = None,
    format: Literal["ndjson", "csv"] = "ndjson",
    limit: ExportLimit = 1000,
    cursor: str | None = None,
) -> Response:
    page = await service.export_loans(
        session=session, settings=settings, principal=principal, region=region, since=since, until=until, limit=limit, cursor=cursor, fmt=format
    )
    return _export_response(page)


@router.get(
    "/loans/repayments/export", response_class=Response, summary="Export repayments by value date (NDJSON or CSV, keyset-paged)", responses=EXPORT_RESPONSES
)
async def export_repayments(
    session: Session,
    settings: AppSettings,
    principal: scoped("applications:read"),
    region: Code | None = None,
    since: Annotated[date | None, Query(alias="from", description="first value date (inclusive)")] = None,
    until: Annotated[date | None, Query(alias="to", description="last value date (inclusive)")] = None,
    format: Literal["ndjson", "csv"] = "ndjson",
    limit: ExportLimit = 1000,
    cursor: str | None = None,
) -> Response:
    page = await service.export_repayments(
        session=session, settings=settings, principal=principal, region=region, since=since, until=until, limit=limit, cursor=cursor, fmt=format
    )
    return _export_response(page)


@router.get("/loans/{loan_id}", response_model=LoanOut, summary="One loan with its schedule", responses=problem_responses(UnknownLoan, Forbidden))
async def get_loan(loan_id: Id, session: Session, settings: AppSettings, principal: scoped("applications:read")) -> LoanOut:
    return await service.get_loan(session=session, settings=settings, principal=principal, loan_id=loan_id)


LOAN_ERRORS = problem_responses(UnknownLoan, LoanStateConflict, Forbidden, InvalidInput)


@router.post(
    "/loans/{loan_id}/repayments",
    response_model=RepaymentOut,
    status_code=201,
    summary="Record a repayment (the loan's bank); a repeated bank_reference returns the first recording with 200",
    openapi_extra=MONEY_MOVING,
    responses={**LOAN_ERRORS, 200: {"description": "the bank reference was already recorded: the first recording"}},
)
async def record_repayment(
    loan_id: Id, body: RepaymentIn, response: Response, session: Session, settings: AppSettings, principal: scoped("applications:write")
) -> RepaymentOut:
    out, created = await service.record_repayment(session=session, settings=settings, principal=principal, loan_id=loan_id, body=body)
    response.status_code = 201 if created else 200
    return out


@router.post(
    "/loans/{loan_id}/extension",
    response_model=LoanOut,
    summary="展期: extend the maturity (the loan's bank)",
    responses=LOAN_ERRORS,
    openapi_extra=MONEY_MOVING,
)
async def extend(loan_id: Id, body: ExtensionIn, session: Session, settings: AppSettings, principal: scoped("applications:write")) -> LoanOut:
    return await service.extend(session=session, settings=settings, principal=principal, loan_id=loan_id, months=body.months)


@router.post(
    "/loans/{loan_id}/renewal",
    response_model=LoanOut,
    summary="续贷: renew the outstanding principal (the loan's bank)",
    responses=LOAN_ERRORS,
    openapi_extra=MONEY_MOVING,
)
async def renew(loan_id: Id, body: RenewalIn, session: Session, settings: AppSettings, principal: scoped("applications:write")) -> LoanOut:
    return await service.renew(session=session, settings=settings, principal=principal, loan_id=loan_id, term_months=body.term_months)


@router.post(
    "/loans/{loan_id}/write-off", response_model=LoanOut, summary="核销 a defaulted loan (the loan's bank)", responses=LOAN_ERRORS, openapi_extra=MONEY_MOVING
)
async def write_off(loan_id: Id, session: Session, settings: AppSettings, principal: scoped("applications:write")) -> LoanOut:
    return await service.write_off(session=session, settings=settings, principal=principal, loan_id=loan_id)


@router.post("/loans/{loan_id}/diversion", response_model=LoanOut, summary="资金挪用: report the loan used outside its purpose", responses=LOAN_ERRORS)
async def report_diversion(loan_id: Id, body: ReasonIn, session: Session, settings: AppSettings, principal: scoped("applications:write")) -> LoanOut:
    return await service.report_diversion(session=session, settings=settings, principal=principal, loan_id=loan_id, reason=body.reason)


@router.get(
    "/loan-events",
    response_model=LoanEventPage,
    summary="The loan event log after a cursor, only events that can no longer be overtaken (scope internal)",
    responses=problem_responses(InvalidInput, Forbidden),
)
async def loan_events(
    session: Session,
    principal: scoped("internal"),
    after: Annotated[str, Query(max_length=40, description='the next_cursor of the previous page ("txid:seq"), or empty for the beginning')] = "",
    limit: Limit = 500,
) -> LoanEventPage:
    items, next_cursor, remaining = await service.loan_events(session=session, after=after, limit=limit)
    return LoanEventPage(items=[LoanEventOut(**i) for i in items], next_cursor=next_cursor, remaining=remaining)


# ---- figures ----


FigureReader = any_scope("registry:read")


@router.get("/lending-figures/coverage", response_model=CoverageOut, summary="户贷率 per township or village", responses=problem_responses(Forbidden))
async def coverage(session: Session, principal: FigureReader, region: Code) -> CoverageOut:
    return await service.coverage(session=session, principal=principal, region=region)


@router.get("/lending-figures/amounts", response_model=AmountsOut, summary="Loan amounts by industry, bank, township, village or purpose")
async def amounts(
    session: Session, principal: FigureReader, region: Code, by: Literal["industry", "bank", "township", "village", "purpose"] = "industry"
) -> AmountsOut:
    return await service.amounts(session=session, principal=principal, region=region, by=by)


@router.get("/lending-figures/approval-times", response_model=ApprovalTimesOut, summary="Approval time percentiles in business days")
async def approval_times(session: Session, principal: FigureReader, region: Code) -> ApprovalTimesOut:
    return await service.approval_times(session=session, principal=principal, region=region)


@router.get(
    "/lending-figures/overview",
    response_model=OverviewOut,
    summary="户贷率, loans outstanding and 不良 of a region of any level (the gateway's overview)",
    responses=problem_responses(InvalidInput, Forbidden),
)
async def overview(session: Session, settings: AppSettings, principal: FigureReader, region: Code) -> OverviewOut:
    return await service.overview(session=session, settings=settings, principal=principal, region=region)
