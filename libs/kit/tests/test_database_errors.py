"""Database failures become problems: a value the database cannot take is the client's 422; a server
shutting down, starting up or gone is a 503; never a 500."""

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from kit.app import create_service_app
from kit.db import Session
from kit.errors import _database_unavailable
from kit.settings import BaseServiceSettings
from kit.testing import api_client

router = APIRouter()


@router.get("/v1/things/{thing_id}")
async def thing(thing_id: int, session: Session) -> dict[str, int]:
    return {"id": int((await session.execute(text("SELECT CAST(:v AS int4)"), {"v": thing_id})).scalar_one())}


@pytest.fixture
async def client(pg_server: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = BaseServiceSettings(environment="test", database_url=pg_server, database_name="postgres")
    app = create_service_app(name="kit-db", title="t", description="d", settings=settings, routers=[router])
    async with api_client(app) as c:
        yield c
    await app.state.engine.dispose()


async def test_a_value_out_of_range_for_the_column_is_a_422(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/things/7")).json() == {"id": 7}
    resp = await client.get(f"/v1/things/{2**40}")
    assert resp.status_code == 422 and resp.headers["content-type"] == "application/problem+json"


def test_a_server_shutting_down_or_starting_up_is_unavailable_not_a_bug() -> None:
    for cause in (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
                  asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
                  BrokenPipeError()):
        wrapped = DBAPIError("SELECT 1", {}, Exception("driver error"))
        wrapped.__cause__ = cause
        assert _database_unavailable(wrapped)
    assert not _database_unavailable(DBAPIError("SELECT 1", {}, Exception("syntax error")))
