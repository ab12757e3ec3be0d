"""Pulling another service's append-only event log, applying each event exactly once.

The consumer keeps its cursor in its own database (``consumer_cursors``) and stores the new cursor
in the same transaction as the effects of the events it applied: a crash before the commit leaves
both unchanged, a crash after leaves both changed. Domain-free: what an event means is the
``apply`` callback's business.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from prometheus_client import Counter, Gauge
from sqlalchemy import Column, DateTime, String, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import Field, SQLModel

from kit.background import background_hook
from kit.errors import DependencyUnavailable
from kit.http import ServiceClient
from kit.service_token import ServiceToken

log = logging.getLogger("kit.consumer")

LAG = Gauge("event_consumer_lag_events", "Events visible at the producer that this consumer has not applied yet.", ["service", "consumer"])
LAST_APPLIED = Gauge("event_consumer_last_applied_timestamp_seconds", "When this consumer last committed a batch.", ["service", "consumer"])
APPLIED = Counter("event_consumer_events_applied_total", "Events applied by this consumer.", ["service", "consumer"])
FAILURES = Counter("event_consumer_failures_total", "Batches that failed and will be retried.", ["service", "consumer"])


class ConsumerCursor(SQLModel, table=True):
    """Where a consumer stands in a producer's log; written with the effects it covers."""

    __tablename__ = "consumer_cursors"

    name: str = Field(primary_key=True, max_length=64)
    cursor: str = Field(default="", sa_column=Column(String(200), nullable=False, server_default=""))
    applied: int = Field(default=0)
    updated_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), server_default=func.now()))


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str
    remaining: int  # events still waiting after this page


Fetch = Callable[[str, int], Awaitable[Page]]
Apply = Callable[[AsyncSession, list[dict[str, Any]]], Awaitable[None]]


async def read_cursor(session: AsyncSession, name: str, *, lock: bool = False) -> str:
    await session.execute(insert(ConsumerCursor).values(name=name, cursor="", applied=0).on_conflict_do_nothing())
    query = select(ConsumerCursor.cursor).where(ConsumerCursor.name == name)
    if lock:
        query = query.with_for_update()
    return str((await session.execute(query)).scalar_one())


async def consume_once(
    *, name: str, service: str, sessionmaker: async_sessionmaker[AsyncSession], fetch: Fetch, apply: Apply, batch: int = 500
) -> int:
    """Fetch one page after the stored cursor and apply it in one transaction with the new
    cursor. Returns how many events were applied (0 when caught up)."""
    async with sessionmaker() as session:
        cursor = await read_cursor(session, name)
        await session.commit()
    page = await fetch(cursor, batch)
    LAG.labels(service, name).set(len(page.items) + page.remaining)
    if not page.items:
        return 0
    async with sessionmaker() as session, session.begin():
        # The row lock makes a second replica of this consumer wait, then see the moved cursor.
        if await read_cursor(session, name, lock=True) != cursor:
            return 0
        await apply(session, page.items)
        row = await session.get(ConsumerCursor, name)
        assert row is not None
        row.cursor, row.applied, row.updated_at = page.next_cursor, row.applied + len(page.items), func.now()  # type: ignore[assignment]
    APPLIED.labels(service, name).inc(len(page.items))
    LAST_APPLIED.labels(service, name).set(time.time())
    LAG.labels(service, name).set(page.remaining)
    return len(page.items)


def http_fetch(*, client: ServiceClient, path: str, token: ServiceToken) -> Fetch:
    """Read a producer's log over REST: ``GET path?after=<cursor>&limit=`` answering
    ``{"items", "next_cursor", "remaining"}``, with this service's own token."""

    async def fetch(cursor: str, limit: int) -> Page:
        resp = await client.request("GET", path, params={"after": cursor, "limit": limit}, token=await token.get())
        if resp.status_code != 200:
            raise DependencyUnavailable(f"{client.dependency} answered {resp.status_code} for its event log: {resp.text[:200]}")
        body = resp.json()
        return Page(list(body["items"]), str(body.get("next_cursor") or cursor), int(body.get("remaining", 0)))

    return fetch


def consumer_hook(
    *, name: str, fetch_of: Callable[[FastAPI], Fetch], apply: Apply, interval_seconds: float = 1.0, enabled: Callable[[FastAPI], bool] = lambda app: True
) -> Callable[[FastAPI], Any]:
    """A lifespan hook running the consumer in the background: drains the log, then polls every
    ``interval_seconds``; failures (producer down, a bad batch) are counted, logged and retried."""

    async def step(app: FastAPI) -> bool:
        try:
            return await consume_once(
                name=name, service=app.state.service_name, sessionmaker=app.state.sessionmaker, fetch=fetch_of(app), apply=apply
            ) > 0
        except Exception:
            FAILURES.labels(app.state.service_name, name).inc()
            raise

    return background_hook(name=f"consumer-{name}", step=step, interval_seconds=interval_seconds, enabled=enabled)
