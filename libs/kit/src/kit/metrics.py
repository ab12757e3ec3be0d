"""Prometheus RED metrics labelled by route template (never the raw path) and ``/metrics``."""

from __future__ import annotations

from fastapi import Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

REQUESTS = Counter(
    "http_requests_total", "HTTP requests handled, by route template and status code.", ["service", "method", "route", "status"]
)
DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from request start to response end, by route template.",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
IN_FLIGHT = Gauge("http_requests_in_flight", "Requests being handled now.", ["service"])
OUTBOUND_DURATION = Histogram(
    "outbound_request_duration_seconds",
    "Calls to other services, by dependency and outcome.",
    ["service", "dependency", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BREAKER_OPEN = Gauge("circuit_breaker_open", "1 while calls to a dependency are short-circuited.", ["service", "dependency"])


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
POOL_IN_USE = Gauge("db_pool_connections_in_use", "Database connections checked out of this process's pool.", ["service"])
POOL_WAIT = Histogram(
    "db_pool_wait_seconds",
    "Time a request waited for a database connection.",
    ["service"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
