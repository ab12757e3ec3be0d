"""credit-rating routes: parse, call the service, return."""

from __future__ import annotations

from fastapi import APIRouter

from credit_rating import service
from credit_rating.schemas import ScorecardPage
from kit.auth import scoped
from kit.db import Session

router = APIRouter(prefix="/v1")


@router.get("/scorecards", response_model=ScorecardPage, summary="List scorecards")
async def list_scorecards(session: Session, principal: scoped("rating:read")) -> ScorecardPage:
    rows = await service.list_scorecards(session=session)
    return ScorecardPage(items=[r.model_dump(mode="json") for r in rows])
