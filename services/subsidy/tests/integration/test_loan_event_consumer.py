"""The applications-loan-events consumer: the applications log read with this service's own token,
each page applied in one transaction with its cursor, through the same function as
POST /v1/subsidy-events. Real database, the applications log and the gateway faked."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from support import VILLAGE, FakeApplications, World

from kit.consumer import ConsumerCursor, consume_once, http_fetch
from kit.testing import TokenFactory, api_client, bind_app, rolled_back
from subsidy import service
from subsidy.main import LOAN_EVENTS_CONSUMER, create_app
from subsidy.settings import Settings


@dataclass
class FakeLog:
    """The applications event log: opaque "txid:seq" cursors, pages of ``limit`` events."""

    events: list[dict] = field(default_factory=list)
    afters: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":  # the gateway, issuing this service's own token
            form = dict(httpx.QueryParams(request.content.decode()))
            assert (form["grant_type"], form["client_id"], form["client_secret"]) == ("client_credentials", "svc-subsidy", "svc-subsidy-secret")
            return httpx.Response(200, json={"access_token": "svc-token", "token_type": "Bearer", "expires_in": 900})
        assert request.url.path == "/v1/loan-events"
        self.tokens.append(request.headers["authorization"])
        after, limit = request.url.params["after"], int(request.url.params["limit"])
        self.afters.append(after)
        start = int(after.split(":")[1]) if after else 0
        page = [e for e in self.events if e["seq"] > start][:limit]
        cursor = f"9{page[-1]['seq']}:{page[-1]['seq']}" if page else after
        remaining = len([e for e in self.events if e["seq"] > start]) - len(page)
        return httpx.Response(200, json={"items": page, "next_cursor": cursor, "remaining": remaining})


@pytest.fixture
def log() -> FakeLog:
    return FakeLog()


@pytest.fixture
async def consumer_app(engine: AsyncEngine, tokens: TokenFactory, log: FakeLog) -> AsyncIterator[FastAPI]:
    transport = httpx.MockTransport(log.handle)
    settings = Settings(
        environment="test", background_workers=False, service_client_id="svc-subsidy", service_client_secret="svc-subsidy-secret",
        gateway_url="http://gateway", applications_url="http://applications",
    )
    async with rolled_back(engine) as conn:
        app = create_app(settings, keys=tokens.keyset(), applications_transport=transport, gateway_transport=transport)
        bind_app(app, conn)
        yield app
        await app.state.service_token.aclose()
        await app.state.event_log.aclose()


def _loan_events(world: World) -> list[dict]:
    common = world.common(household_id="H-1", principal="50000.00", start="2026-01-01", maturity="2027-01-01", village=VILLAGE)
    schedule = [{"loan_year": 1, "due_date": "2027-01-01", "interest_due": "2175.00", "principal_due": "50000.00"}]
    return [
        world.event("L-1", "disbursed", "2026-01-01", common, term_months=12, purpose="养牛", schedule=schedule),
        world.event("L-1", "repayment_recorded", "2027-01-01", common, kind="interest", amount="2175.00", value_date="2027-01-01",
                    due_date="2027-01-01", loan_year=1, late=False, outstanding_principal="50000.00"),
        world.event("L-1", "repayment_recorded", "2027-01-01", common, kind="principal", amount="50000.00", value_date="2027-01-01",
                    due_date="2027-01-01", loan_year=1, late=False, outstanding_principal="0.00"),
        world.event("L-1", "closed", "2027-01-01", common, outstanding_principal="0.00"),
    ]


async def _consume(app: FastAPI, apply=service.apply_log_page, batch: int = 500) -> int:  # type: ignore[no-untyped-def]
    fetch = http_fetch(client=app.state.event_log, path="/v1/loan-events", token=app.state.service_token)
    return await consume_once(
        name=LOAN_EVENTS_CONSUMER, service="subsidy", sessionmaker=app.state.sessionmaker, fetch=fetch, apply=apply, batch=batch
    )


async def _state(app: FastAPI) -> tuple[str | None, int, str | None]:
    async with app.state.sessionmaker() as session:
        cursor = await session.get(ConsumerCursor, LOAN_EVENTS_CONSUMER)
        events = (await session.execute(text("SELECT count(*) FROM loan_events"))).scalar_one()
        status = (await session.execute(text("SELECT status FROM loan_accounts WHERE loan_id = 'L-1'"))).scalar_one_or_none()
    return (cursor.cursor if cursor else None), events, status


async def test_the_consumer_applies_the_log_stores_the_cursor_and_a_second_pass_applies_nothing(consumer_app: FastAPI, log: FakeLog) -> None:
    world = World(httpx.AsyncClient(), TokenFactory(), FakeApplications())
    log.events = _loan_events(world)
    assert await _consume(consumer_app) == 4
    assert await _state(consumer_app) == ("94:4", 4, "closed")
    assert await _consume(consumer_app) == 0
    assert await _state(consumer_app) == ("94:4", 4, "closed")
    assert log.afters == ["", "94:4"]  # the stored cursor is sent back as it came
    assert set(log.tokens) == {"Bearer svc-token"}


async def test_the_consumer_reads_the_log_page_by_page(consumer_app: FastAPI, log: FakeLog) -> None:
    world = World(httpx.AsyncClient(), TokenFactory(), FakeApplications())
    log.events = _loan_events(world)
    assert [await _consume(consumer_app, batch=3) for _ in range(3)] == [3, 1, 0]
    assert await _state(consumer_app) == ("94:4", 4, "closed")


async def test_an_apply_that_fails_mid_page_leaves_no_effect_and_no_cursor_move(consumer_app: FastAPI, log: FakeLog) -> None:
    world = World(httpx.AsyncClient(), TokenFactory(), FakeApplications())
    log.events = _loan_events(world)

    async def fails_after_two(session: AsyncSession, events: list[dict]) -> None:
        await service.apply_log_page(session, events[:2])
        raise RuntimeError("the database went away mid-page")

    with pytest.raises(RuntimeError):
        await _consume(consumer_app, apply=fails_after_two)
    assert await _state(consumer_app) == ("", 0, None)
    assert await _consume(consumer_app) == 4  # the retry applies the whole page
    assert await _state(consumer_app) == ("94:4", 4, "closed")


async def test_an_event_this_service_cannot_read_stops_the_page_instead_of_skipping_it(consumer_app: FastAPI, log: FakeLog) -> None:
    world = World(httpx.AsyncClient(), TokenFactory(), FakeApplications())
    events = _loan_events(world)
    del events[0]["data"]["schedule"]
    log.events = events
    with pytest.raises(ValueError):
        await _consume(consumer_app)
    assert await _state(consumer_app) == ("", 0, None)


async def test_events_replayed_by_an_operator_are_not_applied_again_by_the_consumer(consumer_app: FastAPI, log: FakeLog, tokens: TokenFactory) -> None:
    async with api_client(consumer_app) as client:
        world = World(client, tokens, FakeApplications())
        log.events = _loan_events(world)
        replayed = await world.send(*log.events[:2])
        assert replayed == {"applied": [1, 2], "duplicates": []}
        assert await _consume(consumer_app) == 4  # the page is consumed; its first two events were applied already
        years = (await client.get("/v1/subsidy-accounts/L-1", headers=world.monitor())).json()["years"]
    assert years[0]["interest_paid"] == "2175.00"  # counted once


async def test_the_consumer_lag_shows_in_metrics(consumer_app: FastAPI, log: FakeLog) -> None:
    world = World(httpx.AsyncClient(), TokenFactory(), FakeApplications())
    log.events = _loan_events(world)
    await _consume(consumer_app, batch=1)
    async with api_client(consumer_app) as client:
        body = (await client.get("/metrics")).text
    assert f'event_consumer_lag_events{{consumer="{LOAN_EVENTS_CONSUMER}",service="subsidy"}} 3.0' in body


async def _background_tasks(app: FastAPI, engine: AsyncEngine) -> set[str]:
    async with rolled_back(engine) as conn:
        bind_app(app, conn)
        async with app.router.lifespan_context(app):
            names = {task.get_name() for task in asyncio.all_tasks()}
    return names & {f"consumer-{LOAN_EVENTS_CONSUMER}", "outbox-relay"}


async def test_the_consumer_and_the_relay_run_only_with_a_service_account_and_background_workers(tokens: TokenFactory, engine: AsyncEngine) -> None:
    empty_log = httpx.MockTransport(lambda request: httpx.Response(200, json={"items": [], "next_cursor": "", "remaining": 0}))
    account = {"service_client_id": "svc-subsidy", "service_client_secret": "svc-subsidy-secret"}
    with_account = create_app(Settings(environment="test", **account), keys=tokens.keyset(), applications_transport=empty_log)
    without_account = create_app(Settings(environment="test"), keys=tokens.keyset(), applications_transport=empty_log)
    workers_off = create_app(Settings(environment="test", background_workers=False, **account), keys=tokens.keyset())
    assert await _background_tasks(with_account, engine) == {f"consumer-{LOAN_EVENTS_CONSUMER}", "outbox-relay"}
    assert await _background_tasks(without_account, engine) == set()
    assert await _background_tasks(workers_off, engine) == set()
