"""Background work of the credit-rating process, run for the app's lifetime as kit hooks:

- ``applications-loan-events``: the applications loan event log, consumed with ``kit.consumer``
  (defaulted → the scorecard's deduction or blacklist, diverted → blacklist), cursor and effects
  in one transaction;
- ``applications-households``: the 建档立卡 registry read page by page into the coverage roster,
  then read again from the start ``roster_resync_seconds`` after each full pass, so status changes
  (removed, moved village) reach the coverage figure without an operator.

Like ``kit.consumer``, the registry reader owns its transactions (service functions only flush):
a page's roster rows and the moved cursor commit together, so a crash re-reads at most one page.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from credit_rating import repo, service
from credit_rating.clients.applications import HouseholdPage
from kit.background import background_hook

log = logging.getLogger("credit_rating.workers")

SERVICE = "credit-rating"
LOAN_EVENTS = "applications-loan-events"
REGISTRY = "applications-households"
PASS_DONE = "pass-done"  # the registry cursor after a full pass; the next pass starts roster_resync_seconds later

# Two metrics only: every name a process emits is part of the platform's metric contract
# (tests/deploy/deploy_support.py); a stale last pass is what to alert on (failures, outage, stuck page).
ROSTER_LAST_PASS = Gauge("rating_roster_last_pass_timestamp_seconds", "When the last full pass over the registry finished.", ["service"])
RATINGS_CURRENT = Gauge(
    "ratings_current_households", "Households with a current rating (assessed, not expired), per county; refreshed after each registry pass.",
    ["county"],
)

FetchHouseholds = Callable[[str | None, int], Awaitable[HouseholdPage]]


@dataclass(frozen=True)
class RegistryStep:
    read: int
    changed: int
    more: bool  # another page can be read right away


async def sync_registry_once(
    *, sessionmaker: async_sessionmaker[AsyncSession], fetch: FetchHouseholds, rest_seconds: float, limit: int, name: str = REGISTRY
) -> RegistryStep:
    """Read the registry page after the stored cursor into the roster, in one transaction with the
    moved cursor. After the last page the cursor says ``pass-done`` and nothing is read until
    ``rest_seconds`` have passed (database clock); then a new pass starts from the first page."""
    async with sessionmaker() as session:
        state = await repo.registry_sync_state(session, name, rest_seconds=float(rest_seconds), done=PASS_DONE)
        await session.commit()
    if state.cursor == PASS_DONE:
        await _note_pass(sessionmaker, state.moved_at)  # also on replicas that did not make the pass themselves
    if state.resting:
        return RegistryStep(0, 0, more=False)
    new_pass = state.cursor in ("", PASS_DONE)
    page = await fetch(None if new_pass else state.cursor, limit)
    async with sessionmaker() as session, session.begin():
        if await repo.lock_registry_cursor(session, name) != state.cursor:
            return RegistryStep(0, 0, more=True)  # another replica took this page; go on from where it left off
        applied = await service.apply_registry_page(session=session, items=page.items)
        moved_at = await repo.move_registry_cursor(
            session, name, cursor=page.next_cursor or PASS_DONE, read=len(page.items), new_pass=new_pass
        )
    if page.next_cursor is None:
        await _note_pass(sessionmaker, moved_at)
    return RegistryStep(applied.read, applied.changed, more=page.next_cursor is not None)


_pass_seen = {"at": 0.0}  # the last full pass this process has reported in its gauges


async def _note_pass(sessionmaker: async_sessionmaker[AsyncSession], finished_at: float) -> None:
    """Gauges that follow the registry passes: when the last one ended and the current ratings per
    county, refreshed once per pass on every replica."""
    if _pass_seen["at"] == finished_at:
        return
    _pass_seen["at"] = finished_at
    ROSTER_LAST_PASS.labels(SERVICE).set(finished_at)
    await refresh_rating_gauges(sessionmaker=sessionmaker)


async def refresh_rating_gauges(*, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session:
        counts = await service.current_ratings_by_county(session=session)
    RATINGS_CURRENT.clear()  # a county whose ratings all expired drops out rather than keeping its last figure
    for county, households in counts.items():
        RATINGS_CURRENT.labels(county).set(households)


def registry_hook(
    *, fetch_of: Callable[[FastAPI], FetchHouseholds], rest_seconds: float, limit: int, enabled: Callable[[FastAPI], bool],
    poll_seconds: float = 30.0,
) -> Callable[[FastAPI], Any]:
    """Lifespan hook running the registry reader: pages through without pausing, then checks every
    ``poll_seconds`` whether the next pass is due; failures (applications down) back off and retry."""

    async def step(app: FastAPI) -> bool:
        result = await sync_registry_once(sessionmaker=app.state.sessionmaker, fetch=fetch_of(app), rest_seconds=rest_seconds, limit=limit)
        return bool(result.more)

    return background_hook(name=f"registry-{REGISTRY}", step=step, interval_seconds=poll_seconds, enabled=enabled, max_backoff_seconds=60.0)


def closing(resource: Any) -> Callable[[FastAPI], Any]:
    """Lifespan hook closing an outbound client at shutdown (entered first, so it closes last)."""

    @asynccontextmanager
    async def hook(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if resource is not None:
                await resource.aclose()

    return hook
