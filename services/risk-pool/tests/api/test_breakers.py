"""Circuit breakers (熔断): both rule types trip, townships follow, reinstatement needs the ratio
back under the threshold and an officer, and lending status says why not."""

import httpx
from risk_pool_support import World, event

VILLAGE = "411224100201"
TOWNSHIP = "411224100000"


async def _village_of_loans(world: World, village: str, count: int, principal: str = "10000.00", prefix: str = "L",
                            **kwargs: object) -> list[str]:
    loans = [f"{prefix}-{village[-3:]}-{i}" for i in range(count)]
    await world.events(*[event(world.next_seq(), loan, "disbursed", "2021-01-10", village=village, principal=principal, **kwargs)
                         for loan in loans])
    return loans


async def _default(world: World, loan: str, village: str = VILLAGE, principal: str = "10000.00", **kwargs: object) -> dict:
    return await world.events(event(world.next_seq(), loan, "defaulted", "2022-04-15", village=village, principal=principal,
                                    days_past_due=95, outstanding_principal=principal, unpaid_interest="0.00", **kwargs))


async def test_a_village_breaks_when_its_npl_ratio_exceeds_five_percent(world: World, client: httpx.AsyncClient) -> None:
    loans = await _village_of_loans(world, VILLAGE, 20)  # 200,000 outstanding
    first = await _default(world, loans[0])  # 10,000 ÷ 200,000 = exactly 5%: not above
    assert first["breakers_tripped"] == []
    assert (await client.get(f"/v1/lending-status/{VILLAGE}", headers=world.a.bank)).json()["may_lend"] is True

    second = await _default(world, loans[1])  # 10%

    assert f"village {VILLAGE}" in second["breakers_tripped"]
    status = (await client.get(f"/v1/lending-status/{VILLAGE}", headers=world.a.bank)).json()
    assert status["may_lend"] is False
    assert status["village_state"] == "broken"
    assert "10.00%" in status["reasons"][0] and "5.00%" in status["reasons"][0]


async def test_reinstatement_needs_the_ratio_back_under_the_threshold_and_is_recorded(world: World, client: httpx.AsyncClient) -> None:
    loans = await _village_of_loans(world, VILLAGE, 20)
    await _default(world, loans[0])
    await _default(world, loans[1])
    url = f"/v1/breakers/villages/{VILLAGE}/reinstatements"

    refused = await client.post(url, json={"reason": "村里说好了"}, headers=world.a.county_officer)
    assert refused.status_code == 409
    assert refused.json()["ratio"] == "0.100000"

    await world.events(*[event(world.next_seq(), loan, "written_off", "2022-06-01", village=VILLAGE, principal="10000.00",
                               outstanding_principal="10000.00") for loan in loans[:2]])
    still = (await client.get(f"/v1/lending-status/{VILLAGE}", headers=world.a.bank)).json()
    assert still["village_state"] == "broken"  # falling back is not enough: an officer must act

    done = await client.post(url, json={"reason": "不良贷款已核销, 经县金融服务中心研究恢复"}, headers=world.a.county_officer)

    assert done.status_code == 201, done.text
    body = done.json()
    assert body["state"] == "open"
    assert [(h["from_state"], h["to_state"], h["actor"]) for h in body["history"]] == [
        ("open", "broken", "system"), ("broken", "open", "lushi-officer")]
    assert body["history"][0]["ratio"] == "0.100000"
    assert "核销" in body["history"][1]["reason"]
    township = (await client.get(f"/v1/lending-status/{VILLAGE}", headers=world.a.bank)).json()
    assert township["township_state"] == "broken"  # its only village broke it; it too needs an officer
    reopened = await client.post(f"/v1/breakers/townships/{TOWNSHIP}/reinstatements", json={"reason": "约谈后整改"},
                                 headers=world.a.county_officer)
    assert reopened.status_code == 201, reopened.text
    assert (await client.get(f"/v1/lending-status/{VILLAGE}", headers=world.a.bank)).json()["may_lend"] is True


async def test_only_a_county_officer_of_the_region_reinstates(world: World, client: httpx.AsyncClient) -> None:
    loans = await _village_of_loans(world, VILLAGE, 10)
    await _default(world, loans[0])
    url = f"/v1/breakers/villages/{VILLAGE}/reinstatements"
    for headers in (world.a.hubin_officer, world.a.township_officer, world.a.bank, world.a.finance):
        assert (await client.post(url, json={"reason": "x"}, headers=headers)).status_code == 403


async def test_a_township_breaks_when_thirty_percent_of_its_villages_are_broken(world: World, client: httpx.AsyncClient) -> None:
    villages = [f"411224100{n:03d}" for n in (201, 202, 203, 204)]
    loans = {v: await _village_of_loans(world, v, 10) for v in villages}
    await _default(world, loans[villages[0]][0], village=villages[0])  # 1 of 4 villages = 25%
    assert (await client.get(f"/v1/lending-status/{villages[3]}", headers=world.a.bank)).json()["may_lend"] is True

    tripped = await _default(world, loans[villages[1]][0], village=villages[1])  # 2 of 4 = 50%

    assert f"township {TOWNSHIP}" in tripped["breakers_tripped"]
    status = (await client.get(f"/v1/lending-status/{villages[3]}", headers=world.a.bank)).json()
    assert status == {**status, "may_lend": False, "village_state": "open", "township_state": "broken"}
    assert "township" in status["reasons"][0]


async def test_the_other_countys_rule_breaks_a_village_at_seven_percent_of_poor_borrowers_overdue(world: World,
                                                                                                   client: httpx.AsyncClient) -> None:
    resp = await client.put("/v1/breakers/policies/411224000000", json={"rule": "poor_overdue_ratio", "village_threshold": "0.07"},
                            headers=world.a.county_officer)
    assert resp.status_code == 200, resp.text
    loans = await _village_of_loans(world, VILLAGE, 15)  # 15 registered-poor borrowers
    await _village_of_loans(world, VILLAGE, 5, prefix="NP", registered_poor=False)
    overdue = {"days_past_due": 10, "outstanding_principal": "10000.00", "overdue_principal": "3000.00"}

    first = await world.events(event(world.next_seq(), loans[0], "overdue", "2022-02-01", village=VILLAGE, principal="10000.00",
                                     **overdue))  # 1 of 15 = 6.67%
    others = await world.events(*[event(world.next_seq(), loan, "overdue", "2022-02-01", village=VILLAGE, principal="10000.00",
                                        registered_poor=False, **overdue) for loan in [f"NP-201-{i}" for i in range(5)]])
    second = await world.events(event(world.next_seq(), loans[1], "overdue", "2022-02-02", village=VILLAGE, principal="10000.00",
                                      **overdue))  # 2 of 15 = 13.3%

    assert first["breakers_tripped"] == [] and others["breakers_tripped"] == []
    assert f"village {VILLAGE}" in second["breakers_tripped"]
    breaker = (await client.get(f"/v1/breakers/villages/{VILLAGE}", headers=world.a.monitor)).json()
    assert (breaker["rule"], breaker["ratio"], breaker["threshold"]) == ("poor_overdue_ratio", "0.133333", "0.070000")


async def test_repaying_the_overdue_principal_cures_the_poor_overdue_ratio(world: World, client: httpx.AsyncClient) -> None:
    await client.put("/v1/breakers/policies/411224000000", json={"rule": "poor_overdue_ratio", "village_threshold": "0.07"},
                     headers=world.a.county_officer)
    loans = await _village_of_loans(world, VILLAGE, 5)
    await world.events(event(world.next_seq(), loans[0], "overdue", "2022-02-01", village=VILLAGE, principal="10000.00",
                             days_past_due=10, outstanding_principal="10000.00", overdue_principal="3000.00"))
    await world.events(event(world.next_seq(), loans[0], "repayment_recorded", "2022-02-05", village=VILLAGE, principal="10000.00",
                             kind="principal", amount="3000.00", late=True, outstanding_principal="7000.00"))

    done = await client.post(f"/v1/breakers/villages/{VILLAGE}/reinstatements", json={"reason": "已还清逾期本金"},
                             headers=world.a.county_officer)

    assert done.status_code == 201, done.text
    assert done.json()["ratio"] == "0.000000"


async def test_an_unknown_village_is_open_and_any_read_scope_may_ask(world: World, client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/lending-status/411224199999", headers=world.a.applicant)
    assert resp.status_code == 200
    assert resp.json() == {"village_code": "411224199999", "township_code": "411224199000", "may_lend": True, "reasons": [],
                           "village_state": "open", "township_state": "open"}
    assert (await client.get("/v1/lending-status/411224199999", headers=world.a.t.headers(scopes=["nothing"]))).status_code == 403
    assert (await client.get("/v1/lending-status/4112", headers=world.a.bank)).status_code == 422


async def test_breaker_map_lists_broken_villages_of_the_callers_region(world: World, client: httpx.AsyncClient) -> None:
    loans = await _village_of_loans(world, VILLAGE, 10)
    await _default(world, loans[0])

    mine = (await client.get("/v1/breakers?state=broken", headers=world.a.county_officer)).json()["items"]
    theirs = (await client.get("/v1/breakers?state=broken", headers=world.a.hubin_officer)).json()["items"]

    assert [(b["level"], b["code"]) for b in mine] == [("township", TOWNSHIP), ("village", VILLAGE)]
    assert theirs == []


async def test_a_county_may_count_shorter_overdue_as_non_performing(world: World, client: httpx.AsyncClient) -> None:
    await client.put("/v1/breakers/policies/411224000000", json={"rule": "npl_ratio", "npl_days": 30}, headers=world.a.county_officer)
    loans = await _village_of_loans(world, VILLAGE, 10)
    overdue = {"village": VILLAGE, "principal": "10000.00", "outstanding_principal": "10000.00", "overdue_principal": "3000.00"}

    short = await world.events(event(world.next_seq(), loans[0], "overdue", "2022-02-01", days_past_due=29, **overdue))
    longer = await world.events(event(world.next_seq(), loans[0], "overdue", "2022-02-02", days_past_due=30, **overdue))

    assert short["breakers_tripped"] == []
    assert f"village {VILLAGE}" in longer["breakers_tripped"]  # 10,000 of 100,000 = 10% > 5%
    policy = (await client.get("/v1/breakers/policies/411224000000", headers=world.a.monitor)).json()
    assert (policy["npl_days"], policy["is_default"]) == (30, False)
