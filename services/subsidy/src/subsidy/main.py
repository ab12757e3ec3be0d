"""The subsidy process: ``create_app()`` and ``python -m subsidy.main``."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from subsidy.api import router
from subsidy.settings import Settings
from kit.app import create_service_app
from kit.auth import KeySet


def create_app(settings: Settings | None = None, *, keys: KeySet | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        name="subsidy",
        title="Subsidy service",
        description="Interest subsidy (贴息) plans and budgets, per-loan subsidy accounts, yearly settlement, payouts, registers and notices.",
        settings=settings,
        routers=[router],
        keys=keys,
    )


def main() -> None:
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
