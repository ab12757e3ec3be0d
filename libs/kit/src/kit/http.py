"""Outbound calls to other services: a total deadline, retries only for idempotent methods, and a
circuit breaker per dependency. A dependency that is down or slow becomes a 503 problem quickly."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from kit.errors import DependencyUnavailable
from kit.logs import request_id_var
from kit.metrics import BREAKER_OPEN, OUTBOUND_DURATION
from kit.tracing import outbound_headers

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; after ``reset_seconds`` lets one call try."""

    def __init__(self, *, threshold: int = 5, reset_seconds: float = 10.0) -> None:
        self.threshold = threshold
        self.reset_seconds = reset_seconds
        self.failures = 0
        self.opened_at: float | None = None

    def allow(self) -> bool:
        if self.opened_at is None:
            return True
        return time.monotonic() - self.opened_at >= self.reset_seconds  # half-open: one try

    def success(self) -> None:
        self.failures, self.opened_at = 0, None

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = time.monotonic()

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None


class ServiceClient:
    """Calls one dependency. Build it once per process; ``transport`` lets tests plug in
    ``httpx.MockTransport``."""

    def __init__(
        self,
        *,
        caller: str,
        dependency: str,
        base_url: str,
        deadline_seconds: float = 5.0,
        retries: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.caller = caller
        self.dependency = dependency
        self.deadline = deadline_seconds
        self.retries = retries
        self.breaker = breaker or CircuitBreaker()
        self._client = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=deadline_seconds)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(self, method: str, url: str, *, token: str | None = None, **kwargs: Any) -> httpx.Response:
        """Send within the deadline. Raises :class:`DependencyUnavailable` when the dependency is
        down, slow, answering 5xx, or short-circuited; other responses are returned as they are."""
        method = method.upper()
        headers = dict(kwargs.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        rid = request_id_var.get()
        if rid:
            headers.setdefault("X-Request-ID", rid)
        headers.update(outbound_headers())
        if not self.breaker.allow():
            BREAKER_OPEN.labels(self.caller, self.dependency).set(1)
            raise DependencyUnavailable(f"{self.dependency} is unavailable (circuit open); retry later", dependency=self.dependency)
        attempts = 1 + (self.retries if method in IDEMPOTENT else 0)
        started = time.monotonic()
        last_error = "no attempt made"
        try:
            async with asyncio.timeout(self.deadline):
                for attempt in range(attempts):
                    try:
                        resp = await self._client.request(method, url, headers=headers, **kwargs)
                    except httpx.HTTPError as exc:
                        last_error = f"{type(exc).__name__}"
                    else:
                        if resp.status_code < 500:
                            self._record(started, "ok")
                            return resp
                        last_error = f"status {resp.status_code}"
                    if attempt + 1 < attempts:
                        await asyncio.sleep(min(0.05 * 2**attempt, 0.5))
        except TimeoutError:
            last_error = f"no answer within {self.deadline:g}s"
        self._record(started, "error")
        raise DependencyUnavailable(f"{self.dependency} is unavailable ({last_error}); retry later", dependency=self.dependency)

    def _record(self, started: float, outcome: str) -> None:
        OUTBOUND_DURATION.labels(self.caller, self.dependency, outcome).observe(time.monotonic() - started)
        if outcome == "ok":
            self.breaker.success()
        else:
            self.breaker.failure()
        BREAKER_OPEN.labels(self.caller, self.dependency).set(1 if self.breaker.is_open else 0)
