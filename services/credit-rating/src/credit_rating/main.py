"""The credit-rating process: ``create_app()`` and ``python -m credit_rating.main``."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from credit_rating import service
from credit_rating.api import NDJSON, router
from credit_rating.clients.applications import ApplicationsClient
from credit_rating.settings import Settings
from credit_rating.workers import LOAN_EVENTS, closing, registry_hook
from kit.app import create_service_app
from kit.auth import KeySet
from kit.consumer import consumer_hook
from kit.service_token import service_token_from


def create_app(settings: Settings | None = None, *, keys: KeySet | None = None, applications: ApplicationsClient | None = None) -> FastAPI:
    """``applications`` replaces the client built from settings (tests pass one over MockTransport)."""
    settings = settings or Settings()
    token = service_token_from(settings)
    # The process reads applications on its own behalf (service token); without a service account
    # configured the loan-event consumer and the registry reader stay off.
    if applications is None and token is not None:
        applications = ApplicationsClient(base_url=settings.applications_url, token=token, deadline_seconds=settings.call_deadline_seconds)

    def workers_on(app: FastAPI) -> bool:
        return settings.background_workers and applications is not None and app.state.sessionmaker is not None

    def applications_client(app: FastAPI) -> ApplicationsClient:
        assert applications is not None, "the workers run only with a service account (workers_on)"
        return applications

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
        hooks=[
            closing(applications),
            consumer_hook(
                name=LOAN_EVENTS,
                fetch_of=lambda app: applications_client(app).loan_events(),
                apply=service.apply_event_log_page,
                enabled=workers_on,
            ),
            registry_hook(
                fetch_of=lambda app: applications_client(app).households,
                rest_seconds=settings.roster_resync_seconds,
                limit=settings.roster_page_size,
                enabled=workers_on,
            ),
        ],
    )


def main() -> None:
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
