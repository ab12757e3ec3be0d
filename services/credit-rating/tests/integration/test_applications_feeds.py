"""What credit-rating reads from applications on its own: the loan event log (defaults and
diversions feed ratings) and the 建档立卡 registry (the coverage roster). Real commits; applications
and the gateway's token endpoint are faked with httpx.MockTransport."""

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from credit_rating_support import COUNTY, OTHER_VILLAGE, TOWNSHIP, VILLAGE, Roles, full_values, values_scoring
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from credit_rating import service
from credit_rating.clients.applications import ApplicationsClient
from credit_rating.main import create_app
from credit_rating.settings import Settings
from credit_rating.workers import LOAN_EVENTS, PASS_DONE, REGISTRY, sync_registry_once
from kit.consumer import consume_once
from kit.errors import DependencyUnavailable, InvalidInput
from kit.service_token import ServiceToken
from kit.testing import TokenFactory, api_client, bind_app

TABLES = "assessment_reviews, certificates, penalties, blacklist_entries, applied_loan_events, rating_households, assessments, consumer_cursors"
SERVICE_TOKEN = "svc-credit-rating-token"


def loan_event(seq: int, kind: str, household_id: str | None, village: str = VILLAGE) -> dict[str, Any]:
    return {
        "seq": seq, "loan_id": f"L-{seq}", "type": kind, "business_date": "2026-09-01",
        "data": {"household_id": household_id, "enterprise_id": None if household_id else "91411224MA44XXXX0X",
                 "village_code": village, "township_code": TOWNSHIP, "county_code": COUNTY, "bank_id": "RCC"},
    }


def household(hid: str, status: str = "poor", village: str = VILLAGE) -> dict[str, Any]:
    return {"household_id": hid, "village_code": village, "township_code": TOWNSHIP, "county_code": COUNTY, "status": status,
            "head_resident_id": "411224********1234", "head_name": "张三"}


class FakeApplications:
    """The applications service as far as credit-rating reads it. The loan-event cursor has the
    "txid:seq" form (opaque to the consumer); the household listing is keyset-paged by id with a
    base64 cursor, answering next_cursor when a page is full (as applications does)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.households: dict[str, dict[str, Any]] = {}
        self.requests: list[httpx.Request] = []
        self.down = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("authorization") != f"Bearer {SERVICE_TOKEN}":
            return httpx.Response(401, json={"title": "Unauthorized"})
        if self.down:
            return httpx.Response(503, json={"title": "Dependency unavailable"})
        params = request.url.params
        limit = int(params["limit"])
        if request.url.path == "/v1/loan-events":
            after = int(params["after"].split(":")[1]) if params["after"] else 0
            later = [e for e in self.events if e["seq"] > after]
            page = later[:limit]
            next_cursor = f"901:{page[-1]['seq']}" if page else params["after"]
            return httpx.Response(200, json={"items": page, "next_cursor": next_cursor, "remaining": len(later) - len(page)})
        if request.url.path == "/v1/households":
            after = base64.urlsafe_b64decode(params["cursor"]).decode() if "cursor" in params else ""
            rows = [self.households[h] for h in sorted(self.households) if h > after][:limit]
            full = len(rows) == limit
            return httpx.Response(200, json={
                "items": rows, "next_cursor": base64.urlsafe_b64encode(rows[-1]["household_id"].encode()).decode() if full else None,
            })
        return httpx.Response(404, json={"title": "Not found"})

    def asked(self, path: str) -> list[httpx.QueryParams]:
        return [r.url.params for r in self.requests if r.url.path == path]


class FakeGateway:
    def __init__(self) -> None:
        self.token_requests: list[bytes] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/oauth/token"
        self.token_requests.append(request.content)
        return httpx.Response(200, json={"access_token": SERVICE_TOKEN, "token_type": "Bearer", "expires_in": 900})


@pytest.fixture
def applications() -> FakeApplications:
    return FakeApplications()


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
async def client_of_applications(applications: FakeApplications, gateway: FakeGateway) -> AsyncIterator[ApplicationsClient]:
    """The process's own client, as main.py builds it, over the fakes."""
    settings = Settings(environment="test", background_workers=False, service_client_id="svc-credit-rating", service_client_secret="s3cret")
    token = ServiceToken(
        token_url=f"{settings.gateway_url}/oauth/token", client_id="svc-credit-rating", client_secret="s3cret",
        transport=httpx.MockTransport(gateway.handle),
    )
    client = ApplicationsClient(base_url=settings.applications_url, token=token, transport=httpx.MockTransport(applications.handle))
    yield client
    await client.aclose()


@pytest.fixture
async def maker(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on real connections (each transaction commits); tables emptied afterwards."""
    try:
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {TABLES}"))


@pytest.fixture
async def committing(engine: AsyncEngine, tokens: TokenFactory, maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(environment="test", background_workers=False), keys=tokens.keyset())
    bind_app(app, engine)
    async with api_client(app) as client:
        yield client


async def consume(maker: async_sessionmaker[AsyncSession], client: ApplicationsClient, apply: Any = service.apply_event_log_page,
                  batch: int = 500) -> int:
    return await consume_once(name=LOAN_EVENTS, service="credit-rating", sessionmaker=maker, fetch=client.loan_events(), apply=apply,
                              batch=batch)


async def cursor_of(engine: AsyncEngine, name: str) -> str | None:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT cursor FROM consumer_cursors WHERE name = :n"), {"n": name})).scalar_one_or_none()


async def count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


# ---------------------------------------------------------------- the loan event log


async def test_the_consumer_applies_defaults_and_diversions_once_and_stores_the_cursor(
    committing: httpx.AsyncClient, who: Roles, engine: AsyncEngine, maker: async_sessionmaker[AsyncSession],
    applications: FakeApplications, gateway: FakeGateway, client_of_applications: ApplicationsClient,
) -> None:
    await committing.post("/v1/assessments", json={"household_id": "HH-C1", "village_code": VILLAGE, "values": values_scoring(85)},
                          headers=who.village())
    await committing.post("/v1/assessments", json={"household_id": "HH-C2", "village_code": VILLAGE, "values": full_values()},
                          headers=who.village())
    applications.events = [loan_event(1, "disbursed", "HH-C1"), loan_event(2, "defaulted", "HH-C1"),
                           loan_event(3, "diverted", "HH-C2"), loan_event(4, "defaulted", None)]

    assert await consume(maker, client_of_applications) == 4
    assert await cursor_of(engine, LOAN_EVENTS) == "901:4"
    c1 = (await committing.get("/v1/ratings/HH-C1", headers=who.bank())).json()
    assert (c1["assessed_score"], c1["score"], c1["grade"], [p["loan_id"] for p in c1["penalties"]]) == (85, 65, "A", ["L-2"])
    c2 = (await committing.get("/v1/ratings/HH-C2", headers=who.bank())).json()
    assert c2["blacklisted"] and not c2["eligible_to_borrow"]

    assert await consume(maker, client_of_applications) == 0
    assert [p["after"] for p in applications.asked("/v1/loan-events")] == ["", "901:4"]
    assert await count(engine, "penalties") == 1 and await count(engine, "blacklist_entries") == 1
    assert len(gateway.token_requests) == 1 and b"client_id=svc-credit-rating" in gateway.token_requests[0]


async def test_an_operator_replay_of_a_consumed_event_changes_nothing(
    committing: httpx.AsyncClient, who: Roles, engine: AsyncEngine, maker: async_sessionmaker[AsyncSession],
    applications: FakeApplications, client_of_applications: ApplicationsClient,
) -> None:
    await committing.post("/v1/assessments", json={"household_id": "HH-C3", "village_code": VILLAGE, "values": values_scoring(85)},
                          headers=who.village())
    applications.events = [loan_event(7, "defaulted", "HH-C3")]
    assert await consume(maker, client_of_applications) == 1
    replay = await committing.post("/v1/rating-events", json=applications.events, headers=who.service())
    assert replay.json() == {"received": 1, "applied": 0, "duplicates": 1, "ignored": 0}
    assert (await committing.get("/v1/ratings/HH-C3", headers=who.bank())).json()["score"] == 65


async def test_an_apply_that_fails_mid_batch_leaves_no_effect_and_the_cursor_unmoved(
    committing: httpx.AsyncClient, who: Roles, engine: AsyncEngine, maker: async_sessionmaker[AsyncSession],
    applications: FakeApplications, client_of_applications: ApplicationsClient,
) -> None:
    await committing.post("/v1/assessments", json={"household_id": "HH-C4", "village_code": VILLAGE, "values": values_scoring(85)},
                          headers=who.village())
    applications.events = [loan_event(11, "defaulted", "HH-C4"), loan_event(12, "diverted", "HH-C4")]

    async def dies_after_the_first_event(session: AsyncSession, events: list[dict[str, Any]]) -> None:
        await service.apply_event_log_page(session, events[:1])
        raise RuntimeError("process killed mid-batch")

    with pytest.raises(RuntimeError):
        await consume(maker, client_of_applications, apply=dies_after_the_first_event)
    assert await cursor_of(engine, LOAN_EVENTS) == ""
    assert (await count(engine, "applied_loan_events"), await count(engine, "penalties")) == (0, 0)
    assert (await committing.get("/v1/ratings/HH-C4", headers=who.bank())).json()["score"] == 85

    assert await consume(maker, client_of_applications) == 2
    rating = (await committing.get("/v1/ratings/HH-C4", headers=who.bank())).json()
    assert rating["blacklisted"] and rating["assessed_score"] == 85 and len(rating["penalties"]) == 1


async def test_a_malformed_event_stops_the_consumer_instead_of_being_skipped(
    engine: AsyncEngine, maker: async_sessionmaker[AsyncSession], applications: FakeApplications,
    client_of_applications: ApplicationsClient,
) -> None:
    broken = loan_event(22, "defaulted", "HH-C5")
    broken["data"]["village_code"] = None
    applications.events = [loan_event(21, "defaulted", "HH-C5"), broken]
    with pytest.raises(InvalidInput):
        await consume(maker, client_of_applications)
    assert await cursor_of(engine, LOAN_EVENTS) == ""
    assert await count(engine, "applied_loan_events") == 0


async def test_the_consumer_lag_is_exported_in_metrics(
    committing: httpx.AsyncClient, maker: async_sessionmaker[AsyncSession], applications: FakeApplications,
    client_of_applications: ApplicationsClient,
) -> None:
    applications.events = [loan_event(seq, "repayment_recorded", "HH-C6") for seq in range(31, 36)]
    assert await consume(maker, client_of_applications, batch=2) == 2
    metrics = (await committing.get("/metrics")).text
    assert 'event_consumer_lag_events{consumer="applications-loan-events",service="credit-rating"} 3.0' in metrics
    while await consume(maker, client_of_applications, batch=2):
        pass
    metrics = (await committing.get("/metrics")).text
    assert 'event_consumer_lag_events{consumer="applications-loan-events",service="credit-rating"} 0.0' in metrics


# ---------------------------------------------------------------- the registry (coverage roster)


async def sync(maker: async_sessionmaker[AsyncSession], client: ApplicationsClient, *, limit: int = 2, rest: float = 600.0) -> Any:
    return await sync_registry_once(sessionmaker=maker, fetch=client.households, rest_seconds=rest, limit=limit)


async def roster(engine: AsyncEngine) -> dict[str, tuple[str, bool]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT household_id, village_code, registered FROM rating_households"))
        return {r.household_id: (r.village_code, r.registered) for r in rows}


async def test_the_registry_is_read_page_by_page_into_the_coverage_roster(
    committing: httpx.AsyncClient, who: Roles, engine: AsyncEngine, maker: async_sessionmaker[AsyncSession],
    applications: FakeApplications, client_of_applications: ApplicationsClient,
) -> None:
    for h in (household("HH-G1"), household("HH-G2", "exited"), household("HH-G3", "edge"), household("HH-G4", "removed"),
              household("HH-G5", village=OTHER_VILLAGE)):
        applications.households[h["household_id"]] = h
    await committing.post("/v1/assessments", json={"household_id": "HH-G1", "village_code": VILLAGE, "values": full_values()},
                          headers=who.village())
    steps = [await sync(maker, client_of_applications) for _ in range(3)]
    assert [(s.read, s.more) for s in steps] == [(2, True), (2, True), (1, False)]
    assert await roster(engine) == {
        "HH-G1": (VILLAGE, True), "HH-G2": (VILLAGE, True), "HH-G3": (VILLAGE, True), "HH-G4": (VILLAGE, False),
        "HH-G5": (OTHER_VILLAGE, True),
    }
    assert await cursor_of(engine, REGISTRY) == PASS_DONE
    cursors = [p.get("cursor") for p in applications.asked("/v1/households")]
    assert len(cursors) == 3 and cursors[0] is None and None not in cursors[1:]
    assert all(p["limit"] == "2" for p in applications.asked("/v1/households"))

    metrics = (await committing.get("/metrics")).text
    assert 'ratings_current_households{county="411224000000"} 1.0' in metrics
    assert 'rating_roster_last_pass_timestamp_seconds{service="credit-rating"}' in metrics
    report = (await committing.get("/v1/rating-households/coverage", params={"region": TOWNSHIP}, headers=who.township())).json()
    assert (report["registered"], report["rated"], report["coverage"]) == (4, 1, "0.2500")


async def test_after_a_full_pass_the_reader_rests_then_reads_again_and_picks_up_changes(
    engine: AsyncEngine, maker: async_sessionmaker[AsyncSession], applications: FakeApplications,
    client_of_applications: ApplicationsClient,
) -> None:
    for hid in ("HH-P1", "HH-P2", "HH-P3"):
        applications.households[hid] = household(hid)
    while (await sync(maker, client_of_applications)).more:
        pass
    applications.households["HH-P2"] = household("HH-P2", "removed")
    applications.households["HH-P3"] = household("HH-P3", village=OTHER_VILLAGE)
    asked = len(applications.requests)

    resting = await sync(maker, client_of_applications)
    assert (resting.read, resting.more, len(applications.requests)) == (0, False, asked)
    assert (await roster(engine))["HH-P2"] == (VILLAGE, True)

    async with engine.begin() as conn:  # the rest is over: the last pass ended eleven minutes ago
        await conn.execute(text("UPDATE consumer_cursors SET updated_at = now() - interval '11 minutes' WHERE name = :n"), {"n": REGISTRY})
    first = await sync(maker, client_of_applications)
    assert "cursor" not in applications.asked("/v1/households")[-1]  # from the beginning again
    second = await sync(maker, client_of_applications)
    assert (first.read, first.changed, second.read, second.changed, second.more) == (2, 1, 1, 1, False)
    assert await roster(engine) == {"HH-P1": (VILLAGE, True), "HH-P2": (VILLAGE, False), "HH-P3": (OTHER_VILLAGE, True)}
    assert await cursor_of(engine, REGISTRY) == PASS_DONE


async def test_a_page_the_registry_cannot_serve_leaves_roster_and_cursor_as_they_were(
    engine: AsyncEngine, maker: async_sessionmaker[AsyncSession], applications: FakeApplications,
    client_of_applications: ApplicationsClient,
) -> None:
    for hid in ("HH-F1", "HH-F2", "HH-F3"):
        applications.households[hid] = household(hid)
    assert (await sync(maker, client_of_applications)).more
    cursor = await cursor_of(engine, REGISTRY)
    applications.down = True
    with pytest.raises(DependencyUnavailable):
        await sync(maker, client_of_applications)
    assert await cursor_of(engine, REGISTRY) == cursor and set(await roster(engine)) == {"HH-F1", "HH-F2"}
    applications.down = False
    assert (await sync(maker, client_of_applications)).read == 1
    assert set(await roster(engine)) == {"HH-F1", "HH-F2", "HH-F3"}


async def test_a_registry_row_that_cannot_be_stored_is_skipped_and_the_page_lands(
    engine: AsyncEngine, maker: async_sessionmaker[AsyncSession], applications: FakeApplications,
    client_of_applications: ApplicationsClient,
) -> None:
    applications.households = {"HH-S1": household("HH-S1"), "HH-S2": household("HH-S2", village="4112241010")}
    step = await sync(maker, client_of_applications, limit=10)
    assert (step.read, step.changed, step.more) == (2, 1, False)
    assert await roster(engine) == {"HH-S1": (VILLAGE, True)}


# ---------------------------------------------------------------- the running process

WORKER_TASKS = {"consumer-applications-loan-events", "registry-applications-households"}  # asyncio task names


async def test_the_running_app_consumes_the_log_and_reads_the_registry_by_itself(
    engine: AsyncEngine, tokens: TokenFactory, maker: async_sessionmaker[AsyncSession], applications: FakeApplications,
    client_of_applications: ApplicationsClient,
) -> None:
    applications.events = [loan_event(41, "defaulted", "HH-L1"), loan_event(42, "disbursed", "HH-L1")]
    applications.households = {"HH-L1": household("HH-L1"), "HH-L2": household("HH-L2", "removed")}
    settings = Settings(environment="test", service_client_id="svc-credit-rating", service_client_secret="s3cret")
    app = create_app(settings, keys=tokens.keyset(), applications=client_of_applications)
    bind_app(app, engine)
    async with app.router.lifespan_context(app):
        assert WORKER_TASKS <= {t.get_name() for t in asyncio.all_tasks()}
        for _ in range(400):  # the workers run on their own; wait for them (a bound on waiting, not a timing claim)
            if await cursor_of(engine, LOAN_EVENTS) == "901:42" and await cursor_of(engine, REGISTRY) == PASS_DONE:
                break
            await asyncio.sleep(0.025)
    assert await count(engine, "applied_loan_events") == 1
    assert await roster(engine) == {"HH-L1": (VILLAGE, True), "HH-L2": (VILLAGE, False)}


async def test_with_background_workers_off_the_app_starts_no_reader(
    engine: AsyncEngine, tokens: TokenFactory, maker: async_sessionmaker[AsyncSession], applications: FakeApplications,
    client_of_applications: ApplicationsClient,
) -> None:
    settings = Settings(environment="test", background_workers=False, service_client_id="svc-credit-rating", service_client_secret="s")
    app = create_app(settings, keys=tokens.keyset(), applications=client_of_applications)
    bind_app(app, engine)
    async with app.router.lifespan_context(app):
        assert WORKER_TASKS.isdisjoint(t.get_name() for t in asyncio.all_tasks())
    assert applications.requests == []
