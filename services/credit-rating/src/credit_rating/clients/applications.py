"""The applications service as credit-rating reads it, on its own behalf (service token): the loan
event log and the 建档立卡 registry's household listing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from kit.consumer import Fetch, http_fetch
from kit.errors import DependencyUnavailable
from kit.http import ServiceClient
from kit.service_token import ServiceToken

LOAN_EVENTS_PATH = "/v1/loan-events"
HOUSEHOLDS_PATH = "/v1/households"


@dataclass(frozen=True)
class HouseholdPage:
    items: list[dict[str, Any]]
    next_cursor: str | None  # None: the listing ends here


class ApplicationsClient:
    """Built once per process; ``transport`` lets tests plug in ``httpx.MockTransport``."""

    def __init__(
        self, *, base_url: str, token: ServiceToken, deadline_seconds: float = 5.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.token = token
        self.http = ServiceClient(
            caller="credit-rating", dependency="applications", base_url=base_url, deadline_seconds=deadline_seconds, transport=transport
        )

    def loan_events(self) -> Fetch:
        """The loan event log, paged by the producer's opaque cursor (kit.consumer reads it)."""
        return http_fetch(client=self.http, path=LOAN_EVENTS_PATH, token=self.token)

    async def households(self, cursor: str | None, limit: int) -> HouseholdPage:
        """One page of ``GET /v1/households?limit=&cursor=`` (keyset-paged by household id; the
        cursor is opaque). Any answer but 200 makes this pass wait and retry."""
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        resp = await self.http.request("GET", HOUSEHOLDS_PATH, params=params, token=await self.token.get())
        if resp.status_code != 200:
            raise DependencyUnavailable(f"applications answered {resp.status_code} for its household listing: {resp.text[:200]}")
        body = resp.json()
        return HouseholdPage(items=list(body["items"]), next_cursor=body.get("next_cursor") or None)

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.token.aclose()
