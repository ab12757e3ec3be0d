"""Banks: pulling the applications recommended to them page by page, the application.recommended
webhook (outbox, relayed to the gateway with this service's own token), and the money-moving
operations the gateway guards with Idempotency-Key."""

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from applications import repo
from applications.main import webhook_sender
from applications.settings import Settings
from kit.outbox import http_sender, relay_once
from kit.service_token import service_token_from
from tests.conftest import VILLAGE, VILLAGE_2, Fakes, Who, advance, submit

pytestmark = pytest.mark.usefixtures("seeded")

GATEWAY = "http://gateway.test"


async def recommended_ids(client: httpx.AsyncClient, headers: dict[str, str], limit: int) -> list[list[str]]:
    """Every page of GET /v1/applications?status=recommended, following next_cursor."""
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"status": "recommended", "limit": limit, **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/v1/applications", params=params, headers=headers)).json()
        pages.append([a["application_id"] for a in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def test_a_bank_pulls_the_applications_recommended_to_it_page_by_page(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    first = await advance(client, who, fakes, await submit(client, who), "recommended")
    second = await advance(client, who, fakes, await submit(client, who, household_id="H2"), "recommended")
    pages = await recommended_ids(client, who.bank("RCC"), limit=1)
    assert pages == [[first["application_id"]], [second["application_id"]], []]
    assert await recommended_ids(client, who.bank("PSBC"), limit=1) == [[]]
    approved = await client.post(f"/v1/applications/{first['application_id']}/approval", json={"annual_rate": "0.0435"}, headers=who.bank())
    assert approved.status_code == 200
    assert await recommended_ids(client, who.bank("RCC"), limit=10) == [[second["application_id"]]]


async def test_recommending_enqueues_exactly_one_application_recommended_message_for_the_bank(
    app: FastAPI, client: httpx.AsyncClient, who: Who, fakes: Fakes
) -> None:
    application = await advance(client, who, fakes, await submit(client, who, household_id="H2"), "recommended", bank="PSBC")
    async with app.state.sessionmaker() as session:
        messages = await repo.outbox_messages(session, topic="application.recommended")
    assert len(messages) == 1 and messages[0].sent_at is None
    assert messages[0].payload == {
        "bank_id": "PSBC",
        "application_id": application["application_id"],
        "borrower_type": "household",
        "household_id": "H2",
        "village_code": VILLAGE_2,
        "amount": "50000.00",
        "term_months": 36,
        "purpose": "breeding",
        "industry": "livestock",
        "recommended_on": "2026-03-01",
    }


async def test_a_failed_recommendation_enqueues_nothing(app: FastAPI, client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    application = await advance(client, who, fakes, await submit(client, who), "confirmed")
    fakes.risk_pool_down = True
    resp = await client.post(f"/v1/applications/{application['application_id']}/recommendation", json={"bank_id": "RCC"}, headers=who.county())
    assert resp.status_code == 503
    async with app.state.sessionmaker() as session:
        assert await repo.outbox_messages(session, topic="application.recommended") == []


class FakeGateway:
    """The gateway's token endpoint and webhook intake, as an httpx.MockTransport handler."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[dict[str, Any]]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            form = dict(x.split("=", 1) for x in request.content.decode().split("&"))
            if (form["client_id"], form["client_secret"]) != ("svc-applications", "svc-applications-secret"):
                return httpx.Response(401, json={"detail": "bad client"})
            return httpx.Response(200, json={"access_token": "svc-applications-token", "token_type": "Bearer", "expires_in": 900, "scope": "internal"})
        assert request.url.path == "/v1/webhooks/events"
        self.received.append((request.headers["authorization"], json.loads(request.content)))
        return httpx.Response(202, json={"received": 1, "created": 1})


async def test_the_relay_hands_the_message_to_the_gateway_with_the_service_token_once(app: FastAPI, client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    application = await advance(client, who, fakes, await submit(client, who), "recommended")
    gateway = FakeGateway()
    settings = Settings(gateway_url=GATEWAY, service_client_id="svc-applications", service_client_secret="svc-applications-secret")
    token = service_token_from(settings, transport=httpx.MockTransport(gateway))
    assert token is not None
    send = http_sender(url=f"{GATEWAY}/v1/webhooks/events", token=token, client=httpx.AsyncClient(transport=httpx.MockTransport(gateway)))
    assert await relay_once(app.state.sessionmaker, send) == 1
    assert await relay_once(app.state.sessionmaker, send) == 0  # marked sent: not handed on twice
    [(authorization, batch)] = gateway.received
    assert authorization == "Bearer svc-applications-token"
    [message] = batch
    assert message["topic"] == "application.recommended" and message["message_id"] == f"recommended-{application['application_id']}"
    assert message["payload"]["bank_id"] == "RCC" and message["payload"]["village_code"] == VILLAGE


async def test_the_relay_runs_only_with_background_workers_and_a_service_account(app: FastAPI) -> None:
    assert webhook_sender(app) is None  # the tests' settings: background_workers=False
    app.state.settings = Settings(background_workers=True)
    assert webhook_sender(app) is None  # no service account configured
    app.state.settings = Settings(background_workers=True, service_client_id="svc-applications", service_client_secret="s")
    assert webhook_sender(app) is not None


async def test_the_money_moving_operations_are_marked_for_the_gateways_idempotency_check(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    marked = {f"{m.upper()} {p}" for p, ops in paths.items() for m, op in ops.items() if op.get("x-money-moving")}
    assert marked == {
        "POST /v1/applications/{application_id}/disbursement",
        "POST /v1/loans/{loan_id}/repayments",
        "POST /v1/loans/{loan_id}/renewal",
        "POST /v1/loans/{loan_id}/extension",
        "POST /v1/loans/{loan_id}/write-off",
    }
