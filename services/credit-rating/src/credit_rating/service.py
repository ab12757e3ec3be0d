"""credit-rating use cases: repo → domain → repo; flushes, never commits."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from credit_rating import domain, repo
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
from credit_rating.models import Assessment, AssessmentReview, BlacklistEntry, Certificate, Scorecard
from credit_rating.schemas import (
    AssessmentCreate,
    AssessmentPublic,
    BatchItem,
    BatchItemResult,
    BatchResult,
    BlacklistCreate,
    BlacklistPublic,
    CategoryBreakdown,
    CertificatePublic,
    CertificateVerification,
    CoverageFigure,
    CoverageReport,
    EventsApplied,
    IndicatorLine,
    LoanEvent,
    PenaltyPublic,
    RatingPublic,
    ReviewCreate,
    ReviewPublic,
    RosterEntry,
    ScorecardCreate,
    ScorecardDefinition,
    ScorecardPublic,
    ScorecardSummary,
)
from kit.auth import Principal
from kit.errors import Forbidden, InvalidInput, ServiceError
from kit.identifiers import division_level, region_prefix

log = logging.getLogger("credit_rating")
MAX_BATCH = 10_000
ROSTER_CHUNK = 10_000
ASSESSORS = ("village_officer", "admin")  # 村级金融服务部 assesses the households of its village
OFFICERS = ("village_officer", "township_officer", "county_officer", "admin")
_item_adapter = TypeAdapter(BatchItem)
_HOUSEHOLD = re.compile(r"[A-Za-z0-9-]{1,64}")


def today() -> date:
    return datetime.now(UTC).date()


# ---------------------------------------------------------------- who may do what


def _is_applicant(principal: Principal) -> bool:
    return principal.has_role("applicant") and not principal.has_role("admin")


def require_reader(principal: Principal, *, household_id: str | None, village_code: str | None, banks: bool = False) -> None:
    """Officers read within their region, an applicant only its own household, a bank only where
    ``banks`` (current grade and certificate checks); province-wide readers (monitor, admin) anywhere."""
    if _is_applicant(principal):
        if household_id is None or principal.household_id != household_id:
            raise Forbidden("an applicant may read only its own household")
        return
    if principal.has_role("bank") and not principal.has_role("admin"):
        if not banks:
            raise Forbidden("banks read current grades and verify certificates only")
        return
    if village_code is not None:
        principal.require_region(village_code)


def require_officer(principal: Principal, village_code: str, roles: Sequence[str] = OFFICERS) -> None:
    principal.require_role(*roles)
    principal.require_region(village_code)


def _reader_prefix(principal: Principal, village_code: str | None) -> str | None:
    """Region filter for list reads: the caller's own region, narrowed by an optional village code."""
    if _is_applicant(principal) or (principal.has_role("bank") and not principal.has_role("admin")):
        raise Forbidden("this list is for officers and monitors")
    if village_code is not None:
        principal.require_region(village_code)
        return village_code
    return region_prefix(principal.region) if principal.region else None


# ---------------------------------------------------------------- scorecards


_compiled: dict[tuple[int, str], domain.Scorecard] = {}


def compile_definition(definition: Mapping[str, Any]) -> domain.Scorecard:
    card, problems = domain.build_scorecard(definition)
    if card is None:
        raise ScorecardInvalid(f"{len(problems)} problem(s) in the scorecard", errors=[p.as_dict() for p in problems])
    return card


async def published_card(session: AsyncSession, version: int) -> tuple[Any, domain.Scorecard]:
    """A published version, compiled once per process: published versions never change."""
    stamp = await repo.scorecard_stamp(session, version)
    if stamp is None:
        raise ScorecardNotFound(f"scorecard version {version} does not exist")
    if stamp.status != "published":
        raise NoPublishedScorecard(f"scorecard version {version} is a draft; publish it first", status_of_version="draft")
    key = (version, stamp.published_at.isoformat())
    card = _compiled.get(key)
    if card is None:
        card = _compiled[key] = compile_definition(await repo.scorecard_definition(session, version))
    return stamp, card


def county_of(division_code: str) -> str:
    """The 12-digit county code of any division code inside it (first 6 digits = GB/T 2260 county)."""
    return division_code[:6] + "000000"


async def card_for_county(session: AsyncSession, county_code: str, version: int | None) -> tuple[int, domain.Scorecard]:
    county_code = county_of(county_code)
    if version is None:
        found = await repo.active_scorecard_id(session, county_code)
        if found is None:
            raise NoPublishedScorecard(f"no published scorecard applies to county {county_code}")
        version = found
    stamp, card = await published_card(session, version)
    if stamp.county_code is not None and stamp.county_code[:6] != county_code[:6]:
        raise InvalidInput(f"scorecard version {version} belongs to county {stamp.county_code}")
    return version, card


def _summary(row: Scorecard) -> dict[str, Any]:
    return {
        "version": row.id, "name": row.name, "county_code": row.county_code, "status": row.status,
        "indicator_count": row.indicator_count, "created_by": row.created_by, "created_at": row.created_at,
        "published_by": row.published_by, "published_at": row.published_at,
    }


def scorecard_public(row: Scorecard) -> ScorecardPublic:
    return ScorecardPublic(**_summary(row), definition=row.definition)


def _require_scorecard_author(principal: Principal, county_code: str | None) -> None:
    """A county (县扶贫办) publishes its own versions; only an admin writes the province-wide default."""
    if county_code is not None and division_level(county_code) != "county":
        raise InvalidInput(
            f"{county_code} is not a county code (6 digits then 000000)",
            errors=[{"field": "county_code", "message": "a county code ends in 000000"}],
        )
    principal.require_role("county_officer", "admin")
    if principal.has_role("admin"):
        return
    if county_code is None:
        raise Forbidden("only an admin may write the province-wide scorecard; give your county_code")
    if principal.region is None or division_level(principal.region) != "county":
        raise Forbidden("a county officer's token must carry its county")
    principal.require_region(county_code)


def _definition_json(body: ScorecardDefinition) -> dict[str, Any]:
    return body.model_dump(mode="json", exclude_none=True, exclude={"county_code"})


async def create_scorecard(*, session: AsyncSession, principal: Principal, body: ScorecardCreate) -> ScorecardPublic:
    _require_scorecard_author(principal, body.county_code)
    definition = _definition_json(body)
    card = compile_definition(definition)
    row = await repo.add(
        session,
        Scorecard(
            name=body.name, county_code=body.county_code, status="draft", definition=definition,
            indicator_count=len(card.indicators), created_by=principal.subject,
        ),
    )
    await session.refresh(row)
    return scorecard_public(row)


async def get_scorecard(*, session: AsyncSession, version: int) -> ScorecardPublic:
    row = await repo.get_scorecard(session, version)
    if row is None:
        raise ScorecardNotFound(f"scorecard version {version} does not exist")
    return scorecard_public(row)


async def active_scorecard(*, session: AsyncSession, county_code: str) -> ScorecardPublic:
    version = await repo.active_scorecard_id(session, county_of(county_code))
    if version is None:
        raise NoPublishedScorecard(f"no published scorecard applies to county {county_code}")
    return await get_scorecard(session=session, version=version)


async def list_scorecards(
    *, session: AsyncSession, county_code: str | None, status: str | None, cursor: str | None, limit: int
) -> tuple[list[ScorecardSummary], str | None]:
    rows = await repo.list_scorecards(session, county_code=county_code, status=status, after=_cursor(cursor), limit=limit + 1)
    page = rows[:limit]
    return [ScorecardSummary(**_summary(r)) for r in page], (str(page[-1].id) if len(rows) > limit else None)


async def replace_scorecard(*, session: AsyncSession, principal: Principal, version: int, body: ScorecardCreate) -> ScorecardPublic:
    row = await repo.get_scorecard(session, version, for_update=True)
    if row is None:
        raise ScorecardNotFound(f"scorecard version {version} does not exist")
    _require_scorecard_author(principal, row.county_code)
    _require_scorecard_author(principal, body.county_code)
    if row.status != "draft":
        raise ScorecardPublished(f"scorecard version {version} is published and immutable; create a new version", status_of_version=row.status)
    definition = _definition_json(body)
    card = compile_definition(definition)
    row.name, row.county_code, row.definition, row.indicator_count = body.name, body.county_code, definition, len(card.indicators)
    await session.flush()
    await session.refresh(row)
    return scorecard_public(row)


async def publish_scorecard(*, session: AsyncSession, principal: Principal, version: int) -> ScorecardPublic:
    row = await repo.get_scorecard(session, version, for_update=True)
    if row is None:
        raise ScorecardNotFound(f"scorecard version {version} does not exist")
    _require_scorecard_author(principal, row.county_code)
    if row.status != "draft":
        raise ScorecardPublished(f"scorecard version {version} is already published", status_of_version=row.status)
    card = compile_definition(row.definition)
    problems = domain.publish_problems(card)
    if problems:
        raise ScorecardInvalid(
            f"scorecard version {version} cannot be published: {len(problems)} problem(s)", errors=[p.as_dict() for p in problems]
        )
    row.status, row.published_by, row.published_at = "published", principal.subject, datetime.now(UTC)
    await session.flush()
    await session.refresh(row)
    return scorecard_public(row)


# ---------------------------------------------------------------- assessments (四个一)


_ITEM_KEYS = frozenset({"household_id", "village_code", "values", "assessed_on"})
_VILLAGE = re.compile(r"\d{12}")


def _plain_item(raw: Any) -> BatchItem | None:
    """The common campaign item (ids well formed, answers an object, no date) without a validator
    pass; anything else goes through pydantic, which names what is wrong."""
    if type(raw) is not dict or not raw.keys() <= _ITEM_KEYS or raw.get("assessed_on") is not None:
        return None
    hid, village, values = raw.get("household_id"), raw.get("village_code"), raw.get("values")
    if type(hid) is str and _HOUSEHOLD.fullmatch(hid) and type(village) is str and _VILLAGE.fullmatch(village) and type(values) is dict:
        return BatchItem.model_construct(household_id=hid, village_code=village, values=values, assessed_on=None)
    return None


@dataclass
class _Outcome:
    """One item's fate in an assessment run: created, or refused with a status and problems."""

    household_id: str | None
    status: int = 201  # 201 created; 403, 409, 422 refused
    errors: list[dict[str, str]] | None = None
    item: BatchItem | None = None
    version: int = 0
    card: domain.Scorecard | None = None
    result: domain.Result | None = None
    assessment_id: int | None = None
    supersedes: int | None = None

    def refuse(self, status: int, field: str, message: str) -> None:
        self.status, self.errors = status, [{"field": field, "message": message}]


async def _assess(
    *, session: AsyncSession, principal: Principal, raw_items: Sequence[Any], scorecard_version: int | None
) -> list[_Outcome]:
    """Score and store a village campaign (or one household): valid items are stored even when
    others fail. Set-based: one roster lock, one supersession update, one COPY."""
    principal.require_role(*ASSESSORS)
    on = today()
    outcomes: list[_Outcome] = []
    cards: dict[str, tuple[int, domain.Scorecard] | ServiceError] = {}
    seen: set[str] = set()
    for raw in raw_items:
        hid = raw.get("household_id") if isinstance(raw, dict) else None
        out = _Outcome(household_id=hid if isinstance(hid, str) else None)
        outcomes.append(out)
        try:
            item = _plain_item(raw) or _item_adapter.validate_python(raw)
        except ValidationError as exc:
            out.status = 422
            out.errors = [{"field": ".".join(str(p) for p in e["loc"]) or "item", "message": e["msg"]} for e in exc.errors()]
            continue
        out.item = item
        if not principal.covers_region(item.village_code):
            out.refuse(403, "village_code", f"village {item.village_code} is outside the caller's region {principal.region}")
            continue
        if item.assessed_on is not None and item.assessed_on > on:
            out.refuse(422, "assessed_on", f"{item.assessed_on} is in the future")
            continue
        if item.household_id in seen:
            out.refuse(422, "household_id", f"household {item.household_id} appears twice in this batch")
            continue
        seen.add(item.household_id)
        county = county_of(item.village_code)
        if county not in cards:
            try:
                cards[county] = await card_for_county(session, county, scorecard_version)
            except (NoPublishedScorecard, ScorecardNotFound, InvalidInput) as exc:
                cards[county] = exc
        chosen = cards[county]
        if isinstance(chosen, ServiceError):
            # a draft or missing published version is a state (409); a version that does not exist or
            # belongs to another county is bad input (422)
            out.refuse(409 if isinstance(chosen, NoPublishedScorecard) else 422, "scorecard_version", chosen.detail)
            continue
        out.version, out.card = chosen
        result, problems = domain.evaluate(out.card, item.values)
        if result is None:
            out.status, out.errors = 422, [p.as_dict() for p in problems]
            continue
        out.result = result
    valid = [o for o in outcomes if o.result is not None]
    if not valid:
        return outcomes
    roster = await repo.lock_roster(session, [o.item.household_id for o in valid], [o.item.village_code for o in valid])  # type: ignore[union-attr]
    stored: list[_Outcome] = []
    for o in valid:
        assert o.item is not None
        row = roster[o.item.household_id]
        if row.village_code != o.item.village_code:
            o.refuse(409, "village_code", f"household {o.item.household_id} is registered in village {row.village_code}")
            o.result = None
            continue
        if row.current_assessed_on is not None and row.current_assessed_on > (o.item.assessed_on or on):
            o.refuse(409, "assessed_on", f"household {o.item.household_id} has a later assessment, of {row.current_assessed_on}")
            o.result = None
            continue
        o.supersedes = row.current_assessment_id
        stored.append(o)
    if not stored:
        return outcomes
    ids = await repo.allocate_assessment_ids(session, len(stored))
    for o, new_id in zip(stored, ids, strict=True):
        o.assessment_id = new_id
    superseded = [o for o in stored if o.supersedes is not None]
    await repo.supersede(session, [o.supersedes for o in superseded], [o.assessment_id for o in superseded])  # type: ignore[misc]
    await repo.copy_assessments(session, [_record(o, principal.subject, on) for o in stored])
    vetoed = [o.item.household_id for o in stored if o.result.vetoed]  # type: ignore[union-attr]
    await repo.revoke_certificates(session, vetoed, reason="一否决: re-assessment vetoed", actor=principal.subject)
    await repo.revoke_certificates(
        session, [o.item.household_id for o in superseded if not o.result.vetoed],  # type: ignore[union-attr]
        reason="re-assessed: the certificate's rating was superseded", actor=principal.subject,
    )
    return outcomes


def _record(o: _Outcome, actor: str, on: date) -> tuple[Any, ...]:
    assert o.item is not None and o.result is not None and o.card is not None
    r = o.result
    assessed_on = o.item.assessed_on or on
    return (
        o.assessment_id, o.item.household_id, o.item.village_code, o.version, "published", assessed_on,
        domain.valid_until(o.card, assessed_on), r.score, r.raw_score, r.base, r.bonus, r.deduction, r.grade, r.credit_line,
        r.vetoed, list(r.veto_reasons), orjson.dumps(o.item.values).decode(), list(r.category_points), True, o.supersedes, None, actor,
    )


def _raise_refusal(o: _Outcome) -> None:
    errors = o.errors or []
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:10])
    if o.status == 403:
        raise Forbidden(detail)
    if o.status == 409:
        field = errors[0]["field"] if errors else ""
        if field == "village_code":
            raise HouseholdInOtherVillage(detail)
        if field == "assessed_on":
            raise LaterAssessmentExists(detail)
        raise NoPublishedScorecard(detail)
    raise AssessmentInvalid(detail or "invalid assessment", errors=errors)


async def create_assessment(*, session: AsyncSession, principal: Principal, body: AssessmentCreate) -> AssessmentPublic:
    raw = body.model_dump(mode="python", exclude={"scorecard_version"})
    (outcome,) = await _assess(session=session, principal=principal, raw_items=[raw], scorecard_version=body.scorecard_version)
    if outcome.assessment_id is None:
        _raise_refusal(outcome)
    return await get_assessment(session=session, principal=principal, assessment_id=outcome.assessment_id)  # type: ignore[arg-type]


async def assess_batch(
    *, session: AsyncSession, principal: Principal, items: Sequence[Any], scorecard_version: int | None
) -> BatchResult:
    if len(items) > MAX_BATCH:
        raise BatchTooLarge(f"a batch holds at most {MAX_BATCH} households, not {len(items)}")
    if not items:
        raise InvalidInput("the batch is empty")
    outcomes = await _assess(session=session, principal=principal, raw_items=items, scorecard_version=scorecard_version)
    results = []
    for i, o in enumerate(outcomes):
        if o.assessment_id is not None and o.result is not None:
            r = o.result
            results.append(BatchItemResult.model_construct(
                index=i, household_id=o.household_id, status="created", assessment_id=o.assessment_id, supersedes=o.supersedes,
                score=r.score, grade=r.grade, credit_line=r.credit_line, vetoed=r.vetoed, veto_reasons=list(r.veto_reasons), errors=None,
            ))
        else:
            results.append(BatchItemResult.model_construct(
                index=i, household_id=o.household_id, status="error", assessment_id=None, supersedes=None, score=None, grade=None,
                credit_line=None, vetoed=None, veto_reasons=None, errors=o.errors,
            ))
    created = sum(1 for r in results if r.status == "created")
    return BatchResult.model_construct(received=len(items), created=created, failed=len(items) - created, results=results)


def assessment_public(a: Assessment, card: domain.Scorecard, *, lines: bool) -> AssessmentPublic:
    vetoes = [(card.indicators[r.split(" ", 1)[0]].category, r) for r in a.veto_reasons]
    categories = [
        CategoryBreakdown(code=code, name=card.categories[code], base=c.base, bonus=c.bonus, deduction=c.deduction, vetoes=list(c.vetoes))
        for code, c in domain.category_breakdown(card, a.category_points, vetoes).items()
    ]
    indicators = None
    if lines:
        indicators = [
            IndicatorLine(code=ln.code, category=ln.category, name=ln.name, kind=ln.kind, value=ln.value, points=ln.points, vetoes=ln.vetoes)
            for ln in domain.explain(card, a.indicator_values)
        ]
    return AssessmentPublic(
        assessment_id=a.id, household_id=a.household_id, village_code=a.village_code, scorecard_version=a.scorecard_id,  # type: ignore[arg-type]
        assessed_on=a.assessed_on, valid_until=a.valid_until, score=a.score, raw_score=a.raw_score, base_points=a.base_points,
        bonus_points=a.bonus_points, deduction_points=a.deduction_points, grade=a.grade, credit_line=a.credit_line, vetoed=a.vetoed,
        veto_reasons=list(a.veto_reasons), is_current=a.is_current, supersedes=a.supersedes_id, superseded_by=a.superseded_by_id,
        assessed_by=a.assessed_by, created_at=a.created_at, categories=categories, indicators=indicators,
    )


async def get_assessment(*, session: AsyncSession, principal: Principal, assessment_id: int) -> AssessmentPublic:
    a = await repo.get_assessment(session, assessment_id)
    if a is None:
        raise AssessmentNotFound(f"assessment {assessment_id} does not exist")
    require_reader(principal, household_id=a.household_id, village_code=a.village_code)
    _, card = await published_card(session, a.scorecard_id)
    public = assessment_public(a, card, lines=True)
    public.reviews = [review_public(r) for r in await repo.reviews_of(session, assessment_id)]
    return public


REVIEWERS = ("township_officer", "county_officer", "admin")  # 乡级金融服务站, 县级金融服务中心


def review_public(r: AssessmentReview) -> ReviewPublic:
    return ReviewPublic(
        review_id=r.id, assessment_id=r.assessment_id, decision=r.decision, note=r.note, reviewer=r.reviewer,  # type: ignore[arg-type]
        reviewer_role=r.reviewer_role, created_at=r.created_at,
    )


async def review_assessment(*, session: AsyncSession, principal: Principal, assessment_id: int, body: ReviewCreate) -> ReviewPublic:
    """Township and county officers review the current assessments of their region."""
    a = await repo.get_assessment(session, assessment_id)
    if a is None:
        raise AssessmentNotFound(f"assessment {assessment_id} does not exist")
    require_officer(principal, a.village_code, REVIEWERS)
    if not a.is_current:
        raise AssessmentSuperseded(f"assessment {assessment_id} was superseded by {a.superseded_by_id}", superseded_by=a.superseded_by_id)
    if body.decision == "disputed" and not (body.note or "").strip():
        raise InvalidInput("a disputed review says why", errors=[{"field": "note", "message": "required when disputed"}])
    role = next(r for r in REVIEWERS if principal.has_role(r))
    review = await repo.add(session, AssessmentReview(
        assessment_id=assessment_id, decision=body.decision, note=body.note, reviewer=principal.subject, reviewer_role=role,
    ))
    await session.refresh(review)
    return review_public(review)


async def list_assessments(
    *, session: AsyncSession, principal: Principal, household_id: str | None, village_code: str | None, current_only: bool,
    cursor: str | None, limit: int,
) -> tuple[list[AssessmentPublic], str | None]:
    """History per household (newest first), or a village's assessments for officers."""
    if _is_applicant(principal):
        require_reader(principal, household_id=household_id, village_code=None)
        prefix = None
    else:
        prefix = _reader_prefix(principal, village_code)
    rows = await repo.list_assessments(
        session, household_id=household_id, region_prefix=prefix, current_only=current_only, before=_cursor(cursor), limit=limit + 1
    )
    page = rows[:limit]
    items = []
    for a in page:
        _, card = await published_card(session, a.scorecard_id)
        items.append(assessment_public(a, card, lines=False))
    return items, (str(page[-1].id) if len(rows) > limit else None)


def _cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit() or int(cursor) >= 2**63:
        raise InvalidInput("cursor is not one this service gave out", errors=[{"field": "cursor", "message": "invalid cursor"}])
    return int(cursor)


# ---------------------------------------------------------------- the current rating


@dataclass
class _Held:
    village_code: str | None
    assessment: Assessment | None
    card: domain.Scorecard | None
    rating: domain.Rating | None
    penalties: list[PenaltyPublic]
    blacklist: list[BlacklistEntry]


async def _held_rating(session: AsyncSession, household_id: str, as_of: date) -> _Held:
    roster = await repo.roster_row(session, household_id)
    blacklist = await repo.active_blacklist(session, household_id)
    village = roster.village_code if roster else (blacklist[0].village_code if blacklist else None)
    a = await repo.current_assessment(session, household_id)
    if a is None:
        return _Held(village, None, None, None, [], blacklist)
    _, card = await published_card(session, a.scorecard_id)
    penalties = await repo.penalties_for(session, a.id)  # type: ignore[arg-type]
    rating = domain.effective_rating(
        card, score=a.score, vetoed=a.vetoed, veto_reasons=a.veto_reasons, valid_until=a.valid_until,
        penalties=[p.points for p in penalties], blacklist_reasons=[b.reason for b in blacklist], as_of=as_of,
    )
    return _Held(village, a, card, rating, [PenaltyPublic(points=p.points, reason=p.reason, loan_id=p.loan_id) for p in penalties], blacklist)


async def get_rating(*, session: AsyncSession, principal: Principal, household_id: str, as_of: date | None) -> RatingPublic:
    held = await _held_rating(session, household_id, as_of or today())
    require_reader(principal, household_id=household_id, village_code=held.village_code, banks=True)
    if held.rating is None or held.assessment is None:
        return RatingPublic(
            household_id=household_id, village_code=held.village_code, status="none", score=None, grade=None, credit_line=None,
            vetoed=bool(held.blacklist), veto_reasons=[f"blacklisted: {b.reason}" for b in held.blacklist], blacklisted=bool(held.blacklist),
            eligible_to_borrow=False, valid_until=None, scorecard_version=None, assessment_id=None,
        )
    r, a = held.rating, held.assessment
    return RatingPublic(
        household_id=household_id, village_code=held.village_code, status=r.status, score=r.score, grade=r.grade, credit_line=r.credit_line,  # type: ignore[arg-type]
        vetoed=r.vetoed, veto_reasons=list(r.veto_reasons), blacklisted=r.blacklisted, eligible_to_borrow=r.eligible_to_borrow,
        valid_until=a.valid_until, scorecard_version=a.scorecard_id, assessment_id=a.id, assessed_score=a.score, penalties=held.penalties,
    )


# ---------------------------------------------------------------- certificates (信用证)


def _certificate_status(c: Certificate, as_of: date) -> str:
    if c.status == "revoked":
        return "revoked"
    return "valid" if as_of <= c.valid_until else "expired"


def certificate_public(c: Certificate, as_of: date) -> dict[str, Any]:
    return {
        "number": c.number, "household_id": c.household_id, "village_code": c.village_code, "assessment_id": c.assessment_id,
        "grade": c.grade, "credit_line": c.credit_line, "issued_on": c.issued_on, "valid_until": c.valid_until, "issued_by": c.issued_by,
        "status": _certificate_status(c, as_of), "revoked_at": c.revoked_at, "revoked_reason": c.revoked_reason,
    }


async def issue_certificate(*, session: AsyncSession, principal: Principal, household_id: str) -> CertificatePublic:
    """信用证 for a household with a current grade, no veto and no blacklist; replaces an earlier one."""
    roster = await repo.roster_row(session, household_id, for_update=True)
    on = today()
    held = await _held_rating(session, household_id, on)
    if held.village_code is None:
        raise NotRated(f"household {household_id} has never been assessed", rating_status="none")
    require_officer(principal, held.village_code)
    r, a = held.rating, held.assessment
    if r is None or a is None or roster is None:
        raise NotRated(f"household {household_id} has never been assessed", rating_status="none")
    if r.status != "current":
        raise NotRated(f"household {household_id}'s rating expired on {a.valid_until}; re-assess first", rating_status=r.status)
    if r.blacklisted:
        raise NotRated(f"household {household_id} is blacklisted (失信)", rating_status=r.status, blacklisted=True)
    if r.vetoed or r.grade is None or r.credit_line is None:
        raise NotRated(f"household {household_id} has no grade (vetoed or below the lowest grade)", rating_status=r.status, vetoed=r.vetoed)
    await repo.revoke_certificates(session, [household_id], reason="replaced by a new certificate", actor=principal.subject)
    serial = await repo.next_certificate_serial(session)
    cert = await repo.add(session, Certificate(
        id=serial, number=domain.certificate_number(held.village_code, on.year, serial), household_id=household_id,
        village_code=held.village_code, assessment_id=a.id, grade=r.grade, credit_line=r.credit_line,  # type: ignore[arg-type]
        issued_on=on, valid_until=a.valid_until, issued_by=principal.subject, status="valid",
    ))
    await session.refresh(cert)
    return CertificatePublic(**certificate_public(cert, on))


async def verify_certificate(*, session: AsyncSession, principal: Principal, number: str, as_of: date | None) -> CertificateVerification:
    cert = await repo.get_certificate(session, number)
    if cert is None:
        raise CertificateNotFound(f"certificate {number} does not exist")
    require_reader(principal, household_id=cert.household_id, village_code=cert.village_code, banks=True)
    on = as_of or today()
    held = await _held_rating(session, cert.household_id, on)
    body = certificate_public(cert, on)
    live = held.rating
    eligible = bool(live and live.eligible_to_borrow and body["status"] == "valid")
    return CertificateVerification(**body, current_grade=live.grade if live else None, eligible_to_borrow=eligible)


async def revoke_certificate(*, session: AsyncSession, principal: Principal, number: str, reason: str) -> CertificatePublic:
    cert = await repo.get_certificate(session, number, for_update=True)
    if cert is None:
        raise CertificateNotFound(f"certificate {number} does not exist")
    require_officer(principal, cert.village_code)
    if cert.status == "revoked":
        raise CertificateRevoked(f"certificate {number} was revoked on {cert.revoked_at}: {cert.revoked_reason}", certificate_status="revoked")
    await repo.revoke_certificate(session, cert, actor=principal.subject, reason=reason)
    return CertificatePublic(**certificate_public(cert, today()))


# ---------------------------------------------------------------- blacklist (失信)


def blacklist_public(e: BlacklistEntry) -> BlacklistPublic:
    return BlacklistPublic(
        entry_id=e.id, household_id=e.household_id, village_code=e.village_code, reason=e.reason, source=e.source, actor=e.actor,  # type: ignore[arg-type]
        loan_id=e.loan_id, created_at=e.created_at, active=e.removed_at is None, removed_at=e.removed_at, removed_by=e.removed_by,
        removal_reason=e.removal_reason,
    )


async def add_to_blacklist(*, session: AsyncSession, principal: Principal, body: BlacklistCreate) -> BlacklistPublic:
    require_officer(principal, body.village_code)
    roster = await repo.roster_row(session, body.household_id)
    if roster is not None and roster.village_code != body.village_code:
        raise HouseholdInOtherVillage(f"household {body.household_id} is registered in village {roster.village_code}")
    entry = await repo.add(session, BlacklistEntry(
        household_id=body.household_id, village_code=body.village_code, reason=body.reason, source=body.source, actor=principal.subject,
    ))
    await session.refresh(entry)
    await repo.revoke_certificates(session, [body.household_id], reason=f"blacklisted (失信): {body.reason}", actor=principal.subject)
    return blacklist_public(entry)


async def remove_from_blacklist(*, session: AsyncSession, principal: Principal, entry_id: int, reason: str) -> BlacklistPublic:
    entry = await repo.get_blacklist_entry(session, entry_id, for_update=True)
    if entry is None:
        raise BlacklistEntryNotFound(f"blacklist entry {entry_id} does not exist")
    require_officer(principal, entry.village_code)
    if entry.removed_at is not None:
        raise BlacklistEntryRemoved(f"blacklist entry {entry_id} was removed on {entry.removed_at}", entry_status="removed")
    await repo.remove_blacklist_entry(session, entry, actor=principal.subject, reason=reason)
    return blacklist_public(entry)


async def list_blacklist(
    *, session: AsyncSession, principal: Principal, household_id: str | None, village_code: str | None, active_only: bool,
    cursor: str | None, limit: int,
) -> tuple[list[BlacklistPublic], str | None]:
    prefix = _reader_prefix(principal, village_code)
    rows = await repo.list_blacklist(
        session, household_id=household_id, region_prefix=prefix, active_only=active_only, after=_cursor(cursor), limit=limit + 1
    )
    page = rows[:limit]
    return [blacklist_public(e) for e in page], (str(page[-1].id) if len(rows) > limit else None)


# ---------------------------------------------------------------- loan events (守信激励、失信严惩)

RATING_EVENTS = ("defaulted", "diverted")
EVENT_ACTOR = "loan-events"


async def apply_loan_events(*, session: AsyncSession, events: Sequence[LoanEvent]) -> EventsApplied:
    """A default feeds back as the deduction or blacklist the scorecard configures; a diverted loan
    (资金挪用) blacklists. Each seq is applied once (primary key on the applied-events table)."""
    problems: list[dict[str, str]] = []
    relevant: dict[int, tuple[LoanEvent, str, str]] = {}
    for i, ev in enumerate(events):
        if ev.type not in RATING_EVENTS or ev.seq in relevant:
            continue
        hid, village = ev.data.get("household_id"), ev.data.get("village_code")
        if hid is None:
            continue  # enterprise loan: no household rating to act on
        if not isinstance(hid, str) or not _HOUSEHOLD.fullmatch(hid):
            problems.append({"field": f"{i}.data.household_id", "message": "not a household id"})
        elif not isinstance(village, str) or not village.isdigit() or len(village) != 12:
            problems.append({"field": f"{i}.data.village_code", "message": "a 12-digit village code is required"})
        else:
            relevant[ev.seq] = (ev, hid, village)
    if problems:
        raise InvalidInput(f"{len(problems)} event(s) cannot be applied", errors=problems)
    records, plans = [], {}
    for seq, (ev, hid, village) in relevant.items():
        _, card = await card_for_county(session, village, None)
        rule = domain.LoanEventRule("blacklist") if ev.type == "diverted" else card.loan_events.get(ev.type, domain.LoanEventRule("none"))
        records.append((seq, ev.loan_id, ev.type, hid, rule.action, rule.points))
        plans[seq] = (ev, hid, village, rule)
    new = await repo.record_loan_events(session, records) if records else set()
    penalties, entries = [], []
    for seq in sorted(new):
        ev, hid, village, rule = plans[seq]
        what = f"loan {ev.loan_id} {ev.type} on {ev.business_date}"
        if rule.action == "deduction":
            penalties.append((hid, rule.points, f"一减分: {what}", ev.loan_id, seq))
        elif rule.action == "blacklist":
            entries.append((hid, village, f"失信: {what}", "loan-event", EVENT_ACTOR, ev.loan_id, seq))
    await repo.add_penalties(session, penalties)
    await repo.add_blacklist_entries(session, entries)
    await repo.revoke_certificates(session, sorted({e[0] for e in entries}), reason="blacklisted (失信) by a loan event", actor=EVENT_ACTOR)
    return EventsApplied(received=len(events), applied=len(new), duplicates=len(relevant) - len(new), ignored=len(events) - len(relevant))


_events_adapter = TypeAdapter(list[LoanEvent])


async def apply_event_log_page(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    """kit.consumer's ``apply`` for the applications loan event log (its contract passes the session
    and the page positionally): the same rules as ``POST /v1/rating-events``, in the consumer's
    transaction. An event that cannot be applied fails the page, which is retried (and counted in
    ``event_consumer_failures_total``) rather than skipped: a skipped default would leave a rating
    untouched for good."""
    try:
        parsed = _events_adapter.validate_python(events)
    except ValidationError as exc:
        raise InvalidInput(f"the loan event log answered {exc.error_count()} malformed field(s): {exc.errors()[:3]}") from exc
    result = await apply_loan_events(session=session, events=parsed)
    if result.applied:
        log.info("loan events: %d received, %d applied, %d duplicates", result.received, result.applied, result.duplicates)


# ---------------------------------------------------------------- roster and coverage


@dataclass(frozen=True)
class RegistryPageApplied:
    read: int
    changed: int
    skipped: list[str]


async def apply_registry_page(*, session: AsyncSession, items: Sequence[Mapping[str, Any]]) -> RegistryPageApplied:
    """A page of the 建档立卡 registry into the coverage roster, set-based; rows already up to date
    are not rewritten."""
    rows, skipped = domain.roster_rows(items)
    changed = 0
    for start in range(0, len(rows), ROSTER_CHUNK):
        changed += await repo.upsert_roster(session, rows[start : start + ROSTER_CHUNK], changed_only=True)
    if skipped:
        log.warning("registry rows not stored (%d): %s", len(skipped), "; ".join(skipped[:20]))
    return RegistryPageApplied(read=len(items), changed=changed, skipped=skipped)


async def current_ratings_by_county(*, session: AsyncSession) -> dict[str, int]:
    """Households with a current rating today, per county (the ``ratings_current_households`` gauge)."""
    return {r.county: r.households for r in await repo.current_ratings_by_county(session, as_of=today())}


async def upsert_roster(*, session: AsyncSession, principal: Principal, entries: Sequence[RosterEntry]) -> int:
    if "internal" not in principal.scopes:
        principal.require_role("admin", "county_officer")
    problems, seen = [], set()
    for i, e in enumerate(entries):
        if e.household_id in seen:
            problems.append({"field": f"{i}.household_id", "message": f"household {e.household_id} appears twice"})
        seen.add(e.household_id)
    if problems:
        raise InvalidInput(f"{len(problems)} duplicate household(s) in the roster", errors=problems)
    outside = sorted({e.village_code for e in entries if not principal.covers_region(e.village_code)})
    if outside:
        raise Forbidden(f"villages outside the caller's region {principal.region}: {', '.join(outside[:10])}")
    total = 0
    for start in range(0, len(entries), ROSTER_CHUNK):
        chunk = entries[start : start + ROSTER_CHUNK]
        total += await repo.upsert_roster(session, [(e.household_id, e.village_code, e.registered) for e in chunk])
    return total


_GROUP_LEN = {"province": 6, "city": 6, "county": 9, "township": 12, "village": 12}


def _share(rated: int, registered: int) -> Decimal | None:
    return None if registered == 0 else (Decimal(rated) / Decimal(registered)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


async def coverage(*, session: AsyncSession, principal: Principal, region: str | None, as_of: date | None) -> CoverageReport:
    """评级覆盖率: registered households with a current rating ÷ registered households, per region."""
    if _is_applicant(principal) or (principal.has_role("bank") and not principal.has_role("admin")):
        raise Forbidden("coverage is for officers and monitors")
    region = region or principal.region
    if region is not None:
        principal.require_region(region)
    level = division_level(region) if region else "province"
    prefix = region_prefix(region) if region else ""
    on = as_of or today()
    rows = await repo.coverage(session, prefix=prefix, group_len=_GROUP_LEN[level], as_of=on)
    registered = sum(r.registered for r in rows)
    rated = sum(r.rated for r in rows)
    return CoverageReport(
        region=region, registered=registered, rated=rated, coverage=_share(rated, registered), as_of=on,
        by_subregion=[CoverageFigure(region=r.code, registered=r.registered, rated=r.rated, coverage=_share(r.rated, r.registered)) for r in rows],
    )
