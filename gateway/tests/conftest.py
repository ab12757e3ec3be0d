from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.main import create_app
from gateway.settings import Settings
from kit.testing import api_client, bind_app, create_engine_for_tests, migrated_database, rolled_back


@pytest.fixture(scope="session")
async def db_url(pg_server: str) -> AsyncIterator[str]:
    async with migrated_database(pg_server, "gateway") as url:
        yield url


@pytest.fixture(scope="session")
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine_for_tests(db_url)
    yield engine
    await engine.dispose()


def make_app(**overrides: object) -> FastAPI:
    settings = Settings(environment="test", admin_password="test-admin-password", key_encryption_secret="test-secret", **overrides)  # type: ignore[arg-type]
    return create_app(settings)


@pytest.fixture
async def app(engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    """The gateway on the test's own rolled-back transaction, bootstrapped (admin, signing key)."""
    async with rolled_back(engine) as conn:
        app = make_app()
        bind_app(app, conn)
        from gateway.main import bootstrap

        async with bootstrap(app):
            yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app) as c:
        yield c


async def password_token(client: httpx.AsyncClient, username: str, password: str) -> str:
    resp = await client.post("/oauth/token", data={"grant_type": "password", "username": username, "password": password})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


@pytest.fixture
async def admin_headers(client: httpx.AsyncClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {await password_token(client, 'admin', 'test-admin-password')}"}
