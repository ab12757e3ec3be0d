"""Wait until each named process's database is at the head revision of this image.

    python wait_for_migrations.py SECONDS package [package ...]

Exit 0 once every database is at head, 1 if one is not within SECONDS. It is every
Kubernetes Deployment's init container: a pod of a new version starts only once the
migration Job (``python -m kit.migrations``) has brought its database to that version's
head, so old pods keep serving meanwhile. It never changes a database.

The database is the one the process itself would use: ``DATABASE_URL`` names the server,
the package's settings (``<PREFIX>DATABASE_NAME``, default ``fupin_<package>``) the database.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

from kit.db import database_url
from kit.migrations import alembic_config, settings_of

PACKAGES = ("gateway", "applications", "credit_rating", "risk_pool", "subsidy")
log = logging.getLogger("wait_for_migrations")


async def _current(url: str) -> set[str]:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_heads()))
    finally:
        await engine.dispose()


def at_head(package: str) -> bool:
    settings = settings_of(package)
    server, name = settings.database_url, settings.database_name  # type: ignore[attr-defined]
    if not server:
        raise SystemExit("DATABASE_URL is not set")
    url = database_url(server, name)
    heads = set(ScriptDirectory.from_config(alembic_config(package, url)).get_heads())
    try:
        current = asyncio.run(_current(url))
    except Exception as exc:  # database missing or unreachable: not migrated yet, keep waiting
        log.info("%s: database %s not reachable yet (%s)", package, name, type(exc).__name__)
        return False
    if current != heads:
        log.info("%s: database %s at %s, waiting for %s", package, name, sorted(current) or "nothing", sorted(heads))
    return current == heads


def wait(packages: list[str], seconds: float, *, poll_seconds: float = 3.0) -> int:
    deadline = time.monotonic() + seconds
    pending = list(packages)
    while True:
        pending = [p for p in pending if not at_head(p)]
        if not pending:
            log.info("databases at head: %s", ", ".join(packages))
            return 0
        if time.monotonic() >= deadline:
            log.error("not at head after %.0f s: %s (has the migration Job run?)", seconds, ", ".join(pending))
            return 1
        time.sleep(poll_seconds)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        seconds = float(argv[0])
    except ValueError:
        print(f"SECONDS must be a number, not {argv[0]!r}", file=sys.stderr)
        return 2
    packages = [p.replace("-", "_") for p in argv[1:]]
    unknown = sorted(set(packages) - set(PACKAGES))
    if unknown:
        print(f"unknown package(s): {', '.join(unknown)}; known: {', '.join(PACKAGES)}", file=sys.stderr)
        return 2
    return wait(packages, seconds)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
