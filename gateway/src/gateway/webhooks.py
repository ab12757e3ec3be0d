"""Webhooks to banks, signed per the Standard Webhooks scheme, retried with backoff.

Services put notifications in their outbox; their relay hands them to ``POST /v1/webhooks/events``;
the gateway stores one delivery per subscribed endpoint of the bank named in the payload and a
background worker sends them. Receivers verify ``webhook-signature`` =
``v1,base64(HMAC-SHA256(secret, "{webhook-id}.{webhook-timestamp}.{body}"))`` where the secret is
the base64 part of ``whsec_…``, and dedupe by ``webhook-id``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import repo, signing
from kit.background import background_hook

log = logging.getLogger("gateway.webhooks")
EVENT_TYPES = ("application.recommended", "claim.settled", "subsidy.paid")
# Seconds to wait before each retry; after the last, the delivery is marked failed (redeliver resets it).
RETRY_SCHEDULE = (5, 30, 120, 600, 1800, 3600, 7200, 18000)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(secret: str, headers: dict[str, str], body: bytes, *, tolerance_seconds: int = 300, now: int | None = None) -> bool:
    """What a receiver does (and what the tests do)."""
    ts = int(headers["webhook-timestamp"])
    current = int(now if now is not None else datetime.now(UTC).timestamp())
    if abs(current - ts) > tolerance_seconds:
        return False
    expected = signature(secret, headers["webhook-id"], ts, body).split(",", 1)[1]
    return any(hmac.compare_digest(expected, s.split(",", 1)[1]) for s in headers["webhook-signature"].split() if s.startswith("v1,"))


def next_attempt(attempts: int, now: datetime) -> datetime | None:
    """When to try again after ``attempts`` failed attempts; None when retries are exhausted."""
    if attempts > len(RETRY_SCHEDULE):
        return None
    return now + timedelta(seconds=RETRY_SCHEDULE[attempts - 1])


async def deliver_due(
    *, sessionmaker: async_sessionmaker[AsyncSession], client: httpx.AsyncClient, key_secret: str, now: datetime | None = None, batch: int = 20
) -> int:
    """Attempt every delivery that is due; returns how many were attempted."""
    now = now or datetime.now(UTC)
    attempted = 0
    async with sessionmaker() as session, session.begin():
        due = await repo.due_deliveries(session, now=now, limit=batch)
        for delivery, endpoint in due:
            attempted += 1
            body = json.dumps({"type": delivery.event_type, "timestamp": now.isoformat(), "data": delivery.payload}, ensure_ascii=False).encode()
            ts = int(now.timestamp())
            secret = signing.decrypt(endpoint.secret, key_secret)
            headers = {
                "content-type": "application/json",
                "webhook-id": delivery.message_id,
                "webhook-timestamp": str(ts),
                "webhook-signature": signature(secret, delivery.message_id, ts, body),
            }
            delivery.attempts += 1
            try:
                resp = await client.post(endpoint.url, content=body, headers=headers)
                delivery.last_status_code, delivery.last_error = resp.status_code, None
                ok = 200 <= resp.status_code < 300
            except httpx.HTTPError as exc:
                delivery.last_status_code, delivery.last_error, ok = None, type(exc).__name__, False
            if ok:
                delivery.status, delivery.delivered_at = "delivered", now
            else:
                retry_at = next_attempt(delivery.attempts, now)
                delivery.status = "pending" if retry_at else "failed"
                delivery.next_attempt_at = retry_at or now
    return attempted


def delivery_hook(interval_seconds: float = 1.0) -> Any:
    """Lifespan hook delivering due webhooks in the background."""

    @asynccontextmanager
    async def hook(app: FastAPI) -> AsyncIterator[None]:
        client = httpx.AsyncClient(timeout=10.0, transport=getattr(app.state, "webhook_transport", None))

        async def step(app: FastAPI) -> bool:
            return await deliver_due(sessionmaker=app.state.sessionmaker, client=client, key_secret=app.state.settings.key_encryption_secret) > 0

        try:
            async with background_hook(name="webhook delivery", step=step, interval_seconds=interval_seconds)(app):
                yield
        finally:
            await client.aclose()

    return hook
