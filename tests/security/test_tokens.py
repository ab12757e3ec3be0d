"""Tokens that must not pass: forged, expired, for another audience or issuer, unsigned (`alg: none`)
and HS256 signed with the gateway's public key. Each is 401 at the gateway and at every service
directly. The bad tokens carry admin's roles and scopes, and everything but the broken part is
right: they are signed with the gateway's real key (read from its database with the development
key-encryption secret), and the same signer's correct token passes, so a 401 is for that part."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx
import psutil
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.domain import ROLE_SCOPES
from gateway.signing import decrypt

if TYPE_CHECKING:
    from platform_support import Platform
    from security.conftest import Caller

DEV_KEY_SECRET = "dev-key-encryption-secret"  # GATEWAY_KEY_ENCRYPTION_SECRET's development default
# One authenticated route per process, and where it lives.
TARGETS = {
    "gateway": "/v1/admin/accounts",
    "applications": "/v1/business-date",
    "credit_rating": "/v1/scorecards",
    "risk_pool": "/v1/funds",
    "subsidy": "/v1/subsidy-plans",
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def admin_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "fupin-gateway", "aud": "fupin", "sub": "admin", "kind": "user", "roles": ["admin"],
        "scope": " ".join(ROLE_SCOPES["admin"]), "iat": now, "nbf": now, "exp": now + 300, "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return claims


class Signer:
    """Signs with the gateway's current key, as the gateway would."""

    def __init__(self, platform: Platform, server: str) -> None:
        gateway = next(p for p in psutil.Process(platform.process.pid).children(recursive=True) if "gateway.main" in p.cmdline())
        env = gateway.environ()
        secret = env.get("GATEWAY_KEY_ENCRYPTION_SECRET", DEV_KEY_SECRET)
        published = {k["kid"]: k for k in httpx.get(f"{platform.gateway}/.well-known/jwks.json", timeout=10).json()["keys"]}

        async def read() -> list[Any]:
            from kit.db import database_url

            engine = create_async_engine(database_url(server, env["GATEWAY_DATABASE_NAME"]))
            try:
                async with engine.connect() as conn:
                    rows = await conn.execute(text("SELECT kid, private_key FROM signing_keys ORDER BY retired_at IS NULL DESC, created_at DESC"))
                    return list(rows)
            finally:
                await engine.dispose()

        kid, encrypted = next((kid, key) for kid, key in asyncio.run(read()) if kid in published)
        self.kid = kid
        self.private_pem = decrypt(bytes(encrypted), secret)
        self.public_pem = jwk.construct(published[kid], "RS256").to_pem().decode()

    def sign(self, claims: dict[str, Any]) -> str:
        return str(jwt.encode(claims, self.private_pem, algorithm="RS256", headers={"kid": self.kid}))

    def forged(self) -> str:
        """Right claims and kid, signed with another RSA key."""
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
        return str(jwt.encode(admin_claims(), pem, algorithm="RS256", headers={"kid": self.kid}))

    def unsigned(self) -> str:
        header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": self.kid}).encode())
        return f"{header}.{b64(json.dumps(admin_claims()).encode())}."

    def hs256_with_public_key(self) -> str:
        """The algorithm-confusion attack: HMAC keyed with the published RSA public key."""
        signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': self.kid}).encode())}.{b64(json.dumps(admin_claims()).encode())}"
        mac = hmac.new(self.public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64(mac)}"


@pytest.fixture(scope="module")
def signer(platform: Platform, pg_server: str) -> Signer:
    return Signer(platform, pg_server)


def call_everywhere(platform: Platform, token: str) -> dict[str, httpx.Response]:
    headers = {"Authorization": f"Bearer {token}"}
    answers = {"via gateway": httpx.get(f"{platform.gateway}/v1/business-date", headers=headers, timeout=10)}
    for process, path in TARGETS.items():
        answers[process] = httpx.get(f"{platform.url(process)}{path}", headers=headers, timeout=10)
    return answers


def test_a_token_signed_by_the_gateway_key_with_the_right_claims_passes_everywhere(platform: Platform, signer: Signer) -> None:
    answers = call_everywhere(platform, signer.sign(admin_claims()))
    assert {where: resp.status_code for where, resp in answers.items()} == dict.fromkeys(answers, 200)


BAD_TOKENS = {
    "forged (another RSA key, the real kid)": lambda s: s.forged(),
    "expired two minutes ago": lambda s: s.sign(admin_claims(iat=int(time.time()) - 1000, nbf=int(time.time()) - 1000, exp=int(time.time()) - 120)),
    "for another audience": lambda s: s.sign(admin_claims(aud="another-platform")),
    "from another issuer": lambda s: s.sign(admin_claims(iss="someone-else")),
    "not yet valid (nbf in an hour)": lambda s: s.sign(admin_claims(nbf=int(time.time()) + 3600)),
    "without a key id": lambda s: str(jwt.encode(admin_claims(), s.private_pem, algorithm="RS256")),
    "with an unknown key id": lambda s: str(jwt.encode(admin_claims(), s.private_pem, algorithm="RS256", headers={"kid": "proof-unknown"})),
    "unsigned, alg none": lambda s: s.unsigned(),
    "HS256 keyed with the public key": lambda s: s.hs256_with_public_key(),
    "with its signature cut off": lambda s: s.sign(admin_claims()).rsplit(".", 1)[0] + ".",
    "with the payload swapped under a valid signature": lambda s: ".".join(
        [s.sign(admin_claims(roles=["monitor"])).split(".")[0], b64(json.dumps(admin_claims()).encode()), s.sign(admin_claims(roles=["monitor"])).split(".")[2]]
    ),
}


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_a_bad_token_is_401_at_the_gateway_and_at_every_service_directly(platform: Platform, signer: Signer, kind: str) -> None:
    answers = call_everywhere(platform, BAD_TOKENS[kind](signer))
    assert {where: resp.status_code for where, resp in answers.items()} == dict.fromkeys(answers, 401)
    for where, resp in answers.items():
        assert resp.headers["content-type"].startswith("application/problem+json"), where


@pytest.mark.slow
def test_more_than_the_burst_at_once_is_429_with_retry_after(platform: Platform, caller: Caller) -> None:
    """One fresh caller (so no other suite is slowed) sends 3× the burst of 200 as fast as it can. The
    request is a deposit without an Idempotency-Key: the gateway counts it, then answers 428 itself
    without calling risk-pool, so the machine's speed is the gateway's, not the whole platform's."""
    name = f"proof-rate-{uuid.uuid4().hex[:6]}"
    created = httpx.post(
        f"{platform.gateway}/v1/admin/accounts",
        json={"kind": "client", "name": name, "secret": "proof-rate-secret", "roles": ["monitor"]},
        headers=caller.h("admin"),
        timeout=10,
    )
    assert created.status_code == 201, created.text
    headers = {"Authorization": f"Bearer {platform.token(name, 'proof-rate-secret')}"}
    sent = 600
    started = time.monotonic()
    with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=16)) as client, ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: client.post(f"{platform.gateway}/v1/funds/PROOF/deposits", json={}, headers=headers), range(sent)))
    elapsed = time.monotonic() - started
    limited = [r for r in answers if r.status_code == 429]
    if not limited and sent - 200 <= 50 * elapsed:
        pytest.skip(f"{sent} requests took {elapsed:.1f}s: too slow to exceed 50/s with bursts of 200 on this machine")
    assert limited, f"{sent} requests in {elapsed:.1f}s, none limited: {sorted({r.status_code for r in answers})}"
    assert {r.status_code for r in answers} <= {428, 429}
    first = limited[0]
    assert int(first.headers["Retry-After"]) >= 1
    assert first.headers["content-type"].startswith("application/problem+json") and first.json()["status"] == 429
