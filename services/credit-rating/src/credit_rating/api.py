"""credit-rating routes: parse, call the service, return."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response

from credit_rating import service
from credit_rating.errors import (
    AssessmentInvalid,
    AssessmentNotFound,
    AssessmentSuperseded,
    BatchTooLarge,
    BlacklistEntryNotFound,
    BlacklistEntryRemoved,
    CertificateNotFound,
    CertificateRevoked,
    HouseholdInOtherVillage,
    LaterAssessmentExists,
    NoPublishedScorecard,
    NotRated,
    ScorecardInvalid,
    ScorecardNotFound,
    ScorecardPublished,
)
from credit_rating.schemas import (
    AssessmentCreate,
    AssessmentPage,
    AssessmentPublic,
    BatchResult,
    BlacklistCreate,
    BlacklistPage,
    BlacklistPublic,
    CertificateCreate,
    CertificatePublic,
    CertificateVerification,
    CoverageReport,
    DivisionCode,
    EventsApplied,
    HouseholdId,
    LoanEvent,
    RatingPublic,
    ReviewCreate,
    ReviewPublic,
    Revocation,
    RosterEntry,
    RosterUpserted,
    ScorecardCreate,
    ScorecardPage,
    ScorecardPublic,
)
from kit.auth import Principal, require_scope
from kit.db import Session
from kit.errors import Forbidden, InvalidInput, problem_responses

router = APIRouter(prefix="/v1")
# kit's scoped("…") as explicit aliases, so type checkers accept them in annotations
RatingReader = Annotated[Principal, Depends(require_scope("rating:read"))]
RatingWriter = Annotated[Principal, Depends(require_scope("rating:write"))]
InternalCaller = Annotated[Principal, Depends(require_scope("internal"))]
NDJSON = "application/x-ndjson"
Limit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(max_length=32)]
MAX_ID = 2**63 - 1  # bigint: a larger id is bad input, not a database error
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]


# ---------------------------------------------------------------- scorecards


@router.get("/scorecards", response_model=ScorecardPage, summary="List scorecard versions", tags=["scorecards"])
async def list_scorecards(
    session: Session,
    principal: RatingReader,
    county_code: Annotated[DivisionCode | None, Query()] = None,
    status: Literal["draft", "published"] | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ScorecardPage:
    items, next_cursor = await service.list_scorecards(session=session, county_code=county_code, status=status, cursor=cursor, limit=limit)
    return ScorecardPage(items=items, next_cursor=next_cursor)


@router.post(
    "/scorecards", status_code=201, response_model=ScorecardPublic, summary="Create a draft scorecard version", tags=["scorecards"],
    responses=problem_responses(ScorecardInvalid, Forbidden),
)
async def create_scorecard(body: ScorecardCreate, session: Session, principal: RatingWriter) -> ScorecardPublic:
    return await service.create_scorecard(session=session, principal=principal, body=body)


@router.get(
    "/scorecards/active", response_model=ScorecardPublic, summary="The published version that applies to a county", tags=["scorecards"],
    responses=problem_responses(NoPublishedScorecard),
)
async def active_scorecard(
    session: Session, principal: RatingReader, county_code: Annotated[DivisionCode, Query()]
) -> ScorecardPublic:
    return await service.active_scorecard(session=session, county_code=county_code)


@router.get(
    "/scorecards/{version}", response_model=ScorecardPublic, summary="One scorecard version with its definition", tags=["scorecards"],
    responses=problem_responses(ScorecardNotFound),
)
async def get_scorecard(version: RowId, session: Session, principal: RatingReader) -> ScorecardPublic:
    return await service.get_scorecard(session=session, version=version)


@router.put(
    "/scorecards/{version}", response_model=ScorecardPublic, summary="Replace a draft scorecard version", tags=["scorecards"],
    responses=problem_responses(ScorecardNotFound, ScorecardInvalid, ScorecardPublished, Forbidden),
)
async def replace_scorecard(version: RowId, body: ScorecardCreate, session: Session, principal: RatingWriter) -> ScorecardPublic:
    return await service.replace_scorecard(session=session, principal=principal, version=version, body=body)


@router.post(
    "/scorecards/{version}/publish", response_model=ScorecardPublic, summary="Publish a draft: it becomes immutable", tags=["scorecards"],
    responses=problem_responses(ScorecardNotFound, ScorecardInvalid, ScorecardPublished, Forbidden),
)
async def publish_scorecard(version: RowId, session: Session, principal: RatingWriter) -> ScorecardPublic:
    return await service.publish_scorecard(session=session, principal=principal, version=version)


# ---------------------------------------------------------------- assessments


@router.post(
    "/assessments", status_code=201, response_model=AssessmentPublic, summary="Assess one household (四个一)", tags=["assessments"],
    responses=problem_responses(AssessmentInvalid, Forbidden, HouseholdInOtherVillage, NoPublishedScorecard, LaterAssessmentExists),
)
async def create_assessment(body: AssessmentCreate, session: Session, principal: RatingWriter) -> AssessmentPublic:
    return await service.create_assessment(session=session, principal=principal, body=body)


BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"oneOf": [
                {"type": "array", "items": {"$ref": "#/components/schemas/AssessmentCreate"}},
                {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/AssessmentCreate"}}}},
            ]}},
            NDJSON: {"schema": {"type": "string", "description": "one assessment object per line"}},
        },
    }
}


def _parse_batch(body: bytes, content_type: str) -> list[Any]:
    try:
        if content_type == NDJSON:
            return [orjson.loads(line) for line in body.splitlines() if line.strip()]
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not valid {'NDJSON' if content_type == NDJSON else 'JSON'}: {exc}") from exc
    if isinstance(parsed, dict) and isinstance(parsed.get("items"), list):
        return parsed["items"]
    if isinstance(parsed, list):
        return parsed
    raise InvalidInput("a batch is a JSON list, an object with an items list, or NDJSON")


@router.post(
    "/assessments/batch", response_model=BatchResult, summary="Assess a village campaign: up to 10,000 households", tags=["assessments"],
    openapi_extra=BATCH_BODY, responses=problem_responses(BatchTooLarge, Forbidden),
)
async def assess_batch(
    request: Request, session: Session, principal: RatingWriter, scorecard_version: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    items = _parse_batch(await request.body(), content_type)
    result = await service.assess_batch(session=session, principal=principal, items=items, scorecard_version=scorecard_version)
    # 10,000 results: serialised once by pydantic-core rather than validated again by FastAPI
    return Response(content=result.model_dump_json(), media_type="application/json")


@router.get(
    "/assessments", response_model=AssessmentPage, summary="Assessment history (newest first)", tags=["assessments"],
    responses=problem_responses(Forbidden),
)
async def list_assessments(
    session: Session,
    principal: RatingReader,
    household_id: Annotated[HouseholdId | None, Query()] = None,
    village_code: Annotated[DivisionCode | None, Query()] = None,
    current_only: bool = False,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AssessmentPage:
    items, next_cursor = await service.list_assessments(
        session=session, principal=principal, household_id=household_id, village_code=village_code, current_only=current_only,
        cursor=cursor, limit=limit,
    )
    return AssessmentPage(items=items, next_cursor=next_cursor)


@router.get(
    "/assessments/{assessment_id}", response_model=AssessmentPublic, summary="One assessment, explained indicator by indicator",
    tags=["assessments"], responses=problem_responses(AssessmentNotFound, Forbidden),
)
async def get_assessment(assessment_id: RowId, session: Session, principal: RatingReader) -> AssessmentPublic:
    return await service.get_assessment(session=session, principal=principal, assessment_id=assessment_id)


@router.post(
    "/assessments/{assessment_id}/reviews", status_code=201, response_model=ReviewPublic, summary="Review an assessment (township, county)",
    tags=["assessments"], responses=problem_responses(AssessmentNotFound, AssessmentSuperseded, Forbidden),
)
async def review_assessment(assessment_id: RowId, body: ReviewCreate, session: Session, principal: RatingWriter) -> ReviewPublic:
    return await service.review_assessment(session=session, principal=principal, assessment_id=assessment_id, body=body)


# ---------------------------------------------------------------- ratings


@router.get(
    "/ratings/{household_id}", response_model=RatingPublic, summary="A household's current rating, grade and credit line", tags=["ratings"],
    responses=problem_responses(Forbidden),
)
async def get_rating(
    household_id: HouseholdId, session: Session, principal: RatingReader, as_of: date | None = None
) -> RatingPublic:
    return await service.get_rating(session=session, principal=principal, household_id=household_id, as_of=as_of)


# ---------------------------------------------------------------- certificates


@router.post(
    "/certificates", status_code=201, response_model=CertificatePublic, summary="Issue a credit certificate (信用证)", tags=["certificates"],
    responses=problem_responses(NotRated, Forbidden),
)
async def issue_certificate(body: CertificateCreate, session: Session, principal: RatingWriter) -> CertificatePublic:
    return await service.issue_certificate(session=session, principal=principal, household_id=body.household_id)


@router.get(
    "/certificates/{number}", response_model=CertificateVerification, summary="Verify a certificate (banks)", tags=["certificates"],
    responses=problem_responses(CertificateNotFound, Forbidden),
)
async def verify_certificate(
    number: Annotated[str, Path(max_length=64)], session: Session, principal: RatingReader, as_of: date | None = None
) -> CertificateVerification:
    return await service.verify_certificate(session=session, principal=principal, number=number, as_of=as_of)


@router.post(
    "/certificates/{number}/revocation", response_model=CertificatePublic, summary="Revoke a certificate", tags=["certificates"],
    responses=problem_responses(CertificateNotFound, CertificateRevoked, Forbidden),
)
async def revoke_certificate(number: str, body: Revocation, session: Session, principal: RatingWriter) -> CertificatePublic:
    return await service.revoke_certificate(session=session, principal=principal, number=number, reason=body.reason)


# ---------------------------------------------------------------- blacklist


@router.post(
    "/blacklist", status_code=201, response_model=BlacklistPublic, summary="Blacklist a household (失信)", tags=["blacklist"],
    responses=problem_responses(Forbidden, HouseholdInOtherVillage),
)
async def add_to_blacklist(body: BlacklistCreate, session: Session, principal: RatingWriter) -> BlacklistPublic:
    return await service.add_to_blacklist(session=session, principal=principal, body=body)


@router.get("/blacklist", response_model=BlacklistPage, summary="Blacklist entries in the caller's region", tags=["blacklist"])
async def list_blacklist(
    session: Session,
    principal: RatingReader,
    household_id: Annotated[HouseholdId | None, Query()] = None,
    village_code: Annotated[DivisionCode | None, Query()] = None,
    active_only: bool = True,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> BlacklistPage:
    items, next_cursor = await service.list_blacklist(
        session=session, principal=principal, household_id=household_id, village_code=village_code, active_only=active_only,
        cursor=cursor, limit=limit,
    )
    return BlacklistPage(items=items, next_cursor=next_cursor)


@router.post(
    "/blacklist/{entry_id}/removal", response_model=BlacklistPublic, summary="Remove a blacklist entry", tags=["blacklist"],
    responses=problem_responses(BlacklistEntryNotFound, BlacklistEntryRemoved, Forbidden),
)
async def remove_from_blacklist(entry_id: RowId, body: Revocation, session: Session, principal: RatingWriter) -> BlacklistPublic:
    return await service.remove_from_blacklist(session=session, principal=principal, entry_id=entry_id, reason=body.reason)


# ---------------------------------------------------------------- loan events, roster, coverage


@router.post(
    "/rating-events", response_model=EventsApplied, summary="Apply loan events (defaulted, diverted) once each", tags=["internal"],
    responses=problem_responses(InvalidInput, NoPublishedScorecard),
)
async def apply_loan_events(events: list[LoanEvent], session: Session, principal: InternalCaller) -> EventsApplied:
    return await service.apply_loan_events(session=session, events=events)


@router.put(
    "/rating-households", response_model=RosterUpserted, summary="Upsert the registered-household roster", tags=["internal"],
    responses=problem_responses(Forbidden, InvalidInput),
)
async def upsert_roster(entries: list[RosterEntry], session: Session, principal: RatingReader) -> RosterUpserted:
    return RosterUpserted(upserted=await service.upsert_roster(session=session, principal=principal, entries=entries))


@router.get(
    "/rating-households/coverage", response_model=CoverageReport, summary="Share of registered households with a current rating",
    tags=["ratings"], responses=problem_responses(Forbidden),
)
async def coverage(
    session: Session,
    principal: RatingReader,
    region: Annotated[DivisionCode | None, Query()] = None,
    as_of: date | None = None,
) -> CoverageReport:
    return await service.coverage(session=session, principal=principal, region=region, as_of=as_of)
