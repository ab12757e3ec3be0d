"""信用证 and 失信: certificates for rated households, revoked on veto or blacklist; a blacklisted
household is vetoed until removed."""

import httpx
from credit_rating_support import OTHER_VILLAGE, VILLAGE, Roles, assess, full_values, values_scoring


async def issue(client: httpx.AsyncClient, who: Roles, household_id: str) -> httpx.Response:
    return await client.post("/v1/certificates", json={"household_id": household_id}, headers=who.village())


async def blacklist(client: httpx.AsyncClient, who: Roles, household_id: str, reason: str = "恶意逃废债") -> httpx.Response:
    body = {"household_id": household_id, "village_code": VILLAGE, "reason": reason, "source": "court"}
    return await client.post("/v1/blacklist", json=body, headers=who.township())


async def test_a_rated_household_gets_a_certificate_that_a_bank_verifies(client: httpx.AsyncClient, who: Roles) -> None:
    rated = (await assess(client, who, "HH-C1", values_scoring(75))).json()
    resp = await issue(client, who, "HH-C1")
    assert resp.status_code == 201, resp.text
    cert = resp.json()
    assert cert["number"].startswith("XYZ-411224-")
    assert (cert["grade"], cert["credit_line"], cert["valid_until"], cert["status"]) == ("AA", "30000.00", rated["valid_until"], "valid")
    verified = (await client.get(f"/v1/certificates/{cert['number']}", headers=who.bank())).json()
    assert verified["status"] == "valid" and verified["eligible_to_borrow"] is True and verified["current_grade"] == "AA"


async def test_no_certificate_without_a_lending_grade(client: httpx.AsyncClient, who: Roles) -> None:
    assert (await issue(client, who, "HH-NONE")).status_code == 409
    await assess(client, who, "HH-LOW", values_scoring(55))
    resp = await issue(client, who, "HH-LOW")
    assert resp.status_code == 409 and resp.json()["type"] == "/problems/not-rated"
    await assess(client, who, "HH-VET", full_values(YS11=True))
    assert (await issue(client, who, "HH-VET")).json()["vetoed"] is True


async def test_blacklisting_vetoes_and_revokes_the_certificate_until_removed(client: httpx.AsyncClient, who: Roles) -> None:
    await assess(client, who, "HH-BL", full_values())
    number = (await issue(client, who, "HH-BL")).json()["number"]
    entry = await blacklist(client, who, "HH-BL")
    assert entry.status_code == 201, entry.text
    assert (entry.json()["actor"], entry.json()["source"], entry.json()["active"]) == ("to", "court", True)
    rating = (await client.get("/v1/ratings/HH-BL", headers=who.bank())).json()
    assert (rating["blacklisted"], rating["vetoed"], rating["grade"], rating["eligible_to_borrow"]) == (True, True, None, False)
    assert rating["veto_reasons"] == ["blacklisted: 恶意逃废债"]
    cert = (await client.get(f"/v1/certificates/{number}", headers=who.bank())).json()
    assert cert["status"] == "revoked" and "失信" in cert["revoked_reason"] and cert["eligible_to_borrow"] is False
    assert (await issue(client, who, "HH-BL")).status_code == 409
    removed = await client.post(f"/v1/blacklist/{entry.json()['entry_id']}/removal", json={"reason": "已结清"}, headers=who.county())
    assert removed.status_code == 200 and removed.json()["active"] is False and removed.json()["removed_by"] == "co"
    after = (await client.get("/v1/ratings/HH-BL", headers=who.bank())).json()
    assert (after["blacklisted"], after["grade"], after["eligible_to_borrow"]) == (False, "AAA", True)
    again = await client.post(f"/v1/blacklist/{entry.json()['entry_id']}/removal", json={"reason": "x"}, headers=who.county())
    assert again.status_code == 409


async def test_a_vetoed_reassessment_revokes_the_certificate(client: httpx.AsyncClient, who: Roles) -> None:
    await assess(client, who, "HH-RV", full_values())
    number = (await issue(client, who, "HH-RV")).json()["number"]
    await assess(client, who, "HH-RV", full_values(BL11=True))
    cert = (await client.get(f"/v1/certificates/{number}", headers=who.village())).json()
    assert cert["status"] == "revoked" and "一否决" in cert["revoked_reason"]


async def test_a_new_certificate_replaces_the_old_one(client: httpx.AsyncClient, who: Roles) -> None:
    await assess(client, who, "HH-2C", full_values())
    first = (await issue(client, who, "HH-2C")).json()["number"]
    second = (await issue(client, who, "HH-2C")).json()["number"]
    assert first != second
    assert (await client.get(f"/v1/certificates/{first}", headers=who.bank())).json()["status"] == "revoked"
    assert (await client.get(f"/v1/certificates/{second}", headers=who.bank())).json()["status"] == "valid"


async def test_an_officer_revokes_a_certificate_once(client: httpx.AsyncClient, who: Roles) -> None:
    await assess(client, who, "HH-RK", full_values())
    number = (await issue(client, who, "HH-RK")).json()["number"]
    resp = await client.post(f"/v1/certificates/{number}/revocation", json={"reason": "信息不实"}, headers=who.township())
    assert resp.status_code == 200 and resp.json()["status"] == "revoked" and resp.json()["revoked_reason"] == "信息不实"
    again = await client.post(f"/v1/certificates/{number}/revocation", json={"reason": "x"}, headers=who.township())
    assert again.status_code == 409 and again.json()["certificate_status"] == "revoked"
    other = await client.post(f"/v1/certificates/{number}/revocation", json={"reason": "x"}, headers=who.village(OTHER_VILLAGE))
    assert other.status_code == 403


async def test_unknown_certificate_is_404(client: httpx.AsyncClient, who: Roles) -> None:
    assert (await client.get("/v1/certificates/XYZ-000000-2026-0000000", headers=who.bank())).status_code == 404


async def test_blacklist_needs_a_reason_and_the_right_village(client: httpx.AsyncClient, who: Roles) -> None:
    resp = await client.post("/v1/blacklist", json={"household_id": "HH-Q", "village_code": VILLAGE, "reason": ""}, headers=who.village())
    assert resp.status_code == 422
    resp = await client.post("/v1/blacklist", json={"household_id": "HH-Q", "village_code": VILLAGE, "reason": "x"}, headers=who.village(OTHER_VILLAGE))
    assert resp.status_code == 403
    resp = await client.post("/v1/blacklist", json={"household_id": "HH-Q", "village_code": VILLAGE, "reason": "x"}, headers=who.bank())
    assert resp.status_code == 403


async def test_a_household_never_assessed_can_be_blacklisted(client: httpx.AsyncClient, who: Roles) -> None:
    await blacklist(client, who, "HH-NA")
    rating = (await client.get("/v1/ratings/HH-NA", headers=who.bank())).json()
    assert (rating["status"], rating["blacklisted"], rating["vetoed"], rating["village_code"]) == ("none", True, True, VILLAGE)


async def test_the_blacklist_lists_entries_of_the_callers_region(client: httpx.AsyncClient, who: Roles) -> None:
    await blacklist(client, who, "HH-L1")
    body = {"household_id": "HH-L2", "village_code": OTHER_VILLAGE, "reason": "x"}
    assert (await client.post("/v1/blacklist", json=body, headers=who.county())).status_code == 201
    mine = (await client.get("/v1/blacklist", headers=who.village())).json()
    assert {e["household_id"] for e in mine["items"]} == {"HH-L1"}
    county = (await client.get("/v1/blacklist", headers=who.county())).json()
    assert {e["household_id"] for e in county["items"]} >= {"HH-L1", "HH-L2"}
    assert (await client.get("/v1/blacklist", headers=who.bank())).status_code == 403
