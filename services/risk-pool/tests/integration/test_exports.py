"""Exports of claims and breaker history: keyset pages under the first page's snapshot, on real
commits, while new rows keep arriving; NDJSON and CSV carry the same rows; region and bank scoping."""

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from risk_pool_support import Actors, World, event

from kit.testing import api_client

VILLAGE, OTHER_TOWNSHIP_VILLAGE = "411224100201", "411224200301"


@pytest.fixture
async def world(committed_app: FastAPI, actors: Actors) -> AsyncIterator[World]:
    async with api_client(committed_app) as client:
        yield World(client, actors)


async def claimable(world: World, *loans: str, village: str = VILLAGE) -> None:
    for loan in loans:
        await world.defaulted_loan(loan, village=village, household_id=f"H-{loan}")


async def file(world: World, *loans: str, headers: dict[str, str] | None = None) -> None:
    for loan in loans:
        resp = await world.claim(loan, headers)
        assert resp.status_code == 201, resp.text


async def move_business_date(world: World, to: str) -> None:
    await world.events(event(world.next_seq(), f"L-DATE-{to}", "disbursed", to, village="411224100299"))


def ndjson(resp: httpx.Response) -> list[dict[str, Any]]:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/x-ndjson"
    return [json.loads(line) for line in resp.text.splitlines()]


async def pages(world: World, path: str, headers: dict[str, str], between: Any = None, **params: Any) -> list[list[dict[str, Any]]]:
    out, cursor = [], None
    while True:
        resp = await world.c.get(path, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers)
        out.append(ndjson(resp))
        cursor = resp.headers.get("x-next-cursor")
        if cursor is None:
            return out
        if between is not None:
            await between(len(out))


async def test_claim_pages_concatenate_to_exactly_the_period_while_claims_keep_arriving(world: World) -> None:
    await world.fund(deposit="10000000.00")
    await world.scheme()
    await claimable(world, *(f"L-{i}" for i in range(1, 11)))
    await file(world, "L-1", "L-2")  # filed on 2022-04-15
    await move_business_date(world, "2022-05-03")
    await file(world, "L-3", "L-4", "L-5", "L-6", "L-7")  # filed on 2022-05-03
    extra = iter(["L-8", "L-9", "L-10"])

    async def a_claim_arrives(_: int) -> None:
        await file(world, next(extra))

    got = await pages(world, "/v1/claims/export", world.a.finance, between=a_claim_arrives, limit=2, **{"from": "2022-05-01"})

    assert [len(p) for p in got] == [2, 2, 1]
    assert [r["loan_id"] for p in got for r in p] == ["L-3", "L-4", "L-5", "L-6", "L-7"]
    fresh = await pages(world, "/v1/claims/export", world.a.finance, **{"from": "2022-05-01"})
    assert [r["loan_id"] for p in fresh for r in p] == ["L-3", "L-4", "L-5", "L-6", "L-7", "L-8", "L-9"]
    april = await pages(world, "/v1/claims/export", world.a.finance, **{"from": "2022-04-01", "to": "2022-04-30"})
    assert [r["loan_id"] for p in april for r in p] == ["L-1", "L-2"]


async def test_a_claim_row_carries_its_parts_by_party(world: World) -> None:
    await world.fund()
    await world.scheme()
    await claimable(world, "L-1")
    await file(world, "L-1")

    [[row]] = await pages(world, "/v1/claims/export", world.a.finance)

    assert (row["loss"], row["status"], row["filed_on"], row["fund_code"]) == ("52175.00", "paid", "2022-04-15", "lushi")
    assert (row["government_amount"], row["government_status"], row["bank_amount"], row["bank_status"]) == (
        "10435.00", "paid", "5217.50", "settled")
    assert (row["guarantor_account"], row["guarantor_share"], row["guarantor_status"]) == (
        "henan-agri-credit-guarantee", "0.500000", "open")
    assert (row["insurer_account"], row["insurer_amount"]) == (None, None)


async def test_csv_and_ndjson_carry_the_same_rows(world: World) -> None:
    await world.fund()
    await world.scheme()
    await claimable(world, "L-1", "L-2", "L-3")
    await file(world, "L-1", "L-2", "L-3")

    as_json = ndjson(await world.c.get("/v1/claims/export", headers=world.a.finance))
    resp = await world.c.get("/v1/claims/export", params={"format": "csv"}, headers=world.a.finance)

    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    as_csv = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8"))))
    assert len(as_csv) == 3
    assert as_csv == [{k: "" if v is None else str(v) for k, v in row.items()} for row in as_json]


async def test_exports_are_confined_to_the_callers_region_and_a_banks_own_claims(world: World) -> None:
    await world.fund(deposit="10000000.00")
    await world.scheme()
    await claimable(world, "L-1", "L-2")
    await claimable(world, "L-9", village=OTHER_TOWNSHIP_VILLAGE)
    await world.defaulted_loan("L-P", bank_id="PSBC")
    await file(world, "L-1", "L-2", "L-9")
    await file(world, "L-P", headers=world.a.other_bank)
    a = world.a

    def loans(got: list[list[dict[str, Any]]]) -> list[str]:
        return [r["loan_id"] for p in got for r in p]

    assert loans(await pages(world, "/v1/claims/export", a.township_officer)) == ["L-1", "L-2", "L-P"]
    assert loans(await pages(world, "/v1/claims/export", a.county_officer, region=OTHER_TOWNSHIP_VILLAGE)) == ["L-9"]
    assert loans(await pages(world, "/v1/claims/export", a.hubin_officer)) == []
    assert loans(await pages(world, "/v1/claims/export", a.other_bank)) == ["L-P"]
    assert loans(await pages(world, "/v1/claims/export", a.monitor)) == ["L-1", "L-2", "L-9", "L-P"]
    outside = await world.c.get("/v1/claims/export", params={"region": "411224000000"}, headers=a.hubin_officer)
    assert outside.status_code == 403
    assert (await world.c.get("/v1/claims/export", headers=a.party("henan-agri-credit-guarantee"))).status_code == 403
    officer_without_region = a.t.headers("lost-officer", roles=["county_officer"], scopes=["risk:read"])
    assert (await world.c.get("/v1/breakers/export", headers=officer_without_region)).status_code == 403


async def test_breaker_history_export_pages_by_change_with_region_and_period(world: World) -> None:
    villages = ["411224100201", "411224100202", "411224200301"]
    for village in villages:  # each village: one loan that defaults, so it breaks (100% non-performing)
        await world.loan(f"L-{village}", village=village)
    for village in villages[:2]:
        await world.default(f"L-{village}", village=village)
    await move_business_date(world, "2022-06-01")
    await world.default(f"L-{villages[2]}", village=villages[2])

    everything = await pages(world, "/v1/breakers/export", world.a.monitor, limit=2)
    lushi_april = await pages(world, "/v1/breakers/export", world.a.county_officer, region="411224100000",
                              **{"from": "2022-04-01", "to": "2022-04-30"})
    hubin = await pages(world, "/v1/breakers/export", world.a.hubin_officer)

    rows = [r for p in everything for r in p]
    assert [(r["level"], r["code"], r["to_state"], r["changed_on"]) for r in rows] == [
        ("village", "411224100201", "broken", "2022-04-15"), ("township", "411224100000", "broken", "2022-04-15"),
        ("village", "411224100202", "broken", "2022-04-15"),
        ("village", "411224200301", "broken", "2022-06-01"), ("township", "411224200000", "broken", "2022-06-01")]
    assert len({r["change_id"] for r in rows}) == 5 and all(len(p) <= 2 for p in everything)
    assert [r["code"] for p in lushi_april for r in p] == ["411224100201", "411224100000", "411224100202"]
    assert hubin == [[]]


async def test_a_cursor_this_service_did_not_issue_is_422(world: World) -> None:
    for cursor in ("abc", "Zm9vfGJhcg", "MTo1OnxkZWFk"):
        resp = await world.c.get("/v1/claims/export", params={"cursor": cursor}, headers=world.a.finance)
        assert resp.status_code == 422, (cursor, resp.text)
    resp = await world.c.get("/v1/breakers/export", params={"from": "2022-02-01", "to": "2022-01-01"}, headers=world.a.finance)
    assert resp.status_code == 422
