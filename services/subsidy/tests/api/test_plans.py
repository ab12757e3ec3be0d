"""Plans (贴息计划): who sets them, what is refused, and the fund that can never be exceeded."""

import httpx
from support import COUNTY, TOWNSHIP, World


def plan_body(**overrides: object) -> dict:
    body = {
        "county_code": COUNTY, "year": 2026, "subsidy_rate": {"kind": "fixed", "rate": "0.0435"}, "day_basis": 365,
        "principal_cap": "50000.00", "period_start": "2026-01-01", "period_end": "2026-12-31", "total_fund": "97350.00",
    }
    body.update(overrides)
    return body


async def test_the_county_office_sets_a_plan_with_its_township_allocation(world: World) -> None:
    plan = await world.plan(allocations=[{"township_code": TOWNSHIP, "loan_volume": 12319100}])
    assert plan["rate"] == "0.043500"
    assert plan["principal_cap"] == "50000.00"
    assert plan["fund_remaining"] == "1000000.00"
    assert plan["allocations"] == [{"township_code": TOWNSHIP, "loan_volume": "12319100.00"}]
    listed = await world.client.get(f"/v1/subsidy-plans?county_code={COUNTY}", headers=world.monitor())
    assert [p["id"] for p in listed.json()["items"]] == [plan["id"]]


async def test_a_reference_rate_plan_uses_lpr_times_the_ratio(world: World) -> None:
    plan = await world.plan(subsidy_rate={"kind": "reference", "reference": "LPR-1Y", "reference_rate": "0.0345", "ratio": "1.26087"})
    assert plan["rate"] == "0.043500"  # 3.45% × 1.26087 = 4.3500015% → 0.043500
    assert (plan["rate_kind"], plan["reference_name"]) == ("reference", "LPR-1Y")


async def test_bad_rate_cap_fund_and_day_basis_are_all_reported_in_one_422(world: World) -> None:
    body = plan_body(subsidy_rate={"kind": "fixed", "rate": "1.5"}, principal_cap="-1", total_fund="-5", day_basis=300)
    resp = await world.client.post("/v1/subsidy-plans", json=body, headers=world.county())
    assert resp.status_code == 422
    fields = {e["field"] for e in resp.json()["errors"]}
    assert {"subsidy_rate.fixed.rate", "principal_cap", "total_fund", "day_basis"} <= fields


async def test_a_negative_rate_is_422(world: World) -> None:
    resp = await world.client.post("/v1/subsidy-plans", json=plan_body(subsidy_rate={"kind": "fixed", "rate": -0.01}), headers=world.county())
    assert resp.status_code == 422


async def test_an_allocation_outside_the_county_is_422(world: World) -> None:
    body = plan_body(allocations=[{"township_code": "411225101000", "loan_volume": "1.00"}])
    resp = await world.client.post("/v1/subsidy-plans", json=body, headers=world.county())
    assert resp.status_code == 422
    assert "411225101000" in resp.json()["detail"]


async def test_a_second_plan_for_the_same_county_and_year_is_409(world: World) -> None:
    await world.plan()
    resp = await world.client.post("/v1/subsidy-plans", json=plan_body(), headers=world.county())
    assert resp.status_code == 409
    assert resp.json()["type"] == "/problems/plan-exists"


async def test_plans_of_one_county_may_not_overlap_in_period(world: World) -> None:
    await world.plan()
    resp = await world.client.post("/v1/subsidy-plans", json=plan_body(year=2027, period_start="2026-12-01", period_end="2027-12-31"),
                                   headers=world.county())
    assert resp.status_code == 409
    assert resp.json()["type"] == "/problems/plan-overlaps"


async def test_only_the_county_office_of_that_county_makes_plans(world: World) -> None:
    for headers in (world.township(), world.county(region="411225000000"), world.finance_bureau()):
        resp = await world.client.post("/v1/subsidy-plans", json=plan_body(), headers=headers)
        assert resp.status_code == 403, resp.text
    resp = await world.client.post("/v1/subsidy-plans", json=plan_body(), headers=world.monitor())
    assert resp.status_code == 403  # no subsidy:write scope


async def test_the_fund_cannot_drop_below_what_batches_committed(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-1", household_id="H-1")
    await world.batch(plan["id"])
    resp = await world.client.put(f"/v1/subsidy-plans/{plan['id']}/fund", json={"total_fund": "2000.00"}, headers=world.county())
    assert resp.status_code == 409
    assert resp.json()["fund_committed"] == "2175.00"
    resp = await world.client.put(f"/v1/subsidy-plans/{plan['id']}/fund", json={"total_fund": "2175.00"}, headers=world.county())
    assert resp.status_code == 200
    assert resp.json()["fund_remaining"] == "0.00"


async def test_allocations_are_replaced_by_the_county_office(world: World) -> None:
    plan = await world.plan()
    resp = await world.client.put(
        f"/v1/subsidy-plans/{plan['id']}/allocations", json=[{"township_code": "411224102000", "loan_volume": "3409100.00"}],
        headers=world.county(),
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["allocations"] == [{"township_code": "411224102000", "loan_volume": "3409100.00"}]


async def test_an_unknown_plan_is_404(client: httpx.AsyncClient, world: World) -> None:
    resp = await client.get("/v1/subsidy-plans/999999", headers=world.monitor())
    assert resp.status_code == 404
