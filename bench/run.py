"""`make bench`: every figure measured in one run on this machine, printed as a table and written
to bench/results/summary.json.

1. HTTP: application submission and repayment posting at 16 and 64 concurrent clients, through
   the gateway and directly to the applications service, beside a bare FastAPI endpoint on the same
   stack (the machine's ceiling); load comes from a separate process (bench/load.py); median of
   several runs.
2. Bulk: registry import of 1,000,000 households, batch scoring of 100,000, subsidy settlement of
   1,000,000 loan-years, 10,000 claims (each service's own bench/run.py), time and peak memory.
3. PostgreSQL's own ceiling (COPY and a set-based update of the same number of rows) so each bulk
   figure is also shown as a ratio to it.

`--scale` shrinks the bulk sizes (0.01 for a quick check); `--runs` sets the HTTP repetitions.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import median_of, run_in_subprocess

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PY = sys.executable
PACKAGES = {"gateway": "GATEWAY_", "applications": "APPLICATIONS_", "credit_rating": "CREDIT_RATING_", "risk_pool": "RISK_POOL_", "subsidy": "SUBSIDY_"}
COUNTY, TOWNSHIP, VILLAGE = "411224000000", "411224100000", "411224100201"
BULK = [  # (service, label, size at scale 1, its JSON's keys for seconds and peak memory in MB)
    ("applications", "registry import (households)", 1_000_000, "import_seconds", "peak_rss_mib"),
    ("credit-rating", "batch scoring (households)", 100_000, "batch_seconds", "peak_rss_megabytes"),
    ("subsidy", "subsidy settlement (loan-years)", 1_000_000, "settlement_seconds", "peak_rss_mib_after_settlement"),
    ("risk-pool", "claims split and posted", 10_000, "batch_seconds", "peak_rss_mb"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def resident_id(serial: int) -> str:
    body = f"411224{19700101 + (serial % 28)}{serial % 1000:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


@contextmanager
def platform(server: str) -> Iterator[dict[str, int]]:
    run_id = uuid.uuid4().hex[:6]
    ports = {pkg: free_port() for pkg in PACKAGES}
    env = dict(os.environ, DATABASE_URL=server, ENVIRONMENT="development", LOG_LEVEL="WARNING",
               GATEWAY_RATE_LIMIT_PER_SECOND="100000", GATEWAY_RATE_LIMIT_BURST="100000")
    for pkg, prefix in PACKAGES.items():
        env[f"{prefix}PORT"] = str(ports[pkg])
        env[f"{prefix}DATABASE_NAME"] = f"bench_{run_id}_{pkg}"
    log = RESULTS / "platform.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([PY, str(ROOT / "deploy" / "local" / "run.py")], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 120
        while "ready in" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"platform did not start; see {log}")
            time.sleep(0.5)
        yield ports
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        import asyncio

        from kit.db import drop_database

        for pkg in PACKAGES:
            asyncio.run(drop_database(server, f"bench_{run_id}_{pkg}"))


def token(gw: str, name: str, secret: str, grant: str = "client_credentials") -> dict[str, str]:
    data = {"grant_type": grant, **({"username": name, "password": secret} if grant == "password" else {"client_id": name, "client_secret": secret})}
    resp = httpx.post(f"{gw}/oauth/token", data=data, timeout=30)
    resp.raise_for_status()
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def must(resp: httpx.Response) -> Any:
    if resp.status_code >= 300:
        raise SystemExit(f"{resp.request.method} {resp.request.url} → {resp.status_code} {resp.text[:500]}")
    return resp.json()


def seed(gw: str, households: int, loans: int) -> dict[str, Any]:
    """Registry, ratings and a few disbursed loans, through the gateway."""
    admin = token(gw, "admin", "admin-dev-only", "password")
    village = token(gw, "village-secretary", "demo-password", "password")
    township = token(gw, "township-officer", "demo-password", "password")
    county = token(gw, "county-officer", "demo-password", "password")
    bank = token(gw, "bank-rcc", "bank-rcc-secret")
    with httpx.Client(base_url=gw, timeout=300) as c:
        must(c.post("/v1/regions/import", headers={**admin, "content-type": "text/csv"},
                    content=f"code,name\n{COUNTY},卢氏县\n{TOWNSHIP},东明镇\n{VILLAGE},东明村\n".encode()))
        rows = []
        for i in range(households):
            rid = resident_id(i)
            born = f"{rid[6:10]}-{rid[10:12]}-{rid[12:14]}"
            rows.append(json.dumps({"household_id": f"B-{i}", "head_resident_id": rid, "head_name": f"户主{i}", "village_code": VILLAGE,
                                    "household_type": "一般贫困户", "main_cause": "缺资金", "status": "poor",
                                    "members": [{"name": f"户主{i}", "relation": "head", "birth_date": born, "labour_capacity": "full"}]},
                                   ensure_ascii=False))
        must(c.post("/v1/households/import", headers={**admin, "content-type": "application/x-ndjson"}, content="\n".join(rows).encode()))
        card = must(c.get("/v1/scorecards/1", headers=village))["definition"]
        values = {}
        for ind in card["indicators"]:
            if ind["value_type"] == "yes_no":
                values[ind["code"]] = ind["kind"] in ("base", "bonus")
            elif ind["value_type"] == "choice":
                values[ind["code"]] = max(ind["options"], key=lambda o: o["points"] * (1 if ind["kind"] != "deduction" else -1))["value"]
            else:
                values[ind["code"]] = max(ind["bands"], key=lambda b: b["points"] * (1 if ind["kind"] != "deduction" else -1))["min"]
        items = [{"household_id": f"B-{i}", "village_code": VILLAGE, "values": values} for i in range(loans)]
        must(c.post("/v1/assessments/batch", headers=village, json=items))
        loan_ids = []
        for i in range(loans):
            app = must(c.post("/v1/applications", headers=village, json={"household_id": f"B-{i}", "amount": "50000.00", "term_months": 12,
                                                                         "purpose": "planting", "industry": "tea"}))
            aid = app["application_id"]
            must(c.post(f"/v1/applications/{aid}/attestation", headers=village,
                        json={"village_secretary": "张", "resident_secretary": "李", "credit_officer": "王"}))
            must(c.post(f"/v1/applications/{aid}/review", headers=township, json={}))
            must(c.post(f"/v1/applications/{aid}/confirmation", headers=county, json={}))
            must(c.post(f"/v1/applications/{aid}/recommendation", headers=county, json={"bank_id": "RCC"}))
            must(c.post(f"/v1/applications/{aid}/approval", headers=bank, json={"annual_rate": "0.0435"}))
            loan_ids.append(must(c.post(f"/v1/applications/{aid}/disbursement", headers={**bank, "Idempotency-Key": f"d-{aid}"}, json={}))["loan_id"])
        today = must(c.get("/v1/business-date", headers=bank))["business_date"]
    return {"village": village, "bank": bank, "loans": loan_ids, "today": today}


def http_figures(ports: dict[str, int], seeded: dict[str, Any], households_from: int, runs: int, per_run: int) -> dict[str, Any]:
    gw, direct = f"http://127.0.0.1:{ports['gateway']}", f"http://127.0.0.1:{ports['applications']}"
    bare_port = free_port()
    bare = subprocess.Popen([PY, str(ROOT / "bench" / "bare_app.py"), str(bare_port)])  # noqa: S603
    out: dict[str, Any] = {}
    next_household = households_from
    ref = 0
    try:
        time.sleep(2)
        for concurrency in (16, 64):
            out[f"bare@{concurrency}"] = median_of(runs, lambda c=concurrency: run_in_subprocess(
                [{"method": "GET", "url": f"http://127.0.0.1:{bare_port}/ping"}] * per_run, c))
            for where, base in (("gateway", gw), ("direct", direct)):

                def submissions(c: int = concurrency, base: str = base) -> dict[str, Any]:
                    nonlocal next_household
                    reqs = [{"method": "POST", "url": f"{base}/v1/applications", "headers": seeded["village"],
                             "json": {"household_id": f"B-{next_household + i}", "amount": "10000.00", "term_months": 12,
                                      "purpose": "planting", "industry": "tea"}} for i in range(per_run)]
                    next_household += per_run
                    return run_in_subprocess(reqs, c)

                def repayments(c: int = concurrency, base: str = base) -> dict[str, Any]:
                    nonlocal ref
                    loans = seeded["loans"]
                    reqs = []
                    for i in range(per_run):
                        ref += 1
                        reqs.append({"method": "POST", "url": f"{base}/v1/loans/{loans[i % len(loans)]}/repayments",
                                     "headers": {**seeded["bank"], "Idempotency-Key": f"r-{ref}"},
                                     "json": {"kind": "interest", "amount": "0.01", "value_date": seeded["today"], "bank_reference": f"BR-{ref}"}})
                    return run_in_subprocess(reqs, c)

                out[f"submit {where}@{concurrency}"] = median_of(runs, submissions)
                out[f"repay {where}@{concurrency}"] = median_of(runs, repayments)
    finally:
        bare.terminate()
        bare.wait()
    return out


def bulk_figures(scale: float, server: str) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    env = dict(os.environ, DATABASE_URL=server)
    for service, *_ in BULK:
        script = ROOT / "services" / service / "bench" / "run.py"
        started = time.perf_counter()
        subprocess.run([PY, str(script), "--scale", str(scale)], check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
        figures[service] = {"wall_seconds": round(time.perf_counter() - started, 1), **json.loads((RESULTS / f"{service}.json").read_text())}
    subprocess.run([PY, str(ROOT / "bench" / "pg_ceiling.py"), "--scale", str(scale)], check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
    figures["postgres"] = json.loads((RESULTS / "postgres.json").read_text())
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the bulk sizes (1.0 = as the issues state)")
    parser.add_argument("--runs", type=int, default=3, help="HTTP runs per figure (the median is reported)")
    parser.add_argument("--requests", type=int, default=600, help="requests per HTTP run")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    from kit.embedded_pg import server_url

    server, handle = server_url()
    try:
        with platform(server) as ports:
            gw = f"http://127.0.0.1:{ports['gateway']}"
            per_http = args.runs * args.requests * 2 * 2  # runs × requests × (gateway, direct) × (16, 64)
            seeded = seed(gw, households=per_http + 50, loans=8)
            http = http_figures(ports, seeded, households_from=50, runs=args.runs, per_run=args.requests)
        bulk = bulk_figures(args.scale, server)
    finally:
        if handle is not None:
            handle.cleanup()
    summary = {"scale": args.scale, "machine": {"cpus": os.cpu_count()}, "http": http, "bulk": bulk,
               "total_seconds": round(time.perf_counter() - started, 1)}
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    print_table(summary)


def print_table(summary: dict[str, Any]) -> None:
    http = summary["http"]
    print(f"\n== HTTP (median of runs; load from a separate process; {summary['machine']['cpus']} CPUs)")
    print(f"{'operation':<36}{'clients':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'vs direct':>11}{'vs bare':>9}")
    for concurrency in (16, 64):
        bare = http[f"bare@{concurrency}"]["requests_per_second"]
        print(f"{'bare FastAPI endpoint':<36}{concurrency:>8}{bare:>10}{http[f'bare@{concurrency}']['p50_ms']:>9}{http[f'bare@{concurrency}']['p99_ms']:>9}")
        for op in ("submit", "repay"):
            d = http[f"{op} direct@{concurrency}"]
            g = http[f"{op} gateway@{concurrency}"]
            name = "application submission" if op == "submit" else "repayment posting"
            print(f"{name + ' (direct)':<36}{concurrency:>8}{d['requests_per_second']:>10}{d['p50_ms']:>9}{d['p99_ms']:>9}{'':>11}"
                  f"{d['requests_per_second'] / bare:>9.2f}")
            print(f"{name + ' (gateway)':<36}{concurrency:>8}{g['requests_per_second']:>10}{g['p50_ms']:>9}{g['p99_ms']:>9}"
                  f"{g['requests_per_second'] / d['requests_per_second']:>11.2f}{g['requests_per_second'] / bare:>9.2f}")
    bulk = summary["bulk"]
    pg = bulk["postgres"]
    print(f"\n== Bulk (scale {summary['scale']}); PostgreSQL alone: COPY {pg['copy_rows_per_second']} rows/s, "
          f"set update {pg['set_update_rows_per_second']} rows/s")
    print(f"{'work':<32}{'rows':>10}{'seconds':>10}{'rows/s':>10}{'vs COPY':>9}{'peak MB':>9}")
    for service, label, base, time_key, peak_key in BULK:
        fig = bulk[service]
        rows = int(base * summary["scale"])
        seconds = float(fig[time_key])
        rate = rows / seconds if seconds else 0.0
        print(f"{label:<32}{rows:>10}{seconds:>10}{rate:>10.0f}{rate / pg['copy_rows_per_second']:>9.3f}{fig.get(peak_key, '')!s:>9}")
    print(f"\ntotal {summary['total_seconds']} s; JSON in bench/results/summary.json")


if __name__ == "__main__":
    main()
