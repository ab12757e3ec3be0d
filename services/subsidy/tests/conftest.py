import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.testing import TokenFactory, api_client, bind_app, create_engine_for_tests, migrated_database, rolled_back
from subsidy.main import create_app
from subsidy.settings import Settings

sys.path.insert(0, str(Path(__file__).parent))  # tests import their helpers from support.py

from support import FakeApplications, World


@pytest.fixture(scope="session")
async def db_url(pg_server: str) -> AsyncIterator[str]:
    async with migrated_database(pg_server, "subsidy") as url:
        yield url


@pytest.fixture(scope="session")
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine_for_tests(db_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def applications() -> FakeApplications:
    return FakeApplications()


@pytest.fixture
async def app(engine: AsyncEngine, tokens: TokenFactory, applications: FakeApplications) -> AsyncIterator[FastAPI]:
    """The app on the test's own transaction, rolled back afterwards."""
    async with rolled_back(engine) as conn:
        settings = Settings(environment="test", background_workers=False, settlement_chunk_loans=3)
        app = create_app(settings, keys=tokens.keyset(), applications_transport=applications.transport())
        bind_app(app, conn)
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app) as c:
        yield c


@pytest.fixture
def world(client: httpx.AsyncClient, tokens: TokenFactory, applications: FakeApplications) -> World:
    return World(client, tokens, applications)
