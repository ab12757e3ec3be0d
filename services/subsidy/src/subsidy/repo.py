"""Every query of the subsidy service.

Bulk work (settlement, payment references, household status) is set-based SQL: INSERT … SELECT in
chunks of loans, window functions for the pro-rata split, ``unnest`` arrays for lists.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from subsidy.domain import ScheduledYear
from subsidy.models import FundJournal, FundPosting, PlanAllocation, SettlementBatch, SubsidyPlan


def violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint an IntegrityError broke (asyncpg reports it on the cause)."""
    cause = getattr(exc.orig, "__cause__", None)
    return getattr(cause, "constraint_name", None)


# ---------------------------------------------------------------- plans


async def insert_plan(session: AsyncSession, plan: SubsidyPlan, allocations: Sequence[tuple[str, Decimal]]) -> SubsidyPlan:
    async with session.begin_nested():
        session.add(plan)
        await session.flush()
    await replace_allocations(session, plan_id=plan.id or 0, allocations=allocations)
    return plan


async def get_plan(session: AsyncSession, plan_id: int, *, for_update: bool = False) -> SubsidyPlan | None:
    stmt = select(SubsidyPlan).where(SubsidyPlan.id == plan_id)  # type: ignore[arg-type]
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()


async def list_plans(
    session: AsyncSession, *, after_id: int, limit: int, county_code: str | None, year: int | None
) -> list[SubsidyPlan]:
    stmt = select(SubsidyPlan).where(SubsidyPlan.id > after_id)  # type: ignore[arg-type,operator]
    if county_code:
        stmt = stmt.where(SubsidyPlan.county_code == county_code)  # type: ignore[arg-type]
    if year:
        stmt = stmt.where(SubsidyPlan.year == year)  # type: ignore[arg-type]
    return list((await session.execute(stmt.order_by(SubsidyPlan.id).limit(limit))).scalars())  # type: ignore[arg-type]


async def allocations_for(session: AsyncSession, plan_ids: Sequence[int]) -> dict[int, list[PlanAllocation]]:
    out: dict[int, list[PlanAllocation]] = {pid: [] for pid in plan_ids}
    if not plan_ids:
        return out
    rows = await session.execute(
        select(PlanAllocation).where(PlanAllocation.plan_id.in_(plan_ids)).order_by(PlanAllocation.township_code)  # type: ignore[attr-defined,arg-type]
    )
    for alloc in rows.scalars():
        out[alloc.plan_id].append(alloc)
    return out


async def replace_allocations(session: AsyncSession, *, plan_id: int, allocations: Sequence[tuple[str, Decimal]]) -> None:
    await session.execute(text("DELETE FROM plan_allocations WHERE plan_id = :p"), {"p": plan_id})
    if allocations:
        await session.execute(
            text(
                "INSERT INTO plan_allocations (plan_id, township_code, loan_volume) "
                "SELECT :p, t, v FROM unnest(CAST(:codes AS varchar[]), CAST(:volumes AS numeric[])) AS u(t, v)"
            ),
            {"p": plan_id, "codes": [a[0] for a in allocations], "volumes": [a[1] for a in allocations]},
        )


async def set_total_fund(session: AsyncSession, *, plan_id: int, total_fund: Decimal) -> None:
    await session.execute(text("UPDATE subsidy_plans SET total_fund = :f WHERE id = :p"), {"f": total_fund, "p": plan_id})


async def change_fund_committed(session: AsyncSession, *, plan_id: int, committed: Decimal, paid: Decimal) -> None:
    """Move the plan's reserved and paid figures by the given deltas; the CHECK keeps them in the fund."""
    await session.execute(
        text("UPDATE subsidy_plans SET fund_committed = fund_committed + :c, fund_paid = fund_paid + :d WHERE id = :p"),
        {"c": committed, "d": paid, "p": plan_id},
    )


async def post_journal(
    session: AsyncSession, *, plan_id: int, batch_id: int | None, kind: str, memo: str, legs: Sequence[tuple[str, Decimal]]
) -> None:
    """One balanced movement (复式记账); zero legs are left out, an all-zero journal is not written."""
    legs = [(account, amount) for account, amount in legs if amount != 0]
    if not legs:
        return
    journal = FundJournal(plan_id=plan_id, batch_id=batch_id, kind=kind, memo=memo)
    session.add(journal)
    await session.flush()
    session.add_all([FundPosting(journal_id=journal.id or 0, plan_id=plan_id, account=a, amount=m) for a, m in legs])
    await session.flush()


async def ledger_balances(session: AsyncSession, plan_ids: Sequence[int]) -> dict[tuple[int, str], Decimal]:
    if not plan_ids:
        return {}
    rows = await session.execute(
        text("SELECT plan_id, account, sum(amount) FROM fund_postings WHERE plan_id = ANY(:ids) GROUP BY plan_id, account"),
        {"ids": list(plan_ids)},
    )
    return {(r[0], r[1]): r[2] for r in rows}


async def plan_covering(session: AsyncSession, *, county_code: str, day: date) -> SubsidyPlan | None:
    stmt = select(SubsidyPlan).where(
        SubsidyPlan.county_code == county_code,  # type: ignore[arg-type]
        SubsidyPlan.period_start <= day,  # type: ignore[arg-type,operator]
        SubsidyPlan.period_end >= day,  # type: ignore[arg-type,operator]
    )
    return (await session.execute(stmt)).scalar_one_or_none()


# ---------------------------------------------------------------- loan events


async def record_event(session: AsyncSession, *, seq: int, loan_id: str, type_: str, business_date: date, data: dict[str, Any]) -> bool:
    """True when the event is new; an event seen before (same ``seq``) is not applied again."""
    row = await session.execute(
        text(
            "INSERT INTO loan_events (seq, loan_id, type, business_date, data) VALUES (:s, :l, :t, :d, CAST(:j AS jsonb)) "
            "ON CONFLICT (seq) DO NOTHING RETURNING seq"
        ),
        {"s": seq, "l": loan_id, "t": type_, "d": business_date, "j": _json(data)},
    )
    return row.scalar_one_or_none() is not None


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, default=str, ensure_ascii=False)


async def upsert_account(session: AsyncSession, *, loan_id: str, seq: int, common: dict[str, Any]) -> None:
    """Create the account from an event's common attributes, or refresh them from a newer event."""
    await session.execute(
        text(
            """
            INSERT INTO loan_accounts (loan_id, borrower_type, household_id, enterprise_id, registered_poor, village_code,
                township_code, county_code, bank_id, principal, annual_rate, start_date, maturity_date, industry,
                driven_households, status, status_seq, outstanding_principal, overdue_principal, principal_repaid, last_seq)
            VALUES (:loan_id, :borrower_type, :household_id, :enterprise_id, :registered_poor, :village_code,
                :township_code, :county_code, :bank_id, :principal, :annual_rate, :start_date, :maturity_date, :industry,
                CAST(:driven_households AS varchar[]), 'active', 0, :principal, 0, 0, :seq)
            ON CONFLICT (loan_id) DO UPDATE SET
                borrower_type = excluded.borrower_type, household_id = excluded.household_id,
                enterprise_id = excluded.enterprise_id, registered_poor = excluded.registered_poor,
                village_code = excluded.village_code, township_code = excluded.township_code,
                county_code = excluded.county_code, bank_id = excluded.bank_id, principal = excluded.principal,
                annual_rate = excluded.annual_rate, start_date = excluded.start_date,
                maturity_date = excluded.maturity_date, industry = excluded.industry,
                driven_households = excluded.driven_households, last_seq = excluded.last_seq, updated_at = now()
            WHERE loan_accounts.last_seq < excluded.last_seq
            """
        ),
        {**common, "loan_id": loan_id, "seq": seq},
    )


async def set_disbursement(session: AsyncSession, *, loan_id: str, purpose: str | None, term_months: int | None) -> None:
    await session.execute(
        text("UPDATE loan_accounts SET purpose = :p, term_months = :t WHERE loan_id = :l"),
        {"p": purpose, "t": term_months, "l": loan_id},
    )


async def upsert_loan_years(session: AsyncSession, *, loan_id: str, years: Sequence[ScheduledYear]) -> None:
    await session.execute(
        text(
            """
            INSERT INTO loan_years (loan_id, loan_year, start_date, due_date, opening_principal, interest_due, principal_due)
            SELECT :loan_id, y, s, d, o, i, p
            FROM unnest(CAST(:ys AS smallint[]), CAST(:ss AS date[]), CAST(:ds AS date[]), CAST(:os AS numeric[]),
                        CAST(:is_ AS numeric[]), CAST(:ps AS numeric[])) AS u(y, s, d, o, i, p)
            ON CONFLICT (loan_id, loan_year) DO UPDATE SET start_date = excluded.start_date, due_date = excluded.due_date,
                opening_principal = excluded.opening_principal, interest_due = excluded.interest_due,
                principal_due = excluded.principal_due
            """
        ),
        {
            "loan_id": loan_id,
            "ys": [y.loan_year for y in years],
            "ss": [y.start_date for y in years],
            "ds": [y.due_date for y in years],
            "os": [y.opening_principal for y in years],
            "is_": [y.interest_due for y in years],
            "ps": [y.principal_due for y in years],
        },
    )


async def record_repayment(session: AsyncSession, *, seq: int, loan_id: str, data: dict[str, Any], loan_start: date) -> None:
    """A repayment counts toward its loan-year: interest paid (and how often late), principal paid
    (and whether late); a year the schedule did not announce is opened from the repayment itself."""
    await session.execute(
        text(
            "INSERT INTO loan_payments (seq, loan_id, loan_year, kind, amount, value_date, due_date, late, bank_reference) "
            "VALUES (:seq, :loan_id, :loan_year, :kind, :amount, :value_date, :due_date, :late, :bank_reference)"
        ),
        {
            "seq": seq, "loan_id": loan_id, "loan_year": data["loan_year"], "kind": data["kind"], "amount": data["amount"],
            "value_date": data["value_date"], "due_date": data["due_date"], "late": data["late"],
            "bank_reference": data.get("bank_reference"),
        },
    )
    interest = data["kind"] == "interest"
    await session.execute(
        text(
            """
            INSERT INTO loan_years (loan_id, loan_year, start_date, due_date, opening_principal, interest_due, principal_due,
                interest_paid, principal_paid, late_interest_payments, principal_paid_late, last_interest_paid_on,
                last_principal_paid_on)
            VALUES (:loan_id, :loan_year, LEAST(CAST(:start AS date), CAST(:due_date AS date)), CAST(:due_date AS date), 0, 0, 0,
                CAST(:ip AS numeric), CAST(:pp AS numeric), :li, CAST(:pl AS boolean), CAST(:lio AS date), CAST(:lpo AS date))
            ON CONFLICT (loan_id, loan_year) DO UPDATE SET
                interest_paid = loan_years.interest_paid + excluded.interest_paid,
                principal_paid = loan_years.principal_paid + excluded.principal_paid,
                late_interest_payments = loan_years.late_interest_payments + excluded.late_interest_payments,
                principal_paid_late = loan_years.principal_paid_late OR excluded.principal_paid_late,
                last_interest_paid_on = GREATEST(loan_years.last_interest_paid_on, excluded.last_interest_paid_on),
                last_principal_paid_on = GREATEST(loan_years.last_principal_paid_on, excluded.last_principal_paid_on)
            """
        ),
        {
            "loan_id": loan_id, "loan_year": data["loan_year"], "start": loan_start, "due_date": data["due_date"],
            "ip": data["amount"] if interest else Decimal(0), "pp": Decimal(0) if interest else data["amount"],
            "li": 1 if interest and data["late"] else 0, "pl": (not interest) and data["late"],
            "lio": data["value_date"] if interest else None, "lpo": None if interest else data["value_date"],
        },
    )
    if not interest:
        # Principal repaid cures overdue principal; a loan whose overdue principal is all repaid is active again.
        await session.execute(
            text(
                """
                UPDATE loan_accounts SET principal_repaid = principal_repaid + :amount,
                    overdue_principal = GREATEST(overdue_principal - :amount, 0),
                    status = CASE WHEN status = 'overdue' AND overdue_principal <= :amount THEN 'active' ELSE status END,
                    outstanding_principal = CASE WHEN :seq > status_seq AND CAST(:outstanding AS numeric) IS NOT NULL
                        THEN CAST(:outstanding AS numeric) ELSE outstanding_principal END,
                    updated_at = now()
                WHERE loan_id = :loan_id
                """
            ),
            {"amount": data["amount"], "seq": seq, "outstanding": data.get("outstanding_principal"), "loan_id": loan_id},
        )


async def last_loan_year(session: AsyncSession, loan_id: str) -> dict[str, Any] | None:
    row = await session.execute(
        text("SELECT * FROM loan_years WHERE loan_id = :l ORDER BY loan_year DESC LIMIT 1 FOR UPDATE"), {"l": loan_id}
    )
    found = row.first()
    return dict(found._mapping) if found else None


async def schedule_of(session: AsyncSession, loan_id: str) -> list[tuple[int, date, Decimal, Decimal]]:
    """The loan's years as (loan_year, due_date, interest_due, principal_due), locked for a reshape."""
    rows = await session.execute(
        text(
            "SELECT loan_year, due_date, interest_due, principal_due FROM loan_years WHERE loan_id = :l ORDER BY loan_year FOR UPDATE"
        ),
        {"l": loan_id},
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def roll_over_principal(session: AsyncSession, *, loan_id: str, loan_year: int) -> None:
    """续贷: the principal a year did not repay moves on to the new years; the year owes only what was paid."""
    await session.execute(
        text("UPDATE loan_years SET principal_due = principal_paid WHERE loan_id = :l AND loan_year = :y"), {"l": loan_id, "y": loan_year}
    )


async def extend_year(session: AsyncSession, *, loan_id: str, loan_year: int, due_date: date, extra_interest: Decimal) -> None:
    await session.execute(
        text("UPDATE loan_years SET due_date = :d, interest_due = interest_due + :i WHERE loan_id = :l AND loan_year = :y"),
        {"d": due_date, "i": extra_interest, "l": loan_id, "y": loan_year},
    )


async def change_status(
    session: AsyncSession,
    *,
    loan_id: str,
    seq: int,
    status: str,
    outstanding: Decimal | None = None,
    overdue: Decimal | None = None,
    closed_on: date | None = None,
    maturity_date: date | None = None,
) -> None:
    """Apply a status event unless a newer one was applied already. 资金挪用 and 核销 are final."""
    await session.execute(
        text(
            """
            UPDATE loan_accounts SET
                status = CASE WHEN status IN ('diverted', 'written_off') AND :status <> 'written_off' THEN status ELSE :status END,
                status_seq = :seq,
                outstanding_principal = COALESCE(CAST(:outstanding AS numeric), outstanding_principal),
                overdue_principal = COALESCE(CAST(:overdue AS numeric), overdue_principal),
                closed_on = COALESCE(CAST(:closed_on AS date), closed_on),
                maturity_date = COALESCE(CAST(:maturity AS date), maturity_date),
                updated_at = now()
            WHERE loan_id = :loan_id AND status_seq < :seq
            """
        ),
        {
            "loan_id": loan_id, "seq": seq, "status": status, "outstanding": outstanding, "overdue": overdue,
            "closed_on": closed_on, "maturity": maturity_date,
        },
    )


async def upsert_households(session: AsyncSession, *, household_ids: Sequence[str], registered: Sequence[bool]) -> int:
    result = await session.execute(
        text(
            """
            INSERT INTO households (household_id, registered)
            SELECT h, r FROM unnest(CAST(:ids AS varchar[]), CAST(:regs AS boolean[])) AS u(h, r)
            ON CONFLICT (household_id) DO UPDATE SET registered = excluded.registered, updated_at = now()
            """
        ),
        {"ids": list(household_ids), "regs": list(registered)},
    )
    return int(getattr(result, "rowcount", 0) or 0)


# ---------------------------------------------------------------- accounts

_ACCOUNT_COLUMNS = """
    a.loan_id, a.borrower_type, a.household_id, a.enterprise_id, a.registered_poor,
    COALESCE(h.registered, a.registered_poor) AS household_registered, a.village_code, a.township_code, a.county_code,
    a.bank_id, a.principal, a.annual_rate, a.start_date, a.maturity_date, a.industry, a.purpose, a.term_months,
    a.driven_households, a.status, a.outstanding_principal, a.overdue_principal, a.principal_repaid, a.closed_on,
    COALESCE((SELECT sum(l.granted_amount) FROM settlement_lines l WHERE l.loan_id = a.loan_id AND l.claimed), 0) AS subsidy_granted
"""


async def list_accounts(
    session: AsyncSession,
    *,
    after: str | None,
    limit: int,
    region_prefix: str | None,
    household_id: str | None,
    bank_id: str | None,
    status: str | None,
) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            f"""
            SELECT {_ACCOUNT_COLUMNS}
            FROM loan_accounts a LEFT JOIN households h ON h.household_id = a.household_id
            WHERE (CAST(:after AS varchar) IS NULL OR a.loan_id > :after)
              AND (CAST(:prefix AS varchar) IS NULL OR a.village_code LIKE :prefix || '%')
              AND (CAST(:household AS varchar) IS NULL OR a.household_id = :household)
              AND (CAST(:bank AS varchar) IS NULL OR a.bank_id = :bank)
              AND (CAST(:status AS varchar) IS NULL OR a.status = :status)
            ORDER BY a.loan_id LIMIT :limit
            """
        ),
        {"after": after, "prefix": region_prefix, "household": household_id, "bank": bank_id, "status": status, "limit": limit},
    )
    return [dict(r._mapping) for r in rows]


async def get_account(session: AsyncSession, loan_id: str) -> dict[str, Any] | None:
    row = await session.execute(
        text(f"SELECT {_ACCOUNT_COLUMNS} FROM loan_accounts a LEFT JOIN households h ON h.household_id = a.household_id WHERE a.loan_id = :l"),
        {"l": loan_id},
    )
    found = row.first()
    return dict(found._mapping) if found else None


async def loan_years(session: AsyncSession, loan_id: str) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            """
            SELECT y.*, l.batch_id AS settled_batch_id, b.status AS settled_status, l.granted_amount
            FROM loan_years y
            LEFT JOIN settlement_lines l ON l.loan_id = y.loan_id AND l.loan_year = y.loan_year AND l.claimed
            LEFT JOIN settlement_batches b ON b.id = l.batch_id
            WHERE y.loan_id = :l ORDER BY y.loan_year
            """
        ),
        {"l": loan_id},
    )
    return [dict(r._mapping) for r in rows]


# ---------------------------------------------------------------- settlement

# The eligibility and amount rules of domain.exclusion_reason and domain.subsidy_for_year, for a
# chunk of loans at once. Keep the two in step: tests compare them loan-year by loan-year.
_SETTLE_CHUNK = """
WITH facts AS (
    SELECT a.loan_id, y.loan_year, a.borrower_type, COALESCE(a.household_id, a.enterprise_id) AS recipient_id,
        a.village_code, a.bank_id, a.status, a.overdue_principal, y.principal_paid_late, y.late_interest_payments,
        y.interest_due, y.interest_paid, y.principal_due, y.principal_paid,
        COALESCE(h.registered, a.registered_poor) AS household_registered,
        y.start_date AS year_start,
        LEAST(y.due_date, COALESCE(a.closed_on, y.due_date)) AS year_end,
        GREATEST(0, LEAST(LEAST(y.due_date, COALESCE(a.closed_on, y.due_date)),
                          CAST(a.start_date + make_interval(months => :term_months) AS date)) - y.start_date) AS days,
        LEAST(y.opening_principal, :cap) AS subsidised_principal,
        CASE WHEN :cap_at_loan_rate THEN LEAST(CAST(:rate AS numeric), a.annual_rate) ELSE CAST(:rate AS numeric) END AS rate,
        CASE WHEN a.borrower_type = 'enterprise' THEN (
            SELECT count(*) FROM unnest(a.driven_households) AS d(household_id)
            LEFT JOIN households dh ON dh.household_id = d.household_id
            WHERE COALESCE(dh.registered, true)) ELSE 0 END AS driven_count,
        y.opening_principal,
        COALESCE(a.closed_on < y.due_date, false) AS closed_early
    FROM loan_accounts a
    JOIN loan_years y ON y.loan_id = a.loan_id
    LEFT JOIN households h ON h.household_id = a.household_id
    WHERE a.county_code = :county AND a.township_code = :township AND a.loan_id > :after AND a.loan_id <= :upto
      -- a loan-year belongs to the period holding its last interest day (the day before it ends)
      AND LEAST(y.due_date, COALESCE(a.closed_on, y.due_date)) - 1 BETWEEN CAST(:period_start AS date) AND CAST(:period_end AS date)
      AND COALESCE(a.closed_on, y.due_date) > y.start_date  -- years that began after an early close have no interest days
      AND NOT EXISTS (SELECT 1 FROM settlement_lines s WHERE s.loan_id = y.loan_id AND s.loan_year = y.loan_year AND s.claimed)
), judged AS MATERIALIZED (
    SELECT f.*,
        LEAST(f.opening_principal, f.driven_count * CAST(:cap AS numeric)) AS driven_principal,
        CASE
            WHEN f.status = 'diverted' THEN 'diverted'
            WHEN f.status = 'written_off' THEN 'written_off'
            WHEN f.status = 'defaulted' OR f.overdue_principal > 0 OR f.principal_paid_late THEN 'principal_overdue'
            WHEN f.late_interest_payments >= :late_limit THEN 'late_interest'
            WHEN NOT f.closed_early AND (f.interest_paid < f.interest_due OR f.principal_paid < f.principal_due) THEN 'not_repaid'
            WHEN f.borrower_type = 'household' AND NOT f.household_registered THEN 'household_not_registered'
            WHEN f.days = 0 THEN 'outside_subsidy_term'
        END AS reason
    FROM facts f
), priced AS (
    SELECT j.*,
        round((j.subsidised_principal * j.rate + j.driven_principal * CAST(:driven_rate AS numeric)) * j.days / :basis, 2) AS amount
    FROM judged j
)
INSERT INTO settlement_lines (batch_id, loan_id, loan_year, recipient_type, recipient_id, village_code, bank_id, year_start,
    year_end, days, subsidised_principal, rate, driven_count, driven_principal, computed_amount, granted_amount, eligible,
    claimed, reason)
SELECT :batch_id, loan_id, loan_year, borrower_type, recipient_id, village_code, bank_id, year_start, year_end, days,
    subsidised_principal, rate, driven_count, driven_principal, amount,
    CASE WHEN reason IS NULL THEN amount ELSE 0 END, reason IS NULL, reason IS NULL, reason
FROM priced
"""


async def insert_batch(session: AsyncSession, batch: SettlementBatch) -> SettlementBatch:
    session.add(batch)
    await session.flush()
    return batch


async def last_loan_of_chunk(session: AsyncSession, *, county: str, township: str, after: str, chunk: int) -> str | None:
    return (
        await session.execute(
            text(
                "SELECT max(loan_id) FROM (SELECT loan_id FROM loan_accounts WHERE county_code = :c AND township_code = :t "
                "AND loan_id > :a ORDER BY loan_id LIMIT :n) AS c"
            ),
            {"c": county, "t": township, "a": after, "n": chunk},
        )
    ).scalar_one_or_none()


async def settle_chunk(session: AsyncSession, *, params: dict[str, Any]) -> None:
    """Judge and price one chunk of loans (``after`` < loan_id <= ``upto``) into the batch."""
    await session.execute(text(_SETTLE_CHUNK), params)


async def without_jit(session: AsyncSession) -> None:
    """Settlement statements are short and many: PostgreSQL's JIT compile costs more than it saves."""
    await session.execute(text("SET LOCAL jit = off"))


async def eligible_total(session: AsyncSession, batch_id: int) -> Decimal:
    value = await session.scalar(
        text("SELECT COALESCE(sum(computed_amount), 0) FROM settlement_lines WHERE batch_id = :b AND eligible"), {"b": batch_id}
    )
    return Decimal(value or 0)


async def grant_pro_rata(session: AsyncSession, *, batch_id: int, remaining: Decimal) -> None:
    """Share ``remaining`` over the batch's eligible lines in proportion to their computed amounts:
    each gets the floor of its share in fen, the fen left over go to the largest remainders (ties by
    loan id and year, byte order), as :func:`kit.money.split_by_shares` does."""
    # The lines were inserted moments ago in this transaction: without fresh statistics the planner
    # takes the table for empty and joins the ranked lines back row by row (minutes for 100,000 lines).
    await session.execute(text("ANALYZE settlement_lines"))
    await session.execute(
        text(
            """
            WITH t AS (
                SELECT sum(computed_amount) * 100 AS weight FROM settlement_lines WHERE batch_id = :b AND eligible
            ), s AS (
                SELECT l.loan_id, l.loan_year,
                    div(CAST(:fen AS numeric) * l.computed_amount * 100, t.weight) AS base_fen,
                    mod(CAST(:fen AS numeric) * l.computed_amount * 100, t.weight) AS rest
                FROM settlement_lines l, t WHERE l.batch_id = :b AND l.eligible
            ), r AS (
                SELECT loan_id, loan_year, base_fen,
                    row_number() OVER (ORDER BY rest DESC, loan_id COLLATE "C", loan_year) AS rank,
                    CAST(:fen AS numeric) - sum(base_fen) OVER () AS leftover
                FROM s
            )
            UPDATE settlement_lines l
            SET granted_amount = (r.base_fen + CASE WHEN r.rank <= r.leftover THEN 1 ELSE 0 END) / 100,
                reason = CASE WHEN (r.base_fen + CASE WHEN r.rank <= r.leftover THEN 1 ELSE 0 END) / 100 < l.computed_amount
                    THEN 'fund_exhausted_pro_rata' ELSE NULL END
            FROM r
            WHERE l.batch_id = :b AND l.loan_id = r.loan_id AND l.loan_year = r.loan_year
            """
        ),
        {"b": batch_id, "fen": int(remaining * 100)},
    )


async def insert_recipients(session: AsyncSession, batch_id: int) -> None:
    await session.execute(
        text(
            """
            INSERT INTO settlement_recipients (batch_id, recipient_id, recipient_type, village_code, loan_years, amount)
            SELECT :b, recipient_id, min(recipient_type), min(village_code), count(*), sum(granted_amount)
            FROM settlement_lines WHERE batch_id = :b AND granted_amount > 0
            GROUP BY recipient_id
            """
        ),
        {"b": batch_id},
    )


async def batch_counts(session: AsyncSession, batch_id: int) -> dict[str, Any]:
    row = await session.execute(
        text(
            """
            SELECT count(*) FILTER (WHERE eligible) AS eligible_count,
                   count(*) FILTER (WHERE NOT eligible) AS excluded_count,
                   count(*) FILTER (WHERE eligible AND granted_amount < computed_amount) AS reduced_count,
                   COALESCE(sum(computed_amount) FILTER (WHERE eligible), 0) AS computed_total,
                   COALESCE(sum(granted_amount), 0) AS granted_total,
                   (SELECT count(*) FROM settlement_recipients r WHERE r.batch_id = :b) AS recipient_count
            FROM settlement_lines WHERE batch_id = :b
            """
        ),
        {"b": batch_id},
    )
    return dict(row.one()._mapping)


async def excluded_by_reason(session: AsyncSession, batch_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {b: {} for b in batch_ids}
    if not batch_ids:
        return out
    rows = await session.execute(
        text(
            "SELECT batch_id, reason, count(*) FROM settlement_lines WHERE batch_id = ANY(:ids) AND reason IS NOT NULL "
            "GROUP BY batch_id, reason ORDER BY reason"
        ),
        {"ids": list(batch_ids)},
    )
    for batch_id, reason, count in rows:
        out[batch_id][reason] = count
    return out


async def get_batch(session: AsyncSession, batch_id: int, *, for_update: bool = False) -> SettlementBatch | None:
    stmt = select(SettlementBatch).where(SettlementBatch.id == batch_id)  # type: ignore[arg-type]
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()


async def list_batches(
    session: AsyncSession, *, after_id: int, limit: int, region_prefix: str | None, plan_id: int | None, status: str | None
) -> list[SettlementBatch]:
    stmt = select(SettlementBatch).where(SettlementBatch.id > after_id)  # type: ignore[arg-type,operator]
    if region_prefix:
        stmt = stmt.where(SettlementBatch.township_code.startswith(region_prefix))  # type: ignore[attr-defined,arg-type]
    if plan_id:
        stmt = stmt.where(SettlementBatch.plan_id == plan_id)  # type: ignore[arg-type]
    if status:
        stmt = stmt.where(SettlementBatch.status == status)  # type: ignore[arg-type]
    return list((await session.execute(stmt.order_by(SettlementBatch.id).limit(limit))).scalars())  # type: ignore[arg-type]


async def batch_lines(
    session: AsyncSession, *, batch_id: int, after: tuple[str, int] | None, limit: int, eligible: bool | None, reason: str | None
) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            """
            SELECT * FROM settlement_lines
            WHERE batch_id = :b
              AND (CAST(:after_loan AS varchar) IS NULL OR (loan_id, loan_year) > (CAST(:after_loan AS varchar), CAST(:after_year AS smallint)))
              AND (CAST(:eligible AS boolean) IS NULL OR eligible = :eligible)
              AND (CAST(:reason AS text) IS NULL OR reason = :reason)
            ORDER BY loan_id, loan_year LIMIT :limit
            """
        ),
        {
            "b": batch_id, "after_loan": after[0] if after else None, "after_year": after[1] if after else None,
            "eligible": eligible, "reason": reason, "limit": limit,
        },
    )
    return [dict(r._mapping) for r in rows]


async def set_batch(session: AsyncSession, *, batch_id: int, **fields: Any) -> None:
    assignments = ", ".join(f"{name} = :{name}" for name in fields)
    await session.execute(text(f"UPDATE settlement_batches SET {assignments} WHERE id = :batch_id"), {**fields, "batch_id": batch_id})


async def stamp_approval(session: AsyncSession, batch_id: int) -> None:
    await session.execute(text("UPDATE settlement_batches SET approved_at = now() WHERE id = :b"), {"b": batch_id})


async def release_claims(session: AsyncSession, batch_id: int) -> None:
    """A cancelled draft frees its loan-years for a later batch."""
    await session.execute(text("UPDATE settlement_lines SET claimed = false WHERE batch_id = :b AND claimed"), {"b": batch_id})


async def record_payment_references(
    session: AsyncSession, *, batch_id: int, recipient_ids: Sequence[str], references: Sequence[str]
) -> list[str]:
    """Set each recipient's payment reference; returns the ids that are not recipients of the batch."""
    rows = await session.execute(
        text(
            """
            WITH v AS (SELECT * FROM unnest(CAST(:ids AS varchar[]), CAST(:refs AS text[])) AS u(recipient_id, ref)),
            upd AS (
                UPDATE settlement_recipients r SET payment_reference = v.ref FROM v
                WHERE r.batch_id = :b AND r.recipient_id = v.recipient_id RETURNING r.recipient_id
            )
            SELECT v.recipient_id FROM v WHERE v.recipient_id NOT IN (SELECT recipient_id FROM upd) ORDER BY 1
            """
        ),
        {"b": batch_id, "ids": list(recipient_ids), "refs": list(references)},
    )
    return [r[0] for r in rows]


async def unpaid_recipients(session: AsyncSession, *, batch_id: int, limit: int) -> list[str]:
    rows = await session.execute(
        text(
            "SELECT recipient_id FROM settlement_recipients WHERE batch_id = :b AND payment_reference IS NULL "
            "ORDER BY recipient_id LIMIT :n"
        ),
        {"b": batch_id, "n": limit},
    )
    return [r[0] for r in rows]


async def register_rows(
    session: AsyncSession, *, batch_id: int, village_code: str | None = None, page: int = 5000
) -> AsyncIterator[list[dict[str, Any]]]:
    """The payout register's lines in pages (keyset), so a large batch streams in constant memory."""
    after: tuple[str, int] | None = None
    while True:
        rows = await session.execute(
            text(
                """
                SELECT l.recipient_id, l.recipient_type, l.loan_id, l.loan_year, l.village_code, l.bank_id, l.year_start,
                    l.year_end, l.days, l.subsidised_principal, l.rate, l.driven_count, l.granted_amount, l.reason,
                    r.payment_reference
                FROM settlement_lines l
                LEFT JOIN settlement_recipients r ON r.batch_id = l.batch_id AND r.recipient_id = l.recipient_id
                WHERE l.batch_id = :b AND l.granted_amount > 0
                  AND (CAST(:village AS varchar) IS NULL OR l.village_code = :village)
                  AND (CAST(:al AS varchar) IS NULL OR (l.loan_id, l.loan_year) > (CAST(:al AS varchar), CAST(:ay AS smallint)))
                ORDER BY l.loan_id, l.loan_year LIMIT :n
                """
            ),
            {"b": batch_id, "village": village_code, "al": after[0] if after else None, "ay": after[1] if after else None, "n": page},
        )
        chunk = [dict(r._mapping) for r in rows]
        if not chunk:
            return
        yield chunk
        after = (chunk[-1]["loan_id"], chunk[-1]["loan_year"])


async def list_notices(
    session: AsyncSession,
    *,
    after: tuple[int, str] | None,
    limit: int,
    recipient_id: str | None,
    region_prefix: str | None,
    batch_id: int | None,
) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            """
            SELECT r.batch_id, b.plan_id, p.year AS plan_year, b.township_code, r.recipient_id, r.recipient_type,
                r.village_code, r.loan_years, r.amount, b.status AS batch_status, r.payment_reference
            FROM settlement_recipients r
            JOIN settlement_batches b ON b.id = r.batch_id
            JOIN subsidy_plans p ON p.id = b.plan_id
            WHERE b.status IN ('approved', 'paid', 'reconciled')
              AND (CAST(:after_batch AS integer) IS NULL OR (r.batch_id, r.recipient_id) > (CAST(:after_batch AS integer), CAST(:after_id AS varchar)))
              AND (CAST(:recipient AS varchar) IS NULL OR r.recipient_id = :recipient)
              AND (CAST(:prefix AS varchar) IS NULL OR r.village_code LIKE :prefix || '%')
              AND (CAST(:batch AS integer) IS NULL OR r.batch_id = :batch)
            ORDER BY r.batch_id, r.recipient_id LIMIT :limit
            """
        ),
        {
            "after_batch": after[0] if after else None, "after_id": after[1] if after else None, "recipient": recipient_id,
            "prefix": region_prefix, "batch": batch_id, "limit": limit,
        },
    )
    return [dict(r._mapping) for r in rows]


async def get_recipient(session: AsyncSession, *, batch_id: int, recipient_id: str) -> dict[str, Any] | None:
    row = await session.execute(
        text("SELECT * FROM settlement_recipients WHERE batch_id = :b AND recipient_id = :r"), {"b": batch_id, "r": recipient_id}
    )
    found = row.first()
    return dict(found._mapping) if found else None


async def count_register_rows(session: AsyncSession, *, batch_id: int, village_code: str | None) -> int:
    return int(
        await session.scalar(
            text(
                "SELECT count(*) FROM settlement_lines WHERE batch_id = :b AND granted_amount > 0 "
                "AND (CAST(:village AS varchar) IS NULL OR village_code = :village)"
            ),
            {"b": batch_id, "village": village_code},
        )
        or 0
    )


async def recipient_lines(session: AsyncSession, *, batch_id: int, recipient_id: str) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            "SELECT * FROM settlement_lines WHERE batch_id = :b AND recipient_id = :r AND granted_amount > 0 ORDER BY loan_id, loan_year"
        ),
        {"b": batch_id, "r": recipient_id},
    )
    return [dict(r._mapping) for r in rows]


# ---------------------------------------------------------------- figures


async def paid_figures(session: AsyncSession, *, prefix_len: int, region_prefix: str | None, year: int | None) -> list[dict[str, Any]]:
    """Subsidy paid (batches paid or reconciled) by region and plan year."""
    rows = await session.execute(
        text(
            """
            SELECT rpad(left(l.village_code, :n), 12, '0') AS region_code, p.year, count(DISTINCT l.recipient_id) AS recipients,
                count(*) AS loan_years, sum(l.granted_amount) AS amount
            FROM settlement_lines l
            JOIN settlement_batches b ON b.id = l.batch_id
            JOIN subsidy_plans p ON p.id = b.plan_id
            WHERE b.status IN ('paid', 'reconciled') AND l.granted_amount > 0
              AND (CAST(:prefix AS varchar) IS NULL OR l.village_code LIKE :prefix || '%')
              AND (CAST(:year AS integer) IS NULL OR p.year = :year)
            GROUP BY 1, 2 ORDER BY 1, 2
            """
        ),
        {"n": prefix_len, "prefix": region_prefix, "year": year},
    )
    return [dict(r._mapping) for r in rows]


async def paid_total(session: AsyncSession, *, region_prefix: str | None, year: int | None) -> dict[str, Any]:
    """The region's total paid (batches paid or reconciled), zeros when nothing was."""
    row = await session.execute(
        text(
            """
            SELECT count(DISTINCT l.recipient_id) AS recipients, count(*) AS loan_years, COALESCE(sum(l.granted_amount), 0) AS amount
            FROM settlement_lines l
            JOIN settlement_batches b ON b.id = l.batch_id
            JOIN subsidy_plans p ON p.id = b.plan_id
            WHERE b.status IN ('paid', 'reconciled') AND l.granted_amount > 0
              AND (CAST(:prefix AS varchar) IS NULL OR l.village_code LIKE :prefix || '%')
              AND (CAST(:year AS integer) IS NULL OR p.year = :year)
            """
        ),
        {"prefix": region_prefix, "year": year},
    )
    return dict(row.one()._mapping)


async def paid_by_county(session: AsyncSession) -> list[tuple[str, Decimal]]:
    """Subsidy paid per county, from the plans' running figures (a few rows, no scan of lines)."""
    rows = await session.execute(text("SELECT county_code, sum(fund_paid) FROM subsidy_plans GROUP BY county_code ORDER BY county_code"))
    return [(r[0], r[1]) for r in rows]


async def fund_remaining_by_plan(session: AsyncSession) -> list[tuple[int, Decimal]]:
    rows = await session.execute(text("SELECT id, total_fund - fund_committed FROM subsidy_plans ORDER BY id"))
    return [(r[0], r[1]) for r in rows]


# ---------------------------------------------------------------- webhooks (outbox)


async def stamp_payment(session: AsyncSession, batch_id: int) -> None:
    """Remember which transaction paid the batch (exports pin payments to their first snapshot)."""
    await session.execute(
        text("UPDATE settlement_batches SET paid_txid = CAST(CAST(pg_current_xact_id() AS text) AS bigint) WHERE id = :b"), {"b": batch_id}
    )


async def enqueue_paid_messages(session: AsyncSession, *, batch_id: int, max_lines: int) -> int:
    """One ``subsidy.paid`` outbox message per bank with loans paid in the batch (split in parts of
    ``max_lines`` lines for a very large bank), built set-based in this transaction. The message id
    names batch, bank and part, so the same message can never be queued twice."""
    result = await session.execute(
        text(
            """
            WITH paid AS (
                SELECT l.bank_id, l.loan_id, l.loan_year, l.recipient_type, l.recipient_id, l.granted_amount, r.payment_reference,
                    (row_number() OVER (PARTITION BY l.bank_id ORDER BY l.loan_id, l.loan_year) - 1) / :max_lines AS part
                FROM settlement_lines l
                JOIN settlement_recipients r ON r.batch_id = l.batch_id AND r.recipient_id = l.recipient_id
                WHERE l.batch_id = :b AND l.granted_amount > 0
            ), grouped AS (
                SELECT bank_id, part, jsonb_agg(
                    jsonb_build_object(
                        'loan_id', loan_id,
                        CASE WHEN recipient_type = 'enterprise' THEN 'enterprise_id' ELSE 'household_id' END, recipient_id,
                        'loan_year', loan_year, 'amount', CAST(granted_amount AS text), 'payment_reference', payment_reference
                    ) ORDER BY loan_id, loan_year) AS lines
                FROM paid GROUP BY bank_id, part
            )
            INSERT INTO outbox_messages (message_id, topic, payload)
            SELECT 'subsidy.paid:' || b.id || ':' || g.bank_id || ':' || (g.part + 1), 'subsidy.paid',
                jsonb_build_object(
                    'bank_id', g.bank_id, 'batch_id', b.id, 'plan_id', b.plan_id, 'township_code', b.township_code,
                    'paid_on', to_char(b.paid_on, 'YYYY-MM-DD'), 'part', g.part + 1,
                    'parts', max(g.part) OVER (PARTITION BY g.bank_id) + 1, 'lines', g.lines)
            FROM grouped g JOIN settlement_batches b ON b.id = :b
            ORDER BY g.bank_id, g.part
            """
        ),
        {"b": batch_id, "max_lines": max_lines},
    )
    return int(getattr(result, "rowcount", 0) or 0)


# ---------------------------------------------------------------- exports


async def current_snapshot(session: AsyncSession) -> str:
    """This moment's snapshot (``xmin:xmax:xip``): an export's high-water mark."""
    return str(await session.scalar(text("SELECT CAST(pg_current_snapshot() AS text)")))


# A batch counts for an export when the transaction that created it was visible in the first page's
# snapshot (or is the reader's own); its payment counts only if that was visible too, so a page
# sequence lists a fixed set of lines, each in a fixed period, however much commits in between.
_EXPORT_LINES = """
WITH own AS (
    SELECT CAST(CAST(pg_current_xact_id_if_assigned() AS text) AS bigint) AS txid, CAST(CAST(:snap AS text) AS pg_snapshot) AS snap
), seen AS (
    SELECT b.id, b.plan_id, p.year AS plan_year, b.county_code, b.township_code, b.status, b.paid_on, b.business_date,
        COALESCE(b.paid_txid IS NOT NULL AND (
            pg_visible_in_snapshot(CAST(CAST(b.paid_txid AS text) AS xid8), own.snap) OR b.paid_txid = own.txid
        ), false) AS paid_seen
    FROM settlement_batches b JOIN subsidy_plans p ON p.id = b.plan_id, own
    WHERE (pg_visible_in_snapshot(CAST(CAST(b.created_txid AS text) AS xid8), own.snap)
           OR b.created_txid IS NOT DISTINCT FROM own.txid)
      AND (CAST(:prefix AS varchar) IS NULL OR b.township_code LIKE left(:prefix, 9) || '%')
), batches AS (
    SELECT s.*, CASE WHEN s.paid_seen THEN s.paid_on ELSE s.business_date END AS period_date,
        CASE WHEN s.status IN ('paid', 'reconciled') AND NOT s.paid_seen THEN 'approved' ELSE s.status END AS batch_status
    FROM seen s
)
SELECT l.batch_id, b.plan_id, b.plan_year, b.batch_status, b.period_date, l.loan_id, l.loan_year, l.recipient_type AS borrower_type,
    CASE WHEN l.recipient_type = 'household' THEN l.recipient_id END AS household_id,
    CASE WHEN l.recipient_type = 'enterprise' THEN l.recipient_id END AS enterprise_id,
    l.village_code, b.township_code, b.county_code, l.bank_id, l.year_start, l.year_end, l.days, l.subsidised_principal, l.rate,
    l.computed_amount, l.granted_amount, l.eligible, l.reason,
    CASE WHEN b.paid_seen THEN b.paid_on END AS paid_on, r.payment_reference
FROM batches b
JOIN settlement_lines l ON l.batch_id = b.id
LEFT JOIN settlement_recipients r ON b.paid_seen AND r.batch_id = l.batch_id AND r.recipient_id = l.recipient_id AND l.granted_amount > 0
WHERE (CAST(:date_from AS date) IS NULL OR b.period_date >= :date_from)
  AND (CAST(:date_to AS date) IS NULL OR b.period_date <= :date_to)
  AND (CAST(:prefix AS varchar) IS NULL OR l.village_code LIKE :prefix || '%')
  AND (CAST(:bank AS varchar) IS NULL OR l.bank_id = :bank)
  AND (CAST(:ab AS integer) IS NULL
       OR (l.batch_id, l.loan_id, l.loan_year) > (CAST(:ab AS integer), CAST(:al AS varchar), CAST(:ay AS smallint)))
ORDER BY l.batch_id, l.loan_id, l.loan_year
LIMIT :limit
"""


async def export_lines(
    session: AsyncSession, *, snapshot: str, region_prefix: str | None, bank_id: str | None, date_from: date | None,
    date_to: date | None, after: tuple[int, str, int] | None, limit: int,
) -> list[dict[str, Any]]:
    """Settlement lines in keyset order (batch_id, loan_id, loan_year): unique, never changed, and
    increasing with every new batch."""
    rows = await session.execute(
        text(_EXPORT_LINES),
        {
            "snap": snapshot, "prefix": region_prefix, "bank": bank_id, "date_from": date_from, "date_to": date_to,
            "ab": after[0] if after else None, "al": after[1] if after else None, "ay": after[2] if after else None, "limit": limit,
        },
    )
    return [dict(r._mapping) for r in rows]
