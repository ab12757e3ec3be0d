"""Business gauges of the applications process (the lending dashboards and alert rules read them).

They are refreshed in the background every ``interval_seconds`` from a few aggregate queries, never
computed per scrape; the refresher is off when ``background_workers`` is (unit tests call
``service.refresh_business_metrics`` themselves)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from prometheus_client import Gauge

from kit.background import background_hook

log = logging.getLogger("applications.metrics")

APPLICATIONS_BY_STATE = Gauge("applications_by_state", "Loan applications per approval state.", ["state"])
LOANS_OUTSTANDING = Gauge("loans_outstanding_yuan", "Outstanding principal of open loans, per county (yuan).", ["county"])
NON_PERFORMING_RATIO = Gauge(
    "loans_non_performing_ratio", "不良率: outstanding principal of defaulted or 90+ days past due loans ÷ outstanding principal, per county.", ["county"]
)


Refresh = Callable[..., Awaitable[None]]  # (*, session, settings) -> None


def refresher_hook(refresh: Refresh, interval_seconds: float = 15.0) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A lifespan hook running ``refresh`` in its own transaction every ``interval_seconds``."""

    async def step(app: FastAPI) -> bool:
        async with app.state.sessionmaker() as session, session.begin():
            await refresh(session=session, settings=app.state.settings)
        return False

    return background_hook(
        name="business metrics refresh", step=step, interval_seconds=interval_seconds,
        enabled=lambda app: bool(app.state.settings.background_workers and app.state.sessionmaker is not None),
    )
