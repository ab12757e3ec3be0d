"""subsidy.paid: paying a batch tells each bank with loans in it, through the outbox, in the same
transaction as the payment; the relay hands the messages to the gateway's webhook intake."""

import json

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from support import World

from kit.outbox import OutboxMessage, http_sender, relay_once
from kit.service_token import ServiceToken


async def _outbox(app: FastAPI) -> list[OutboxMessage]:
    async with app.state.sessionmaker() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())  # type: ignore[arg-type]


async def _paid_batch_of_two_banks(world: World) -> tuple[dict, dict]:
    plan = await world.plan()
    await world.loan("L-1", household_id="H-1", bank_id="RCC")
    await world.loan("L-2", household_id="H-2", bank_id="RCC")
    await world.loan("L-3", household_id="H-3", bank_id="PSBC")
    await world.loan("L-4", household_id="H-4", bank_id="ABC", late_interest=2)  # excluded: nothing paid to its borrower
    batch = await world.batch(plan["id"])
    return plan, batch


async def test_paying_a_batch_enqueues_one_message_per_bank_with_loans_paid(world: World, app: FastAPI) -> None:
    plan, batch = await _paid_batch_of_two_banks(world)
    await world.approve_and_pay(batch)
    messages = await _outbox(app)
    assert [(m.topic, m.payload["bank_id"]) for m in messages] == [("subsidy.paid", "PSBC"), ("subsidy.paid", "RCC")]
    rcc = messages[1].payload
    assert {k: v for k, v in rcc.items() if k != "lines"} == {
        "bank_id": "RCC", "batch_id": batch["id"], "plan_id": plan["id"], "township_code": "411224101000", "paid_on": "2027-03-05",
        "part": 1, "parts": 1,
    }
    assert rcc["lines"] == [
        {"loan_id": "L-1", "household_id": "H-1", "loan_year": 1, "amount": "2175.00", "payment_reference": "PAY-H-1"},
        {"loan_id": "L-2", "household_id": "H-2", "loan_year": 1, "amount": "2175.00", "payment_reference": "PAY-H-2"},
    ]
    assert messages[1].message_id == f"subsidy.paid:{batch['id']}:RCC:1"


async def test_nothing_is_enqueued_before_the_batch_is_paid(world: World, app: FastAPI) -> None:
    _, batch = await _paid_batch_of_two_banks(world)
    assert await _outbox(app) == []
    resp = await world.client.post(f"/v1/settlements/{batch['id']}/approve", headers=world.township())
    assert resp.status_code == 200
    assert await _outbox(app) == []
    refused = await world.client.post(
        f"/v1/settlements/{batch['id']}/pay", json={"paid_on": "2027-03-05", "payments": [{"recipient_id": "H-1", "payment_reference": "P1"}]},
        headers=world.township(),
    )
    assert refused.status_code == 422  # an incomplete payment is refused, and so is its message
    assert await _outbox(app) == []


async def test_an_enterprise_line_names_the_enterprise(world: World, app: FastAPI) -> None:
    plan = await world.plan()
    await world.loan("L-E", household_id=None, enterprise_id="91411224MA44X0000T", principal="400000.00", driven=["H-9"])
    await world.approve_and_pay(await world.batch(plan["id"]))
    (message,) = await _outbox(app)
    assert message.payload["lines"][0]["enterprise_id"] == "91411224MA44X0000T"
    assert "household_id" not in message.payload["lines"][0]


async def test_a_bank_with_more_lines_than_a_message_holds_gets_numbered_parts(world: World, app: FastAPI) -> None:
    app.state.settings.webhook_max_lines = 2
    plan = await world.plan()
    for n in range(5):
        await world.loan(f"L-{n}", household_id=f"H-{n}")
    await world.approve_and_pay(await world.batch(plan["id"]))
    messages = await _outbox(app)
    assert [(m.payload["part"], m.payload["parts"], len(m.payload["lines"])) for m in messages] == [(1, 3, 2), (2, 3, 2), (3, 3, 1)]
    assert [line["loan_id"] for m in messages for line in m.payload["lines"]] == [f"L-{n}" for n in range(5)]


async def test_the_relay_hands_the_messages_to_the_gateway_once_with_the_service_token(world: World, app: FastAPI) -> None:
    _, batch = await _paid_batch_of_two_banks(world)
    await world.approve_and_pay(batch)
    received: list[tuple[str, list[dict]]] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "svc-subsidy-token", "token_type": "Bearer", "expires_in": 900})
        assert request.url.path == "/v1/webhooks/events"
        received.append((request.headers["authorization"], json.loads(request.content)))
        return httpx.Response(202, json={"received": 2, "deliveries_created": 2})

    transport = httpx.MockTransport(gateway)
    token = ServiceToken(token_url="http://gw/oauth/token", client_id="svc-subsidy", client_secret="s", transport=transport)
    async with httpx.AsyncClient(transport=transport) as http:
        send = http_sender(url="http://gw/v1/webhooks/events", token=token, client=http)
        assert await relay_once(app.state.sessionmaker, send) == 2
        assert await relay_once(app.state.sessionmaker, send) == 0
    await token.aclose()
    assert len(received) == 1
    auth, events = received[0]
    assert auth == "Bearer svc-subsidy-token"
    assert [(e["topic"], e["payload"]["bank_id"]) for e in events] == [("subsidy.paid", "PSBC"), ("subsidy.paid", "RCC")]
    assert all(m.sent_at is not None for m in await _outbox(app))


async def test_a_gateway_that_refuses_leaves_the_messages_to_be_sent_again(world: World, app: FastAPI) -> None:
    _, batch = await _paid_batch_of_two_banks(world)
    await world.approve_and_pay(batch)

    def gateway(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "token_type": "Bearer", "expires_in": 900})
        return httpx.Response(422, json={"detail": "no"})

    transport = httpx.MockTransport(gateway)
    token = ServiceToken(token_url="http://gw/oauth/token", client_id="svc-subsidy", client_secret="s", transport=transport)
    async with httpx.AsyncClient(transport=transport) as http:
        send = http_sender(url="http://gw/v1/webhooks/events", token=token, client=http)
        with pytest.raises(OSError):
            await relay_once(app.state.sessionmaker, send)
    await token.aclose()
    assert [m.sent_at for m in await _outbox(app)] == [None, None]
