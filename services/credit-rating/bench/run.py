"""Benchmark: households scored and stored through the batch path (POST /v1/assessments/batch).

Builds its own scratch database, loads the registered-household roster set-based, then sends the
households in campaigns of 10,000 (NDJSON) through the real app and PostgreSQL. Prints one line per
figure and writes JSON to bench/results/credit-rating.json.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python services/credit-rating/bench/run.py --scale 0.1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import time
from importlib import resources
from pathlib import Path

import orjson

from credit_rating.main import create_app
from credit_rating.settings import Settings
from kit.testing import TokenFactory, api_client, bind_app, create_engine_for_tests, migrated_database

HOUSEHOLDS = 100_000
CAMPAIGN = 10_000
COUNTY = "411224"
RESULTS = Path(__file__).resolve().parents[3] / "bench" / "results" / "credit-rating.json"


def village_of(i: int) -> str:
    """261 villages in 11 townships, as in the seed county."""
    v = i % 261
    return f"{COUNTY}{(v // 24) + 101:03d}{(v % 24) + 1:03d}"


def random_values(rng: random.Random, indicators: list[dict]) -> dict:
    values: dict[str, object] = {}
    for ind in indicators:
        if not ind["required"] and rng.random() < 0.7:
            continue  # most optional bonus/deduction indicators do not apply
        if ind["kind"] == "veto":
            values[ind["code"]] = rng.random() < 0.002
        elif ind["value_type"] == "yes_no":
            values[ind["code"]] = rng.random() < (0.9 if ind["kind"] == "base" else 0.2)
        elif ind["value_type"] == "choice":
            values[ind["code"]] = rng.choice(ind["options"])["value"]
        else:
            values[ind["code"]] = rng.randint(0, 100_000)
    return values


async def run(server_url: str, scale: float, concurrency: int) -> dict:
    total = max(1, int(HOUSEHOLDS * scale))
    definition = json.loads((resources.files("credit_rating") / "data" / "default_scorecard.json").read_text(encoding="utf-8"))
    indicators = definition["indicators"]
    rng = random.Random(20261126)
    tokens = TokenFactory()
    admin = tokens.headers("bench", roles=["admin"], scopes=["rating:read", "rating:write", "internal"])
    figures: dict[str, float | int | str] = {
        "households": total, "indicators": len(indicators), "campaign_size": CAMPAIGN, "concurrent_campaigns": concurrency,
    }
    async with migrated_database(server_url, "credit_rating") as url:
        engine = create_engine_for_tests(url)
        app = create_app(Settings(environment="test"), keys=tokens.keyset())
        bind_app(app, engine)
        async with api_client(app) as client:
            client.timeout = 600
            roster = [{"household_id": f"HH-{i:07d}", "village_code": village_of(i), "registered": True} for i in range(total)]
            started = time.perf_counter()
            resp = await client.put("/v1/rating-households", json=roster, headers=admin)
            assert resp.status_code == 200, resp.text
            figures["roster_load_seconds"] = round(time.perf_counter() - started, 3)
            del roster

            async def campaign(payload: bytes) -> int:
                resp = await client.post("/v1/assessments/batch", content=payload, headers={**admin, "content-type": "application/x-ndjson"})
                assert resp.status_code == 200, resp.text[:500]
                return int(resp.json()["created"])

            elapsed, created, body_bytes = 0.0, 0, 0
            starts = list(range(0, total, CAMPAIGN))
            for wave in range(0, len(starts), concurrency):
                # campaigns of different villages arrive at the same time; payloads are built outside the timing
                payloads = [
                    b"\n".join(
                        orjson.dumps({"household_id": f"HH-{i:07d}", "village_code": village_of(i), "values": random_values(rng, indicators)})
                        for i in range(start, min(total, start + CAMPAIGN))
                    )
                    for start in starts[wave : wave + concurrency]
                ]
                body_bytes += sum(len(p) for p in payloads)
                started = time.perf_counter()
                created += sum(await asyncio.gather(*(campaign(p) for p in payloads)))
                elapsed += time.perf_counter() - started
                del payloads
            figures["batch_seconds"] = round(elapsed, 3)
            figures["households_created"] = created
            figures["households_per_second"] = round(created / elapsed, 1) if elapsed else 0
            figures["ndjson_megabytes_sent"] = round(body_bytes / 1e6, 1)

            started = time.perf_counter()
            resp = await client.get("/v1/rating-households/coverage", params={"region": f"{COUNTY}000000"}, headers=admin)
            figures["coverage_query_seconds"] = round(time.perf_counter() - started, 3)
            figures["coverage"] = resp.json()["coverage"]
        await engine.dispose()
    figures["peak_rss_megabytes"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    figures["scale"] = scale
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 100,000 households (default 1.0)")
    parser.add_argument("--concurrency", type=int, default=2, help="campaigns sent at the same time (default 2)")
    args = parser.parse_args()
    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        raise SystemExit("set DATABASE_URL to a PostgreSQL server (e.g. postgresql://postgres@127.0.0.1:5432/postgres)")
    figures = asyncio.run(run(server_url, args.scale, args.concurrency))
    for name, value in figures.items():
        print(f"{name}: {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"service": "credit-rating", "operation": "batch assessment", **figures}, indent=2) + "\n")


if __name__ == "__main__":
    main()
