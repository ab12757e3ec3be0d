"""Gateway routes: token issue, JWKS, admin, and the proxy for every ``/v1/...`` service path."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from gateway import service
from gateway.domain import TokenBucket, scopes_for
from gateway.errors import AccountExists, AccountNotFound, IdempotencyKeyRequired, InvalidClient, RateLimited, UnsupportedGrant
from gateway.proxy import Upstreams, response_headers, streamed
from gateway.proxy import overview as overview_of
from gateway.schemas import (
    AccountCreate,
    AccountPage,
    AccountPublic,
    Jwks,
    KeyRotated,
    TokenResponse,
    WebhookDeliveryPage,
    WebhookDeliveryPublic,
    WebhookEndpointPublic,
    WebhookEndpointUpdate,
    WebhookEvent,
    WebhookEventsAccepted,
)
from kit.auth import CurrentPrincipal, Principal, current_principal, scoped
from kit.db import Session
from kit.errors import Forbidden, NotFound, PayloadTooLarge, problem_responses

router = APIRouter()
basic = HTTPBasic(auto_error=False)
Admin = scoped("admin")
Internal = scoped("internal")


async def _bank_client(principal: CurrentPrincipal) -> Principal:
    if not principal.has_role("bank") or not principal.bank_id:
        raise Forbidden("webhooks are for bank clients")
    return principal


Bank = Annotated[Principal, Depends(_bank_client)]


def _public(account: Any) -> AccountPublic:
    out = AccountPublic.model_validate(account)
    out.scopes = scopes_for(list(account.roles))
    return out


@router.post(
    "/oauth/token",
    response_model=TokenResponse,
    tags=["auth"],
    summary="Issue an access token (client_credentials for organisations, password for people)",
    responses=problem_responses(InvalidClient, UnsupportedGrant),
    openapi_extra={"security": []},
)
async def token(
    request: Request,
    session: Session,
    grant_type: Annotated[str, Form()],
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
    username: Annotated[str | None, Form()] = None,
    password: Annotated[str | None, Form()] = None,
    credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)] = None,
) -> dict[str, Any]:
    if grant_type == "password":
        name, secret = username or "", password or ""
    elif credentials is not None:
        name, secret = credentials.username, credentials.password
    else:
        name, secret = client_id or "", client_secret or ""
    return await service.issue_token(session=session, settings=request.app.state.settings, grant_type=grant_type, name=name, secret=secret)


@router.get("/.well-known/jwks.json", response_model=Jwks, tags=["auth"], summary="Public signing keys", openapi_extra={"security": []})
async def jwks(request: Request, session: Session) -> dict[str, Any]:
    return await service.jwks(session=session, settings=request.app.state.settings)


@router.post(
    "/v1/admin/accounts", status_code=201, response_model=AccountPublic, tags=["admin"], summary="Create a client or user",
    responses=problem_responses(AccountExists),
)
async def create_account(payload: AccountCreate, session: Session, _: Admin) -> AccountPublic:
    return _public(await service.create_account(session=session, payload=payload))


@router.get("/v1/admin/accounts", response_model=AccountPage, tags=["admin"], summary="List clients and users")
async def list_accounts(
    session: Session, _: Admin, kind: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 100, cursor: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0
) -> AccountPage:
    from gateway import repo

    rows = await repo.list_accounts(session, kind=kind, limit=limit, after_id=cursor)
    next_cursor = str(rows[-1].id) if len(rows) == limit else None
    return AccountPage(items=[_public(r) for r in rows], next_cursor=next_cursor)


@router.post("/v1/admin/accounts/{name}/disable", response_model=AccountPublic, tags=["admin"], responses=problem_responses(AccountNotFound))
async def disable_account(name: str, session: Session, _: Admin) -> AccountPublic:
    return _public(await service.set_disabled(session=session, name=name, disabled=True))


@router.post("/v1/admin/accounts/{name}/enable", response_model=AccountPublic, tags=["admin"], responses=problem_responses(AccountNotFound))
async def enable_account(name: str, session: Session, _: Admin) -> AccountPublic:
    return _public(await service.set_disabled(session=session, name=name, disabled=False))


@router.post("/v1/admin/keys/rotate", response_model=KeyRotated, tags=["admin"], summary="Rotate the token signing key")
async def rotate_key(request: Request, session: Session, _: Admin) -> KeyRotated:
    kid, until = await service.rotate_key(session=session, settings=request.app.state.settings)
    request.app.state.keys.invalidate()
    return KeyRotated(kid=kid, previous_keys_published_until=until)


@router.put("/v1/webhooks/endpoint", response_model=WebhookEndpointPublic, tags=["webhooks"], summary="Register this bank's webhook endpoint")
async def put_webhook_endpoint(request: Request, payload: WebhookEndpointUpdate, session: Session, principal: Bank) -> dict[str, Any]:
    return await service.put_webhook_endpoint(session=session, settings=request.app.state.settings, principal=principal, payload=payload)


@router.post("/v1/webhooks/events", status_code=202, response_model=WebhookEventsAccepted, tags=["webhooks"],
             summary="Services hand over notifications to deliver (internal)")
async def webhook_events(events: list[WebhookEvent], session: Session, _: Internal) -> WebhookEventsAccepted:
    received, created = await service.accept_webhook_events(session=session, events=events)
    return WebhookEventsAccepted(received=received, deliveries_created=created)


@router.get("/v1/webhooks/deliveries", response_model=WebhookDeliveryPage, tags=["webhooks"], summary="This bank's delivery log")
async def webhook_deliveries(
    session: Session,
    principal: Bank,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> WebhookDeliveryPage:
    from gateway import repo

    rows = await repo.deliveries_of(session, account=principal.subject, status=status, after_id=cursor, limit=limit)
    return WebhookDeliveryPage(
        items=[WebhookDeliveryPublic.model_validate(r) for r in rows], next_cursor=str(rows[-1].id) if len(rows) == limit else None
    )


@router.post("/v1/webhooks/deliveries/{delivery_id}/redeliver", response_model=WebhookDeliveryPublic, tags=["webhooks"],
             summary="Send a delivery again now")
async def redeliver(delivery_id: int, session: Session, principal: Bank) -> WebhookDeliveryPublic:
    return WebhookDeliveryPublic.model_validate(await service.redeliver(session=session, account=principal.subject, delivery_id=delivery_id))


@router.get("/v1/overview", tags=["figures"], summary="Dashboard overview of a region: lending, rating, risk and subsidy figures")
async def overview(
    request: Request, principal: CurrentPrincipal, region: Annotated[str, Query(pattern=r"^\d{12}$", description="12-digit division code")]
) -> dict[str, Any]:
    _rate_limit(request, principal)
    return await overview_of(request.app.state.upstreams, region=region, authorization=request.headers["authorization"])


async def _bounded_body(request: Request) -> bytes:
    """An idempotent request is kept whole (to fingerprint and replay it): at most MAX_BODY_BYTES."""
    limit = request.app.state.settings.max_body_bytes
    if int(request.headers.get("content-length") or 0) > limit:
        raise PayloadTooLarge(f"a request with an Idempotency-Key may carry at most {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise PayloadTooLarge(f"a request with an Idempotency-Key may carry at most {limit} bytes")
    return bytes(body)


def _rate_limit(request: Request, principal: Principal) -> None:
    settings = request.app.state.settings
    buckets: dict[str, TokenBucket] = request.app.state.buckets
    bucket = buckets.setdefault(principal.subject, TokenBucket(rate=settings.rate_limit_per_second, capacity=settings.rate_limit_burst))
    wait = bucket.take()
    if wait > 0:
        raise RateLimited(
            f"more than {settings.rate_limit_per_second:g} requests a second from {principal.subject}",
            headers={"Retry-After": str(math.ceil(wait))},
        )


@router.api_route("/v1/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def forward(request: Request, path: str) -> Response:
    upstreams: Upstreams = request.app.state.upstreams
    route = upstreams.table.match(request.url.path)
    if route is None:
        if not upstreams.complete:
            await upstreams.refresh()
            route = upstreams.table.match(request.url.path)
        if route is None:
            raise NotFound(f"no service serves {request.url.path}")
    principal = await current_principal(request)  # the gateway is the first wall, not the only one
    _rate_limit(request, principal)
    key = request.headers.get("idempotency-key")
    if request.method in route.money_moving_methods and not key:
        raise IdempotencyKeyRequired(f"{request.method} {route.template} moves money: send an Idempotency-Key header (any unique string per operation)")
    if request.method == "POST" and key:
        status, ctype, content, replayed = await service.forward_idempotent(
            sessionmaker=request.app.state.sessionmaker, upstreams=upstreams, request=request, service=route.service,
            subject=principal.subject, key=key, body=await _bounded_body(request), settings=request.app.state.settings,
        )
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return Response(content, status_code=status, media_type=ctype, headers=headers)
    resp = await upstreams.forward(request, route.service)
    return streamed(resp)


__all__ = ["response_headers", "router"]
