"""`make run`: the whole platform on one machine for development.

Starts (or reuses) the database server, creates and migrates one database per process, starts the
four services and the gateway, waits until each is ready, prints where everything is, and on Ctrl-C
stops every process it started, the embedded database included.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from kit.embedded_pg import server_url

ROOT = Path(__file__).resolve().parents[2]
# (package, env prefix, default port); the gateway comes last: it learns its routes from the others.
PROCESSES = [
    ("applications", "APPLICATIONS_", 8001),
    ("credit_rating", "CREDIT_RATING_", 8002),
    ("risk_pool", "RISK_POOL_", 8003),
    ("subsidy", "SUBSIDY_", 8004),
    ("gateway", "GATEWAY_", 8000),
]
READY_TIMEOUT = 60.0


def _die_with_parent() -> None:
    """Linux: a child gets SIGTERM if this runner dies, so nothing is orphaned even on kill -9."""
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def ports() -> dict[str, int]:
    return {pkg: int(os.environ.get(f"{prefix}PORT", default)) for pkg, prefix, default in PROCESSES}


def child_env(server: str, port_of: dict[str, int]) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("ENVIRONMENT", "development")
    env["DATABASE_URL"] = server
    env.setdefault("GATEWAY_SEED_DEMO", "true")
    for pkg, prefix, _ in PROCESSES:
        if pkg != "gateway":  # each service's own demo account at the gateway (seeded above)
            env.setdefault(f"{prefix}SERVICE_CLIENT_ID", f"svc-{pkg.replace('_', '-')}")
            env.setdefault(f"{prefix}SERVICE_CLIENT_SECRET", f"svc-{pkg.replace('_', '-')}-secret")
            env.setdefault(f"{prefix}GATEWAY_URL", f"http://127.0.0.1:{port_of['gateway']}")
    env.setdefault("JWKS_URL", f"http://127.0.0.1:{port_of['gateway']}/.well-known/jwks.json")
    for pkg, prefix, _ in PROCESSES:
        env[f"{prefix}PORT"] = str(port_of[pkg])
        url = f"http://127.0.0.1:{port_of[pkg]}"
        env.setdefault(f"GATEWAY_{prefix}URL", url)
        for caller, caller_prefix, _ in PROCESSES:
            if caller != pkg:
                env.setdefault(f"{caller_prefix}{prefix}URL", url)
    return env


def wait_ready(port: int, proc: subprocess.Popen[bytes], deadline: float) -> bool:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


def stop(children: list[subprocess.Popen[bytes]]) -> None:
    for proc in children:
        if proc.poll() is None:
            proc.terminate()
    limit = time.monotonic() + 15
    for proc in children:
        try:
            proc.wait(max(0.1, limit - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    started = time.monotonic()
    server, handle = server_url()
    where = "DATABASE_URL" if handle is None else f"embedded PostgreSQL in {ROOT / '.data' / 'pg'}"
    print(f"database server: {where}", flush=True)
    port_of = ports()
    env = child_env(server, port_of)
    # One process per package: each service's tables live in its own SQLModel metadata.
    migrations = [subprocess.Popen([sys.executable, "-m", "kit.migrations", pkg], env=env, cwd=ROOT) for pkg, _, _ in PROCESSES]  # noqa: S603
    if any(m.wait() != 0 for m in migrations):
        print("migrations failed", file=sys.stderr)
        if handle is not None:
            handle.cleanup()
        return 1
    children: list[subprocess.Popen[bytes]] = []

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        for pkg, _, _ in PROCESSES:
            proc = subprocess.Popen([sys.executable, "-m", f"{pkg}.main"], env=env, cwd=ROOT, preexec_fn=_die_with_parent)  # noqa: S603
            children.append(proc)
            if not wait_ready(port_of[pkg], proc, time.monotonic() + READY_TIMEOUT):
                print(f"{pkg} did not become ready on port {port_of[pkg]}; stopping", file=sys.stderr)
                return 1
        gw = f"http://127.0.0.1:{port_of['gateway']}"
        print(f"""
扶贫小额信贷 platform ready in {time.monotonic() - started:.1f}s
  gateway          {gw}   docs {gw}/docs   OpenAPI {gw}/openapi.json
  token            POST {gw}/oauth/token   keys {gw}/.well-known/jwks.json""")
        for pkg, _, _ in PROCESSES:
            print(f"  {pkg:<16} http://127.0.0.1:{port_of[pkg]}   metrics http://127.0.0.1:{port_of[pkg]}/metrics")
        print(f"""
development credentials (refused outside development):
  admin            username admin, password {env.get('GATEWAY_ADMIN_PASSWORD', 'admin-dev-only')}  (grant_type=password)
  officers         county-officer, township-officer, village-secretary, resident-secretary, applicant-demo: password demo-password
  clients          bank-rcc, bank-psbc, finance-bureau, monitor-demo, insurer-poverty-loan,
                   henan-agri-credit-guarantee, henan-reguarantee-group, svc-*: secret <name>-secret
  example          curl -s -d grant_type=client_credentials -d client_id=bank-rcc -d client_secret=bank-rcc-secret {gw}/oauth/token
Ctrl-C stops everything.""", flush=True)
        while all(p.poll() is None for p in children):
            time.sleep(0.5)
        failed = [pkg for (pkg, _, _), p in zip(PROCESSES, children, strict=False) if p.poll() is not None]
        print(f"process exited: {', '.join(failed)}; stopping the rest", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
        return 0
    finally:
        stop(children)
        if handle is not None:
            handle.cleanup()
        print("stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
