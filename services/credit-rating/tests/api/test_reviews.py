"""Township and county officers read and review the assessments of their region."""

import httpx
from credit_rating_support import Roles, assess, full_values


async def test_township_and_county_officers_review_current_assessments(client: httpx.AsyncClient, who: Roles) -> None:
    assessment_id = (await assess(client, who, "HH-RV1")).json()["assessment_id"]
    url = f"/v1/assessments/{assessment_id}/reviews"
    confirmed = await client.post(url, json={"decision": "confirmed"}, headers=who.township())
    assert confirmed.status_code == 201, confirmed.text
    assert (confirmed.json()["reviewer"], confirmed.json()["reviewer_role"]) == ("to", "township_officer")
    disputed = await client.post(url, json={"decision": "disputed", "note": "收入数据与台账不符"}, headers=who.county())
    assert disputed.status_code == 201
    reviews = (await client.get(f"/v1/assessments/{assessment_id}", headers=who.village())).json()["reviews"]
    assert [(r["decision"], r["reviewer_role"]) for r in reviews] == [("confirmed", "township_officer"), ("disputed", "county_officer")]


async def test_a_dispute_needs_a_note_and_only_current_assessments_are_reviewed(client: httpx.AsyncClient, who: Roles) -> None:
    first = (await assess(client, who, "HH-RV2")).json()["assessment_id"]
    resp = await client.post(f"/v1/assessments/{first}/reviews", json={"decision": "disputed"}, headers=who.township())
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "note"
    await assess(client, who, "HH-RV2", full_values())
    resp = await client.post(f"/v1/assessments/{first}/reviews", json={"decision": "confirmed"}, headers=who.township())
    assert resp.status_code == 409 and resp.json()["type"] == "/problems/assessment-superseded"


async def test_village_officers_banks_and_other_regions_do_not_review(client: httpx.AsyncClient, who: Roles) -> None:
    assessment_id = (await assess(client, who, "HH-RV3")).json()["assessment_id"]
    url = f"/v1/assessments/{assessment_id}/reviews"
    for headers in (who.village(), who.bank(), who.township("411224102000"), who.county("411202000000")):
        assert (await client.post(url, json={"decision": "confirmed"}, headers=headers)).status_code == 403
    assert (await client.post("/v1/assessments/987654321/reviews", json={"decision": "confirmed"}, headers=who.township())).status_code == 404
