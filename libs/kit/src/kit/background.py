"""Background work inside a service process (event consumers, outbox relays, webhook delivery,
gauge refreshers), all with one loop: run a step; again at once while it reports work done; wait
the interval when idle; back off (doubling, capped) after a failure, which is logged and never
stops the loop; cancelled cleanly at shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

log = logging.getLogger("kit.background")

Step = Callable[[FastAPI], Awaitable[bool]]


def background_hook(
    *,
    name: str,
    step: Step,
    interval_seconds: float,
    enabled: Callable[[FastAPI], bool] = lambda app: True,
    max_backoff_seconds: float = 30.0,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A lifespan hook (for ``create_service_app(hooks=…)``) running ``step`` for the app's life.
    ``step`` returns True when it did work (so it is called again at once), False when idle."""

    @asynccontextmanager
    async def hook(app: FastAPI) -> AsyncIterator[None]:
        if not enabled(app):
            yield
            return

        async def loop() -> None:
            wait = interval_seconds
            while True:
                try:
                    busy = await step(app)
                    wait = interval_seconds
                    if busy:
                        continue
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # one failure (a dependency down, a database blip) never ends the loop
                    log.warning("%s failed: %s; retrying in %.1fs", name, exc, wait)
                    await asyncio.sleep(wait)
                    wait = min(wait * 2, max_backoff_seconds)
                    continue
                await asyncio.sleep(wait)

        task = asyncio.create_task(loop(), name=name)
        try:
            yield
        finally:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    return hook
