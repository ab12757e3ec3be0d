"""Forwarding to the owning service: routes learned from each service's OpenAPI, bodies streamed,
token and request id passed on, a dead or slow service answered with a 503 problem."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from gateway.domain import RouteTable
from gateway.errors import UpstreamUnavailable
from kit.logs import request_id_var
from kit.tracing import outbound_headers

log = logging.getLogger("gateway.proxy")
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers", "transfer-encoding", "upgrade", "host", "content-length"}
)


class Upstreams:
    def __init__(self, urls: dict[str, str], *, deadline_seconds: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.urls = urls
        self.deadline = deadline_seconds
        self.client = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(deadline_seconds, connect=2.0))
        self.table = RouteTable()
        self.docs: dict[str, dict[str, Any]] = {}

    @property
    def complete(self) -> bool:
        return set(self.docs) == set(self.urls)

    async def refresh(self) -> None:
        """Load each service's OpenAPI document; a service that does not answer keeps its old one."""
        for name, url in self.urls.items():
            try:
                resp = await self.client.get(f"{url}/openapi.json", timeout=3.0)
                resp.raise_for_status()
                doc = resp.json()
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("cannot load routes of %s from %s: %s", name, url, type(exc).__name__)
                continue
            self.docs[name] = doc
            self.table.replace_service(name, doc.get("paths", {}))

    async def forward(self, request: Request, service: str, body: bytes | None = None) -> httpx.Response:
        """Send the request on; the caller reads or streams the response and closes it."""
        query = request.url.query
        url = f"{self.urls[service]}{request.url.path}" + (f"?{query}" if query else "")
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        rid = request_id_var.get()
        replaced = {"x-request-id": rid, **outbound_headers()}
        headers = [(k, v) for k, v in headers if k.lower() not in replaced] + [(k, v) for k, v in replaced.items() if v]
        has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
        # A body-less POST stays body-less (not an empty chunked stream, which a service would read as a body)
        content: Any = body if body is not None else (request.stream() if has_body else b"")
        outbound = self.client.build_request(request.method, url, headers=headers, content=content)
        try:
            return await self.client.send(outbound, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamUnavailable(f"{service} did not answer within {self.deadline:g}s; retry later", service=service) from exc
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"{service} is unavailable ({type(exc).__name__}); retry later", service=service) from exc


# The figures each service contributes to the dashboards' overview, per region.
OVERVIEW_SOURCES = {
    "lending": ("applications", "/v1/lending-figures/overview"),
    "rating": ("credit-rating", "/v1/rating-households/coverage"),
    "risk": ("risk-pool", "/v1/risk-figures"),
    "subsidy": ("subsidy", "/v1/subsidy-figures/paid"),
}


async def overview(upstreams: Upstreams, *, region: str, authorization: str) -> dict[str, Any]:
    """One answer for a dashboard: each service's figures for ``region``, fetched in parallel with
    the caller's own token (so each service applies its own scoping). A section that cannot be had
    is null and named in ``unavailable`` with the reason; the others still answer."""

    async def one(name: str, service: str, path: str) -> tuple[str, Any, str | None]:
        try:
            resp = await upstreams.client.get(
                f"{upstreams.urls[service]}{path}", params={"region": region}, headers={"authorization": authorization}, timeout=10.0
            )
        except httpx.HTTPError as exc:
            return name, None, f"{service} unavailable ({type(exc).__name__})"
        if resp.status_code != 200:
            detail = resp.json().get("detail", "") if resp.headers.get("content-type", "").endswith("json") else ""
            return name, None, f"{service} answered {resp.status_code} {detail}".strip()
        return name, resp.json(), None

    results = await asyncio.gather(*(one(name, service, path) for name, (service, path) in OVERVIEW_SOURCES.items()))
    body: dict[str, Any] = {"region": region}
    body.update({name: data for name, data, _ in results})
    body["unavailable"] = [{"section": name, "reason": why} for name, _, why in results if why]
    return body


# Headers the gateway's own server and middleware set on every answer: not copied from upstream.
OWN_RESPONSE_HEADERS = frozenset({"content-encoding", "date", "server", "x-request-id"})


def response_headers(resp: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in resp.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() not in OWN_RESPONSE_HEADERS}


def streamed(resp: httpx.Response) -> Response:
    if resp.is_stream_consumed:  # an in-memory answer (a test transport): nothing left to stream
        return Response(resp.content, status_code=resp.status_code, headers=response_headers(resp))
    return StreamingResponse(
        resp.aiter_raw(), status_code=resp.status_code, headers=response_headers(resp), background=BackgroundTask(resp.aclose)
    )


def route_refresher(upstreams_of: Any) -> Any:
    """A lifespan hook that keeps the route table fresh: every 2 s until every service has
    answered, then every 60 s."""

    @asynccontextmanager
    async def hook(app: FastAPI) -> AsyncIterator[None]:
        upstreams: Upstreams = upstreams_of(app)

        async def loop() -> None:
            while True:
                await upstreams.refresh()
                await asyncio.sleep(60 if upstreams.complete else 2)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            await upstreams.client.aclose()

    return hook
