"""risk-pool: ``GET /v1/lending-status/{village_code}`` → whether banks may lend there (熔断)."""

from __future__ import annotations

import httpx

from applications.domain import LendingStatusFacts
from kit.errors import DependencyUnavailable, Forbidden
from kit.http import ServiceClient


class RiskPoolClient:
    def __init__(self, *, base_url: str, deadline_seconds: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._client = ServiceClient(caller="applications", dependency="risk-pool", base_url=base_url, deadline_seconds=deadline_seconds, transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def lending_status(self, village_code: str, *, token: str) -> LendingStatusFacts:
        resp = await self._client.request("GET", f"/v1/lending-status/{village_code}", token=token)
        if resp.status_code == 404:
            return LendingStatusFacts(may_lend=True)  # a village risk-pool has never seen has no breaker
        if resp.status_code in (401, 403):
            raise Forbidden(f"risk-pool refused the caller's token ({resp.status_code})")
        if resp.status_code != 200:
            raise DependencyUnavailable(f"risk-pool answered {resp.status_code}", dependency="risk-pool")
        try:
            body = resp.json()
            return LendingStatusFacts(may_lend=bool(body["may_lend"]), reasons=tuple(str(r) for r in body.get("reasons") or ()))
        except (ValueError, KeyError, TypeError) as exc:
            raise DependencyUnavailable("risk-pool answered an unreadable lending status", dependency="risk-pool") from exc
