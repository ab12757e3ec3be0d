"""A consumer applies each event once: the cursor moves in the same transaction as the effects."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from kit.consumer import ConsumerCursor, Page, consume_once
from kit.db import database_url, drop_database, ensure_database

effects_meta = MetaData()
effects = Table("effects", effects_meta, Column("seq", Integer, primary_key=True))


@pytest.fixture
async def engine(pg_server: str) -> AsyncIterator[AsyncEngine]:
    name = f"test_kit_consumer_{uuid.uuid4().hex[:8]}"
    await ensure_database(pg_server, name)
    engine = create_async_engine(database_url(pg_server, name))
    async with engine.begin() as conn:
        await conn.run_sync(effects_meta.create_all)
        await conn.run_sync(lambda c: ConsumerCursor.__table__.create(c))  # type: ignore[attr-defined]
    yield engine
    await engine.dispose()
    await drop_database(pg_server, name)


class Log:
    """A producer's log: cursor = the last seq delivered."""

    def __init__(self, n: int) -> None:
        self.events = [{"seq": i} for i in range(1, n + 1)]

    async def fetch(self, cursor: str, limit: int) -> Page:
        after = int(cursor or 0)
        items = [e for e in self.events if e["seq"] > after][:limit]
        rest = len([e for e in self.events if e["seq"] > after]) - len(items)
        return Page(items, str(items[-1]["seq"]) if items else cursor, rest)


async def record(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    await session.execute(effects.insert(), [{"seq": e["seq"]} for e in events])


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(effects))).scalar_one())


async def test_the_log_is_drained_once_in_batches(engine: AsyncEngine) -> None:
    maker = async_sessionmaker(engine)
    log = Log(25)
    applied = [await consume_once(name="c", service="t", sessionmaker=maker, fetch=log.fetch, apply=record, batch=10) for _ in range(4)]
    assert applied == [10, 10, 5, 0]
    assert await _count(engine) == 25


async def test_a_crash_mid_batch_applies_nothing_and_the_retry_applies_everything_once(engine: AsyncEngine) -> None:
    maker = async_sessionmaker(engine)
    log = Log(8)

    async def crash_after_some(session: AsyncSession, events: list[dict[str, Any]]) -> None:
        await record(session, events[:3])
        raise RuntimeError("killed mid-batch")

    with pytest.raises(RuntimeError):
        await consume_once(name="c", service="t", sessionmaker=maker, fetch=log.fetch, apply=crash_after_some)
    assert await _count(engine) == 0
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT cursor FROM consumer_cursors WHERE name = 'c'"))).scalar_one() == ""
    assert await consume_once(name="c", service="t", sessionmaker=maker, fetch=log.fetch, apply=record) == 8
    assert await consume_once(name="c", service="t", sessionmaker=maker, fetch=log.fetch, apply=record) == 0
    assert await _count(engine) == 8


async def test_the_log_is_read_over_http_with_the_services_own_token() -> None:
    import httpx

    from kit.consumer import http_fetch
    from kit.http import ServiceClient
    from kit.service_token import ServiceToken

    tokens_issued = []

    def gateway(request: httpx.Request) -> httpx.Response:
        tokens_issued.append(request.content)
        return httpx.Response(200, json={"access_token": "svc-token", "expires_in": 900})

    def producer(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer svc-token"
        assert request.url.params["after"] == "7:3"
        return httpx.Response(200, json={"items": [{"seq": 4}], "next_cursor": "7:4", "remaining": 2})

    token = ServiceToken(token_url="http://gw/oauth/token", client_id="svc", client_secret="s", transport=httpx.MockTransport(gateway))
    client = ServiceClient(caller="c", dependency="applications", base_url="http://apps", transport=httpx.MockTransport(producer))
    fetch = http_fetch(client=client, path="/v1/loan-events", token=token)
    page = await fetch("7:3", 100)
    assert (page.items, page.next_cursor, page.remaining) == ([{"seq": 4}], "7:4", 2)
    await fetch("7:3", 100)
    assert len(tokens_issued) == 1  # cached
