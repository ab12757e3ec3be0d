"""credit-rating use cases: repo → domain → repo; flushes, never commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from credit_rating import repo
from credit_rating.models import Scorecard


async def list_scorecards(*, session: AsyncSession) -> list[Scorecard]:
    return await repo.list_scorecards(session)
