"""Cross-service tests: the real processes (e2e/, reliability/, security/) and the deployment files
(deploy/). The ``platform`` fixture starts the whole platform with the same runner as `make run`, on
databases of its own that are dropped afterwards (platform_support.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # platform_support, importable by every suite here

from platform_support import Platform, running_platform


@pytest.fixture(scope="session")
def platform(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One platform shared by every cross-service test of the session."""
    with running_platform(pg_server, tmp_path_factory.mktemp("platform")) as p:
        yield p


@pytest.fixture
def start_platform(pg_server: str, tmp_path: Path) -> Callable[..., AbstractContextManager[Platform]]:
    """For a test that needs a platform of its own (to stop it, kill a part of it, …):
    ``with start_platform() as p: …``."""
    return lambda **extra_env: running_platform(pg_server, tmp_path, **extra_env)
