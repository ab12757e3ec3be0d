"""Credit-rating service request and response models."""

from __future__ import annotations

from pydantic import BaseModel


class ScorecardPage(BaseModel):
    items: list[dict[str, object]]
