"""Every query the gateway makes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import any_, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import Account, IdempotencyRecord, SigningKey, WebhookDelivery, WebhookEndpoint


async def account_by_name(session: AsyncSession, name: str) -> Account | None:
    return (await session.execute(select(Account).where(Account.name == name))).scalar_one_or_none()


async def add_account(session: AsyncSession, account: Account) -> Account:
    session.add(account)
    await session.flush()
    return account


async def list_accounts(session: AsyncSession, *, kind: str | None, limit: int, after_id: int) -> list[Account]:
    query = select(Account).where(Account.id > after_id).order_by(Account.id).limit(limit)
    if kind:
        query = query.where(Account.kind == kind)
    return list((await session.execute(query)).scalars())


async def set_disabled(session: AsyncSession, name: str, disabled: bool) -> Account | None:
    row = await account_by_name(session, name)
    if row is not None:
        row.disabled = disabled
        await session.flush()
    return row


async def active_key(session: AsyncSession) -> SigningKey | None:
    query = select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.created_at.desc()).limit(1)  # type: ignore[union-attr]
    return (await session.execute(query)).scalar_one_or_none()


async def lock_keys(session: AsyncSession) -> None:
    """Serialise key creation and rotation across gateway replicas."""
    await session.execute(select(func.pg_advisory_xact_lock(4_242_001)))


async def add_key(session: AsyncSession, *, kid: str, private_key: bytes, public_jwk: dict[str, Any]) -> SigningKey:
    key = SigningKey(kid=kid, private_key=private_key, public_jwk=public_jwk)
    session.add(key)
    await session.flush()
    return key


async def retire_keys(session: AsyncSession, *, except_kid: str, now: datetime) -> None:
    await session.execute(
        update(SigningKey).where(SigningKey.kid != except_kid, SigningKey.retired_at.is_(None)).values(retired_at=now)  # type: ignore[union-attr]
    )


async def published_keys(session: AsyncSession, *, retired_after: datetime) -> list[dict[str, Any]]:
    """Active keys, and retired ones whose tokens may still be valid."""
    query = select(SigningKey.public_jwk).where(
        (SigningKey.retired_at.is_(None)) | (SigningKey.retired_at > retired_after)  # type: ignore[union-attr,operator]
    ).order_by(SigningKey.created_at.desc())
    return list((await session.execute(query)).scalars())


async def claim_idempotency(session: AsyncSession, *, subject: str, key: str, request_hash: str, expires_at: datetime) -> bool:
    """Insert an in-flight record; False when one exists already."""
    stmt = (
        insert(IdempotencyRecord)
        .values(subject=subject, key=key, request_hash=request_hash, state="in_flight", expires_at=expires_at)
        .on_conflict_do_nothing(constraint="uq_idempotency_subject_key")
        .returning(IdempotencyRecord.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def idempotency_record(session: AsyncSession, *, subject: str, key: str) -> IdempotencyRecord | None:
    query = select(IdempotencyRecord).where(IdempotencyRecord.subject == subject, IdempotencyRecord.key == key)
    return (await session.execute(query)).scalar_one_or_none()


async def finish_idempotency(session: AsyncSession, *, subject: str, key: str, status_code: int, content_type: str, body: bytes) -> None:
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.subject == subject, IdempotencyRecord.key == key)
        .values(state="done", status_code=status_code, content_type=content_type, body=body)
    )


async def release_idempotency(session: AsyncSession, *, subject: str, key: str) -> None:
    await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.subject == subject, IdempotencyRecord.key == key))


async def purge_expired_idempotency(session: AsyncSession, *, now: datetime) -> int:
    result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < now))
    return result.rowcount or 0  # type: ignore[attr-defined]


def expiry(now: datetime, hours: int) -> datetime:
    return now + timedelta(hours=hours)


async def endpoint_of(session: AsyncSession, account: str) -> WebhookEndpoint | None:
    return (await session.execute(select(WebhookEndpoint).where(WebhookEndpoint.account == account))).scalar_one_or_none()


async def save_endpoint(session: AsyncSession, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    session.add(endpoint)
    await session.flush()
    return endpoint


async def add_deliveries(session: AsyncSession, *, message_id: str, event_type: str, bank_id: str, payload: dict[str, Any]) -> int:
    """One delivery per enabled endpoint of ``bank_id`` subscribed to the type; a message already
    received is not added again."""
    endpoints = select(WebhookEndpoint.id).where(
        WebhookEndpoint.bank_id == bank_id, WebhookEndpoint.enabled.is_(True), literal(event_type) == any_(WebhookEndpoint.event_types)
    )
    ids = list((await session.execute(endpoints)).scalars())
    if not ids:
        return 0
    stmt = (
        insert(WebhookDelivery)
        .values([{"endpoint_id": i, "message_id": message_id, "event_type": event_type, "payload": payload} for i in ids])
        .on_conflict_do_nothing(constraint="uq_delivery_endpoint_message")
    )
    result = await session.execute(stmt)
    return result.rowcount or 0  # type: ignore[attr-defined]


async def due_deliveries(session: AsyncSession, *, now: datetime, limit: int) -> list[tuple[WebhookDelivery, WebhookEndpoint]]:
    query = (
        select(WebhookDelivery, WebhookEndpoint)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(of=WebhookDelivery, skip_locked=True)  # type: ignore[arg-type]
    )
    return [(d, e) for d, e in (await session.execute(query)).all()]


async def deliveries_of(session: AsyncSession, *, account: str, status: str | None, after_id: int, limit: int) -> list[WebhookDelivery]:
    query = (
        select(WebhookDelivery).join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookEndpoint.account == account, WebhookDelivery.id > after_id).order_by(WebhookDelivery.id).limit(limit)  # type: ignore[operator]
    )
    if status:
        query = query.where(WebhookDelivery.status == status)
    return list((await session.execute(query)).scalars())


async def delivery_of(session: AsyncSession, *, account: str, delivery_id: int) -> WebhookDelivery | None:
    query = (
        select(WebhookDelivery).join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookEndpoint.account == account, WebhookDelivery.id == delivery_id).with_for_update(of=WebhookDelivery)
    )
    return (await session.execute(query)).scalar_one_or_none()
