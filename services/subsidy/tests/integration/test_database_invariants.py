"""Invariants the database keeps even if the service had a bug: fund never exceeded, a loan-year
paid once, the batch state machine, balanced journals, append-only records."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kit.testing import rolled_back

PLAN = (
    "INSERT INTO subsidy_plans (county_code, year, name, rate_kind, rate, cap_rate_at_loan_rate, day_basis, principal_cap, "
    "driven_household_rate, late_interest_limit, subsidy_term_months, period_start, period_end, total_fund, fund_committed, "
    "fund_paid, created_by) VALUES ('411224000000', :year, '', 'fixed', 0.0435, true, 365, 50000, 0.02, 2, 36, "
    ":start, :end, 100.00, 0, 0, 't') RETURNING id"
)


@pytest.fixture
async def conn(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with rolled_back(engine) as conn:
        yield conn


async def _plan(conn: AsyncConnection, year: int = 2026) -> int:
    from datetime import date

    return (await conn.execute(text(PLAN), {"year": year, "start": date(year, 1, 1), "end": date(year, 12, 31)})).scalar_one()


async def _batch(conn: AsyncConnection, plan_id: int) -> int:
    return (await conn.execute(text(
        "INSERT INTO settlement_batches (plan_id, county_code, township_code, period_start, period_end, business_date, status, "
        "computed_total, granted_total, remaining_before, fund_rule, eligible_count, excluded_count, reduced_count, recipient_count, "
        "created_by) VALUES (:p, '411224000000', '411224101000', '2026-01-01', '2026-12-31', '2027-01-02', 'draft', 0, 0, 0, 'full', "
        "0, 0, 0, 0, 't') RETURNING id"), {"p": plan_id})).scalar_one()


async def _line(conn: AsyncConnection, batch_id: int, claimed: bool = True) -> None:
    await conn.execute(text(
        "INSERT INTO settlement_lines (batch_id, loan_id, loan_year, recipient_type, recipient_id, village_code, bank_id, year_start, "
        "year_end, days, subsidised_principal, rate, driven_count, driven_principal, computed_amount, granted_amount, eligible, claimed) "
        "VALUES (:b, 'L-1', 1, 'household', 'H-1', '411224101001', 'RCC', '2026-01-01', '2027-01-01', 365, 50000, 0.0435, 0, 0, "
        "2175, 2175, true, :c)"), {"b": batch_id, "c": claimed})


async def test_the_database_refuses_committing_more_than_the_plans_fund(conn: AsyncConnection) -> None:
    plan_id = await _plan(conn)
    with pytest.raises(IntegrityError, match="fund_not_exceeded"):
        async with conn.begin_nested():
            await conn.execute(text("UPDATE subsidy_plans SET fund_committed = 100.01 WHERE id = :p"), {"p": plan_id})


async def test_the_database_refuses_paying_a_loan_year_in_two_live_batches(conn: AsyncConnection) -> None:
    plan_id = await _plan(conn)
    await _line(conn, await _batch(conn, plan_id))
    second = await _batch(conn, plan_id)
    with pytest.raises(IntegrityError, match="ux_settlement_lines_paid_once"):
        async with conn.begin_nested():
            await _line(conn, second)
    await _line(conn, second, claimed=False)  # an unclaimed (excluded or cancelled) line may repeat


async def test_the_database_refuses_skipping_a_batch_state(conn: AsyncConnection) -> None:
    batch_id = await _batch(conn, await _plan(conn))
    with pytest.raises(DBAPIError, match="cannot go from draft to paid"):
        async with conn.begin_nested():
            await conn.execute(text("UPDATE settlement_batches SET status = 'paid' WHERE id = :b"), {"b": batch_id})
    await conn.execute(text("UPDATE settlement_batches SET status = 'approved' WHERE id = :b"), {"b": batch_id})


async def test_recorded_loan_events_cannot_be_rewritten(conn: AsyncConnection) -> None:
    await conn.execute(text("INSERT INTO loan_events (seq, loan_id, type, business_date, data) VALUES (1, 'L-1', 'closed', '2026-01-01', '{}')"))
    with pytest.raises(DBAPIError, match="append-only"):
        async with conn.begin_nested():
            await conn.execute(text("UPDATE loan_events SET type = 'disbursed' WHERE seq = 1"))


async def test_an_unbalanced_journal_fails_at_commit(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.begin()
        plan_id = await _plan(conn, year=2090)
        journal = (await conn.execute(text("INSERT INTO fund_journals (plan_id, kind, memo) VALUES (:p, 'budget', '') RETURNING id"),
                                      {"p": plan_id})).scalar_one()
        await conn.execute(text("INSERT INTO fund_postings (journal_id, plan_id, account, amount) VALUES (:j, :p, 'available', 100)"),
                           {"j": journal, "p": plan_id})
        with pytest.raises(DBAPIError, match="unbalanced"):
            await conn.commit()
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM subsidy_plans WHERE year = 2090"))).scalar_one() == 0


async def test_a_settlement_batch_is_never_deleted(conn: AsyncConnection) -> None:
    batch_id = await _batch(conn, await _plan(conn))
    with pytest.raises(DBAPIError):
        async with conn.begin_nested():
            await conn.execute(text("DELETE FROM settlement_batches WHERE id = :b"), {"b": batch_id})
