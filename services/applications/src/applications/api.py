"""applications routes: parse, call the service, return."""

from __future__ import annotations

from fastapi import APIRouter

from applications import service
from applications.schemas import BusinessDatePage
from kit.auth import scoped
from kit.db import Session

router = APIRouter(prefix="/v1")


@router.get("/business-date", response_model=BusinessDatePage, summary="List business_dates")
async def list_business_dates(session: Session, principal: scoped("applications:read")) -> BusinessDatePage:
    rows = await service.list_business_dates(session=session)
    return BusinessDatePage(items=[r.model_dump(mode="json") for r in rows])
