"""risk-pool use cases: repo → domain → repo; flushes, never commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from risk_pool import repo
from risk_pool.models import Fund


async def list_funds(*, session: AsyncSession) -> list[Fund]:
    return await repo.list_funds(session)
