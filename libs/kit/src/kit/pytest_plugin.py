"""Pytest fixtures every package's tests share: the PostgreSQL server and a token factory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kit.embedded_pg import server_url
from kit.testing import TokenFactory


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """``DATABASE_URL`` when set (CI), else the embedded server under .data/pg."""
    url, handle = server_url()
    try:
        yield url
    finally:
        if handle is not None:
            handle.cleanup()


@pytest.fixture(scope="session")
def tokens() -> TokenFactory:
    return TokenFactory()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Apps under test log to the captured stdout; detach before pytest closes it (atexit hooks log too)."""
    import logging

    logging.getLogger().handlers.clear()
