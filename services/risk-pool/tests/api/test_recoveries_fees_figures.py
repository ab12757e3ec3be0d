"""Recoveries (追偿), guarantee fees (担保费) and the figures."""

import httpx
from risk_pool_support import LUSHI_HOUSEHOLD_SHARES, World, event

GUARANTOR = "henan-agri-credit-guarantee"


async def _paid_claim(world: World, loan: str = "L-1") -> dict:
    await world.fund()
    await world.scheme()
    await world.defaulted_loan(loan)
    claim = (await world.claim(loan)).json()
    assert claim["status"] == "paid"
    return claim


async def test_recoveries_go_back_to_the_parties_in_the_claims_proportions(world: World, client: httpx.AsyncClient) -> None:
    claim = await _paid_claim(world)
    before = (await client.get("/v1/funds/lushi", headers=world.a.finance)).json()["balance"]

    resp = await client.post(f"/v1/claims/{claim['id']}/recoveries", json={"amount": "10000.00", "reference": "追偿-1"},
                             headers=world.a.bank)

    assert resp.status_code == 201, resp.text
    parts = {p["party"]: p["amount"] for p in resp.json()["parts"]}
    assert parts == {"government": "2000.00", "bank": "1000.00", "guarantor": "5000.00", "reguarantor": "2000.00"}
    assert resp.json()["claim_outstanding_loss"] == "42175.00"
    after = (await client.get("/v1/funds/lushi", headers=world.a.finance)).json()["balance"]
    assert float(after) - float(before) == 2000.00  # the government's part returns to the fund


async def test_a_recovery_completing_the_loss_returns_exactly_what_each_party_has_left(world: World, client: httpx.AsyncClient) -> None:
    claim = await _paid_claim(world)
    url = f"/v1/claims/{claim['id']}/recoveries"
    first = (await client.post(url, json={"amount": "0.03", "reference": "r1"}, headers=world.a.bank)).json()
    assert [p["amount"] for p in first["parts"]] == ["0.01", "0.00", "0.01", "0.01"]  # .6 .3 1.5 .6 fen: largest remainders

    last = await client.post(url, json={"amount": "52174.97", "reference": "r2"}, headers=world.a.bank)

    assert last.status_code == 201, last.text
    assert [p["amount"] for p in last.json()["parts"]] == ["10434.99", "5217.50", "26087.49", "10434.99"]
    recovered = {p["party"]: p["recovered"] for p in (await client.get(f"/v1/claims/{claim['id']}", headers=world.a.bank)).json()["parts"]}
    assert recovered == {"government": "10435.00", "bank": "5217.50", "guarantor": "26087.50", "reguarantor": "10435.00"}


async def test_a_recovery_larger_than_the_outstanding_loss_is_422(world: World, client: httpx.AsyncClient) -> None:
    claim = await _paid_claim(world)

    resp = await client.post(f"/v1/claims/{claim['id']}/recoveries", json={"amount": "52175.01", "reference": "r"}, headers=world.a.bank)

    assert resp.status_code == 422
    assert resp.json()["outstanding_loss"] == "52175.00"


async def test_recoveries_are_the_claiming_banks_and_once_per_reference(world: World, client: httpx.AsyncClient) -> None:
    claim = await _paid_claim(world)
    url = f"/v1/claims/{claim['id']}/recoveries"
    assert (await client.post(url, json={"amount": "1.00", "reference": "r"}, headers=world.a.other_bank)).status_code == 403
    assert (await client.post(url, json={"amount": "1.00", "reference": "r"}, headers=world.a.bank)).status_code == 201
    assert (await client.post(url, json={"amount": "1.00", "reference": "r"}, headers=world.a.bank)).status_code == 409
    listed = (await client.get(url, headers=world.a.county_officer)).json()
    assert [r["reference"] for r in listed] == ["r"]


async def test_guarantee_fees_accrue_on_outstanding_principal_and_are_billed_to_the_fen(world: World, client: httpx.AsyncClient) -> None:
    await world.fund(deposit="1000000.00")
    await world.scheme(borrower_type="enterprise", guarantee_fee_rate="0.01")
    await world.events(event(1, "E-1", "disbursed", "2021-01-10", borrower_type="enterprise", principal="400000.00", registered_poor=False),
                       event(2, "E-1", "repayment_recorded", "2021-07-10", borrower_type="enterprise", principal="400000.00",
                             registered_poor=False, kind="principal", amount="200000.00", outstanding_principal="200000.00"))
    guarantor = world.a.party(GUARANTOR)
    early = await client.post("/v1/guarantee-fees/billings", json={"county_code": "411224000000", "period_end": "2022-01-10"},
                              headers=guarantor)
    assert early.status_code == 422  # the business date is still 2021-07-10
    await world.events(event(3, "E-1", "repayment_recorded", "2022-01-10", borrower_type="enterprise", principal="400000.00",
                             registered_poor=False, kind="interest", amount="8700.00", outstanding_principal="200000.00"))

    resp = await client.post("/v1/guarantee-fees/billings", json={"county_code": "411224000000", "period_end": "2022-01-10"},
                             headers=guarantor)

    assert resp.status_code == 201, resp.text
    # 400,000 × 1% × 181/360 + 200,000 × 1% × 184/360 = 3,033.333… → 3,033.33
    assert resp.json() == {"bills": 1, "total": "3033.33"}
    [bill] = (await client.get("/v1/guarantee-fees/bills", headers=guarantor)).json()["items"]
    assert (bill["loan_id"], bill["period_start"], bill["period_end"], bill["payee_account"]) == ("E-1", "2021-01-10", "2022-01-10", GUARANTOR)
    assert (await client.get("/v1/guarantee-fees/bills", headers=world.a.bank)).json()["items"][0]["amount"] == "3033.33"
    assert (await client.get("/v1/guarantee-fees/bills", headers=world.a.party("someone-else"))).json()["items"] == []
    again = await client.post("/v1/guarantee-fees/billings", json={"county_code": "411224000000", "period_end": "2022-01-10"},
                              headers=guarantor)
    assert again.json() == {"bills": 0, "total": "0.00"}


async def test_registered_poor_households_pay_no_guarantee_fee(world: World, client: httpx.AsyncClient) -> None:
    await world.fund()
    await world.scheme(guarantee_fee_rate="0.005")
    await world.loan("H-POOR", registered_poor=True)
    await world.loan("H-EDGE", registered_poor=False, principal="36000.00")
    await world.events(event(world.next_seq(), "H-POOR", "diverted", "2021-02-09", reason="-"))  # moves the business date on

    resp = await client.post("/v1/guarantee-fees/billings", json={"county_code": "411224000000", "period_end": "2021-02-09"},
                             headers=world.a.party(GUARANTOR))

    assert resp.json() == {"bills": 1, "total": "15.00"}  # 36,000 × 0.5% × 30/360; the poor household's loan none


async def test_only_guarantors_and_the_finance_bureau_bill_fees(world: World, client: httpx.AsyncClient) -> None:
    body = {"county_code": "411224000000", "period_end": "2022-01-10"}
    for headers in (world.a.bank, world.a.county_officer, world.a.party("picc", "insurer")):
        assert (await client.post("/v1/guarantee-fees/billings", json=body, headers=headers)).status_code == 403


async def test_figures_show_balances_leverage_used_and_claims_by_party(world: World, client: httpx.AsyncClient) -> None:
    claim = await _paid_claim(world)
    await client.post(f"/v1/claims/{claim['id']}/recoveries", json={"amount": "10000.00", "reference": "r"}, headers=world.a.bank)
    await world.loan("L-LIVE")

    figures = (await client.get("/v1/risk-figures", headers=world.a.monitor)).json()

    [fund] = figures["funds"]
    assert (fund["balance"], fund["covered_outstanding"]) == ("991565.00", "100000.00")
    assert fund["leverage_used"] == "0.010085"  # 100,000 ÷ (10 × 991,565)
    assert (figures["claims"], figures["loss_claimed"], figures["recovered"]) == (1, "52175.00", "10000.00")
    by_party = {p["party"]: (p["claimed"], p["recovered"], p["obligations_open"]) for p in figures["by_party"]}
    assert by_party["guarantor"] == ("26087.50", "5000.00", "26087.50")
    assert by_party["government"] == ("10435.00", "2000.00", "0.00")
    mine = (await client.get("/v1/risk-figures", headers=world.a.party(GUARANTOR))).json()
    assert [p["party_account"] for p in mine["by_party"]] == [GUARANTOR]
    assert (await client.get("/v1/risk-figures?region=411202000000", headers=world.a.county_officer)).status_code == 403


async def test_shares_fixture_is_the_lushi_household_row() -> None:
    assert [s["share"] for s in LUSHI_HOUSEHOLD_SHARES] == ["0.20", "0.10", "0.50", "0.20"]


async def test_a_recovery_waits_until_the_fund_has_paid_the_claim(world: World, client: httpx.AsyncClient) -> None:
    await world.fund(deposit="10000.00")
    await world.scheme()
    await world.defaulted_loan("L-Q")
    await world.withdraw_to("lushi", "0.00")
    claim = (await world.claim("L-Q")).json()

    resp = await client.post(f"/v1/claims/{claim['id']}/recoveries", json={"amount": "1.00", "reference": "r"}, headers=world.a.bank)

    assert resp.status_code == 409
    assert resp.json()["claim_status"] == "awaiting_funds"
