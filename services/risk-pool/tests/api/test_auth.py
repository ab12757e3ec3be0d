"""The token path: this service verifies every token itself."""

import httpx

from kit.testing import TokenFactory


async def test_valid_token_with_scope_is_served(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    resp = await client.get("/v1/funds", headers=tokens.headers(roles=["monitor"], scopes=["risk:read"]))
    assert resp.status_code == 200, resp.text


async def test_missing_token_is_401(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/funds")
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_token_from_another_signer_is_401(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/funds", headers=TokenFactory().headers(scopes=["risk:read"]))
    assert resp.status_code == 401


async def test_wrong_audience_and_expired_tokens_are_401(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    for token in (tokens.token(scopes=["risk:read"], aud="elsewhere"), tokens.token(scopes=["risk:read"], ttl=-120)):
        resp = await client.get("/v1/funds", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401


async def test_missing_scope_is_403(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    resp = await client.get("/v1/funds", headers=tokens.headers(scopes=["nothing:read"]))
    assert resp.status_code == 403


async def test_health_and_metrics_need_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200
    assert "http_requests_total" in (await client.get("/metrics")).text


OWN_PREFIXES = ("/v1/funds", "/v1/sharing-schemes", "/v1/claims", "/v1/obligations", "/v1/breakers", "/v1/lending-status",
                "/v1/exposures", "/v1/guarantee-fees", "/v1/risk-figures", "/v1/risk-events")


async def test_every_route_is_under_the_prefixes_this_service_owns_and_errors_are_problems(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    paths = list(doc["paths"])
    assert len(paths) >= 25
    assert [p for p in paths if not p.startswith(OWN_PREFIXES)] == []
    claim = doc["paths"]["/v1/claims"]["post"]["responses"]
    assert {"403", "404", "409"} <= set(claim)


async def test_money_moving_operations_are_marked_for_the_gateways_idempotency_keys(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    marked = sorted(p for p, item in paths.items() for op in item.values() if op.get("x-money-moving"))
    assert marked == ["/v1/claims", "/v1/claims/batches", "/v1/claims/{claim_id}/recoveries", "/v1/funds/{code}/deposits",
                      "/v1/funds/{code}/top-ups", "/v1/funds/{code}/withdrawals", "/v1/obligations/{obligation_id}/settlement"]
