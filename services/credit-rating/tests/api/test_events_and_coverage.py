"""Loan events feed back into ratings (守信激励、失信严惩); the roster gives the coverage figure."""

import httpx
from credit_rating_support import COUNTY, OTHER_VILLAGE, TOWNSHIP, VILLAGE, Roles, assess, full_values, values_scoring


def event(seq: int, kind: str, household_id: str | None, **data: object) -> dict:
    common = {
        "household_id": household_id, "enterprise_id": None if household_id else "91411224MA44XXXX0X", "borrower_type": "household",
        "registered_poor": True, "village_code": VILLAGE, "township_code": TOWNSHIP, "county_code": COUNTY, "bank_id": "RCC",
        "principal": "50000.00", "annual_rate": "0.043500", "start_date": "2026-01-10", "maturity_date": "2027-01-10",
        "industry": "茶", "driven_households": [],
    }
    return {"seq": seq, "loan_id": f"L-{seq}", "type": kind, "business_date": "2026-09-01", "data": {**common, **data}}


async def send(client: httpx.AsyncClient, who: Roles, events: list[dict]) -> httpx.Response:
    return await client.post("/v1/rating-events", json=events, headers=who.service())


async def test_a_default_deducts_the_configured_points_once(client: httpx.AsyncClient, who: Roles) -> None:
    await assess(client, who, "HH-D1", values_scoring(85))
    defaulted = event(101, "defaulted", "HH-D1", days_past_due=95, default_date="2026-09-01", outstanding_principal="30000.00",
                      unpaid_interest="1200.00")
    first = await send(client, who, [defaulted, event(102, "repayment_recorded", "HH-D1"), event(103, "disbursed", "HH-D1")])
    assert first.status_code == 200, first.text
    assert first.json() == {"received": 3, "applied": 1, "duplicates": 0, "ignored": 2}
    rating = (await client.get("/v1/ratings/HH-D1", headers=who.bank())).json()
    assert (rating["assessed_score"], rating["score"], rating["grade"], rating["credit_line"]) == (85, 65, "A", "10000.00")
    assert rating["penalties"][0]["points"] == 20 and rating["penalties"][0]["loan_id"] == "L-101"
    replay = await send(client, who, [defaulted])
    assert replay.json() == {"received": 1, "applied": 0, "duplicates": 1, "ignored": 0}
    assert (await client.get("/v1/ratings/HH-D1", headers=who.bank())).json()["score"] == 65


async def test_a_diverted_loan_blacklists_the_household(client: httpx.AsyncClient, who: Roles) -> None:
    await assess(client, who, "HH-DV", full_values())
    number = (await client.post("/v1/certificates", json={"household_id": "HH-DV"}, headers=who.village())).json()["number"]
    resp = await send(client, who, [event(201, "diverted", "HH-DV", reason="用于建房")])
    assert resp.json()["applied"] == 1
    rating = (await client.get("/v1/ratings/HH-DV", headers=who.bank())).json()
    assert rating["blacklisted"] and rating["vetoed"] and not rating["eligible_to_borrow"]
    entries = (await client.get("/v1/blacklist", params={"household_id": "HH-DV"}, headers=who.village())).json()["items"]
    assert [(e["source"], e["loan_id"]) for e in entries] == [("loan-event", "L-201")]
    assert (await client.get(f"/v1/certificates/{number}", headers=who.bank())).json()["status"] == "revoked"
    assert (await send(client, who, [event(201, "diverted", "HH-DV")])).json()["duplicates"] == 1
    assert len((await client.get("/v1/blacklist", params={"household_id": "HH-DV"}, headers=who.village())).json()["items"]) == 1


async def test_enterprise_loan_events_are_ignored(client: httpx.AsyncClient, who: Roles) -> None:
    resp = await send(client, who, [event(301, "defaulted", None, borrower_type="enterprise")])
    assert resp.json() == {"received": 1, "applied": 0, "duplicates": 0, "ignored": 1}


async def test_a_default_of_a_household_without_a_rating_is_recorded_and_changes_nothing(client: httpx.AsyncClient, who: Roles) -> None:
    assert (await send(client, who, [event(401, "defaulted", "HH-NR")])).json()["applied"] == 1
    await assess(client, who, "HH-NR", values_scoring(85))
    assert (await client.get("/v1/ratings/HH-NR", headers=who.bank())).json()["score"] == 85


async def test_rating_events_need_the_internal_scope(client: httpx.AsyncClient, who: Roles) -> None:
    assert (await client.post("/v1/rating-events", json=[], headers=who.county())).status_code == 403


async def test_a_malformed_event_is_a_422(client: httpx.AsyncClient, who: Roles) -> None:
    resp = await send(client, who, [{"seq": "x", "loan_id": "L-1", "type": "defaulted"}])
    assert resp.status_code == 422
    resp = await send(client, who, [event(501, "defaulted", "HH-E", village_code=None)])
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "0.data.village_code"


async def test_coverage_is_the_share_of_registered_households_with_a_current_rating(client: httpx.AsyncClient, who: Roles) -> None:
    roster = [{"household_id": f"HH-R{i}", "village_code": VILLAGE if i < 4 else OTHER_VILLAGE, "registered": True} for i in range(6)]
    roster.append({"household_id": "HH-NOTPOOR", "village_code": VILLAGE, "registered": False})
    resp = await client.put("/v1/rating-households", json=roster, headers=who.service())
    assert resp.status_code == 200 and resp.json()["upserted"] == 7
    for hid in ("HH-R0", "HH-R1", "HH-R2", "HH-NOTPOOR"):
        await assess(client, who, hid, full_values())
    await client.post("/v1/assessments", headers=who.village(OTHER_VILLAGE),
                      json={"household_id": "HH-R4", "village_code": OTHER_VILLAGE, "values": full_values(), "assessed_on": "2020-01-01"})
    report = (await client.get("/v1/rating-households/coverage", params={"region": TOWNSHIP}, headers=who.township())).json()
    assert (report["registered"], report["rated"], report["coverage"]) == (6, 3, "0.5000")
    villages = {v["region"]: v for v in report["by_subregion"]}
    assert (villages[VILLAGE]["rated"], villages[VILLAGE]["registered"], villages[VILLAGE]["coverage"]) == (3, 4, "0.7500")
    assert (villages[OTHER_VILLAGE]["rated"], villages[OTHER_VILLAGE]["coverage"]) == (0, "0.0000")  # expired rating
    county = (await client.get("/v1/rating-households/coverage", headers=who.county())).json()
    assert county["region"] == COUNTY and [s["region"] for s in county["by_subregion"]] == [TOWNSHIP]
    assert (await client.get("/v1/rating-households/coverage", params={"region": COUNTY}, headers=who.village())).status_code == 403


async def test_the_roster_is_written_by_the_service_admins_and_county_officers_in_their_county(client: httpx.AsyncClient, who: Roles) -> None:
    entry = [{"household_id": "HH-W", "village_code": VILLAGE, "registered": True}]
    assert (await client.put("/v1/rating-households", json=entry, headers=who.county())).status_code == 200
    assert (await client.put("/v1/rating-households", json=entry, headers=who.admin())).status_code == 200
    assert (await client.put("/v1/rating-households", json=entry, headers=who.village())).status_code == 403
    outside = [{"household_id": "HH-W", "village_code": "411202001001", "registered": True}]
    assert (await client.put("/v1/rating-households", json=outside, headers=who.county())).status_code == 403
    twice = entry * 2
    resp = await client.put("/v1/rating-households", json=twice, headers=who.service())
    assert resp.status_code == 422 and "appears twice" in resp.json()["errors"][0]["message"]


async def test_the_gateway_overview_reads_coverage_of_any_county_with_its_service_token(client: httpx.AsyncClient, who: Roles) -> None:
    roster = [{"household_id": f"HH-O{i}", "village_code": VILLAGE, "registered": True} for i in range(3)]
    await client.put("/v1/rating-households", json=roster, headers=who.service())
    await assess(client, who, "HH-O0", full_values())
    report = (await client.get("/v1/rating-households/coverage", params={"region": COUNTY}, headers=who.service())).json()
    assert (report["region"], report["registered"], report["rated"], report["coverage"]) == (COUNTY, 3, 1, "0.3333")
    assert report["by_subregion"] == [{"region": TOWNSHIP, "registered": 3, "rated": 1, "coverage": "0.3333"}]
    empty = (await client.get("/v1/rating-households/coverage", params={"region": "411202000000"}, headers=who.service())).json()
    assert (empty["registered"], empty["coverage"], empty["by_subregion"]) == (0, None, [])
