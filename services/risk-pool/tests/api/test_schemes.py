"""Sharing schemes (风险分担): the five schemes of policy.md §6 ship as data and split to the fen."""

import httpx
import pytest
from risk_pool_support import World, scheme_body

from risk_pool.seed import scheme_requests

# (county, borrower type) → expected parts of a 52,175.00 loss, in scheme order, to the fen
EXPECTED = {
    ("411221000000", "household"): ["18261.25", "7826.25", "26087.50"],  # 渑池 35/15/50
    ("411203000000", "household"): ["18261.25", "7826.25", "26087.50"],  # 陕州
    ("411282000000", "household"): ["18261.25", "7826.25", "26087.50"],  # 灵宝
    ("411202000000", "household"): ["18261.25", "7826.25", "26087.50"],  # 湖滨
    ("411221000000", "enterprise"): ["15652.50", "10435.00", "26087.50"],  # 30/20/50
    ("411203000000", "enterprise"): ["15652.50", "10435.00", "26087.50"],
    ("411282000000", "enterprise"): ["15652.50", "10435.00", "26087.50"],
    ("411202000000", "enterprise"): ["5217.50", "20870.00", "26087.50"],  # 湖滨 10/40/50
    ("411224000000", "household"): ["10435.00", "5217.50", "26087.50", "10435.00"],  # 卢氏 20/10/50/20
    ("411224000000", "enterprise"): ["10435.00", "10435.00", "20870.00", "10435.00"],  # 卢氏 20/20/40/20
}


async def test_the_shipped_schemes_cover_the_five_rows_of_the_policy_table() -> None:
    requests = scheme_requests()
    assert sorted((r.county_code, r.borrower_type) for r in requests) == sorted(EXPECTED)
    for r in requests:
        assert sum(s.share for s in r.shares) == 1


@pytest.mark.parametrize(("county", "borrower_type"), sorted(EXPECTED))
async def test_every_shipped_scheme_splits_a_claim_to_the_fen(world: World, client: httpx.AsyncClient, county: str,
                                                              borrower_type: str) -> None:
    request = next(r for r in scheme_requests() if (r.county_code, r.borrower_type) == (county, borrower_type))
    await world.fund(code=f"f{county}", region=county, deposit="1000000.00")
    resp = await client.post("/v1/sharing-schemes", json=request.model_dump(mode="json"), headers=world.a.finance)
    assert resp.status_code == 201, resp.text
    village = county[:6] + "100201"
    await world.defaulted_loan("L-S", village=village, borrower_type=borrower_type, registered_poor=borrower_type == "household")

    claim = (await world.claim("L-S")).json()

    assert claim["loss"] == "52175.00"
    assert [p["amount"] for p in claim["parts"]] == EXPECTED[(county, borrower_type)]
    government = claim["parts"][0]
    assert government["party"] == "government" and claim["government_part"] == government["amount"]


async def test_shares_not_summing_to_100_percent_are_422_listing_every_problem(world: World, client: httpx.AsyncClient) -> None:
    body = {"name": "bad", "county_code": "411224000000", "borrower_type": "household", "effective_from": "2020-01-01",
            "shares": [{"party": "government", "share": "0.35"}, {"party": "bank", "share": "0.15"},
                       {"party": "insurer", "share": "0.49"}]}

    resp = await client.post("/v1/sharing-schemes", json=body, headers=world.a.finance)

    assert resp.status_code == 422
    messages = [e["message"] for e in resp.json()["errors"]]
    assert any("sum to 99.00" in m for m in messages)
    assert any("party_account" in m for m in messages)


async def test_a_guarantee_fee_needs_a_guarantor_to_receive_it(world: World, client: httpx.AsyncClient) -> None:
    body = {"name": "fee", "county_code": "411202000000", "borrower_type": "enterprise", "effective_from": "2020-01-01",
            "guarantee_fee_rate": "0.01",
            "shares": [{"party": "government", "share": "0.5"}, {"party": "bank", "share": "0.5"}]}

    resp = await client.post("/v1/sharing-schemes", json=body, headers=world.a.finance)

    assert resp.status_code == 422
    assert "guarantor" in resp.json()["detail"]


async def test_a_later_scheme_applies_to_loans_started_from_its_date(world: World) -> None:
    await world.fund()
    await world.scheme(effective_from="2020-01-01")
    await world.scheme(effective_from="2021-06-01", shares=[{"party": "government", "share": "0.5"}, {"party": "bank", "share": "0.5"}])
    await world.defaulted_loan("L-OLD", start_date="2021-01-10")
    await world.defaulted_loan("L-NEW", start_date="2021-07-01")

    old, new = (await world.claim("L-OLD")).json(), (await world.claim("L-NEW")).json()

    assert len(old["parts"]) == 4
    assert [p["amount"] for p in new["parts"]] == ["26087.50", "26087.50"]


async def test_a_second_scheme_for_the_same_start_is_409(world: World, client: httpx.AsyncClient) -> None:
    await world.scheme()
    resp = await client.post("/v1/sharing-schemes", json=scheme_body(), headers=world.a.finance)
    assert resp.status_code == 409


async def test_county_officers_set_schemes_only_for_their_county_and_banks_not_at_all(world: World, client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/sharing-schemes", json=scheme_body(), headers=world.a.county_officer)).status_code == 201
    hubin = scheme_body(county="411202000000")
    assert (await client.post("/v1/sharing-schemes", json=hubin, headers=world.a.county_officer)).status_code == 403
    assert (await client.post("/v1/sharing-schemes", json=hubin, headers=world.a.bank)).status_code == 403
    listed = (await client.get("/v1/sharing-schemes?county_code=411224000000", headers=world.a.bank)).json()["items"]
    assert [s["county_code"] for s in listed] == ["411224000000"]
