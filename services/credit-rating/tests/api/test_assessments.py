"""Assessments through the API: scoring, history, supersession, expiry and bad input."""

from datetime import UTC, datetime, timedelta

import httpx
from credit_rating_support import OTHER_VILLAGE, VILLAGE, Roles, assess, full_values, values_scoring


async def test_a_household_assessed_at_80_is_aaa_with_a_50000_line(client: httpx.AsyncClient, who: Roles) -> None:
    resp = await assess(client, who, "HH-80", values_scoring(80))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert (body["score"], body["grade"], body["credit_line"], body["vetoed"]) == (80, "AAA", "50000.00", False)
    assert body["scorecard_version"] == 1
    assert body["is_current"] and body["supersedes"] is None
    assert body["assessed_by"] == "vo"


async def test_grade_edges_through_the_api(client: httpx.AsyncClient, who: Roles) -> None:
    for i, (points, grade, line) in enumerate([(79, "AA", "30000.00"), (70, "AA", "30000.00"), (69, "A", "10000.00"), (60, "A", "10000.00"), (59, None, None)]):
        body = (await assess(client, who, f"HH-E{i}", values_scoring(points))).json()
        assert (body["score"], body["grade"], body["credit_line"]) == (points, grade, line)


async def test_the_result_is_explained_by_category_and_indicator(client: httpx.AsyncClient, who: Roles) -> None:
    values = values_scoring(90, ZJ07=True, XY09=True)  # bonus 2 (遵纪守法先进), deduction 5 (过往逾期)
    body = (await assess(client, who, "HH-X", values)).json()
    assert (body["base_points"], body["bonus_points"], body["deduction_points"], body["score"]) == (90, 2, 5, 87)
    categories = {c["code"]: c for c in body["categories"]}
    assert len(categories) == 13
    assert categories["ZJ"]["bonus"] == 2 and categories["XY"]["deduction"] == 5
    assert categories["ZJ"]["name"] == "遵纪守法好"
    lines = {ln["code"]: ln for ln in body["indicators"]}
    assert lines["XY09"]["points"] == -5 and lines["XY09"]["kind"] == "deduction"
    assert lines["ZJ07"]["points"] == 2
    fetched = (await client.get(f"/v1/assessments/{body['assessment_id']}", headers=who.township())).json()
    assert fetched["indicators"] == body["indicators"]


async def test_bonus_beyond_the_scale_is_capped_at_100(client: httpx.AsyncClient, who: Roles) -> None:
    bonus = {"ZJ07": True, "JT07": True, "LL07": True}
    body = (await assess(client, who, "HH-CAP", full_values(**bonus))).json()
    assert body["raw_score"] == 106 and body["score"] == 100


async def test_a_veto_indicator_gives_no_grade_and_no_line_with_the_reason(client: httpx.AsyncClient, who: Roles) -> None:
    body = (await assess(client, who, "HH-V", full_values(BL11=True))).json()
    assert body["vetoed"] is True
    assert body["grade"] is None and body["credit_line"] is None
    assert body["veto_reasons"] == ["BL11 有吸毒或聚众赌博违法记录"]
    rating = (await client.get("/v1/ratings/HH-V", headers=who.bank())).json()
    assert rating["vetoed"] and not rating["eligible_to_borrow"] and rating["grade"] is None


async def test_bad_values_are_a_422_listing_every_problem(client: httpx.AsyncClient, who: Roles) -> None:
    values = full_values(ZJ01="yes", ZJ06="excellent", JC02=-5, NOPE1=True)
    del values["LL11"]
    resp = await assess(client, who, "HH-BAD", values)
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in resp.json()["errors"]}
    assert fields == {"values.ZJ01", "values.ZJ06", "values.JC02", "values.NOPE1", "values.LL11"}
    assert (await client.get("/v1/ratings/HH-BAD", headers=who.monitor())).json()["status"] == "none"


async def test_a_malformed_request_is_a_422_not_a_500(client: httpx.AsyncClient, who: Roles) -> None:
    resp = await client.post("/v1/assessments", json={"household_id": "bad id!", "village_code": "12", "values": []}, headers=who.village())
    assert resp.status_code == 422
    assert {e["field"] for e in resp.json()["errors"]} == {"household_id", "village_code", "values"}


async def test_a_reassessment_supersedes_the_previous_and_says_so(client: httpx.AsyncClient, who: Roles) -> None:
    first = (await assess(client, who, "HH-R", values_scoring(65))).json()
    second = (await assess(client, who, "HH-R", values_scoring(85))).json()
    assert second["supersedes"] == first["assessment_id"]
    old = (await client.get(f"/v1/assessments/{first['assessment_id']}", headers=who.village())).json()
    assert old["is_current"] is False and old["superseded_by"] == second["assessment_id"]
    history = (await client.get("/v1/assessments", params={"household_id": "HH-R"}, headers=who.village())).json()
    assert [a["assessment_id"] for a in history["items"]] == [second["assessment_id"], first["assessment_id"]]
    rating = (await client.get("/v1/ratings/HH-R", headers=who.applicant("HH-R"))).json()
    assert (rating["assessment_id"], rating["grade"]) == (second["assessment_id"], "AAA")


async def test_a_rating_expires_after_a_year(client: httpx.AsyncClient, who: Roles) -> None:
    assessed_on = datetime.now(UTC).date() - timedelta(days=400)
    body = (await assess(client, who, "HH-OLD", full_values(), assessed_on=assessed_on.isoformat())).json()
    assert body["valid_until"] == (assessed_on + timedelta(days=364)).isoformat()
    rating = (await client.get("/v1/ratings/HH-OLD", headers=who.bank())).json()
    assert rating["status"] == "expired" and rating["eligible_to_borrow"] is False
    then = (await client.get("/v1/ratings/HH-OLD", params={"as_of": assessed_on.isoformat()}, headers=who.bank())).json()
    assert then["status"] == "current" and then["eligible_to_borrow"] is True


async def test_an_assessment_dated_in_the_future_is_refused(client: httpx.AsyncClient, who: Roles) -> None:
    resp = await assess(client, who, "HH-F", full_values(), assessed_on=(datetime.now(UTC).date() + timedelta(days=3)).isoformat())
    assert resp.status_code == 422 and "in the future" in resp.json()["detail"]


async def test_a_household_registered_in_another_village_is_a_409(client: httpx.AsyncClient, who: Roles) -> None:
    roster = [{"household_id": "HH-MOVED", "village_code": OTHER_VILLAGE, "registered": True}]
    assert (await client.put("/v1/rating-households", json=roster, headers=who.service())).status_code == 200
    resp = await assess(client, who, "HH-MOVED", full_values())
    assert resp.status_code == 409
    assert OTHER_VILLAGE in resp.json()["detail"]


async def test_history_is_cursor_paged(client: httpx.AsyncClient, who: Roles) -> None:
    for points in (60, 70, 80):
        await assess(client, who, "HH-P", values_scoring(points))
    page1 = (await client.get("/v1/assessments", params={"household_id": "HH-P", "limit": 2}, headers=who.village())).json()
    assert [a["score"] for a in page1["items"]] == [80, 70] and page1["next_cursor"]
    page2 = (await client.get("/v1/assessments", params={"household_id": "HH-P", "limit": 2, "cursor": page1["next_cursor"]},
                              headers=who.village())).json()
    assert [a["score"] for a in page2["items"]] == [60] and page2["next_cursor"] is None


async def test_unknown_assessment_is_404(client: httpx.AsyncClient, who: Roles) -> None:
    assert (await client.get("/v1/assessments/999999999", headers=who.monitor())).status_code == 404


async def test_a_household_never_assessed_has_status_none(client: httpx.AsyncClient, who: Roles) -> None:
    body = (await client.get("/v1/ratings/HH-NEVER", headers=who.bank())).json()
    assert body == {
        "household_id": "HH-NEVER", "village_code": None, "status": "none", "score": None, "grade": None, "credit_line": None,
        "vetoed": False, "veto_reasons": [], "blacklisted": False, "eligible_to_borrow": False, "valid_until": None,
        "scorecard_version": None, "assessment_id": None, "assessed_score": None, "penalties": [],
    }


async def test_the_rating_contract_fields_for_a_current_rating(client: httpx.AsyncClient, who: Roles) -> None:
    created = (await assess(client, who, "HH-C", values_scoring(72))).json()
    body = (await client.get("/v1/ratings/HH-C", headers=who.bank())).json()
    assert body["village_code"] == VILLAGE
    assert (body["status"], body["score"], body["grade"], body["credit_line"]) == ("current", 72, "AA", "30000.00")
    assert (body["vetoed"], body["veto_reasons"], body["blacklisted"], body["eligible_to_borrow"]) == (False, [], False, True)
    assert (body["valid_until"], body["scorecard_version"], body["assessment_id"]) == (created["valid_until"], 1, created["assessment_id"])


async def test_a_reassessment_dated_before_the_current_one_is_a_409(client: httpx.AsyncClient, who: Roles) -> None:
    await assess(client, who, "HH-LATE", full_values(), assessed_on="2026-06-01")
    resp = await assess(client, who, "HH-LATE", full_values(), assessed_on="2026-05-01")
    assert resp.status_code == 409 and resp.json()["type"] == "/problems/later-assessment-exists"


async def test_objects_lists_and_nulls_as_answers_are_listed_problems(client: httpx.AsyncClient, who: Roles) -> None:
    resp = await assess(client, who, "HH-NEST", full_values(ZJ01={"a": 1}, ZJ06=["good"], JC02=None, JC01="many"))
    assert resp.status_code == 422
    assert {e["field"] for e in resp.json()["errors"]} == {"values.ZJ01", "values.ZJ06", "values.JC02", "values.JC01"}


async def test_ids_beyond_the_database_range_are_bad_input(client: httpx.AsyncClient, who: Roles) -> None:
    huge = str(2**70)
    assert (await client.get(f"/v1/assessments/{huge}", headers=who.monitor())).status_code == 422
    assert (await client.get(f"/v1/scorecards/{huge}", headers=who.monitor())).status_code == 422
    assert (await client.get("/v1/assessments", params={"household_id": "H", "cursor": huge}, headers=who.monitor())).status_code == 422


async def test_the_breakdown_names_the_vetoes_of_each_category(client: httpx.AsyncClient, who: Roles) -> None:
    body = (await assess(client, who, "HH-VC", full_values(BL11=True, XY11=True))).json()
    assert body["veto_reasons"] == ["XY11 被人民法院列为失信被执行人", "BL11 有吸毒或聚众赌博违法记录"]
    vetoes = {c["code"]: c["vetoes"] for c in body["categories"] if c["vetoes"]}
    assert vetoes == {"XY": ["XY11 被人民法院列为失信被执行人"], "BL": ["BL11 有吸毒或聚众赌博违法记录"]}
    assert [ln["code"] for ln in body["indicators"] if ln["vetoes"]] == ["XY11", "BL11"]


async def test_a_number_too_large_to_record_is_a_422(client: httpx.AsyncClient, who: Roles) -> None:
    resp = await assess(client, who, "HH-BIG", full_values(JC02=10**30))
    assert resp.status_code == 422 and resp.json()["errors"] == [{"field": "values.JC02", "message": "must be a number below 10^15"}]
