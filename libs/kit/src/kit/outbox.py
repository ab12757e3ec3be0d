"""Transactional outbox: a service records a message in the same transaction as the change it
announces; a relay hands it on afterwards (at least once; receivers dedupe by message id)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import BigInteger, Column, DateTime, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import Field, SQLModel

from kit.background import background_hook
from kit.service_token import ServiceToken

log = logging.getLogger("kit.outbox")


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_messages"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    message_id: str = Field(max_length=64, unique=True)
    topic: str = Field(max_length=64)
    payload: dict = Field(sa_column=Column(JSONB, nullable=False))  # type: ignore[type-arg]
    created_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), server_default=func.now()))
    sent_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), index=True))


async def enqueue(session: AsyncSession, *, topic: str, payload: dict[str, Any], message_id: str | None = None) -> str:
    """Record a message to be relayed after this transaction commits."""
    mid = message_id or f"msg_{uuid.uuid4().hex}"
    session.add(OutboxMessage(message_id=mid, topic=topic, payload=payload))
    await session.flush()
    return mid


Send = Callable[[list[dict[str, Any]]], Awaitable[None]]


async def relay_once(sessionmaker: async_sessionmaker[AsyncSession], send: Send, batch: int = 100) -> int:
    """Send the oldest unsent messages; they are marked sent only if ``send`` returned."""
    async with sessionmaker() as session, session.begin():
        query = (
            select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))  # type: ignore[union-attr]
            .order_by(OutboxMessage.id).limit(batch).with_for_update(skip_locked=True)  # type: ignore[arg-type]
        )
        rows = list((await session.execute(query)).scalars())
        if not rows:
            return 0
        await send([{"message_id": r.message_id, "topic": r.topic, "payload": r.payload} for r in rows])
        for row in rows:
            row.sent_at = func.now()  # type: ignore[assignment]
    return len(rows)


def http_sender(*, url: str, token: ServiceToken, client: httpx.AsyncClient | None = None) -> Send:
    """Hand messages to the gateway's webhook intake (``POST /v1/webhooks/events``)."""
    http = client or httpx.AsyncClient(timeout=10.0)

    async def send(batch: list[dict[str, Any]]) -> None:
        resp = await http.post(url, json=batch, headers={"Authorization": f"Bearer {await token.get()}"})
        if resp.status_code >= 300:
            raise OSError(f"webhook intake answered {resp.status_code}: {resp.text[:200]}")

    return send


def relay_hook(*, send_of: Callable[[FastAPI], Send | None], interval_seconds: float = 1.0) -> Callable[[FastAPI], Any]:
    """Lifespan hook relaying the outbox in the background; off when ``send_of`` gives None."""
    senders: dict[int, Send | None] = {}

    def sender(app: FastAPI) -> Send | None:
        if id(app) not in senders:
            senders[id(app)] = send_of(app)
        return senders[id(app)]

    async def step(app: FastAPI) -> bool:
        send = sender(app)
        assert send is not None
        return await relay_once(app.state.sessionmaker, send) > 0

    return background_hook(name="outbox-relay", step=step, interval_seconds=interval_seconds, enabled=lambda app: sender(app) is not None)
