"""Benchmark: settlement of 1,000,000 loan-years (结算) through the real app and PostgreSQL.

Builds its own scratch database, loads loan accounts and their loan-years set-based (INSERT …
SELECT over generate_series, no per-row Python), creates the county's 2026 plan, then settles each
of the 11 townships through ``POST /v1/settlements`` and times it. The plan's fund is set a little
short of what the loan-years earn, so the last batches take the pro-rata path. Peak memory is the
process's maximum resident set (getrusage) and the Python heap peak during settlement (tracemalloc);
neither should grow with the number of loans. Prints one line per figure and writes JSON to
bench/results/subsidy.json.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python services/subsidy/bench/run.py --scale 0.1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import time
import tracemalloc
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import text

from kit.testing import TokenFactory, api_client, bind_app, create_engine_for_tests, migrated_database
from subsidy.main import create_app
from subsidy.settings import Settings

LOAN_YEARS = 1_000_000
COUNTY = "411224000000"
TOWNSHIPS = [f"411224{101 + t:03d}000" for t in range(11)]
RESULTS = Path(__file__).resolve().parents[3] / "bench" / "results" / "subsidy.json"

# Loans disbursed through 2025 fall due in 2026: one loan-year each inside the 2026 plan period.
# Every 33rd is overdue, every 50th paid interest late twice, every 40th has not paid its interest,
# every 100th household was removed from the registry, every 500th is an enterprise 带贫 loan.
LOAD_ACCOUNTS = """
INSERT INTO loan_accounts (loan_id, borrower_type, household_id, enterprise_id, registered_poor, village_code, township_code,
    county_code, bank_id, principal, annual_rate, start_date, maturity_date, industry, driven_households, status, status_seq,
    outstanding_principal, overdue_principal, principal_repaid, closed_on, last_seq)
SELECT 'L-' || lpad(i::text, 8, '0'),
    CASE WHEN i % 500 = 0 THEN 'enterprise' ELSE 'household' END,
    CASE WHEN i % 500 = 0 THEN NULL ELSE 'H-' || i END,
    CASE WHEN i % 500 = 0 THEN '91411224MA' || lpad(i::text, 8, '0') END,
    true,
    '411224' || lpad((101 + i % 11)::text, 3, '0') || lpad((1 + (i / 11) % 24)::text, 3, '0'),
    '411224' || lpad((101 + i % 11)::text, 3, '0') || '000',
    '411224000000',
    (ARRAY['RCC', 'ABC', 'ADBC', 'PSBC'])[1 + i % 4],
    (10000 + (i::bigint * 7919) % 90001)::numeric(20, 2),
    CASE WHEN i % 7 = 0 THEN 0.0475 ELSE 0.0435 END,
    date '2025-01-02' + (i % 364),
    date '2026-01-02' + (i % 364),
    '畜牧',
    CASE WHEN i % 500 = 0 THEN ARRAY['H-D' || i || '-1', 'H-D' || i || '-2', 'H-D' || i || '-3']::varchar[] ELSE '{}'::varchar[] END,
    CASE WHEN i % 33 = 0 THEN 'overdue' ELSE 'closed' END,
    1,
    CASE WHEN i % 33 = 0 THEN (10000 + (i::bigint * 7919) % 90001) ELSE 0 END,
    CASE WHEN i % 33 = 0 THEN (10000 + (i::bigint * 7919) % 90001) ELSE 0 END,
    CASE WHEN i % 33 = 0 THEN 0 ELSE (10000 + (i::bigint * 7919) % 90001) END,
    NULL,
    1
FROM generate_series(CAST(:lo AS integer), CAST(:hi AS integer)) AS i
"""

LOAD_YEARS = """
INSERT INTO loan_years (loan_id, loan_year, start_date, due_date, opening_principal, interest_due, principal_due, interest_paid,
    principal_paid, late_interest_payments, principal_paid_late, last_interest_paid_on, last_principal_paid_on)
SELECT a.loan_id, 1, a.start_date, a.maturity_date, a.principal, round(a.principal * a.annual_rate, 2), a.principal,
    CASE WHEN right(a.loan_id, 8)::int % 40 = 0 THEN 0 ELSE round(a.principal * a.annual_rate, 2) END,
    CASE WHEN a.status = 'overdue' THEN 0 ELSE a.principal END,
    CASE WHEN right(a.loan_id, 8)::int % 50 = 0 THEN 2 ELSE 0 END,
    false, a.maturity_date, a.maturity_date
FROM loan_accounts a
WHERE a.loan_id BETWEEN 'L-' || lpad(CAST(CAST(:lo AS integer) AS text), 8, '0') AND 'L-' || lpad(CAST(CAST(:hi AS integer) AS text), 8, '0')
"""

LOAD_HOUSEHOLDS = """
INSERT INTO households (household_id, registered)
SELECT 'H-' || i, i % 100 <> 0 FROM generate_series(CAST(:lo AS integer), CAST(:hi AS integer)) AS i WHERE i % 500 <> 0
"""


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


async def run(server_url: str, scale: float) -> dict:
    total = max(11, int(LOAN_YEARS * scale))
    tokens = TokenFactory()
    county = tokens.headers("bench-county", roles=["county_officer"], scopes=["subsidy:read", "subsidy:write"], region=COUNTY)
    township = tokens.headers("bench-township", roles=["admin"], scopes=["subsidy:read", "subsidy:write", "internal"])
    business_date = httpx.MockTransport(lambda request: httpx.Response(200, json={"business_date": "2027-03-01"}))
    figures: dict[str, float | int | str] = {"loan_years": total, "townships": len(TOWNSHIPS), "scale": scale}

    async with migrated_database(server_url, "subsidy") as url:
        engine = create_engine_for_tests(url)
        started = time.perf_counter()
        step = 200_000
        for lo in range(1, total + 1, step):
            hi = min(total, lo + step - 1)
            async with engine.begin() as conn:
                await conn.execute(text(LOAD_ACCOUNTS), {"lo": lo, "hi": hi})
                await conn.execute(text(LOAD_YEARS), {"lo": lo, "hi": hi})
                await conn.execute(text(LOAD_HOUSEHOLDS), {"lo": lo, "hi": hi})
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE loan_accounts"))
            await conn.execute(text("VACUUM ANALYZE loan_years"))
            await conn.execute(text("VACUUM ANALYZE households"))
            earned = (await conn.execute(text("SELECT sum(least(opening_principal, 50000) * 0.0435) FROM loan_years"))).scalar_one()
        figures["load_seconds"] = round(time.perf_counter() - started, 2)

        app = create_app(Settings(environment="test", background_workers=False), keys=tokens.keyset(), applications_transport=business_date)
        bind_app(app, engine)
        async with api_client(app) as client:
            client.timeout = 3600
            fund = (Decimal(earned) * Decimal("0.85")).quantize(Decimal("0.01"))  # a little short: the last batches go pro rata
            resp = await client.post("/v1/subsidy-plans", headers=county, json={
                "county_code": COUNTY, "year": 2026, "subsidy_rate": {"kind": "fixed", "rate": "0.0435"}, "day_basis": 365,
                "principal_cap": "50000.00", "period_start": "2026-01-01", "period_end": "2026-12-31", "total_fund": str(fund),
            })
            assert resp.status_code == 201, resp.text
            plan_id = resp.json()["id"]

            rss_before = peak_rss_mib()
            tracemalloc.start()
            started = time.perf_counter()
            batch_seconds = []
            lines = granted = 0
            pro_rata = 0
            for code in TOWNSHIPS:
                t0 = time.perf_counter()
                resp = await client.post("/v1/settlements", headers=township, json={"plan_id": plan_id, "township_code": code})
                assert resp.status_code == 201, resp.text
                batch_seconds.append(time.perf_counter() - t0)
                batch = resp.json()
                lines += batch["eligible_count"] + batch["excluded_count"]
                granted += int(Decimal(batch["granted_total"]) * 100)
                pro_rata += batch["fund_rule"] == "pro_rata"
            elapsed = time.perf_counter() - started
            _, heap_peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()

        async with engine.connect() as conn:
            committed = (await conn.execute(text("SELECT fund_committed FROM subsidy_plans WHERE id = :p"), {"p": plan_id})).scalar_one()
        await engine.dispose()

    assert lines == total, f"settled {lines} loan-years, expected {total}"
    figures.update({
        "settlement_seconds": round(elapsed, 2),
        "loan_years_per_second": round(total / elapsed),
        "slowest_batch_seconds": round(max(batch_seconds), 2),
        "batches_pro_rata": pro_rata,
        "granted_total": f"{Decimal(granted) / 100:.2f}",
        "fund_committed": f"{committed:.2f}",
        "python_heap_peak_mib_during_settlement": round(heap_peak / 2**20, 2),
        "peak_rss_mib_before_settlement": round(rss_before, 1),
        "peak_rss_mib_after_settlement": round(peak_rss_mib(), 1),
        "measured_on": date.today().isoformat(),
    })
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 1,000,000 loan-years (default 1.0)")
    args = parser.parse_args()
    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        from kit.embedded_pg import server_url as embedded

        server_url, _handle = embedded()
    figures = asyncio.run(run(server_url, args.scale))
    for name, value in figures.items():
        print(f"{name}: {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
