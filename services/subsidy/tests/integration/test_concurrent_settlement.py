"""Two offices settling the same township at the same moment, on real commits: each loan-year is
paid once and the plan's fund is reserved once."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from support import FakeApplications, World

from kit.testing import TokenFactory, api_client, bind_app
from subsidy.main import create_app
from subsidy.settings import Settings

TABLES = ("settlement_recipients", "settlement_lines", "fund_postings", "fund_journals", "settlement_batches", "plan_allocations",
          "subsidy_plans", "loan_payments", "loan_years", "loan_events", "loan_accounts", "households")


@pytest.fixture
async def committing_world(engine: AsyncEngine, tokens: TokenFactory) -> AsyncIterator[World]:
    fake = FakeApplications()
    settings = Settings(environment="test", background_workers=False, settlement_chunk_loans=2)
    app = create_app(settings, keys=tokens.keyset(), applications_transport=fake.transport())
    bind_app(app, engine)
    try:
        async with api_client(app) as client:
            yield World(client, tokens, fake)
    finally:
        async with engine.begin() as conn:  # TRUNCATE fires no row triggers: the append-only guards stay on
            await conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))


async def test_two_simultaneous_settlements_pay_each_loan_year_once(committing_world: World, engine: AsyncEngine) -> None:
    world = committing_world
    plan = await world.plan(total_fund="10000.00")
    for n in range(5):
        await world.loan(f"L-{n}", household_id=f"H-{n}")
    responses: list[httpx.Response] = await asyncio.gather(world.settle(plan["id"]), world.settle(plan["id"], headers=world.county()))
    assert sorted(r.status_code for r in responses) == [201, 201]
    totals = sorted(r.json()["granted_total"] for r in responses)
    assert totals == ["0.00", "10000.00"]  # 5 × 2,175 = 10,875 > 10,000: the first is pro rata, the second finds nothing left
    async with engine.connect() as conn:
        claimed = (await conn.execute(text("SELECT count(*), count(DISTINCT (loan_id, loan_year)) FROM settlement_lines WHERE claimed"))).one()
        committed = (await conn.execute(text("SELECT fund_committed FROM subsidy_plans WHERE id = :p"), {"p": plan["id"]})).scalar_one()
    assert tuple(claimed) == (5, 5)
    assert str(committed) == "10000.00"
