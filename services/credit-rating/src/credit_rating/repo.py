"""Every query of the credit-rating service. Bulk paths are set-based: ``unnest`` arrays and COPY."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Row, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from credit_rating.models import Assessment, AssessmentReview, BlacklistEntry, Certificate, Penalty, RatingHousehold, Scorecard

ASSESSMENT_COLUMNS = (
    "id", "household_id", "village_code", "scorecard_id", "scorecard_status", "assessed_on", "valid_until", "score", "raw_score",
    "base_points", "bonus_points", "deduction_points", "grade", "credit_line", "vetoed", "veto_reasons", "indicator_values",
    "category_points", "is_current", "supersedes_id", "superseded_by_id", "assessed_by",
)


# ---------------------------------------------------------------- scorecards


async def add(session: AsyncSession, row: Any) -> Any:
    session.add(row)
    await session.flush()
    return row


async def get_scorecard(session: AsyncSession, version: int, *, for_update: bool = False) -> Scorecard | None:
    stmt = select(Scorecard).where(Scorecard.id == version)  # type: ignore[arg-type]
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def scorecard_stamp(session: AsyncSession, version: int) -> Row[Any] | None:
    """(id, status, county_code, published_at) without the definition: enough to use a cached compile."""
    return (
        await session.execute(
            text("SELECT id, status, county_code, published_at FROM scorecards WHERE id = :id"), {"id": version}
        )
    ).first()


async def scorecard_definition(session: AsyncSession, version: int) -> dict[str, Any]:
    return (await session.execute(text("SELECT definition FROM scorecards WHERE id = :id"), {"id": version})).scalar_one()


async def active_scorecard_id(session: AsyncSession, county_code: str) -> int | None:
    """The latest published version for a county: its own if it has one, else the province-wide default."""
    return (
        await session.execute(
            text(
                "SELECT id FROM scorecards WHERE status = 'published' AND (county_code = :county OR county_code IS NULL)"
                " ORDER BY (county_code IS NULL), published_at DESC, id DESC LIMIT 1"
            ),
            {"county": county_code},
        )
    ).scalar_one_or_none()


async def list_scorecards(
    session: AsyncSession, *, county_code: str | None, status: str | None, after: int | None, limit: int
) -> list[Scorecard]:
    stmt = select(Scorecard).order_by(Scorecard.id).limit(limit)  # type: ignore[arg-type]
    if county_code is not None:
        stmt = stmt.where(Scorecard.county_code == county_code)  # type: ignore[arg-type]
    if status is not None:
        stmt = stmt.where(Scorecard.status == status)  # type: ignore[arg-type]
    if after is not None:
        stmt = stmt.where(Scorecard.id > after)  # type: ignore[arg-type,operator]
    return list((await session.execute(stmt)).scalars())


# ---------------------------------------------------------------- roster and assessments


async def lock_roster(session: AsyncSession, household_ids: Sequence[str], village_codes: Sequence[str]) -> dict[str, Row[Any]]:
    """Lock the households' roster rows (row locks: no lock-table slots), inserting missing ones, so
    two assessments of one household serialise; returns each household's roster village and current
    assessment as committed by whoever held the lock before. An insert racing another insert of the
    same household waits for it, then finds the row to lock."""
    locked = await _lock_rows(session, household_ids)
    # inserted in key order, like the locks, so two campaigns sharing new households cannot deadlock
    missing = sorted((h, v) for h, v in zip(household_ids, village_codes, strict=True) if h not in locked)
    if missing:
        await session.execute(
            text(
                "INSERT INTO rating_households (household_id, village_code)"
                " SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:villages AS text[])) ON CONFLICT (household_id) DO NOTHING"
            ),
            {"ids": [m[0] for m in missing], "villages": [m[1] for m in missing]},
        )
        locked.update(await _lock_rows(session, [m[0] for m in missing]))
    return locked


async def _lock_rows(session: AsyncSession, household_ids: Sequence[str]) -> dict[str, Row[Any]]:
    rows = await session.execute(
        text(
            "SELECT r.household_id, r.village_code, a.id AS current_assessment_id, a.assessed_on AS current_assessed_on"
            " FROM rating_households r"
            " LEFT JOIN assessments a ON a.household_id = r.household_id AND a.is_current"
            " WHERE r.household_id = ANY(CAST(:ids AS text[])) ORDER BY r.household_id FOR UPDATE OF r"
        ),
        {"ids": list(household_ids)},
    )
    return {r.household_id: r for r in rows}


async def allocate_assessment_ids(session: AsyncSession, count: int) -> list[int]:
    ids = await session.scalar(
        text("SELECT array_agg(nextval(pg_get_serial_sequence('assessments', 'id'))) FROM generate_series(1, :n)"), {"n": count}
    )
    return list(ids)


async def supersede(session: AsyncSession, old_ids: Sequence[int], new_ids: Sequence[int]) -> None:
    """A re-assessment supersedes the previous one: it stops being current and names its successor."""
    if not old_ids:
        return
    await session.execute(
        text(
            "UPDATE assessments a SET is_current = false, superseded_by_id = s.new_id"
            " FROM unnest(CAST(:old AS bigint[]), CAST(:new AS bigint[])) AS s(old_id, new_id) WHERE a.id = s.old_id"
        ),
        {"old": list(old_ids), "new": list(new_ids)},
    )


async def copy_assessments(session: AsyncSession, records: Sequence[tuple[Any, ...]]) -> None:
    """COPY the new assessments in (binary protocol through asyncpg), inside the request's transaction."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.copy_records_to_table("assessments", records=records, columns=list(ASSESSMENT_COLUMNS))


async def get_assessment(session: AsyncSession, assessment_id: int) -> Assessment | None:
    return await session.get(Assessment, assessment_id)


async def reviews_of(session: AsyncSession, assessment_id: int) -> list[AssessmentReview]:
    stmt = select(AssessmentReview).where(AssessmentReview.assessment_id == assessment_id).order_by(AssessmentReview.id)  # type: ignore[arg-type]
    return list((await session.execute(stmt)).scalars())


async def current_assessment(session: AsyncSession, household_id: str) -> Assessment | None:
    stmt = select(Assessment).where(Assessment.household_id == household_id, Assessment.is_current)  # type: ignore[arg-type]
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_assessments(
    session: AsyncSession, *, household_id: str | None, region_prefix: str | None, current_only: bool, before: int | None, limit: int
) -> list[Assessment]:
    """Newest first (history per household)."""
    stmt = select(Assessment).order_by(Assessment.id.desc()).limit(limit)  # type: ignore[union-attr]
    if household_id is not None:
        stmt = stmt.where(Assessment.household_id == household_id)  # type: ignore[arg-type]
    if region_prefix:
        stmt = stmt.where(Assessment.village_code.startswith(region_prefix))  # type: ignore[attr-defined,arg-type]
    if current_only:
        stmt = stmt.where(Assessment.is_current)  # type: ignore[arg-type]
    if before is not None:
        stmt = stmt.where(Assessment.id < before)  # type: ignore[arg-type,operator]
    return list((await session.execute(stmt)).scalars())


async def roster_row(session: AsyncSession, household_id: str, *, for_update: bool = False) -> RatingHousehold | None:
    stmt = select(RatingHousehold).where(RatingHousehold.household_id == household_id)  # type: ignore[arg-type]
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def upsert_roster(session: AsyncSession, entries: Sequence[tuple[str, str, bool]], *, changed_only: bool = False) -> int:
    """建档立卡 roster from the registry: set-based upsert of (household, village, registered).
    ``changed_only`` leaves rows that already say the same untouched (no write, no row lock held
    against assessments) and counts only the rows inserted or changed."""
    unchanged = (
        " WHERE (rating_households.village_code, rating_households.registered) IS DISTINCT FROM (EXCLUDED.village_code, EXCLUDED.registered)"
        if changed_only else ""
    )
    result = await session.execute(
        text(
            "INSERT INTO rating_households (household_id, village_code, registered)"
            " SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:villages AS text[]), CAST(:registered AS boolean[]))"
            " ON CONFLICT (household_id) DO UPDATE SET village_code = EXCLUDED.village_code, registered = EXCLUDED.registered,"
            " updated_at = now()" + unchanged
        ),
        {"ids": [e[0] for e in entries], "villages": [e[1] for e in entries], "registered": [e[2] for e in entries]},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def registry_sync_state(session: AsyncSession, name: str, *, rest_seconds: float, done: str) -> Row[Any]:
    """(cursor, resting, moved_at) of the registry reader, creating its row on first use: resting
    while the last full pass (cursor ``done``) finished less than ``rest_seconds`` ago, by the
    database clock; ``moved_at`` is when the cursor last moved (epoch seconds)."""
    await session.execute(
        text("INSERT INTO consumer_cursors (name, cursor, applied) VALUES (:name, '', 0) ON CONFLICT (name) DO NOTHING"), {"name": name}
    )
    return (
        await session.execute(
            text(
                "SELECT cursor, (cursor = :done AND updated_at > now() - make_interval(secs => :rest)) AS resting,"
                " CAST(extract(epoch FROM updated_at) AS float8) AS moved_at"
                " FROM consumer_cursors WHERE name = :name"
            ),
            {"name": name, "done": done, "rest": rest_seconds},
        )
    ).one()


async def lock_registry_cursor(session: AsyncSession, name: str) -> str:
    """The cursor under a row lock: a second replica's reader waits, then sees it moved."""
    return str((await session.execute(text("SELECT cursor FROM consumer_cursors WHERE name = :name FOR UPDATE"), {"name": name})).scalar_one())


async def move_registry_cursor(session: AsyncSession, name: str, *, cursor: str, read: int, new_pass: bool) -> float:
    """Move the cursor; returns when (epoch seconds). ``applied`` counts the households read in the
    current pass (a running total over passes would outgrow its integer column within months)."""
    return float(
        (
            await session.execute(
                text(
                    "UPDATE consumer_cursors SET cursor = :cursor, applied = CASE WHEN :new_pass THEN 0 ELSE applied END + :read,"
                    " updated_at = now() WHERE name = :name RETURNING CAST(extract(epoch FROM updated_at) AS float8)"
                ),
                {"name": name, "cursor": cursor, "read": read, "new_pass": new_pass},
            )
        ).scalar_one()
    )


async def current_ratings_by_county(session: AsyncSession, *, as_of: date) -> list[Row[Any]]:
    """(county, households) with a current assessment still valid on ``as_of``, per county."""
    return list(
        await session.execute(
            text(
                "SELECT substr(village_code, 1, 6) || '000000' AS county, count(*) AS households FROM assessments"
                " WHERE is_current AND valid_until >= :as_of GROUP BY 1 ORDER BY 1"
            ),
            {"as_of": as_of},
        )
    )


async def coverage(session: AsyncSession, *, prefix: str, group_len: int, as_of: date) -> list[Row[Any]]:
    """Registered households and those with a current rating, grouped by the sub-region prefix."""
    return list(
        await session.execute(
            text(
                "SELECT rpad(substr(r.village_code, 1, :glen), 12, '0') AS code,"
                " count(*) AS registered, count(a.id) AS rated"
                " FROM rating_households r"
                " LEFT JOIN assessments a ON a.household_id = r.household_id AND a.is_current AND a.valid_until >= :as_of"
                " WHERE r.registered AND r.village_code LIKE :prefix GROUP BY 1 ORDER BY 1"
            ),
            {"glen": group_len, "prefix": prefix + "%", "as_of": as_of},
        )
    )


# ---------------------------------------------------------------- penalties, blacklist, loan events


async def penalties_for(session: AsyncSession, assessment_id: int) -> list[Penalty]:
    stmt = select(Penalty).where(Penalty.assessment_id == assessment_id).order_by(Penalty.id)  # type: ignore[arg-type]
    return list((await session.execute(stmt)).scalars())


async def active_blacklist(session: AsyncSession, household_id: str) -> list[BlacklistEntry]:
    stmt = (
        select(BlacklistEntry)
        .where(BlacklistEntry.household_id == household_id, BlacklistEntry.removed_at.is_(None))  # type: ignore[arg-type,union-attr]
        .order_by(BlacklistEntry.id)  # type: ignore[arg-type]
    )
    return list((await session.execute(stmt)).scalars())


async def get_blacklist_entry(session: AsyncSession, entry_id: int, *, for_update: bool = False) -> BlacklistEntry | None:
    stmt = select(BlacklistEntry).where(BlacklistEntry.id == entry_id)  # type: ignore[arg-type]
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_blacklist(
    session: AsyncSession, *, household_id: str | None, region_prefix: str | None, active_only: bool, after: int | None, limit: int
) -> list[BlacklistEntry]:
    stmt = select(BlacklistEntry).order_by(BlacklistEntry.id).limit(limit)  # type: ignore[arg-type]
    if household_id is not None:
        stmt = stmt.where(BlacklistEntry.household_id == household_id)  # type: ignore[arg-type]
    if region_prefix:
        stmt = stmt.where(BlacklistEntry.village_code.startswith(region_prefix))  # type: ignore[attr-defined,arg-type]
    if active_only:
        stmt = stmt.where(BlacklistEntry.removed_at.is_(None))  # type: ignore[union-attr]
    if after is not None:
        stmt = stmt.where(BlacklistEntry.id > after)  # type: ignore[arg-type,operator]
    return list((await session.execute(stmt)).scalars())


async def remove_blacklist_entry(session: AsyncSession, entry: BlacklistEntry, *, actor: str, reason: str) -> None:
    entry.removed_at = await session.scalar(select(func.now()))
    entry.removed_by = actor
    entry.removal_reason = reason
    await session.flush()


async def record_loan_events(session: AsyncSession, events: Sequence[tuple[int, str, str, str, str, int]]) -> set[int]:
    """Mark events applied; returns the seqs that were new (a replayed seq conflicts and is skipped)."""
    rows = await session.execute(
        text(
            "INSERT INTO applied_loan_events (seq, loan_id, type, household_id, action, points)"
            " SELECT * FROM unnest(CAST(:seq AS bigint[]), CAST(:loan AS text[]), CAST(:type AS text[]),"
            " CAST(:hid AS text[]), CAST(:action AS text[]), CAST(:points AS int[]))"
            " ON CONFLICT (seq) DO NOTHING RETURNING seq"
        ),
        {
            "seq": [e[0] for e in events], "loan": [e[1] for e in events], "type": [e[2] for e in events],
            "hid": [e[3] for e in events], "action": [e[4] for e in events], "points": [e[5] for e in events],
        },
    )
    return {r[0] for r in rows}


async def add_penalties(session: AsyncSession, penalties: Sequence[tuple[str, int, str, str, int]]) -> None:
    """Deductions from loan events, counted against each household's current assessment (if any)."""
    if not penalties:
        return
    await session.execute(
        text(
            "INSERT INTO penalties (household_id, assessment_id, points, reason, loan_id, event_seq)"
            " SELECT p.hid, a.id, p.points, p.reason, p.loan, p.seq"
            " FROM unnest(CAST(:hid AS text[]), CAST(:points AS int[]), CAST(:reason AS text[]), CAST(:loan AS text[]),"
            " CAST(:seq AS bigint[])) AS p(hid, points, reason, loan, seq)"
            " LEFT JOIN assessments a ON a.household_id = p.hid AND a.is_current"
        ),
        {
            "hid": [p[0] for p in penalties], "points": [p[1] for p in penalties], "reason": [p[2] for p in penalties],
            "loan": [p[3] for p in penalties], "seq": [p[4] for p in penalties],
        },
    )


async def add_blacklist_entries(session: AsyncSession, entries: Sequence[tuple[str, str, str, str, str, str | None, int | None]]) -> None:
    """(household, village, reason, source, actor, loan_id, event_seq) rows."""
    if not entries:
        return
    await session.execute(
        text(
            "INSERT INTO blacklist_entries (household_id, village_code, reason, source, actor, loan_id, event_seq)"
            " SELECT * FROM unnest(CAST(:hid AS text[]), CAST(:village AS text[]), CAST(:reason AS text[]), CAST(:source AS text[]),"
            " CAST(:actor AS text[]), CAST(:loan AS text[]), CAST(:seq AS bigint[]))"
        ),
        {
            "hid": [e[0] for e in entries], "village": [e[1] for e in entries], "reason": [e[2] for e in entries],
            "source": [e[3] for e in entries], "actor": [e[4] for e in entries], "loan": [e[5] for e in entries],
            "seq": [e[6] for e in entries],
        },
    )


# ---------------------------------------------------------------- certificates


async def revoke_certificates(session: AsyncSession, household_ids: Sequence[str], *, reason: str, actor: str) -> int:
    """信用证 revoked (veto, blacklist, re-assessment): every valid certificate of these households."""
    if not household_ids:
        return 0
    result = await session.execute(
        text(
            "UPDATE certificates SET status = 'revoked', revoked_at = now(), revoked_by = :actor, revoked_reason = :reason"
            " WHERE household_id = ANY(CAST(:ids AS text[])) AND status = 'valid'"
        ),
        {"ids": list(household_ids), "reason": reason, "actor": actor},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def next_certificate_serial(session: AsyncSession) -> int:
    return int(await session.scalar(text("SELECT nextval(pg_get_serial_sequence('certificates', 'id'))")))  # type: ignore[arg-type]


async def get_certificate(session: AsyncSession, number: str, *, for_update: bool = False) -> Certificate | None:
    stmt = select(Certificate).where(Certificate.number == number)  # type: ignore[arg-type]
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def revoke_certificate(session: AsyncSession, certificate: Certificate, *, actor: str, reason: str) -> None:
    await session.execute(
        update(Certificate)
        .where(Certificate.id == certificate.id)  # type: ignore[arg-type]
        .values(status="revoked", revoked_at=func.now(), revoked_by=actor, revoked_reason=reason)
    )
    await session.refresh(certificate)
