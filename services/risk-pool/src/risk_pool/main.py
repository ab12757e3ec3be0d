"""The risk-pool process: ``create_app()`` and ``python -m risk_pool.main``."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from kit.app import create_service_app
from kit.auth import KeySet
from risk_pool.api import router
from risk_pool.settings import Settings

BULK_BODY_BYTES = 32 * 1024 * 1024


def create_app(settings: Settings | None = None, *, keys: KeySet | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        name="risk-pool",
        title="Risk-pool service",
        description="Risk-compensation funds (风险补偿金) and their ledger, loss-sharing schemes, claims, recoveries and circuit breakers (熔断).",
        settings=settings,
        routers=[router],
        keys=keys,
        # loan-event pages and claim batches are large by nature (10,000 events ≈ 8 MB)
        body_limits={"/v1/risk-events": BULK_BODY_BYTES, "/v1/claims/batches": BULK_BODY_BYTES},
    )


def main() -> None:
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
