"""Every query of the risk-pool service.

Bulk paths (loan events, claim batches, journal postings, fee billing) are set-based: arrays
passed once and expanded with ``unnest``, ids allocated in one ``nextval`` call, never a
statement per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, fields
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

from risk_pool.domain import Exposure, FeeAccrual

Row = RowMapping


async def _rows(session: AsyncSession, sql: str, **params: Any) -> list[Row]:
    return list((await session.execute(text(sql), params)).mappings())


async def _one(session: AsyncSession, sql: str, **params: Any) -> Row | None:
    return (await session.execute(text(sql), params)).mappings().first()


async def next_ids(session: AsyncSession, sequence: str, count: int) -> list[int]:
    """Allocate ``count`` ids in one round trip, so bulk inserts know their ids in order."""
    if count == 0:
        return []
    result = await session.execute(text("SELECT nextval(CAST(:s AS regclass)) FROM generate_series(1, :n)"), {"s": sequence, "n": count})
    return [r[0] for r in result]


# ---- funds and journal -------------------------------------------------------------------------


async def insert_fund(session: AsyncSession, *, code: str, name: str, level: str, region_code: str,
                      county_code: str | None, created_by: str) -> int | None:
    """The new fund's id, or None when its code or county already has a fund."""
    return await session.scalar(
        text("""INSERT INTO funds (code, name, level, region_code, county_code, balance, created_by)
                VALUES (:code, :name, :level, :region, :county, 0, :by) ON CONFLICT DO NOTHING RETURNING id"""),
        {"code": code, "name": name, "level": level, "region": region_code, "county": county_code, "by": created_by},
    )


async def fund_conflicts(session: AsyncSession, *, code: str, county_code: str | None) -> list[Row]:
    return await _rows(session, "SELECT code, county_code FROM funds WHERE code = :code OR county_code = :county",
                       code=code, county=county_code)


_FUND_COLUMNS = """f.id, f.code, f.name, f.level, f.region_code, f.county_code, f.balance, f.created_at,
    coalesce((SELECT sum(e.covered_principal) FROM exposures e
              WHERE e.county_code = f.county_code AND e.covered AND e.status IN ('active', 'overdue', 'defaulted')), 0)
      AS covered_outstanding"""


async def get_fund(session: AsyncSession, code: str) -> Row | None:
    return await _one(session, f"SELECT {_FUND_COLUMNS} FROM funds f WHERE f.code = :code", code=code)


async def list_funds(session: AsyncSession, *, after_id: int, limit: int) -> list[Row]:
    return await _rows(session, f"SELECT {_FUND_COLUMNS} FROM funds f WHERE f.id > :after ORDER BY f.id LIMIT :limit",
                       after=after_id, limit=limit)


async def lock_fund(session: AsyncSession, fund_id: int) -> Row:
    """Row lock on the fund: concurrent draws on one fund are serialised here."""
    row = await _one(session, "SELECT id, code, region_code, county_code, level, balance FROM funds WHERE id = :id FOR UPDATE", id=fund_id)
    assert row is not None
    return row


async def lock_funds_by_code(session: AsyncSession, codes: Sequence[str]) -> list[Row]:
    return await _rows(session, """SELECT id, code, county_code, level, balance FROM funds
                                   WHERE code = ANY(CAST(:codes AS text[])) ORDER BY id FOR UPDATE""", codes=list(codes))


async def county_funds(session: AsyncSession) -> list[Row]:
    return await _rows(session, "SELECT id, code, county_code, balance FROM funds WHERE level = 'county' ORDER BY county_code")


async def funds_for_counties(session: AsyncSession, counties: Sequence[str], *, lock: bool = False) -> dict[str, Row]:
    suffix = " ORDER BY id FOR UPDATE" if lock else ""
    rows = await _rows(session, f"SELECT id, code, county_code, balance FROM funds WHERE county_code = ANY(CAST(:c AS text[])){suffix}",
                       c=list(counties))
    return {r["county_code"]: r for r in rows}


async def reference_used(session: AsyncSession, *, fund_id: int, reference: str) -> bool:
    return bool(await session.scalar(text("""SELECT 1 FROM journal_entries j JOIN journal_lines l ON l.entry_id = j.id
                                             WHERE l.fund_id = :f AND j.reference = :r LIMIT 1"""), {"f": fund_id, "r": reference}))


async def post_entries(
    session: AsyncSession,
    *,
    entries: Sequence[tuple[str, date, str, str | None, int | None, str]],
    lines: Sequence[tuple[int, str, int | None, Decimal]],
) -> list[int]:
    """Post journal entries (kind, date, memo, reference, claim_id, created_by) and their lines
    (entry index, account, fund_id, amount) in two statements; returns the entry ids in order.
    The database checks each entry balances at commit and moves the fund balances."""
    ids = await next_ids(session, "journal_entries_id_seq", len(entries))
    if not ids:
        return []
    kinds, dates, memos, refs, claims, bys = (list(c) for c in zip(*entries, strict=True))
    await session.execute(
        text("""INSERT INTO journal_entries (id, kind, entry_date, memo, reference, claim_id, created_by)
                SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:kinds AS text[]), CAST(:dates AS date[]),
                                     CAST(:memos AS text[]), CAST(:refs AS text[]), CAST(:claims AS bigint[]), CAST(:bys AS text[]))"""),
        {"ids": ids, "kinds": kinds, "dates": dates, "memos": memos, "refs": refs, "claims": claims, "bys": bys},
    )
    await session.execute(
        text("""INSERT INTO journal_lines (entry_id, account, fund_id, amount)
                SELECT * FROM unnest(CAST(:e AS bigint[]), CAST(:a AS text[]), CAST(:f AS integer[]), CAST(:m AS numeric[]))"""),
        {"e": [ids[i] for i, _, _, _ in lines], "a": [a for _, a, _, _ in lines],
         "f": [f for _, _, f, _ in lines], "m": [m for _, _, _, m in lines]},
    )
    return ids


async def entries_with_lines(session: AsyncSession, entry_ids: Sequence[int]) -> list[tuple[Row, list[Row]]]:
    entries = await _rows(session, "SELECT * FROM journal_entries WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id", ids=list(entry_ids))
    lines = await _rows(session, "SELECT entry_id, account, amount FROM journal_lines WHERE entry_id = ANY(CAST(:ids AS bigint[])) ORDER BY id",
                        ids=list(entry_ids))
    return [(e, [ln for ln in lines if ln["entry_id"] == e["id"]]) for e in entries]


async def fund_balance(session: AsyncSession, fund_id: int) -> Decimal:
    return Decimal(await session.scalar(text("SELECT balance FROM funds WHERE id = :id"), {"id": fund_id}))


async def journal_total(session: AsyncSession, fund_id: int) -> Decimal:
    return Decimal(await session.scalar(text("SELECT coalesce(sum(amount), 0) FROM journal_lines WHERE fund_id = :id"), {"id": fund_id}))


async def statement(session: AsyncSession, *, fund_id: int, period_from: date, period_to: date) -> tuple[Decimal, list[Row]]:
    opening = await session.scalar(
        text("""SELECT coalesce(sum(l.amount), 0) FROM journal_lines l JOIN journal_entries j ON j.id = l.entry_id
                WHERE l.fund_id = :f AND j.entry_date < :d"""), {"f": fund_id, "d": period_from})
    rows = await _rows(session, """
        SELECT j.id AS entry_id, j.entry_date, j.kind, j.memo, j.reference, j.claim_id, sum(l.amount) AS amount
        FROM journal_lines l JOIN journal_entries j ON j.id = l.entry_id
        WHERE l.fund_id = :f AND j.entry_date BETWEEN :a AND :b
        GROUP BY j.id ORDER BY j.entry_date, j.id""", f=fund_id, a=period_from, b=period_to)
    return Decimal(opening), rows


async def lending_volume_by_county(session: AsyncSession, *, counties: Sequence[str], start_from: date | None,
                                   start_to: date | None) -> dict[str, Decimal]:
    rows = await _rows(session, """
        SELECT county_code, sum(principal) AS volume FROM exposures
        WHERE county_code = ANY(CAST(:c AS text[]))
          AND (CAST(:a AS date) IS NULL OR start_date >= :a) AND (CAST(:b AS date) IS NULL OR start_date <= :b)
        GROUP BY county_code""", c=list(counties), a=start_from, b=start_to)
    return {r["county_code"]: Decimal(r["volume"]) for r in rows}


# ---- sharing schemes -------------------------------------------------------------------------


async def insert_scheme(session: AsyncSession, *, values: dict[str, Any], shares: Sequence[tuple[str, Decimal, str | None]]) -> int | None:
    scheme_id = await session.scalar(
        text("""INSERT INTO sharing_schemes (name, county_code, borrower_type, effective_from, covered_principal_cap, leverage,
                       claim_trigger_days, guarantee_fee_rate, fee_day_basis, created_by)
                VALUES (:name, :county_code, :borrower_type, :effective_from, :covered_principal_cap, :leverage,
                        :claim_trigger_days, :guarantee_fee_rate, :fee_day_basis, :created_by)
                ON CONFLICT DO NOTHING RETURNING id"""),
        values,
    )
    if scheme_id is None:
        return None
    await session.execute(
        text("""INSERT INTO scheme_shares (scheme_id, party, share, party_account, position)
                SELECT :id, p, s, a, o FROM unnest(CAST(:p AS text[]), CAST(:s AS numeric[]), CAST(:a AS text[]))
                WITH ORDINALITY AS t(p, s, a, o)"""),
        {"id": scheme_id, "p": [p for p, _, _ in shares], "s": [s for _, s, _ in shares], "a": [a for _, _, a in shares]},
    )
    return scheme_id


async def get_schemes(session: AsyncSession, ids: Sequence[int]) -> list[Row]:
    return await _rows(session, "SELECT * FROM sharing_schemes WHERE id = ANY(CAST(:ids AS integer[])) ORDER BY id", ids=list(ids))


async def list_schemes(session: AsyncSession, *, county_prefix: str | None, borrower_type: str | None, after_id: int, limit: int) -> list[Row]:
    return await _rows(session, """
        SELECT * FROM sharing_schemes
        WHERE id > :after AND (CAST(:prefix AS text) IS NULL OR county_code LIKE :prefix || '%')
          AND (CAST(:bt AS text) IS NULL OR borrower_type = :bt)
        ORDER BY id LIMIT :limit""", after=after_id, prefix=county_prefix, bt=borrower_type, limit=limit)


async def shares_of(session: AsyncSession, scheme_ids: Sequence[int]) -> dict[int, list[Row]]:
    rows = await _rows(session, """SELECT scheme_id, party, share, party_account FROM scheme_shares
                                   WHERE scheme_id = ANY(CAST(:ids AS integer[])) ORDER BY scheme_id, position""", ids=list(scheme_ids))
    out: dict[int, list[Row]] = {}
    for r in rows:
        out.setdefault(r["scheme_id"], []).append(r)
    return out


async def schemes_for_counties(session: AsyncSession, counties: Sequence[str]) -> list[Row]:
    return await _rows(session, """SELECT * FROM sharing_schemes WHERE county_code = ANY(CAST(:c AS text[]))
                                   ORDER BY county_code, borrower_type, effective_from""", c=list(counties))


# ---- loan events and exposures ---------------------------------------------------------------

_EXPOSURE_COLUMNS = [f.name for f in fields(Exposure)]
_EXPOSURE_TYPES = {
    "principal": "numeric", "annual_rate": "numeric", "outstanding_principal": "numeric", "overdue_principal": "numeric",
    "unpaid_interest": "numeric", "covered_principal": "numeric", "fee_rate": "numeric",
    "start_date": "date", "maturity_date": "date", "default_date": "date", "status_date": "date", "fee_accrued_to": "date",
    "registered_poor": "boolean", "diverted": "boolean", "covered": "boolean",
    "driven_households": "integer", "days_past_due": "integer", "scheme_id": "integer", "last_seq": "bigint", "fee_day_basis": "integer",
}


async def claim_event_seqs(session: AsyncSession, events: Sequence[tuple[int, str, str, date]]) -> set[int]:
    """Record events as applied; returns the seqs that were new (each seq is applied once)."""
    if not events:
        return set()
    result = await session.execute(
        text("""INSERT INTO applied_events (seq, loan_id, type, business_date)
                SELECT * FROM unnest(CAST(:s AS bigint[]), CAST(:l AS text[]), CAST(:t AS text[]), CAST(:d AS date[]))
                ON CONFLICT (seq) DO NOTHING RETURNING seq"""),
        {"s": [e[0] for e in events], "l": [e[1] for e in events], "t": [e[2] for e in events], "d": [e[3] for e in events]},
    )
    return {r[0] for r in result}


async def load_exposures(session: AsyncSession, loan_ids: Sequence[str], *, lock: bool = False) -> dict[str, Exposure]:
    cols = ", ".join(_EXPOSURE_COLUMNS)
    suffix = " ORDER BY loan_id FOR UPDATE" if lock else ""
    rows = await _rows(session, f"SELECT {cols} FROM exposures WHERE loan_id = ANY(CAST(:ids AS text[])){suffix}", ids=list(loan_ids))
    return {r["loan_id"]: Exposure(**dict(r)) for r in rows}


async def save_exposures(session: AsyncSession, exposures: Sequence[Exposure]) -> None:
    if not exposures:
        return
    columns = list(zip(*(astuple(e) for e in exposures), strict=True))
    params = {f"c{i}": list(col) for i, col in enumerate(columns)}
    selects = ", ".join(f"CAST(:c{i} AS {_EXPOSURE_TYPES.get(name, 'text')}[])" for i, name in enumerate(_EXPOSURE_COLUMNS))
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in _EXPOSURE_COLUMNS if name != "loan_id")
    await session.execute(
        text(f"""INSERT INTO exposures ({", ".join(_EXPOSURE_COLUMNS)}) SELECT * FROM unnest({selects})
                 ON CONFLICT (loan_id) DO UPDATE SET {updates}"""),
        params,
    )


async def insert_fee_accruals(session: AsyncSession, accruals: Sequence[FeeAccrual]) -> None:
    if not accruals:
        return
    await session.execute(
        text("""INSERT INTO fee_segments (loan_id, start_date, end_date, principal, rate, day_basis)
                SELECT * FROM unnest(CAST(:l AS text[]), CAST(:a AS date[]), CAST(:b AS date[]), CAST(:p AS numeric[]),
                                     CAST(:r AS numeric[]), CAST(:d AS integer[]))"""),
        {"l": [a.loan_id for a in accruals], "a": [a.start_date for a in accruals], "b": [a.end_date for a in accruals],
         "p": [a.principal for a in accruals], "r": [a.rate for a in accruals], "d": [a.day_basis for a in accruals]},
    )


async def covered_outstanding_by_county(session: AsyncSession, counties: Sequence[str], *, excluding: Sequence[str] = ()) -> dict[str, Decimal]:
    rows = await _rows(session, """
        SELECT county_code, sum(covered_principal) AS covered FROM exposures
        WHERE county_code = ANY(CAST(:c AS text[])) AND covered AND status IN ('active', 'overdue', 'defaulted')
          AND NOT (loan_id = ANY(CAST(:x AS text[])))
        GROUP BY county_code""", c=list(counties), x=list(excluding))
    return {r["county_code"]: Decimal(r["covered"]) for r in rows}


async def business_date(session: AsyncSession) -> date | None:
    """The business date: the latest business date of any applied loan event."""
    return await session.scalar(text("SELECT max(business_date) FROM applied_events"))


async def exposure_row(session: AsyncSession, loan_id: str) -> Row | None:
    return await _one(session, "SELECT * FROM exposures WHERE loan_id = :l", l=loan_id)


# ---- village aggregates and breakers ------------------------------------------------------------


async def refresh_villages(session: AsyncSession, *, villages: Sequence[str], today: date, default_npl_days: int) -> None:
    """Recompute the touched villages' aggregates from their loans, set-based.

    Non-performing (不良): defaulted, or overdue at least the county's ``npl_days``."""
    await session.execute(
        text("""
        WITH flagged AS (
          SELECT v.code, e.loan_id, e.household_id, e.enterprise_id, e.outstanding_principal,
                 e.status IN ('active', 'overdue', 'defaulted') AS live,
                 (e.status = 'defaulted' OR (e.status = 'overdue'
                    AND e.days_past_due + (CAST(:today AS date) - e.status_date) >= coalesce(p.npl_days, :npl_days))) AS npl,
                 (e.borrower_type = 'household' AND e.registered_poor AND e.household_id IS NOT NULL) AS poor,
                 (e.status IN ('overdue', 'defaulted') AND e.overdue_principal > 0) AS overdue_on_principal
          FROM unnest(CAST(:codes AS text[])) AS v(code)
          LEFT JOIN exposures e ON e.village_code = v.code
          LEFT JOIN breaker_policies p ON p.county_code = substr(v.code, 1, 6) || '000000'
        )
        INSERT INTO village_exposures (village_code, township_code, county_code, borrowers, loans, outstanding, npl_outstanding,
                                       poor_borrowers, poor_overdue_borrowers, updated_at)
        SELECT code, substr(code, 1, 9) || '000', substr(code, 1, 6) || '000000',
               count(DISTINCT coalesce(household_id, enterprise_id, loan_id)) FILTER (WHERE live),
               count(loan_id) FILTER (WHERE live),
               coalesce(sum(outstanding_principal) FILTER (WHERE live), 0),
               coalesce(sum(outstanding_principal) FILTER (WHERE live AND npl), 0),
               count(DISTINCT household_id) FILTER (WHERE live AND poor),
               count(DISTINCT household_id) FILTER (WHERE live AND poor AND overdue_on_principal),
               now()
        FROM flagged GROUP BY code
        ON CONFLICT (village_code) DO UPDATE SET
          borrowers = EXCLUDED.borrowers, loans = EXCLUDED.loans, outstanding = EXCLUDED.outstanding,
          npl_outstanding = EXCLUDED.npl_outstanding, poor_borrowers = EXCLUDED.poor_borrowers,
          poor_overdue_borrowers = EXCLUDED.poor_overdue_borrowers, updated_at = now()"""),
        {"codes": list(villages), "today": today, "npl_days": default_npl_days},
    )


async def village_aggregates(session: AsyncSession, villages: Sequence[str]) -> list[Row]:
    return await _rows(session, "SELECT * FROM village_exposures WHERE village_code = ANY(CAST(:v AS text[])) ORDER BY village_code",
                       v=list(villages))


async def list_village_aggregates(session: AsyncSession, *, prefix: str | None, after: str, limit: int) -> list[Row]:
    return await _rows(session, """SELECT * FROM village_exposures
                                   WHERE village_code > :after AND (CAST(:p AS text) IS NULL OR village_code LIKE :p || '%')
                                   ORDER BY village_code LIMIT :limit""", after=after, p=prefix, limit=limit)


async def township_counts(session: AsyncSession, townships: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Per township: (villages with loans known here, villages broken)."""
    rows = await _rows(session, """
        SELECT v.township_code, count(*) AS villages, count(b.code) FILTER (WHERE b.state = 'broken') AS broken
        FROM village_exposures v LEFT JOIN breakers b ON b.level = 'village' AND b.code = v.village_code
        WHERE v.township_code = ANY(CAST(:t AS text[])) GROUP BY v.township_code""", t=list(townships))
    return {r["township_code"]: (r["villages"], r["broken"]) for r in rows}


async def policies_for(session: AsyncSession, counties: Sequence[str]) -> dict[str, Row]:
    rows = await _rows(session, "SELECT * FROM breaker_policies WHERE county_code = ANY(CAST(:c AS text[]))", c=list(counties))
    return {r["county_code"]: r for r in rows}


async def upsert_policy(session: AsyncSession, *, county_code: str, rule: str, village_threshold: Decimal,
                        township_threshold: Decimal, npl_days: int, updated_by: str) -> None:
    await session.execute(
        text("""INSERT INTO breaker_policies (county_code, rule, village_threshold, township_threshold, npl_days, updated_by)
                VALUES (:c, :r, :v, :t, :n, :by)
                ON CONFLICT (county_code) DO UPDATE SET rule = EXCLUDED.rule, village_threshold = EXCLUDED.village_threshold,
                  township_threshold = EXCLUDED.township_threshold, npl_days = EXCLUDED.npl_days,
                  updated_by = EXCLUDED.updated_by, updated_at = now()"""),
        {"c": county_code, "r": rule, "v": village_threshold, "t": township_threshold, "n": npl_days, "by": updated_by},
    )


async def breakers(session: AsyncSession, level: str, codes: Sequence[str], *, lock: bool = False) -> dict[str, Row]:
    suffix = " ORDER BY code FOR UPDATE" if lock else ""
    rows = await _rows(session, f"SELECT * FROM breakers WHERE level = :l AND code = ANY(CAST(:c AS text[])){suffix}", l=level, c=list(codes))
    return {r["code"]: r for r in rows}


async def save_breakers(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Upsert breaker states (level, code, county_code, state, ratio, threshold, rule, changed_on)."""
    if not rows:
        return
    keys = ["level", "code", "county_code", "state", "ratio", "threshold", "rule", "changed_on"]
    types = {"ratio": "numeric", "threshold": "numeric", "changed_on": "date"}
    params = {k: [r[k] for r in rows] for k in keys}
    selects = ", ".join(f"CAST(:{k} AS {types.get(k, 'text')}[])" for k in keys)
    await session.execute(
        text(f"""INSERT INTO breakers ({", ".join(keys)}) SELECT * FROM unnest({selects})
                 ON CONFLICT (level, code) DO UPDATE SET state = EXCLUDED.state, ratio = EXCLUDED.ratio,
                   threshold = EXCLUDED.threshold, rule = EXCLUDED.rule,
                   changed_on = CASE WHEN breakers.state <> EXCLUDED.state THEN EXCLUDED.changed_on ELSE breakers.changed_on END,
                   changed_at = CASE WHEN breakers.state <> EXCLUDED.state THEN now() ELSE breakers.changed_at END"""),
        params,
    )


async def record_breaker_changes(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    keys = ["level", "code", "county_code", "from_state", "to_state", "ratio", "threshold", "rule", "business_date", "actor", "reason"]
    types = {"ratio": "numeric", "threshold": "numeric", "business_date": "date"}
    params = {k: [r[k] for r in rows] for k in keys}
    selects = ", ".join(f"CAST(:{k} AS {types.get(k, 'text')}[])" for k in keys)
    await session.execute(text(f"INSERT INTO breaker_history ({', '.join(keys)}) SELECT * FROM unnest({selects})"), params)


async def breaker_history(session: AsyncSession, level: str, code: str) -> list[Row]:
    return await _rows(session, "SELECT * FROM breaker_history WHERE level = :l AND code = :c ORDER BY id", l=level, c=code)


async def list_breakers(session: AsyncSession, *, prefix: str | None, level: str | None, state: str | None,
                        after: str, limit: int) -> list[Row]:
    return await _rows(session, """
        SELECT * FROM breakers WHERE (level || ':' || code) > :after
          AND (CAST(:p AS text) IS NULL OR code LIKE :p || '%')
          AND (CAST(:lv AS text) IS NULL OR level = :lv) AND (CAST(:st AS text) IS NULL OR state = :st)
        ORDER BY level || ':' || code LIMIT :limit""", after=after, p=prefix, lv=level, st=state, limit=limit)


# ---- claims -------------------------------------------------------------------------------------


async def claims_for_loans(session: AsyncSession, loan_ids: Sequence[str]) -> dict[str, int]:
    rows = await _rows(session, "SELECT loan_id, id FROM claims WHERE loan_id = ANY(CAST(:l AS text[]))", l=list(loan_ids))
    return {r["loan_id"]: r["id"] for r in rows}


async def insert_claims(session: AsyncSession, claims: Sequence[dict[str, Any]]) -> list[int]:
    """Insert claims with ids allocated up front; a loan that already has a claim (a concurrent
    filing) is skipped by the unique index and missing from the returned ids."""
    ids = await next_ids(session, "claims_id_seq", len(claims))
    keys = ["loan_id", "bank_id", "borrower_type", "village_code", "county_code", "scheme_id", "fund_id", "days_past_due",
            "covered_principal", "covered_interest", "loss", "government_part", "business_date", "filed_by"]
    types = {"scheme_id": "integer", "fund_id": "integer", "days_past_due": "integer", "covered_principal": "numeric",
             "covered_interest": "numeric", "loss": "numeric", "government_part": "numeric", "business_date": "date"}
    params: dict[str, Any] = {k: [c[k] for c in claims] for k in keys}
    params["ids"] = ids
    selects = ", ".join(f"CAST(:{k} AS {types.get(k, 'text')}[])" for k in keys)
    result = await session.execute(
        text(f"""INSERT INTO claims (id, {", ".join(keys)}, status)
                 SELECT u.*, 'awaiting_funds' FROM unnest(CAST(:ids AS bigint[]), {selects}) AS u
                 ON CONFLICT (loan_id) DO NOTHING RETURNING id"""),
        params,
    )
    inserted = {r[0] for r in result}
    return [i if i in inserted else 0 for i in ids]


async def insert_claim_parts(session: AsyncSession, parts: Sequence[tuple[int, str, str, Decimal, Decimal, int]]) -> None:
    """(claim_id, party, party_account, share, amount, position) rows, and the obligations of every
    party but the government (paid from the fund) and the bank (its own part, 银行自担: settled)."""
    await session.execute(
        text("""INSERT INTO claim_parts (claim_id, party, party_account, share, amount, position)
                SELECT * FROM unnest(CAST(:c AS bigint[]), CAST(:p AS text[]), CAST(:a AS text[]), CAST(:s AS numeric[]),
                                     CAST(:m AS numeric[]), CAST(:o AS integer[]))"""),
        {"c": [p[0] for p in parts], "p": [p[1] for p in parts], "a": [p[2] for p in parts], "s": [p[3] for p in parts],
         "m": [p[4] for p in parts], "o": [p[5] for p in parts]},
    )
    await session.execute(
        text("""INSERT INTO obligations (claim_id, party, party_account, amount, status, settled_at, settled_by, settlement_reference)
                SELECT p.claim_id, p.party, p.party_account, p.amount,
                       CASE WHEN p.party = 'bank' THEN 'settled' ELSE 'open' END,
                       CASE WHEN p.party = 'bank' THEN now() END,
                       CASE WHEN p.party = 'bank' THEN p.party_account END,
                       CASE WHEN p.party = 'bank' THEN 'borne by the bank' END
                FROM claim_parts p WHERE p.claim_id = ANY(CAST(:ids AS bigint[])) AND p.party <> 'government'"""),
        {"ids": sorted({p[0] for p in parts})},
    )


async def claim_statuses(session: AsyncSession, claim_ids: Sequence[int]) -> dict[int, str]:
    rows = await _rows(session, "SELECT id, status FROM claims WHERE id = ANY(CAST(:ids AS bigint[]))", ids=list(claim_ids))
    return {r["id"]: r["status"] for r in rows}


async def waiting_claims(session: AsyncSession, fund_id: int) -> list[Row]:
    """Claims waiting for money from this fund, in filing order (the queue)."""
    return await _rows(session, """SELECT id, loan_id, bank_id, government_part FROM claims
                                   WHERE fund_id = :f AND status = 'awaiting_funds' ORDER BY id""", f=fund_id)


async def mark_claims_paid(session: AsyncSession, claim_ids: Sequence[int], entry_ids: Sequence[int]) -> None:
    if not claim_ids:
        return
    await session.execute(
        text("""UPDATE claims c SET status = 'paid', paid_at = now(), payout_entry_id = u.entry_id
                FROM unnest(CAST(:c AS bigint[]), CAST(:e AS bigint[])) AS u(claim_id, entry_id)
                WHERE c.id = u.claim_id"""),
        {"c": list(claim_ids), "e": [e if e else None for e in entry_ids]},
    )


_CLAIM_SELECT = """
    SELECT c.*, f.code AS fund_code,
      CASE WHEN c.status = 'awaiting_funds' THEN
        (SELECT count(*) FROM claims q WHERE q.fund_id = c.fund_id AND q.status = 'awaiting_funds' AND q.id <= c.id) END
        AS queue_position
    FROM claims c JOIN funds f ON f.id = c.fund_id"""


async def get_claim(session: AsyncSession, claim_id: int, *, lock: bool = False) -> Row | None:
    if lock:
        await session.execute(text("SELECT 1 FROM claims WHERE id = :id FOR UPDATE"), {"id": claim_id})
    return await _one(session, f"{_CLAIM_SELECT} WHERE c.id = :id", id=claim_id)


async def list_claims(session: AsyncSession, *, bank_id: str | None, prefix: str | None, status: str | None,
                      after_id: int, limit: int) -> list[Row]:
    return await _rows(session, f"""{_CLAIM_SELECT}
        WHERE c.id > :after AND (CAST(:b AS text) IS NULL OR c.bank_id = :b)
          AND (CAST(:p AS text) IS NULL OR c.village_code LIKE :p || '%')
          AND (CAST(:s AS text) IS NULL OR c.status = :s)
        ORDER BY c.id LIMIT :limit""", after=after_id, b=bank_id, p=prefix, s=status, limit=limit)


async def claim_parts(session: AsyncSession, claim_ids: Sequence[int]) -> dict[int, list[Row]]:
    rows = await _rows(session, """SELECT * FROM claim_parts WHERE claim_id = ANY(CAST(:ids AS bigint[]))
                                   ORDER BY claim_id, position""", ids=list(claim_ids))
    out: dict[int, list[Row]] = {}
    for r in rows:
        out.setdefault(r["claim_id"], []).append(r)
    return out


# ---- recoveries -------------------------------------------------------------------------------


async def insert_recovery(session: AsyncSession, *, claim_id: int, amount: Decimal, reference: str, value_date: date,
                          recorded_by: str, parts: Sequence[tuple[str, str, Decimal]]) -> int | None:
    recovery_id = await session.scalar(
        text("""INSERT INTO recoveries (claim_id, amount, reference, value_date, recorded_by)
                VALUES (:c, :a, :r, :d, :by) ON CONFLICT DO NOTHING RETURNING id"""),
        {"c": claim_id, "a": amount, "r": reference, "d": value_date, "by": recorded_by},
    )
    if recovery_id is None:
        return None
    await session.execute(
        text("""INSERT INTO recovery_parts (recovery_id, party, party_account, amount)
                SELECT :id, * FROM unnest(CAST(:p AS text[]), CAST(:a AS text[]), CAST(:m AS numeric[]))"""),
        {"id": recovery_id, "p": [p for p, _, _ in parts], "a": [a for _, a, _ in parts], "m": [m for _, _, m in parts]},
    )
    await session.execute(
        text("""UPDATE claim_parts cp SET recovered = cp.recovered + u.amount
                FROM unnest(CAST(:p AS text[]), CAST(:m AS numeric[])) AS u(party, amount)
                WHERE cp.claim_id = :c AND cp.party = u.party"""),
        {"c": claim_id, "p": [p for p, _, _ in parts], "m": [m for _, _, m in parts]},
    )
    await session.execute(text("UPDATE claims SET recovered = recovered + :a WHERE id = :c"), {"a": amount, "c": claim_id})
    return recovery_id


async def get_recovery(session: AsyncSession, recovery_id: int) -> tuple[Row, list[Row]]:
    recovery = await _one(session, "SELECT * FROM recoveries WHERE id = :id", id=recovery_id)
    assert recovery is not None
    parts = await _rows(session, """SELECT rp.party, rp.party_account, rp.amount FROM recovery_parts rp
                                    JOIN claim_parts cp ON cp.claim_id = :claim AND cp.party = rp.party
                                    WHERE rp.recovery_id = :id ORDER BY cp.position""", id=recovery_id, claim=recovery["claim_id"])
    return recovery, parts


async def list_recoveries(session: AsyncSession, claim_id: int) -> list[Row]:
    return await _rows(session, "SELECT id FROM recoveries WHERE claim_id = :c ORDER BY id", c=claim_id)


# ---- obligations ----------------------------------------------------------------------------

_OBLIGATION_SELECT = """SELECT o.*, c.loan_id, c.bank_id, c.county_code, c.village_code
                        FROM obligations o JOIN claims c ON c.id = o.claim_id"""


async def get_obligation(session: AsyncSession, obligation_id: int, *, lock: bool = False) -> Row | None:
    if lock:
        await session.execute(text("SELECT 1 FROM obligations WHERE id = :id FOR UPDATE"), {"id": obligation_id})
    return await _one(session, f"{_OBLIGATION_SELECT} WHERE o.id = :id", id=obligation_id)


async def list_obligations(session: AsyncSession, *, party_account: str | None, bank_id: str | None, prefix: str | None,
                           status: str | None, claim_id: int | None, after_id: int, limit: int) -> list[Row]:
    return await _rows(session, f"""{_OBLIGATION_SELECT}
        WHERE o.id > :after AND (CAST(:pa AS text) IS NULL OR o.party_account = :pa)
          AND (CAST(:b AS text) IS NULL OR c.bank_id = :b) AND (CAST(:p AS text) IS NULL OR c.village_code LIKE :p || '%')
          AND (CAST(:s AS text) IS NULL OR o.status = :s) AND (CAST(:cl AS bigint) IS NULL OR o.claim_id = :cl)
        ORDER BY o.id LIMIT :limit""", after=after_id, pa=party_account, b=bank_id, p=prefix, s=status, cl=claim_id, limit=limit)


async def settle_obligation(session: AsyncSession, *, obligation_id: int, by: str, reference: str) -> None:
    await session.execute(
        text("""UPDATE obligations SET status = 'settled', settled_at = now(), settled_by = :by, settlement_reference = :r
                WHERE id = :id AND status = 'open'"""),
        {"id": obligation_id, "by": by, "r": reference},
    )


# ---- guarantee fees -----------------------------------------------------------------------------


async def bill_fees(session: AsyncSession, *, county_code: str, period_end: date, payee_by_scheme: dict[int, str],
                    billed_by: str) -> tuple[int, Decimal]:
    """Close every running accrual of the county at ``period_end`` and bill all unbilled
    stretches up to it, one bill per loan: three set-based statements."""
    scheme_ids = list(payee_by_scheme)
    payees = [payee_by_scheme[s] for s in scheme_ids]
    await session.execute(
        text("""WITH due AS (
                  SELECT loan_id, fee_accrued_to, outstanding_principal, fee_rate, fee_day_basis FROM exposures
                  WHERE county_code = :c AND fee_accrued_to IS NOT NULL AND fee_accrued_to < :end AND fee_rate > 0
                  FOR UPDATE),
                seg AS (
                  INSERT INTO fee_segments (loan_id, start_date, end_date, principal, rate, day_basis)
                  SELECT loan_id, fee_accrued_to, :end, outstanding_principal, fee_rate, fee_day_basis FROM due)
                UPDATE exposures e SET fee_accrued_to = :end FROM due WHERE e.loan_id = due.loan_id"""),
        {"c": county_code, "end": period_end},
    )
    result = await session.execute(
        text("""WITH payee AS (SELECT * FROM unnest(CAST(:s AS integer[]), CAST(:a AS text[])) AS t(scheme_id, account)),
                grouped AS (
                  SELECT f.loan_id, e.bank_id, e.county_code, payee.account, min(f.start_date) AS period_start,
                         round(sum(f.principal * f.rate * (f.end_date - f.start_date) / f.day_basis), 2) AS amount
                  FROM fee_segments f JOIN exposures e ON e.loan_id = f.loan_id JOIN payee ON payee.scheme_id = e.scheme_id
                  WHERE f.bill_id IS NULL AND f.end_date <= :end AND e.county_code = :c
                  GROUP BY f.loan_id, e.bank_id, e.county_code, payee.account),
                bills AS (
                  INSERT INTO fee_bills (loan_id, bank_id, county_code, payee_account, period_start, period_end, amount, billed_by)
                  SELECT loan_id, bank_id, county_code, account, period_start, :end, amount, :by FROM grouped
                  ON CONFLICT (loan_id, period_end) DO NOTHING
                  RETURNING id, loan_id, amount)
                UPDATE fee_segments f SET bill_id = bills.id FROM bills
                WHERE f.loan_id = bills.loan_id AND f.bill_id IS NULL AND f.end_date <= :end
                RETURNING bills.id, bills.amount"""),
        {"c": county_code, "end": period_end, "s": scheme_ids, "a": payees, "by": billed_by},
    )
    billed = {r[0]: Decimal(r[1]) for r in result}
    return len(billed), sum(billed.values(), Decimal("0.00"))


async def list_fee_bills(session: AsyncSession, *, payee: str | None, bank_id: str | None, prefix: str | None,
                         loan_id: str | None, after_id: int, limit: int) -> list[Row]:
    return await _rows(session, """
        SELECT * FROM fee_bills WHERE id > :after AND (CAST(:pa AS text) IS NULL OR payee_account = :pa)
          AND (CAST(:b AS text) IS NULL OR bank_id = :b) AND (CAST(:p AS text) IS NULL OR county_code LIKE :p || '%')
          AND (CAST(:l AS text) IS NULL OR loan_id = :l)
        ORDER BY id LIMIT :limit""", after=after_id, pa=payee, b=bank_id, p=prefix, l=loan_id, limit=limit)


# ---- figures ----------------------------------------------------------------------------------


async def claim_figures(session: AsyncSession, *, prefix: str | None, bank_id: str | None) -> Row:
    row = await _one(session, """
        SELECT count(*) AS claims, coalesce(sum(loss), 0) AS loss, coalesce(sum(recovered), 0) AS recovered FROM claims
        WHERE (CAST(:p AS text) IS NULL OR village_code LIKE :p || '%') AND (CAST(:b AS text) IS NULL OR bank_id = :b)""",
                     p=prefix, b=bank_id)
    assert row is not None
    return row


async def party_figures(session: AsyncSession, *, prefix: str | None, bank_id: str | None) -> list[Row]:
    return await _rows(session, """
        SELECT cp.party, cp.party_account, sum(cp.amount) AS claimed, sum(cp.recovered) AS recovered,
               coalesce(sum(o.amount) FILTER (WHERE o.status = 'open'), 0) AS obligations_open,
               coalesce(sum(o.amount) FILTER (WHERE o.status = 'settled'), 0) AS obligations_settled
        FROM claim_parts cp JOIN claims c ON c.id = cp.claim_id
        LEFT JOIN obligations o ON o.claim_id = cp.claim_id AND o.party = cp.party
        WHERE (CAST(:p AS text) IS NULL OR c.village_code LIKE :p || '%') AND (CAST(:b AS text) IS NULL OR c.bank_id = :b)
        GROUP BY cp.party, cp.party_account ORDER BY cp.party, cp.party_account""", p=prefix, b=bank_id)


async def waiting_by_fund(session: AsyncSession) -> dict[int, tuple[int, Decimal]]:
    rows = await _rows(session, """SELECT fund_id, count(*) AS n, sum(government_part) AS amount FROM claims
                                   WHERE status = 'awaiting_funds' GROUP BY fund_id""")
    return {r["fund_id"]: (r["n"], Decimal(r["amount"])) for r in rows}


async def breaker_counts(session: AsyncSession, prefix: str | None) -> dict[str, int]:
    rows = await _rows(session, """SELECT level, count(*) AS n FROM breakers WHERE state = 'broken'
                                   AND (CAST(:p AS text) IS NULL OR code LIKE :p || '%') GROUP BY level""", p=prefix)
    return {r["level"]: r["n"] for r in rows}


# ---- webhooks (outbox) ------------------------------------------------------------------------


async def enqueue_claims_settled(session: AsyncSession, *, claim_ids: Sequence[int], paid_on: date) -> None:
    """One ``claim.settled`` outbox message per claim whose government part was just paid, in the
    paying transaction, set-based. The message id is derived from the claim: a claim is settled
    once, and the gateway dedupes deliveries by it."""
    if not claim_ids:
        return
    await session.execute(
        text("""INSERT INTO outbox_messages (message_id, topic, payload)
                SELECT 'claim.settled:' || c.id, 'claim.settled', jsonb_build_object(
                  'bank_id', c.bank_id, 'claim_id', c.id, 'loan_id', c.loan_id, 'loss', CAST(c.loss AS text),
                  'paid_on', CAST(CAST(:paid_on AS date) AS text),
                  'parts', (SELECT jsonb_agg(jsonb_build_object(
                                     'party', p.party, 'amount', CAST(p.amount AS text),
                                     'status', CASE WHEN p.party = 'government' THEN 'paid' ELSE coalesce(o.status, 'open') END)
                                   ORDER BY p.position)
                            FROM claim_parts p LEFT JOIN obligations o ON o.claim_id = p.claim_id AND o.party = p.party
                            WHERE p.claim_id = c.id))
                FROM claims c WHERE c.id = ANY(CAST(:ids AS bigint[])) ORDER BY c.id
                ON CONFLICT (message_id) DO NOTHING"""),
        {"ids": list(claim_ids), "paid_on": paid_on},
    )


# ---- exports ----------------------------------------------------------------------------------

# Visible to an export: written by a transaction that had finished when its first page was read.
_IN_EXPORT = "pg_visible_in_snapshot(CAST(CAST({t}.txid AS text) AS xid8), CAST(CAST(:snapshot AS text) AS pg_snapshot))"


async def export_snapshot(session: AsyncSession) -> str:
    """The high-water mark of a new export: the current snapshot (``xmin:xmax:in-flight xids``)."""
    return str(await session.scalar(text("SELECT CAST(pg_current_snapshot() AS text)")))


async def export_claims(session: AsyncSession, *, snapshot: str, after_id: int, prefix: str | None, bank_id: str | None,
                        filed_from: date | None, filed_to: date | None, limit: int) -> list[Row]:
    return await _rows(session, f"""
        SELECT c.id, c.loan_id, c.bank_id, c.borrower_type, c.village_code, c.county_code, f.code AS fund_code,
               c.business_date AS filed_on, c.status, c.paid_at, c.days_past_due, c.covered_principal, c.covered_interest,
               c.loss, c.government_part, c.recovered
        FROM claims c JOIN funds f ON f.id = c.fund_id
        WHERE c.id > :after AND {_IN_EXPORT.format(t="c")}
          AND (CAST(:p AS text) IS NULL OR c.village_code LIKE :p || '%') AND (CAST(:b AS text) IS NULL OR c.bank_id = :b)
          AND (CAST(:a AS date) IS NULL OR c.business_date >= :a) AND (CAST(:z AS date) IS NULL OR c.business_date <= :z)
        ORDER BY c.id LIMIT :limit""", snapshot=snapshot, after=after_id, p=prefix, b=bank_id, a=filed_from, z=filed_to, limit=limit)


async def claim_part_rows(session: AsyncSession, claim_ids: Sequence[int]) -> list[Row]:
    """Each claim's parts with their settlement status (government: the claim's; others: the obligation's)."""
    return await _rows(session, """
        SELECT p.claim_id, p.party, p.party_account, p.share, p.amount, p.recovered,
               CASE WHEN p.party = 'government' THEN c.status ELSE o.status END AS status
        FROM claim_parts p JOIN claims c ON c.id = p.claim_id
        LEFT JOIN obligations o ON o.claim_id = p.claim_id AND o.party = p.party
        WHERE p.claim_id = ANY(CAST(:ids AS bigint[])) ORDER BY p.claim_id, p.position""", ids=list(claim_ids))


async def export_breaker_changes(session: AsyncSession, *, snapshot: str, after_id: int, prefix: str | None,
                                 changed_from: date | None, changed_to: date | None, limit: int) -> list[Row]:
    return await _rows(session, f"""
        SELECT h.id, h.level, h.code, h.county_code, h.from_state, h.to_state, h.ratio, h.threshold, h.rule,
               h.business_date AS changed_on, h.at, h.actor, h.reason
        FROM breaker_history h
        WHERE h.id > :after AND {_IN_EXPORT.format(t="h")}
          AND (CAST(:p AS text) IS NULL OR h.code LIKE :p || '%')
          AND (CAST(:a AS date) IS NULL OR h.business_date >= :a) AND (CAST(:z AS date) IS NULL OR h.business_date <= :z)
        ORDER BY h.id LIMIT :limit""", snapshot=snapshot, after=after_id, p=prefix, a=changed_from, z=changed_to, limit=limit)


# ---- business metrics ---------------------------------------------------------------------------


async def metric_funds(session: AsyncSession) -> list[Row]:
    """Per fund: balance and covered outstanding (one grouped pass over the live covered loans)."""
    return await _rows(session, """
        SELECT f.code, f.county_code, f.balance, coalesce(x.covered, 0) AS covered_outstanding
        FROM funds f LEFT JOIN (
          SELECT county_code, sum(covered_principal) AS covered FROM exposures
          WHERE covered AND status IN ('active', 'overdue', 'defaulted') GROUP BY county_code) x ON x.county_code = f.county_code
        ORDER BY f.code""")
