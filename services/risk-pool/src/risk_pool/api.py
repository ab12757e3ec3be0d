"""risk-pool routes: parse, call the service, return."""

from __future__ import annotations

from fastapi import APIRouter

from risk_pool import service
from risk_pool.schemas import FundPage
from kit.auth import scoped
from kit.db import Session

router = APIRouter(prefix="/v1")


@router.get("/funds", response_model=FundPage, summary="List funds")
async def list_funds(session: Session, principal: scoped("risk:read")) -> FundPage:
    rows = await service.list_funds(session=session)
    return FundPage(items=[r.model_dump(mode="json") for r in rows])
