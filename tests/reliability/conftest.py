"""Reliability suites break things (fuzz with an admin token, kill a service, stop PostgreSQL), so
each module starts platforms of its own (platform_support.running_platform, the runner of `make
run`, other ports and databases) instead of the shared one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from platform_support import Platform, running_platform

OwnPlatform = Platform  # the name the reliability modules use


class Platforms:
    """Starts platforms of a module's own; whatever is still running at the module's end is stopped."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.running: dict[int, ExitStack] = {}

    def __call__(self, server: str, env_extra: dict[str, str] | None = None) -> Platform:
        stack = ExitStack()
        platform = stack.enter_context(running_platform(server, self.tmp_path_factory.mktemp("proof-platform"), **(env_extra or {})))
        self.running[id(platform)] = stack
        return platform

    def stop(self, platform: Platform) -> None:
        stack = self.running.pop(id(platform), None)
        if stack is not None:
            stack.close()


@pytest.fixture(scope="module")
def own_platform_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platforms]:
    platforms = Platforms(tmp_path_factory)
    yield platforms
    for stack in list(platforms.running.values()):
        stack.close()
