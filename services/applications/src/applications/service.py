"""applications use cases: repo → domain → repo; flushes, never commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from applications import repo
from applications.models import BusinessDate


async def list_business_dates(*, session: AsyncSession) -> list[BusinessDate]:
    return await repo.list_business_dates(session)
