"""Token issue and verification at the gateway, including the forgery cases."""

import base64
import json
import time

import httpx
from jose import jwt

from gateway import signing

from .conftest import password_token


async def test_admin_gets_a_token_and_reaches_the_admin_api(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    resp = await client.get("/v1/admin/accounts", headers=admin_headers)
    assert resp.status_code == 200
    assert [a["name"] for a in resp.json()["items"]] == ["admin"]


async def test_token_claims_carry_roles_scopes_and_expiry(client: httpx.AsyncClient) -> None:
    token = await password_token(client, "admin", "test-admin-password")
    claims = jwt.get_unverified_claims(token)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"]
    assert claims["iss"] == "fupin-gateway" and claims["aud"] == "fupin"
    assert claims["roles"] == ["admin"] and "admin" in claims["scope"].split()
    assert 0 < claims["exp"] - claims["iat"] <= 900


async def test_wrong_password_is_401_problem(client: httpx.AsyncClient) -> None:
    resp = await client.post("/oauth/token", data={"grant_type": "password", "username": "admin", "password": "nope-nope-nope"})
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["error"] == "invalid_client"


async def test_unknown_grant_type_is_400(client: httpx.AsyncClient) -> None:
    resp = await client.post("/oauth/token", data={"grant_type": "implicit"})
    assert resp.status_code == 400
    assert resp.json()["error"] == "unsupported_grant_type"


async def test_client_credentials_for_a_bank_client(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    created = await client.post(
        "/v1/admin/accounts",
        headers=admin_headers,
        json={"kind": "client", "name": "bank-test", "secret": "bank-test-secret", "roles": ["bank"], "bank_id": "RCC"},
    )
    assert created.status_code == 201, created.text
    assert "applications:write" in created.json()["scopes"]
    resp = await client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "bank-test", "client_secret": "bank-test-secret"})
    assert resp.status_code == 200
    claims = jwt.get_unverified_claims(resp.json()["access_token"])
    assert claims["bank_id"] == "RCC" and claims["kind"] == "client"
    basic = base64.b64encode(b"bank-test:bank-test-secret").decode()
    resp = await client.post("/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"})
    assert resp.status_code == 200
    # a client cannot use the password grant
    resp = await client.post("/oauth/token", data={"grant_type": "password", "username": "bank-test", "password": "bank-test-secret"})
    assert resp.status_code == 401


async def test_disabled_account_gets_no_token(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    await client.post(
        "/v1/admin/accounts", headers=admin_headers,
        json={"kind": "user", "name": "officer-x", "secret": "officer-x-password", "roles": ["village_officer"], "region": "411224100201"},
    )
    assert (await client.post("/v1/admin/accounts/officer-x/disable", headers=admin_headers)).status_code == 200
    resp = await client.post("/oauth/token", data={"grant_type": "password", "username": "officer-x", "password": "officer-x-password"})
    assert resp.status_code == 401


async def test_account_validation_names_the_field(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    resp = await client.post(
        "/v1/admin/accounts", headers=admin_headers,
        json={"kind": "user", "name": "x1234", "secret": "long-enough-secret", "roles": ["wizard"], "surprise": 1},
    )
    assert resp.status_code == 422
    fields = {e["field"] for e in resp.json()["errors"]}
    assert {"roles", "surprise"} <= fields
    resp = await client.post(
        "/v1/admin/accounts", headers=admin_headers,
        json={"kind": "client", "name": "bank-nobank", "secret": "long-enough-secret", "roles": ["bank"]},
    )
    assert resp.status_code == 422 and "bank_id" in resp.json()["detail"]


async def test_missing_scope_is_403(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    await client.post(
        "/v1/admin/accounts", headers=admin_headers,
        json={"kind": "user", "name": "monitor-1", "secret": "monitor-1-password", "roles": ["monitor"]},
    )
    token = await password_token(client, "monitor-1", "monitor-1-password")
    resp = await client.get("/v1/admin/accounts", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 403 and "admin" in resp.json()["detail"]


def _b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def test_forged_tokens_are_401(client: httpx.AsyncClient) -> None:
    good = await password_token(client, "admin", "test-admin-password")
    header, claims = jwt.get_unverified_header(good), jwt.get_unverified_claims(good)
    jwks = (await client.get("/.well-known/jwks.json")).json()
    now = int(time.time())
    _, other_private, _ = signing.new_key("s")
    forged = {
        "alg none": f"{_b64({'alg': 'none', 'kid': header['kid']})}.{_b64(claims)}.",
        "expired": signing.sign(
            {**claims, "exp": now - 3600, "iat": now - 7200, "nbf": now - 7200}, kid=header["kid"], encrypted_private_key=other_private, secret="s"
        ),
        "unknown key": signing.sign(claims, kid="not-a-key", encrypted_private_key=other_private, secret="s"),
        "wrong signer": signing.sign(claims, kid=header["kid"], encrypted_private_key=other_private, secret="s"),
        "tampered": good[:-6] + ("AAAAAA" if not good.endswith("AAAAAA") else "BBBBBB"),
        "garbage": "not.a.token",
    }
    # HS256 signed with the public key as the HMAC secret (the classic algorithm confusion)
    public_pem = json.dumps(jwks["keys"][0]).encode()
    forged["hs256 with public key"] = jwt.encode(claims, public_pem.decode(), algorithm="HS256", headers={"kid": header["kid"]})
    for name, token in forged.items():
        resp = await client.get("/v1/admin/accounts", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401, name
        assert resp.json()["status"] == 401, name
    assert (await client.get("/v1/admin/accounts")).status_code == 401


async def test_key_rotation_keeps_old_tokens_valid_and_publishes_both_keys(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    old_kid = jwt.get_unverified_header(admin_headers["Authorization"].split()[1])["kid"]
    resp = await client.post("/v1/admin/keys/rotate", headers=admin_headers)
    assert resp.status_code == 200
    new_kid = resp.json()["kid"]
    kids = {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
    assert {old_kid, new_kid} <= kids
    assert (await client.get("/v1/admin/accounts", headers=admin_headers)).status_code == 200
    token = await password_token(client, "admin", "test-admin-password")
    assert jwt.get_unverified_header(token)["kid"] == new_kid
    assert (await client.get("/v1/admin/accounts", headers={"Authorization": f"Bearer {token}"})).status_code == 200
