"""Bring each process's database to the head revision, or wait until someone has.

    python migrate.py [package ...]                 upgrade (all five when none is named)
    python migrate.py --wait SECONDS package ...    exit 0 once each database is at head,
                                                    1 if it is not within SECONDS

The upgrade runs once before every rollout (compose service ``migrate``, Kubernetes Job
``fupin-migrate``). ``--wait`` is every Deployment's init container: a pod of a new version
does not start until the Job has brought its database to that version's head, so old pods
keep serving meanwhile.

Each package's database is the one its process would use: ``DATABASE_URL`` names the server,
``<PREFIX>DATABASE_NAME`` (default ``fupin_<package>``) the database, read through the
package's own settings class so the two can never disagree. A missing database is created
(needs CREATEDB, or the database made beforehand); Alembic's version table makes a re-run a
no-op. When ``python -m kit.migrate`` exists this file goes and the callers change one line.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import time

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

from kit.db import database_url, ensure_database
from kit.migrations import alembic_config, upgrade

PACKAGES = ("gateway", "applications", "credit_rating", "risk_pool", "subsidy")
log = logging.getLogger("migrate")


def _target(package: str) -> tuple[str, str, str]:
    settings = importlib.import_module(f"{package}.settings").Settings()
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is not set")
    return settings.database_url, settings.database_name, database_url(settings.database_url, settings.database_name)


def migrate(package: str) -> None:
    server, name, url = _target(package)
    asyncio.run(ensure_database(server, name))
    upgrade(package, url)
    log.info("%s: database %s is at head", package, name)


async def _current(url: str) -> set[str]:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_heads()))
    finally:
        await engine.dispose()


def at_head(package: str) -> bool:
    _, name, url = _target(package)
    heads = set(ScriptDirectory.from_config(alembic_config(package, url)).get_heads())
    try:
        current = asyncio.run(_current(url))
    except Exception as exc:  # database missing or unreachable: not at head yet, keep waiting
        log.info("%s: database %s not reachable yet (%s)", package, name, type(exc).__name__)
        return False
    if current != heads:
        log.info("%s: database %s at %s, waiting for %s", package, name, sorted(current) or "nothing", sorted(heads))
    return current == heads


def wait(packages: list[str], seconds: float) -> int:
    deadline = time.monotonic() + seconds
    pending = list(packages)
    while pending:
        pending = [p for p in pending if not at_head(p)]
        if pending and time.monotonic() >= deadline:
            log.error("not at head after %.0f s: %s (has the migration Job run?)", seconds, ", ".join(pending))
            return 1
        if pending:
            time.sleep(3)
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wait", type=float, metavar="SECONDS", help="only wait until the databases are at head")
    parser.add_argument("packages", nargs="*", help=f"any of {', '.join(PACKAGES)} (dashes allowed); default all")
    args = parser.parse_args(argv)
    packages = [p.replace("-", "_") for p in args.packages] or list(PACKAGES)
    unknown = sorted(set(packages) - set(PACKAGES))
    if unknown:
        parser.error(f"unknown package(s): {', '.join(unknown)}")
    if args.wait is not None:
        return wait(packages, args.wait)
    for package in packages:
        migrate(package)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
