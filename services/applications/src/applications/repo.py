"""Every query of the applications service."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from applications.models import (
    Application,
    ApplicationStep,
    BusinessDate,
    DrivenHousehold,
    Enterprise,
    Household,
    Installment,
    LendingPolicy,
    Loan,
    Region,
    Repayment,
)
from kit import outbox

CLOSED_LOAN_STATUSES = ("closed", "written_off")
OPEN_LOAN_STATUSES = ("active", "overdue", "defaulted")
NON_PERFORMING_DAYS = 90

# Days past due of loan ``l`` at :bd: from its earliest installment still unpaid and already due.
_DAYS_PAST_DUE = """COALESCE((SELECT :bd - min(i.due_date) FROM loan_installments i
                             WHERE i.loan_id = l.loan_id AND i.due_date < :bd
                               AND (i.interest_paid < i.interest_due OR i.principal_paid < i.principal_due)), 0)"""
# 不良: in default, or 90 days or more past due
_NON_PERFORMING = f"(l.status = 'defaulted' OR (l.status = 'overdue' AND {_DAYS_PAST_DUE} >= {NON_PERFORMING_DAYS}))"


def code_range(prefix: str) -> tuple[str, str]:
    """Every 12-digit code starting with ``prefix`` lies in [lo, hi] (digits sort the same in every collation)."""
    return prefix.ljust(12, "0"), prefix.ljust(12, "9")


# ---- business date ----


async def business_date(session: AsyncSession, *, initial: date) -> date:
    """The business date; the first read stores ``initial``."""
    current = await session.scalar(select(BusinessDate.business_date).where(BusinessDate.id == 1))
    if current is not None:
        return current
    await session.execute(text("INSERT INTO business_date (id, business_date) VALUES (1, :d) ON CONFLICT (id) DO NOTHING"), {"d": initial})
    return await session.scalar(select(BusinessDate.business_date).where(BusinessDate.id == 1))  # type: ignore[return-value]


async def lock_business_date(session: AsyncSession) -> date:
    return await session.scalar(text("SELECT business_date FROM business_date WHERE id = 1 FOR UPDATE"))  # type: ignore[return-value]


async def set_business_date(session: AsyncSession, value: date) -> None:
    await session.execute(text("UPDATE business_date SET business_date = :d, updated_at = now() WHERE id = 1"), {"d": value})


# Days past due of every open loan at :bd: from its earliest installment still unpaid (interest or
# principal) and already due. The default threshold comes from the county's policy in force.
_DELINQUENCY = """
WITH dpd AS (
  SELECT i.loan_id,
         min(i.due_date) AS first_unpaid,
         (:bd - min(i.due_date)) AS days_past_due,
         sum(i.principal_due - i.principal_paid) AS overdue_principal,
         sum(i.interest_due - i.interest_paid) AS unpaid_interest
    FROM loan_installments i
    JOIN loans l ON l.loan_id = i.loan_id
   WHERE l.status IN ('active', 'overdue')
     AND i.due_date < :bd
     AND (i.interest_paid < i.interest_due OR i.principal_paid < i.principal_due)
   GROUP BY i.loan_id
), threshold AS (
  SELECT l.loan_id,
         COALESCE((SELECT (p.profile ->> 'default_days_past_due')::int
                     FROM lending_policies p
                    WHERE p.county_code = l.county_code AND p.effective_from <= :bd
                    ORDER BY p.effective_from DESC LIMIT 1), :default_days) AS default_days
    FROM loans l JOIN dpd USING (loan_id)
)
"""


async def _lock_delinquent(session: AsyncSession, params: dict[str, Any], condition: str) -> None:
    """Row-lock the loans a date move marks, in loan_id order, before their events are written: a
    repayment in flight finishes first (its event comes before ours in the log) or waits for us,
    and the event and the status change that follow read the same loan state."""
    await session.execute(
        text(
            _DELINQUENCY
            + f"SELECT l.loan_id FROM loans l JOIN dpd d USING (loan_id) JOIN threshold t USING (loan_id) WHERE {condition} ORDER BY l.loan_id FOR UPDATE OF l"
        ),
        params,
    )


async def mark_overdue(session: AsyncSession, *, bd: date, default_days: int) -> int:
    """Active loans with a late installment become overdue; one ``overdue`` event each."""
    params = {"bd": bd, "default_days": default_days}
    await _lock_delinquent(session, params, "l.status = 'active'")
    await session.execute(
        text(
            _DELINQUENCY
            + """
        INSERT INTO loan_events (loan_id, type, business_date, data, txid)
        SELECT l.loan_id, 'overdue', :bd,
               loan_event_data(l) || jsonb_build_object(
                 'days_past_due', d.days_past_due,
                 'outstanding_principal', to_char(l.outstanding_principal, 'FM999999999999999990.00'),
                 'overdue_principal', to_char(d.overdue_principal, 'FM999999999999999990.00')),
               pg_current_xact_id()
          FROM loans l JOIN dpd d USING (loan_id)
         WHERE l.status = 'active'
         ORDER BY l.loan_id"""
        ),
        params,
    )
    result = await session.execute(
        text(_DELINQUENCY + "UPDATE loans l SET status = 'overdue', updated_at = now() FROM dpd d WHERE d.loan_id = l.loan_id AND l.status = 'active'"),
        params,
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def mark_defaulted(session: AsyncSession, *, bd: date, default_days: int) -> int:
    """Overdue loans at the default threshold (90 days by default) are in default; one ``defaulted`` event each.
    The default date is the day the threshold was reached, whatever size the date step."""
    params = {"bd": bd, "default_days": default_days}
    await _lock_delinquent(session, params, "l.status = 'overdue' AND d.days_past_due >= t.default_days")
    await session.execute(
        text(
            _DELINQUENCY
            + """
        INSERT INTO loan_events (loan_id, type, business_date, data, txid)
        SELECT l.loan_id, 'defaulted', :bd,
               loan_event_data(l) || jsonb_build_object(
                 'days_past_due', d.days_past_due,
                 'default_date', to_char(d.first_unpaid + t.default_days, 'YYYY-MM-DD'),
                 'outstanding_principal', to_char(l.outstanding_principal, 'FM999999999999999990.00'),
                 'unpaid_interest', to_char(d.unpaid_interest, 'FM999999999999999990.00')),
               pg_current_xact_id()
          FROM loans l JOIN dpd d USING (loan_id) JOIN threshold t USING (loan_id)
         WHERE l.status = 'overdue' AND d.days_past_due >= t.default_days
         ORDER BY l.loan_id"""
        ),
        params,
    )
    result = await session.execute(
        text(
            _DELINQUENCY
            + """UPDATE loans l SET status = 'defaulted', default_date = d.first_unpaid + t.default_days, updated_at = now()
                  FROM dpd d JOIN threshold t USING (loan_id)
                 WHERE d.loan_id = l.loan_id AND l.status = 'overdue' AND d.days_past_due >= t.default_days"""
        ),
        params,
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# ---- regions ----


async def get_region(session: AsyncSession, code: str) -> Region | None:
    return await session.get(Region, code)


async def list_regions(session: AsyncSession, *, parent: str | None, prefix: str | None, after: str | None, limit: int) -> list[Region]:
    q = select(Region).order_by(Region.code).limit(limit)
    if parent is not None:
        q = q.where(Region.parent_code == parent)
    if prefix is not None:
        lo, hi = code_range(prefix)
        q = q.where(Region.code.between(lo, hi))  # type: ignore[attr-defined]
    if after is not None:
        q = q.where(Region.code > after)  # type: ignore[operator]
    return list((await session.execute(q)).scalars())


async def region_names(session: AsyncSession, codes: Sequence[str]) -> dict[str, str]:
    rows = await session.execute(select(Region.code, Region.name).where(Region.code.in_(list(codes))))  # type: ignore[attr-defined]
    return {code: name for code, name in rows}


# ---- bulk import staging (COPY) ----


async def create_stage(session: AsyncSession, name: str, columns_sql: str) -> None:
    """An unlogged staging table in the request's transaction (gone on rollback, dropped at the end).
    Not TEMP: temporary tables live in the small per-session ``temp_buffers`` and spill to disk."""
    # the row checks are one large expression: compiling it with JIT costs more than it saves
    await session.execute(text("SET LOCAL jit = off"))
    await session.execute(text(f"CREATE UNLOGGED TABLE {name} ({columns_sql}, error text)"))


async def copy_rows(session: AsyncSession, table: str, columns: Sequence[str], records: Sequence[tuple[Any, ...]]) -> None:
    """COPY ``records`` into ``table`` over the request's own connection (and transaction)."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(table, records=records, columns=list(columns))  # type: ignore[union-attr]


async def stage_mark(session: AsyncSession, sql: str, params: dict[str, Any] | None = None) -> None:
    await session.execute(text(sql), params or {})


async def stage_errors(session: AsyncSession, table: str, key: str, limit: int) -> tuple[int, list[tuple[int, str | None, str]]]:
    total = await session.scalar(text(f"SELECT count(*) FROM {table} WHERE error IS NOT NULL"))
    rows = await session.execute(text(f"SELECT line, {key}, error FROM {table} WHERE error IS NOT NULL ORDER BY line LIMIT :n"), {"n": limit})
    return int(total or 0), [(int(r[0]), r[1], str(r[2])) for r in rows]


async def drop_stage(session: AsyncSession, table: str) -> None:
    await session.execute(text(f"DROP TABLE IF EXISTS {table}"))


REGION_STAGE_COLUMNS = ("line", "code", "name", "level", "parent_code")
REGION_STAGE_SQL = "line int NOT NULL, code text NOT NULL, name text NOT NULL, level text NOT NULL, parent_code text"


async def validate_region_stage(session: AsyncSession, table: str) -> None:
    """Set-based checks of staged regions: a code appears once per file; a township's county and a
    village's township exist already or arrive valid in the same file."""
    await stage_mark(
        session,
        f"""UPDATE {table} s SET error = 'code repeated (first on line ' || f.first_line || ')'
              FROM (SELECT code, min(line) AS first_line FROM {table} WHERE error IS NULL GROUP BY code) f
             WHERE s.code = f.code AND s.line > f.first_line AND s.error IS NULL""",
    )
    for level, parent in (("township", "county"), ("village", "township")):
        await stage_mark(
            session,
            f"""UPDATE {table} s SET error = 'parent {parent} ' || s.parent_code || ' is unknown'
                 WHERE s.level = :level AND s.error IS NULL
                   AND NOT EXISTS (SELECT 1 FROM regions r WHERE r.code = s.parent_code)
                   AND NOT EXISTS (SELECT 1 FROM {table} p WHERE p.code = s.parent_code AND p.error IS NULL)""",
            {"level": level},
        )


async def upsert_region_stage(session: AsyncSession, table: str) -> tuple[int, int]:
    row = (
        await session.execute(
            text(
                f"""WITH up AS (
                      INSERT INTO regions (code, level, name, parent_code, updated_at)
                      SELECT code, level, name, parent_code, now() FROM {table} WHERE error IS NULL
                      ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, updated_at = now()
                       WHERE regions.name IS DISTINCT FROM EXCLUDED.name
                      RETURNING (xmax = 0) AS inserted)
                    SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up"""
            )
        )
    ).one()
    return int(row[0]), int(row[1])


HOUSEHOLD_STAGE_COLUMNS = (
    "line",
    "household_id",
    "head_resident_id",
    "head_name",
    "village_code",
    "household_type",
    "main_cause",
    "secondary_causes",
    "members",
    "status",
    "applied_on",
    "democratic_vote_on",
    "village_notice_on",
    "township_notice_on",
    "county_announcement_on",
)
# raw values as received: every rule is checked set-based in SQL before anything is cast or stored
HOUSEHOLD_STAGE_SQL = """line int NOT NULL, household_id text, head_resident_id text, head_name text, village_code text,
    household_type text, main_cause text, secondary_causes text[] NOT NULL, members jsonb NOT NULL, status text,
    applied_on text, democratic_vote_on text, village_notice_on text, township_notice_on text, county_announcement_on text"""
_HOUSEHOLD_DATA = (
    "head_resident_id",
    "head_name",
    "village_code",
    "township_code",
    "county_code",
    "household_type",
    "main_cause",
    "secondary_causes",
    "members",
    "status",
    "applied_on",
    "democratic_vote_on",
    "village_notice_on",
    "township_notice_on",
    "county_announcement_on",
)
_STEPS = ("applied_on", "democratic_vote_on", "village_notice_on", "township_notice_on", "county_announcement_on")
_NOTICES = ("village_notice_on", "township_notice_on")
_HEAD_BIRTH = "substr(head_resident_id, 7, 4) || '-' || substr(head_resident_id, 11, 2) || '-' || substr(head_resident_id, 13, 2)"
# one pass over the members: at least one, each well formed, exactly one head, born as the ID says
_MEMBER_CHECK = f"""(SELECT CASE
      WHEN count(*) = 0 THEN 'members: at least one member (the head)'
      WHEN bool_or(jsonb_typeof(e) <> 'object' OR coalesce(e ->> 'name', '') = '' OR coalesce(e ->> 'relation', '') = ''
                   OR NOT is_iso_date(e ->> 'birth_date') OR coalesce(e ->> 'labour_capacity', '') NOT IN ('full', 'partial', 'none'))
        THEN 'members: each member has a name, a relation, a YYYY-MM-DD birth_date and labour_capacity full, partial or none'
      WHEN count(*) FILTER (WHERE e ->> 'relation' = 'head') <> 1 THEN 'members: exactly one member has relation "head"'
      WHEN resident_id_problem(head_resident_id) IS NULL AND max(e ->> 'birth_date') FILTER (WHERE e ->> 'relation' = 'head') <> {_HEAD_BIRTH}
        THEN 'members: the head''s birth date differs from the one in head_resident_id'
    END FROM jsonb_array_elements(members) e)"""


def _row_checks_sql() -> str:
    """One expression naming every problem of a staged registry row (policy.md §2), as
    ``domain.validate_household`` does for a single record."""
    all_dates_valid = " AND ".join(f"({c} IS NULL OR is_iso_date({c}))" for c in _STEPS)
    order = []
    for j, later in enumerate(_STEPS):
        for earlier in _STEPS[:j]:
            gap = 7 if earlier in _NOTICES else 0
            rule = "at least 7 days after" if gap else "on or after"
            order.append(f"CASE WHEN {later}::date < {earlier}::date + {gap} THEN '{later}: must be {rule} {earlier} (' || {earlier} || ')' END")
    formats = [f"CASE WHEN NOT ({c} IS NULL OR is_iso_date({c})) THEN '{c}: not a YYYY-MM-DD date' END" for c in _STEPS]
    # 三审两公示一公告: dates are compared only once every one of them reads as a date
    dates = f"CASE WHEN {all_dates_valid} THEN NULLIF(concat_ws('; ', {', '.join(order)}), '') ELSE concat_ws('; ', {', '.join(formats)}) END"
    checks = [
        "CASE WHEN household_id IS NULL OR household_id !~ '^[A-Za-z0-9-]{1,64}$' THEN 'household_id: must match ^[A-Za-z0-9-]{1,64}$' END",
        "'head_resident_id: ' || resident_id_problem(head_resident_id)",
        "CASE WHEN coalesce(head_name, '') = '' THEN 'head_name: required' END",
        """CASE WHEN village_code IS NULL OR village_code !~ '^[0-9]{12}$' THEN 'village_code: a division code has 12 digits'
                WHEN substr(village_code, 10, 3) = '000' THEN 'village_code: is not a village code (last three digits are 000)'
                WHEN village_code NOT BETWEEN :lo AND :hi THEN 'village ' || village_code || ' is outside the caller''s region' END""",
        "CASE WHEN household_type IS NULL OR NOT household_type = ANY(:types) THEN 'household_type: must be one of ' || array_to_string(:types, ' ') END",
        "CASE WHEN main_cause IS NULL OR NOT main_cause = ANY(:causes) THEN 'main_cause: must be exactly one of the 12 poverty causes (致贫原因)' END",
        "CASE WHEN cardinality(secondary_causes) > 2 THEN 'secondary_causes: at most two secondary causes' END",
        "CASE WHEN NOT secondary_causes <@ :causes THEN 'secondary_causes: unknown poverty cause' END",
        """CASE WHEN cardinality(secondary_causes) > 0 AND (main_cause = ANY(secondary_causes)
                  OR cardinality(secondary_causes) <> (SELECT count(DISTINCT c) FROM unnest(secondary_causes) c))
                THEN 'secondary_causes: must differ from each other and from the main cause' END""",
        "CASE WHEN status IS NULL OR NOT status = ANY(:statuses) THEN 'status: must be one of ' || array_to_string(:statuses, ', ') END",
        _MEMBER_CHECK,
        dates,
    ]
    return "NULLIF(concat_ws('; ', " + ",\n ".join(checks) + "), '')"


_ROW_CHECKS = _row_checks_sql()


async def create_problem_table(session: AsyncSession, table: str) -> None:
    await session.execute(text(f"CREATE INDEX ON {table} (line)"))
    await session.execute(text(f"CREATE UNLOGGED TABLE {table}_problems (line int NOT NULL, problems text NOT NULL)"))


async def check_household_rows(
    session: AsyncSession,
    table: str,
    *,
    lines: tuple[int, int],
    region: tuple[str, str],
    types: Sequence[str],
    causes: Sequence[str],
    statuses: Sequence[str],
) -> None:
    """Every rule of each staged row of one chunk (a read-only scan); the problems go to a side table.
    Runs while the next chunk is being parsed, so PostgreSQL and Python work at the same time."""
    await session.execute(
        text(
            f"INSERT INTO {table}_problems SELECT line, problems FROM (SELECT line, {_ROW_CHECKS} AS problems FROM {table} "
            "WHERE line BETWEEN :first AND :last) p WHERE problems IS NOT NULL"
        ),
        {"first": lines[0], "last": lines[1], "lo": region[0], "hi": region[1], "types": list(types), "causes": list(causes), "statuses": list(statuses)},
    )


async def validate_household_stage(session: AsyncSession, table: str) -> None:
    """After the row checks: their problems onto the rows, then the checks across rows: one row per
    household and per head, a known village, and a head who heads no other household."""
    await session.execute(text(f"UPDATE {table} s SET error = p.problems FROM {table}_problems p WHERE p.line = s.line"))
    await session.execute(text(f"DROP TABLE {table}_problems"))
    await session.execute(text(f"CREATE INDEX ON {table} (household_id)"))
    await stage_mark(
        session,
        f"""UPDATE {table} s SET error = 'household_id repeated (first on line ' || f.first_line || ')'
              FROM (SELECT household_id, min(line) AS first_line FROM {table} WHERE error IS NULL GROUP BY household_id HAVING count(*) > 1) f
             WHERE s.household_id = f.household_id AND s.line > f.first_line AND s.error IS NULL""",
    )
    await stage_mark(
        session,
        f"""UPDATE {table} s SET error = 'head_resident_id also heads the household on line ' || f.first_line
              FROM (SELECT head_resident_id, min(line) AS first_line FROM {table} WHERE error IS NULL
                     GROUP BY head_resident_id HAVING count(*) > 1) f
             WHERE s.head_resident_id = f.head_resident_id AND s.line > f.first_line AND s.error IS NULL""",
    )
    await stage_mark(
        session,
        f"""UPDATE {table} s SET error = 'village ' || s.village_code || ' is not a known village'
             WHERE s.error IS NULL
               AND s.village_code NOT IN (SELECT code FROM regions WHERE level = 'village')""",
    )
    await stage_mark(
        session,
        f"""UPDATE {table} s SET error = 'head_resident_id already heads household ' || h.household_id
              FROM households h
             WHERE h.head_resident_id = s.head_resident_id AND h.household_id <> s.household_id AND s.error IS NULL""",
    )


async def upsert_household_stage(session: AsyncSession, table: str, *, first_line: int, last_line: int) -> tuple[int, int]:
    """Upsert the valid staged rows of one line range by household_id; an identical row is left alone."""
    data_cols = ", ".join(_HOUSEHOLD_DATA)
    derived = {"township_code": "substr(village_code, 1, 9) || '000'", "county_code": "substr(village_code, 1, 6) || '000000'"}
    select_cols = ", ".join(derived.get(c) or (f"{c}::date" if c in _STEPS else c) for c in _HOUSEHOLD_DATA)
    assign = ", ".join(f"{c} = EXCLUDED.{c}" for c in _HOUSEHOLD_DATA)
    old = ", ".join(f"households.{c}" for c in _HOUSEHOLD_DATA)
    new = ", ".join(f"EXCLUDED.{c}" for c in _HOUSEHOLD_DATA)
    row = (
        await session.execute(
            text(
                f"""WITH up AS (
                      INSERT INTO households (household_id, {data_cols}, updated_at)
                      SELECT household_id, {select_cols}, now() FROM {table}
                       WHERE error IS NULL AND line BETWEEN :lo AND :hi
                      ON CONFLICT (household_id) DO UPDATE SET {assign}, updated_at = now()
                       WHERE ({old}) IS DISTINCT FROM ({new})
                      RETURNING (xmax = 0) AS inserted)
                    SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up"""
            ),
            {"lo": first_line, "hi": last_line},
        )
    ).one()
    return int(row[0]), int(row[1])


async def stage_line_bounds(session: AsyncSession, table: str) -> tuple[int, int]:
    row = (await session.execute(text(f"SELECT coalesce(min(line), 0), coalesce(max(line), -1) FROM {table}"))).one()
    return int(row[0]), int(row[1])


# ---- households ----


async def get_household(session: AsyncSession, household_id: str) -> Household | None:
    return await session.get(Household, household_id)


async def households_by_id(session: AsyncSession, ids: Sequence[str]) -> dict[str, Household]:
    rows = await session.execute(select(Household).where(Household.household_id.in_(list(ids))))  # type: ignore[attr-defined]
    return {h.household_id: h for h in rows.scalars()}


async def list_households(
    session: AsyncSession, *, prefix: str | None, household_id: str | None, status: str | None, after: str | None, limit: int
) -> list[Household]:
    q = select(Household).order_by(Household.household_id).limit(limit)
    if prefix is not None:
        lo, hi = code_range(prefix)
        q = q.where(Household.village_code.between(lo, hi))  # type: ignore[attr-defined]
    if household_id is not None:
        q = q.where(Household.household_id == household_id)
    if status is not None:
        q = q.where(Household.status == status)
    if after is not None:
        q = q.where(Household.household_id > after)  # type: ignore[operator]
    return list((await session.execute(q)).scalars())


async def resident_id_owner(session: AsyncSession, resident_id: str) -> str | None:
    return await session.scalar(select(Household.household_id).where(Household.head_resident_id == resident_id))


async def upsert_household(session: AsyncSession, values: dict[str, Any]) -> None:
    cols = list(values)
    assign = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c != "household_id")
    placeholders = ", ".join(f"CAST(:{c} AS jsonb)" if c == "members" else f":{c}" for c in cols)
    params = {**values, "members": json.dumps(values["members"], ensure_ascii=False)}
    await session.execute(
        text(
            f"""INSERT INTO households ({", ".join(cols)}, updated_at) VALUES ({placeholders}, now())
                ON CONFLICT (household_id) DO UPDATE SET {assign}, updated_at = now()"""
        ),
        params,
    )


async def household_outstanding(session: AsyncSession, household_id: str) -> Decimal:
    value = await session.scalar(
        select(func.coalesce(func.sum(Loan.outstanding_principal), 0)).where(
            Loan.household_id == household_id,
            Loan.status.not_in(CLOSED_LOAN_STATUSES),  # type: ignore[attr-defined]
        )
    )
    return Decimal(value or 0)


async def active_drivers(session: AsyncSession, household_ids: Sequence[str]) -> dict[str, str]:
    """household_id → the application that drives (带贫) it now."""
    rows = await session.execute(
        select(DrivenHousehold.household_id, DrivenHousehold.application_id).where(
            DrivenHousehold.household_id.in_(list(household_ids)),
            DrivenHousehold.active.is_(True),  # type: ignore[attr-defined]
        )
    )
    return {h: a for h, a in rows}


async def add_driven(session: AsyncSession, application_id: str, household_ids: Sequence[str]) -> None:
    session.add_all([DrivenHousehold(application_id=application_id, household_id=h, active=True) for h in household_ids])
    await session.flush()


async def release_driven(session: AsyncSession, application_id: str) -> None:
    await session.execute(
        update(DrivenHousehold).where(DrivenHousehold.application_id == application_id).values(active=False)  # type: ignore[arg-type]
    )


async def driven_of(session: AsyncSession, application_ids: Sequence[str]) -> dict[str, list[str]]:
    rows = await session.execute(
        select(DrivenHousehold.application_id, DrivenHousehold.household_id)
        .where(DrivenHousehold.application_id.in_(list(application_ids)))  # type: ignore[attr-defined]
        .order_by(DrivenHousehold.household_id)
    )
    out: dict[str, list[str]] = {}
    for app_id, household_id in rows:
        out.setdefault(app_id, []).append(household_id)
    return out


# ---- enterprises ----


async def get_enterprise(session: AsyncSession, enterprise_id: str) -> Enterprise | None:
    return await session.get(Enterprise, enterprise_id)


async def add_enterprise(session: AsyncSession, enterprise: Enterprise) -> None:
    session.add(enterprise)
    await session.flush()


async def list_enterprises(session: AsyncSession, *, prefix: str | None, after: str | None, limit: int) -> list[Enterprise]:
    q = select(Enterprise).order_by(Enterprise.enterprise_id).limit(limit)
    if prefix is not None:
        lo, hi = code_range(prefix)
        q = q.where(Enterprise.village_code.between(lo, hi))  # type: ignore[attr-defined]
    if after is not None:
        q = q.where(Enterprise.enterprise_id > after)  # type: ignore[operator]
    return list((await session.execute(q)).scalars())


# ---- lending policy ----


async def policy_in_force(session: AsyncSession, county_code: str, on: date) -> LendingPolicy | None:
    q = (
        select(LendingPolicy)
        .where(LendingPolicy.county_code == county_code, LendingPolicy.effective_from <= on)  # type: ignore[arg-type]
        .order_by(LendingPolicy.effective_from.desc())  # type: ignore[attr-defined]
        .limit(1)
    )
    return await session.scalar(q)


async def policies_of(session: AsyncSession, county_code: str) -> list[LendingPolicy]:
    q = select(LendingPolicy).where(LendingPolicy.county_code == county_code).order_by(LendingPolicy.effective_from)  # type: ignore[arg-type]
    return list((await session.execute(q)).scalars())


async def upsert_policy(session: AsyncSession, *, county_code: str, effective_from: date, profile: dict[str, Any], created_by: str) -> None:
    await session.execute(
        text(
            """INSERT INTO lending_policies (county_code, effective_from, profile, created_by)
               VALUES (:c, :f, CAST(:p AS jsonb), :by)
               ON CONFLICT (county_code, effective_from) DO UPDATE SET profile = EXCLUDED.profile, created_by = EXCLUDED.created_by, created_at = now()"""
        ),
        {"c": county_code, "f": effective_from, "p": json.dumps(profile, ensure_ascii=False), "by": created_by},
    )


# ---- applications ----


async def get_application(session: AsyncSession, application_id: str, *, for_update: bool = False) -> Application | None:
    q = select(Application).where(Application.application_id == application_id)
    if for_update:
        q = q.with_for_update()
    return await session.scalar(q.execution_options(populate_existing=True))


async def open_application_of(session: AsyncSession, household_id: str) -> str | None:
    return await session.scalar(
        select(Application.application_id).where(
            Application.household_id == household_id,
            Application.status.in_(("submitted", "attested", "reviewed", "confirmed", "recommended", "approved")),  # type: ignore[attr-defined]
        )
    )


async def add_application(session: AsyncSession, application: Application) -> None:
    session.add(application)
    await session.flush()


async def add_step(session: AsyncSession, step: ApplicationStep) -> None:
    session.add(step)
    await session.flush()


async def steps_of(session: AsyncSession, application_ids: Sequence[str]) -> dict[str, list[ApplicationStep]]:
    rows = await session.execute(
        select(ApplicationStep).where(ApplicationStep.application_id.in_(list(application_ids))).order_by(ApplicationStep.id)  # type: ignore[attr-defined]
    )
    out: dict[str, list[ApplicationStep]] = {}
    for step in rows.scalars():
        out.setdefault(step.application_id, []).append(step)
    return out


async def list_applications(
    session: AsyncSession,
    *,
    prefix: str | None,
    household_id: str | None,
    bank_id: str | None,
    statuses: Sequence[str] | None,
    after: int | None,
    limit: int,
) -> list[Application]:
    q = select(Application).order_by(Application.no).limit(limit)  # type: ignore[arg-type]
    if prefix is not None:
        lo, hi = code_range(prefix)
        q = q.where(Application.village_code.between(lo, hi))  # type: ignore[attr-defined]
    if household_id is not None:
        q = q.where(Application.household_id == household_id)
    if bank_id is not None:
        q = q.where(Application.bank_id == bank_id)
    if statuses:
        q = q.where(Application.status.in_(list(statuses)))  # type: ignore[attr-defined]
    if after is not None:
        q = q.where(Application.no > after)  # type: ignore[operator]
    return list((await session.execute(q)).scalars())


# ---- loans ----


async def get_loan(session: AsyncSession, loan_id: str, *, for_update: bool = False) -> Loan | None:
    q = select(Loan).where(Loan.loan_id == loan_id)
    if for_update:
        q = q.with_for_update()
    return await session.scalar(q.execution_options(populate_existing=True))


async def installments_of(session: AsyncSession, loan_ids: Sequence[str], *, for_update: bool = False) -> dict[str, list[Installment]]:
    q = select(Installment).where(Installment.loan_id.in_(list(loan_ids))).order_by(Installment.loan_id, Installment.loan_year)  # type: ignore[attr-defined]
    if for_update:
        q = q.with_for_update()
    out: dict[str, list[Installment]] = {}
    for inst in (await session.execute(q.execution_options(populate_existing=True))).scalars():
        out.setdefault(inst.loan_id, []).append(inst)
    return out


async def add_loan(session: AsyncSession, loan: Loan, installments: Sequence[Installment]) -> None:
    session.add(loan)
    await session.flush()
    session.add_all(list(installments))
    await session.flush()


async def list_loans(
    session: AsyncSession, *, prefix: str | None, household_id: str | None, bank_id: str | None, status: str | None, after: int | None, limit: int
) -> list[Loan]:
    q = select(Loan).order_by(Loan.no).limit(limit)  # type: ignore[arg-type]
    if prefix is not None:
        lo, hi = code_range(prefix)
        q = q.where(Loan.village_code.between(lo, hi))  # type: ignore[attr-defined]
    if household_id is not None:
        q = q.where(Loan.household_id == household_id)
    if bank_id is not None:
        q = q.where(Loan.bank_id == bank_id)
    if status is not None:
        q = q.where(Loan.status == status)
    if after is not None:
        q = q.where(Loan.no > after)  # type: ignore[operator]
    return list((await session.execute(q)).scalars())


async def append_event(session: AsyncSession, *, loan_id: str, type_: str, business_date: date, extra: dict[str, Any]) -> None:
    """One loan event, in the caller's transaction, with the loan's common attributes as they are now."""
    await session.flush()
    await session.execute(
        text(
            """INSERT INTO loan_events (loan_id, type, business_date, data, txid)
               SELECT l.loan_id, :type, :bd, loan_event_data(l) || CAST(:extra AS jsonb), pg_current_xact_id()
                 FROM loans l WHERE l.loan_id = :loan_id"""
        ),
        {"loan_id": loan_id, "type": type_, "bd": business_date, "extra": json.dumps(extra, ensure_ascii=False)},
    )


async def repayment_by_reference(session: AsyncSession, *, bank_id: str, bank_reference: str) -> Repayment | None:
    return await session.scalar(select(Repayment).where(Repayment.bank_id == bank_id, Repayment.bank_reference == bank_reference))


async def insert_repayment(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """Insert unless the bank reference is already recorded (then None): the second wall against replays."""
    cols = ", ".join(values)
    marks = ", ".join(f":{c}" for c in values)
    return await session.scalar(text(f"INSERT INTO repayments ({cols}) VALUES ({marks}) ON CONFLICT (bank_id, bank_reference) DO NOTHING RETURNING id"), values)


async def get_repayment(session: AsyncSession, repayment_id: int) -> Repayment | None:
    return await session.get(Repayment, repayment_id)


# Safe reading of the event log. Sequence numbers are taken at insert and commit out of order: a
# reader past seq 12 would never see a seq 11 committed later. Reading by (txid, seq) and only
# events of transactions below the snapshot's xmin (every transaction still running, or starting
# later, has txid >= xmin) means nothing can ever commit behind a cursor. A transaction's own events
# are visible to it as well (a reader never writes, so in service this adds nothing; it lets a
# transaction page through what it has just written).
_VISIBLE = "(txid < pg_snapshot_xmin(pg_current_snapshot()) OR txid = pg_current_xact_id_if_assigned())"


async def list_events(session: AsyncSession, *, after: tuple[int, int], limit: int) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            f"""SELECT seq, loan_id, type, business_date, data, txid::text AS txid
                  FROM loan_events
                 WHERE (txid, seq) > (CAST(:txid AS xid8), :seq) AND {_VISIBLE}
                 ORDER BY txid, seq LIMIT :limit"""
        ),
        {"txid": after[0], "seq": after[1], "limit": limit},
    )
    return [dict(r._mapping) for r in rows]


REMAINING_CAP = 100_000


async def count_events_after(session: AsyncSession, *, after: tuple[int, int]) -> int:
    """Visible events after the cursor, counted up to REMAINING_CAP: a consumer far behind learns it
    is at least that far, and no page costs a scan of the whole log."""
    return int(
        await session.scalar(
            text(
                f"""SELECT count(*) FROM (SELECT 1 FROM loan_events
                                            WHERE (txid, seq) > (CAST(:txid AS xid8), :seq) AND {_VISIBLE} LIMIT :cap) AS behind"""
            ),
            {"txid": after[0], "seq": after[1], "cap": REMAINING_CAP},
        )
        or 0
    )


# ---- figures ----


async def coverage(session: AsyncSession, *, prefix: str, key: str) -> list[tuple[str, int, int]]:
    """户贷率 per ``key`` (township_code or village_code): registered households (poor and exited)
    and those of them that have had a loan."""
    lo, hi = code_range(prefix)
    rows = await session.execute(
        text(
            f"""SELECT h.{key}, count(*),
                       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM loans l WHERE l.household_id = h.household_id))
                  FROM households h
                 WHERE h.status IN ('poor', 'exited') AND h.village_code BETWEEN :lo AND :hi
                 GROUP BY h.{key} ORDER BY h.{key}"""
        ),
        {"lo": lo, "hi": hi},
    )
    return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]


async def amounts(session: AsyncSession, *, prefix: str, column: str) -> list[tuple[str, int, Decimal, Decimal]]:
    lo, hi = code_range(prefix)
    rows = await session.execute(
        text(
            f"""SELECT {column}, count(*), sum(principal), sum(outstanding_principal)
                  FROM loans WHERE village_code BETWEEN :lo AND :hi GROUP BY {column} ORDER BY {column}"""
        ),
        {"lo": lo, "hi": hi},
    )
    return [(str(r[0]), int(r[1]), Decimal(r[2]), Decimal(r[3])) for r in rows]


async def approval_times(session: AsyncSession, *, prefix: str) -> dict[str, Any]:
    """Business days from submission to the bank's approval, over every approved application."""
    lo, hi = code_range(prefix)
    row = (
        await session.execute(
            text(
                """SELECT count(*) AS count,
                          round(avg(decided_on - submitted_on)::numeric, 2) AS mean_days,
                          percentile_cont(0.5) WITHIN GROUP (ORDER BY decided_on - submitted_on) AS p50,
                          percentile_cont(0.9) WITHIN GROUP (ORDER BY decided_on - submitted_on) AS p90,
                          percentile_cont(0.99) WITHIN GROUP (ORDER BY decided_on - submitted_on) AS p99,
                          max(decided_on - submitted_on) AS max_days
                     FROM applications
                    WHERE status IN ('approved', 'disbursed') AND decided_on IS NOT NULL AND village_code BETWEEN :lo AND :hi"""
            ),
            {"lo": lo, "hi": hi},
        )
    ).one()
    return dict(row._mapping)


async def overview(session: AsyncSession, *, prefix: str, bd: date) -> dict[str, Any]:
    """The overview inputs of one region (any level), a few aggregates in one statement."""
    lo, hi = code_range(prefix)
    row = (
        await session.execute(
            text(
                f"""WITH h AS (SELECT household_id FROM households WHERE status IN ('poor', 'exited') AND village_code BETWEEN :lo AND :hi),
                         l AS (SELECT l.outstanding_principal, {_NON_PERFORMING} AS non_performing
                                 FROM loans l WHERE l.status IN ('active', 'overdue', 'defaulted') AND l.village_code BETWEEN :lo AND :hi)
                    SELECT (SELECT count(*) FROM h) AS registered_households,
                           (SELECT count(*) FROM h WHERE EXISTS (SELECT 1 FROM loans x WHERE x.household_id = h.household_id)) AS borrowing_households,
                           (SELECT coalesce(sum(outstanding_principal), 0) FROM l) AS loans_outstanding,
                           (SELECT coalesce(sum(outstanding_principal) FILTER (WHERE non_performing), 0) FROM l) AS non_performing_outstanding,
                           (SELECT count(*) FROM l) AS loans_active"""
            ),
            {"lo": lo, "hi": hi, "bd": bd},
        )
    ).one()
    return dict(row._mapping)


# ---- business metrics (refreshed in the background, never per scrape) ----


async def applications_by_state(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(text("SELECT status, count(*) FROM applications GROUP BY status"))
    return {str(r[0]): int(r[1]) for r in rows}


async def lending_by_county(session: AsyncSession, *, bd: date) -> list[tuple[str, Decimal, Decimal]]:
    """(county, outstanding principal, of it non-performing) per county that has had a loan (0 once all are repaid)."""
    rows = await session.execute(
        text(
            f"""SELECT l.county_code,
                       coalesce(sum(l.outstanding_principal) FILTER (WHERE l.status IN ('active', 'overdue', 'defaulted')), 0),
                       coalesce(sum(l.outstanding_principal) FILTER (WHERE {_NON_PERFORMING}), 0)
                  FROM loans l GROUP BY l.county_code ORDER BY l.county_code"""
        ),
        {"bd": bd},
    )
    return [(str(r[0]), Decimal(r[1]), Decimal(r[2])) for r in rows]


# ---- outbox ----


async def enqueue_message(session: AsyncSession, *, topic: str, payload: dict[str, Any], message_id: str) -> str:
    return await outbox.enqueue(session, topic=topic, payload=payload, message_id=message_id)


async def outbox_messages(session: AsyncSession, *, topic: str) -> list[outbox.OutboxMessage]:
    rows = await session.execute(select(outbox.OutboxMessage).where(outbox.OutboxMessage.topic == topic).order_by(outbox.OutboxMessage.id))  # type: ignore[arg-type]
    return list(rows.scalars())


# ---- exports (keyset pages on an identity key, bounded by a high-water mark) ----

LOAN_EXPORT_COLUMNS = (
    "loan_id", "application_id", "borrower_type", "household_id", "enterprise_id", "registered_poor", "village_code", "township_code",
    "county_code", "bank_id", "principal", "annual_rate", "start_date", "term_months", "maturity_date", "purpose", "industry", "status",
    "outstanding_principal", "days_past_due",
)  # fmt: skip
REPAYMENT_EXPORT_COLUMNS = (
    "repayment_id", "loan_id", "household_id", "enterprise_id", "village_code", "township_code", "county_code", "bank_id", "bank_reference",
    "kind", "amount", "value_date", "loan_year", "due_date", "late", "outstanding_principal", "business_date", "recorded_at",
)  # fmt: skip


def _export_filters(*, prefix: str | None, bank_id: str | None, period_column: str, since: date | None, until: date | None) -> tuple[str, dict[str, Any]]:
    where, params = [], {}
    if prefix is not None:
        params["lo"], params["hi"] = code_range(prefix)
        where.append("l.village_code BETWEEN :lo AND :hi")
    if bank_id is not None:
        params["bank_id"] = bank_id
        where.append("l.bank_id = :bank_id")
    if since is not None:
        params["since"] = since
        where.append(f"{period_column} >= :since")
    if until is not None:
        params["until"] = until
        where.append(f"{period_column} <= :until")
    return "".join(f" AND {w}" for w in where), params


async def loans_high_water(session: AsyncSession) -> int:
    return int(await session.scalar(text("SELECT coalesce(max(no), 0) FROM loans")) or 0)


async def repayments_high_water(session: AsyncSession) -> int:
    return int(await session.scalar(text("SELECT coalesce(max(id), 0) FROM repayments")) or 0)


async def export_loans(
    session: AsyncSession, *, after: int, high_water: int, limit: int, prefix: str | None, bank_id: str | None, since: date | None, until: date | None, bd: date
) -> list[dict[str, Any]]:
    """Loans disbursed in the period, by ``no`` (an identity: unique, increasing, never changed)."""
    filters, params = _export_filters(prefix=prefix, bank_id=bank_id, period_column="l.start_date", since=since, until=until)
    rows = await session.execute(
        text(
            f"""SELECT l.no AS key, l.loan_id, l.application_id, l.borrower_type, l.household_id, l.enterprise_id, l.registered_poor,
                       l.village_code, l.township_code, l.county_code, l.bank_id, l.principal, l.annual_rate, l.start_date, l.term_months,
                       l.maturity_date, l.purpose, l.industry, l.status, l.outstanding_principal,
                       CASE WHEN l.status IN ('closed', 'written_off') THEN 0 ELSE {_DAYS_PAST_DUE} END AS days_past_due
                  FROM loans l
                 WHERE l.no > :after AND l.no <= :high_water{filters}
                 ORDER BY l.no LIMIT :limit"""
        ),
        {**params, "after": after, "high_water": high_water, "limit": limit, "bd": bd},
    )
    return [dict(r._mapping) for r in rows]


async def export_repayments(
    session: AsyncSession, *, after: int, high_water: int, limit: int, prefix: str | None, bank_id: str | None, since: date | None, until: date | None
) -> list[dict[str, Any]]:
    """Repayments with a value date in the period, by ``id`` (an identity)."""
    filters, params = _export_filters(prefix=prefix, bank_id=bank_id, period_column="r.value_date", since=since, until=until)
    rows = await session.execute(
        text(
            f"""SELECT r.id AS key, r.id AS repayment_id, r.loan_id, l.household_id, l.enterprise_id, l.village_code, l.township_code,
                       l.county_code, r.bank_id, r.bank_reference, r.kind, r.amount, r.value_date, r.loan_year, r.due_date, r.late,
                       r.outstanding_principal, r.business_date, r.recorded_at
                  FROM repayments r JOIN loans l ON l.loan_id = r.loan_id
                 WHERE r.id > :after AND r.id <= :high_water{filters}
                 ORDER BY r.id LIMIT :limit"""
        ),
        {**params, "after": after, "high_water": high_water, "limit": limit},
    )
    return [dict(r._mapping) for r in rows]
