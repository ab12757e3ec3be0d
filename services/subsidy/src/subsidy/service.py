"""subsidy use cases: repo → domain → repo; flushes, never commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from subsidy import repo
from subsidy.models import SubsidyPlan


async def list_subsidy_plans(*, session: AsyncSession) -> list[SubsidyPlan]:
    return await repo.list_subsidy_plans(session)
