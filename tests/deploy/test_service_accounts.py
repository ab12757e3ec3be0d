"""ensure_service_accounts.py against a fake gateway (httpx.MockTransport): it creates only the
missing accounts, proves each works, and reports an account whose secret differs."""

from __future__ import annotations

import importlib.util
import json
from types import ModuleType
from typing import Any

import httpx
import pytest
from deploy_support import DEPLOY

ENV = {
    "GATEWAY_ADMIN_USERNAME": "admin",
    "GATEWAY_ADMIN_PASSWORD": "admin-password-123",
    **{f"{p}SERVICE_CLIENT_ID": f"svc-{n}" for p, n in [("APPLICATIONS_", "applications"), ("CREDIT_RATING_", "credit-rating"),
                                                        ("RISK_POOL_", "risk-pool"), ("SUBSIDY_", "subsidy")]},
    **{f"{p}SERVICE_CLIENT_SECRET": f"{p.lower()}secret-0123" for p in ("APPLICATIONS_", "CREDIT_RATING_", "RISK_POOL_", "SUBSIDY_")},
}


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ensure_service_accounts", DEPLOY / "docker" / "ensure_service_accounts.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeGateway:
    def __init__(self, accounts: dict[str, str]) -> None:
        self.accounts = dict(accounts)  # name → secret
        self.created: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            form = dict(httpx.QueryParams(request.content.decode()))
            name = form.get("username") or form.get("client_id")
            secret = form.get("password") or form.get("client_secret")
            if self.accounts.get(name) == secret:
                return httpx.Response(200, json={"access_token": f"token-{name}", "token_type": "Bearer", "expires_in": 900})
            return httpx.Response(401, json={"title": "Invalid client or user credentials"})
        if request.url.path == "/v1/admin/accounts" and request.method == "POST":
            assert request.headers["authorization"] == "Bearer token-admin"
            body = json.loads(request.content)
            if body["name"] in self.accounts:
                return httpx.Response(409, json={"title": "Account exists"})
            self.created.append(body)
            self.accounts[body["name"]] = body["secret"]
            return httpx.Response(201, json={"name": body["name"]})
        return httpx.Response(404)


def _run(script: ModuleType, gateway: FakeGateway) -> list[str]:
    with httpx.Client(base_url="http://gateway:8000", transport=httpx.MockTransport(gateway)) as client:
        return list(script.ensure(client, ENV, wait_seconds=0))


def test_missing_service_accounts_are_created_with_role_service(script: ModuleType) -> None:
    gateway = FakeGateway({"admin": "admin-password-123", "svc-subsidy": ENV["SUBSIDY_SERVICE_CLIENT_SECRET"]})
    assert _run(script, gateway) == []
    assert sorted(a["name"] for a in gateway.created) == ["svc-applications", "svc-credit-rating", "svc-risk-pool"]
    assert all(a["roles"] == ["service"] and a["kind"] == "client" for a in gateway.created)


def test_a_second_run_changes_nothing(script: ModuleType) -> None:
    gateway = FakeGateway({"admin": "admin-password-123"})
    _run(script, gateway)
    gateway.created.clear()
    assert _run(script, gateway) == []
    assert gateway.created == []


def test_an_account_with_another_secret_is_reported(script: ModuleType) -> None:
    gateway = FakeGateway({"admin": "admin-password-123", "svc-risk-pool": "an-older-secret-value"})
    problems = _run(script, gateway)
    assert len(problems) == 1 and problems[0].startswith("svc-risk-pool exists but refuses its configured secret")


def test_a_wrong_admin_password_stops_with_a_message(script: ModuleType) -> None:
    gateway = FakeGateway({"admin": "another-password"})
    with pytest.raises(SystemExit, match="GATEWAY_ADMIN_PASSWORD"):
        _run(script, gateway)


def test_missing_credentials_are_named(script: ModuleType) -> None:
    env = {k: v for k, v in ENV.items() if k != "RISK_POOL_SERVICE_CLIENT_SECRET"}
    with pytest.raises(SystemExit, match="RISK_POOL_SERVICE_CLIENT_SECRET"):
        script.wanted_accounts(env)
