"""Business gauges of the subsidy service, refreshed in the background from two small aggregates
over the plans table (a handful of rows per county and year), never computed per scrape."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.background import background_hook
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

    async def step(app: FastAPI) -> bool:
        await refresh_business_metrics(app.state.sessionmaker)
        return False

    return background_hook(
        name="business metrics refresh", step=step, interval_seconds=interval_seconds,
        enabled=lambda app: enabled(app) and app.state.sessionmaker is not None,
    )
