"""Response headers through the gateway: one of each, and the caller's request id kept."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from platform_support import Platform
    from security.conftest import Caller

SINGLE = ("x-request-id", "date", "server", "content-type")


@pytest.mark.parametrize("path", ["/v1/business-date", "/v1/scorecards", "/v1/funds", "/v1/subsidy-plans", "/v1/admin/accounts"])
def test_a_gateway_answer_carries_each_header_once_and_the_callers_request_id(platform: Platform, caller: Caller, path: str) -> None:
    resp = httpx.get(f"{platform.gateway}{path}", headers=caller.h("admin", **{"X-Request-ID": "proof-request-1"}), timeout=15)
    assert resp.status_code == 200, resp.text
    repeated = {name: resp.headers.get_list(name) for name in SINGLE if len(resp.headers.get_list(name)) > 1}
    assert repeated == {}
    assert resp.headers["x-request-id"] == "proof-request-1"
