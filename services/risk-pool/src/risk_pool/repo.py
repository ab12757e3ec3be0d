"""Every query of the risk-pool service."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from risk_pool.models import Fund


async def list_funds(session: AsyncSession, *, limit: int = 100) -> list[Fund]:
    return list((await session.execute(select(Fund).order_by(Fund.id).limit(limit))).scalars())
