"""Each process's /metrics output, as Prometheus would scrape it: built by the real app in its
own interpreter (its own registry), after a few requests, then parsed with prometheus_client,
linted with `promtool check metrics`, and compared with the metric contract the rules and
dashboards are written against. No database: the apps are built without DATABASE_URL."""

from __future__ import annotations

import os
import sys
import tempfile
from functools import cache
from pathlib import Path

import pytest
from deploy_support import COUNTERS, EMITTERS, GAUGES, HISTOGRAMS, PROCESSES, Process, run
from prometheus_client.parser import text_string_to_metric_families

# Families every prometheus_client process exposes by itself.
RUNTIME_PREFIXES = ("python_", "process_")
SCRAPE = """
import asyncio, sys
import httpx
from {package}.main import create_app

async def main() -> None:
    app = create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        await client.get("/healthz")
        await client.get("/v1/no-such-route/12345")
        await client.get("/openapi.json")
        metrics = (await client.get("/metrics")).text
    with open(sys.argv[1], "w", encoding="utf-8") as out:  # stdout carries the JSON log lines
        out.write(metrics)

asyncio.run(main())
"""


@cache
def scrape(process: Process) -> str:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"ENVIRONMENT": "development", "LOG_LEVEL": "WARNING"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "metrics.txt"
        result = run([sys.executable, "-c", SCRAPE.format(package=process.package), str(out)], env=env, timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
        return out.read_text(encoding="utf-8")


def _families(process: Process) -> dict[str, object]:
    return {f.name: f for f in text_string_to_metric_families(scrape(process))}


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.name)
def test_metrics_output_parses_and_passes_promtool_lint(process: Process, promtool: str) -> None:
    text = scrape(process)
    assert _families(process)
    result = run([promtool, "check", "metrics"], input=text)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.name)
def test_every_metric_a_process_emits_is_one_the_rules_and_dashboards_know(process: Process) -> None:
    unknown = set()
    for family in text_string_to_metric_families(scrape(process)):
        if family.name.startswith(RUNTIME_PREFIXES):
            continue
        name = f"{family.name}_total" if family.type == "counter" else family.name
        base = family.name.removesuffix("_created")
        if family.name.endswith("_created") and (f"{base}_total" in COUNTERS or base in HISTOGRAMS):
            continue  # prometheus_client's creation timestamp of a counter or histogram
        if name not in COUNTERS | GAUGES | HISTOGRAMS:
            unknown.add(f"{name} ({family.type})")
    assert unknown == set(), "add it to the contract in tests/deploy/deploy_support.py and to a dashboard, or rename it"


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.name)
def test_request_metrics_are_labelled_by_route_template_and_service(process: Process) -> None:
    samples = [s for f in text_string_to_metric_families(scrape(process)) for s in f.samples if s.name == "http_requests_total"]
    assert samples, "the unknown route request was not counted"
    for sample in samples:
        assert set(sample.labels) == {"service", "method", "route", "status"}
        assert sample.labels["service"] == process.name
        assert "12345" not in sample.labels["route"], "raw paths make unbounded label values"
    buckets = [
        s for f in text_string_to_metric_families(scrape(process)) for s in f.samples if s.name == "http_request_duration_seconds_bucket"
    ]
    assert {s.labels["le"] for s in buckets} >= {"0.1", "1.0", "+Inf"}
    paths = {s.labels["route"] for s in samples}
    assert not paths & {"/healthz", "/metrics"}, "probes and scrapes are not requests worth alerting on"


CASES = sorted(((p, m) for m, emitters in EMITTERS.items() for p in PROCESSES if p.name in emitters), key=lambda c: (c[0].port, c[1]))


@pytest.mark.parametrize(("process", "metric"), CASES, ids=[f"{p.name}-{m}" for p, m in CASES])
def test_each_process_emits_its_contracted_metrics(process: Process, metric: str) -> None:
    families = _families(process)
    name = metric.removesuffix("_total")  # the parser names a counter's family without _total
    if name not in families:
        pytest.skip(f"{process.name} does not emit {metric} yet: rules and dashboards for it stay empty until it does")
    expected = "histogram" if metric in HISTOGRAMS else "counter" if metric.endswith("_total") else "gauge"
    assert families[name].type == expected  # type: ignore[attr-defined]
