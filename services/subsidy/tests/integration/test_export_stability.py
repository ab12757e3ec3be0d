"""An export's pages, read while other offices settle and pay on real commits, concatenate to
exactly the lines of the period as they stood at the first page: no line twice, none missing,
none that arrived later, and a batch paid meanwhile keeps the period it had."""

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from support import OTHER_VILLAGE, FakeApplications, World

from kit.testing import TokenFactory, api_client, bind_app
from subsidy.main import create_app
from subsidy.settings import Settings

TABLES = ("outbox_messages", "consumer_cursors", "settlement_recipients", "settlement_lines", "fund_postings", "fund_journals",
          "settlement_batches", "plan_allocations", "subsidy_plans", "loan_payments", "loan_years", "loan_events", "loan_accounts",
          "households")
THIRD_VILLAGE = "411224103001"
PERIOD = "from=2027-03-01&to=2027-03-01"  # the business date the fake applications service gives


@pytest.fixture
async def committing_world(engine: AsyncEngine, tokens: TokenFactory) -> AsyncIterator[World]:
    fake = FakeApplications()
    app = create_app(Settings(environment="test", background_workers=False), keys=tokens.keyset(), applications_transport=fake.transport())
    bind_app(app, engine)
    try:
        async with api_client(app) as client:
            yield World(client, tokens, fake)
    finally:
        async with engine.begin() as conn:  # TRUNCATE fires no row triggers: the append-only guards stay on
            await conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))


async def _page(world: World, query: str) -> tuple[list[dict], str | None]:
    resp = await world.client.get(f"/v1/settlements/export?{query}", headers=world.monitor())
    assert resp.status_code == 200, resp.text
    return [json.loads(line) for line in resp.text.splitlines()], resp.headers.get("x-next-cursor")


def _keys(rows: list[dict]) -> list[tuple[int, str, int]]:
    return [(r["batch_id"], r["loan_id"], r["loan_year"]) for r in rows]


async def test_pages_read_while_batches_are_settled_and_paid_are_exactly_the_first_pages_set(committing_world: World) -> None:
    world = committing_world
    plan = await world.plan(allocations=[])
    for n in range(5):
        await world.loan(f"L-{n}", household_id=f"H-{n}")
    await world.loan("L-O", household_id="H-O", village=OTHER_VILLAGE)
    paid_later = await world.batch(plan["id"])
    await world.batch(plan["id"], township=OTHER_VILLAGE[:9] + "000", headers=world.county())
    expected, _ = await _page(world, f"{PERIOD}&limit=10000")
    assert len(expected) == 6

    rows, cursor = await _page(world, f"{PERIOD}&limit=2")
    pages = 1
    while cursor is not None:
        # Between page reads: a new batch arrives in the same period, and the first batch is paid
        # (which moves it to its payment date, outside the period).
        await world.loan(f"L-new-{pages}", household_id=f"H-new-{pages}", village=THIRD_VILLAGE)
        if pages == 1:
            await world.batch(plan["id"], township=THIRD_VILLAGE[:9] + "000", headers=world.county())
            await world.approve_and_pay(paid_later)
        page, cursor = await _page(world, f"{PERIOD}&limit=2&cursor={cursor}")
        rows += page
        pages += 1
    assert pages == 3
    assert _keys(rows) == _keys(expected)  # same lines, same order, each once
    assert {r["paid_on"] for r in rows} == {None}  # the payment after the first page is not shown as paid

    fresh, _ = await _page(world, f"{PERIOD}&limit=10000")  # a new export sees the world as it is now
    assert {r["loan_id"] for r in fresh} == {"L-O", "L-new-1"}
