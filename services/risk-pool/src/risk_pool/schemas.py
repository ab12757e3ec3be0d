"""Risk-pool service request and response models."""

from __future__ import annotations

from pydantic import BaseModel


class FundPage(BaseModel):
    items: list[dict[str, object]]
