"""Applications service request and response models."""

from __future__ import annotations

from pydantic import BaseModel


class BusinessDatePage(BaseModel):
    items: list[dict[str, object]]
