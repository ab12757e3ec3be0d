"""Security suites over the real processes (the session ``platform`` fixture of tests/conftest.py).

``world`` builds a small registry through the API once per session: 卢氏县 with two townships and
three villages, three households (one with a real-shaped resident ID), an applicant account of our
own, and one loan of bank RCC that went through the whole approval chain."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from stdnum.cn import ric

if TYPE_CHECKING:
    from platform_support import Platform

COUNTY, TOWNSHIP, OTHER_TOWNSHIP = "411224000000", "411224100000", "411224101000"
VILLAGE, VILLAGE_2, OTHER_VILLAGE = "411224100201", "411224100202", "411224101001"

# The demo accounts of the README (development seeding), and how each one gets its token.
ACCOUNTS: dict[str, tuple[str, str]] = {
    "admin": ("admin-dev-only", "password"),
    "county-officer": ("demo-password", "password"),
    "township-officer": ("demo-password", "password"),
    "village-secretary": ("demo-password", "password"),
    "applicant-demo": ("demo-password", "password"),
    "bank-rcc": ("bank-rcc-secret", "client_credentials"),
    "bank-psbc": ("bank-psbc-secret", "client_credentials"),
    "finance-bureau": ("finance-bureau-secret", "client_credentials"),
    "insurer-poverty-loan": ("insurer-poverty-loan-secret", "client_credentials"),
    "monitor-demo": ("monitor-demo-secret", "client_credentials"),
    "svc-risk-pool": ("svc-risk-pool-secret", "client_credentials"),
}


def resident_id(birth: str, serial: int) -> str:
    """A real-shaped 18-character resident ID of 卢氏县 (area 411224) with a valid check digit."""
    body = f"411224{birth.replace('-', '')}{serial:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum ignores the last character given


@dataclass
class Caller:
    """Tokens of every demo account, fetched once; ``h(name)`` gives its headers."""

    platform: Platform
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, name: str) -> str:
        if name not in self.tokens:
            secret, grant = ACCOUNTS[name]
            self.tokens[name] = self.platform.token(name, secret, grant)
        return self.tokens[name]

    def h(self, name: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(name)}", **extra}


@pytest.fixture(scope="session")
def caller(platform: Platform) -> Caller:
    return Caller(platform)


@dataclass(frozen=True)
class World:
    run: str
    household: str  # in VILLAGE, the applicant's own, with a loan of RCC
    household_2: str  # in VILLAGE_2 (same township)
    household_other: str  # in OTHER_VILLAGE (other township)
    raw_resident_id: str  # the head of ``household``
    applicant: str  # our own applicant account (owns ``household``)
    applicant_secret: str
    application_id: str
    loan_id: str


def good_answers(definition: dict[str, Any]) -> dict[str, Any]:
    """Every indicator of a scorecard answered the way that scores highest and vetoes nothing."""
    values: dict[str, Any] = {}
    for ind in definition["indicators"]:
        kind, vtype = ind["kind"], ind["value_type"]
        if vtype == "yes_no":
            if kind == "veto":
                values[ind["code"]] = not ind.get("veto_when", True)
            else:
                values[ind["code"]] = kind != "deduction"
        elif vtype == "choice":
            best = max(ind["options"], key=lambda o: o["points"] * (-1 if kind == "deduction" else 1))
            values[ind["code"]] = best["value"]
        elif vtype == "number":
            band = max(ind["bands"], key=lambda b: b["points"] * (-1 if kind == "deduction" else 1))
            values[ind["code"]] = float(band["min"]) if "min" in band else 0
    return values


def _ok(resp: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert resp.status_code in (statuses or (200, 201)), f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
    return dict(resp.json())


def household_row(household_id: str, head_id: str, birth: str, village: str) -> dict[str, Any]:
    return {
        "household_id": household_id,
        "head_resident_id": head_id,
        "head_name": f"户主{household_id[-4:]}",
        "village_code": village,
        "household_type": "一般贫困户",
        "main_cause": "缺资金",
        "secondary_causes": ["缺技术"],
        "members": [{"name": f"户主{household_id[-4:]}", "relation": "head", "birth_date": birth, "labour_capacity": "full"}],
        "status": "poor",
        "identification": {
            "applied_on": "2025-09-01",
            "democratic_vote_on": "2025-09-05",
            "village_notice_on": "2025-09-06",
            "township_notice_on": "2025-09-13",
            "county_announcement_on": "2025-09-20",
        },
    }


@pytest.fixture(scope="session")
def world(platform: Platform, caller: Caller) -> World:
    gw, h = platform.gateway, caller.h
    run = uuid.uuid4().hex[:6].upper()
    client = httpx.Client(base_url=gw, timeout=30)
    regions = f"code,name\n{COUNTY},卢氏县\n{TOWNSHIP},城关镇\n{OTHER_TOWNSHIP},东明镇\n{VILLAGE},东门村\n{VILLAGE_2},西门村\n{OTHER_VILLAGE},东明村\n"
    report = _ok(client.post("/v1/regions/import", content=regions.encode(), headers=h("admin", **{"content-type": "text/csv"})))
    assert report["invalid"] == 0, report
    birth = "1984-06-15"
    serials = random.sample(range(100, 999), 3)
    ids = {f"HH-PROOF-{run}-{n}": resident_id(birth, s) for n, s in zip(("A", "B", "C"), serials, strict=True)}
    (hh_a, raw_a), (hh_b, raw_b), (hh_c, raw_c) = ids.items()
    rows = [household_row(hh_a, raw_a, birth, VILLAGE), household_row(hh_b, raw_b, birth, VILLAGE_2), household_row(hh_c, raw_c, birth, OTHER_VILLAGE)]
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    report = _ok(client.post("/v1/households/import", content=body, headers=h("admin", **{"content-type": "application/x-ndjson"})))
    assert report["inserted"] == 3, report

    applicant, secret = f"proof-applicant-{run.lower()}", "proof-applicant-secret"
    _ok(
        client.post(
            "/v1/admin/accounts",
            json={"kind": "user", "name": applicant, "secret": secret, "roles": ["applicant"], "household_id": hh_a},
            headers=h("admin"),
        )
    )
    applicant_h = {"Authorization": f"Bearer {platform.token(applicant, secret, 'password')}"}

    # A rating for the household, so the county may recommend it to a bank.
    scorecard = _ok(client.get("/v1/scorecards/active", params={"county_code": COUNTY}, headers=h("admin")))
    _ok(
        client.post(
            "/v1/assessments",
            json={"household_id": hh_a, "village_code": VILLAGE, "values": good_answers(scorecard["definition"])},
            headers=h("village-secretary"),
        )
    )
    app = _ok(
        client.post(
            "/v1/applications",
            json={"household_id": hh_a, "amount": "10000.00", "term_months": 12, "purpose": "breeding", "industry": "livestock", "project": "养羊"},
            headers=applicant_h,
        )
    )
    app_id = app["application_id"]
    steps = [
        ("attestation", "village-secretary", {"village_secretary": "王书记", "resident_secretary": "李书记", "credit_officer": "赵信贷员"}),
        ("review", "township-officer", {"note": "ok"}),
        ("confirmation", "county-officer", {"note": "ok"}),
        ("recommendation", "county-officer", {"bank_id": "RCC"}),
        ("approval", "bank-rcc", {"annual_rate": "0.0435"}),
        ("disbursement", "bank-rcc", {}),
    ]
    loan: dict[str, Any] = {}
    for step, who, payload in steps:
        # Disbursement moves money: the gateway wants an Idempotency-Key (harmless on the other steps).
        loan = _ok(client.post(f"/v1/applications/{app_id}/{step}", json=payload, headers=h(who, **{"Idempotency-Key": uuid.uuid4().hex})))
    client.close()
    return World(run, hh_a, hh_b, hh_c, raw_a, applicant, secret, app_id, str(loan["loan_id"]))
