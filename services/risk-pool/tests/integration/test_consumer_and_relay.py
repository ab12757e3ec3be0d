"""The loan-event consumer (applications' log over REST) and the claim.settled webhook relay, on
real commits, with applications and the gateway faked by httpx.MockTransport."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from risk_pool_support import Actors, World, event
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.auth import verify_token
from kit.consumer import consume_once
from kit.outbox import relay_once
from kit.testing import AUDIENCE, ISSUER, TokenFactory, api_client, bind_app
from risk_pool import service
from risk_pool.main import LOAN_EVENTS_CONSUMER, create_app
from risk_pool.settings import Settings

TABLES = ("recovery_parts, recoveries, obligations, claim_parts, claims, journal_lines, journal_entries, fee_segments, fee_bills, "
          "exposures, applied_events, village_exposures, breakers, breaker_history, breaker_policies, scheme_shares, "
          "sharing_schemes, funds, outbox_messages, consumer_cursors")


class FakePlatform:
    """Applications' loan-event log and the gateway (token endpoint, webhook intake)."""

    def __init__(self, log: list[dict[str, Any]]) -> None:
        self.log = log  # each with a "cursor" of the producer's "txid:seq" form
        self.token_requests: list[str] = []
        self.log_requests: list[tuple[str, str]] = []
        self.webhooks: list[list[dict[str, Any]]] = []
        self.remaining_extra = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            self.token_requests.append(request.content.decode())
            return httpx.Response(200, json={"access_token": "svc-token", "token_type": "Bearer", "expires_in": 900})
        if request.url.path == "/v1/loan-events":
            after, limit = request.url.params["after"], int(request.url.params["limit"])
            self.log_requests.append((after, request.headers["authorization"]))
            start = next((i + 1 for i, e in enumerate(self.log) if e["cursor"] == after), 0)
            page = self.log[start:start + limit]
            items = [{k: v for k, v in e.items() if k != "cursor"} for e in page]
            remaining = len(self.log) - start - len(page) + self.remaining_extra
            return httpx.Response(200, json={"items": items, "next_cursor": page[-1]["cursor"] if page else after, "remaining": remaining})
        if request.url.path == "/v1/webhooks/events":
            assert request.headers["authorization"] == "Bearer svc-token"
            self.webhooks.append(httpx.Response(200, content=request.content).json())
            return httpx.Response(202, json={"accepted": len(self.webhooks[-1])})
        return httpx.Response(404)


def logged(cursor: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return {**event(*args, **kwargs), "cursor": cursor}


LOG = [
    logged("7001:1", 1, "L-1", "disbursed", "2021-01-10"),
    logged("7001:2", 2, "L-2", "disbursed", "2021-01-10", household_id="H-2"),
    logged("7002:3", 3, "L-2", "defaulted", "2022-04-15", household_id="H-2", days_past_due=95, default_date="2022-04-15",
           outstanding_principal="50000.00", unpaid_interest="100.00", overdue_principal="50000.00"),
]


@pytest.fixture
async def platform_app(engine: AsyncEngine, tokens: TokenFactory) -> AsyncIterator[tuple[FastAPI, FakePlatform]]:
    platform = FakePlatform(list(LOG))
    settings = Settings(environment="test", background_workers=False, service_client_id="svc-risk-pool",
                        service_client_secret="svc-risk-pool-secret", gateway_url="http://gateway.test",
                        applications_url="http://applications.test")
    app = create_app(settings, keys=tokens.keyset(), transport=httpx.MockTransport(platform.handler))
    bind_app(app, engine)
    try:
        yield app, platform
    finally:
        await app.state.outbound.aclose()
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))


async def consume(app: FastAPI, apply: Any = service.apply_loan_events, batch: int = 500) -> int:
    return await consume_once(name=LOAN_EVENTS_CONSUMER, service="risk-pool", sessionmaker=app.state.sessionmaker,
                              fetch=app.state.outbound.fetch(), apply=apply, batch=batch)


async def scalar(app: FastAPI, sql: str) -> Any:
    async with app.state.sessionmaker() as session:
        return (await session.execute(text(sql))).scalar()


async def test_the_consumer_applies_the_log_stores_the_cursor_and_a_second_pass_applies_nothing(
        platform_app: tuple[FastAPI, FakePlatform]) -> None:
    app, platform = platform_app

    first = await consume(app)
    second = await consume(app)

    assert (first, second) == (3, 0)
    assert await scalar(app, f"SELECT cursor FROM consumer_cursors WHERE name = '{LOAN_EVENTS_CONSUMER}'") == "7002:3"
    assert await scalar(app, "SELECT count(*) FROM applied_events") == 3
    assert await scalar(app, "SELECT status FROM exposures WHERE loan_id = 'L-2'") == "defaulted"
    assert [after for after, _ in platform.log_requests] == ["", "7002:3"]
    assert {auth for _, auth in platform.log_requests} == {"Bearer svc-token"}
    assert "client_id=svc-risk-pool" in platform.token_requests[0] and "grant_type=client_credentials" in platform.token_requests[0]


async def test_the_consumer_reads_on_from_its_cursor_page_by_page(platform_app: tuple[FastAPI, FakePlatform]) -> None:
    app, platform = platform_app

    assert await consume(app, batch=2) == 2
    assert await consume(app, batch=2) == 1

    assert [after for after, _ in platform.log_requests] == ["", "7001:2"]
    assert await scalar(app, "SELECT applied FROM consumer_cursors") == 3


async def test_an_apply_that_fails_mid_batch_leaves_no_effect_and_no_cursor_move(platform_app: tuple[FastAPI, FakePlatform]) -> None:
    app, _ = platform_app

    async def fails_after_the_first_event(session: Any, events: list[dict[str, Any]]) -> None:
        await service.apply_loan_events(session, events[:1])
        raise RuntimeError("the database went away mid-batch")

    with pytest.raises(RuntimeError):
        await consume(app, apply=fails_after_the_first_event)

    assert await scalar(app, "SELECT cursor FROM consumer_cursors") == ""
    assert await scalar(app, "SELECT count(*) FROM applied_events") == 0
    assert await scalar(app, "SELECT count(*) FROM exposures") == 0
    assert await consume(app) == 3  # the retry applies the whole page once


async def test_an_event_that_does_not_parse_stops_the_batch_without_effect(platform_app: tuple[FastAPI, FakePlatform]) -> None:
    app, platform = platform_app
    platform.log[1] = {**platform.log[1], "data": {**platform.log[1]["data"], "village_code": "not-a-code"}}

    with pytest.raises(Exception, match="do not parse"):
        await consume(app)

    assert await scalar(app, "SELECT count(*) FROM applied_events") == 0
    assert await scalar(app, "SELECT cursor FROM consumer_cursors") == ""


async def test_the_consumer_lag_shows_in_metrics(platform_app: tuple[FastAPI, FakePlatform]) -> None:
    app, platform = platform_app
    platform.remaining_extra = 40  # events the producer holds beyond this page

    await consume(app, batch=2)
    async with api_client(app) as client:
        metrics = (await client.get("/metrics")).text

    [lag] = [s for f in text_string_to_metric_families(metrics) for s in f.samples
             if s.name == "event_consumer_lag_events" and s.labels == {"service": "risk-pool", "consumer": LOAN_EVENTS_CONSUMER}]
    assert lag.value == 41  # one event of the log after this page, plus the 40


async def test_a_paid_claim_is_relayed_once_to_the_gateway_webhook_intake(platform_app: tuple[FastAPI, FakePlatform], tokens: TokenFactory) -> None:
    app, platform = platform_app
    async with api_client(app) as client:
        world = World(client, Actors(tokens))
        await world.fund()
        await world.scheme()
        await world.defaulted_loan("L-9")
        assert (await world.claim("L-9")).status_code == 201

    send = app.state.outbound.send()
    assert send is None  # background workers are off in tests: the hook would not relay
    app.state.settings.background_workers = True
    send = app.state.outbound.send()

    assert await relay_once(app.state.sessionmaker, send) == 1
    assert await relay_once(app.state.sessionmaker, send) == 0
    [[message]] = platform.webhooks
    assert message["topic"] == "claim.settled" and message["message_id"].startswith("claim.settled:")
    assert message["payload"]["bank_id"] == "RCC" and message["payload"]["loan_id"] == "L-9"


async def test_a_rolled_back_claim_enqueues_nothing(platform_app: tuple[FastAPI, FakePlatform], tokens: TokenFactory) -> None:
    app, _ = platform_app
    actors = Actors(tokens)
    async with api_client(app) as client:
        world = World(client, actors)
        await world.fund()
        await world.scheme()
        await world.defaulted_loan("L-9")
    bank = await verify_token(actors.bank["Authorization"].removeprefix("Bearer "), keys=app.state.keys, issuer=ISSUER, audience=AUDIENCE)

    async with app.state.sessionmaker() as session:
        result = await service.file_claims(session=session, principal=bank, loan_ids=["L-9"])
        assert result["paid"] == 1
        assert (await session.execute(text("SELECT count(*) FROM outbox_messages"))).scalar() == 1  # inside the transaction
        await session.rollback()

    assert await scalar(app, "SELECT count(*) FROM outbox_messages") == 0
    assert await scalar(app, "SELECT count(*) FROM claims") == 0


async def test_an_event_type_this_service_does_not_know_never_stalls_the_consumer(platform_app: tuple[FastAPI, FakePlatform]) -> None:
    app, platform = platform_app
    platform.log.insert(1, {"seq": 9, "loan_id": "L-1", "type": "certificate_printed", "business_date": "2021-01-11", "data": {},
                            "cursor": "7001:9"})

    assert await consume(app) == 4

    assert await scalar(app, "SELECT type FROM applied_events WHERE seq = 9") == "certificate_printed"
    assert await scalar(app, "SELECT count(*) FROM exposures") == 2
