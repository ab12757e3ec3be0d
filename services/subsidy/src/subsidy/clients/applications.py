"""The applications service as this service needs it: the business date (营业日期)."""

from __future__ import annotations

from datetime import date

import httpx

from kit.errors import DependencyUnavailable, ServiceError
from kit.http import ServiceClient


class ApplicationsClient:
    """Typed client for the applications service; the caller's token is forwarded."""

    def __init__(self, *, base_url: str, deadline_seconds: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = ServiceClient(
            caller="subsidy", dependency="applications", base_url=base_url, deadline_seconds=deadline_seconds, transport=transport
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def business_date(self, *, token: str) -> date:
        resp = await self._http.request("GET", "/v1/business-date", token=token)
        if resp.status_code in (401, 403):
            raise ServiceError(f"applications refused the business-date lookup ({resp.status_code})", status=resp.status_code)
        if resp.status_code != 200:
            raise DependencyUnavailable(f"applications answered {resp.status_code} for the business date", dependency="applications")
        try:
            return date.fromisoformat(resp.json()["business_date"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DependencyUnavailable("applications sent an unreadable business date", dependency="applications") from exc
