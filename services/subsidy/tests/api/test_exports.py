"""GET /v1/settlements/export: one row per settlement line for departments and regulators, NDJSON
or CSV, keyset-paged with the next cursor in X-Next-Cursor, scoped like the other reads."""

import csv
import io
import json

import httpx
from support import OTHER_VILLAGE, TOWNSHIP, World

from subsidy.schemas import encode_cursor

URL = "/v1/settlements/export"


async def _settled(world: World) -> tuple[dict, dict]:
    """Township 101: three loans at RCC and PSBC, one excluded; township 102: one loan."""
    plan = await world.plan(allocations=[])
    await world.loan("L-1", household_id="H-1", bank_id="RCC")
    await world.loan("L-2", household_id="H-2", bank_id="PSBC")
    await world.loan("L-3", household_id="H-3", bank_id="RCC", late_interest=2)
    await world.loan("L-9", household_id="H-9", village=OTHER_VILLAGE, bank_id="ABC")
    first = await world.batch(plan["id"])
    other = await world.batch(plan["id"], township=OTHER_VILLAGE[:9] + "000", headers=world.county())
    return first, other


async def _all(client: httpx.AsyncClient, headers: dict[str, str], query: str = "", limit: int = 2) -> tuple[list[dict], int]:
    rows, pages, cursor = [], 0, None
    while True:
        params = f"{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        resp = await client.get(f"{URL}?{params}", headers=headers)
        assert resp.status_code == 200, resp.text
        pages += 1
        rows += [json.loads(line) for line in resp.text.splitlines()]
        cursor = resp.headers.get("x-next-cursor")
        if cursor is None:
            return rows, pages


async def test_pages_concatenate_to_every_line_once_in_key_order(world: World) -> None:
    first, other = await _settled(world)
    rows, pages = await _all(world.client, world.monitor(), limit=2)
    assert pages == 2  # 4 lines in pages of 2; the last page says so by having no X-Next-Cursor
    assert [(r["batch_id"], r["loan_id"], r["loan_year"]) for r in rows] == [
        (first["id"], "L-1", 1), (first["id"], "L-2", 1), (first["id"], "L-3", 1), (other["id"], "L-9", 1)
    ]
    l3 = rows[2]
    assert (l3["eligible"], l3["reason"], l3["computed_amount"], l3["granted_amount"]) == (False, "late_interest", "2175.00", "0.00")
    assert (rows[0]["household_id"], rows[0]["enterprise_id"], rows[0]["bank_id"], rows[0]["village_code"]) == ("H-1", None, "RCC", "411224101001")
    assert (rows[0]["township_code"], rows[0]["county_code"], rows[0]["days"]) == (TOWNSHIP, "411224000000", 365)


async def test_csv_and_ndjson_carry_the_same_rows(world: World) -> None:
    first, _ = await _settled(world)
    await world.approve_and_pay(first)
    ndjson = await world.client.get(f"{URL}?limit=100", headers=world.monitor())
    as_csv = await world.client.get(f"{URL}?limit=100&format=csv", headers=world.monitor())
    assert ndjson.headers["content-type"] == "application/x-ndjson"
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    from_json = [json.loads(line) for line in ndjson.text.splitlines()]
    from_csv = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8"))))
    assert len(from_csv) == len(from_json) == 4
    for j, c in zip(from_json, from_csv, strict=True):
        as_text = {k: "" if v is None else ("true" if v is True else "false" if v is False else str(v)) for k, v in j.items()}
        assert as_text == c
    assert from_csv[0]["payment_reference"] == "PAY-H-1" and from_csv[0]["paid_on"] == "2027-03-05"


async def test_the_period_is_the_payment_date_or_the_business_date_while_unpaid(world: World) -> None:
    first, other = await _settled(world)
    await world.approve_and_pay(first)  # paid on 2027-03-05; the other batch was made on business date 2027-03-01
    march_5, _ = await _all(world.client, world.monitor(), "from=2027-03-05&to=2027-03-31", limit=10)
    march_1, _ = await _all(world.client, world.monitor(), "from=2027-03-01&to=2027-03-01", limit=10)
    assert {r["batch_id"] for r in march_5} == {first["id"]} and {r["batch_status"] for r in march_5} == {"paid"}
    assert {r["batch_id"] for r in march_1} == {other["id"]} and march_1[0]["paid_on"] is None


async def test_officers_see_their_region_banks_their_loans_applicants_nothing(world: World) -> None:
    await _settled(world)
    township, _ = await _all(world.client, world.township(), limit=10)
    assert {r["loan_id"] for r in township} == {"L-1", "L-2", "L-3"}
    village, _ = await _all(world.client, world.county(), f"region={OTHER_VILLAGE}", limit=10)
    assert [r["loan_id"] for r in village] == ["L-9"]
    bank, _ = await _all(world.client, world.bank("RCC"), limit=10)
    assert {r["loan_id"] for r in bank} == {"L-1", "L-3"}
    outside = await world.client.get(f"{URL}?region={OTHER_VILLAGE}", headers=world.township())
    assert outside.status_code == 403
    assert (await world.client.get(URL, headers=world.applicant("H-1"))).status_code == 403


async def test_a_cursor_is_good_only_for_the_filters_it_was_issued_for(world: World) -> None:
    await _settled(world)
    first = await world.client.get(f"{URL}?limit=1&region=411224000000", headers=world.monitor())
    cursor = first.headers["x-next-cursor"]
    assert (await world.client.get(f"{URL}?limit=1&region=411224000000&cursor={cursor}", headers=world.monitor())).status_code == 200
    moved = await world.client.get(f"{URL}?limit=1&region=411224101000&cursor={cursor}", headers=world.monitor())
    assert moved.status_code == 422
    assert (await world.client.get(f"{URL}?cursor=WyJ4Il0", headers=world.monitor())).status_code == 422
    forged = encode_cursor(["5:3:", "411224000000", "", "", 1, "L-1", 1])  # a snapshot PostgreSQL would refuse
    assert (await world.client.get(f"{URL}?region=411224000000&cursor={forged}", headers=world.monitor())).status_code == 422


async def test_limit_is_at_most_ten_thousand(world: World) -> None:
    assert (await world.client.get(f"{URL}?limit=10001", headers=world.monitor())).status_code == 422
    assert (await world.client.get(f"{URL}?limit=10000", headers=world.monitor())).status_code == 200
