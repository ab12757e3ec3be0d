import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from stdnum.cn import ric

from applications.main import create_app
from applications.settings import Settings
from kit.testing import TokenFactory, api_client, bind_app, create_engine_for_tests, migrated_database, rolled_back

COUNTY = "411224000000"  # 卢氏县
TOWNSHIP = "411224100000"
VILLAGE = "411224100201"
VILLAGE_2 = "411224100202"
OTHER_TOWNSHIP = "411224101000"
OTHER_VILLAGE = "411224101201"
START = date(2026, 3, 1)


def resident_id(birth: str, serial: str = "123") -> str:
    """A valid 18-digit resident ID of 卢氏县 born on ``birth`` (YYYY-MM-DD)."""
    body = "411224" + birth.replace("-", "") + serial
    return body + ric.calc_check_digit(body + "0")


@dataclass
class Fakes:
    """httpx.MockTransport fakes of credit-rating and risk-pool, driven per test."""

    ratings: dict[str, dict[str, Any]] = field(default_factory=dict)
    lending: dict[str, dict[str, Any]] = field(default_factory=dict)
    credit_rating_down: bool = False
    risk_pool_down: bool = False
    calls: list[str] = field(default_factory=list)

    def rate(self, household_id: str, grade: str = "AA", line: str = "50000.00", **extra: Any) -> None:
        self.ratings[household_id] = {
            "household_id": household_id,
            "status": "current",
            "grade": grade,
            "credit_line": line,
            "vetoed": False,
            "veto_reasons": [],
            "blacklisted": False,
            "eligible_to_borrow": True,
            **extra,
        }

    def credit_rating(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"credit-rating {request.url.path} {request.headers.get('authorization', '')[:6]}")
        if self.credit_rating_down:
            return httpx.Response(503, json={"detail": "down"})
        household_id = request.url.path.rsplit("/", 1)[-1]
        body = self.ratings.get(household_id)
        if body is None:
            return httpx.Response(
                200,
                json={
                    "household_id": household_id,
                    "status": "none",
                    "grade": None,
                    "credit_line": None,
                    "vetoed": False,
                    "veto_reasons": [],
                    "blacklisted": False,
                    "eligible_to_borrow": False,
                },
            )
        return httpx.Response(200, json=body)

    def risk_pool(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"risk-pool {request.url.path}")
        if self.risk_pool_down:
            raise httpx.ConnectError("connection refused")
        village = request.url.path.rsplit("/", 1)[-1]
        body = self.lending.get(village) or {"village_code": village, "may_lend": True, "reasons": [], "village_state": "open", "township_state": "open"}
        return httpx.Response(200, json=body)


@pytest.fixture(scope="session")
async def db_url(pg_server: str) -> AsyncIterator[str]:
    async with migrated_database(pg_server, "applications") as url:
        yield url


@pytest.fixture(scope="session")
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine_for_tests(db_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


def build_app(tokens: TokenFactory, fakes: Fakes) -> FastAPI:
    return create_app(
        Settings(environment="test", initial_business_date=START, call_deadline_seconds=2.0, background_workers=False),
        keys=tokens.keyset(),
        credit_rating_transport=httpx.MockTransport(fakes.credit_rating),
        risk_pool_transport=httpx.MockTransport(fakes.risk_pool),
    )


@pytest.fixture
async def app(engine: AsyncEngine, tokens: TokenFactory, fakes: Fakes) -> AsyncIterator[FastAPI]:
    """The app on the test's own transaction, rolled back afterwards."""
    async with rolled_back(engine) as conn:
        app = build_app(tokens, fakes)
        bind_app(app, conn)
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app) as c:
        yield c


class _CachedTokens:
    """Signing a token takes ~45 ms (python-jose RSA); each distinct actor is signed once per session."""

    def __init__(self, tokens: TokenFactory) -> None:
        self._tokens = tokens
        self._cache: dict[str, dict[str, str]] = {}

    def headers(self, *args: Any, **kwargs: Any) -> dict[str, str]:
        key = json.dumps([args, kwargs], sort_keys=True)
        if key not in self._cache:
            self._cache[key] = self._tokens.headers(*args, **kwargs)
        return self._cache[key]


class Who:
    """Headers for each actor of the chain."""

    def __init__(self, tokens: TokenFactory) -> None:
        self.tokens = _CachedTokens(tokens)

    def admin(self) -> dict[str, str]:
        return self.tokens.headers(
            "admin",
            roles=["admin"],
            scopes=[
                "registry:read",
                "registry:write",
                "applications:read",
                "applications:write",
                "rating:read",
                "risk:read",
                "policy:write",
                "admin",
                "internal",
            ],
        )

    def officer(self, role: str, region: str, sub: str | None = None) -> dict[str, str]:
        scopes = ["registry:read", "applications:read", "rating:read", "risk:read", "subsidy:read", "applications:write", "rating:write"]
        if role in ("village_officer", "county_officer"):
            scopes.append("registry:write")
        if role == "county_officer":
            scopes.append("policy:write")
        return self.tokens.headers(sub or f"{role}-{region}", roles=[role], scopes=scopes, region=region)

    def village(self, region: str = VILLAGE) -> dict[str, str]:
        return self.officer("village_officer", region)

    def township(self, region: str = TOWNSHIP) -> dict[str, str]:
        return self.officer("township_officer", region)

    def county(self, region: str = COUNTY) -> dict[str, str]:
        return self.officer("county_officer", region)

    def bank(self, bank_id: str = "RCC") -> dict[str, str]:
        return self.tokens.headers(
            f"bank-{bank_id}",
            kind="client",
            roles=["bank"],
            bank_id=bank_id,
            scopes=["applications:read", "applications:write", "rating:read", "risk:read", "risk:write", "subsidy:read"],
        )

    def applicant(self, household_id: str, region: str = VILLAGE) -> dict[str, str]:
        return self.tokens.headers(
            f"app-{household_id}",
            roles=["applicant"],
            household_id=household_id,
            region=region,
            scopes=["applications:read", "applications:write", "rating:read", "subsidy:read"],
        )

    def monitor(self) -> dict[str, str]:
        return self.tokens.headers(
            "monitor", kind="client", roles=["monitor"], scopes=["registry:read", "applications:read", "rating:read", "risk:read", "subsidy:read"]
        )

    def service(self) -> dict[str, str]:
        return self.tokens.headers(
            "svc-subsidy",
            kind="client",
            roles=["service"],
            scopes=["registry:read", "applications:read", "rating:read", "risk:read", "subsidy:read", "internal"],
        )


@pytest.fixture(scope="session")
def who(tokens: TokenFactory) -> Who:
    return Who(tokens)


REGIONS_CSV = (
    "\n".join(
        [
            "code,name",
            f"{COUNTY},卢氏县",
            f"{TOWNSHIP},城关镇",
            f"{OTHER_TOWNSHIP},东明镇",
            f"{VILLAGE},东门村",
            f"{VILLAGE_2},西门村",
            f"{OTHER_VILLAGE},东明村",
        ]
    )
    + "\n"
)


def household(
    household_id: str,
    *,
    birth: str = "1980-05-01",
    serial: str = "123",
    village: str = VILLAGE,
    status: str = "poor",
    capacity: str = "full",
    members: list[dict[str, str]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    head = {"name": f"户主{household_id}", "relation": "head", "birth_date": birth, "labour_capacity": capacity}
    return {
        "household_id": household_id,
        "head_resident_id": resident_id(birth, serial),
        "head_name": f"户主{household_id}",
        "village_code": village,
        "household_type": "一般贫困户",
        "main_cause": "缺资金",
        "secondary_causes": ["缺技术"],
        "members": [head, *(members or [])],
        "status": status,
        "identification": {
            "applied_on": "2025-09-01",
            "democratic_vote_on": "2025-09-05",
            "village_notice_on": "2025-09-06",
            "township_notice_on": "2025-09-13",
            "county_announcement_on": "2025-09-20",
        },
        **extra,
    }


def ndjson(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


@pytest.fixture
async def seeded(client: httpx.AsyncClient, who: Who) -> None:
    """卢氏县 with two townships and three villages, and four households:
    H1 (42, working), H2 (42, working, other village), OLD1/OLD2 (elderly, 带贫 candidates)."""
    resp = await client.post("/v1/regions/import", content=REGIONS_CSV, headers={**who.admin(), "content-type": "text/csv"})
    assert resp.status_code == 200 and resp.json()["invalid"] == 0, resp.text
    rows = [
        household("H1", serial="101"),
        household("H2", serial="102", village=VILLAGE_2),
        household(
            "OLD1",
            birth="1950-01-01",
            serial="103",
            capacity="none",
            members=[{"name": "老伴", "relation": "spouse", "birth_date": "1952-02-02", "labour_capacity": "partial"}],
        ),
        household("OLD2", birth="1948-03-03", serial="104", capacity="partial", village=OTHER_VILLAGE),
    ]
    resp = await client.post("/v1/households/import", content=ndjson(rows), headers={**who.admin(), "content-type": "application/x-ndjson"})
    assert resp.status_code == 200 and resp.json()["inserted"] == 4, resp.text


LOAN_REQUEST = {"household_id": "H1", "amount": "50000.00", "term_months": 36, "purpose": "breeding", "industry": "livestock", "project": "养牛 5 头"}
CHAIN = ("attested", "reviewed", "confirmed", "recommended", "approved", "disbursed")


async def submit(client: httpx.AsyncClient, who: Who, **overrides: Any) -> dict[str, Any]:
    body = {**LOAN_REQUEST, **overrides}
    if body.get("borrower_type") == "enterprise":
        body.pop("household_id")
    headers = who.applicant(body["household_id"]) if body.get("borrower_type", "household") == "household" else who.county()
    resp = await client.post("/v1/applications", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def advance(
    client: httpx.AsyncClient,
    who: Who,
    fakes: Fakes,
    application: dict[str, Any],
    to: str,
    *,
    bank: str = "RCC",
    rate: str = "0.0435",
    approved_amount: str | None = None,
) -> dict[str, Any]:
    """Walk an application along the chain up to status ``to``."""
    app_id = application["application_id"]
    if application.get("household_id"):
        fakes.ratings.setdefault(application["household_id"], {})
        if not fakes.ratings[application["household_id"]]:
            fakes.rate(application["household_id"])
    steps = {
        "attested": (
            "attestation",
            who.village(application["village_code"]),
            {"village_secretary": "王书记", "resident_secretary": "李书记", "credit_officer": "赵信贷员"},
        ),
        "reviewed": ("review", who.township(), {"note": "ok"}),
        "confirmed": ("confirmation", who.county(), {"note": "ok"}),
        "recommended": ("recommendation", who.county(), {"bank_id": bank}),
        "approved": ("approval", who.bank(bank), {"annual_rate": rate, **({"approved_amount": approved_amount} if approved_amount else {})}),
        "disbursed": ("disbursement", who.bank(bank), {}),
    }
    body: dict[str, Any] = application
    for status in CHAIN[: CHAIN.index(to) + 1]:
        if body["status"] in CHAIN and CHAIN.index(status) <= CHAIN.index(body["status"]):
            continue
        path, headers, payload = steps[status]
        resp = await client.post(f"/v1/applications/{app_id}/{path}", json=payload, headers=headers)
        assert resp.status_code in (200, 201), resp.text
        body = resp.json()
        if status == "disbursed":
            return body
    return body


async def loan_for(client: httpx.AsyncClient, who: Who, fakes: Fakes, **overrides: Any) -> dict[str, Any]:
    application = await submit(client, who, **overrides)
    return await advance(client, who, fakes, application, "disbursed")


async def move_date(client: httpx.AsyncClient, who: Who, day: str) -> dict[str, Any]:
    resp = await client.put("/v1/business-date", json={"business_date": day}, headers=who.admin())
    assert resp.status_code == 200, resp.text
    return resp.json()


async def events(client: httpx.AsyncClient, who: Who, after: str = "") -> list[dict[str, Any]]:
    resp = await client.get("/v1/loan-events", params={"after": after, "limit": 1000}, headers=who.service())
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


async def committed_events(client: httpx.AsyncClient, who: Who, *, at_least: int, after: str = "") -> dict[str, Any]:
    """A page of the log once ``at_least`` events are visible. With real commits an event becomes
    visible only when every transaction older than it has ended, anywhere on the server (other
    test databases share it), so the reader polls, as a consumer does."""
    for _ in range(400):
        resp = await client.get("/v1/loan-events", params={"after": after, "limit": 1000}, headers=who.service())
        assert resp.status_code == 200, resp.text
        page: dict[str, Any] = resp.json()
        if len(page["items"]) >= at_least:
            return page
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {at_least} events became visible: {page}")
