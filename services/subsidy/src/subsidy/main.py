"""The subsidy process: ``create_app()`` and ``python -m subsidy.main``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from kit.app import create_service_app
from kit.auth import KeySet
from kit.consumer import consumer_hook, http_fetch
from kit.http import ServiceClient
from kit.outbox import http_sender, relay_hook
from kit.service_token import service_token_from
from subsidy import service
from subsidy.api import router
from subsidy.clients.applications import ApplicationsClient
from subsidy.metrics import metrics_hook
from subsidy.settings import Settings

LOAN_EVENTS_CONSUMER = "applications-loan-events"


def create_app(
    settings: Settings | None = None,
    *,
    keys: KeySet | None = None,
    applications_transport: httpx.AsyncBaseTransport | None = None,
    gateway_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """``applications_transport`` and ``gateway_transport`` let tests fake the applications service
    and the gateway's token endpoint (httpx.MockTransport)."""
    settings = settings or Settings()
    applications = ApplicationsClient(
        base_url=settings.applications_url, deadline_seconds=settings.call_deadline_seconds, transport=applications_transport
    )
    # This service's own account, for calls on its own behalf (the event log, webhooks); None when
    # no service account is configured, and then the consumer and the relay stay off.
    token = service_token_from(settings, transport=gateway_transport)
    event_log = ServiceClient(
        caller="subsidy", dependency="applications", base_url=settings.applications_url,
        deadline_seconds=settings.call_deadline_seconds, transport=applications_transport,
    )
    workers = settings.background_workers and token is not None
    webhooks = httpx.AsyncClient(transport=gateway_transport, timeout=10.0)

    @asynccontextmanager
    async def close_clients(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await applications.aclose()
            await event_log.aclose()
            await webhooks.aclose()
            if token is not None:
                await token.aclose()

    loan_events = consumer_hook(
        name=LOAN_EVENTS_CONSUMER,
        fetch_of=lambda app: http_fetch(client=event_log, path="/v1/loan-events", token=token),  # type: ignore[arg-type]
        apply=service.apply_log_page,
        enabled=lambda app: workers,
    )
    # subsidy.paid webhooks: the outbox rows written when a batch is paid, handed to the gateway.
    relay = relay_hook(
        send_of=lambda app: http_sender(url=f"{settings.gateway_url}/v1/webhooks/events", token=token, client=webhooks) if workers and token else None
    )
    business_metrics = metrics_hook(interval_seconds=settings.metrics_interval_seconds, enabled=lambda app: settings.background_workers)

    app = create_service_app(
        name="subsidy",
        title="Subsidy service",
        description="Interest subsidy (贴息) plans and budgets, per-loan subsidy accounts, yearly settlement, payouts, registers and notices.",
        settings=settings,
        routers=[router],
        keys=keys,
        hooks=[close_clients, loan_events, relay, business_metrics],
        # Large lists: a batch's payment references, a page of loan events, a registry update.
        body_limits={"/v1/settlements": 32 * 2**20, "/v1/subsidy-events": 16 * 2**20, "/v1/subsidy-accounts/households": 8 * 2**20},
    )
    app.state.applications = applications
    app.state.event_log = event_log
    app.state.service_token = token
    return app


def main() -> None:
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
