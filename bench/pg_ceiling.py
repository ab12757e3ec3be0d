"""PostgreSQL's own ceiling on this machine: COPY of rows shaped like the bulk work, and a set-based
INSERT … SELECT, so each bulk figure can be shown as a ratio to what the database alone does."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from decimal import Decimal
from pathlib import Path

import asyncpg

from kit.db import database_url, drop_database, ensure_database
from kit.embedded_pg import server_url

RESULTS = Path(__file__).resolve().parent / "results"


async def run(rows: int) -> dict[str, float]:
    server, handle = server_url()
    name = f"bench_pg_{uuid.uuid4().hex[:6]}"
    await ensure_database(server, name)
    try:
        conn = await asyncpg.connect(database_url(server, name, driver=""))
        await conn.execute(
            "CREATE UNLOGGED TABLE h (household_id text primary key, head_id text, village_code char(12), kind text, cause text, status text)"
        )
        await conn.execute("CREATE TABLE m (loan_id text, loan_year int, principal numeric(20,2), rate numeric(9,6), amount numeric(20,2))")
        records = [(f"HH-{i:09d}", "41122419900101123X", "411224100201", "一般贫困户", "因病", "poor") for i in range(rows)]
        started = time.perf_counter()
        await conn.copy_records_to_table("h", records=records)
        copy_s = time.perf_counter() - started
        loans = [(f"L-{i:09d}", 1, Decimal("50000.00"), Decimal("0.043500"), None) for i in range(rows)]
        await conn.copy_records_to_table("m", records=loans)
        started = time.perf_counter()
        await conn.execute("UPDATE m SET amount = round(least(principal, 50000) * rate * 365 / 365, 2)")
        update_s = time.perf_counter() - started
        await conn.close()
    finally:
        await drop_database(server, name)
        if handle is not None:
            handle.cleanup()
    return {"rows": rows, "copy_seconds": round(copy_s, 3), "copy_rows_per_second": round(rows / copy_s),
            "set_update_seconds": round(update_s, 3), "set_update_rows_per_second": round(rows / update_s)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 1,000,000 rows")
    args = parser.parse_args()
    result = asyncio.run(run(max(1000, int(1_000_000 * args.scale))))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "postgres.json").write_text(json.dumps(result, indent=2))
    for key, value in result.items():
        print(f"postgres {key}: {value}")


if __name__ == "__main__":
    main()
