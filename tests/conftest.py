"""Cross-service tests: the real processes (e2e/, reliability/, security/) and the deployment files
(deploy/). The ``platform`` fixture starts the whole platform with the same runner as `make run`, on
databases of its own that are dropped afterwards."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kit.db import drop_database

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"gateway": "GATEWAY_", "applications": "APPLICATIONS_", "credit_rating": "CREDIT_RATING_", "risk_pool": "RISK_POOL_", "subsidy": "SUBSIDY_"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Platform:
    gateway: str
    ports: dict[str, int]
    process: subprocess.Popen[bytes]
    log: Path

    def url(self, package: str) -> str:
        return f"http://127.0.0.1:{self.ports[package]}"

    def token(self, name: str, secret: str, grant: str = "client_credentials") -> str:
        data = {"grant_type": grant}
        data.update({"username": name, "password": secret} if grant == "password" else {"client_id": name, "client_secret": secret})
        resp = httpx.post(f"{self.gateway}/oauth/token", data=data, timeout=10)
        assert resp.status_code == 200, resp.text
        return str(resp.json()["access_token"])


@contextmanager
def running_platform(pg_server: str, workdir: Path, **extra_env: str) -> Iterator[Platform]:
    """Start the platform with the `make run` runner on fresh ports and databases; stop it and drop
    its databases afterwards."""
    run_id = uuid.uuid4().hex[:6]
    ports = {pkg: free_port() for pkg in PACKAGES}
    env = dict(os.environ, DATABASE_URL=pg_server, ENVIRONMENT="development", PYTHONUNBUFFERED="1", **extra_env)
    for pkg, prefix in PACKAGES.items():
        env[f"{prefix}PORT"] = str(ports[pkg])
        env[f"{prefix}DATABASE_NAME"] = f"e2e_{run_id}_{pkg}"
    log = workdir / f"run-{run_id}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "deploy" / "local" / "run.py")], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 90
        while "ready in" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"platform did not start:\n{log.read_text(errors='replace')[-4000:]}")
            time.sleep(0.3)
        yield Platform(f"http://127.0.0.1:{ports['gateway']}", ports, proc, log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for pkg in PACKAGES:
            asyncio.run(drop_database(pg_server, f"e2e_{run_id}_{pkg}"))


@pytest.fixture(scope="session")
def platform(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One platform shared by every cross-service test of the session."""
    with running_platform(pg_server, tmp_path_factory.mktemp("platform")) as p:
        yield p


@pytest.fixture
def start_platform(pg_server: str, tmp_path: Path) -> Callable[..., AbstractContextManager[Platform]]:
    """For a test that needs a platform of its own (to stop it, kill a part of it, …):
    ``with start_platform() as p: …``."""
    return lambda **extra_env: running_platform(pg_server, tmp_path, **extra_env)
