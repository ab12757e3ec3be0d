"""Subsidy service request and response models."""

from __future__ import annotations

from pydantic import BaseModel


class SubsidyPlanPage(BaseModel):
    items: list[dict[str, object]]
