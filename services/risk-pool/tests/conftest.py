import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.testing import TokenFactory, api_client, bind_app, create_engine_for_tests, migrated_database, rolled_back
from risk_pool.main import create_app
from risk_pool.settings import Settings

sys.path.insert(0, str(Path(__file__).parent))

from risk_pool_support import Actors, World

TABLES = ("recovery_parts, recoveries, obligations, claim_parts, claims, journal_lines, journal_entries, fee_segments, fee_bills, "
          "exposures, applied_events, village_exposures, breakers, breaker_history, breaker_policies, scheme_shares, "
          "sharing_schemes, funds, outbox_messages, consumer_cursors")


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
        app = create_app(Settings(environment="test", background_workers=False), keys=tokens.keyset())
        bind_app(app, conn)
        app.state.test_connection = conn
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app) as c:
        yield c


@pytest.fixture
async def committed_app(engine: AsyncEngine, tokens: TokenFactory) -> AsyncIterator[FastAPI]:
    """The app on real commits (races, commit-time constraints); its tables are emptied after."""
    app = create_app(Settings(environment="test", background_workers=False), keys=tokens.keyset())
    bind_app(app, engine)
    try:
        yield app
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="session")
def actors(tokens: TokenFactory) -> Actors:
    return Actors(tokens)


@pytest.fixture
def world(client: httpx.AsyncClient, actors: Actors) -> World:
    return World(client, actors)
