"""Scorecards are versioned data: a county publishes a version, a published version is frozen, every
assessment records the version it used."""

import copy

import httpx
import pytest
from credit_rating_support import COUNTY, OTHER_COUNTY_VILLAGE, Roles, assess, default_card, full_values
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine


def county_card(**changes: object) -> dict:
    card = copy.deepcopy(default_card())
    card.update({"name": "县评分卡 2027", "county_code": COUNTY}, **changes)
    return card


async def test_the_default_scorecard_is_published_as_version_1(client: httpx.AsyncClient, who: Roles) -> None:
    body = (await client.get("/v1/scorecards/1", headers=who.monitor())).json()
    assert (body["status"], body["indicator_count"], body["county_code"]) == ("published", 144, None)
    assert len(body["definition"]["categories"]) == 13
    listed = (await client.get("/v1/scorecards", params={"status": "published"}, headers=who.monitor())).json()
    assert listed["items"][0]["version"] == 1


async def test_a_county_publishes_a_version_that_its_assessments_then_use(client: httpx.AsyncClient, who: Roles) -> None:
    card = county_card()
    card["grades"][0]["credit_line"] = "80000.00"
    draft = await client.post("/v1/scorecards", json=card, headers=who.county())
    assert draft.status_code == 201, draft.text
    version = draft.json()["version"]
    assert draft.json()["status"] == "draft"
    # a draft is not used yet
    assert (await assess(client, who, "HH-D")).json()["scorecard_version"] == 1
    published = await client.post(f"/v1/scorecards/{version}/publish", headers=who.county())
    assert published.status_code == 200 and published.json()["status"] == "published"
    active = (await client.get("/v1/scorecards/active", params={"county_code": COUNTY}, headers=who.village())).json()
    assert active["version"] == version
    body = (await assess(client, who, "HH-N")).json()
    assert (body["scorecard_version"], body["credit_line"]) == (version, "80000.00")
    # the earlier assessment still says which version it used
    assert (await client.get("/v1/ratings/HH-D", headers=who.bank())).json()["scorecard_version"] == 1
    # another county still uses the province default
    other = (await assess(client, who, "HH-OC", village=OTHER_COUNTY_VILLAGE)).json()
    assert other["scorecard_version"] == 1


async def test_a_published_version_is_immutable(client: httpx.AsyncClient, who: Roles) -> None:
    version = (await client.post("/v1/scorecards", json=county_card(), headers=who.county())).json()["version"]
    assert (await client.put(f"/v1/scorecards/{version}", json=county_card(name="改名"), headers=who.county())).status_code == 200
    await client.post(f"/v1/scorecards/{version}/publish", headers=who.county())
    resp = await client.put(f"/v1/scorecards/{version}", json=county_card(name="再改"), headers=who.county())
    assert resp.status_code == 409 and resp.json()["status_of_version"] == "published"
    again = await client.post(f"/v1/scorecards/{version}/publish", headers=who.county())
    assert again.status_code == 409
    default = await client.put("/v1/scorecards/1", json={**county_card(), "county_code": None}, headers=who.admin())
    assert default.status_code == 409


async def test_the_database_refuses_to_change_a_published_version(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        trans = await conn.begin()
        try:
            with pytest.raises(DBAPIError, match="immutable"):
                await conn.execute(text("UPDATE scorecards SET definition = '{}'::jsonb WHERE id = 1"))
        finally:
            await trans.rollback()


async def test_a_grade_table_with_a_gap_is_refused_at_publish(client: httpx.AsyncClient, who: Roles) -> None:
    card = county_card()
    card["grades"][1]["min_score"] = 72  # AA 72–79 leaves 70–71 without a grade
    card["grades"][2]["min_score"] = 65
    card["grades"][2]["max_score"] = 68  # and overlaps nothing but leaves 69
    version = (await client.post("/v1/scorecards", json=card, headers=who.county())).json()["version"]
    resp = await client.post(f"/v1/scorecards/{version}/publish", headers=who.county())
    assert resp.status_code == 422
    messages = [e["message"] for e in resp.json()["errors"]]
    assert "scores 69–71 between A and AA have no grade" in messages
    assert (await client.get(f"/v1/scorecards/{version}", headers=who.county())).json()["status"] == "draft"


async def test_overlapping_grades_and_unreachable_grades_are_refused_at_publish(client: httpx.AsyncClient, who: Roles) -> None:
    card = county_card(scale={"min": 0, "max": 200})
    card["grades"][0].update(min_score=150, max_score=200)
    card["grades"][1].update(min_score=70, max_score=155)
    version = (await client.post("/v1/scorecards", json=card, headers=who.county())).json()["version"]
    resp = await client.post(f"/v1/scorecards/{version}/publish", headers=who.county())
    assert resp.status_code == 422
    messages = " | ".join(e["message"] for e in resp.json()["errors"])
    assert "overlap" in messages
    assert "needs 150 points but the indicators can give at most 137" in messages


async def test_an_incoherent_scorecard_is_a_422_listing_every_problem(client: httpx.AsyncClient, who: Roles) -> None:
    card = county_card()
    card["indicators"][1]["code"] = card["indicators"][0]["code"]
    card["indicators"][2]["category"] = "NOPE"
    card["indicators"][3]["kind"] = "sometimes"
    resp = await client.post("/v1/scorecards", json=card, headers=who.county())
    assert resp.status_code == 422
    assert {e["field"] for e in resp.json()["errors"]} == {"indicators.3.kind"}
    del card["indicators"][3]["kind"]
    card["indicators"][3]["kind"] = "base"
    resp = await client.post("/v1/scorecards", json=card, headers=who.county())
    assert resp.status_code == 422
    messages = " | ".join(e["message"] for e in resp.json()["errors"])
    assert "appears twice" in messages and "unknown category 'NOPE'" in messages


async def test_only_county_officers_and_admins_write_scorecards(client: httpx.AsyncClient, who: Roles) -> None:
    assert (await client.post("/v1/scorecards", json=county_card(), headers=who.village())).status_code == 403
    assert (await client.post("/v1/scorecards", json=county_card(county_code="411202000000"), headers=who.county())).status_code == 403
    assert (await client.post("/v1/scorecards", json={**county_card(), "county_code": None}, headers=who.county())).status_code == 403
    assert (await client.post("/v1/scorecards", json={**county_card(), "county_code": None}, headers=who.admin())).status_code == 201


async def test_an_unknown_version_is_404(client: httpx.AsyncClient, who: Roles) -> None:
    assert (await client.get("/v1/scorecards/424242", headers=who.monitor())).status_code == 404
    resp = await client.post("/v1/assessments", headers=who.village(), json={
        "household_id": "HH-U", "village_code": "411224101001", "values": full_values(), "scorecard_version": 424242})
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "scorecard_version"


async def test_assessing_with_a_draft_version_is_a_409(client: httpx.AsyncClient, who: Roles) -> None:
    version = (await client.post("/v1/scorecards", json=county_card(), headers=who.county())).json()["version"]
    resp = await client.post("/v1/assessments", headers=who.village(), json={
        "household_id": "HH-U", "village_code": "411224101001", "values": full_values(), "scorecard_version": version})
    assert resp.status_code == 409 and "draft" in resp.json()["detail"]


async def test_a_scorecard_for_a_village_code_is_refused(client: httpx.AsyncClient, who: Roles) -> None:
    resp = await client.post("/v1/scorecards", json=county_card(county_code="411224101001"), headers=who.county())
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "county_code"


async def test_a_batch_may_name_the_version_it_uses(client: httpx.AsyncClient, who: Roles) -> None:
    card = county_card()
    card["grades"][0]["credit_line"] = "60000.00"
    version = (await client.post("/v1/scorecards", json=card, headers=who.county())).json()["version"]
    await client.post(f"/v1/scorecards/{version}/publish", headers=who.county())
    items = [{"household_id": "HH-V1", "village_code": "411224101001", "values": full_values()}]
    older = (await client.post("/v1/assessments/batch", params={"scorecard_version": 1}, json=items, headers=who.village())).json()
    assert older["results"][0]["credit_line"] == "50000.00"
    newer = (await client.post("/v1/assessments/batch", json=[{**items[0], "household_id": "HH-V2"}], headers=who.village())).json()
    assert newer["results"][0]["credit_line"] == "60000.00"
    assert (await client.get("/v1/ratings/HH-V1", headers=who.bank())).json()["scorecard_version"] == 1
    assert (await client.get("/v1/ratings/HH-V2", headers=who.bank())).json()["scorecard_version"] == version
