"""Every query of the credit-rating service."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from credit_rating.models import Scorecard


async def list_scorecards(session: AsyncSession, *, limit: int = 100) -> list[Scorecard]:
    return list((await session.execute(select(Scorecard).order_by(Scorecard.id).limit(limit))).scalars())
