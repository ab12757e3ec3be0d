"""Who may do what: village officers assess their village; township and county officers read in their
region; banks read current grades and verify certificates; an applicant reads its own rating."""

import httpx
from credit_rating_support import OTHER_COUNTY_VILLAGE, OTHER_VILLAGE, VILLAGE, Roles, assess, full_values


async def test_assessing_a_household_outside_the_officers_village_is_403(client: httpx.AsyncClient, who: Roles) -> None:
    body = {"household_id": "HH-Z", "village_code": OTHER_VILLAGE, "values": full_values()}
    resp = await client.post("/v1/assessments", json=body, headers=who.village(VILLAGE))
    assert resp.status_code == 403
    assert (await client.get("/v1/ratings/HH-Z", headers=who.monitor())).json()["status"] == "none"


async def test_township_and_county_officers_and_banks_do_not_assess(client: httpx.AsyncClient, who: Roles) -> None:
    body = {"household_id": "HH-Z", "village_code": VILLAGE, "values": full_values()}
    for headers in (who.township(), who.county(), who.bank(), who.applicant("HH-Z")):
        assert (await client.post("/v1/assessments", json=body, headers=headers)).status_code == 403


async def test_officers_read_within_their_region_only(client: httpx.AsyncClient, who: Roles) -> None:
    assessment_id = (await assess(client, who, "HH-RD")).json()["assessment_id"]
    for headers in (who.village(), who.township(), who.county(), who.monitor(), who.admin()):
        assert (await client.get(f"/v1/assessments/{assessment_id}", headers=headers)).status_code == 200
        assert (await client.get("/v1/ratings/HH-RD", headers=headers)).status_code == 200
    for headers in (who.village(OTHER_VILLAGE), who.township("411224102000"), who.county("411202000000")):
        assert (await client.get(f"/v1/assessments/{assessment_id}", headers=headers)).status_code == 403
        assert (await client.get("/v1/ratings/HH-RD", headers=headers)).status_code == 403


async def test_an_applicant_reads_only_its_own_household(client: httpx.AsyncClient, who: Roles) -> None:
    assessment_id = (await assess(client, who, "HH-ME")).json()["assessment_id"]
    await assess(client, who, "HH-YOU")
    mine = who.applicant("HH-ME")
    assert (await client.get("/v1/ratings/HH-ME", headers=mine)).status_code == 200
    assert (await client.get(f"/v1/assessments/{assessment_id}", headers=mine)).status_code == 200
    assert (await client.get("/v1/assessments", params={"household_id": "HH-ME"}, headers=mine)).status_code == 200
    assert (await client.get("/v1/ratings/HH-YOU", headers=mine)).status_code == 403
    assert (await client.get("/v1/assessments", params={"household_id": "HH-YOU"}, headers=mine)).status_code == 403
    assert (await client.get("/v1/assessments", headers=mine)).status_code == 403


async def test_banks_read_current_grades_but_not_assessment_details(client: httpx.AsyncClient, who: Roles) -> None:
    assessment_id = (await assess(client, who, "HH-BK", village=OTHER_COUNTY_VILLAGE)).json()["assessment_id"]
    assert (await client.get("/v1/ratings/HH-BK", headers=who.bank())).json()["grade"] == "AAA"
    assert (await client.get(f"/v1/assessments/{assessment_id}", headers=who.bank())).status_code == 403
    assert (await client.get("/v1/assessments", params={"household_id": "HH-BK"}, headers=who.bank())).status_code == 403
    assert (await client.get("/v1/rating-households/coverage", headers=who.bank())).status_code == 403


async def test_certificates_are_issued_by_officers_of_the_region(client: httpx.AsyncClient, who: Roles) -> None:
    await assess(client, who, "HH-CI")
    body = {"household_id": "HH-CI"}
    assert (await client.post("/v1/certificates", json=body, headers=who.village(OTHER_VILLAGE))).status_code == 403
    assert (await client.post("/v1/certificates", json=body, headers=who.bank())).status_code == 403
    assert (await client.post("/v1/certificates", json=body, headers=who.township())).status_code == 201

