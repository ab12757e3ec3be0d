"""The app factory every process uses: problems for bad input, limits, metrics by route template,
request ids, masked logs, health and readiness."""

import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ConfigDict

from kit.app import create_service_app
from kit.auth import scoped
from kit.errors import Conflict
from kit.logs import JsonFormatter
from kit.money import PositiveMoney
from kit.settings import BaseServiceSettings
from kit.testing import TokenFactory, api_client

router = APIRouter(prefix="/v1")


class Repayment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: PositiveMoney
    reference: str


@router.post("/loans/{loan_id}/repayments")
async def repay(loan_id: str, body: Repayment, principal: scoped("loans:write")) -> dict[str, str]:
    if loan_id == "closed":
        raise Conflict("loan closed is closed", state="closed")
    return {"loan_id": loan_id, "amount": f"{body.amount:.2f}", "by": principal.subject}


@router.get("/boom")
async def boom(principal: scoped("loans:write")) -> None:
    raise RuntimeError("a bug")


@pytest.fixture
async def client(tokens: TokenFactory) -> AsyncIterator[httpx.AsyncClient]:
    settings = BaseServiceSettings(environment="test", database_url=None, max_body_bytes=2048)
    app: FastAPI = create_service_app(name="kit-test", title="t", description="d", settings=settings, routers=[router], keys=tokens.keyset())
    async with api_client(app) as c:
        c.headers.update(tokens.headers("bank-1", scopes=["loans:write"]))
        yield c


async def test_a_valid_request_is_served(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/loans/L1/repayments", json={"amount": "100.50", "reference": "B-1"})
    assert resp.status_code == 200
    assert resp.json() == {"loan_id": "L1", "amount": "100.50", "by": "bank-1"}


async def test_bad_fields_are_a_422_problem_naming_each_field(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/loans/L1/repayments", json={"amount": "1.001", "surprise": True})
    assert resp.status_code == 422
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert {e["field"] for e in body["errors"]} == {"amount", "reference", "surprise"}
    assert body["status"] == 422 and body["type"].endswith("invalid-input")


async def test_malformed_json_is_a_422_problem(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/loans/L1/repayments", content=b'{"amount": ', headers={"content-type": "application/json"})
    assert resp.status_code == 422
    assert resp.headers["content-type"] == "application/problem+json"


async def test_wrong_content_type_is_415(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/loans/L1/repayments", content=b"amount=1", headers={"content-type": "text/plain"})
    assert resp.status_code == 415
    assert "text/plain" in resp.json()["detail"]


async def test_oversize_body_is_413_whether_declared_or_streamed(client: httpx.AsyncClient) -> None:
    big = json.dumps({"amount": "1.00", "reference": "x" * 4000}).encode()
    resp = await client.post("/v1/loans/L1/repayments", content=big, headers={"content-type": "application/json"})
    assert resp.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 500):
            yield big[i : i + 500]

    resp = await client.post("/v1/loans/L1/repayments", content=chunks(), headers={"content-type": "application/json"})
    assert resp.status_code == 413


async def test_business_errors_carry_their_status_and_extra_members(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/loans/closed/repayments", json={"amount": "1.00", "reference": "B-1"})
    assert resp.status_code == 409
    assert resp.json()["state"] == "closed"


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/nowhere")
    assert resp.status_code == 404 and resp.headers["content-type"] == "application/problem+json"


async def test_a_bug_is_a_500_problem_without_internals(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/boom")
    assert resp.status_code == 500
    assert "a bug" not in resp.text


async def test_request_id_is_echoed_or_created(client: httpx.AsyncClient) -> None:
    resp = await client.get("/healthz", headers={"x-request-id": "abc123"})
    assert resp.headers["x-request-id"] == "abc123"
    assert len((await client.get("/healthz")).headers["x-request-id"]) == 32


async def test_metrics_are_labelled_by_route_template_never_the_raw_path(client: httpx.AsyncClient) -> None:
    await client.post("/v1/loans/L-777/repayments", json={"amount": "1.00", "reference": "B-1"})
    text = (await client.get("/metrics")).text
    assert 'route="/v1/loans/{loan_id}/repayments"' in text
    assert "L-777" not in text
    assert 'http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/loans/{loan_id}/repayments",service="kit-test"}' in text


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz", headers={"authorization": ""})).json()["status"] == "alive"
    assert (await client.get("/readyz")).status_code == 200


async def test_openapi_lists_problem_responses_and_bearer_security(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    op = doc["paths"]["/v1/loans/{loan_id}/repayments"]["post"]
    assert "application/problem+json" in op["responses"]["422"]["content"]
    assert op["security"] == [{"bearerAuth": []}]


def test_log_lines_are_json_with_ids_masked() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "registered head %s", ("11010519491231002X",), None)
    line = json.loads(JsonFormatter("svc").format(record))
    assert line["message"] == "registered head 110105********002X"
    assert line["service"] == "svc" and line["level"] == "info"


async def test_each_operation_names_its_required_scope(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    assert doc["paths"]["/v1/loans/{loan_id}/repayments"]["post"]["x-required-scope"] == "loans:write"
