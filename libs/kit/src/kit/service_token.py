"""A service's own token (client_credentials at the gateway), for calls made on its own behalf:
pulling another service's event log, relaying webhook events. Cached until shortly before expiry."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from kit.errors import DependencyUnavailable


def service_token_from(settings: Any, transport: httpx.AsyncBaseTransport | None = None) -> ServiceToken | None:
    """The process's own token provider, or None when it has no service account configured."""
    if not (settings.service_client_id and settings.service_client_secret):
        return None
    return ServiceToken(
        token_url=f"{settings.gateway_url}/oauth/token",
        client_id=settings.service_client_id,
        client_secret=settings.service_client_secret,
        transport=transport,
    )


class ServiceToken:
    def __init__(self, *, token_url: str, client_id: str, client_secret: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self._client = httpx.AsyncClient(transport=transport, timeout=5.0)
        self._token = ""
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        if time.monotonic() < self._expires - 60:
            return self._token
        async with self._lock:
            if time.monotonic() >= self._expires - 60:
                try:
                    resp = await self._client.post(
                        self.token_url, data={"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret}
                    )
                except httpx.HTTPError as exc:
                    raise DependencyUnavailable(f"cannot reach the gateway for a service token ({type(exc).__name__})") from exc
                if resp.status_code != 200:
                    raise DependencyUnavailable(f"the gateway refused this service's credentials ({resp.status_code})")
                body = resp.json()
                self._token, self._expires = body["access_token"], time.monotonic() + float(body["expires_in"])
        return self._token

    async def aclose(self) -> None:
        await self._client.aclose()
