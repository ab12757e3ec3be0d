"""Async engine and the one-transaction-per-request session dependency."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from kit.metrics import POOL_WAIT


def database_url(server_url: str, database: str, *, driver: str = "asyncpg") -> str:
    """The URL of ``database`` on the server ``server_url`` (any database name in it is replaced)."""
    url = make_url(server_url).set(drivername=f"postgresql+{driver}" if driver else "postgresql", database=database)
    return url.render_as_string(hide_password=False)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_timeout=10)


def create_sessionmaker(bind: object) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(bind=bind, expire_on_commit=False)  # type: ignore[arg-type]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: commit after the handler returns, roll back on any error.

    Used with ``scope="function"`` so the commit happens before the response is sent: a commit
    that fails (a deferred constraint, a lost connection) becomes the response, not a silent loss.
    """
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with maker() as session:
        started = time.perf_counter()
        await session.connection()  # check out now, so the wait for a pooled connection is measured
        POOL_WAIT.labels(request.app.state.service_name).observe(time.perf_counter() - started)
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def ensure_database(server_url: str, name: str) -> None:
    """Create database ``name`` on the server if it does not exist."""
    engine = create_async_engine(database_url(server_url, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()


async def drop_database(server_url: str, name: str) -> None:
    engine = create_async_engine(database_url(server_url, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


async def ping(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    try:
        async with sessionmaker() as session:
            await session.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
