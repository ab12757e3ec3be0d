"""The event log read by (txid, seq) below the snapshot's xmin never skips an event that commits
late, where reading by sequence number does. Real commits on the session engine (tables truncated)."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kit.testing import TokenFactory, api_client, bind_app
from tests.conftest import Fakes, Who, build_app, committed_events

EVENT = "INSERT INTO loan_events (loan_id, type, business_date, data) VALUES (:loan_id, 'diverted', '2026-03-01', '{}') RETURNING seq"


@pytest.fixture
async def reader(engine: AsyncEngine, tokens: TokenFactory, fakes: Fakes) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(tokens, fakes)
    bind_app(app, engine)
    try:
        async with api_client(app) as client:
            yield client
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("TRUNCATE loan_events RESTART IDENTITY"))


async def poll(client: httpx.AsyncClient, who: Who, after: str) -> dict[str, Any]:
    resp = await client.get("/v1/loan-events", params={"after": after, "limit": 100}, headers=who.service())
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def naive_poll(conn: AsyncConnection, after: int) -> list[int]:
    """The round-1 read: every committed event with a higher sequence number."""
    return list((await conn.execute(text("SELECT seq FROM loan_events WHERE seq > :after ORDER BY seq"), {"after": after})).scalars())


async def test_an_event_with_a_lower_seq_committing_last_is_read_after_it_commits_never_skipped(
    reader: httpx.AsyncClient, who: Who, engine: AsyncEngine
) -> None:
    async with engine.connect() as slow, engine.connect() as fast, engine.connect() as naive:
        await slow.begin()
        slow_seq = await slow.scalar(text(EVENT), {"loan_id": "L-SLOW"})  # takes the lower seq, commits last
        await fast.begin()
        fast_seq = await fast.scalar(text(EVENT), {"loan_id": "L-FAST"})
        await fast.commit()
        assert slow_seq < fast_seq

        # a reader polling while the slow transaction is still open
        during = await poll(reader, who, "")
        naive_seen = await naive_poll(naive, 0)
        await naive.commit()

        await slow.commit()
        after = await committed_events(reader, who, at_least=2, after=during["next_cursor"])
        naive_after = await naive_poll(naive, max(naive_seen, default=0))

    # the safe read held back both events (the fast one's transaction is above the slow one's) …
    assert during["items"] == [] and during["remaining"] == 0
    # … and, once the slow one committed, returned both, in commit-safe order
    assert [(e["loan_id"], e["seq"]) for e in after["items"]] == [("L-SLOW", slow_seq), ("L-FAST", fast_seq)]
    # the naive read moved its cursor past the slow event while it was in flight and never sees it
    assert naive_seen == [fast_seq] and naive_after == []
