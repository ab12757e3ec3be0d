"""The batch state machine (draft → approved → paid → reconciled), the business date, and who may act."""

from datetime import date

from support import OTHER_TOWNSHIP, World


async def test_a_period_that_has_not_ended_cannot_be_settled(world: World) -> None:
    plan = await world.plan()
    world.applications.business_date = date(2026, 12, 31)
    resp = await world.settle(plan["id"])
    assert resp.status_code == 409
    assert resp.json()["type"] == "/problems/period-not-ended"
    assert resp.json()["business_date"] == "2026-12-31"


async def test_the_business_date_is_asked_with_the_callers_token(world: World) -> None:
    plan = await world.plan()
    headers = world.township()
    await world.settle(plan["id"], headers=headers)
    assert world.applications.calls == 1
    assert world.applications.last_token == headers["Authorization"]


async def test_applications_down_gives_503_not_a_hang(world: World) -> None:
    plan = await world.plan()
    world.applications.status = 503
    resp = await world.settle(plan["id"])
    assert resp.status_code == 503
    assert resp.json()["dependency"] == "applications"


async def test_a_period_outside_the_plan_or_a_township_outside_the_county_is_422(world: World) -> None:
    plan = await world.plan()
    resp = await world.settle(plan["id"], period_start="2025-06-01", period_end="2026-06-30")
    assert resp.status_code == 422
    resp = await world.settle(plan["id"], township="411225101000", headers=world.county(region="411225000000"))
    assert resp.status_code == 422


async def test_a_batch_goes_draft_approved_paid_reconciled(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-1", household_id="H-1")
    await world.loan("L-2", household_id="H-2", principal="30000.00")
    batch = await world.batch(plan["id"])
    paid = await world.approve_and_pay(batch)
    assert paid["status"] == "paid"
    assert paid["paid_on"] == "2027-03-05"
    resp = await world.client.post(
        f"/v1/settlements/{batch['id']}/reconcile",
        json={"reconciled_on": "2027-03-10", "statement_reference": "STMT-1", "statement_total": "3480.00"}, headers=world.township(),
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "reconciled"
    plan_now = (await world.client.get(f"/v1/subsidy-plans/{plan['id']}", headers=world.monitor())).json()
    assert (plan_now["fund_committed"], plan_now["fund_paid"], plan_now["fund_remaining"]) == ("3480.00", "3480.00", "996520.00")


async def test_paying_a_batch_that_is_not_approved_is_409(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-1", household_id="H-1")
    batch = await world.batch(plan["id"])
    resp = await world.client.post(
        f"/v1/settlements/{batch['id']}/pay", json={"paid_on": "2027-03-05", "payments": [{"recipient_id": "H-1", "payment_reference": "P1"}]},
        headers=world.township(),
    )
    assert resp.status_code == 409
    assert resp.json()["current_status"] == "draft"
    assert "draft" in resp.json()["detail"]


async def test_approving_twice_or_reconciling_an_unpaid_batch_is_409(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-1", household_id="H-1")
    batch = await world.batch(plan["id"])
    assert (await world.client.post(f"/v1/settlements/{batch['id']}/approve", headers=world.township())).status_code == 200
    again = await world.client.post(f"/v1/settlements/{batch['id']}/approve", headers=world.township())
    assert again.status_code == 409
    assert again.json()["current_status"] == "approved"
    resp = await world.client.post(
        f"/v1/settlements/{batch['id']}/reconcile",
        json={"reconciled_on": "2027-03-10", "statement_reference": "S", "statement_total": "2175.00"}, headers=world.township(),
    )
    assert resp.status_code == 409
    cancel = await world.client.post(f"/v1/settlements/{batch['id']}/cancel", headers=world.township())
    assert cancel.status_code == 409


async def test_approving_or_paying_a_batch_outside_ones_township_is_403(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-1", household_id="H-1")
    batch = await world.batch(plan["id"])
    elsewhere = world.township(region=OTHER_TOWNSHIP)
    assert (await world.client.post(f"/v1/settlements/{batch['id']}/approve", headers=elsewhere)).status_code == 403
    await world.client.post(f"/v1/settlements/{batch['id']}/approve", headers=world.township())
    resp = await world.client.post(
        f"/v1/settlements/{batch['id']}/pay", json={"paid_on": "2027-03-05", "payments": [{"recipient_id": "H-1", "payment_reference": "P1"}]},
        headers=elsewhere,
    )
    assert resp.status_code == 403


async def test_only_township_finance_offices_approve_and_pay(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-1", household_id="H-1")
    batch = await world.batch(plan["id"])
    for headers in (world.county(), world.finance_bureau(), world.applicant("H-1"), world.monitor()):
        resp = await world.client.post(f"/v1/settlements/{batch['id']}/approve", headers=headers)
        assert resp.status_code == 403, resp.text


async def test_a_township_settles_only_its_own_township(world: World) -> None:
    plan = await world.plan()
    resp = await world.settle(plan["id"], township=OTHER_TOWNSHIP)
    assert resp.status_code == 403
    assert (await world.settle(plan["id"], headers=world.applicant("H-1"))).status_code == 403


async def test_payment_must_name_every_recipient_once_and_no_one_else(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-1", household_id="H-1")
    await world.loan("L-2", household_id="H-2")
    batch = await world.batch(plan["id"])
    await world.client.post(f"/v1/settlements/{batch['id']}/approve", headers=world.township())
    resp = await world.client.post(
        f"/v1/settlements/{batch['id']}/pay",
        json={"paid_on": "2027-03-05", "payments": [{"recipient_id": "H-1", "payment_reference": "P1"},
                                                    {"recipient_id": "H-X", "payment_reference": "P2"}]},
        headers=world.township(),
    )
    assert resp.status_code == 422
    assert resp.json()["unknown"] == ["H-X"]
    assert resp.json()["missing"] == ["H-2"]
    batch_now = (await world.client.get(f"/v1/settlements/{batch['id']}", headers=world.township())).json()
    assert batch_now["status"] == "approved"


async def test_a_statement_that_does_not_match_the_payout_is_422(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-1", household_id="H-1")
    batch = await world.approve_and_pay(await world.batch(plan["id"]))
    resp = await world.client.post(
        f"/v1/settlements/{batch['id']}/reconcile",
        json={"reconciled_on": "2027-03-10", "statement_reference": "S", "statement_total": "2174.99"}, headers=world.township(),
    )
    assert resp.status_code == 422


async def test_batches_are_read_by_offices_in_their_region_not_by_applicants(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-1", household_id="H-1")
    batch = await world.batch(plan["id"])
    assert (await world.client.get(f"/v1/settlements/{batch['id']}", headers=world.finance_bureau())).status_code == 200
    assert (await world.client.get(f"/v1/settlements/{batch['id']}", headers=world.township(OTHER_TOWNSHIP))).status_code == 403
    assert (await world.client.get(f"/v1/settlements/{batch['id']}", headers=world.applicant("H-1"))).status_code == 403
    listed = await world.client.get("/v1/settlements", headers=world.township(OTHER_TOWNSHIP))
    assert listed.json()["items"] == []
    listed = await world.client.get("/v1/settlements?limit=1", headers=world.monitor())
    assert [b["id"] for b in listed.json()["items"]] == [batch["id"]]


async def test_paid_figures_and_fund_figures_follow_the_payout(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-1", household_id="H-1")
    await world.loan("L-2", household_id="H-2", late_interest=2)
    await world.approve_and_pay(await world.batch(plan["id"]))
    paid = (await world.client.get("/v1/subsidy-figures/paid?level=township", headers=world.monitor())).json()
    assert paid["items"] == [{"region_code": "411224101000", "year": 2026, "recipients": 1, "loan_years": 1, "amount": "2175.00"}]
    county = (await world.client.get("/v1/subsidy-figures/paid?level=county&year=2026", headers=world.county())).json()
    assert county["items"][0]["region_code"] == "411224000000"
    funds = (await world.client.get("/v1/subsidy-figures/funds", headers=world.finance_bureau())).json()["items"]
    assert funds == [{
        "plan_id": plan["id"], "county_code": "411224000000", "year": 2026, "total_fund": "1000000.00", "committed": "2175.00",
        "paid": "2175.00", "remaining": "997825.00", "ledger_available": "997825.00", "ledger_reserved": "0.00", "ledger_paid": "2175.00",
    }]
    other = (await world.client.get("/v1/subsidy-figures/funds", headers=world.county(region="411225000000"))).json()["items"]
    assert other == []


async def test_an_officer_token_without_a_region_is_refused_not_read_as_province_wide(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-1", household_id="H-1")
    batch = await world.batch(plan["id"])
    no_region = world.tokens.headers("stray", roles=["township_officer"], scopes=["subsidy:read", "subsidy:write"])
    assert (await world.client.post(f"/v1/settlements/{batch['id']}/approve", headers=no_region)).status_code == 403
    assert (await world.client.get("/v1/subsidy-accounts", headers=no_region)).status_code == 403
