from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from risk_pool.main import create_app
from risk_pool.settings import Settings
from kit.testing import TokenFactory, api_client, bind_app, create_engine_for_tests, migrated_database, rolled_back


@pytest.fixture(scope="session")
async def db_url(pg_server: str) -> AsyncIterator[str]:
    async with migrated_database(pg_server, "risk_pool") as url:
        yield url


@pytest.fixture(scope="session")
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine_for_tests(db_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def app(engine: AsyncEngine, tokens: TokenFactory) -> AsyncIterator[FastAPI]:
    """The app on the test's own transaction, rolled back afterwards."""
    async with rolled_back(engine) as conn:
        app = create_app(Settings(environment="test"), keys=tokens.keyset())
        bind_app(app, conn)
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app) as c:
        yield c
