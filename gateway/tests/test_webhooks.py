"""Webhooks to banks: Standard Webhooks signatures, one delivery per message, retries with backoff,
a delivery log and redelivery."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker

from gateway.webhooks import RETRY_SCHEDULE, deliver_due, signature, verify


async def _account_token(client: httpx.AsyncClient, admin: dict[str, str], name: str, roles: list[str], **extra: str) -> dict[str, str]:
    await client.post("/v1/admin/accounts", headers=admin, json={"kind": "client", "name": name, "secret": f"{name}-secret-x", "roles": roles, **extra})
    resp = await client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": name, "client_secret": f"{name}-secret-x"})
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


@pytest.fixture
async def parties(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> dict[str, dict[str, str]]:
    return {
        "bank": await _account_token(client, admin_headers, "bank-hook", ["bank"], bank_id="RCC"),
        "other_bank": await _account_token(client, admin_headers, "bank-other", ["bank"], bank_id="PSBC"),
        "service": await _account_token(client, admin_headers, "svc-test", ["service"]),
        "monitor": await _account_token(client, admin_headers, "monitor-hook", ["monitor"]),
    }


class Receiver:
    def __init__(self, answers: list[int]) -> None:
        self.answers = answers
        self.received: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request)
        return httpx.Response(self.answers.pop(0) if self.answers else 200)


async def _deliver(app: FastAPI, receiver: Receiver, now: datetime) -> int:
    maker: async_sessionmaker = app.state.sessionmaker  # type: ignore[type-arg]
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as c:
        return await deliver_due(sessionmaker=maker, client=c, key_secret=app.state.settings.key_encryption_secret, now=now)


def test_signatures_follow_the_standard_webhooks_scheme() -> None:
    # the scheme's published example: secret, id, timestamp and body give this signature
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


async def test_a_bank_registers_an_endpoint_and_gets_its_secret_once(client: httpx.AsyncClient, parties: dict[str, dict[str, str]]) -> None:
    resp = await client.put("/v1/webhooks/endpoint", headers=parties["bank"], json={"url": "https://bank.example/hooks"})
    assert resp.status_code == 200 and resp.json()["secret"].startswith("whsec_")
    again = await client.put("/v1/webhooks/endpoint", headers=parties["bank"], json={"url": "https://bank.example/hooks2"})
    assert again.json()["secret"] is None and again.json()["url"].endswith("hooks2")
    assert (await client.put("/v1/webhooks/endpoint", headers=parties["monitor"], json={"url": "https://x"})).status_code == 403
    bad = await client.put("/v1/webhooks/endpoint", headers=parties["bank"], json={"url": "ftp://x", "event_types": ["loan.eaten"]})
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"url", "event_types"}


async def test_events_are_delivered_signed_once_and_only_to_the_named_bank(
    app: FastAPI, client: httpx.AsyncClient, parties: dict[str, dict[str, str]]
) -> None:
    secret = (await client.put("/v1/webhooks/endpoint", headers=parties["bank"], json={"url": "https://rcc.example/h"})).json()["secret"]
    await client.put("/v1/webhooks/endpoint", headers=parties["other_bank"], json={"url": "https://psbc.example/h"})
    event = {"message_id": "msg_1", "topic": "claim.settled", "payload": {"bank_id": "RCC", "claim_id": "C-1", "amount": "1000.00"}}
    for _ in range(2):  # the relay may send a message twice
        resp = await client.post("/v1/webhooks/events", headers=parties["service"], json=[event])
        assert resp.status_code == 202
    assert resp.json() == {"received": 1, "deliveries_created": 0}
    assert (await client.post("/v1/webhooks/events", headers=parties["bank"], json=[event])).status_code == 403

    receiver = Receiver([200])
    assert await _deliver(app, receiver, datetime.now(UTC)) == 1
    [request] = receiver.received
    assert request.url.host == "rcc.example"
    assert verify(secret, dict(request.headers), request.content)
    assert not verify(secret, dict(request.headers), request.content + b" ")
    log = (await client.get("/v1/webhooks/deliveries", headers=parties["bank"])).json()["items"]
    assert [(d["message_id"], d["status"], d["attempts"]) for d in log] == [("msg_1", "delivered", 1)]
    assert (await client.get("/v1/webhooks/deliveries", headers=parties["other_bank"])).json()["items"] == []


async def test_failures_are_retried_with_backoff_then_given_up_and_can_be_redelivered(
    app: FastAPI, client: httpx.AsyncClient, parties: dict[str, dict[str, str]]
) -> None:
    await client.put("/v1/webhooks/endpoint", headers=parties["bank"], json={"url": "https://rcc.example/h"})
    event = {"message_id": "msg_2", "topic": "subsidy.paid", "payload": {"bank_id": "RCC"}}
    await client.post("/v1/webhooks/events", headers=parties["service"], json=[event])
    receiver = Receiver([503] * 20)
    now = datetime.now(UTC)
    assert await _deliver(app, receiver, now) == 1
    assert await _deliver(app, receiver, now + timedelta(seconds=RETRY_SCHEDULE[0] - 1)) == 0  # not yet due
    for wait in RETRY_SCHEDULE:
        now += timedelta(seconds=wait)
        assert await _deliver(app, receiver, now) == 1
    [delivery] = (await client.get("/v1/webhooks/deliveries", headers=parties["bank"])).json()["items"]
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("failed", len(RETRY_SCHEDULE) + 1, 503)
    resp = await client.post(f"/v1/webhooks/deliveries/{delivery['id']}/redeliver", headers=parties["bank"])
    assert resp.status_code == 200 and resp.json()["status"] == "pending"
    assert (await client.post(f"/v1/webhooks/deliveries/{delivery['id']}/redeliver", headers=parties["other_bank"])).status_code == 404
    assert await _deliver(app, Receiver([200]), datetime.now(UTC) + timedelta(seconds=1)) == 1


async def test_events_without_a_bank_or_with_unknown_topics_are_refused(client: httpx.AsyncClient, parties: dict[str, dict[str, str]]) -> None:
    resp = await client.post(
        "/v1/webhooks/events", headers=parties["service"],
        json=[{"message_id": "m", "topic": "loan.eaten", "payload": {"bank_id": "RCC"}}, {"message_id": "n", "topic": "claim.settled", "payload": {}}],
    )
    assert resp.status_code == 422 and "loan.eaten" in resp.json()["detail"] and "bank_id" in resp.json()["detail"]


