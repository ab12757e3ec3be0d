"""The credit-rating process: ``create_app()`` and ``python -m credit_rating.main``."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from credit_rating.api import NDJSON, router
from credit_rating.settings import Settings
from kit.app import create_service_app
from kit.auth import KeySet


def create_app(settings: Settings | None = None, *, keys: KeySet | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        name="credit-rating",
        title="Credit-rating service",
        description="三好三强 / 三有三无 scorecards, 四个一 assessments, grades, credit lines, certificates (信用证) and the blacklist.",
        settings=settings,
        routers=[router],
        keys=keys,
        content_types=[NDJSON],
        # a 10,000-household campaign with 144 indicators each is ~25 MB of JSON
        body_limits={"/v1/assessments/batch": 64 * 1024 * 1024, "/v1/rating-households": 32 * 1024 * 1024, "/v1/rating-events": 16 * 1024 * 1024},
    )


def main() -> None:
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
