"""The gateway process: ``create_app()`` and ``python -m gateway.main``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from gateway import service
from gateway.api import router
from gateway.domain import merge_openapi
from gateway.proxy import Upstreams, route_refresher
from gateway.settings import Settings
from gateway.webhooks import delivery_hook
from kit.app import create_service_app
from kit.auth import KeySet
from kit.errors import DependencyUnavailable

FORM = "application/x-www-form-urlencoded"
PASS_THROUGH = ("text/csv", "application/x-ndjson", "multipart/form-data")
OWN_ROUTES = ("/v1/admin/", "/v1/webhooks/", "/v1/overview")


@asynccontextmanager
async def bootstrap(app: FastAPI) -> AsyncIterator[None]:
    """Admin account, signing key and (development) demo accounts exist before the first request."""
    async with app.state.sessionmaker() as session, session.begin():
        await service.ensure_signing_key(session=session, settings=app.state.settings)
        await service.ensure_accounts(session=session, settings=app.state.settings)
    yield


async def _ready(app: FastAPI) -> DependencyUnavailable | None:
    upstreams: Upstreams = app.state.upstreams
    if not upstreams.complete:
        missing = sorted(set(upstreams.urls) - set(upstreams.docs))
        return DependencyUnavailable(f"routes not loaded yet from: {', '.join(missing)}")
    return None


def create_app(settings: Settings | None = None, *, upstream_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    settings = settings or Settings()
    app: FastAPI | None = None

    async def load_keys() -> dict[str, Any]:
        assert app is not None
        async with app.state.sessionmaker() as session:
            return await service.jwks(session=session, settings=settings)

    app = create_service_app(
        name="gateway",
        title="扶贫小额信贷 platform API",
        description="Poverty-alleviation microcredit: one gateway in front of the applications, credit-rating, risk-pool and subsidy services.",
        settings=settings,
        routers=[router],
        keys=KeySet("db://signing_keys", loader=load_keys, min_refresh_seconds=1.0),
        content_types=(FORM, *PASS_THROUGH),
        # the gateway's own routes take what they parse; proxied routes pass bodies on and the
        # owning service enforces its own types and limits (bulk imports are large)
        content_types_for={"/oauth/token": (FORM,), **{prefix: ("application/json",) for prefix in OWN_ROUTES}},
        body_limits={**{prefix: settings.max_body_bytes for prefix in OWN_ROUTES}, "/v1/": 1024 * 1024 * 1024},
        hooks=[bootstrap, route_refresher(lambda a: a.state.upstreams), delivery_hook()],
        check_ready=_ready,
    )
    app.state.upstreams = Upstreams(settings.service_urls(), deadline_seconds=settings.proxy_deadline_seconds, transport=upstream_transport)
    app.state.buckets = {}
    own_openapi = app.openapi

    def merged_openapi() -> dict[str, Any]:
        app.openapi_schema = None
        return merge_openapi(own_openapi(), app.state.upstreams.docs)

    app.openapi = merged_openapi  # type: ignore[method-assign]
    return app


def main() -> None:
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
