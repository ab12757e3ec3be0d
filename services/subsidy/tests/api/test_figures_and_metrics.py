"""The overview's input (subsidy paid in any region, with its total) and the business gauges."""

from fastapi import FastAPI
from support import OTHER_VILLAGE, World

from subsidy.metrics import refresh_business_metrics


async def _paid(world: World) -> dict:
    plan = await world.plan()
    await world.loan("L-1", household_id="H-1")
    await world.loan("L-2", household_id="H-2")
    await world.loan("L-9", household_id="H-9", village=OTHER_VILLAGE)
    await world.approve_and_pay(await world.batch(plan["id"]))
    await world.batch(plan["id"], township=OTHER_VILLAGE[:9] + "000", headers=world.county())  # settled, not paid
    return plan


async def test_paid_figures_answer_for_any_region_with_the_total_paid(world: World) -> None:
    await _paid(world)
    county = (await world.client.get("/v1/subsidy-figures/paid?region=411224000000", headers=world.monitor())).json()
    assert county["region"] == "411224000000" and county["level"] == "township"
    assert county["total"] == {"recipients": 2, "loan_years": 2, "amount": "4350.00"}
    assert [(i["region_code"], i["amount"]) for i in county["items"]] == [("411224101000", "4350.00")]
    village = (await world.client.get("/v1/subsidy-figures/paid?region=411224101001&level=county", headers=world.monitor())).json()
    assert village["level"] == "village"  # never grouped coarser than the region asked for
    assert [(i["region_code"], i["amount"]) for i in village["items"]] == [("411224101001", "4350.00")]
    unpaid = (await world.client.get(f"/v1/subsidy-figures/paid?region={OTHER_VILLAGE}", headers=world.monitor())).json()
    assert unpaid["total"] == {"recipients": 0, "loan_years": 0, "amount": "0.00"} and unpaid["items"] == []
    province = (await world.client.get("/v1/subsidy-figures/paid?region=410000000000", headers=world.finance_bureau())).json()
    assert province["total"]["amount"] == "4350.00"


async def test_an_officer_asks_only_inside_its_region(world: World) -> None:
    await _paid(world)
    own = await world.client.get("/v1/subsidy-figures/paid?region=411224101001", headers=world.township())
    assert own.status_code == 200 and own.json()["total"]["amount"] == "4350.00"
    outside = await world.client.get("/v1/subsidy-figures/paid?region=411224000000", headers=world.township())
    assert outside.status_code == 403
    assert (await world.client.get("/v1/subsidy-figures/paid?region=001224000000", headers=world.monitor())).status_code == 422


async def test_the_gauges_show_subsidy_paid_per_county_and_fund_left_per_plan(world: World, app: FastAPI) -> None:
    plan = await _paid(world)
    await refresh_business_metrics(app.state.sessionmaker)
    body = (await world.client.get("/metrics")).text
    assert 'subsidy_paid_yuan{county="411224000000"} 4350.0' in body
    # 1,000,000 less the paid batch and the reserve of the unpaid one (2 × 2,175 + 2,175)
    assert f'subsidy_fund_remaining_yuan{{plan="{plan["id"]}"}} 993475.0' in body
