"""The subsidy process: ``create_app()`` and ``python -m subsidy.main``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from kit.app import create_service_app
from kit.auth import KeySet
from subsidy.api import router
from subsidy.clients.applications import ApplicationsClient
from subsidy.settings import Settings


def create_app(
    settings: Settings | None = None, *, keys: KeySet | None = None, applications_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """``applications_transport`` lets tests fake the applications service (httpx.MockTransport)."""
    settings = settings or Settings()
    applications = ApplicationsClient(
        base_url=settings.applications_url, deadline_seconds=settings.call_deadline_seconds, transport=applications_transport
    )

    @asynccontextmanager
    async def close_clients(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await applications.aclose()

    app = create_service_app(
        name="subsidy",
        title="Subsidy service",
        description="Interest subsidy (贴息) plans and budgets, per-loan subsidy accounts, yearly settlement, payouts, registers and notices.",
        settings=settings,
        routers=[router],
        keys=keys,
        hooks=[close_clients],
        # Large lists: a batch's payment references, a page of loan events, a registry update.
        body_limits={"/v1/settlements": 32 * 2**20, "/v1/subsidy-events": 16 * 2**20, "/v1/subsidy-accounts/households": 8 * 2**20},
    )
    app.state.applications = applications
    return app


def main() -> None:
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
