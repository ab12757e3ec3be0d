"""Every query of the subsidy service."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from subsidy.models import SubsidyPlan


async def list_subsidy_plans(session: AsyncSession, *, limit: int = 100) -> list[SubsidyPlan]:
    return list((await session.execute(select(SubsidyPlan).order_by(SubsidyPlan.id).limit(limit))).scalars())
