"""Races and commit-time invariants, with real commits on the session engine (tables truncated after)."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.testing import TokenFactory, api_client, bind_app
from tests.conftest import LOAN_REQUEST, REGIONS_CSV, Fakes, Who, build_app, committed_events, household, loan_for, ndjson

TABLES = (
    "repayments, loan_installments, loan_events, loans, driven_households, application_steps, applications, enterprises, households, regions, "
    "lending_policies, business_date, outbox_messages"
)


@pytest.fixture
async def committed(engine: AsyncEngine, tokens: TokenFactory, fakes: Fakes, who: Who) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(tokens, fakes)
    bind_app(app, engine)
    try:
        async with api_client(app) as client:
            await client.post("/v1/regions/import", content=REGIONS_CSV, headers={**who.admin(), "content-type": "text/csv"})
            rows = [household("H1", serial="101"), household("H2", serial="102")]
            await client.post("/v1/households/import", content=ndjson(rows), headers={**who.admin(), "content-type": "application/x-ndjson"})
            yield client
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))


async def test_two_concurrent_posts_of_one_bank_reference_record_one_repayment(
    committed: httpx.AsyncClient, who: Who, fakes: Fakes, engine: AsyncEngine
) -> None:
    loan = await loan_for(committed, who, fakes)
    body = {"kind": "interest", "amount": "100.00", "value_date": "2026-03-01", "bank_reference": "RCC-TWICE"}
    first, second = await asyncio.gather(*(committed.post(f"/v1/loans/{loan['loan_id']}/repayments", json=body, headers=who.bank()) for _ in range(2)))
    assert sorted([first.status_code, second.status_code]) == [200, 201]
    assert first.json() == second.json()
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM repayments WHERE bank_reference = 'RCC-TWICE'")) == 1
        assert await conn.scalar(text("SELECT interest_paid FROM loan_installments WHERE loan_id = :l AND loan_year = 1"), {"l": loan["loan_id"]}) == 100
        assert await conn.scalar(text("SELECT count(*) FROM loan_events WHERE type = 'repayment_recorded'")) == 1


async def test_two_concurrent_applications_of_one_household_open_only_one(committed: httpx.AsyncClient, who: Who) -> None:
    responses = await asyncio.gather(*(committed.post("/v1/applications", json=LOAN_REQUEST, headers=who.applicant("H1")) for _ in range(2)))
    assert sorted(r.status_code for r in responses) == [201, 409]


async def test_the_event_log_refuses_updates_and_deletes(committed: httpx.AsyncClient, who: Who, fakes: Fakes, engine: AsyncEngine) -> None:
    await loan_for(committed, who, fakes)
    for statement in ("UPDATE loan_events SET type = 'closed'", "DELETE FROM loan_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(statement))
    async with engine.connect() as conn:
        txid = await conn.scalar(text("SELECT txid FROM loan_events"))
    assert txid is not None and txid > 0


async def test_the_database_refuses_a_business_date_moving_back(committed: httpx.AsyncClient, who: Who, engine: AsyncEngine) -> None:
    await committed.get("/v1/business-date", headers=who.bank())
    with pytest.raises(DBAPIError, match="only move forward"):
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE business_date SET business_date = business_date - 1"))


async def test_the_database_refuses_a_repayment_above_what_is_due(committed: httpx.AsyncClient, who: Who, fakes: Fakes, engine: AsyncEngine) -> None:
    loan = await loan_for(committed, who, fakes)
    with pytest.raises(DBAPIError, match="installments_paid_within_due"):
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE loan_installments SET interest_paid = interest_due + 1 WHERE loan_id = :l"), {"l": loan["loan_id"]})


async def test_two_concurrent_repayments_of_one_loan_are_logged_in_the_order_their_row_lock_gave(committed: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    loan = await loan_for(committed, who, fakes)
    bodies = [{"kind": "principal", "amount": "1000.00", "value_date": "2026-03-01", "bank_reference": f"RCC-P{i}"} for i in range(2)]
    responses = await asyncio.gather(*(committed.post(f"/v1/loans/{loan['loan_id']}/repayments", json=b, headers=who.bank()) for b in bodies))
    assert [r.status_code for r in responses] == [201, 201]
    page = await committed_events(committed, who, at_least=3)
    logged = [e["data"]["outstanding_principal"] for e in page["items"] if e["type"] == "repayment_recorded"]
    # whichever came second saw the first's effect, and reads after it in the log
    assert logged == ["49000.00", "48000.00"]
