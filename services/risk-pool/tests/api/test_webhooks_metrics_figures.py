"""claim.settled webhooks enter the outbox with the payment; business gauges; the overview figures."""

from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from risk_pool_support import World, event
from sqlalchemy import text

from risk_pool import metrics


async def outbox(app: FastAPI) -> list[dict[str, Any]]:
    rows = await app.state.test_connection.execute(text("SELECT message_id, topic, payload FROM outbox_messages ORDER BY id"))
    return [dict(r) for r in rows.mappings()]


async def test_a_paid_claim_enqueues_one_claim_settled_message_with_its_parts(world: World, app: FastAPI) -> None:
    await world.fund()
    await world.scheme()
    await world.defaulted_loan("L-1", interest="2175.00")

    claim = (await world.claim("L-1")).json()

    [message] = await outbox(app)
    assert (message["message_id"], message["topic"]) == (f"claim.settled:{claim['id']}", "claim.settled")
    assert message["payload"] == {
        "bank_id": "RCC", "claim_id": claim["id"], "loan_id": "L-1", "loss": "52175.00", "paid_on": "2022-04-15",
        "parts": [{"party": "government", "amount": "10435.00", "status": "paid"},
                  {"party": "bank", "amount": "5217.50", "status": "settled"},
                  {"party": "guarantor", "amount": "26087.50", "status": "open"},
                  {"party": "reguarantor", "amount": "10435.00", "status": "open"}],
    }


async def test_a_waiting_claim_enqueues_its_message_only_when_money_arrives_and_pays_it(world: World, app: FastAPI) -> None:
    await world.fund()
    await world.scheme()
    await world.defaulted_loan("L-W")
    await world.withdraw_to("lushi", "0.00")
    assert (await world.claim("L-W")).json()["status"] == "awaiting_funds"
    assert await outbox(app) == []

    await world.deposit("lushi", "100.00")  # not enough for the 10,435.00 government part
    assert await outbox(app) == []
    await world.deposit("lushi", "20000.00")

    [message] = await outbox(app)
    assert message["payload"]["loan_id"] == "L-W" and message["payload"]["parts"][0] == {
        "party": "government", "amount": "10435.00", "status": "paid"}


async def test_a_rejected_claim_batch_enqueues_nothing(world: World, app: FastAPI) -> None:
    await world.fund()
    await world.scheme()
    await world.defaulted_loan("L-1")
    await world.loan("L-2")  # performing: not claimable

    resp = await world.c.post("/v1/claims/batches", json={"loan_ids": ["L-1", "L-2"]}, headers=world.a.bank)

    assert resp.status_code == 409
    assert await outbox(app) == []


def samples(text_: str, name: str) -> dict[str, float]:
    return {next(iter(s.labels.values())): s.value for f in text_string_to_metric_families(text_) for s in f.samples if s.name == name}


async def test_the_refresher_sets_fund_balance_leverage_used_and_broken_breakers(world: World, app: FastAPI,
                                                                                 client: httpx.AsyncClient) -> None:
    await world.fund(deposit="10000.00")  # leverage 10: room for 100,000 of cover
    await world.fund(code="city", region="411200000000", level="city", deposit="500.00")
    await world.scheme()
    await world.loan("L-1", principal="20000.00")
    await world.loan("L-2", principal="20000.00", household_id="H-2")
    await world.default("L-2", outstanding="20000.00")  # 50% non-performing: the village breaks

    await metrics.refresh(app.state.sessionmaker)
    scraped = (await client.get("/metrics")).text

    balances = samples(scraped, "risk_fund_balance_yuan")
    assert (balances["lushi"], balances["city"]) == (10000.0, 500.0)
    assert samples(scraped, "risk_fund_leverage_used_ratio")["lushi"] == 0.4  # 40,000 ÷ (10 × 10,000)
    assert "city" not in samples(scraped, "risk_fund_leverage_used_ratio")  # a city fund covers no loans itself
    assert samples(scraped, "breakers_tripped") == {"village": 1.0, "township": 1.0}


async def test_risk_figures_answer_a_villages_overview_in_one_call(world: World, client: httpx.AsyncClient) -> None:
    await world.fund(deposit="10000.00")
    await world.scheme()
    await world.loan("L-1", principal="20000.00")
    await world.loan("L-2", principal="20000.00", household_id="H-2")
    await world.default("L-2", outstanding="20000.00")
    await world.events(event(world.next_seq(), "L-3", "disbursed", "2022-04-16", village="411224100202"))

    broken = (await client.get("/v1/risk-figures?region=411224100201", headers=world.a.county_officer)).json()
    other = (await client.get("/v1/risk-figures?region=411224100202", headers=world.a.county_officer)).json()
    county = (await client.get("/v1/risk-figures?region=411224000000", headers=world.a.county_officer)).json()

    [fund] = broken["funds"]
    assert (fund["fund_code"], fund["balance"], fund["covered_outstanding"], fund["leverage_used"]) == (
        "lushi", "10000.00", "90000.00", "0.900000")
    assert (broken["breaker_state"], broken["villages_broken"]) == ("broken", 1)
    assert (other["breaker_state"], other["villages_broken"]) == ("open", 0)
    assert (county["breaker_state"], county["villages_broken"], county["townships_broken"]) == (None, 1, 1)
