"""applications use cases: repo → domain → repo; flushes, never commits."""

from __future__ import annotations

import asyncio
import base64
import binascii
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from applications import domain, metrics, repo
from applications.clients.credit_rating import CreditRatingClient
from applications.clients.risk_pool import RiskPoolClient
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
from applications.models import Application, ApplicationStep, Enterprise, Household, Installment, Loan
from applications.schemas import (
    AmountRow,
    AmountsOut,
    ApplicationCreate,
    ApplicationOut,
    ApprovalTimesOut,
    BusinessDateMoved,
    CoverageOut,
    CoverageRow,
    EligibilityIn,
    EligibilityOut,
    EnterpriseIn,
    EnterpriseOut,
    FailureOut,
    HouseholdIn,
    HouseholdOut,
    IdentificationIO,
    ImportError_,
    ImportReport,
    InstallmentOut,
    LendingPolicyIn,
    LendingPolicyOut,
    LoanOut,
    MemberIO,
    OverviewOut,
    RegionOut,
    RepaymentIn,
    RepaymentOut,
    StepOut,
)
from applications.settings import Settings
from kit.auth import Principal
from kit.errors import Conflict, Forbidden, InvalidInput
from kit.identifiers import division_code_error, division_level, mask_resident_id, region_prefix

BANK_VISIBLE_STATUSES = ("recommended", "approved", "declined", "disbursed")
OFFICER_ROLES = ("village_officer", "township_officer", "county_officer")


@dataclass(frozen=True)
class Clients:
    credit_rating: CreditRatingClient
    risk_pool: RiskPoolClient


# ---- small shared pieces ----


def encode_cursor(value: str | int) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput("cursor is not one this service issued") from exc


def _int_cursor(cursor: str | None) -> int | None:
    raw = decode_cursor(cursor)
    if raw is None:
        return None
    if not raw.isdigit():
        raise InvalidInput("cursor is not one this service issued")
    return int(raw)


def _actor_role(principal: Principal) -> str:
    return ",".join(sorted(principal.roles)) or principal.kind


def _act(principal: Principal, roles: tuple[str, ...], village_code: str) -> None:
    """An officer acts at its own level and within its own region; admin acts everywhere."""
    if principal.has_role("admin"):
        return
    principal.require_role(*roles)
    principal.require_region(village_code)


def _region_filter(principal: Principal, region: str | None) -> str | None:
    """The code prefix a list is confined to: the asked region, which must lie in the caller's."""
    if region is not None:
        if division_code_error(region):
            raise InvalidInput(f"region {region}: {division_code_error(region)}")
        principal.require_region(region)
        return region_prefix(region)
    return region_prefix(principal.region) if principal.region else None


async def business_date(*, session: AsyncSession, settings: Settings) -> date:
    return await repo.business_date(session, initial=settings.initial_business_date)


async def policy_for(*, session: AsyncSession, county_code: str, on: date) -> tuple[domain.PolicyProfile, date | None, str | None]:
    stored = await repo.policy_in_force(session, county_code, on)
    if stored is None:
        return domain.PolicyProfile(), None, None
    return domain.PolicyProfile.model_validate(stored.profile), stored.effective_from, stored.created_by


# ---- business date ----


async def move_business_date(*, session: AsyncSession, settings: Settings, principal: Principal, new: date) -> BusinessDateMoved:
    """Moves the platform's date forward; days past due follow it, set-based, with their events."""
    principal.require_role("admin")
    await business_date(session=session, settings=settings)
    current = await repo.lock_business_date(session)
    if new < current:
        raise InvalidInput(f"the business date only moves forward: {new} is before {current}", business_date=current.isoformat())
    if new > current:
        await repo.set_business_date(session, new)
    default_days = domain.PolicyProfile().default_days_past_due
    overdue = await repo.mark_overdue(session, bd=new, default_days=default_days)
    defaulted = await repo.mark_defaulted(session, bd=new, default_days=default_days)
    return BusinessDateMoved(business_date=new, previous=current, loans_overdue=overdue, loans_defaulted=defaulted)


# ---- regions and bulk import ----


def _region_out(region: Any) -> RegionOut:
    return RegionOut(code=region.code, level=region.level, name=region.name, parent_code=region.parent_code)


async def get_region(*, session: AsyncSession, code: str) -> RegionOut:
    region = await repo.get_region(session, code)
    if region is None:
        raise UnknownRegion(f"region {code} is not registered")
    return _region_out(region)


async def list_regions(*, session: AsyncSession, parent: str | None, region: str | None, cursor: str | None, limit: int) -> tuple[list[RegionOut], str | None]:
    prefix = region_prefix(region) if region and not division_code_error(region) else None
    rows = await repo.list_regions(session, parent=parent, prefix=prefix, after=decode_cursor(cursor), limit=limit)
    return [_region_out(r) for r in rows], (encode_cursor(rows[-1].code) if len(rows) == limit else None)


async def _lines(body: AsyncIterator[bytes]) -> AsyncIterator[list[tuple[int, bytes]]]:
    """The body as batches of (line number, raw line), streamed: one record per line."""
    tail = b""
    number = 0
    async for chunk in body:
        if not chunk:
            continue
        parts = (tail + chunk).split(b"\n")
        tail = parts.pop()
        batch = []
        for part in parts:
            number += 1
            batch.append((number, part.rstrip(b"\r")))
        if batch:
            yield batch
    if tail.strip():
        yield [(number + 1, tail.rstrip(b"\r"))]


# The columns a household CSV must name (the others are optional; see the README's import format).
HOUSEHOLD_CSV_COLUMNS = ("household_id", "head_resident_id", "village_code", "household_type", "main_cause", "members", "status")


async def _records(
    body: AsyncIterator[bytes], content_type: str, required: tuple[str, ...]
) -> AsyncIterator[list[tuple[int, dict[str, Any] | str]]]:
    """Each record as a dict, or the reason it cannot be read. CSV needs a header line naming at
    least the ``required`` columns (else the whole file is refused, 422); NDJSON takes one JSON
    object per line. Blank lines are skipped."""
    header: list[str] | None = None
    async for batch in _lines(body):
        out: list[tuple[int, dict[str, Any] | str]] = []
        for number, raw in batch:
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                out.append((number, "not UTF-8 text"))
                continue
            if content_type == "text/csv":
                try:
                    fields = next(csv.reader([line]))
                except (csv.Error, StopIteration):
                    out.append((number, "not a CSV line"))
                    continue
                if header is None:
                    header = [f.strip() for f in fields]
                    missing = [c for c in required if c not in header]
                    if missing:
                        raise InvalidInput(f"the CSV header lacks the columns {', '.join(missing)}", missing_columns=missing)
                    continue
                if len(fields) != len(header):
                    out.append((number, f"{len(fields)} fields where the header has {len(header)}"))
                    continue
                out.append((number, dict(zip(header, fields, strict=True))))
            else:
                try:
                    value = json.loads(line)
                except ValueError:
                    out.append((number, "not a JSON line"))
                    continue
                out.append((number, value if isinstance(value, dict) else "not a JSON object"))
        yield out


class _ErrorList:
    """Invalid rows found before staging: all counted, the first ``cap`` kept."""

    def __init__(self, cap: int) -> None:
        self.cap, self.count, self.items = cap, 0, []  # type: ignore[var-annotated]

    def add(self, line: int, key: str | None, reason: str) -> None:
        self.count += 1
        if len(self.items) < self.cap:
            self.items.append((line, key, reason))


def _report(
    received: int, inserted: int, updated: int, early: _ErrorList, staged_count: int, staged: list[tuple[int, str | None, str]], cap: int
) -> ImportReport:
    errors = sorted(early.items + staged)[:cap]
    invalid = early.count + staged_count
    return ImportReport(
        received=received,
        inserted=inserted,
        updated=updated,
        unchanged=received - invalid - inserted - updated,
        invalid=invalid,
        errors=[ImportError_(line=line, key=key, reason=reason) for line, key, reason in errors],
        errors_truncated=invalid > len(errors),
    )


def _require_registry_writer(principal: Principal) -> None:
    if not principal.has_role("admin", "county_officer", "village_officer"):
        raise Forbidden("the registry is written by the poverty office: admin, county or village officers")


async def import_regions(*, session: AsyncSession, settings: Settings, principal: Principal, body: AsyncIterator[bytes], content_type: str) -> ImportReport:
    """Regions (county, township, village) by division code; upsert by code."""
    _require_registry_writer(principal)
    table = f"stage_regions_{uuid.uuid4().hex[:12]}"
    await repo.create_stage(session, table, repo.REGION_STAGE_SQL)
    early = _ErrorList(settings.import_reported_errors)
    received = 0
    async for batch in _records(body, content_type, ("code", "name")):
        rows: list[tuple[Any, ...]] = []
        for number, record in batch:
            received += 1
            if isinstance(record, str):
                early.add(number, None, record)
                continue
            code, name = str(record.get("code") or "").strip(), str(record.get("name") or "").strip()
            problem = division_code_error(code)
            level = division_level(code) if problem is None else ""
            if problem is None and level not in ("county", "township", "village"):
                problem = f"a {level} code; regions here are counties, townships and villages"
            if problem is None and not name:
                problem = "name: required"
            if problem is None and not principal.covers_region(code):
                problem = f"outside the caller's region {principal.region}"
            if problem is not None:
                early.add(number, code or None, problem)
                continue
            parent = None if level == "county" else (domain.county_of(code) if level == "township" else domain.township_of(code))
            rows.append((number, code, name, level, parent))
        if rows:
            await repo.copy_rows(session, table, repo.REGION_STAGE_COLUMNS, rows)
    await repo.validate_region_stage(session, table)
    inserted, updated = await repo.upsert_region_stage(session, table)
    staged_count, staged = await repo.stage_errors(session, table, "code", settings.import_reported_errors)
    await repo.drop_stage(session, table)
    return _report(received, inserted, updated, early, staged_count, staged, settings.import_reported_errors)


def _text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    text_ = value.strip() if isinstance(value, str) else str(value)
    return text_ or None


def _household_stage_row(number: int, record: dict[str, Any]) -> tuple[Any, ...] | str:
    """A record as raw staged values; only what COPY itself needs is checked here (members must be
    a JSON list). Every business rule is checked set-based in the staging table."""
    members = record.get("members")
    if isinstance(members, str):
        try:
            parsed = json.loads(members)
        except ValueError:
            return "members: not a JSON list"
        if not isinstance(parsed, list):
            return "members: not a JSON list"
        members_text = members
    elif isinstance(members, list):
        members_text = json.dumps(members, ensure_ascii=False)
    else:
        return "members: not a JSON list"
    secondary = record.get("secondary_causes")
    if isinstance(secondary, list):
        causes = [str(c).strip() for c in secondary]
    elif isinstance(secondary, str):
        causes = [c.strip() for c in secondary.split(";") if c.strip()]
    elif secondary is None:
        causes = []
    else:
        return "secondary_causes: not a list"
    nested = record.get("identification")
    steps = nested if isinstance(nested, dict) else record
    resident_id = _text_or_none(record.get("head_resident_id"))
    return (
        number,
        _text_or_none(record.get("household_id")),
        resident_id.upper() if resident_id else None,
        _text_or_none(record.get("head_name")),
        _text_or_none(record.get("village_code")),
        _text_or_none(record.get("household_type")),
        _text_or_none(record.get("main_cause")),
        causes,
        members_text,
        _text_or_none(record.get("status")),
        *(_text_or_none(steps.get(s)) for s in domain.IDENTIFICATION_STEPS),
    )


async def import_households(*, session: AsyncSession, settings: Settings, principal: Principal, body: AsyncIterator[bytes], content_type: str) -> ImportReport:
    """建档立卡 households, streamed: raw rows COPYed into a staging table in chunks, then every rule
    of policy.md §2 checked set-based (each invalid row with its line and reasons), then upserted
    by household_id in chunks; an identical row is left alone, so a re-import changes nothing."""
    _require_registry_writer(principal)
    table = f"stage_households_{uuid.uuid4().hex[:12]}"
    await repo.create_stage(session, table, repo.HOUSEHOLD_STAGE_SQL)
    await repo.create_problem_table(session, table)
    region = repo.code_range(region_prefix(principal.region)) if principal.region else ("000000000000", "999999999999")
    early = _ErrorList(settings.import_reported_errors)
    received = 0
    pending: list[tuple[Any, ...]] = []
    checking: asyncio.Task[None] | None = None

    async def stage(rows: list[tuple[Any, ...]]) -> asyncio.Task[None]:
        await repo.copy_rows(session, table, repo.HOUSEHOLD_STAGE_COLUMNS, rows)
        task = asyncio.create_task(
            repo.check_household_rows(
                session,
                table,
                lines=(rows[0][0], rows[-1][0]),
                region=region,
                types=domain.HOUSEHOLD_TYPES,
                causes=domain.POVERTY_CAUSES,
                statuses=domain.HOUSEHOLD_STATUSES,
            )
        )
        await asyncio.sleep(0)  # let the check send its query before parsing goes on (the body may not suspend)
        return task

    try:
        async for batch in _records(body, content_type, HOUSEHOLD_CSV_COLUMNS):
            for number, record in batch:
                received += 1
                row = record if isinstance(record, str) else _household_stage_row(number, record)
                if isinstance(row, str):
                    early.add(number, None if isinstance(record, str) else _text_or_none(record.get("household_id")), row)
                    continue
                pending.append(row)
            if len(pending) >= settings.import_chunk_rows:
                if checking is not None:
                    await checking  # the session runs one statement at a time
                checking, pending = await stage(pending), []
        if checking is not None:
            await checking
            checking = None
        if pending:
            checking = await stage(pending)
            await checking
    finally:
        if checking is not None and not checking.done():
            checking.cancel()
    await repo.validate_household_stage(session, table)
    inserted = updated = 0
    first, last = await repo.stage_line_bounds(session, table)
    step = settings.import_chunk_rows
    for lo in range(first, last + 1, step):
        ins, upd = await repo.upsert_household_stage(session, table, first_line=lo, last_line=lo + step - 1)
        inserted, updated = inserted + ins, updated + upd
    staged_count, staged = await repo.stage_errors(session, table, "household_id", settings.import_reported_errors)
    await repo.drop_stage(session, table)
    return _report(received, inserted, updated, early, staged_count, staged, settings.import_reported_errors)


# ---- households ----


def _see_household(principal: Principal, household: Household) -> None:
    if principal.has_role("admin"):
        return
    if principal.has_role("bank"):
        raise Forbidden("banks do not read the registry")
    if principal.has_role("applicant"):
        if principal.household_id != household.household_id:
            raise Forbidden("an applicant sees only its own household")
        return
    principal.require_region(household.village_code)


def household_out(h: Household) -> HouseholdOut:
    return HouseholdOut(
        household_id=h.household_id,
        head_resident_id=mask_resident_id(h.head_resident_id),
        head_name=h.head_name,
        village_code=h.village_code,
        township_code=h.township_code,
        county_code=h.county_code,
        household_type=h.household_type,
        main_cause=h.main_cause,
        secondary_causes=list(h.secondary_causes),
        members=[MemberIO(**m) for m in h.members],
        status=h.status,
        identification=IdentificationIO(**{s: getattr(h, s) for s in domain.IDENTIFICATION_STEPS}),
        updated_at=h.updated_at,
    )


async def get_household(*, session: AsyncSession, principal: Principal, household_id: str) -> HouseholdOut:
    household = await repo.get_household(session, household_id)
    if household is None:
        raise UnknownHousehold(f"household {household_id} is not in the registry")
    _see_household(principal, household)
    return household_out(household)


async def list_households(
    *, session: AsyncSession, principal: Principal, region: str | None, status: str | None, cursor: str | None, limit: int
) -> tuple[list[HouseholdOut], str | None]:
    own = None
    if principal.has_role("bank") and not principal.has_role("admin"):
        raise Forbidden("banks do not read the registry")
    if principal.has_role("applicant") and not principal.has_role("admin"):
        if not principal.household_id:
            raise Forbidden("the token names no household")
        own = principal.household_id
    prefix = _region_filter(principal, region)
    rows = await repo.list_households(session, prefix=prefix, household_id=own, status=status, after=decode_cursor(cursor), limit=limit)
    return [household_out(h) for h in rows], (encode_cursor(rows[-1].household_id) if len(rows) == limit else None)


async def put_household(*, session: AsyncSession, principal: Principal, household_id: str, body: HouseholdIn) -> tuple[HouseholdOut, bool]:
    """Create or replace one registry record (the same checks as the bulk import)."""
    _require_registry_writer(principal)
    raw = body.model_dump(mode="json")
    raw["household_id"] = household_id
    rec, problems = domain.validate_household(raw)
    if rec is None:
        raise InvalidRecord(problems)
    principal.require_region(rec.village_code)
    region = await repo.get_region(session, rec.village_code)
    if region is None or region.level != "village":
        raise InvalidRecord([f"village_code: {rec.village_code} is not a known village"])
    owner = await repo.resident_id_owner(session, rec.head_resident_id)
    if owner is not None and owner != household_id:
        raise InvalidRecord([f"head_resident_id: already heads household {owner}"])
    existing = await repo.get_household(session, household_id)
    if existing is not None:
        principal.require_region(existing.village_code)
    values = {
        "household_id": rec.household_id,
        "head_resident_id": rec.head_resident_id,
        "head_name": rec.head_name,
        "village_code": rec.village_code,
        "township_code": rec.township_code,
        "county_code": rec.county_code,
        "household_type": rec.household_type,
        "main_cause": rec.main_cause,
        "secondary_causes": list(rec.secondary_causes),
        "members": rec.members_json(),
        "status": rec.status,
        **rec.identification,
    }
    await repo.upsert_household(session, values)
    stored = await repo.get_household(session, household_id)
    assert stored is not None
    await session.refresh(stored)
    return household_out(stored), existing is None


# ---- enterprises ----


def _enterprise_out(e: Enterprise) -> EnterpriseOut:
    return EnterpriseOut(enterprise_id=e.enterprise_id, name=e.name, village_code=e.village_code, township_code=e.township_code, county_code=e.county_code)


async def create_enterprise(*, session: AsyncSession, principal: Principal, body: EnterpriseIn) -> EnterpriseOut:
    _require_registry_writer(principal)
    problems = []
    enterprise_id = body.enterprise_id.strip().upper()
    if (err := domain.validate_enterprise_id(enterprise_id)) is not None:
        problems.append(f"enterprise_id: {err}")
    region = await repo.get_region(session, body.village_code)
    if region is None or region.level != "village":
        problems.append(f"village_code: {body.village_code} is not a known village")
    if problems:
        raise InvalidRecord(problems)
    principal.require_region(body.village_code)
    if await repo.get_enterprise(session, enterprise_id) is not None:
        raise Conflict(f"enterprise {enterprise_id} is already registered")
    enterprise = Enterprise(
        enterprise_id=enterprise_id,
        name=body.name.strip(),
        village_code=body.village_code,
        township_code=domain.township_of(body.village_code),
        county_code=domain.county_of(body.village_code),
    )
    await repo.add_enterprise(session, enterprise)
    return _enterprise_out(enterprise)


async def get_enterprise(*, session: AsyncSession, principal: Principal, enterprise_id: str) -> EnterpriseOut:
    enterprise = await repo.get_enterprise(session, enterprise_id)
    if enterprise is None:
        raise UnknownEnterprise(f"enterprise {enterprise_id} is not registered")
    if not principal.has_role("admin", "bank"):
        principal.require_region(enterprise.village_code)
    return _enterprise_out(enterprise)


async def list_enterprises(
    *, session: AsyncSession, principal: Principal, region: str | None, cursor: str | None, limit: int
) -> tuple[list[EnterpriseOut], str | None]:
    prefix = _region_filter(principal, region)
    rows = await repo.list_enterprises(session, prefix=prefix, after=decode_cursor(cursor), limit=limit)
    return [_enterprise_out(e) for e in rows], (encode_cursor(rows[-1].enterprise_id) if len(rows) == limit else None)


# ---- lending policy ----


def _check_county(code: str) -> None:
    if division_code_error(code) or division_level(code) != "county":
        raise InvalidInput(f"{code} is not a 12-digit county code (e.g. 411224000000)")


async def get_policy(*, session: AsyncSession, settings: Settings, county_code: str, on: date | None) -> LendingPolicyOut:
    _check_county(county_code)
    day = on or await business_date(session=session, settings=settings)
    profile, effective_from, created_by = await policy_for(session=session, county_code=county_code, on=day)
    return LendingPolicyOut(
        county_code=county_code, effective_from=effective_from, source="stored" if effective_from else "default", created_by=created_by, profile=profile
    )


async def list_policies(*, session: AsyncSession, county_code: str) -> list[LendingPolicyOut]:
    _check_county(county_code)
    return [
        LendingPolicyOut(
            county_code=p.county_code,
            effective_from=p.effective_from,
            source="stored",
            created_by=p.created_by,
            profile=domain.PolicyProfile.model_validate(p.profile),
        )
        for p in await repo.policies_of(session, county_code)
    ]


async def put_policy(*, session: AsyncSession, settings: Settings, principal: Principal, county_code: str, body: LendingPolicyIn) -> LendingPolicyOut:
    """A new version of the county's profile, in force from a date not before the business date."""
    _check_county(county_code)
    if not principal.has_role("admin"):
        principal.require_role("county_officer")
        principal.require_region(county_code)
    today = await business_date(session=session, settings=settings)
    if body.effective_from < today:
        raise DateInPast(f"effective_from {body.effective_from} is before the business date {today}", business_date=today.isoformat())
    await repo.upsert_policy(
        session, county_code=county_code, effective_from=body.effective_from, profile=body.profile.model_dump(mode="json"), created_by=principal.subject
    )
    return LendingPolicyOut(county_code=county_code, effective_from=body.effective_from, source="stored", created_by=principal.subject, profile=body.profile)


# ---- eligibility ----


def _failures(items: Iterable[domain.Failure]) -> list[dict[str, str]]:
    return [{"code": f.code, "message": f.message} for f in items]


async def check_eligibility(*, session: AsyncSession, settings: Settings, clients: Clients, principal: Principal, body: EligibilityIn) -> EligibilityOut:
    """Every rule checked at once: registry, county policy, the rating (credit-rating) and, when
    the caller may read it, the village's lending status (risk-pool 熔断)."""
    household = await repo.get_household(session, body.household_id)
    if household is not None:
        _see_household(principal, household)
    elif principal.has_role("applicant") and principal.household_id != body.household_id:
        raise Forbidden("an applicant checks only its own household")
    today = await business_date(session=session, settings=settings)
    checked = ["registry", "policy"]
    if household is None:
        failures = [domain.Failure("NOT_REGISTERED", f"household {body.household_id} is not in the 建档立卡 registry")]
        return EligibilityOut(
            eligible=False, failures=[FailureOut(code=f.code, message=f.message) for f in failures], checked=checked, policy_effective_from=None
        )
    policy, effective_from, _ = await policy_for(session=session, county_code=household.county_code, on=today)
    rating = await clients.credit_rating.rating(household.household_id, token=principal.token)
    checked.append("rating")
    status = None
    if "risk:read" in principal.scopes:
        status = await clients.risk_pool.lending_status(household.village_code, token=principal.token)
        checked.append("lending_status")
    failures = domain.household_eligibility(
        household_status=household.status,
        members=domain.members_from_json(household.members),
        policy=policy,
        request=domain.LoanRequest(amount=body.amount, term_months=body.term_months, purpose=body.purpose, industry=body.industry),
        on=today,
        outstanding=await repo.household_outstanding(session, household.household_id),
        rating=rating,
        lending_status=status,
    )
    return EligibilityOut(
        eligible=not failures, failures=[FailureOut(code=f.code, message=f.message) for f in failures], checked=checked, policy_effective_from=effective_from
    )


# ---- applications ----


def _see_application(principal: Principal, app: Application) -> None:
    if principal.has_role("admin"):
        return
    if principal.has_role("applicant"):
        if app.household_id is None or principal.household_id != app.household_id:
            raise Forbidden("an applicant sees only its own household's applications")
        return
    if principal.has_role("bank"):
        if app.bank_id != principal.bank_id or app.status not in BANK_VISIBLE_STATUSES:
            raise Forbidden("a bank sees only applications recommended to it")
        return
    principal.require_region(app.village_code)


async def application_out(*, session: AsyncSession, apps: list[Application]) -> list[ApplicationOut]:
    ids = [a.application_id for a in apps]
    steps = await repo.steps_of(session, ids)
    driven = await repo.driven_of(session, ids)
    out = []
    for a in apps:
        approval_days = (a.decided_on - a.submitted_on).days if a.decided_on and a.status in ("approved", "disbursed") else None
        out.append(
            ApplicationOut(
                application_id=a.application_id,
                borrower_type=a.borrower_type,
                household_id=a.household_id,
                enterprise_id=a.enterprise_id,
                driven_households=driven.get(a.application_id, []),
                registered_poor=a.registered_poor,
                village_code=a.village_code,
                township_code=a.township_code,
                county_code=a.county_code,
                amount=a.amount,
                term_months=a.term_months,
                purpose=a.purpose,
                industry=a.industry,
                project=a.project,
                status=a.status,
                village_secretary=a.village_secretary,
                resident_secretary=a.resident_secretary,
                credit_officer=a.credit_officer,
                bank_id=a.bank_id,
                approved_amount=a.approved_amount,
                annual_rate=a.annual_rate,
                reason=a.reason,
                loan_id=a.loan_id,
                submitted_on=a.submitted_on,
                decided_on=a.decided_on,
                approval_days=approval_days,
                steps=[
                    StepOut(
                        step=s.step,
                        from_status=s.from_status,
                        to_status=s.to_status,
                        actor=s.actor,
                        actor_role=s.actor_role,
                        business_date=s.business_date,
                        at=s.at,
                        detail=s.detail,
                    )
                    for s in steps.get(a.application_id, [])
                ],
            )
        )
    return out


async def _one_out(session: AsyncSession, app: Application) -> ApplicationOut:
    return (await application_out(session=session, apps=[app]))[0]


async def _step(session: AsyncSession, app: Application, principal: Principal, step: str, from_status: str | None, today: date, detail: dict[str, Any]) -> None:
    app.updated_at = datetime.now(UTC)
    await repo.add_step(
        session,
        ApplicationStep(
            application_id=app.application_id,
            step=step,
            from_status=from_status,
            to_status=app.status,
            actor=principal.subject,
            actor_role=_actor_role(principal),
            business_date=today,
            detail=detail,
        ),
    )


async def submit_application(*, session: AsyncSession, settings: Settings, principal: Principal, body: ApplicationCreate) -> ApplicationOut:
    today = await business_date(session=session, settings=settings)
    request = domain.LoanRequest(amount=body.amount, term_months=body.term_months, purpose=body.purpose, industry=body.industry)
    if body.borrower_type == "household":
        app = await _household_application(session=session, principal=principal, body=body, request=request, today=today)
        driven: list[str] = []
    else:
        app, driven = await _enterprise_application(session=session, principal=principal, body=body, request=request, today=today)
    try:
        await repo.add_application(session, app)
        if driven:
            await repo.add_driven(session, app.application_id, driven)
    except IntegrityError as exc:
        if "driven_households_one_driver" in str(exc):
            raise DrivenElsewhere("a driven household was just taken by another enterprise application") from exc
        if "applications_one_open_per_household" in str(exc):
            raise AlreadyOpen("the household already has an open application") from exc
        raise
    await _step(session, app, principal, "submit", None, today, {})
    return await _one_out(session, app)


async def _household_application(
    *, session: AsyncSession, principal: Principal, body: ApplicationCreate, request: domain.LoanRequest, today: date
) -> Application:
    if body.household_id is None or body.enterprise_id is not None or body.driven_households:
        raise InvalidInput("a household application names household_id only (no enterprise_id, no driven_households)")
    if principal.has_role("applicant") and not principal.has_role("admin"):
        if principal.household_id != body.household_id:
            raise Forbidden("an applicant applies only for its own household")
    elif not principal.has_role("admin", *OFFICER_ROLES):
        raise Forbidden("applications are made by the household or entered by an officer")
    household = await repo.get_household(session, body.household_id)
    if household is None:
        raise Ineligible(_failures([domain.Failure("NOT_REGISTERED", f"household {body.household_id} is not in the 建档立卡 registry")]))
    if not principal.has_role("applicant"):
        principal.require_region(household.village_code)
    open_id = await repo.open_application_of(session, household.household_id)
    if open_id is not None:
        raise AlreadyOpen(f"the household already has the open application {open_id}", application_id=open_id)
    policy, _, _ = await policy_for(session=session, county_code=household.county_code, on=today)
    failures = domain.household_eligibility(
        household_status=household.status,
        members=domain.members_from_json(household.members),
        policy=policy,
        request=request,
        on=today,
        outstanding=await repo.household_outstanding(session, household.household_id),
    )
    if failures:
        raise Ineligible(_failures(failures))
    return Application(
        application_id=f"A-{uuid.uuid4().hex[:16].upper()}",
        borrower_type="household",
        household_id=household.household_id,
        registered_poor=household.status in ("poor", "exited"),
        village_code=household.village_code,
        township_code=household.township_code,
        county_code=household.county_code,
        amount=body.amount,
        term_months=body.term_months,
        purpose=body.purpose,
        industry=body.industry,
        project=body.project,
        status="submitted",
        submitted_on=today,
    )


async def _enterprise_application(
    *, session: AsyncSession, principal: Principal, body: ApplicationCreate, request: domain.LoanRequest, today: date
) -> tuple[Application, list[str]]:
    if body.enterprise_id is None or body.household_id is not None:
        raise InvalidInput("an enterprise application names enterprise_id and driven_households, not household_id")
    if not principal.has_role("admin", *OFFICER_ROLES):
        raise Forbidden("enterprise 带贫 applications are entered by an officer")
    enterprise = await repo.get_enterprise(session, body.enterprise_id.strip().upper())
    if enterprise is None:
        raise UnknownEnterprise(f"enterprise {body.enterprise_id} is not registered")
    principal.require_region(enterprise.village_code)
    policy, _, _ = await policy_for(session=session, county_code=enterprise.county_code, on=today)
    failures = domain.enterprise_eligibility(policy=policy, request=request, driven=body.driven_households)
    households = await repo.households_by_id(session, body.driven_households)
    drivers = await repo.active_drivers(session, body.driven_households)
    for household_id in dict.fromkeys(body.driven_households):
        h = households.get(household_id)
        failures.extend(
            domain.driven_household_failures(
                household_id=household_id,
                household_status=h.status if h else None,
                members=domain.members_from_json(h.members) if h else (),
                policy=policy,
                on=today,
                county_code=h.county_code if h else None,
                enterprise_county=enterprise.county_code,
            )
        )
        if household_id in drivers:
            failures.append(domain.Failure("DRIVEN_ELSEWHERE", f"household {household_id} is already driven by application {drivers[household_id]}"))
    if failures:
        raise Ineligible(_failures(failures))
    app = Application(
        application_id=f"A-{uuid.uuid4().hex[:16].upper()}",
        borrower_type="enterprise",
        enterprise_id=enterprise.enterprise_id,
        registered_poor=False,
        village_code=enterprise.village_code,
        township_code=enterprise.township_code,
        county_code=enterprise.county_code,
        amount=body.amount,
        term_months=body.term_months,
        purpose=body.purpose,
        industry=body.industry,
        project=body.project,
        status="submitted",
        submitted_on=today,
    )
    return app, list(dict.fromkeys(body.driven_households))


async def get_application(*, session: AsyncSession, principal: Principal, application_id: str) -> ApplicationOut:
    app = await repo.get_application(session, application_id)
    if app is None:
        raise UnknownApplication(f"application {application_id} does not exist")
    _see_application(principal, app)
    return await _one_out(session, app)


async def list_applications(
    *, session: AsyncSession, principal: Principal, region: str | None, status: str | None, cursor: str | None, limit: int
) -> tuple[list[ApplicationOut], str | None]:
    household_id = bank_id = None
    statuses: list[str] | None = [status] if status else None
    if principal.has_role("admin"):
        pass
    elif principal.has_role("applicant"):
        if not principal.household_id:
            raise Forbidden("the token names no household")
        household_id = principal.household_id
    elif principal.has_role("bank"):
        if not principal.bank_id:
            raise Forbidden("the token names no bank")
        bank_id = principal.bank_id
        statuses = [s for s in (statuses or BANK_VISIBLE_STATUSES) if s in BANK_VISIBLE_STATUSES] or ["-"]
    prefix = _region_filter(principal, region)
    rows = await repo.list_applications(
        session, prefix=prefix, household_id=household_id, bank_id=bank_id, statuses=statuses, after=_int_cursor(cursor), limit=limit
    )
    return await application_out(session=session, apps=rows), (encode_cursor(rows[-1].no or 0) if len(rows) == limit else None)


async def _locked(session: AsyncSession, application_id: str) -> Application:
    app = await repo.get_application(session, application_id, for_update=True)
    if app is None:
        raise UnknownApplication(f"application {application_id} does not exist")
    return app


def _advance(app: Application, action: str) -> str:
    target = domain.next_status(action, app.status)
    if target is None:
        raise StepOutOfOrder(action, app.status)
    previous = app.status
    app.status = target
    return previous


async def attest(
    *,
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    application_id: str,
    village_secretary: str,
    resident_secretary: str,
    credit_officer: str,
) -> ApplicationOut:
    """村级评议: three distinct people attest the household and its project."""
    app = await _locked(session, application_id)
    _act(principal, ("village_officer",), app.village_code)
    if not domain.attesters_distinct(village_secretary, resident_secretary, credit_officer):
        raise InvalidInput("the village secretary, the resident secretary and the credit officer must be three different people")
    previous = _advance(app, "attest")
    app.village_secretary, app.resident_secretary, app.credit_officer = village_secretary.strip(), resident_secretary.strip(), credit_officer.strip()
    today = await business_date(session=session, settings=settings)
    await _step(
        session,
        app,
        principal,
        "attest",
        previous,
        today,
        {"village_secretary": app.village_secretary, "resident_secretary": app.resident_secretary, "credit_officer": app.credit_officer},
    )
    return await _one_out(session, app)


async def review(*, session: AsyncSession, settings: Settings, principal: Principal, application_id: str, note: str) -> ApplicationOut:
    """乡镇审核."""
    app = await _locked(session, application_id)
    _act(principal, ("township_officer",), app.village_code)
    previous = _advance(app, "review")
    await _step(session, app, principal, "review", previous, await business_date(session=session, settings=settings), {"note": note})
    return await _one_out(session, app)


async def confirm(*, session: AsyncSession, settings: Settings, principal: Principal, application_id: str, note: str) -> ApplicationOut:
    """县级确认."""
    app = await _locked(session, application_id)
    _act(principal, ("county_officer",), app.village_code)
    previous = _advance(app, "confirm")
    await _step(session, app, principal, "confirm", previous, await business_date(session=session, settings=settings), {"note": note})
    return await _one_out(session, app)


async def recommend(*, session: AsyncSession, settings: Settings, clients: Clients, principal: Principal, application_id: str, bank_id: str) -> ApplicationOut:
    """The county recommends the application to a participating bank, after asking credit-rating
    for the household's grade and line and risk-pool whether the village may borrow (熔断).
    The calls come first: a dependency down leaves the application unchanged."""
    app = await repo.get_application(session, application_id)
    if app is None:
        raise UnknownApplication(f"application {application_id} does not exist")
    _act(principal, ("county_officer",), app.village_code)
    if domain.next_status("recommend", app.status) is None:
        raise StepOutOfOrder("recommend", app.status)
    today = await business_date(session=session, settings=settings)
    policy, _, _ = await policy_for(session=session, county_code=app.county_code, on=today)
    status = await clients.risk_pool.lending_status(app.village_code, token=principal.token)
    request = domain.LoanRequest(amount=app.amount, term_months=app.term_months, purpose=app.purpose, industry=app.industry, bank_id=bank_id)
    if app.borrower_type == "household":
        assert app.household_id is not None
        rating = await clients.credit_rating.rating(app.household_id, token=principal.token)
        household = await repo.get_household(session, app.household_id)
        assert household is not None
        failures = domain.household_eligibility(
            household_status=household.status,
            members=domain.members_from_json(household.members),
            policy=policy,
            request=request,
            on=today,
            outstanding=await repo.household_outstanding(session, app.household_id),
            rating=rating,
            lending_status=status,
        )
    else:
        failures = domain.purpose_failures(policy, request) + domain.lending_status_failures(status)
    if failures:
        raise Ineligible(_failures(failures), current_status=app.status)
    app = await _locked(session, application_id)
    previous = _advance(app, "recommend")
    app.bank_id = bank_id
    await _step(session, app, principal, "recommend", previous, today, {"bank_id": bank_id})
    # the bank hears of it by webhook: the message commits with the recommendation or not at all
    await repo.enqueue_message(
        session, topic="application.recommended", payload=domain.recommended_payload(app, recommended_on=today), message_id=f"recommended-{app.application_id}"
    )
    return await _one_out(session, app)


def _bank_of(principal: Principal, app: Application) -> None:
    if not principal.has_role("bank") or principal.bank_id is None:
        raise Forbidden("only the bank the application was recommended to decides")
    if app.bank_id != principal.bank_id:
        raise Forbidden("this application was not recommended to your bank")


async def approve(
    *, session: AsyncSession, settings: Settings, principal: Principal, application_id: str, approved_amount: Decimal | None, annual_rate: Decimal
) -> ApplicationOut:
    """The bank decides autonomously (银行自主审批), possibly for a lower amount."""
    app = await _locked(session, application_id)
    _bank_of(principal, app)
    previous = _advance(app, "approve")
    amount = approved_amount if approved_amount is not None else app.amount
    if amount > app.amount:
        raise InvalidInput(f"approved_amount {amount} is above the {app.amount} applied for")
    today = await business_date(session=session, settings=settings)
    policy, _, _ = await policy_for(session=session, county_code=app.county_code, on=today)
    rate_failures = [
        f
        for f in domain.purpose_failures(policy, domain.LoanRequest(amount, app.term_months, app.purpose, app.industry, None, annual_rate))
        if f.code == "RATE"
    ]
    if rate_failures:
        raise Ineligible(_failures(rate_failures), current_status=previous)
    app.approved_amount, app.annual_rate = amount, annual_rate
    app.decided_on, app.decided_at = today, datetime.now(UTC)
    await _step(session, app, principal, "approve", previous, today, {"approved_amount": domain.money_str(amount), "annual_rate": f"{annual_rate:.6f}"})
    return await _one_out(session, app)


async def decline(*, session: AsyncSession, settings: Settings, principal: Principal, application_id: str, reason: str) -> ApplicationOut:
    app = await _locked(session, application_id)
    _bank_of(principal, app)
    previous = _advance(app, "decline")
    today = await business_date(session=session, settings=settings)
    app.reason, app.decided_on, app.decided_at = reason, today, datetime.now(UTC)
    await repo.release_driven(session, app.application_id)
    await _step(session, app, principal, "decline", previous, today, {"reason": reason})
    return await _one_out(session, app)


async def reject(*, session: AsyncSession, settings: Settings, principal: Principal, application_id: str, reason: str) -> ApplicationOut:
    """Rejection with a reason by the level whose step is next."""
    app = await _locked(session, application_id)
    role = domain.REJECTING_ROLE.get(app.status)
    if role is None:
        raise StepOutOfOrder("reject", app.status)
    _act(principal, (role,), app.village_code)
    previous = _advance(app, "reject")
    app.reason = reason
    await repo.release_driven(session, app.application_id)
    await _step(session, app, principal, "reject", previous, await business_date(session=session, settings=settings), {"reason": reason})
    return await _one_out(session, app)


async def withdraw(*, session: AsyncSession, settings: Settings, principal: Principal, application_id: str, reason: str | None) -> ApplicationOut:
    """The applicant withdraws its own application before disbursement."""
    app = await _locked(session, application_id)
    if not principal.has_role("admin"):
        if not principal.has_role("applicant") or app.household_id is None or principal.household_id != app.household_id:
            raise Forbidden("only the applicant household withdraws its application")
    previous = _advance(app, "withdraw")
    app.reason = reason
    await repo.release_driven(session, app.application_id)
    await _step(session, app, principal, "withdraw", previous, await business_date(session=session, settings=settings), {"reason": reason or ""})
    return await _one_out(session, app)


async def disburse(*, session: AsyncSession, settings: Settings, principal: Principal, application_id: str, start_date: date | None) -> LoanOut:
    """放款: the loan contract with its yearly schedule, and the ``disbursed`` event, in one transaction."""
    app = await _locked(session, application_id)
    _bank_of(principal, app)
    today = await business_date(session=session, settings=settings)
    start = start_date or today
    if domain.next_status("disburse", app.status) is None:
        raise StepOutOfOrder("disburse", app.status)
    if start < today:
        raise DateInPast(f"start_date {start} is before the business date {today}", business_date=today.isoformat())
    assert app.approved_amount is not None and app.annual_rate is not None and app.bank_id is not None
    plan = domain.yearly_schedule(principal=app.approved_amount, annual_rate=app.annual_rate, start_date=start, term_months=app.term_months)
    loan_id = "L-" + app.application_id.removeprefix("A-")
    driven = (await repo.driven_of(session, [app.application_id])).get(app.application_id, [])
    previous = _advance(app, "disburse")
    app.loan_id = loan_id  # the same flush as the status: a disbursed application always names its loan
    loan = Loan(
        loan_id=loan_id,
        application_id=app.application_id,
        borrower_type=app.borrower_type,
        household_id=app.household_id,
        enterprise_id=app.enterprise_id,
        registered_poor=app.registered_poor,
        village_code=app.village_code,
        township_code=app.township_code,
        county_code=app.county_code,
        bank_id=app.bank_id,
        principal=app.approved_amount,
        annual_rate=app.annual_rate,
        start_date=start,
        term_months=app.term_months,
        maturity_date=plan[-1].due_date,
        purpose=app.purpose,
        industry=app.industry,
        driven_households=driven,
        status="active",
        outstanding_principal=app.approved_amount,
    )
    installments = [
        Installment(
            loan_id=loan_id,
            loan_year=p.loan_year,
            due_date=p.due_date,
            interest_due=p.interest_due,
            principal_due=p.principal_due,
            interest_paid=Decimal("0.00"),
            principal_paid=Decimal("0.00"),
            late_interest_count=0,
        )
        for p in plan
    ]
    # the loan is new: no other transaction can change it (or log an event of it) before this one
    # commits, and the application's row lock taken above keeps a second disbursement waiting
    await repo.add_loan(session, loan, installments)
    await _step(session, app, principal, "disburse", previous, today, {"loan_id": loan_id, "start_date": start.isoformat()})
    await repo.append_event(
        session,
        loan_id=loan_id,
        type_="disbursed",
        business_date=today,
        extra={
            "term_months": app.term_months,
            "purpose": app.purpose,
            "schedule": _schedule_data(plan),
        },
    )
    return await get_loan(session=session, settings=settings, principal=principal, loan_id=loan_id)


# ---- loans ----


def _schedule_data(installments: Iterable[Any]) -> list[dict[str, Any]]:
    """The schedule as loan events carry it (disbursed, renewed, extended)."""
    return [
        {
            "loan_year": i.loan_year,
            "due_date": i.due_date.isoformat(),
            "interest_due": domain.money_str(i.interest_due),
            "principal_due": domain.money_str(i.principal_due),
        }
        for i in sorted(installments, key=lambda i: i.loan_year)
    ]


def _see_loan(principal: Principal, loan: Loan) -> None:
    if principal.has_role("admin"):
        return
    if principal.has_role("applicant"):
        if loan.household_id is None or principal.household_id != loan.household_id:
            raise Forbidden("an applicant sees only its own household's loans")
        return
    if principal.has_role("bank"):
        if principal.bank_id != loan.bank_id:
            raise Forbidden("a bank sees only its own loans")
        return
    principal.require_region(loan.village_code)


def _states(installments: list[Installment]) -> list[domain.InstallmentState]:
    return [
        domain.InstallmentState(i.loan_year, i.due_date, i.interest_due, i.principal_due, i.interest_paid, i.principal_paid, i.late_interest_count)
        for i in installments
    ]


def loan_out(loan: Loan, installments: list[Installment], today: date) -> LoanOut:
    return LoanOut(
        loan_id=loan.loan_id,
        application_id=loan.application_id,
        borrower_type=loan.borrower_type,
        household_id=loan.household_id,
        enterprise_id=loan.enterprise_id,
        registered_poor=loan.registered_poor,
        village_code=loan.village_code,
        township_code=loan.township_code,
        county_code=loan.county_code,
        bank_id=loan.bank_id,
        principal=loan.principal,
        annual_rate=loan.annual_rate,
        start_date=loan.start_date,
        term_months=loan.term_months,
        maturity_date=loan.maturity_date,
        purpose=loan.purpose,
        industry=loan.industry,
        driven_households=list(loan.driven_households),
        status=loan.status,
        outstanding_principal=loan.outstanding_principal,
        days_past_due=0 if loan.status in repo.CLOSED_LOAN_STATUSES else domain.days_past_due(_states(installments), today),
        renewals=loan.renewals,
        extensions=loan.extensions,
        default_date=loan.default_date,
        diverted=loan.diverted,
        schedule=[
            InstallmentOut(
                loan_year=i.loan_year,
                due_date=i.due_date,
                interest_due=i.interest_due,
                principal_due=i.principal_due,
                interest_paid=i.interest_paid,
                principal_paid=i.principal_paid,
                late_interest_count=i.late_interest_count,
            )
            for i in installments
        ],
    )


async def get_loan(*, session: AsyncSession, settings: Settings, principal: Principal, loan_id: str) -> LoanOut:
    loan = await repo.get_loan(session, loan_id)
    if loan is None:
        raise UnknownLoan(f"loan {loan_id} does not exist")
    _see_loan(principal, loan)
    installments = (await repo.installments_of(session, [loan_id])).get(loan_id, [])
    return loan_out(loan, installments, await business_date(session=session, settings=settings))


async def list_loans(
    *, session: AsyncSession, settings: Settings, principal: Principal, region: str | None, status: str | None, cursor: str | None, limit: int
) -> tuple[list[LoanOut], str | None]:
    household_id = bank_id = None
    if principal.has_role("admin"):
        pass
    elif principal.has_role("applicant"):
        if not principal.household_id:
            raise Forbidden("the token names no household")
        household_id = principal.household_id
    elif principal.has_role("bank"):
        if not principal.bank_id:
            raise Forbidden("the token names no bank")
        bank_id = principal.bank_id
    prefix = _region_filter(principal, region)
    rows = await repo.list_loans(session, prefix=prefix, household_id=household_id, bank_id=bank_id, status=status, after=_int_cursor(cursor), limit=limit)
    installments = await repo.installments_of(session, [r.loan_id for r in rows])
    today = await business_date(session=session, settings=settings)
    return [loan_out(r, installments.get(r.loan_id, []), today) for r in rows], (encode_cursor(rows[-1].no or 0) if len(rows) == limit else None)


async def _loan_for_bank(session: AsyncSession, principal: Principal, loan_id: str) -> Loan:
    # Every loan change takes the loan's row lock (SELECT … FOR UPDATE) before it writes anything,
    # its event included. A second change of the same loan waits for the first to commit, so its
    # event follows in (txid, seq), the order the event log is read in: one loan's events keep
    # their causal order. The lock is the transaction's first write, so its txid is taken no
    # earlier than the lock (a txid taken before waiting could sort before the holder's).
    loan = await repo.get_loan(session, loan_id, for_update=True)
    if loan is None:
        raise UnknownLoan(f"loan {loan_id} does not exist")
    if not principal.has_role("bank") or principal.bank_id != loan.bank_id:
        raise Forbidden("only the bank of the loan may do this")
    return loan


def _repayment_out(r: Any) -> RepaymentOut:
    return RepaymentOut(
        repayment_id=r.id,
        loan_id=r.loan_id,
        bank_id=r.bank_id,
        bank_reference=r.bank_reference,
        kind=r.kind,
        amount=r.amount,
        value_date=r.value_date,
        loan_year=r.loan_year,
        due_date=r.due_date,
        late=r.late,
        outstanding_principal=r.outstanding_principal,
        business_date=r.business_date,
        recorded_at=r.recorded_at,
    )


async def _replay(session: AsyncSession, principal: Principal, loan_id: str, bank_reference: str) -> RepaymentOut | None:
    if principal.bank_id is None:
        return None
    first = await repo.repayment_by_reference(session, bank_id=principal.bank_id, bank_reference=bank_reference)
    if first is None:
        return None
    if first.loan_id != loan_id:
        raise Conflict(f"bank reference {bank_reference} is already recorded for loan {first.loan_id}")
    return _repayment_out(first)


async def record_repayment(*, session: AsyncSession, settings: Settings, principal: Principal, loan_id: str, body: RepaymentIn) -> tuple[RepaymentOut, bool]:
    """A repayment from the bank's core system. The same bank reference is recorded once: a
    repeat returns the first recording (``created`` False) and records nothing."""
    replay = await _replay(session, principal, loan_id, body.bank_reference)
    if replay is not None:
        _see_loan(principal, await _must_loan(session, loan_id))
        return replay, False
    loan = await _loan_for_bank(session, principal, loan_id)
    replay = await _replay(session, principal, loan_id, body.bank_reference)  # a concurrent twin may have committed while we waited for the lock
    if replay is not None:
        return replay, False
    if loan.status in repo.CLOSED_LOAN_STATUSES:
        raise LoanStateConflict(f"loan {loan_id} is {loan.status}; no repayment can be recorded", loan.status)
    today = await business_date(session=session, settings=settings)
    if body.value_date > today:
        raise InvalidInput(f"value_date {body.value_date} is after the business date {today}")
    if body.value_date < loan.start_date:
        raise InvalidInput(f"value_date {body.value_date} is before the loan started ({loan.start_date})")
    installments = (await repo.installments_of(session, [loan_id], for_update=True))[loan_id]
    target = domain.repayment_target(_states(installments), kind=body.kind, amount=body.amount, value_date=body.value_date)
    if isinstance(target, str):
        raise InvalidInput(target)
    inst = next(i for i in installments if i.loan_year == target.loan_year)
    if body.kind == "interest":
        inst.interest_paid += body.amount
        if target.late:
            inst.late_interest_count += 1  # 1年有2次不按时还利息就不能贴息了: the subsidy service counts these
    else:
        inst.principal_paid += body.amount
        loan.outstanding_principal -= body.amount
    new_id = await repo.insert_repayment(
        session,
        {
            "loan_id": loan_id,
            "bank_id": loan.bank_id,
            "bank_reference": body.bank_reference,
            "kind": body.kind,
            "amount": body.amount,
            "value_date": body.value_date,
            "loan_year": target.loan_year,
            "due_date": target.due_date,
            "late": target.late,
            "outstanding_principal": loan.outstanding_principal,
            "business_date": today,
            "recorded_by": principal.subject,
        },
    )
    if new_id is None:
        raise Conflict(f"bank reference {body.bank_reference} was recorded concurrently; retry to read it")
    states = _states(installments)
    closing = loan.outstanding_principal == 0 and all(s.settled for s in states)
    if closing:
        loan.status = "closed"
    elif loan.status == "overdue" and domain.days_past_due(states, today) == 0:
        loan.status = "active"
    loan.updated_at = datetime.now(UTC)
    await repo.append_event(
        session,
        loan_id=loan_id,
        type_="repayment_recorded",
        business_date=today,
        extra={
            "kind": body.kind,
            "amount": domain.money_str(body.amount),
            "value_date": body.value_date.isoformat(),
            "due_date": target.due_date.isoformat(),
            "loan_year": target.loan_year,
            "late": target.late,
            "bank_reference": body.bank_reference,
            "outstanding_principal": domain.money_str(loan.outstanding_principal),
        },
    )
    if closing:
        await repo.release_driven(session, loan.application_id)
        await repo.append_event(session, loan_id=loan_id, type_="closed", business_date=today, extra={"outstanding_principal": "0.00"})
    stored = await repo.get_repayment(session, new_id)
    assert stored is not None
    await session.refresh(stored)
    return _repayment_out(stored), True


async def _must_loan(session: AsyncSession, loan_id: str) -> Loan:
    loan = await repo.get_loan(session, loan_id)
    if loan is None:
        raise UnknownLoan(f"loan {loan_id} does not exist")
    return loan


async def extend(*, session: AsyncSession, settings: Settings, principal: Principal, loan_id: str, months: int) -> LoanOut:
    """展期: the maturity moves later once (policy), the last installment with it."""
    loan = await _loan_for_bank(session, principal, loan_id)
    if loan.status != "active":
        raise LoanStateConflict(f"only an active loan is extended; loan {loan_id} is {loan.status}", loan.status)
    today = await business_date(session=session, settings=settings)
    policy, _, _ = await policy_for(session=session, county_code=loan.county_code, on=today)
    if loan.extensions >= policy.max_extensions:
        raise LoanStateConflict(f"loan {loan_id} has had {loan.extensions} extension(s); the county allows {policy.max_extensions}", loan.status)
    if months > policy.max_extension_months:
        raise InvalidInput(f"an extension adds at most {policy.max_extension_months} months")
    installments = (await repo.installments_of(session, [loan_id], for_update=True))[loan_id]
    plan = domain.extension_plan(
        _states(installments), outstanding=loan.outstanding_principal, annual_rate=loan.annual_rate, maturity=loan.maturity_date, months=months
    )
    if isinstance(plan, str):
        raise LoanStateConflict(f"loan {loan_id} cannot be extended: {plan}", loan.status)
    last = next(i for i in installments if i.loan_year == plan.loan_year)
    last.due_date, last.interest_due = plan.due_date, plan.interest_due
    loan.maturity_date, loan.extensions, loan.updated_at = plan.due_date, loan.extensions + 1, datetime.now(UTC)
    await repo.append_event(
        session,
        loan_id=loan_id,
        type_="extended",
        business_date=today,
        extra={
            "outstanding_principal": domain.money_str(loan.outstanding_principal),
            "maturity_date": plan.due_date.isoformat(),
            "schedule": _schedule_data(installments),
        },
    )
    return loan_out(loan, installments, today)


async def renew(*, session: AsyncSession, settings: Settings, principal: Principal, loan_id: str, term_months: int) -> LoanOut:
    """续贷: the principal still owed rolls into a new term from the old maturity, under the policy."""
    loan = await _loan_for_bank(session, principal, loan_id)
    if loan.status != "active":
        raise LoanStateConflict(f"only an active loan in good standing is renewed; loan {loan_id} is {loan.status}", loan.status)
    today = await business_date(session=session, settings=settings)
    policy, _, _ = await policy_for(session=session, county_code=loan.county_code, on=today)
    if loan.renewals >= policy.max_renewals:
        raise LoanStateConflict(f"loan {loan_id} has been renewed {loan.renewals} time(s); the county allows {policy.max_renewals}", loan.status)
    if term_months > policy.max_term_months:
        raise InvalidInput(f"term {term_months} months exceeds {policy.max_term_months}")
    installments = (await repo.installments_of(session, [loan_id], for_update=True))[loan_id]
    plan = domain.renewal_plan(
        _states(installments), outstanding=loan.outstanding_principal, annual_rate=loan.annual_rate, maturity=loan.maturity_date, term_months=term_months
    )
    if isinstance(plan, str):
        raise LoanStateConflict(f"loan {loan_id} cannot be renewed: {plan}", loan.status)
    closed, new = plan
    last = next(i for i in installments if i.loan_year == closed.loan_year)
    last.principal_due = closed.principal_due
    added = [
        Installment(
            loan_id=loan_id,
            loan_year=p.loan_year,
            due_date=p.due_date,
            interest_due=p.interest_due,
            principal_due=p.principal_due,
            interest_paid=Decimal("0.00"),
            principal_paid=Decimal("0.00"),
            late_interest_count=0,
        )
        for p in new
    ]
    session.add_all(added)
    loan.maturity_date, loan.renewals, loan.updated_at = new[-1].due_date, loan.renewals + 1, datetime.now(UTC)
    await repo.append_event(
        session,
        loan_id=loan_id,
        type_="renewed",
        business_date=today,
        extra={
            "outstanding_principal": domain.money_str(loan.outstanding_principal),
            "maturity_date": new[-1].due_date.isoformat(),
            "term_months": term_months,
            "schedule": _schedule_data([*installments, *added]),
        },
    )
    return loan_out(loan, [*installments, *added], today)


async def write_off(*, session: AsyncSession, settings: Settings, principal: Principal, loan_id: str) -> LoanOut:
    """核销: a defaulted loan is written off by its bank."""
    loan = await _loan_for_bank(session, principal, loan_id)
    if loan.status != "defaulted":
        raise LoanStateConflict(f"only a defaulted loan is written off; loan {loan_id} is {loan.status}", loan.status)
    today = await business_date(session=session, settings=settings)
    loan.status, loan.updated_at = "written_off", datetime.now(UTC)
    await repo.release_driven(session, loan.application_id)
    await repo.append_event(
        session, loan_id=loan_id, type_="written_off", business_date=today, extra={"outstanding_principal": domain.money_str(loan.outstanding_principal)}
    )
    installments = (await repo.installments_of(session, [loan_id])).get(loan_id, [])
    return loan_out(loan, installments, today)


async def report_diversion(*, session: AsyncSession, settings: Settings, principal: Principal, loan_id: str, reason: str) -> LoanOut:
    """资金挪用: the loan was used outside its purpose; credit-rating turns the event into a deduction or veto."""
    loan = await repo.get_loan(session, loan_id, for_update=True)  # the loan's row lock first, as in _loan_for_bank
    if loan is None:
        raise UnknownLoan(f"loan {loan_id} does not exist")
    if principal.has_role("bank") and not principal.has_role("admin"):
        if principal.bank_id != loan.bank_id:
            raise Forbidden("a bank reports only on its own loans")
    else:
        _act(principal, OFFICER_ROLES, loan.village_code)
    if loan.status in repo.CLOSED_LOAN_STATUSES:
        raise LoanStateConflict(f"loan {loan_id} is {loan.status}", loan.status)
    today = await business_date(session=session, settings=settings)
    loan.diverted, loan.updated_at = True, datetime.now(UTC)
    await repo.append_event(session, loan_id=loan_id, type_="diverted", business_date=today, extra={"reason": reason})
    installments = (await repo.installments_of(session, [loan_id])).get(loan_id, [])
    return loan_out(loan, installments, today)


def parse_event_cursor(cursor: str) -> tuple[int, int]:
    """An event-log cursor is "txid:seq" (the last event read); empty means the beginning."""
    cursor = cursor.strip()
    if not cursor:
        return 0, 0
    txid, sep, seq = cursor.partition(":")
    if not sep or not txid.isdigit() or not seq.isdigit() or len(txid) > 19 or len(seq) > 18:
        raise InvalidInput('after is a cursor "txid:seq" from a previous page, or empty for the beginning', after=cursor)
    return int(txid), int(seq)


async def loan_events(*, session: AsyncSession, after: str, limit: int) -> tuple[list[dict[str, Any]], str, int]:
    """One page of the log after the cursor, the next cursor, and how many visible events remain."""
    position = parse_event_cursor(after)
    items = await repo.list_events(session, after=position, limit=limit)
    if items:
        position = (int(items[-1]["txid"]), int(items[-1]["seq"]))
    next_cursor = f"{position[0]}:{position[1]}" if position != (0, 0) else ""
    return items, next_cursor, await repo.count_events_after(session, after=position)


# ---- figures ----


def _figures_region(principal: Principal, region: str) -> str:
    if principal.has_role("applicant", "bank") and not principal.has_role("admin"):
        raise Forbidden("figures are for officers, departments and monitors")
    if division_code_error(region) or division_level(region) not in ("county", "township", "village"):
        raise InvalidInput(f"region {region} is not a county, township or village code")
    principal.require_region(region)
    return region_prefix(region)


async def coverage(*, session: AsyncSession, principal: Principal, region: str) -> CoverageOut:
    """户贷率: borrowing registered households ÷ registered households, per township (of a county)
    or per village (of a township)."""
    prefix = _figures_region(principal, region)
    key = "township_code" if division_level(region) == "county" else "village_code"
    rows = await repo.coverage(session, prefix=prefix, key=key)
    names = await repo.region_names(session, [region, *(r[0] for r in rows)])

    def row(code: str, registered: int, borrowing: int) -> CoverageRow:
        ratio = (Decimal(borrowing) / Decimal(registered)).quantize(Decimal("0.0001")) if registered else Decimal("0.0000")
        return CoverageRow(region_code=code, name=names.get(code), registered_households=registered, borrowing_households=borrowing, coverage=ratio)

    total = row(region, sum(r[1] for r in rows), sum(r[2] for r in rows))
    return CoverageOut(region_code=region, total=total, items=[row(*r) for r in rows])


AMOUNT_COLUMNS = {"industry": "industry", "bank": "bank_id", "township": "township_code", "village": "village_code", "purpose": "purpose"}


async def amounts(*, session: AsyncSession, principal: Principal, region: str, by: str) -> AmountsOut:
    prefix = _figures_region(principal, region)
    rows = await repo.amounts(session, prefix=prefix, column=AMOUNT_COLUMNS[by])
    return AmountsOut(region_code=region, by=by, items=[AmountRow(key=k, loans=n, principal=p, outstanding_principal=o) for k, n, p, o in rows])


async def approval_times(*, session: AsyncSession, principal: Principal, region: str) -> ApprovalTimesOut:
    """The approval time (seed: 只用5天就批下来了): business days from submission to approval."""
    prefix = _figures_region(principal, region)
    r = await repo.approval_times(session, prefix=prefix)

    def dec(value: Any) -> Decimal | None:
        return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))

    return ApprovalTimesOut(
        region_code=region,
        count=r["count"],
        mean_days=dec(r["mean_days"]),
        p50_days=dec(r["p50"]),
        p90_days=dec(r["p90"]),
        p99_days=dec(r["p99"]),
        max_days=r["max_days"],
    )


async def overview(*, session: AsyncSession, settings: Settings, principal: Principal, region: str) -> OverviewOut:
    """The gateway's overview inputs for a region of any level: 户贷率, lending and 不良."""
    if principal.has_role("applicant", "bank") and not principal.has_role("admin"):
        raise Forbidden("figures are for officers, departments and monitors")
    if division_code_error(region):
        raise InvalidInput(f"region {region}: {division_code_error(region)}")
    principal.require_region(region)
    r = await repo.overview(session, prefix=region_prefix(region), bd=await business_date(session=session, settings=settings))
    return OverviewOut(
        region=region,
        registered_households=r["registered_households"],
        borrowing_households=r["borrowing_households"],
        household_loan_coverage=domain.share(r["borrowing_households"], r["registered_households"]),
        loans_outstanding=r["loans_outstanding"],
        non_performing_outstanding=r["non_performing_outstanding"],
        non_performing_ratio=domain.share(r["non_performing_outstanding"], r["loans_outstanding"]),
        loans_active=r["loans_active"],
    )


# ---- exports for departments and regulators ----

EXPORT_MEDIA_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
_RATE_COLUMNS = frozenset({"annual_rate"})


@dataclass(frozen=True)
class ExportPage:
    body: bytes
    media_type: str
    next_cursor: str | None


def _export_cursor(cursor: str | None) -> tuple[int, int | None]:
    """(last key read, high-water mark); the mark is None on the first page."""
    raw = decode_cursor(cursor)
    if raw is None:
        return 0, None
    try:
        value = json.loads(raw)
        after, mark = int(value["after"]), int(value["mark"])
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput("cursor is not one this service issued") from exc
    return after, mark


def _export_scope(principal: Principal, region: str | None) -> tuple[str | None, str | None]:
    """(region prefix, bank) an export is confined to: officers their region, banks their own
    loans, monitors, the finance bureau and services everything; applicants export nothing."""
    if principal.has_role("applicant") and not principal.has_role("admin"):
        raise Forbidden("exports are for departments, banks and regulators")
    bank_id = None
    if principal.has_role("bank") and not principal.has_role("admin"):
        if not principal.bank_id:
            raise Forbidden("the token names no bank")
        bank_id = principal.bank_id
    return _region_filter(principal, region), bank_id


def _export_value(column: str, value: Any, *, csv_cell: bool) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.6f}" if column in _RATE_COLUMNS else domain.money_str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    if csv_cell and isinstance(value, bool):
        return "true" if value else "false"
    if csv_cell and value is None:
        return ""
    return value


def render_export(rows: list[dict[str, Any]], columns: tuple[str, ...], fmt: str) -> bytes:
    """NDJSON (one object per line) or CSV (UTF-8, a header row) of the same rows and columns."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(columns)
        writer.writerows([_export_value(c, row[c], csv_cell=True) for c in columns] for row in rows)
        return out.getvalue().encode()
    return "".join(json.dumps({c: _export_value(c, row[c], csv_cell=False) for c in columns}, ensure_ascii=False) + "\n" for row in rows).encode()


async def _export(
    *,
    session: AsyncSession,
    principal: Principal,
    kind: str,
    region: str | None,
    since: date | None,
    until: date | None,
    limit: int,
    cursor: str | None,
    fmt: str,
    bd: date,
) -> ExportPage:
    if since is not None and until is not None and since > until:
        raise InvalidInput(f"from {since} is after to {until}")
    prefix, bank_id = _export_scope(principal, region)
    after, mark = _export_cursor(cursor)
    if mark is None:  # the first page fixes the set: rows arriving later are not part of this export
        mark = await (repo.loans_high_water(session) if kind == "loans" else repo.repayments_high_water(session))
    filters = {"prefix": prefix, "bank_id": bank_id, "since": since, "until": until}
    if kind == "loans":
        rows = await repo.export_loans(session, after=after, high_water=mark, limit=limit, bd=bd, **filters)
        columns = repo.LOAN_EXPORT_COLUMNS
    else:
        rows = await repo.export_repayments(session, after=after, high_water=mark, limit=limit, **filters)
        columns = repo.REPAYMENT_EXPORT_COLUMNS
    next_cursor = encode_cursor(json.dumps({"after": rows[-1]["key"], "mark": mark})) if len(rows) == limit else None
    return ExportPage(body=render_export(rows, columns, fmt), media_type=EXPORT_MEDIA_TYPES[fmt], next_cursor=next_cursor)


async def export_loans(
    *,
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    region: str | None,
    since: date | None,
    until: date | None,
    limit: int,
    cursor: str | None,
    fmt: str,
) -> ExportPage:
    """One row per loan disbursed in the period (start date), with its state at the business date."""
    bd = await business_date(session=session, settings=settings)
    return await _export(
        session=session, principal=principal, kind="loans", region=region, since=since, until=until, limit=limit, cursor=cursor, fmt=fmt, bd=bd
    )


async def export_repayments(
    *,
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    region: str | None,
    since: date | None,
    until: date | None,
    limit: int,
    cursor: str | None,
    fmt: str,
) -> ExportPage:
    """One row per repayment with a value date in the period."""
    bd = await business_date(session=session, settings=settings)
    return await _export(
        session=session, principal=principal, kind="repayments", region=region, since=since, until=until, limit=limit, cursor=cursor, fmt=fmt, bd=bd
    )


# ---- business metrics ----


async def refresh_business_metrics(*, session: AsyncSession, settings: Settings) -> None:
    """Set the lending gauges from a few small aggregates (the background refresher calls this)."""
    states = await repo.applications_by_state(session)
    for state in domain.APPLICATION_STATES:
        metrics.APPLICATIONS_BY_STATE.labels(state).set(states.get(state, 0))
    bd = await business_date(session=session, settings=settings)
    for county, outstanding, non_performing in await repo.lending_by_county(session, bd=bd):
        metrics.LOANS_OUTSTANDING.labels(county).set(float(outstanding))
        metrics.NON_PERFORMING_RATIO.labels(county).set(float(domain.share(non_performing, outstanding)))
