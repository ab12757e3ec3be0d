"""One loop for all background work: busy steps run again at once, failures are survived."""

import asyncio

from fastapi import FastAPI

from kit.background import background_hook


async def test_the_loop_survives_a_failure_and_runs_again_while_busy() -> None:
    calls: list[str] = []
    done = asyncio.Event()

    async def step(app: FastAPI) -> bool:
        calls.append("step")
        if len(calls) == 1:
            raise RuntimeError("the dependency is down")
        if len(calls) >= 4:
            done.set()
            return False
        return True  # busy: called again without waiting

    async with background_hook(name="t", step=step, interval_seconds=0.01)(FastAPI()):
        await asyncio.wait_for(done.wait(), 5)
    assert len(calls) >= 4


async def test_a_disabled_hook_runs_nothing() -> None:
    async def step(app: FastAPI) -> bool:
        raise AssertionError("must not run")

    async with background_hook(name="t", step=step, interval_seconds=0.01, enabled=lambda app: False)(FastAPI()):
        await asyncio.sleep(0.05)
