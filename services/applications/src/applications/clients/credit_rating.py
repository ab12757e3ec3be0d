"""credit-rating: ``GET /v1/ratings/{household_id}`` → a household's grade, line, veto and blacklist."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from urllib.parse import quote

import httpx

from applications.domain import RatingFacts
from kit.errors import DependencyUnavailable, Forbidden
from kit.http import ServiceClient


class CreditRatingClient:
    def __init__(self, *, base_url: str, deadline_seconds: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._client = ServiceClient(
            caller="applications", dependency="credit-rating", base_url=base_url, deadline_seconds=deadline_seconds, transport=transport
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def rating(self, household_id: str, *, token: str) -> RatingFacts:
        resp = await self._client.request("GET", f"/v1/ratings/{quote(household_id, safe='')}", token=token)
        if resp.status_code == 404:
            return RatingFacts(status="none", grade=None, credit_line=None)
        if resp.status_code in (401, 403):
            raise Forbidden(f"credit-rating refused the caller's token ({resp.status_code})")
        if resp.status_code != 200:
            raise DependencyUnavailable(f"credit-rating answered {resp.status_code}", dependency="credit-rating")
        try:
            body = resp.json()
            line = body.get("credit_line")
            return RatingFacts(
                status=str(body.get("status", "none")),
                grade=body.get("grade"),
                credit_line=Decimal(str(line)) if line is not None else None,
                vetoed=bool(body.get("vetoed", False)),
                veto_reasons=tuple(str(r) for r in body.get("veto_reasons") or ()),
                blacklisted=bool(body.get("blacklisted", False)),
            )
        except (ValueError, InvalidOperation, AttributeError) as exc:
            raise DependencyUnavailable("credit-rating answered an unreadable rating", dependency="credit-rating") from exc
