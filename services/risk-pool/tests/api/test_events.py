"""Loan events → exposures: applied once by seq, cover with cap and leverage (杠杆), bad input."""

import httpx
from risk_pool_support import World, event


async def test_each_event_is_applied_once_by_seq(world: World, client: httpx.AsyncClient) -> None:
    await world.fund()
    await world.scheme()
    await world.events(event(1, "L-1", "disbursed", "2021-01-10"))
    repay = event(2, "L-1", "repayment_recorded", "2022-01-10", kind="principal", amount="20000.00", outstanding_principal="30000.00")

    first = await world.events(repay)
    second = await world.events(repay, event(3, "L-1", "diverted", "2022-01-11", reason="买车"))

    assert (first["applied"], second["applied"], second["skipped_seqs"]) == (1, 1, [2])
    exposure = (await client.get("/v1/exposures/loans/L-1", headers=world.a.bank)).json()
    assert (exposure["outstanding_principal"], exposure["covered_principal"], exposure["diverted"]) == ("30000.00", "30000.00", True)


async def test_leverage_refuses_new_cover_beyond_ten_times_the_fund(world: World, client: httpx.AsyncClient) -> None:
    await world.fund(deposit="10000.00")  # cover up to 100,000
    await world.scheme()
    await world.loan("L-1")
    await world.loan("L-2")  # 100,000 covered: at the limit, still allowed
    await world.loan("L-3", principal="10000.00")

    covers = [(await client.get(f"/v1/exposures/loans/{loan}", headers=world.a.admin)).json() for loan in ("L-1", "L-2", "L-3")]

    assert [c["covered"] for c in covers] == [True, True, False]
    assert "leverage" in covers[2]["cover_note"] and "110000.00" in covers[2]["cover_note"]
    fund = (await client.get("/v1/funds/lushi", headers=world.a.finance)).json()
    assert (fund["covered_outstanding"], fund["leverage_capacity"]) == ("100000.00", "100000.00")

    await world.events(event(world.next_seq(), "L-1", "closed", "2022-01-10", outstanding_principal="0.00"))
    await world.loan("L-4", principal="10000.00")  # room again once L-1 is repaid

    assert (await client.get("/v1/exposures/loans/L-4", headers=world.a.admin)).json()["covered"] is True


async def test_household_cover_is_capped_at_fifty_thousand(world: World, client: httpx.AsyncClient) -> None:
    await world.fund()
    await world.scheme()
    await world.loan("L-BIG", principal="80000.00")

    exposure = (await client.get("/v1/exposures/loans/L-BIG", headers=world.a.bank)).json()

    assert (exposure["outstanding_principal"], exposure["covered_principal"]) == ("80000.00", "50000.00")


async def test_village_exposure_counts_borrowers_outstanding_and_non_performing(world: World, client: httpx.AsyncClient) -> None:
    await world.events(event(1, "L-1", "disbursed", "2021-01-10", household_id="H-1"),
                       event(2, "L-2", "disbursed", "2021-01-10", household_id="H-1", principal="10000.00"),
                       event(3, "L-3", "disbursed", "2021-01-10", household_id="H-2"),
                       event(4, "L-3", "defaulted", "2022-04-15", household_id="H-2", days_past_due=91,
                             outstanding_principal="40000.00", unpaid_interest="0.00"))

    [village] = (await client.get("/v1/exposures/villages", headers=world.a.county_officer)).json()["items"]

    assert (village["borrowers"], village["loans"], village["outstanding"], village["npl_outstanding"]) == (2, 3, "100000.00", "40000.00")
    assert village["npl_ratio"] == "0.400000"


async def test_bad_events_are_422_listing_every_problem(world: World, client: httpx.AsyncClient) -> None:
    good = event(1, "L-1", "disbursed", "2021-01-10")
    bad_type = {**good, "type": "Exploded!"}
    bad_money = event(2, "L-2", "disbursed", "2021-01-10", principal="12.345")
    no_household = event(3, "L-3", "disbursed", "2021-01-10")
    no_household["data"]["household_id"] = None

    resp = await client.post("/v1/risk-events", json=[good, bad_type, bad_money], headers=world.a.service)
    assert resp.status_code == 422
    fields = [e["field"] for e in resp.json()["errors"]]
    assert any(f.startswith("1.type") for f in fields) and any(f.startswith("2.data.principal") for f in fields)
    resp = await client.post("/v1/risk-events", json=[no_household], headers=world.a.service)
    assert resp.status_code == 422 and "household_id" in resp.json()["detail"]


async def test_only_internal_callers_post_events_and_banks_read_only_their_loans(world: World, client: httpx.AsyncClient) -> None:
    payload = [event(1, "L-1", "disbursed", "2021-01-10")]
    for headers in (world.a.bank, world.a.finance, world.a.county_officer):
        assert (await client.post("/v1/risk-events", json=payload, headers=headers)).status_code == 403
    await world.events(*payload)
    assert (await client.get("/v1/exposures/loans/L-1", headers=world.a.other_bank)).status_code == 403
    assert (await client.get("/v1/exposures/loans/L-1", headers=world.a.hubin_officer)).status_code == 403
    assert (await client.get("/v1/exposures/loans/L-1", headers=world.a.party("picc", "insurer"))).status_code == 403
    assert (await client.get("/v1/exposures/loans/L-1", headers=world.a.county_officer)).status_code == 200


async def test_malformed_requests_are_4xx_problems_never_500(world: World, client: httpx.AsyncClient) -> None:
    huge_seq = event(2**63, "L-1", "disbursed", "2021-01-10")
    probes = [
        client.post("/v1/risk-events", json=[huge_seq], headers=world.a.service),
        client.post("/v1/risk-events", json={"not": "a list"}, headers=world.a.service),
        client.post("/v1/risk-events", content=b"[{", headers={**world.a.service, "content-type": "application/json"}),
        client.get("/v1/claims?cursor=99999999999999999999999", headers=world.a.admin),
        client.get("/v1/claims?cursor=abc", headers=world.a.admin),
        client.get("/v1/claims/99999999999999999999", headers=world.a.admin),
        client.post("/v1/claims", json={"loan_id": "../../etc"}, headers=world.a.bank),
        client.post("/v1/claims/batches", json={"loan_ids": ["L-1", "L-1"]}, headers=world.a.bank),
        client.post("/v1/funds/lushi/deposits", content=b"amount=1", headers={**world.a.finance, "content-type": "text/plain"}),
        client.get("/v1/funds/lushi/statement?from=2021-02-01&to=2021-01-01", headers=world.a.finance),
        client.put("/v1/breakers/policies/411224100000", json={}, headers=world.a.county_officer),
    ]
    for probe in probes:
        resp = await probe
        assert 400 <= resp.status_code < 500, (resp.request.url, resp.status_code, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")


async def test_an_event_type_this_service_does_not_know_is_recorded_and_ignored(world: World, client: httpx.AsyncClient) -> None:
    result = await world.events(event(1, "L-1", "disbursed", "2021-01-10"), event(2, "L-1", "rate_changed", "2021-02-01", new_rate="0.04"))

    assert (result["applied"], result["ignored_seqs"]) == (1, [2])
    assert (await world.events(event(2, "L-1", "rate_changed", "2021-02-01")))["skipped_seqs"] == [2]
