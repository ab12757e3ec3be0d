"""Business gauges of the subsidy service, refreshed in the background from two small aggregates
over the plans table (a handful of rows per county and year), never computed per scrape."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from subsidy import repo

log = logging.getLogger("subsidy.metrics")

# Names and labels are fixed: the dashboards and alert rules in deploy/ use exactly these.
PAID = Gauge("subsidy_paid_yuan", "Interest subsidy (贴息) paid out, yuan, per county.", ["county"])
FUND_REMAINING = Gauge("subsidy_fund_remaining_yuan", "Subsidy fund not yet reserved or paid, yuan, per plan (plan id).", ["plan"])


async def refresh_business_metrics(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session:
        paid = await repo.paid_by_county(session)
        remaining = await repo.fund_remaining_by_plan(session)
    for county, amount in paid:
        PAID.labels(county).set(float(amount))  # a gauge holds floats; the yuan figures stay exact in the API
    for plan_id, amount in remaining:
        FUND_REMAINING.labels(str(plan_id)).set(float(amount))


def metrics_hook(*, interval_seconds: float, enabled: Callable[[FastAPI], bool]) -> Callable[[FastAPI], Any]:
    """Lifespan hook refreshing the gauges every ``interval_seconds``; off when not ``enabled``."""

    @asynccontextmanager
    async def hook(app: FastAPI) -> AsyncIterator[None]:
        if not enabled(app) or app.state.sessionmaker is None:
            yield
            return

        async def loop() -> None:
            while True:
                try:
                    await refresh_business_metrics(app.state.sessionmaker)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a failed refresh keeps the last values; the next one retries
                    log.warning("business metrics refresh failed: %s", exc)
                await asyncio.sleep(interval_seconds)

        task = asyncio.create_task(loop(), name="subsidy-metrics")
        try:
            yield
        finally:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    return hook
