"""Business gauges of the risk pool, recomputed by a background refresher (never per scrape)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.background import background_hook
from risk_pool import service

log = logging.getLogger("risk_pool.metrics")

FUND_BALANCE = Gauge("risk_fund_balance_yuan", "Balance of each risk-compensation fund (风险补偿金), in yuan.", ["fund"])
LEVERAGE_USED = Gauge(
    "risk_fund_leverage_used_ratio", "Covered outstanding ÷ (leverage × balance) of each county fund (杠杆); 1 = no room for new cover.", ["fund"]
)
BREAKERS_TRIPPED = Gauge("breakers_tripped", "Villages or townships broken (熔断) now: lending stopped there.", ["level"])
for _level in ("village", "township"):
    BREAKERS_TRIPPED.labels(_level).set(0)


async def refresh(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    """Recompute every gauge from the database in one short read-only transaction."""
    async with sessionmaker() as session:
        figures = await service.business_metrics(session=session)
    for fund, balance in figures["balances"].items():
        FUND_BALANCE.labels(fund).set(float(balance))
    for fund, used in figures["leverage_used"].items():
        LEVERAGE_USED.labels(fund).set(float(used))
    for level, n in figures["broken"].items():
        BREAKERS_TRIPPED.labels(level).set(n)
    return figures


def refresher_hook(*, interval_seconds: float, enabled: Callable[[FastAPI], bool]) -> Callable[[FastAPI], Any]:
    """Lifespan hook: refresh the gauges every ``interval_seconds`` (off when not ``enabled``)."""

    async def step(app: FastAPI) -> bool:
        await refresh(app.state.sessionmaker)
        return False

    return background_hook(
        name="business metrics refresh", step=step, interval_seconds=interval_seconds,
        enabled=lambda app: enabled(app) and app.state.sessionmaker is not None,
    )
