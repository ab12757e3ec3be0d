"""Benchmark of the applications service (``make bench``).

Builds its own scratch database, then measures, in this process through the real ASGI app:
- the bulk import of 1,000,000 建档立卡 households × ``--scale`` (CSV, streamed, COPY-based):
  wall time, rows/s and peak RSS; and the re-import of the same file (nothing changes);
- application submission and repayment posting at 32 concurrent clients: requests/s, p50, p99.

The throughput figures are measured against the app in-process (``httpx.ASGITransport``), not
through the gateway: the gateway adds its own hop on top of these.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python services/applications/bench/run.py --scale 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from stdnum.cn import ric

from applications.main import create_app
from applications.settings import Settings
from kit.testing import TokenFactory, api_client, bind_app, create_engine_for_tests, migrated_database

COUNTY = "411224000000"
TOWNSHIPS = 11
VILLAGES = 261  # seed: one county has 11 townships and 261 villages
CONCURRENCY = 32
RESULTS = Path(__file__).resolve().parents[3] / "bench" / "results" / "applications.json"
HEADER = (
    "household_id,head_resident_id,head_name,village_code,household_type,main_cause,secondary_causes,members,status,"
    "applied_on,democratic_vote_on,village_notice_on,township_notice_on,county_announcement_on\n"
)


def village_codes() -> list[str]:
    return [f"411224{100 + t:03d}{201 + v:03d}" for t in range(TOWNSHIPS) for v in range(VILLAGES // TOWNSHIPS + (1 if t < VILLAGES % TOWNSHIPS else 0))]


def regions_csv() -> str:
    lines = ["code,name", f"{COUNTY},卢氏县"]
    lines += [f"411224{100 + t:03d}000,乡镇{t}" for t in range(TOWNSHIPS)]
    lines += [f"{v},村{v[-6:]}" for v in village_codes()]
    return "\n".join(lines) + "\n"


def household_line(i: int, villages: list[str]) -> str:
    birth = date(1975, 1, 1) + timedelta(days=i // 1000)
    body = f"411224{birth:%Y%m%d}{i % 1000:03d}"
    rid = body + ric.calc_check_digit(body + "0")
    members = (
        f'"[{{""name"": ""户主{i}"", ""relation"": ""head"", ""birth_date"": ""{birth.isoformat()}"", ""labour_capacity"": ""full""}},'
        f' {{""name"": ""配偶{i}"", ""relation"": ""spouse"", ""birth_date"": ""1970-02-02"", ""labour_capacity"": ""partial""}}]"'
    )
    return (
        f"B{i:07d},{rid},户主{i},{villages[i % len(villages)]},一般贫困户,缺资金,缺技术;因病,{members},poor,"
        "2025-09-01,2025-09-05,2025-09-06,2025-09-13,2025-09-20\n"
    )


def write_households_file(path: Path, n: int, villages: list[str]) -> None:
    """The registry file, written before the clock starts: the import is timed, not the synthesis."""
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for start in range(0, n, 10_000):
            out.write("".join(household_line(i, villages) for i in range(start, min(n, start + 10_000))))


async def file_body(path: Path, chunk_bytes: int = 1 << 20) -> AsyncIterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(chunk_bytes):
            yield chunk


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def concurrently(count: int, call: Callable[[int], Awaitable[httpx.Response]], ok: tuple[int, ...]) -> dict[str, float]:
    """``count`` calls from 32 concurrent clients: requests/s and latency percentiles."""
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    failures = 0

    async def worker() -> None:
        nonlocal failures
        while not queue.empty():
            i = queue.get_nowait()
            started = time.perf_counter()
            resp = await call(i)
            latencies.append(time.perf_counter() - started)
            if resp.status_code not in ok:
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": count,
        "failures": failures,
        "requests_per_second": round(count / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2),
    }


def fake_rating(request: httpx.Request) -> httpx.Response:
    household_id = request.url.path.rsplit("/", 1)[-1]
    return httpx.Response(
        200,
        json={
            "household_id": household_id,
            "status": "current",
            "grade": "AA",
            "credit_line": "50000.00",
            "vetoed": False,
            "veto_reasons": [],
            "blacklisted": False,
            "eligible_to_borrow": True,
        },
    )


def fake_lending(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"village_code": request.url.path.rsplit("/", 1)[-1], "may_lend": True, "reasons": []})


async def run(scale: float) -> dict[str, Any]:
    server = os.environ.get("DATABASE_URL")
    if not server:
        raise SystemExit("set DATABASE_URL to a PostgreSQL server (e.g. postgresql://postgres@127.0.0.1:5432/postgres)")
    n = max(1000, int(1_000_000 * scale))
    flows = max(64, int(2000 * scale))
    tokens = TokenFactory()
    admin = tokens.headers("admin", roles=["admin"], scopes=["registry:read", "registry:write", "applications:read", "applications:write", "internal", "admin"])
    results: dict[str, Any] = {"scale": scale, "households": n}
    async with migrated_database(server, "applications") as url:
        engine = create_engine_for_tests(url)
        app = create_app(
            Settings(environment="test", initial_business_date=date(2026, 3, 1)),
            keys=tokens.keyset(),
            credit_rating_transport=httpx.MockTransport(fake_rating),
            risk_pool_transport=httpx.MockTransport(fake_lending),
        )
        bind_app(app, engine)
        villages = village_codes()
        async with api_client(app) as client:
            client.timeout = httpx.Timeout(3600)
            resp = await client.post("/v1/regions/import", content=regions_csv(), headers={**admin, "content-type": "text/csv"})
            assert resp.status_code == 200 and resp.json()["invalid"] == 0, resp.text

            data = Path(tempfile.mkstemp(prefix="applications-bench-", suffix=".csv")[1])
            await asyncio.to_thread(write_households_file, data, n, villages)
            results["file_mib"] = round((await asyncio.to_thread(data.stat)).st_size / (1 << 20), 1)
            rss_before = peak_rss_mib()
            started = time.perf_counter()
            resp = await client.post("/v1/households/import", content=file_body(data), headers={**admin, "content-type": "text/csv"})
            elapsed = time.perf_counter() - started
            report = resp.json()
            assert resp.status_code == 200 and report["inserted"] == n, resp.text[:2000]
            results["import_seconds"] = round(elapsed, 2)
            results["import_rows_per_second"] = round(n / elapsed)
            results["peak_rss_mib"] = round(peak_rss_mib(), 1)
            results["peak_rss_before_import_mib"] = round(rss_before, 1)

            started = time.perf_counter()
            resp = await client.post("/v1/households/import", content=file_body(data), headers={**admin, "content-type": "text/csv"})
            await asyncio.to_thread(data.unlink)
            results["reimport_seconds"] = round(time.perf_counter() - started, 2)
            assert resp.json()["unchanged"] == n, resp.text[:2000]

            # throughput: submissions by village officers, then repayments by the bank
            officers = {
                v: tokens.headers(f"vo-{v}", roles=["village_officer"], region=v, scopes=["applications:read", "applications:write", "registry:read"])
                for v in villages
            }
            request = {"amount": "50000.00", "term_months": 36, "purpose": "breeding", "industry": "livestock"}

            async def submit(i: int) -> httpx.Response:
                return await client.post("/v1/applications", json={**request, "household_id": f"B{i:07d}"}, headers=officers[villages[i % len(villages)]])

            results["submission"] = await concurrently(flows, submit, (201,))
            loans = await _disburse_all(client, tokens, admin, flows)
            bank = tokens.headers("bank-RCC", kind="client", roles=["bank"], bank_id="RCC", scopes=["applications:read", "applications:write"])

            async def repay(i: int) -> httpx.Response:
                body = {"kind": "interest", "amount": "100.00", "value_date": "2026-03-01", "bank_reference": f"RCC-{i}"}
                return await client.post(f"/v1/loans/{loans[i % len(loans)]}/repayments", json=body, headers=bank)

            results["repayment"] = await concurrently(flows, repay, (201,))
        await engine.dispose()
    return results


async def _disburse_all(client: httpx.AsyncClient, tokens: TokenFactory, admin: dict[str, str], count: int) -> list[str]:
    """Walks every submitted application to a loan (admin steps, the bank's decision), untimed."""
    bank = tokens.headers("bank-RCC", kind="client", roles=["bank"], bank_id="RCC", scopes=["applications:read", "applications:write"])
    county = tokens.headers("co", roles=["county_officer"], region=COUNTY, scopes=["applications:read", "applications:write", "rating:read", "risk:read"])
    ids: list[str] = []
    cursor = None
    while True:
        page = (await client.get("/v1/applications", params={"limit": 1000, **({"cursor": cursor} if cursor else {})}, headers=admin)).json()
        ids += [a["application_id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    attest = {"village_secretary": "王", "resident_secretary": "李", "credit_officer": "赵"}
    loans: list[str] = []

    async def walk(i: int) -> httpx.Response:
        app_id = ids[i]
        await client.post(f"/v1/applications/{app_id}/attestation", json=attest, headers=admin)
        await client.post(f"/v1/applications/{app_id}/review", json={}, headers=admin)
        await client.post(f"/v1/applications/{app_id}/confirmation", json={}, headers=admin)
        await client.post(f"/v1/applications/{app_id}/recommendation", json={"bank_id": "RCC"}, headers=county)
        await client.post(f"/v1/applications/{app_id}/approval", json={"annual_rate": "0.0435"}, headers=bank)
        resp = await client.post(f"/v1/applications/{app_id}/disbursement", json={}, headers=bank)
        if resp.status_code == 201:
            loans.append(resp.json()["loan_id"])
        return resp

    await concurrently(len(ids), walk, (201,))
    return loans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 1,000,000 households (default 1.0)")
    args = parser.parse_args()
    results = asyncio.run(run(args.scale))
    print(f"households imported: {results['households']} ({results['file_mib']} MiB of CSV)")
    print(f"import seconds: {results['import_seconds']} (target ≤ 60 at scale 1.0)")
    print(f"import rows/s: {results['import_rows_per_second']}")
    print(f"peak RSS MiB: {results['peak_rss_mib']} (before import {results['peak_rss_before_import_mib']})")
    print(f"re-import (unchanged) seconds: {results['reimport_seconds']}")
    for name in ("submission", "repayment"):
        r = results[name]
        print(
            f"{name}: {r['requests']} requests at {CONCURRENCY} clients, {r['requests_per_second']} req/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
            f"failures {r['failures']}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written: {RESULTS}")


if __name__ == "__main__":
    main()
