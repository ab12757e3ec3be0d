"""Test support shared by every package's tests (domain-free): a real PostgreSQL database per test
session built by Alembic, each test in a rolled-back transaction, and signed test tokens."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from jose import jwk, jwt
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine

from kit.auth import KeySet
from kit.db import database_url, drop_database, ensure_database
from kit.migrations import upgrade

ISSUER, AUDIENCE = "fupin-gateway", "fupin"


class TokenFactory:
    """Signs RS256 tokens with a throwaway key, as the gateway would."""

    def __init__(self, kid: str = "test-key") -> None:
        self.kid = kid
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        self.public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        public = jwk.construct(self.public_pem, "RS256").to_dict()
        public = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in public.items()}
        self.jwks = {"keys": [{**public, "kid": kid, "use": "sig", "alg": "RS256"}]}

    def keyset(self) -> KeySet:
        return KeySet.static(self.jwks)

    def token(
        self,
        sub: str = "tester",
        *,
        roles: list[str] | tuple[str, ...] = (),
        scopes: list[str] | tuple[str, ...] = (),
        region: str | None = None,
        bank_id: str | None = None,
        household_id: str | None = None,
        kind: str = "user",
        ttl: int = 600,
        **overrides: Any,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "nbf": now, "exp": now + ttl,
            "jti": uuid.uuid4().hex, "kind": kind, "roles": list(roles), "scope": " ".join(scopes),
        }
        for name, value in (("region", region), ("bank_id", bank_id), ("household_id", household_id)):
            if value is not None:
                claims[name] = value
        claims.update(overrides)
        return jwt.encode(claims, self.private_pem, algorithm="RS256", headers={"kid": self.kid})

    def headers(self, *args: Any, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(*args, **kwargs)}"}


@asynccontextmanager
async def migrated_database(server_url: str, package: str) -> AsyncIterator[str]:
    """A fresh database for ``package`` with its migrations applied; dropped afterwards."""
    name = f"test_{package}_{uuid.uuid4().hex[:8]}"
    await ensure_database(server_url, name)
    url = database_url(server_url, name)
    try:
        await asyncio.to_thread(upgrade, package, url)
        yield url
    finally:
        await drop_database(server_url, name)


@asynccontextmanager
async def rolled_back(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction that is rolled back at the end: the test's own world."""
    async with engine.connect() as conn:
        trans = await conn.begin()
        try:
            yield conn
        finally:
            await trans.rollback()


def bind_app(app: FastAPI, bind: AsyncConnection | AsyncEngine) -> None:
    """Point the app's request sessions at ``bind``; on a connection, a request's commit only
    releases a savepoint, so the test's rollback undoes everything."""
    if isinstance(bind, AsyncConnection):
        app.state.sessionmaker = async_sessionmaker(bind=bind, expire_on_commit=False, join_transaction_mode="create_savepoint")
    else:
        app.state.sessionmaker = async_sessionmaker(bind=bind, expire_on_commit=False)


def api_client(app: FastAPI) -> httpx.AsyncClient:
    # A bug answers 500 as in production (the handler renders it) instead of raising into the test.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://test")


def create_engine_for_tests(url: str) -> AsyncEngine:
    return create_async_engine(url, pool_size=5, max_overflow=20)
