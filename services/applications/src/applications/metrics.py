"""Business gauges of the applications process (the lending dashboards and alert rules read them).

They are refreshed in the background every ``interval_seconds`` from a few aggregate queries, never
computed per scrape; the refresher is off when ``background_workers`` is (unit tests call
``service.refresh_business_metrics`` themselves)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from prometheus_client import Gauge

log = logging.getLogger("applications.metrics")

APPLICATIONS_BY_STATE = Gauge("applications_by_state", "Loan applications per approval state.", ["state"])
LOANS_OUTSTANDING = Gauge("loans_outstanding_yuan", "Outstanding principal of open loans, per county (yuan).", ["county"])
NON_PERFORMING_RATIO = Gauge(
    "loans_non_performing_ratio", "不良率: outstanding principal of defaulted or 90+ days past due loans ÷ outstanding principal, per county.", ["county"]
)


Refresh = Callable[..., Awaitable[None]]  # (*, session, settings) -> None


def refresher_hook(refresh: Refresh, interval_seconds: float = 15.0) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A lifespan hook running ``refresh`` in its own transaction every ``interval_seconds``."""

    @asynccontextmanager
    async def hook(app: FastAPI) -> AsyncIterator[None]:
        if not app.state.settings.background_workers or app.state.sessionmaker is None:
            yield
            return

        async def loop() -> None:
            while True:
                try:
                    async with app.state.sessionmaker() as session, session.begin():
                        await refresh(session=session, settings=app.state.settings)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the gauges go stale, the process stays up
                    log.warning("business metrics refresh failed: %s", exc)
                await asyncio.sleep(interval_seconds)

        task = asyncio.create_task(loop(), name="business-metrics")
        try:
            yield
        finally:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    return hook
