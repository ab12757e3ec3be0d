"""Batch assessment for a village campaign: each item's result or its own error."""

import random

import httpx
import orjson
from credit_rating_support import OTHER_COUNTY_VILLAGE, OTHER_VILLAGE, VILLAGE, Roles, full_values, values_scoring


def item(household_id: str, values: dict | None = None, village: str = VILLAGE) -> dict:
    return {"household_id": household_id, "village_code": village, "values": values if values is not None else full_values()}


async def test_valid_items_are_stored_even_when_others_fail(client: httpx.AsyncClient, who: Roles) -> None:
    bad_values = full_values(ZJ01="maybe")
    items = [
        item("HH-B1", values_scoring(75)),
        item("HH-B2", bad_values),
        {"household_id": "HH-B3", "village_code": "nope", "values": {}},
        item("HH-B4", full_values(TQ11=True)),
        item("HH-B1", full_values()),
        "not an object",
    ]
    resp = await client.post("/v1/assessments/batch", json={"items": items}, headers=who.village())
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["received"], body["created"], body["failed"]) == (6, 2, 4)
    results = body["results"]
    assert results[0]["status"] == "created" and results[0]["grade"] == "AA" and results[0]["credit_line"] == "30000.00"
    assert results[1]["status"] == "error" and results[1]["errors"] == [{"field": "values.ZJ01", "message": "must be true or false"}]
    assert results[2]["status"] == "error" and {e["field"] for e in results[2]["errors"]} == {"village_code"}
    assert results[3]["status"] == "created" and results[3]["vetoed"] and results[3]["veto_reasons"] == ["TQ11 被金融机构列入黑名单"]
    assert results[4]["status"] == "error" and "appears twice" in results[4]["errors"][0]["message"]
    assert results[5]["status"] == "error" and results[5]["household_id"] is None
    assert (await client.get("/v1/ratings/HH-B1", headers=who.bank())).json()["grade"] == "AA"
    assert (await client.get("/v1/ratings/HH-B2", headers=who.bank())).json()["status"] == "none"


async def test_ndjson_batches_are_accepted(client: httpx.AsyncClient, who: Roles) -> None:
    lines = b"\n".join(orjson.dumps(item(f"HH-N{i}", values_scoring(60 + i))) for i in range(5)) + b"\n"
    resp = await client.post("/v1/assessments/batch", content=lines, headers={**who.village(), "content-type": "application/x-ndjson"})
    assert resp.status_code == 200, resp.text
    assert [r["score"] for r in resp.json()["results"]] == [60, 61, 62, 63, 64]


async def test_a_batch_reassessment_supersedes_each_previous_rating(client: httpx.AsyncClient, who: Roles) -> None:
    first = (await client.post("/v1/assessments/batch", json=[item("HH-S1"), item("HH-S2")], headers=who.village())).json()
    second = (await client.post("/v1/assessments/batch", json=[item("HH-S1", values_scoring(61)), item("HH-S2")], headers=who.village())).json()
    for before, after in zip(first["results"], second["results"], strict=True):
        assert after["supersedes"] == before["assessment_id"]
    current = (await client.get("/v1/assessments", params={"village_code": VILLAGE, "current_only": "true"}, headers=who.village())).json()
    assert sorted(a["score"] for a in current["items"] if a["household_id"] in ("HH-S1", "HH-S2")) == [61, 100]


async def test_items_outside_the_officers_village_fail_alone(client: httpx.AsyncClient, who: Roles) -> None:
    resp = await client.post("/v1/assessments/batch", json=[item("HH-O1"), item("HH-O2", village=OTHER_VILLAGE)], headers=who.village())
    results = resp.json()["results"]
    assert results[0]["status"] == "created"
    assert results[1]["status"] == "error" and "outside the caller's region" in results[1]["errors"][0]["message"]


async def test_an_admin_batch_may_span_counties(client: httpx.AsyncClient, who: Roles) -> None:
    resp = await client.post("/v1/assessments/batch", json=[item("HH-A1"), item("HH-A2", village=OTHER_COUNTY_VILLAGE)], headers=who.admin())
    assert resp.json()["created"] == 2


async def test_more_than_10000_items_is_refused(client: httpx.AsyncClient, who: Roles) -> None:
    tiny = {"household_id": "H", "village_code": VILLAGE, "values": {}}
    resp = await client.post("/v1/assessments/batch", json=[tiny] * 10_001, headers=who.village())
    assert resp.status_code == 422 and resp.json()["type"] == "/problems/batch-too-large"


async def test_a_body_that_is_not_json_is_a_422(client: httpx.AsyncClient, who: Roles) -> None:
    resp = await client.post("/v1/assessments/batch", content=b"{not json", headers={**who.village(), "content-type": "application/json"})
    assert resp.status_code == 422
    resp = await client.post("/v1/assessments/batch", json={"something": 1}, headers=who.village())
    assert resp.status_code == 422


async def test_township_officers_do_not_assess(client: httpx.AsyncClient, who: Roles) -> None:
    resp = await client.post("/v1/assessments/batch", json=[item("HH-T")], headers=who.township())
    assert resp.status_code == 403


async def test_junk_answers_give_per_item_errors_never_a_500(client: httpx.AsyncClient, who: Roles) -> None:
    rng = random.Random(7)
    codes = [*full_values(), "ZJ07", "JC11", "NOPE", ""]
    junk = [None, True, False, 0, 1, -1, 2**64, 10**20, 1.5, -0.0, "", "good", "NaN", "Infinity", "1e999", "１２", [], [1], {}, {"a": 1}]
    items: list[object] = []
    for i in range(200):
        values = full_values()
        for _ in range(rng.randint(0, 4)):
            values[rng.choice(codes)] = rng.choice(junk)
        item_ = {"household_id": f"HH-J{i}", "village_code": VILLAGE, "values": values}
        if i % 17 == 0:
            item_[rng.choice(["household_id", "village_code", "values", "assessed_on"])] = rng.choice(junk)
        items.append(item_)
    resp = await client.post("/v1/assessments/batch", json=items, headers=who.village())
    assert resp.status_code == 200, resp.text[:500]
    body = resp.json()
    assert body["created"] + body["failed"] == 200 and body["failed"] > 0 and body["created"] > 0
    assert all(r["status"] == "created" or r["errors"] for r in body["results"])
