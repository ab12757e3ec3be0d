"""Make sure each service's own account exists at the gateway, with the secret it is given.

    python ensure_service_accounts.py GATEWAY_BASE_URL [WAIT_SECONDS]

The services call each other on their own behalf (reading the loan event log, relaying
notifications) with a client_credentials token for the account ``<PREFIX>SERVICE_CLIENT_ID``
and secret ``<PREFIX>SERVICE_CLIENT_SECRET``. Outside development nothing creates those
accounts, so this runs after every deployment (compose service ``service-accounts``,
Kubernetes Job ``fupin-service-accounts``): it logs in as the bootstrap admin
(``GATEWAY_ADMIN_USERNAME`` / ``GATEWAY_ADMIN_PASSWORD``), creates each missing account with
role ``service``, then proves every account can get a token. An account that exists with a
different secret is reported (exit 1): the gateway has no endpoint to change a secret, so
disable it and name a new one (runbook: "Rotate secrets"). Idempotent; changes nothing that
is already right.
"""

from __future__ import annotations

import logging
import os
import sys
import time

import httpx

SERVICES = {"applications": "APPLICATIONS_", "credit-rating": "CREDIT_RATING_", "risk-pool": "RISK_POOL_", "subsidy": "SUBSIDY_"}
log = logging.getLogger("ensure_service_accounts")


def wanted_accounts(environ: dict[str, str]) -> dict[str, tuple[str, str]]:
    """service → (client id, secret), from the same variables the services read."""
    out, missing = {}, []
    for service, prefix in SERVICES.items():
        client_id, secret = environ.get(f"{prefix}SERVICE_CLIENT_ID"), environ.get(f"{prefix}SERVICE_CLIENT_SECRET")
        if not client_id or not secret:
            missing.append(f"{prefix}SERVICE_CLIENT_ID/{prefix}SERVICE_CLIENT_SECRET")
            continue
        out[service] = (client_id, secret)
    if missing:
        raise SystemExit(f"not set: {', '.join(missing)}")
    return out


def _token(client: httpx.Client, **form: str) -> httpx.Response:
    return client.post("/oauth/token", data=form)


def admin_token(client: httpx.Client, environ: dict[str, str], wait_seconds: float) -> str:
    """Log in as the bootstrap admin, waiting for the gateway to answer."""
    form = {"grant_type": "password", "username": environ.get("GATEWAY_ADMIN_USERNAME", "admin"), "password": environ["GATEWAY_ADMIN_PASSWORD"]}
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            resp = _token(client, **form)
            if resp.status_code == 200:
                return str(resp.json()["access_token"])
            if resp.status_code in (400, 401, 403):
                raise SystemExit(f"the gateway refused the admin login ({resp.status_code}): check GATEWAY_ADMIN_PASSWORD")
            problem = f"HTTP {resp.status_code}"
        except httpx.HTTPError as exc:
            problem = type(exc).__name__
        if time.monotonic() >= deadline:
            raise SystemExit(f"the gateway did not answer within {wait_seconds:g} s ({problem})")
        log.info("waiting for the gateway (%s)", problem)
        time.sleep(2)


def ensure(client: httpx.Client, environ: dict[str, str], wait_seconds: float = 120.0) -> list[str]:
    """Create what is missing; return the problems found (empty when every account works)."""
    accounts = wanted_accounts(environ)
    headers = {"Authorization": f"Bearer {admin_token(client, environ, wait_seconds)}"}
    problems = []
    for service, (client_id, secret) in accounts.items():
        body = {"kind": "client", "name": client_id, "secret": secret, "roles": ["service"], "display_name": f"{service} service"}
        resp = client.post("/v1/admin/accounts", json=body, headers=headers)
        if resp.status_code == 201:
            log.info("created account %s for %s", client_id, service)
        elif resp.status_code != 409:  # 409: it exists already
            problems.append(f"{client_id}: creating it failed with {resp.status_code}: {resp.text[:300]}")
            continue
        check = _token(client, grant_type="client_credentials", client_id=client_id, client_secret=secret)
        if check.status_code != 200:
            problems.append(f"{client_id} exists but refuses its configured secret ({check.status_code}); disable it and configure a new client id")
        else:
            log.info("account %s works", client_id)
    return problems


def main(argv: list[str], *, transport: httpx.BaseTransport | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    wait_seconds = float(argv[1]) if len(argv) > 1 else 120.0
    with httpx.Client(base_url=argv[0], transport=transport, timeout=10.0) as client:
        problems = ensure(client, dict(os.environ), wait_seconds)
    for problem in problems:
        log.error("%s", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
