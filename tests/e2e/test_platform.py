"""All five processes, reached through the gateway with real tokens."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import httpx
import psutil

if TYPE_CHECKING:
    from platform_support import Platform

# One authenticated route per service, and a caller allowed to use it.
ROUTES = {
    "applications": "/v1/business-date",
    "credit-rating": "/v1/scorecards",
    "risk-pool": "/v1/funds",
    "subsidy": "/v1/subsidy-plans",
}


def test_every_service_is_reached_through_the_gateway_with_a_token(platform: Platform) -> None:
    token = platform.token("monitor-demo", "monitor-demo-secret")
    for service, path in ROUTES.items():
        resp = httpx.get(f"{platform.gateway}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert resp.status_code == 200, (service, resp.status_code, resp.text)


def test_without_a_token_the_gateway_and_each_service_refuse(platform: Platform) -> None:
    for package, path in zip(["applications", "credit_rating", "risk_pool", "subsidy"], ROUTES.values(), strict=True):
        assert httpx.get(f"{platform.gateway}{path}", timeout=10).status_code == 401
        direct = httpx.get(f"{platform.url(package)}{path}", headers={"Authorization": "Bearer forged.token.here"}, timeout=10)
        assert direct.status_code == 401, package


def test_each_service_verifies_gateway_tokens_itself_when_called_directly(platform: Platform) -> None:
    token = platform.token("monitor-demo", "monitor-demo-secret")
    for package, path in zip(["applications", "credit_rating", "risk_pool", "subsidy"], ROUTES.values(), strict=True):
        resp = httpx.get(f"{platform.url(package)}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert resp.status_code == 200, package


def test_a_rotated_key_is_picked_up_by_the_services(platform: Platform) -> None:
    admin = platform.token("admin", "admin-dev-only", grant="password")
    assert httpx.post(f"{platform.gateway}/v1/admin/keys/rotate", headers={"Authorization": f"Bearer {admin}"}, timeout=10).status_code == 200
    fresh = platform.token("monitor-demo", "monitor-demo-secret")
    for package, path in zip(["applications", "credit_rating", "risk_pool", "subsidy"], ROUTES.values(), strict=True):
        assert httpx.get(f"{platform.url(package)}{path}", headers={"Authorization": f"Bearer {fresh}"}, timeout=10).status_code == 200


def test_the_merged_openapi_lists_every_service_and_no_path_twice(platform: Platform) -> None:
    doc = httpx.get(f"{platform.gateway}/openapi.json", timeout=10).json()
    for path in ("/oauth/token", *ROUTES.values()):
        assert path in doc["paths"]
    seen: dict[str, str] = {}
    for package in ("applications", "credit_rating", "risk_pool", "subsidy"):
        for path in httpx.get(f"{platform.url(package)}/openapi.json", timeout=10).json()["paths"]:
            assert path not in seen, f"{path} is served by both {seen.get(path)} and {package}"
            seen[path] = package


def test_every_process_is_ready_and_exposes_metrics(platform: Platform) -> None:
    for package in platform.ports:
        assert httpx.get(f"{platform.url(package)}/readyz", timeout=10).status_code == 200
        text = httpx.get(f"{platform.url(package)}/metrics", timeout=10).text
        assert "# TYPE http_requests_total counter" in text


def test_ctrl_c_stops_every_process_it_started(start_platform: Callable[..., AbstractContextManager[Platform]]) -> None:
    """A platform of its own: stopped with Ctrl-C, nothing it started is left behind."""
    with start_platform() as platform:
        children = psutil.Process(platform.process.pid).children(recursive=True)
        assert len([c for c in children if "python" in c.name()]) >= 5
        platform.process.send_signal(signal.SIGINT)
        try:
            platform.process.wait(30)
        except subprocess.TimeoutExpired:
            platform.process.kill()
            raise
        time.sleep(0.5)
        assert [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE] == []
        assert "stopped" in platform.log.read_text()
