"""Test support: the fake applications service and a driver for this service's API."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import httpx

from kit.money import quantize_fen
from kit.testing import TokenFactory


@dataclass
class FakeApplications:
    """The applications service as far as this service calls it: the business date."""

    business_date: date = date(2027, 3, 1)
    status: int = 200
    calls: int = 0
    last_token: str | None = None

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            assert request.url.path == "/v1/business-date"
            self.calls += 1
            self.last_token = request.headers.get("authorization")
            if self.status != 200:
                return httpx.Response(self.status, json={"detail": "down"})
            return httpx.Response(200, json={"business_date": self.business_date.isoformat()})

        return httpx.MockTransport(handle)


COUNTY = "411224000000"
TOWNSHIP = "411224101000"
VILLAGE = "411224101001"
OTHER_TOWNSHIP = "411224102000"
OTHER_VILLAGE = "411224102001"


class World:
    """Drives the service through its HTTP API the way the other services and the offices would."""

    def __init__(self, client: httpx.AsyncClient, tokens: TokenFactory, applications: FakeApplications) -> None:
        self.client = client
        self.tokens = tokens
        self.applications = applications
        self.seq = 0

    # -- callers
    def internal(self) -> dict[str, str]:
        return self.tokens.headers("applications", kind="client", roles=["service"], scopes=["internal", "subsidy:read"])

    def county(self, region: str = COUNTY) -> dict[str, str]:
        return self.tokens.headers("county-office", roles=["county_officer"], scopes=["subsidy:read", "subsidy:write"], region=region)

    def township(self, region: str = TOWNSHIP) -> dict[str, str]:
        return self.tokens.headers("township-finance", roles=["township_officer"], scopes=["subsidy:read", "subsidy:write"], region=region)

    def finance_bureau(self) -> dict[str, str]:
        return self.tokens.headers("finance-bureau", roles=["finance_bureau"], scopes=["subsidy:read", "subsidy:write"])

    def monitor(self) -> dict[str, str]:
        return self.tokens.headers("monitor", roles=["monitor"], scopes=["subsidy:read"])

    def applicant(self, household_id: str) -> dict[str, str]:
        return self.tokens.headers(household_id, roles=["applicant"], scopes=["subsidy:read"], household_id=household_id, region=VILLAGE)

    def bank(self, bank_id: str = "RCC") -> dict[str, str]:
        return self.tokens.headers(bank_id, kind="client", roles=["bank"], scopes=["subsidy:read"], bank_id=bank_id)

    # -- plans
    async def plan(self, **overrides: object) -> dict:
        body = {
            "county_code": COUNTY, "year": 2026, "subsidy_rate": {"kind": "fixed", "rate": "0.0435"}, "day_basis": 365,
            "principal_cap": "50000.00", "period_start": "2026-01-01", "period_end": "2026-12-31", "total_fund": "1000000.00",
            "allocations": [{"township_code": TOWNSHIP, "loan_volume": "5000000.00"}],
        }
        body.update(overrides)
        resp = await self.client.post("/v1/subsidy-plans", json=body, headers=self.county())
        assert resp.status_code == 201, resp.text
        return resp.json()

    # -- loan events
    def common(self, *, household_id: str | None, principal: str, start: str, maturity: str, village: str = VILLAGE,
               rate: str = "0.0435", enterprise_id: str | None = None, driven: list[str] | None = None,
               registered_poor: bool = True, bank_id: str = "RCC") -> dict:
        return {
            "household_id": household_id, "enterprise_id": enterprise_id,
            "borrower_type": "enterprise" if enterprise_id else "household", "registered_poor": registered_poor,
            "village_code": village, "township_code": village[:9] + "000", "county_code": village[:6] + "000000",
            "bank_id": bank_id, "principal": principal, "annual_rate": rate, "start_date": start, "maturity_date": maturity,
            "industry": "畜牧", "driven_households": driven or [],
        }

    def event(self, loan_id: str, type_: str, business_date: str, common: dict, **extra: object) -> dict:
        self.seq += 1
        return {"seq": self.seq, "loan_id": loan_id, "type": type_, "business_date": business_date, "data": {**common, **extra}}

    async def send(self, *events: dict) -> dict:
        resp = await self.client.post("/v1/subsidy-events", json=list(events), headers=self.internal())
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def loan(self, loan_id: str, *, household_id: str | None = "H-1", principal: str = "50000.00", start: str = "2026-01-01",
                   years: int = 1, repay: bool = True, late_interest: int = 0, principal_late: bool = False,
                   **common_overrides: object) -> dict:
        """A loan disbursed at ``start`` with yearly due dates; each year repaid (on time unless told)."""
        begin = date.fromisoformat(start)
        dues = [begin.replace(year=begin.year + i) for i in range(1, years + 1)]
        common = self.common(household_id=household_id, principal=principal, start=start, maturity=dues[-1].isoformat(),
                             **common_overrides)  # type: ignore[arg-type]
        interest = str(quantize_fen(Decimal(principal) * Decimal("0.0435")))
        schedule = [
            {"loan_year": i + 1, "due_date": d.isoformat(), "interest_due": interest,
             "principal_due": principal if i + 1 == years else "0.00"}
            for i, d in enumerate(dues)
        ]
        events = [self.event(loan_id, "disbursed", start, common, term_months=12 * years, purpose="养牛", schedule=schedule)]
        if repay:
            for i, d in enumerate(dues):
                late_count = late_interest if i == 0 else 0
                half = quantize_fen(Decimal(interest) / 2)
                parts = [interest] if late_count <= 1 else [str(half), str(Decimal(interest) - half)]
                for k, amount in enumerate(parts):
                    events.append(self.event(
                        loan_id, "repayment_recorded", d.isoformat(), common, kind="interest", amount=amount, value_date=d.isoformat(),
                        due_date=d.isoformat(), loan_year=i + 1, late=k < late_count, bank_reference=f"{loan_id}-i{i}-{k}",
                        outstanding_principal=principal,
                    ))
                if i + 1 == years:
                    events.append(self.event(
                        loan_id, "repayment_recorded", d.isoformat(), common, kind="principal", amount=principal, value_date=d.isoformat(),
                        due_date=d.isoformat(), loan_year=i + 1, late=principal_late, bank_reference=f"{loan_id}-p", outstanding_principal="0.00",
                    ))
        await self.send(*events)
        return common

    # -- settlement
    async def settle(self, plan_id: int, township: str = TOWNSHIP, headers: dict[str, str] | None = None, **extra: object) -> httpx.Response:
        return await self.client.post(
            "/v1/settlements", json={"plan_id": plan_id, "township_code": township, **extra}, headers=headers or self.township()
        )

    async def batch(self, plan_id: int, **extra: object) -> dict:
        resp = await self.settle(plan_id, **extra)
        assert resp.status_code == 201, resp.text
        return resp.json()

    async def lines(self, batch_id: int) -> dict[str, dict]:
        resp = await self.client.get(f"/v1/settlements/{batch_id}/lines?limit=500", headers=self.monitor())
        assert resp.status_code == 200, resp.text
        return {f"{line['loan_id']}/{line['loan_year']}": line for line in resp.json()["items"]}

    async def approve_and_pay(self, batch: dict) -> dict:
        resp = await self.client.post(f"/v1/settlements/{batch['id']}/approve", headers=self.township())
        assert resp.status_code == 200, resp.text
        notices = await self.client.get(f"/v1/subsidy-notices?batch_id={batch['id']}&limit=500", headers=self.monitor())
        payments = [{"recipient_id": n["recipient_id"], "payment_reference": f"PAY-{n['recipient_id']}"} for n in notices.json()["items"]]
        resp = await self.client.post(
            f"/v1/settlements/{batch['id']}/pay", json={"paid_on": "2027-03-05", "payments": payments}, headers=self.township()
        )
        assert resp.status_code == 200, resp.text
        return resp.json()
