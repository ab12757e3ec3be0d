"""The token path: this service verifies every token itself."""

import httpx

from kit.testing import TokenFactory


async def test_valid_token_with_scope_is_served(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    resp = await client.get("/v1/subsidy-plans", headers=tokens.headers(roles=["monitor"], scopes=["subsidy:read"]))
    assert resp.status_code == 200, resp.text


async def test_missing_token_is_401(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/subsidy-plans")
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_token_from_another_signer_is_401(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/subsidy-plans", headers=TokenFactory().headers(scopes=["subsidy:read"]))
    assert resp.status_code == 401


async def test_wrong_audience_and_expired_tokens_are_401(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    for token in (tokens.token(scopes=["subsidy:read"], aud="elsewhere"), tokens.token(scopes=["subsidy:read"], ttl=-120)):
        resp = await client.get("/v1/subsidy-plans", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401


async def test_missing_scope_is_403(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    resp = await client.get("/v1/subsidy-plans", headers=tokens.headers(scopes=["nothing:read"]))
    assert resp.status_code == 403


async def test_health_and_metrics_need_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200
    assert "http_requests_total" in (await client.get("/metrics")).text


async def test_every_route_lives_under_the_prefixes_this_service_owns(client: httpx.AsyncClient) -> None:
    owned = ("/v1/subsidy-plans", "/v1/subsidy-accounts", "/v1/settlements", "/v1/subsidy-notices", "/v1/subsidy-figures",
             "/v1/subsidy-events", "/v1/subsidy-approval-forms")
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert paths
    assert [p for p in paths if not p.startswith(owned)] == []
