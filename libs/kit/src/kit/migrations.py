"""Alembic, driven from code: each service keeps its scripts in ``<package>/migrations`` and its
``env.py`` calls :func:`run_env`."""

from __future__ import annotations

import asyncio
from importlib import resources

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.ext.asyncio import create_async_engine


def alembic_config(package: str, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files(package) / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(package: str, url: str, revision: str = "head") -> None:
    """Apply ``package``'s migrations to the database at ``url`` (an asyncpg URL)."""
    command.upgrade(alembic_config(package, url), revision)


def run_env(target_metadata: MetaData) -> None:
    """Body of every service's ``env.py``: run migrations online over an async engine."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is not set"

    def do_run(connection: object) -> None:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)  # type: ignore[arg-type]
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run())


def revision(package: str, url: str, message: str) -> None:
    """Autogenerate a new revision for ``package`` by comparing its models with the database at
    ``url`` (which should be at head). Review the script before committing it."""
    command.revision(alembic_config(package, url), message=message, autogenerate=True)


def settings_of(package: str) -> object:
    """The process settings of ``package`` (loaded by name: kit never imports a service)."""
    import importlib

    return importlib.import_module(f"{package}.settings").Settings()


async def prepare(package: str, server_url: str) -> str:
    """Create ``package``'s database on the server if missing and migrate it to head."""
    from kit.db import database_url, ensure_database

    name = settings_of(package).database_name  # type: ignore[attr-defined]
    await ensure_database(server_url, name)
    url = database_url(server_url, name)
    await asyncio.to_thread(upgrade, package, url)
    return url


def main(argv: list[str] | None = None) -> None:
    """``python -m kit.migrations gateway applications …``: create and migrate each database on
    the server in ``DATABASE_URL`` (the deployment's migration job)."""
    import os
    import sys

    packages = (argv if argv is not None else sys.argv[1:]) or ["gateway", "applications", "credit_rating", "risk_pool", "subsidy"]
    server = os.environ.get("DATABASE_URL")
    if not server:
        raise SystemExit("DATABASE_URL is not set")
    for package in packages:
        asyncio.run(prepare(package, server))
        print(f"migrated {package}")


if __name__ == "__main__":
    main()
