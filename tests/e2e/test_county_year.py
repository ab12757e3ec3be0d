"""One county year of 扶贫小额信贷, through the gateway only, on the real processes.

卢氏县 (411224): the registry is imported, households are rated, four applications go through the
whole chain at two banks, loans are disbursed and repaid (one late, one repayment sent twice), the
business date moves through the year, the township settles the interest subsidy, one loan defaults
and its loss is claimed and split, a recovery comes back, the village breaker (熔断) trips and is
reinstated. Every figure is asserted to the fen, and every money-moving call is sent twice.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from kit.identifiers import mask_resident_id

if TYPE_CHECKING:
    from platform_support import Platform

COUNTY, TOWNSHIP, VILLAGE = "411224000000", "411224100000", "411224100201"
OFFICERS = ("county-officer", "township-officer", "village-secretary")


def resident_id(serial: int, born: str = "19800501") -> str:
    body = f"411224{born}{serial:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def eventually(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """The consumers apply loan events in the background: wait until ``check`` gives a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.3)


class Receiver:
    """A bank's webhook endpoint on this machine."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received if json.loads(body)["type"] == event_type]


OPEN: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


class Api:
    """Calls through the gateway as one account."""

    def __init__(self, platform: Platform, name: str, secret: str, grant: str = "client_credentials") -> None:
        self.http = httpx.Client(base_url=platform.gateway, headers={"Authorization": f"Bearer {platform.token(name, secret, grant)}"}, timeout=60)
        OPEN.append(self.http)
        self.name = name

    def call(self, method: str, path: str, expect: int | tuple[int, ...] = (200, 201), **kwargs: Any) -> httpx.Response:
        resp = self.http.request(method, path, **kwargs)
        wanted = (expect,) if isinstance(expect, int) else expect
        assert resp.status_code in wanted, f"{self.name}: {method} {path} → {resp.status_code} {resp.text[:800]}"
        return resp

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs).json()

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.call("POST", path, json=body, **kwargs).json()

    def money(self, path: str, body: Any, key: str, expect: int | tuple[int, ...] = (200, 201)) -> Any:
        """A money-moving POST, sent twice with the same Idempotency-Key: the second is a replay."""
        first = self.call("POST", path, json=body, headers={"Idempotency-Key": key}, expect=expect)
        again = self.call("POST", path, json=body, headers={"Idempotency-Key": key}, expect=first.status_code)
        assert again.json() == first.json() and again.headers.get("idempotent-replayed") == "true", path
        return first.json()


def best_answers(definition: dict[str, Any]) -> dict[str, Any]:
    """Answers that earn every base and bonus point and trigger no deduction or veto."""
    values: dict[str, Any] = {}
    for ind in definition["indicators"]:
        kind, vtype = ind["kind"], ind["value_type"]
        if vtype == "yes_no":
            if kind == "veto":
                values[ind["code"]] = not ind.get("veto_when", True)
            else:
                pts = ind["points"]
                values[ind["code"]] = (pts["yes"] >= pts["no"]) if kind != "deduction" else (pts["yes"] < pts["no"])
        elif vtype == "choice":
            pick = max if kind != "deduction" else min
            values[ind["code"]] = pick(ind["options"], key=lambda o: o["points"])["value"]
        else:
            pick = max if kind != "deduction" else min
            band = pick(ind["bands"], key=lambda b: b["points"])
            values[ind["code"]] = band["min"]
    return values


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_a_county_year(platform: Platform, receiver: Receiver) -> None:
    admin = Api(platform, "admin", "admin-dev-only", "password")
    county, township, village = (Api(platform, n, "demo-password", "password") for n in OFFICERS)
    rcc, psbc = Api(platform, "bank-rcc", "bank-rcc-secret"), Api(platform, "bank-psbc", "bank-psbc-secret")
    finance = Api(platform, "finance-bureau", "finance-bureau-secret")
    guarantor = Api(platform, "henan-agri-credit-guarantee", "henan-agri-credit-guarantee-secret")
    monitor = Api(platform, "monitor-demo", "monitor-demo-secret")

    d0 = date.fromisoformat(admin.get("/v1/business-date")["business_date"])
    d1 = d0.replace(year=d0.year + 1)  # first anniversary: interest and principal due (1年1还)

    def move_to(day: date) -> None:
        admin.call("PUT", "/v1/business-date", json={"business_date": day.isoformat()})

    # -- 建档立卡: the registry ---------------------------------------------------------------
    regions = f"code,name\n{COUNTY},卢氏县\n{TOWNSHIP},东明镇\n{VILLAGE},东明村\n"
    report = admin.call("POST", "/v1/regions/import", content=regions.encode(), headers={"content-type": "text/csv"}).json()
    assert report["invalid"] == 0, report
    heads = {f"LS-{i}": resident_id(i) for i in range(1, 5)}
    rows = [
        {
            "household_id": hid, "head_resident_id": rid, "head_name": f"户主{i}", "village_code": VILLAGE,
            "household_type": "一般贫困户", "main_cause": "缺资金", "secondary_causes": ["缺技术"], "status": "poor",
            "members": [{"name": f"户主{i}", "relation": "head", "birth_date": "1980-05-01", "labour_capacity": "full"}],
        }
        for i, (hid, rid) in enumerate(heads.items(), start=1)
    ]
    body = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
    for expected in ("inserted", "unchanged"):  # a re-import of the same file changes nothing
        report = admin.call("POST", "/v1/households/import", content=body, headers={"content-type": "application/x-ndjson"}).json()
        assert report[expected] == 4 and report["invalid"] == 0, report
    shown = village.get("/v1/households/LS-1")
    assert shown["head_resident_id"] == mask_resident_id(heads["LS-1"])
    assert heads["LS-1"] not in json.dumps(village.get("/v1/households", params={"region": VILLAGE}))

    # -- 三好三强 / 四个一: every household rated by its village --------------------------------------
    card = village.get("/v1/scorecards/1")
    answers = best_answers(card["definition"])
    for hid in heads:
        rated = village.post("/v1/assessments", {"household_id": hid, "village_code": VILLAGE, "values": answers})
        assert rated["grade"] == "AAA" and rated["credit_line"] == "50000.00", rated
    assert rcc.get("/v1/ratings/LS-4")["eligible_to_borrow"] is True

    # -- the pool and the subsidy plan are funded ----------------------------------------------------
    finance.post("/v1/funds", {"code": "lushi", "name": "卢氏县风险补偿金", "level": "county", "region_code": COUNTY})
    finance.money("/v1/funds/lushi/deposits", {"amount": "1000000.00", "memo": "财政注资", "reference": "CZ-2026-001"}, "deposit-1")
    scheme = {
        "name": "卢氏县 贫困户 20/10/50/20", "county_code": COUNTY, "borrower_type": "household", "effective_from": "2017-01-01",
        "covered_principal_cap": "50000.00", "leverage": "10", "claim_trigger_days": 90,
        "shares": [
            {"party": "government", "share": "0.20"}, {"party": "bank", "share": "0.10"},
            {"party": "guarantor", "share": "0.50", "party_account": "henan-agri-credit-guarantee"},
            {"party": "reguarantor", "share": "0.20", "party_account": "henan-reguarantee-group"},
        ],
    }
    county.post("/v1/sharing-schemes", scheme)
    year = d1.year
    plan = county.post("/v1/subsidy-plans", {
        "county_code": COUNTY, "year": year, "name": f"{year}年贴息计划", "subsidy_rate": {"kind": "fixed", "rate": "0.0435"},
        "day_basis": 365, "principal_cap": "50000.00", "period_start": f"{year}-01-01", "period_end": f"{year}-12-31",
        "total_fund": "100000.00", "allocations": [{"township_code": TOWNSHIP, "loan_volume": "1000000.00"}],
    })
    rcc.call("PUT", "/v1/webhooks/endpoint", json={"url": receiver.url})

    # -- applications through the whole chain, at two banks ----------------------------------------
    plans = {"LS-1": ("RCC", "50000.00"), "LS-2": ("PSBC", "30000.00"), "LS-3": ("RCC", "50000.00"), "LS-4": ("RCC", "40000.00")}
    banks = {"RCC": rcc, "PSBC": psbc}
    loans: dict[str, str] = {}
    for hid, (bank_id, amount) in plans.items():
        app = village.post("/v1/applications", {"household_id": hid, "amount": amount, "term_months": 12, "purpose": "planting",
                                                "industry": "tea", "project": "茶园扩种"})
        aid = app["application_id"]
        village.post(f"/v1/applications/{aid}/attestation", {"village_secretary": "张支书", "resident_secretary": "李书记", "credit_officer": "王信贷员"})
        early = banks[bank_id].call("POST", f"/v1/applications/{aid}/approval", json={"annual_rate": "0.0435"}, expect=(403, 404, 409))
        assert early.status_code in (403, 404, 409)  # a bank decision before county confirmation is refused
        township.post(f"/v1/applications/{aid}/review", {"note": "审核通过"})
        county.post(f"/v1/applications/{aid}/confirmation", {"note": "县级确认"})
        county.post(f"/v1/applications/{aid}/recommendation", {"bank_id": bank_id})
        banks[bank_id].post(f"/v1/applications/{aid}/approval", {"annual_rate": "0.0435"})
        loan = banks[bank_id].money(f"/v1/applications/{aid}/disbursement", {"start_date": d0.isoformat()}, f"disburse-{hid}")
        loans[hid] = loan["loan_id"]
        assert Decimal(loan["principal"]) == Decimal(amount)
    assert {a["bank_id"] for a in psbc.get("/v1/loans")["items"]} == {"PSBC"}  # a bank sees only its own
    psbc.call("GET", f"/v1/loans/{loans['LS-1']}", expect=(403, 404))

    # the other services learn of the loans from the event log
    eventually(lambda: all(rcc.call("GET", f"/v1/exposures/loans/{loans[h]}", expect=(200, 404)).status_code == 200 for h in ("LS-1", "LS-3", "LS-4")),
               "risk-pool to see the loans")
    eventually(lambda: county.get("/v1/subsidy-accounts").get("items") and len(county.get("/v1/subsidy-accounts")["items"]) == 4,
               "subsidy accounts for the four loans")
    eventually(lambda: len(receiver.of_type("application.recommended")) == 3, "RCC's three application.recommended webhooks")

    # -- the first anniversary: repayments, one sent twice, one late, one never -----------------------
    move_to(d1)
    for hid, principal, interest in (("LS-1", "50000.00", "2175.00"), ("LS-2", "30000.00", "1305.00")):
        bank = banks[plans[hid][0]]
        paid = bank.money(f"/v1/loans/{loans[hid]}/repayments",
                          {"kind": "interest", "amount": interest, "value_date": d1.isoformat(), "bank_reference": f"{hid}-I1"}, f"repay-{hid}-i")
        assert paid["late"] is False
        # the bank's core system sends the same repayment again, without the key: recorded once
        dup = bank.call("POST", f"/v1/loans/{loans[hid]}/repayments",
                        json={"kind": "interest", "amount": interest, "value_date": d1.isoformat(), "bank_reference": f"{hid}-I1"},
                        headers={"Idempotency-Key": f"other-key-{hid}"})
        assert dup.json()["repayment_id"] == paid["repayment_id"]
        bank.money(f"/v1/loans/{loans[hid]}/repayments",
                   {"kind": "principal", "amount": principal, "value_date": d1.isoformat(), "bank_reference": f"{hid}-P1"}, f"repay-{hid}-p")
        assert bank.get(f"/v1/loans/{loans[hid]}")["status"] == "closed"
    late_day = d1 + timedelta(days=14)
    move_to(late_day)
    assert rcc.get(f"/v1/loans/{loans['LS-3']}")["status"] == "overdue"
    rcc.money(f"/v1/loans/{loans['LS-3']}/repayments",
              {"kind": "interest", "amount": "2175.00", "value_date": late_day.isoformat(), "bank_reference": "LS-3-I1"}, "repay-LS-3-i")
    rcc.money(f"/v1/loans/{loans['LS-3']}/repayments",
              {"kind": "principal", "amount": "50000.00", "value_date": late_day.isoformat(), "bank_reference": "LS-3-P1"}, "repay-LS-3-p")
    closed = rcc.call("POST", f"/v1/loans/{loans['LS-3']}/repayments", expect=409, headers={"Idempotency-Key": "after-close"},
                      json={"kind": "interest", "amount": "1.00", "value_date": late_day.isoformat(), "bank_reference": "LS-3-X"})
    assert "closed" in closed.text

    # -- 贴息: the township settles the year after it ends ----------------------------------------
    move_to(date(year + 1, 1, 5))
    repaid = {"LS-1": "50000.00", "LS-2": "30000.00", "LS-3": "50000.00", "LS-4": "0.00"}
    eventually(lambda: all(county.get(f"/v1/subsidy-accounts/{loans[h]}")["principal_repaid"] == repaid[h] for h in loans),
               "the subsidy accounts to hold every repayment")
    batch = township.post("/v1/settlements", {"plan_id": plan["plan_id"] if "plan_id" in plan else plan["id"], "township_code": TOWNSHIP})
    batch_id = batch.get("batch_id", batch.get("id"))
    lines = {line["loan_id"]: line for line in township.get(f"/v1/settlements/{batch_id}/lines")["items"]}
    granted = {hid: Decimal(lines[loans[hid]]["granted_amount"]) if loans[hid] in lines else Decimal(0) for hid in loans}
    # LS-3's principal was overdue (repaid 14 days late): its year is lost (policy §5); LS-4 never repaid
    assert granted == {"LS-1": Decimal("2175.00"), "LS-2": Decimal("1305.00"), "LS-3": Decimal("0"), "LS-4": Decimal("0")}, lines
    township.post(f"/v1/settlements/{batch_id}/approve")
    batch = township.get(f"/v1/settlements/{batch_id}")
    recipients = {line["recipient_id"] for line in lines.values() if Decimal(line["granted_amount"]) > 0}
    payments = [{"recipient_id": r, "payment_reference": f"PAY-{r}"} for r in sorted(recipients)]
    township.money(f"/v1/settlements/{batch_id}/pay", {"paid_on": date(year + 1, 1, 5).isoformat(), "payments": payments}, f"pay-{batch_id}")
    assert Decimal(county.get(f"/v1/subsidy-plans/{plan.get('plan_id', plan.get('id'))}")["fund_paid"]) == Decimal("3480.00")
    eventually(lambda: receiver.of_type("subsidy.paid"), "RCC's subsidy.paid webhook")

    # -- default, claim, split to the fen ---------------------------------------------------------
    default_day = d1 + timedelta(days=91)
    move_to(default_day)
    assert rcc.get(f"/v1/loans/{loans['LS-4']}")["status"] == "defaulted"
    eventually(lambda: rcc.get(f"/v1/exposures/loans/{loans['LS-4']}").get("status") == "defaulted", "risk-pool to see the default")
    claim = rcc.money("/v1/claims", {"loan_id": loans["LS-4"]}, "claim-LS-4")
    # loss = unpaid covered principal 40,000.00 + normal interest 40,000.00 × 4.35% = 1,740.00
    assert Decimal(claim["loss"]) == Decimal("41740.00")
    parts = {p["party"]: Decimal(p["amount"]) for p in claim["parts"]}
    assert parts == {"government": Decimal("8348.00"), "bank": Decimal("4174.00"), "guarantor": Decimal("20870.00"), "reguarantor": Decimal("8348.00")}
    second = rcc.call("POST", "/v1/claims", json={"loan_id": loans["LS-4"]}, headers={"Idempotency-Key": "claim-LS-4-again"}, expect=409)
    assert str(claim["id"] if "id" in claim else claim["claim_id"]) in second.text
    claim_id = claim.get("id", claim.get("claim_id"))
    assert Decimal(finance.get("/v1/funds/lushi")["balance"]) == Decimal("991652.00")
    obligation = next(o for o in guarantor.get("/v1/obligations")["items"] if str(o["claim_id"]) == str(claim_id))
    guarantor.money(f"/v1/obligations/{obligation['id']}/settlement", {"reference": "DB-2028-001"}, "settle-guarantor")
    eventually(lambda: receiver.of_type("claim.settled"), "RCC's claim.settled webhook")

    # -- 追偿: a recovery goes back in the claim's proportions ----------------------------------------
    recovery = rcc.money(f"/v1/claims/{claim_id}/recoveries", {"amount": "10000.00", "reference": "ZC-001"}, "recover-1")
    back = {p["party"]: Decimal(p["amount"]) for p in recovery["parts"]}
    assert back == {"government": Decimal("2000.00"), "bank": Decimal("1000.00"), "guarantor": Decimal("5000.00"), "reguarantor": Decimal("2000.00")}
    assert Decimal(finance.get("/v1/funds/lushi")["balance"]) == Decimal("993652.00")

    # -- 熔断: the village stops lending, then is reinstated ---------------------------------------------
    status = eventually(lambda: (s := county.get(f"/v1/lending-status/{VILLAGE}")) and not s["may_lend"] and s, "the village breaker to trip")
    assert status["village_state"] == "broken"
    refused = county.call("POST", f"/v1/breakers/villages/{VILLAGE}/reinstatements", json={"reason": "清收完成"}, expect=(409, 422))
    assert refused.status_code in (409, 422)  # the ratio is still above the threshold
    rcc.money(f"/v1/loans/{loans['LS-4']}/write-off", {}, "write-off-LS-4")
    eventually(lambda: rcc.get(f"/v1/exposures/loans/{loans['LS-4']}").get("status") in ("written_off", "closed"), "risk-pool to see the write-off")
    county.post(f"/v1/breakers/villages/{VILLAGE}/reinstatements", {"reason": "不良贷款已核销，恢复放贷"})
    if county.get(f"/v1/lending-status/{VILLAGE}")["township_state"] == "broken":
        county.post(f"/v1/breakers/townships/{TOWNSHIP}/reinstatements", {"reason": "村级熔断已解除"})
    assert county.get(f"/v1/lending-status/{VILLAGE}")["may_lend"] is True

    # -- 失信严惩: the default reached the household's rating ---------------------------------------
    rating = eventually(lambda: (r := rcc.get("/v1/ratings/LS-4")) and r["penalties"] and r, "the default to reach the rating")
    assert rating["score"] == rating["assessed_score"] - 20

    # -- figures for the dashboards and the departments -------------------------------------------------
    overview = monitor.get("/v1/overview", params={"region": COUNTY})
    assert overview["unavailable"] == [], overview
    exported = monitor.call("GET", "/v1/loans/export", params={"region": COUNTY, "format": "ndjson"}).text.strip().splitlines()
    assert sorted(json.loads(line)["loan_id"] for line in exported) == sorted(loans.values())
    deliveries = rcc.get("/v1/webhooks/deliveries")["items"]
    assert deliveries and all(d["status"] == "delivered" for d in deliveries)
