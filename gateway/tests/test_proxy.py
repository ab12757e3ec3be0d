"""Routing to the owning service, idempotency, rate limits and a dead upstream."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.main import bootstrap
from kit.testing import api_client, bind_app, rolled_back

from .conftest import make_app, password_token

DOCS = {
    "applications": {"paths": {"/v1/loans/{loan_id}": {}, "/v1/loans/{loan_id}/repayments": {}, "/v1/loans/export": {},
                                   "/v1/loans/{loan_id}/disbursement": {"post": {"x-money-moving": True}},
                                   "/v1/loans/{loan_id}/boom": {}},
                     "components": {"schemas": {"Loan": {"type": "object"}}}},
    "credit-rating": {"paths": {"/v1/ratings/{household_id}": {}}, "components": {"schemas": {"Loan": {"type": "string"}}}},
    "risk-pool": {"paths": {"/v1/funds": {}}},
    "subsidy": {"paths": {"/v1/subsidy-plans": {}}},
}


class Upstream:
    """Fake services behind the gateway: answer with what they received."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bytes]] = []
        self.release: asyncio.Event | None = None
        self.reached = asyncio.Event()
        self.headers: list[httpx.Headers] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        host_port = {8001: "applications", 8002: "credit-rating", 8003: "risk-pool", 8004: "subsidy"}[request.url.port or 0]
        if request.url.path == "/openapi.json":
            return httpx.Response(200, json=DOCS[host_port])
        body = await request.aread()
        self.calls.append((host_port, request.url.path, body))
        self.headers.append(request.headers)
        self.reached.set()
        if self.release is not None:
            await self.release.wait()
        if request.url.path.endswith("/boom"):
            return httpx.Response(500, json={"detail": "upstream bug"})
        return httpx.Response(
            201 if request.method == "POST" else 200,
            headers={"x-request-id": request.headers.get("x-request-id", ""), "date": "Thu, 26 Nov 2026 00:00:00 GMT", "server": "uvicorn"},
            json={"service": host_port, "path": request.url.path, "n": len(self.calls),
                  "auth": request.headers.get("authorization", "")[:6], "rid": request.headers.get("x-request-id")},
        )


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


async def _app(bind: object, upstream: Upstream, **overrides: object) -> FastAPI:
    app = make_app(**overrides)
    app.state.upstreams.client = httpx.AsyncClient(transport=httpx.MockTransport(upstream))
    bind_app(app, bind)  # type: ignore[arg-type]
    await app.state.upstreams.refresh()
    return app


@pytest.fixture
async def gw(engine: AsyncEngine, upstream: Upstream) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back(engine) as conn:
        app = await _app(conn, upstream)
        async with bootstrap(app), api_client(app) as c:
            c.headers["Authorization"] = f"Bearer {await password_token(c, 'admin', 'test-admin-password')}"
            yield c


async def test_requests_go_to_the_service_that_declares_the_path(gw: httpx.AsyncClient) -> None:
    assert (await gw.get("/v1/loans/L-1")).json()["service"] == "applications"
    assert (await gw.get("/v1/loans/export")).json()["path"] == "/v1/loans/export"
    assert (await gw.get("/v1/ratings/HH-1")).json()["service"] == "credit-rating"
    assert (await gw.get("/v1/funds")).json()["service"] == "risk-pool"
    resp = await gw.get("/v1/subsidy-plans?year=2026", headers={"x-request-id": "rid-1"})
    assert resp.json() == {"service": "subsidy", "path": "/v1/subsidy-plans", "n": 5, "auth": "Bearer", "rid": "rid-1"}


async def test_unknown_paths_are_404_problems(gw: httpx.AsyncClient) -> None:
    resp = await gw.get("/v1/nothing-here")
    assert resp.status_code == 404 and resp.headers["content-type"] == "application/problem+json"


async def test_proxied_calls_need_a_valid_token(gw: httpx.AsyncClient, upstream: Upstream) -> None:
    resp = await gw.get("/v1/funds", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401
    assert upstream.calls == []


async def test_a_replayed_idempotency_key_returns_the_first_response_and_reaches_the_service_once(
    gw: httpx.AsyncClient, upstream: Upstream
) -> None:
    body = {"amount": "100.00", "bank_reference": "R1"}
    first = await gw.post("/v1/loans/L-1/repayments", json=body, headers={"Idempotency-Key": "k-1"})
    again = await gw.post("/v1/loans/L-1/repayments", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert len(upstream.calls) == 1


async def test_money_moving_operations_require_an_idempotency_key(gw: httpx.AsyncClient, upstream: Upstream) -> None:
    resp = await gw.post("/v1/loans/L-1/disbursement", json={"amount": "1.00"})
    assert resp.status_code == 428 and "Idempotency-Key" in resp.json()["detail"]
    assert upstream.calls == []
    resp = await gw.post("/v1/loans/L-1/disbursement", json={"amount": "1.00"}, headers={"Idempotency-Key": "d-1"})
    assert resp.status_code == 201


async def test_the_same_key_with_a_different_body_is_422(gw: httpx.AsyncClient) -> None:
    await gw.post("/v1/loans/L-1/repayments", json={"amount": "100.00"}, headers={"Idempotency-Key": "k-2"})
    resp = await gw.post("/v1/loans/L-1/repayments", json={"amount": "200.00"}, headers={"Idempotency-Key": "k-2"})
    assert resp.status_code == 422 and "different request" in resp.json()["detail"]


async def test_an_upstream_5xx_is_not_stored_so_a_retry_goes_through(gw: httpx.AsyncClient, upstream: Upstream) -> None:
    resp = await gw.post("/v1/loans/L-9/boom", json={}, headers={"Idempotency-Key": "k-3"})
    assert resp.status_code == 500
    resp = await gw.post("/v1/loans/L-9/boom", json={}, headers={"Idempotency-Key": "k-3"})
    assert resp.status_code == 500
    assert len([c for c in upstream.calls if c[1].endswith("/boom")]) == 2  # not replayed: the retry reached the service


async def test_a_dead_service_is_a_503_problem(engine: AsyncEngine, upstream: Upstream) -> None:
    async with rolled_back(engine) as conn:
        app = await _app(conn, upstream)

        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused")

        async with bootstrap(app), api_client(app) as c:
            token = await password_token(c, "admin", "test-admin-password")
            app.state.upstreams.client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
            resp = await c.get("/v1/funds", headers={"Authorization": f"Bearer {token}"})
            assert resp.status_code == 503
            assert resp.json()["service"] == "risk-pool"


async def test_rate_limit_answers_429_with_retry_after(engine: AsyncEngine, upstream: Upstream) -> None:
    async with rolled_back(engine) as conn:
        app = await _app(conn, upstream, rate_limit_per_second=1, rate_limit_burst=3)
        async with bootstrap(app), api_client(app) as c:
            c.headers["Authorization"] = f"Bearer {await password_token(c, 'admin', 'test-admin-password')}"
            statuses = [(await c.get("/v1/funds")).status_code for _ in range(5)]
            assert statuses[:3] == [200, 200, 200] and statuses[-1] == 429
            resp = await c.get("/v1/funds")
            assert resp.status_code == 429 and int(resp.headers["retry-after"]) >= 1


async def test_a_second_request_while_the_first_is_in_flight_is_409(engine: AsyncEngine, upstream: Upstream) -> None:
    app = await _app(engine, upstream)  # real commits: the in-flight record must be visible to the second request
    upstream.release = asyncio.Event()
    try:
        async with bootstrap(app), api_client(app) as c:
            c.headers["Authorization"] = f"Bearer {await password_token(c, 'admin', 'test-admin-password')}"
            first = asyncio.create_task(c.post("/v1/loans/L-1/repayments", json={"a": 1}, headers={"Idempotency-Key": "k-flight"}))
            await upstream.reached.wait()  # the first request is held inside the service
            second = await c.post("/v1/loans/L-1/repayments", json={"a": 1}, headers={"Idempotency-Key": "k-flight"})
            assert second.status_code == 409
            upstream.release.set()
            assert (await first).status_code == 201
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("TRUNCATE idempotency_records, accounts, signing_keys"))


async def test_one_merged_openapi_document(gw: httpx.AsyncClient) -> None:
    doc = (await gw.get("/openapi.json")).json()
    for path in ("/oauth/token", "/v1/loans/{loan_id}/repayments", "/v1/ratings/{household_id}", "/v1/funds", "/v1/subsidy-plans"):
        assert path in doc["paths"], path
    # the two services' different "Loan" schemas both survive
    assert doc["components"]["schemas"]["Loan"] != doc["components"]["schemas"]["CreditRatingLoan"]


async def test_the_overview_gathers_every_services_figures_with_the_callers_token(gw: httpx.AsyncClient, upstream: Upstream) -> None:
    resp = await gw.get("/v1/overview?region=411224000000")
    assert resp.status_code == 200
    body = resp.json()
    assert body["lending"]["path"] == "/v1/lending-figures/overview"
    assert body["rating"]["service"] == "credit-rating" and body["risk"]["service"] == "risk-pool" and body["subsidy"]["service"] == "subsidy"
    assert body["unavailable"] == []
    assert all(section["auth"] == "Bearer" for section in (body["lending"], body["rating"], body["risk"], body["subsidy"]))
    assert (await gw.get("/v1/overview?region=4112")).status_code == 422


async def test_the_overview_names_a_section_it_could_not_get(engine: AsyncEngine, upstream: Upstream) -> None:
    async with rolled_back(engine) as conn:
        app = await _app(conn, upstream)

        async def risk_pool_down(request: httpx.Request) -> httpx.Response:
            if request.url.port == 8003:
                raise httpx.ConnectError("refused")
            return await upstream(request)

        async with bootstrap(app), api_client(app) as c:
            token = await password_token(c, "admin", "test-admin-password")
            app.state.upstreams.client = httpx.AsyncClient(transport=httpx.MockTransport(risk_pool_down))
            body = (await c.get("/v1/overview?region=411224000000", headers={"Authorization": f"Bearer {token}"})).json()
            assert body["risk"] is None and body["lending"] is not None
            assert body["unavailable"] == [{"section": "risk", "reason": "risk-pool unavailable (ConnectError)"}]


async def test_a_post_without_a_body_reaches_the_service_without_one(gw: httpx.AsyncClient, upstream: Upstream) -> None:
    resp = await gw.post("/v1/loans/L-1/repayments")
    assert resp.status_code == 201
    assert upstream.calls[-1][2] == b""
    assert "transfer-encoding" not in upstream.headers[-1] and upstream.headers[-1].get("content-length", "0") == "0"


async def test_the_gateways_own_routes_keep_the_ordinary_body_limit_and_types(gw: httpx.AsyncClient) -> None:
    big = b'{"kind": "user", "name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    assert (await gw.post("/v1/admin/accounts", content=big, headers={"content-type": "application/json"})).status_code == 413
    resp = await gw.post("/v1/admin/accounts", content=b"--x--", headers={"content-type": "multipart/form-data; boundary=x"})
    assert resp.status_code == 415
    resp = await gw.post("/v1/loans/L-1/repayments", content=big, headers={"content-type": "application/json", "Idempotency-Key": "big"})
    assert resp.status_code == 413
    assert (await gw.get("/v1/admin/accounts?cursor=18446744073709551616")).status_code == 422


async def test_a_proxied_answer_carries_each_header_once(gw: httpx.AsyncClient) -> None:
    resp = await gw.get("/v1/funds", headers={"x-request-id": "one"})
    assert resp.headers.get_list("x-request-id") == ["one"]
    assert len(resp.headers.get_list("date")) <= 1 and len(resp.headers.get_list("server")) <= 1
