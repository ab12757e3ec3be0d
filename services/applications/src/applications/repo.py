"""Every query of the applications service."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from applications.models import BusinessDate


async def list_business_dates(session: AsyncSession, *, limit: int = 100) -> list[BusinessDate]:
    return list((await session.execute(select(BusinessDate).order_by(BusinessDate.id).limit(limit))).scalars())
