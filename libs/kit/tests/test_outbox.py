"""The outbox: a message is relayed only after its transaction commits, and marked sent only when
the receiver took it."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from kit.db import database_url, drop_database, ensure_database
from kit.outbox import OutboxMessage, enqueue, relay_once


@pytest.fixture
async def engine(pg_server: str) -> AsyncIterator[AsyncEngine]:
    name = f"test_kit_outbox_{uuid.uuid4().hex[:8]}"
    await ensure_database(pg_server, name)
    engine = create_async_engine(database_url(pg_server, name))
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: OutboxMessage.__table__.create(c))  # type: ignore[attr-defined]
    yield engine
    await engine.dispose()
    await drop_database(pg_server, name)


async def test_rolled_back_messages_are_never_sent_and_failed_sends_are_retried(engine: AsyncEngine) -> None:
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as session:
        await enqueue(session, topic="claim.settled", payload={"bank_id": "RCC"}, message_id="gone")
        await session.rollback()
    async with maker() as session, session.begin():
        await enqueue(session, topic="claim.settled", payload={"bank_id": "RCC", "n": 1}, message_id="m1")
    sent: list[dict[str, Any]] = []

    async def receiver_down(batch: list[dict[str, Any]]) -> None:
        raise OSError("gateway down")

    async def receiver(batch: list[dict[str, Any]]) -> None:
        sent.extend(batch)

    with pytest.raises(OSError):
        await relay_once(maker, receiver_down)
    assert await relay_once(maker, receiver) == 1
    assert await relay_once(maker, receiver) == 0
    assert sent == [{"message_id": "m1", "topic": "claim.settled", "payload": {"bank_id": "RCC", "n": 1}}]
