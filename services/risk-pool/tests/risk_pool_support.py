"""Test helpers shared by the risk-pool tests: actors' tokens, loan events, arrange steps over the API."""

from typing import Any

import httpx

from kit.testing import TokenFactory

READ = ["registry:read", "applications:read", "rating:read", "risk:read", "subsidy:read"]
LUSHI = "411224000000"
LUSHI_TOWNSHIP = "411224100000"
HUBIN = "411202000000"
CITY = "411200000000"


class Actors:
    """Tokens for each kind of caller, as the gateway would issue them."""

    def __init__(self, tokens: TokenFactory) -> None:
        self.t = tokens
        self.finance = tokens.headers("finance", roles=["finance_bureau"], scopes=[*READ, "risk:write", "subsidy:write"])
        self.county_officer = tokens.headers("lushi-officer", roles=["county_officer"], region=LUSHI,
                                             scopes=[*READ, "registry:write", "applications:write", "rating:write", "risk:write",
                                                     "subsidy:write", "policy:write"])
        self.hubin_officer = tokens.headers("hubin-officer", roles=["county_officer"], region=HUBIN,
                                            scopes=[*READ, "risk:write", "policy:write"])
        self.township_officer = tokens.headers("twp", roles=["township_officer"], region=LUSHI_TOWNSHIP,
                                               scopes=[*READ, "applications:write", "rating:write", "subsidy:write"])
        self.bank = self.bank_of("RCC")
        self.other_bank = self.bank_of("PSBC")
        self.service = tokens.headers("applications", kind="client", roles=["service"], scopes=[*READ, "internal"])
        self.monitor = tokens.headers("pboc", roles=["monitor"], scopes=READ)
        self.applicant = tokens.headers("hh", roles=["applicant"], household_id="H-1", region="411224100201",
                                        scopes=["applications:read", "applications:write", "rating:read", "subsidy:read"])
        self.admin = tokens.headers("root", roles=["admin"], scopes=[*READ, "risk:write", "internal", "admin"])

    def bank_of(self, bank_id: str) -> dict[str, str]:
        return self.t.headers(f"bank-{bank_id}", kind="client", roles=["bank"], bank_id=bank_id,
                              scopes=["applications:read", "applications:write", "rating:read", "risk:read", "risk:write", "subsidy:read"])

    def party(self, account: str, role: str = "guarantor") -> dict[str, str]:
        return self.t.headers(account, kind="client", roles=[role], scopes=["risk:read", "risk:write"])




LUSHI_HOUSEHOLD_SHARES = [
    {"party": "government", "share": "0.20"}, {"party": "bank", "share": "0.10"},
    {"party": "guarantor", "share": "0.50", "party_account": "henan-agri-credit-guarantee"},
    {"party": "reguarantor", "share": "0.20", "party_account": "henan-reguarantee-group"},
]


def scheme_body(county: str = LUSHI, borrower_type: str = "household", shares: list[dict[str, Any]] | None = None,
                **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"{county} {borrower_type}", "county_code": county, "borrower_type": borrower_type, "effective_from": "2020-01-01",
        "shares": shares or LUSHI_HOUSEHOLD_SHARES, "covered_principal_cap": "50000.00" if borrower_type == "household" else None,
        "leverage": "10", "claim_trigger_days": 90, "guarantee_fee_rate": "0", "fee_day_basis": 360,
    }
    body.update(overrides)
    return body


def event(seq: int, loan_id: str, type_: str, business_date: str, *, village: str = "411224100201", bank_id: str = "RCC",
          principal: str = "50000.00", borrower_type: str = "household", registered_poor: bool = True,
          household_id: str | None = None, **data: Any) -> dict[str, Any]:
    """A loan event in the shared contract's shape."""
    common = {
        "household_id": (household_id or f"H-{loan_id}") if borrower_type == "household" else None,
        "enterprise_id": None if borrower_type == "household" else f"E-{loan_id}",
        "borrower_type": borrower_type, "registered_poor": registered_poor,
        "village_code": village, "township_code": village[:9] + "000", "county_code": village[:6] + "000000",
        "bank_id": bank_id, "principal": principal, "annual_rate": "0.043500", "start_date": "2021-01-10",
        "maturity_date": "2024-01-10", "industry": "茶", "driven_households": [] if borrower_type == "household" else ["H-9", "H-10"],
    }
    return {"seq": seq, "loan_id": loan_id, "type": type_, "business_date": business_date, "data": {**common, **data}}


class World:
    """Arrange helpers over the API, each asserting its own success."""

    def __init__(self, client: httpx.AsyncClient, actors: Actors) -> None:
        self.c = client
        self.a = actors
        self.seq = 0

    async def fund(self, code: str = "lushi", region: str = LUSHI, deposit: str | None = "1000000.00", level: str = "county") -> dict[str, Any]:
        resp = await self.c.post("/v1/funds", json={"code": code, "name": code, "level": level, "region_code": region}, headers=self.a.finance)
        assert resp.status_code == 201, resp.text
        if deposit:
            await self.deposit(code, deposit)
        return resp.json()

    async def deposit(self, code: str, amount: str) -> dict[str, Any]:
        resp = await self.c.post(f"/v1/funds/{code}/deposits", json={"amount": amount, "memo": "财政注资"}, headers=self.a.finance)
        assert resp.status_code == 201, resp.text
        return resp.json()

    async def withdraw_to(self, code: str, balance: str) -> None:
        """Leave ``balance`` in the fund (cover granted earlier stays granted)."""
        current = (await self.c.get(f"/v1/funds/{code}", headers=self.a.finance)).json()["balance"]
        amount = f"{float(current) - float(balance):.2f}"
        resp = await self.c.post(f"/v1/funds/{code}/withdrawals", json={"amount": amount}, headers=self.a.finance)
        assert resp.status_code == 201, resp.text

    async def scheme(self, **kwargs: Any) -> dict[str, Any]:
        resp = await self.c.post("/v1/sharing-schemes", json=scheme_body(**kwargs), headers=self.a.finance)
        assert resp.status_code == 201, resp.text
        return resp.json()

    async def events(self, *events: dict[str, Any]) -> dict[str, Any]:
        resp = await self.c.post("/v1/risk-events", json=list(events), headers=self.a.service)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    async def loan(self, loan_id: str, **kwargs: Any) -> dict[str, Any]:
        return await self.events(event(self.next_seq(), loan_id, "disbursed", "2021-01-10", **kwargs))

    async def default(self, loan_id: str, *, outstanding: str = "50000.00", interest: str = "2175.00", on: str = "2022-04-15",
                      **kwargs: Any) -> dict[str, Any]:
        return await self.events(event(self.next_seq(), loan_id, "defaulted", on, days_past_due=95, default_date=on,
                                       outstanding_principal=outstanding, unpaid_interest=interest, overdue_principal=outstanding,
                                       **kwargs))

    async def defaulted_loan(self, loan_id: str, *, principal: str = "50000.00", interest: str = "2175.00", **kwargs: Any) -> None:
        await self.loan(loan_id, principal=principal, **kwargs)
        await self.default(loan_id, outstanding=principal, interest=interest, **kwargs)

    async def claim(self, loan_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.c.post("/v1/claims", json={"loan_id": loan_id}, headers=headers or self.a.bank)
