"""The token path: this service verifies every token itself."""

import httpx

from kit.testing import TokenFactory


async def test_valid_token_with_scope_is_served(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    resp = await client.get("/v1/business-date", headers=tokens.headers(roles=["monitor"], scopes=["applications:read"]))
    assert resp.status_code == 200, resp.text


async def test_missing_token_is_401(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/business-date")
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_token_from_another_signer_is_401(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/business-date", headers=TokenFactory().headers(scopes=["applications:read"]))
    assert resp.status_code == 401


async def test_wrong_audience_and_expired_tokens_are_401(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    for token in (tokens.token(scopes=["applications:read"], aud="elsewhere"), tokens.token(scopes=["applications:read"], ttl=-120)):
        resp = await client.get("/v1/business-date", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401


async def test_missing_scope_is_403(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    resp = await client.get("/v1/applications", headers=tokens.headers(scopes=["nothing:read"]))
    assert resp.status_code == 403


async def test_health_and_metrics_need_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200
    assert "http_requests_total" in (await client.get("/metrics")).text


async def test_the_openapi_document_lists_every_route_under_v1_with_problem_errors(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    assert all(path.startswith("/v1/") for path in doc["paths"])
    assert "/v1/loans/{loan_id}/repayments" in doc["paths"] and "/v1/loan-events" in doc["paths"]
    recommend = doc["paths"]["/v1/applications/{application_id}/recommendation"]["post"]["responses"]
    assert {"403", "409", "422", "503"} <= set(recommend)
