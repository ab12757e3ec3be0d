"""Funds (风险补偿金): deposits, withdrawals, the city's top-up by lending volume, statements, who may."""

import httpx
from risk_pool_support import CITY, World, event


async def test_city_top_up_follows_lending_volume_to_the_fen(world: World, client: httpx.AsyncClient) -> None:
    await world.fund(code="city", region=CITY, level="city", deposit="30000000.00")
    await world.fund(code="lushi", deposit=None)
    await world.fund(code="hubin", region="411202000000", deposit=None)
    await world.events(event(1, "L-1", "disbursed", "2021-01-10", principal="50000.00"),
                       event(2, "L-2", "disbursed", "2021-01-10", principal="50000.00"),
                       event(3, "L-3", "disbursed", "2021-01-10", principal="30000.00", village="411202100201"))

    resp = await client.post("/v1/funds/city/top-ups", json={"amount": "1000000.01", "memo": "2021 奖补"}, headers=world.a.finance)

    assert resp.status_code == 201, resp.text
    parts = {p["fund_code"]: p["amount"] for p in resp.json()["parts"]}
    assert parts == {"lushi": "769230.78", "hubin": "230769.23"}  # 10 : 3, the odd fen to the larger remainder
    lines = resp.json()["entry"]["lines"]
    assert sum(int(ln["amount"].replace(".", "")) for ln in lines) == 0
    balances = {f["code"]: f["balance"] for f in (await client.get("/v1/funds", headers=world.a.monitor)).json()["items"]}
    assert balances == {"city": "28999999.99", "lushi": "769230.78", "hubin": "230769.23"}


async def test_top_up_without_lending_volume_is_409(world: World, client: httpx.AsyncClient) -> None:
    await world.fund(code="city", region=CITY, level="city", deposit="100.00")
    await world.fund(code="lushi", deposit=None)
    resp = await client.post("/v1/funds/city/top-ups", json={"amount": "10.00"}, headers=world.a.finance)
    assert resp.status_code == 409
    county = await client.post("/v1/funds/lushi/top-ups", json={"amount": "10.00"}, headers=world.a.finance)
    assert county.status_code == 409 and "city" in county.json()["detail"]


async def test_statement_shows_opening_movements_and_closing_for_a_period(world: World, client: httpx.AsyncClient) -> None:
    await world.fund(deposit=None)
    for amount, on in (("1000.00", "2021-01-05"), ("500.00", "2021-02-01"), ("250.00", "2021-03-01")):
        r = await client.post("/v1/funds/lushi/deposits", json={"amount": amount, "value_date": on}, headers=world.a.finance)
        assert r.status_code == 201
    await client.post("/v1/funds/lushi/withdrawals", json={"amount": "100.00", "value_date": "2021-02-10"}, headers=world.a.finance)

    resp = await client.get("/v1/funds/lushi/statement?from=2021-02-01&to=2021-02-28", headers=world.a.county_officer)

    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["opening_balance"], body["total_in"], body["total_out"], body["closing_balance"]) == (
        "1000.00", "500.00", "100.00", "1400.00")
    assert [(ln["kind"], ln["amount"], ln["balance_after"]) for ln in body["lines"]] == [
        ("deposit", "500.00", "1500.00"), ("withdrawal", "-100.00", "1400.00")]


async def test_only_the_finance_bureau_moves_fund_money(world: World, client: httpx.AsyncClient) -> None:
    await world.fund()
    for headers in (world.a.bank, world.a.county_officer, world.a.monitor, world.a.party("picc", "insurer")):
        resp = await client.post("/v1/funds/lushi/deposits", json={"amount": "1.00"}, headers=headers)
        assert resp.status_code == 403, headers


async def test_money_is_a_string_with_two_decimals_and_floats_with_more_are_422(world: World, client: httpx.AsyncClient) -> None:
    await world.fund(deposit=None)
    ok = await client.post("/v1/funds/lushi/deposits", json={"amount": 1234.5}, headers=world.a.finance)
    assert ok.status_code == 201 and ok.json()["balance"] == "1234.50"
    for bad in ("1.001", "-5.00", "0", "abc"):
        assert (await client.post("/v1/funds/lushi/deposits", json={"amount": bad}, headers=world.a.finance)).status_code == 422


async def test_a_reference_is_posted_once_per_fund(world: World, client: httpx.AsyncClient) -> None:
    await world.fund(deposit=None)
    body = {"amount": "10.00", "reference": "拨款-2021-001"}
    assert (await client.post("/v1/funds/lushi/deposits", json=body, headers=world.a.finance)).status_code == 201
    assert (await client.post("/v1/funds/lushi/deposits", json=body, headers=world.a.finance)).status_code == 409


async def test_one_fund_per_county_and_codes_are_unique(world: World, client: httpx.AsyncClient) -> None:
    await world.fund(deposit=None)
    again = await client.post("/v1/funds", json={"code": "lushi2", "name": "x", "level": "county", "region_code": "411224000000"},
                              headers=world.a.finance)
    assert again.status_code == 409 and "411224000000" in again.json()["detail"]
    wrong_level = await client.post("/v1/funds", json={"code": "x", "name": "x", "level": "county", "region_code": CITY},
                                    headers=world.a.finance)
    assert wrong_level.status_code == 422


async def test_officers_see_their_county_fund_and_the_city_fund_only(world: World, client: httpx.AsyncClient) -> None:
    await world.fund(code="city", region=CITY, level="city", deposit=None)
    await world.fund(code="lushi", deposit=None)
    await world.fund(code="hubin", region="411202000000", deposit=None)

    seen = [f["code"] for f in (await client.get("/v1/funds", headers=world.a.county_officer)).json()["items"]]

    assert seen == ["city", "lushi"]
    assert (await client.get("/v1/funds/hubin", headers=world.a.county_officer)).status_code == 403
    assert (await client.get("/v1/funds/nope", headers=world.a.county_officer)).status_code == 404
