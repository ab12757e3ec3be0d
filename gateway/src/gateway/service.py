"""Gateway use cases: accounts, tokens, keys. Functions flush; the request's session commits."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import repo, signing
from gateway.domain import Subject, token_claims
from gateway.errors import AccountExists, AccountNotFound, InvalidClient, UnsupportedGrant
from gateway.models import Account
from gateway.schemas import AccountCreate
from gateway.settings import Settings
from kit.errors import InvalidInput

log = logging.getLogger("gateway")
hasher = PasswordHasher()
_DUMMY_HASH = hasher.hash("dummy-password-for-timing")

DEMO_PASSWORD = "demo-password"
# Development-only demo accounts (GATEWAY_SEED_DEMO=true). Region codes: 卢氏县 411224.
DEMO_ACCOUNTS: list[dict[str, Any]] = [
    {"kind": "user", "name": "county-officer", "display_name": "卢氏县扶贫办", "roles": ["county_officer"], "region": "411224000000"},
    {"kind": "user", "name": "township-officer", "display_name": "东明镇扶贫项目办", "roles": ["township_officer"], "region": "411224100000"},
    {"kind": "user", "name": "village-secretary", "display_name": "村支书", "roles": ["village_officer"], "region": "411224100201"},
    {"kind": "user", "name": "resident-secretary", "display_name": "驻村书记", "roles": ["village_officer"], "region": "411224100201"},
    {"kind": "user", "name": "applicant-demo", "display_name": "贫困户", "roles": ["applicant"], "region": "411224100201", "household_id": "HH-DEMO-0001"},
    {"kind": "client", "name": "bank-rcc", "display_name": "卢氏县农村信用社", "roles": ["bank"], "bank_id": "RCC"},
    {"kind": "client", "name": "bank-psbc", "display_name": "邮储银行卢氏支行", "roles": ["bank"], "bank_id": "PSBC"},
    {"kind": "client", "name": "finance-bureau", "display_name": "卢氏县财政局", "roles": ["finance_bureau"], "region": "411224000000"},
    # the party accounts named in risk-pool's shipped sharing schemes (services/risk-pool data/policy.json)
    {"kind": "client", "name": "insurer-poverty-loan", "display_name": "扶贫贷款保证保险", "roles": ["insurer"]},
    {"kind": "client", "name": "henan-agri-credit-guarantee", "display_name": "省农信担保", "roles": ["guarantor"]},
    {"kind": "client", "name": "henan-reguarantee-group", "display_name": "省再担保集团", "roles": ["guarantor"]},
    {"kind": "client", "name": "monitor-demo", "display_name": "金融办", "roles": ["monitor"]},
    {"kind": "client", "name": "svc-applications", "display_name": "applications service", "roles": ["service"]},
    {"kind": "client", "name": "svc-credit-rating", "display_name": "credit-rating service", "roles": ["service"]},
    {"kind": "client", "name": "svc-risk-pool", "display_name": "risk-pool service", "roles": ["service"]},
    {"kind": "client", "name": "svc-subsidy", "display_name": "subsidy service", "roles": ["service"]},
]


def now_utc() -> datetime:
    return datetime.now(UTC)


def _validate_account(payload: AccountCreate) -> None:
    problems = []
    if "bank" in payload.roles and not payload.bank_id:
        problems.append("bank_id is required for the bank role")
    if "applicant" in payload.roles and not payload.household_id:
        problems.append("household_id is required for the applicant role")
    if "applicant" in payload.roles and payload.kind != "user":
        problems.append("an applicant is a user")
    if problems:
        raise InvalidInput("; ".join(problems), errors=[{"field": "body", "message": p} for p in problems])


async def create_account(*, session: AsyncSession, payload: AccountCreate) -> Account:
    _validate_account(payload)
    if await repo.account_by_name(session, payload.name) is not None:
        raise AccountExists(f"an account named {payload.name!r} exists")
    account = Account(
        kind=payload.kind,
        name=payload.name,
        display_name=payload.display_name,
        secret_hash=hasher.hash(payload.secret),
        roles=payload.roles,
        region=payload.region,
        bank_id=payload.bank_id,
        household_id=payload.household_id,
    )
    try:
        async with session.begin_nested():
            return await repo.add_account(session, account)
    except IntegrityError as exc:
        raise AccountExists(f"an account named {payload.name!r} exists") from exc


async def set_disabled(*, session: AsyncSession, name: str, disabled: bool) -> Account:
    account = await repo.set_disabled(session, name, disabled)
    if account is None:
        raise AccountNotFound(f"no account named {name!r}")
    return account


async def ensure_signing_key(*, session: AsyncSession, settings: Settings) -> None:
    await repo.lock_keys(session)
    if await repo.active_key(session) is None:
        kid, private, public = signing.new_key(settings.key_encryption_secret)
        await repo.add_key(session, kid=kid, private_key=private, public_jwk=public)
        log.info("created signing key %s", kid)


async def rotate_key(*, session: AsyncSession, settings: Settings) -> tuple[str, datetime]:
    """A new active key; old public keys stay published for one token lifetime."""
    await repo.lock_keys(session)
    kid, private, public = signing.new_key(settings.key_encryption_secret)
    await repo.add_key(session, kid=kid, private_key=private, public_jwk=public)
    now = now_utc()
    await repo.retire_keys(session, except_kid=kid, now=now)
    log.info("rotated signing key; new kid %s", kid)
    return kid, now + timedelta(seconds=settings.token_ttl_seconds)


async def jwks(*, session: AsyncSession, settings: Settings) -> dict[str, Any]:
    cutoff = now_utc() - timedelta(seconds=settings.token_ttl_seconds + 60)
    return {"keys": await repo.published_keys(session, retired_after=cutoff)}


async def ensure_accounts(*, session: AsyncSession, settings: Settings) -> None:
    """The bootstrap admin always; the demo accounts when GATEWAY_SEED_DEMO is on (development)."""
    wanted = [{"kind": "user", "name": settings.admin_username, "display_name": "bootstrap admin", "roles": ["admin"], "secret": settings.admin_password}]
    if settings.seed_demo:
        secret_for = lambda a: f"{a['name']}-secret" if a["kind"] == "client" else DEMO_PASSWORD  # noqa: E731
        wanted += [{**a, "secret": secret_for(a)} for a in DEMO_ACCOUNTS]
    for spec in wanted:
        if await repo.account_by_name(session, spec["name"]) is None:
            await create_account(session=session, payload=AccountCreate(**spec))


def _verify_secret(account: Account | None, secret: str) -> bool:
    try:
        return hasher.verify(account.secret_hash if account else _DUMMY_HASH, secret) and account is not None
    except (VerificationError, InvalidHashError):
        return False


async def issue_token(*, session: AsyncSession, settings: Settings, grant_type: str, name: str, secret: str) -> dict[str, Any]:
    """OAuth2 token endpoint: client_credentials for organisations, password for people."""
    kinds = {"client_credentials": "client", "password": "user"}
    if grant_type not in kinds:
        raise UnsupportedGrant(f"grant_type must be client_credentials or password, not {grant_type!r}", error="unsupported_grant_type")
    account = await repo.account_by_name(session, name)
    valid = _verify_secret(account, secret)
    if not valid or account is None or account.disabled or account.kind != kinds[grant_type]:
        raise InvalidClient("unknown account, wrong secret, wrong grant type for the account, or account disabled", error="invalid_client")
    key = await repo.active_key(session)
    if key is None:
        await ensure_signing_key(session=session, settings=settings)
        key = await repo.active_key(session)
    assert key is not None
    subject = Subject(account.name, account.kind, list(account.roles), account.region, account.bank_id, account.household_id)
    claims = token_claims(subject, issuer=settings.jwt_issuer, audience=settings.jwt_audience, ttl_seconds=settings.token_ttl_seconds)
    token = signing.sign(claims, kid=key.kid, encrypted_private_key=key.private_key, secret=settings.key_encryption_secret)
    return {"access_token": token, "token_type": "Bearer", "expires_in": settings.token_ttl_seconds, "scope": claims["scope"]}


async def forward_idempotent(
    *, sessionmaker: Any, upstreams: Any, request: Any, service: str, subject: str, key: str, body: bytes, settings: Settings
) -> tuple[int, str, bytes, bool]:
    """Forward a POST once per (caller, Idempotency-Key): a replay gets the stored response, the
    same key with another request is 422, one still in flight is 409.

    This is the one place with several transactions per request, by necessity: the claim must be
    committed before forwarding so a concurrent retry sees it, and the response stored after.
    Returns (status, content type, body, replayed).
    """
    from gateway.domain import request_fingerprint
    from gateway.errors import IdempotencyInFlight, IdempotencyKeyReused

    fingerprint = request_fingerprint(request.method, request.url.path, request.url.query, body)
    now = now_utc()
    async with sessionmaker() as session, session.begin():
        claimed = await repo.claim_idempotency(
            session, subject=subject, key=key, request_hash=fingerprint, expires_at=repo.expiry(now, settings.idempotency_ttl_hours)
        )
        if not claimed:
            record = await repo.idempotency_record(session, subject=subject, key=key)
            if record is not None and record.expires_at < now:
                await repo.release_idempotency(session, subject=subject, key=key)
                claimed = await repo.claim_idempotency(
                    session, subject=subject, key=key, request_hash=fingerprint, expires_at=repo.expiry(now, settings.idempotency_ttl_hours)
                )
            elif record is not None:
                if record.request_hash != fingerprint:
                    raise IdempotencyKeyReused(f"Idempotency-Key {key!r} was used for a different request")
                if record.state != "done":
                    raise IdempotencyInFlight(f"a request with Idempotency-Key {key!r} is still in progress; retry shortly")
                return record.status_code or 200, record.content_type or "application/json", record.body or b"", True
    try:
        resp = await upstreams.forward(request, service, body)
        try:
            content = await resp.aread()
        finally:
            await resp.aclose()
    except BaseException:
        async with sessionmaker() as session, session.begin():
            await repo.release_idempotency(session, subject=subject, key=key)
        raise
    ctype = resp.headers.get("content-type", "application/json")
    async with sessionmaker() as session, session.begin():
        if resp.status_code >= 500:  # not an answer: let a retry try again
            await repo.release_idempotency(session, subject=subject, key=key)
        else:
            await repo.finish_idempotency(session, subject=subject, key=key, status_code=resp.status_code, content_type=ctype, body=content)
    return resp.status_code, ctype, content, False


async def put_webhook_endpoint(*, session: AsyncSession, settings: Settings, principal: Any, payload: Any) -> dict[str, Any]:
    """A bank registers (or changes) the one endpoint of its account."""
    from gateway.models import WebhookEndpoint
    from gateway.webhooks import new_secret
    from kit.errors import Forbidden

    if not principal.bank_id:
        raise Forbidden("webhook endpoints are for bank clients")
    endpoint = await repo.endpoint_of(session, principal.subject)
    secret = None
    if endpoint is None or payload.rotate_secret:
        secret = new_secret()
    if endpoint is None:
        assert secret is not None
        endpoint = WebhookEndpoint(
            account=principal.subject, bank_id=principal.bank_id, url=payload.url, event_types=payload.event_types,
            enabled=payload.enabled, secret=signing.encrypt(secret, settings.key_encryption_secret),
        )
    else:
        endpoint.url, endpoint.event_types, endpoint.enabled = payload.url, payload.event_types, payload.enabled
        if secret:
            endpoint.secret = signing.encrypt(secret, settings.key_encryption_secret)
    await repo.save_endpoint(session, endpoint)
    return {"url": endpoint.url, "event_types": endpoint.event_types, "enabled": endpoint.enabled, "bank_id": endpoint.bank_id, "secret": secret}


async def accept_webhook_events(*, session: AsyncSession, events: list[Any]) -> tuple[int, int]:
    from gateway.webhooks import EVENT_TYPES

    problems = [f"{e.message_id}: topic {e.topic!r} is not one of {list(EVENT_TYPES)}" for e in events if e.topic not in EVENT_TYPES]
    problems += [f"{e.message_id}: payload has no bank_id" for e in events if not isinstance(e.payload.get("bank_id"), str)]
    if problems:
        raise InvalidInput("; ".join(problems[:20]), errors=[{"field": "body", "message": p} for p in problems])
    created = 0
    for event in events:
        created += await repo.add_deliveries(
            session, message_id=event.message_id, event_type=event.topic, bank_id=str(event.payload["bank_id"]), payload=event.payload
        )
    return len(events), created


async def redeliver(*, session: AsyncSession, account: str, delivery_id: int) -> Any:
    from kit.errors import NotFound

    delivery = await repo.delivery_of(session, account=account, delivery_id=delivery_id)
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id} for {account}")
    delivery.status, delivery.next_attempt_at = "pending", now_utc()
    await session.flush()
    return delivery
