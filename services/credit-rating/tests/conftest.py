import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).parent))

from credit_rating_support import Roles

from credit_rating.main import create_app
from credit_rating.settings import Settings
from kit.testing import TokenFactory, api_client, bind_app, create_engine_for_tests, migrated_database, rolled_back


@pytest.fixture(scope="session")
async def db_url(pg_server: str) -> AsyncIterator[str]:
    async with migrated_database(pg_server, "credit_rating") as url:
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
        app = create_app(Settings(environment="test", background_workers=False), keys=tokens.keyset())
        bind_app(app, conn)
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app) as c:
        yield c


@pytest.fixture(scope="session")
def who(tokens: TokenFactory) -> Roles:
    return Roles(tokens)
