"""Starting the whole platform for cross-service tests: the same runner as `make run`
(deploy/local/run.py), fresh ports, databases of its own that are dropped afterwards."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
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
    server: str

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
        yield Platform(f"http://127.0.0.1:{ports['gateway']}", ports, proc, log, pg_server)
    finally:
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
            asyncio.run(drop_database(pg_server, f"e2e_{run_id}_{pkg}"))
