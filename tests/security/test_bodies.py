"""Bodies that must be refused with a problem before any handler runs: over 1 MiB → 413, broken JSON
→ 422, a content type the route does not take → 415; at the gateway and at each service directly."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from platform_support import Platform
    from security.conftest import Caller

# One JSON-bodied POST per process, a caller with its scope, and where it is served.
ROUTES = {
    "gateway": ("gateway", "/v1/admin/accounts", "admin"),
    "applications": ("applications", "/v1/applications", "county-officer"),
    "credit_rating": ("credit_rating", "/v1/assessments", "village-secretary"),
    "risk_pool": ("risk_pool", "/v1/sharing-schemes", "finance-bureau"),
    "subsidy": ("subsidy", "/v1/subsidy-plans", "county-officer"),
}
MIB = 1024 * 1024


def targets(platform: Platform) -> list[tuple[str, str, str]]:
    """(label, url, caller) for every route, via the gateway and, for services, directly."""
    out = []
    for label, (package, path, who) in ROUTES.items():
        out.append((f"{label} via gateway", f"{platform.gateway}{path}", who))
        if package != "gateway":
            out.append((f"{label} direct", f"{platform.url(package)}{path}", who))
    return out


def assert_problem(resp: httpx.Response, status: int, where: str) -> None:
    assert resp.status_code == status, (where, resp.status_code, resp.text[:300])
    assert resp.headers["content-type"].startswith("application/problem+json"), where
    assert resp.json()["status"] == status, where


@pytest.mark.parametrize("size", [MIB + 1, 3 * MIB])
def test_a_json_body_over_one_mib_is_413(platform: Platform, caller: Caller, size: int) -> None:
    filler = json.dumps({"project": "x" * size}).encode()
    for where, url, who in targets(platform):
        resp = httpx.post(url, content=filler, headers=caller.h(who, **{"content-type": "application/json", "Idempotency-Key": f"proof-{size}"}), timeout=60)
        assert_problem(resp, 413, where)


def test_a_body_over_one_mib_without_a_content_length_is_413_too(platform: Platform, caller: Caller) -> None:
    def chunks() -> object:
        for _ in range(20):
            yield b"x" * (128 * 1024)

    for where, url, who in targets(platform):
        resp = httpx.post(url, content=chunks(), headers=caller.h(who, **{"content-type": "application/json"}), timeout=60)  # type: ignore[arg-type]
        assert_problem(resp, 413, where)


@pytest.mark.parametrize("body", [b"{", b'{"amount": }', b"\xff\xfe not utf-8", b"[1, 2", b"null garbage"])
def test_malformed_json_is_a_422_problem(platform: Platform, caller: Caller, body: bytes) -> None:
    for where, url, who in targets(platform):
        headers = caller.h(who, **{"content-type": "application/json", "Idempotency-Key": f"proof-bad-{body!r}"})
        resp = httpx.post(url, content=body, headers=headers, timeout=30)
        assert_problem(resp, 422, where)


@pytest.mark.parametrize("ctype", ["text/plain", "application/xml", "multipart/form-data; boundary=x", None])
def test_a_content_type_the_route_does_not_take_is_415(platform: Platform, caller: Caller, ctype: str | None) -> None:
    for where, url, who in targets(platform):
        headers = caller.h(who)
        if ctype:
            headers["content-type"] = ctype
        resp = httpx.post(url, content=b'{"kind": "client"}', headers=headers, timeout=30)
        assert_problem(resp, 415, where)
