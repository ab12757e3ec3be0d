"""The applications process: ``create_app()`` and ``python -m applications.main``."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from applications.api import router
from applications.settings import Settings
from kit.app import create_service_app
from kit.auth import KeySet


def create_app(settings: Settings | None = None, *, keys: KeySet | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        name="applications",
        title="Applications service",
        description="建档立卡 registry, lending policy, loan applications and their approval chain, loans, repayments, the business date and the loan event log.",
        settings=settings,
        routers=[router],
        keys=keys,
    )


def main() -> None:
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
