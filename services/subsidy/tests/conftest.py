from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.testing import TokenFactory, api_client, bind_app, create_engine_for_tests, migrated_database, rolled_back
from subsidy.main import create_app
from subsidy.settings import Settings


@dataclass
class FakeApplications:
    """The applications service as far as this service calls it: the business date."""

    business_date: date = date(2027, 3, 1)
    status: int = 200
    calls: int = 0
    last_token: str | None = None

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            assert request.url.path == "/v1/business-date"
            self.calls += 1
            self.last_token = request.headers.get("authorization")
            if self.status != 200:
                return httpx.Response(self.status, json={"detail": "down"})
            return httpx.Response(200, json={"business_date": self.business_date.isoformat()})

        return httpx.MockTransport(handle)


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
        app = create_app(Settings(environment="test", settlement_chunk_loans=3), keys=tokens.keyset(), applications_transport=applications.transport())
        bind_app(app, conn)
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app) as c:
        yield c
