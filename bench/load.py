"""A small asyncio/httpx load driver, run in its own process so the server under test does not
share its event loop: N concurrent clients, each sending requests back to back."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx


async def _drive(requests: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60.0, limits=limits) as client:

        async def worker() -> None:
            while True:
                try:
                    req = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                resp = await client.request(req["method"], req["url"], json=req.get("json"), headers=req.get("headers"))
                latencies.append(time.perf_counter() - started)
                statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "concurrency": concurrency,
        "seconds": round(elapsed, 3),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2),
        "statuses": statuses,
    }


def main() -> None:
    """Reads ``{"requests": [...], "concurrency": n}`` on stdin, prints the figures as JSON."""
    spec = json.load(sys.stdin)
    print(json.dumps(asyncio.run(_drive(spec["requests"], spec["concurrency"]))))


def run_in_subprocess(requests: list[dict[str, Any]], concurrency: int, python: str = sys.executable) -> dict[str, Any]:
    import subprocess

    out = subprocess.run(  # noqa: S603
        [python, __file__], input=json.dumps({"requests": requests, "concurrency": concurrency}), capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def median_of(runs: int, make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Several runs, the one with the median throughput reported (with all throughputs)."""
    results = sorted((make() for _ in range(runs)), key=lambda r: r["requests_per_second"])
    chosen = dict(results[len(results) // 2])
    chosen["runs_requests_per_second"] = [r["requests_per_second"] for r in results]
    return chosen


if __name__ == "__main__":
    main()
