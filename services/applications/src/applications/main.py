"""The applications process: ``create_app()`` and ``python -m applications.main``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from applications.api import IMPORT_TYPES, router
from applications.clients.credit_rating import CreditRatingClient
from applications.clients.risk_pool import RiskPoolClient
from applications.metrics import refresher_hook
from applications.service import Clients, refresh_business_metrics
from applications.settings import Settings
from kit.app import create_service_app
from kit.auth import KeySet
from kit.outbox import Send, http_sender, relay_hook
from kit.service_token import service_token_from


def webhook_sender(app: FastAPI) -> Send | None:
    """Relay the outbox to the gateway's webhook intake with this service's own token; off without
    background workers or a service account."""
    settings: Settings = app.state.settings
    token = service_token_from(settings) if settings.background_workers else None
    if token is None:
        return None
    return http_sender(url=f"{settings.gateway_url}/v1/webhooks/events", token=token)


def create_app(
    settings: Settings | None = None,
    *,
    keys: KeySet | None = None,
    credit_rating_transport: httpx.AsyncBaseTransport | None = None,
    risk_pool_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The app; tests pass ``httpx.MockTransport`` fakes of credit-rating and risk-pool."""
    settings = settings or Settings()
    clients = Clients(
        credit_rating=CreditRatingClient(
            base_url=settings.credit_rating_url, deadline_seconds=settings.call_deadline_seconds, transport=credit_rating_transport
        ),
        risk_pool=RiskPoolClient(base_url=settings.risk_pool_url, deadline_seconds=settings.call_deadline_seconds, transport=risk_pool_transport),
    )

    @asynccontextmanager
    async def close_clients(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await clients.credit_rating.aclose()
            await clients.risk_pool.aclose()

    app = create_service_app(
        name="applications",
        title="Applications service",
        description=(
            "建档立卡 registry, lending policy, loan applications and their approval chain, loans, repayments, the business date and the loan event log."
        ),
        settings=settings,
        routers=[router],
        keys=keys,
        content_types=IMPORT_TYPES,
        body_limits={"/v1/households/import": settings.import_max_bytes, "/v1/regions/import": 64 * 1024 * 1024},
        hooks=[close_clients, relay_hook(send_of=webhook_sender), refresher_hook(refresh_business_metrics)],
    )
    app.state.clients = clients
    return app


def main() -> None:
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
