"""subsidy routes: parse, call the service, return."""

from __future__ import annotations

from fastapi import APIRouter

from subsidy import service
from subsidy.schemas import SubsidyPlanPage
from kit.auth import scoped
from kit.db import Session

router = APIRouter(prefix="/v1")


@router.get("/subsidy-plans", response_model=SubsidyPlanPage, summary="List subsidy_plans")
async def list_subsidy_plans(session: Session, principal: scoped("subsidy:read")) -> SubsidyPlanPage:
    rows = await service.list_subsidy_plans(session=session)
    return SubsidyPlanPage(items=[r.model_dump(mode="json") for r in rows])
