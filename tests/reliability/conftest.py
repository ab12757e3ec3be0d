"""Reliability suites break things (fuzz with an admin token, kill a service, stop PostgreSQL), so
each module starts a platform of its own with the same runner as `make run` (the pattern of
tests/conftest.py's ``platform`` fixture, other ports and database names) instead of the shared one."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from kit.db import drop_database

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"gateway": "GATEWAY_", "applications": "APPLICATIONS_", "credit_rating": "CREDIT_RATING_", "risk_pool": "RISK_POOL_", "subsidy": "SUBSIDY_"}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OwnPlatform:
    gateway: str
    ports: dict[str, int]
    process: subprocess.Popen[bytes]
    log: Path
    server: str
    extra: dict[str, Any] = field(default_factory=dict)

    def url(self, package: str) -> str:
        return f"http://127.0.0.1:{self.ports[package]}"

    def token(self, name: str, secret: str, grant: str = "client_credentials") -> str:
        data = {"grant_type": grant}
        data.update({"username": name, "password": secret} if grant == "password" else {"client_id": name, "client_secret": secret})
        resp = httpx.post(f"{self.gateway}/oauth/token", data=data, timeout=10)
        assert resp.status_code == 200, resp.text
        return str(resp.json()["access_token"])

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token('admin', 'admin-dev-only', 'password')}"}

    def child(self, package: str) -> psutil.Process:
        """The process running ``python -m <package>.main`` under the runner."""
        for proc in psutil.Process(self.process.pid).children(recursive=True):
            try:
                if f"{package}.main" in proc.cmdline():
                    return proc
            except psutil.NoSuchProcess:
                continue
        raise LookupError(f"no {package}.main process under the runner {self.process.pid}")

    def log_errors(self, request_id: str | None = None) -> str:
        """Error lines of the run log (of one request when given), for assertion messages."""
        lines = [line for line in self.log.read_text(errors="replace").splitlines() if '"level": "error"' in line or "Traceback" in line]
        if request_id:
            lines = [line for line in lines if request_id in line]
        return "\n".join(line[:3000] for line in lines[-5:])


def start_platform(server: str, tmp: Path, env_extra: dict[str, str] | None = None) -> OwnPlatform:
    run_id = uuid.uuid4().hex[:6]
    ports = {pkg: _free_port() for pkg in PACKAGES}
    env = dict(os.environ, DATABASE_URL=server, ENVIRONMENT="development", PYTHONUNBUFFERED="1", **(env_extra or {}))
    for pkg, prefix in PACKAGES.items():
        env[f"{prefix}PORT"] = str(ports[pkg])
        env[f"{prefix}DATABASE_NAME"] = f"proof_{run_id}_{pkg}"
    log = tmp / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "deploy" / "local" / "run.py")], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    deadline = time.monotonic() + 120
    while "ready in" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"own platform did not start:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.3)
    return OwnPlatform(f"http://127.0.0.1:{ports['gateway']}", ports, proc, log, server, {"run_id": run_id})


def stop_platform(platform: OwnPlatform) -> None:
    proc = platform.process
    try:
        proc.send_signal(signal.SIGCONT)  # in case a test left the runner stopped
    except ProcessLookupError:
        pass
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pkg in PACKAGES:
        try:
            asyncio.run(drop_database(platform.server, f"proof_{platform.extra['run_id']}_{pkg}"))
        except Exception as exc:  # a database left behind must not hide the test's own result
            print(f"could not drop proof_{platform.extra['run_id']}_{pkg}: {exc}")


class Platforms:
    """Starts platforms of a module's own; whatever is still running at the module's end is stopped."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.started: list[OwnPlatform] = []

    def __call__(self, server: str, env_extra: dict[str, str] | None = None) -> OwnPlatform:
        platform = start_platform(server, self.tmp_path_factory.mktemp("proof-platform"), env_extra)
        self.started.append(platform)
        return platform

    def stop(self, platform: OwnPlatform) -> None:
        if platform in self.started:
            self.started.remove(platform)
            stop_platform(platform)


@pytest.fixture(scope="module")
def own_platform_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platforms]:
    platforms = Platforms(tmp_path_factory)
    yield platforms
    for platform in list(platforms.started):
        platforms.stop(platform)
