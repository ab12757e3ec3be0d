"""The risk-pool process: ``create_app()`` and ``python -m risk_pool.main``.

Background work, each a lifespan hook and each off when ``background_workers`` is False or the
process has no service account at the gateway: the loan-event consumer (applications' log), the
webhook relay (``claim.settled`` to the gateway) and the business-metrics refresher.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from kit.app import create_service_app
from kit.auth import KeySet
from kit.consumer import Fetch, consumer_hook, http_fetch
from kit.http import ServiceClient
from kit.outbox import Send, http_sender, relay_hook
from kit.service_token import ServiceToken, service_token_from
from risk_pool import service
from risk_pool.api import router
from risk_pool.metrics import refresher_hook
from risk_pool.settings import Settings

BULK_BODY_BYTES = 32 * 1024 * 1024
LOAN_EVENTS_CONSUMER = "applications-loan-events"


class Outbound:
    """The process's own outbound clients (service token, applications, gateway webhook intake),
    built on first use by the background hooks and closed when the app stops."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.transport = transport  # tests plug in httpx.MockTransport
        self._token: ServiceToken | None = None
        self._applications: ServiceClient | None = None
        self._gateway: httpx.AsyncClient | None = None
        self._fetch: Fetch | None = None
        self._send: Send | None = None

    @property
    def configured(self) -> bool:
        return bool(self.settings.background_workers and self.settings.service_client_id and self.settings.service_client_secret)

    def token(self) -> ServiceToken:
        if self._token is None:
            self._token = service_token_from(self.settings, transport=self.transport)
            assert self._token is not None, "no service account configured"
        return self._token

    def fetch(self) -> Fetch:
        if self._fetch is None:
            self._applications = ServiceClient(caller="risk-pool", dependency="applications", base_url=self.settings.applications_url,
                                               deadline_seconds=self.settings.call_deadline_seconds, transport=self.transport)
            self._fetch = http_fetch(client=self._applications, path="/v1/loan-events", token=self.token())
        return self._fetch

    def send(self) -> Send | None:
        if not self.configured:
            return None
        if self._send is None:
            self._gateway = httpx.AsyncClient(timeout=self.settings.call_deadline_seconds, transport=self.transport)
            self._send = http_sender(url=f"{self.settings.gateway_url}/v1/webhooks/events", token=self.token(), client=self._gateway)
        return self._send

    async def aclose(self) -> None:
        for closeable in (self._applications, self._gateway, self._token):
            if closeable is not None:
                await closeable.aclose()


def _closing(outbound: Outbound) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def hook(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await outbound.aclose()

    return hook


def create_app(settings: Settings | None = None, *, keys: KeySet | None = None, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    settings = settings or Settings()
    outbound = Outbound(settings, transport)
    app = create_service_app(
        name="risk-pool",
        title="Risk-pool service",
        description="Risk-compensation funds (风险补偿金) and their ledger, loss-sharing schemes, claims, recoveries and circuit breakers (熔断).",
        settings=settings,
        routers=[router],
        keys=keys,
        # loan-event pages and claim batches are large by nature (10,000 events ≈ 8 MB)
        body_limits={"/v1/risk-events": BULK_BODY_BYTES, "/v1/claims/batches": BULK_BODY_BYTES},
        hooks=[
            _closing(outbound),  # first in, last out: the clients outlive the workers using them
            consumer_hook(name=LOAN_EVENTS_CONSUMER, fetch_of=lambda app: outbound.fetch(), apply=service.apply_loan_events,
                          enabled=lambda app: outbound.configured),
            relay_hook(send_of=lambda app: outbound.send()),
            refresher_hook(interval_seconds=settings.metrics_refresh_seconds, enabled=lambda app: settings.background_workers),
        ],
    )
    app.state.outbound = outbound
    return app


def main() -> None:
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
