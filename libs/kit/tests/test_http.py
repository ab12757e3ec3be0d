"""Outbound calls: deadline, retries only when idempotent, circuit breaker, 503 problems."""

import asyncio

import httpx
import pytest

from kit.errors import DependencyUnavailable
from kit.http import CircuitBreaker, ServiceClient


def client_with(handler, **kwargs) -> ServiceClient:  # type: ignore[no-untyped-def]
    return ServiceClient(caller="t", dependency="dep", base_url="http://dep", transport=httpx.MockTransport(handler), **kwargs)


async def test_get_is_retried_after_a_5xx_and_succeeds() -> None:
    answers = iter([503, 200])
    client = client_with(lambda r: httpx.Response(next(answers), json={}))
    assert (await client.request("GET", "/x")).status_code == 200


async def test_post_is_never_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(502)

    with pytest.raises(DependencyUnavailable):
        await client_with(handler).request("POST", "/x", json={})
    assert len(calls) == 1


async def test_4xx_answers_are_returned_not_retried() -> None:
    resp = await client_with(lambda r: httpx.Response(404, json={"detail": "no"})).request("GET", "/x")
    assert resp.status_code == 404


async def test_a_slow_dependency_fails_within_the_deadline() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    client = client_with(slow, deadline_seconds=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(DependencyUnavailable) as err:
        await client.request("GET", "/x")
    assert loop.time() - started < 2  # bounded by the deadline, not the dependency
    assert err.value.status == 503


async def test_connection_errors_become_503_and_open_the_breaker() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    client = client_with(refuse, retries=0, breaker=CircuitBreaker(threshold=2, reset_seconds=60))
    for _ in range(2):
        with pytest.raises(DependencyUnavailable):
            await client.request("GET", "/x")
    with pytest.raises(DependencyUnavailable) as err:
        await client.request("GET", "/x")
    assert "circuit open" in err.value.detail


async def test_the_token_and_request_id_are_forwarded() -> None:
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(request.headers)
        return httpx.Response(200)

    await client_with(handler).request("GET", "/x", token="tok")
    assert seen["authorization"] == "Bearer tok"
