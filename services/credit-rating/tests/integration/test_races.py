"""Concurrency with real commits: two assessments of one household, and one loan event sent twice at once."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from credit_rating_support import COUNTY, TOWNSHIP, VILLAGE, Roles, full_values, values_scoring
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from credit_rating.main import create_app
from credit_rating.settings import Settings
from kit.testing import TokenFactory, api_client, bind_app

TABLES = "assessment_reviews, certificates, penalties, blacklist_entries, applied_loan_events, rating_households, assessments"


@pytest.fixture
async def committing(engine: AsyncEngine, tokens: TokenFactory) -> AsyncIterator[httpx.AsyncClient]:
    """The app on real connections: each request commits. Tables are emptied afterwards."""
    app = create_app(Settings(environment="test", background_workers=False), keys=tokens.keyset())
    bind_app(app, engine)
    try:
        async with api_client(app) as client:
            yield client
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {TABLES}"))


async def test_two_simultaneous_assessments_of_one_household_leave_one_current(committing: httpx.AsyncClient, who: Roles) -> None:
    bodies = [{"household_id": "HH-RACE", "village_code": VILLAGE, "values": values_scoring(s)} for s in (65, 90)]
    first, second = await asyncio.gather(*(committing.post("/v1/assessments", json=b, headers=who.village()) for b in bodies))
    assert first.status_code == 201 and second.status_code == 201, (first.text, second.text)
    history = (await committing.get("/v1/assessments", params={"household_id": "HH-RACE"}, headers=who.village())).json()["items"]
    current = [h for h in history if h["is_current"]]
    assert len(current) == 1
    # whichever took the household's lock second superseded the other
    ids = {first.json()["assessment_id"], second.json()["assessment_id"]}
    supersedes = [first.json()["supersedes"], second.json()["supersedes"]]
    assert supersedes.count(None) == 1 and {s for s in supersedes if s is not None} < ids
    rating = (await committing.get("/v1/ratings/HH-RACE", headers=who.bank())).json()
    assert rating["assessment_id"] == current[0]["assessment_id"]


async def test_one_loan_event_sent_twice_at_once_is_applied_once(committing: httpx.AsyncClient, who: Roles) -> None:
    await committing.post("/v1/assessments", json={"household_id": "HH-EV", "village_code": VILLAGE, "values": full_values()},
                          headers=who.village())
    event = {"seq": 9001, "loan_id": "L-9001", "type": "defaulted", "business_date": "2026-09-01",
             "data": {"household_id": "HH-EV", "village_code": VILLAGE, "township_code": TOWNSHIP, "county_code": COUNTY}}
    results = await asyncio.gather(*(committing.post("/v1/rating-events", json=[event], headers=who.service()) for _ in range(2)))
    assert sorted(r.json()["applied"] for r in results) == [0, 1]
    rating = (await committing.get("/v1/ratings/HH-EV", headers=who.bank())).json()
    assert rating["score"] == 80 and len(rating["penalties"]) == 1


async def test_the_database_keeps_an_assessment_as_recorded(committing: httpx.AsyncClient, who: Roles, engine: AsyncEngine) -> None:
    created = (await committing.post("/v1/assessments", json={"household_id": "HH-IM", "village_code": VILLAGE, "values": full_values()},
                                     headers=who.village())).json()
    async with engine.connect() as conn:
        with pytest.raises(DBAPIError, match="is a record"):
            await conn.execute(text("UPDATE assessments SET score = 10 WHERE id = :id"), {"id": created["assessment_id"]})
        await conn.rollback()
        with pytest.raises(DBAPIError, match="assessments_one_current_ux"):
            await conn.execute(text(
                "INSERT INTO assessments (household_id, village_code, scorecard_id, assessed_on, valid_until, score, raw_score, base_points,"
                " bonus_points, deduction_points, vetoed, veto_reasons, indicator_values, category_points, is_current, assessed_by)"
                " VALUES ('HH-IM', :v, 1, current_date, current_date, 1, 1, 1, 0, 0, false, '{}', '{}', '{}', true, 'x')"), {"v": VILLAGE})
        await conn.rollback()


async def test_two_campaigns_over_the_same_new_households_both_land(committing: httpx.AsyncClient, who: Roles) -> None:
    items = [{"household_id": f"HH-OV{i:03d}", "village_code": VILLAGE, "values": full_values()} for i in range(300)]
    first, second = await asyncio.gather(
        committing.post("/v1/assessments/batch", json=items, headers=who.village()),
        committing.post("/v1/assessments/batch", json=items[::-1], headers=who.village()),
    )
    assert first.status_code == 200 and second.status_code == 200, (first.text[:300], second.text[:300])
    assert first.json()["created"] == 300 and second.json()["created"] == 300
    current = (await committing.get("/v1/assessments", params={"village_code": VILLAGE, "current_only": "true", "limit": 500},
                                    headers=who.village())).json()["items"]
    assert len([a for a in current if a["household_id"].startswith("HH-OV")]) == 300
