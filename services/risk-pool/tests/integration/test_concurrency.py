"""Races on real commits: concurrent claims never overdraw a fund, wait in filing order, and the
journal always sums to the balance; a loan is claimed once however many filings race."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from risk_pool_support import Actors, World, event
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.testing import api_client

CLAIMS = 40


@pytest.fixture
async def committed(committed_app: FastAPI, actors: Actors) -> AsyncIterator[World]:
    async with api_client(committed_app) as client:
        yield World(client, actors)


async def _ledger(engine: AsyncEngine) -> tuple[str, str, int]:
    async with engine.connect() as conn:
        balance = await conn.scalar(text("SELECT balance FROM funds WHERE code = 'lushi'"))
        journal = await conn.scalar(text("SELECT coalesce(sum(amount), 0) FROM journal_lines l JOIN funds f ON f.id = l.fund_id "
                                         "WHERE f.code = 'lushi'"))
        unbalanced = await conn.scalar(text("SELECT count(*) FROM (SELECT entry_id FROM journal_lines GROUP BY entry_id "
                                            "HAVING sum(amount) <> 0) u"))
    return f"{balance:.2f}", f"{journal:.2f}", unbalanced


async def test_concurrent_claims_never_overdraw_the_fund_and_wait_in_filing_order(committed: World, engine: AsyncEngine) -> None:
    world = committed
    await world.fund(deposit="10000.00")  # covers 100,000; pays 20 government parts of 500.00
    await world.scheme()
    loans = [f"C-{i}" for i in range(CLAIMS)]
    await world.events(*[event(i + 1, loan, "disbursed", "2021-01-10", principal="2500.00") for i, loan in enumerate(loans)])
    await world.events(*[event(1000 + i, loan, "defaulted", "2022-04-15", principal="2500.00", days_past_due=95,
                               outstanding_principal="2500.00", unpaid_interest="0.00") for i, loan in enumerate(loans)])

    responses = await asyncio.gather(*[world.claim(loan) for loan in loans])

    assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201][:2]
    claims = sorted((r.json() for r in responses), key=lambda c: c["id"])
    statuses = [c["status"] for c in claims]
    assert statuses == ["paid"] * 20 + ["awaiting_funds"] * 20  # strictly in filing order
    assert await _ledger(engine) == ("0.00", "0.00", 0)

    topped = await world.deposit("lushi", "5250.00")

    assert topped["claims_paid"] == 10
    assert topped["balance"] == "250.00"
    assert await _ledger(engine) == ("250.00", "250.00", 0)


async def test_racing_filings_for_one_loan_make_one_claim(committed: World, engine: AsyncEngine) -> None:
    world = committed
    await world.fund()
    await world.scheme()
    await world.defaulted_loan("L-RACE")

    responses = await asyncio.gather(*[world.claim("L-RACE") for _ in range(8)])

    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    first = next(r.json()["id"] for r in responses if r.status_code == 201)
    assert all(r.json()["claim_id"] == first for r in responses if r.status_code == 409)
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM claims")) == 1


async def test_racing_deposits_and_claims_keep_the_journal_equal_to_the_balance(committed: World, engine: AsyncEngine) -> None:
    world = committed
    await world.fund(deposit="5000.00")
    await world.scheme()
    loans = [f"D-{i}" for i in range(20)]
    await world.events(*[event(i + 1, loan, "disbursed", "2021-01-10", principal="2500.00") for i, loan in enumerate(loans)])
    await world.events(*[event(100 + i, loan, "defaulted", "2022-04-15", principal="2500.00", days_past_due=95,
                               outstanding_principal="2500.00", unpaid_interest="0.00") for i, loan in enumerate(loans)])

    calls = [world.claim(loan) for loan in loans] + [world.deposit("lushi", "250.00") for _ in range(10)]
    results = await asyncio.gather(*calls, return_exceptions=True)

    assert not [r for r in results if isinstance(r, BaseException)]
    balance, journal, unbalanced = await _ledger(engine)
    assert balance == journal and unbalanced == 0
    async with engine.connect() as conn:
        paid = await conn.scalar(text("SELECT count(*) FROM claims WHERE status = 'paid'"))
        waiting_before_paid = await conn.scalar(text(
            "SELECT count(*) FROM claims w JOIN claims p ON p.status = 'paid' AND w.status = 'awaiting_funds' AND w.id < p.id"))
    assert paid == 15  # 5,000 + 2,500 = 7,500 pays fifteen parts of 500.00
    assert waiting_before_paid == 0
    assert balance == "0.00"


async def test_racing_event_batches_cannot_both_take_the_last_room_under_leverage(committed: World, engine: AsyncEngine) -> None:
    world = committed
    await world.fund(deposit="10000.00")  # room for 100,000 of cover
    await world.scheme()
    await world.events(event(1, "L-BASE", "disbursed", "2021-01-10", principal="40000.00"),
                       event(2, "L-BASE2", "disbursed", "2021-01-10", principal="30000.00"))

    await asyncio.gather(*[world.events(event(10 + i, f"L-RACE-{i}", "disbursed", "2021-01-11", principal="20000.00"))
                           for i in range(6)])

    async with engine.connect() as conn:
        covered = await conn.scalar(text("SELECT count(*) FROM exposures WHERE loan_id LIKE 'L-RACE-%' AND covered"))
        total = await conn.scalar(text("SELECT sum(covered_principal) FROM exposures WHERE covered"))
    assert covered == 1  # 70,000 + 20,000 fits; a second 20,000 would make 110,000
    assert total == 90000
