"""Loan events in, per-loan subsidy accounts out; who may read which account; the approval form."""

from support import VILLAGE, World


async def test_each_event_is_applied_once_by_seq(world: World) -> None:
    common = world.common(household_id="H-1", principal="50000.00", start="2026-01-01", maturity="2027-01-01")
    disbursed = world.event("L-1", "disbursed", "2026-01-01", common, schedule=[
        {"loan_year": 1, "due_date": "2027-01-01", "interest_due": "2175.00", "principal_due": "50000.00"}])
    interest = world.event("L-1", "repayment_recorded", "2027-01-01", common, kind="interest", amount="2175.00", value_date="2027-01-03",
                           due_date="2027-01-01", loan_year=1, late=True, bank_reference="B-1")
    first = await world.send(disbursed, interest)
    again = await world.send(disbursed, interest)  # a bank core system sends twice
    assert first == {"applied": [disbursed["seq"], interest["seq"]], "duplicates": []}
    assert again == {"applied": [], "duplicates": [disbursed["seq"], interest["seq"]]}
    account = (await world.client.get("/v1/subsidy-accounts/L-1", headers=world.monitor())).json()
    year = account["years"][0]
    assert (year["interest_paid"], year["late_interest_payments"], year["last_interest_paid_on"]) == ("2175.00", 1, "2027-01-03")
    assert account["status"] == "active"


async def test_a_malformed_event_list_is_422_naming_every_problem(world: World) -> None:
    common = world.common(household_id="H-1", principal="50000.00", start="2026-01-01", maturity="2027-01-01")
    bad = [
        world.event("L-1", "disbursed", "2026-01-01", {**common, "principal": "-1"}, schedule=[]),
        world.event("L 2", "repayment_recorded", "2026-01-01", common, kind="fee", amount="1.00", value_date="2026-01-01",
                    due_date="2026-01-01", loan_year=1, late=False),
    ]
    resp = await world.client.post("/v1/subsidy-events", json=bad, headers=world.internal())
    assert resp.status_code == 422
    fields = " ".join(e["field"] for e in resp.json()["errors"])
    assert "0.disbursed.data.principal" in fields
    assert "0.disbursed.data.schedule" in fields
    assert "1.repayment_recorded.loan_id" in fields
    assert "1.repayment_recorded.data.kind" in fields


async def test_events_need_the_internal_scope(world: World) -> None:
    resp = await world.client.post("/v1/subsidy-events", json=[], headers=world.county())
    assert resp.status_code == 403
    resp = await world.client.put("/v1/subsidy-accounts/households", json=[], headers=world.monitor())
    assert resp.status_code == 403


async def test_an_unknown_event_type_is_recorded_and_keeps_the_loans_attributes(world: World) -> None:
    common = await world.loan("L-1", household_id="H-1")
    moved = {**common, "village_code": "411224101002"}
    result = await world.send(world.event("L-1", "rate_changed", "2026-06-01", moved))
    assert len(result["applied"]) == 1
    account = (await world.client.get("/v1/subsidy-accounts/L-1", headers=world.monitor())).json()
    assert account["village_code"] == "411224101002"


async def test_an_overdue_loan_is_active_again_once_its_overdue_principal_is_repaid(world: World) -> None:
    common = await world.loan("L-1", household_id="H-1", years=2, repay=False)
    await world.send(world.event("L-1", "overdue", "2027-01-20", common, days_past_due=19, outstanding_principal="50000.00",
                                 overdue_principal="1000.00"))
    assert (await world.client.get("/v1/subsidy-accounts/L-1", headers=world.monitor())).json()["status"] == "overdue"
    await world.send(world.event("L-1", "repayment_recorded", "2027-01-25", common, kind="principal", amount="1000.00",
                                 value_date="2027-01-25", due_date="2027-01-01", loan_year=1, late=True, outstanding_principal="49000.00"))
    account = (await world.client.get("/v1/subsidy-accounts/L-1", headers=world.monitor())).json()
    assert (account["status"], account["overdue_principal"], account["principal_repaid"]) == ("active", "0.00", "1000.00")
    assert account["years"][0]["principal_paid_late"] is True


async def test_a_diverted_loan_stays_diverted(world: World) -> None:
    common = await world.loan("L-1", household_id="H-1")
    await world.send(world.event("L-1", "diverted", "2026-05-01", common, reason="买车"),
                     world.event("L-1", "renewed", "2027-01-01", common, outstanding_principal="50000.00", maturity_date="2028-01-01"))
    assert (await world.client.get("/v1/subsidy-accounts/L-1", headers=world.monitor())).json()["status"] == "diverted"


async def test_an_applicant_reads_only_its_own_accounts(world: World) -> None:
    await world.loan("L-1", household_id="H-1")
    await world.loan("L-2", household_id="H-2")
    mine = await world.client.get("/v1/subsidy-accounts", headers=world.applicant("H-1"))
    assert [a["loan_id"] for a in mine.json()["items"]] == ["L-1"]
    assert (await world.client.get("/v1/subsidy-accounts/L-2", headers=world.applicant("H-1"))).status_code == 403
    assert (await world.client.get("/v1/subsidy-accounts?household_id=H-2", headers=world.applicant("H-1"))).status_code == 403


async def test_a_bank_reads_only_its_own_loans(world: World) -> None:
    await world.loan("L-1", household_id="H-1", bank_id="RCC")
    await world.loan("L-2", household_id="H-2", bank_id="PSBC")
    listed = await world.client.get("/v1/subsidy-accounts", headers=world.bank("PSBC"))
    assert [a["loan_id"] for a in listed.json()["items"]] == ["L-2"]
    assert (await world.client.get("/v1/subsidy-accounts/L-1", headers=world.bank("PSBC"))).status_code == 403


async def test_an_officer_reads_accounts_in_its_region_with_paging(world: World) -> None:
    for i in range(3):
        await world.loan(f"L-{i}", household_id=f"H-{i}")
    await world.loan("L-X", household_id="H-X", village="411224102001")
    first = (await world.client.get("/v1/subsidy-accounts?limit=2", headers=world.township())).json()
    second = (await world.client.get(f"/v1/subsidy-accounts?limit=2&cursor={first['next_cursor']}", headers=world.township())).json()
    assert [a["loan_id"] for a in first["items"] + second["items"]] == ["L-0", "L-1", "L-2"]
    assert second["next_cursor"] is None
    assert (await world.client.get("/v1/subsidy-accounts/L-X", headers=world.township())).status_code == 403


async def test_the_account_shows_which_batch_settled_each_year(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-1", household_id="H-1")
    batch = await world.batch(plan["id"])
    account = (await world.client.get("/v1/subsidy-accounts/L-1", headers=world.applicant("H-1"))).json()
    assert (account["years"][0]["settled_batch_id"], account["years"][0]["granted_amount"]) == (batch["id"], "2175.00")
    assert account["subsidy_granted"] == "2175.00"


async def test_the_approval_form_gives_the_fields_and_expected_subsidy(world: World) -> None:
    await world.plan()
    await world.loan("L-1", household_id="H-1", principal="80000.00")
    resp = await world.client.get("/v1/subsidy-approval-forms/L-1", headers=world.applicant("H-1"))
    assert resp.status_code == 200, resp.text
    form = resp.json()
    assert form["title"] == "扶贫贴息贷款申报审批表"
    assert (form["principal"], form["subsidised_principal"], form["village_code"]) == ("80000.00", "50000.00", VILLAGE)
    assert form["expected_subsidy"][0]["amount"] == "2175.00"
    assert form["expected_subsidy_total"] == "2175.00"
    assert [a["step"] for a in form["approvals"]][:2] == ["申请人", "村委会审核"]
    assert (await world.client.get("/v1/subsidy-approval-forms/L-404", headers=world.monitor())).status_code == 404


async def test_a_cursor_this_service_did_not_issue_is_422(world: World) -> None:
    for url in ("/v1/subsidy-accounts?cursor=bm9wZQ", "/v1/subsidy-accounts?cursor=WzEsMl0", "/v1/settlements/1/lines?cursor=WyJhIl0",
                "/v1/subsidy-notices?cursor=WyJhIiwgImIiXQ", "/v1/subsidy-plans?cursor=%%%"):
        resp = await world.client.get(url, headers=world.monitor())
        assert resp.status_code == 422, (url, resp.text)


async def test_a_renewal_rolls_the_principal_into_new_loan_years(world: World) -> None:
    common = await world.loan("L-1", household_id="H-1", repay=False)
    await world.send(
        world.event("L-1", "repayment_recorded", "2027-01-01", common, kind="interest", amount="2175.00", value_date="2027-01-01",
                    due_date="2027-01-01", loan_year=1, late=False, outstanding_principal="50000.00"),
        world.event("L-1", "renewed", "2027-01-01", {**common, "maturity_date": "2029-01-01"}, outstanding_principal="50000.00",
                    maturity_date="2029-01-01", term_months=24),
    )
    account = (await world.client.get("/v1/subsidy-accounts/L-1", headers=world.monitor())).json()
    years = [(y["loan_year"], y["start_date"], y["due_date"], y["opening_principal"], y["interest_due"], y["principal_due"])
             for y in account["years"]]
    assert years == [
        (1, "2026-01-01", "2027-01-01", "50000.00", "2175.00", "0.00"),  # 续贷: its principal rolled over
        (2, "2027-01-01", "2028-01-01", "50000.00", "2175.00", "25000.00"),
        (3, "2028-01-01", "2029-01-01", "25000.00", "1087.50", "25000.00"),
    ]
    assert account["maturity_date"] == "2029-01-01"


async def test_an_extension_moves_the_last_due_date_and_adds_its_interest(world: World) -> None:
    common = await world.loan("L-1", household_id="H-1", repay=False)
    await world.send(world.event("L-1", "extended", "2026-12-20", {**common, "maturity_date": "2027-07-01"},
                                 outstanding_principal="50000.00", maturity_date="2027-07-01"))
    year = (await world.client.get("/v1/subsidy-accounts/L-1", headers=world.monitor())).json()["years"][0]
    assert (year["due_date"], year["interest_due"]) == ("2027-07-01", "3262.50")  # + 50,000 × 4.35% × 6/12


async def test_a_renewal_that_carries_its_schedule_is_taken_as_sent(world: World) -> None:
    common = await world.loan("L-1", household_id="H-1", repay=False)
    schedule = [  # applications' own schedule after the 续贷: year 1 keeps 10,000 of principal, the rest over 18 months
        {"loan_year": 1, "due_date": "2027-01-01", "interest_due": "2175.00", "principal_due": "10000.00"},
        {"loan_year": 2, "due_date": "2028-01-01", "interest_due": "1740.00", "principal_due": "26666.67"},
        {"loan_year": 3, "due_date": "2028-07-01", "interest_due": "290.00", "principal_due": "13333.33"},
    ]
    await world.send(world.event("L-1", "renewed", "2027-01-01", {**common, "maturity_date": "2028-07-01"}, outstanding_principal="40000.00",
                                 maturity_date="2028-07-01", term_months=18, schedule=schedule))
    account = (await world.client.get("/v1/subsidy-accounts/L-1", headers=world.monitor())).json()
    years = [(y["loan_year"], y["start_date"], y["due_date"], y["opening_principal"], y["interest_due"], y["principal_due"])
             for y in account["years"]]
    assert years == [
        (1, "2026-01-01", "2027-01-01", "50000.00", "2175.00", "10000.00"),
        (2, "2027-01-01", "2028-01-01", "40000.00", "1740.00", "26666.67"),
        (3, "2028-01-01", "2028-07-01", "13333.33", "290.00", "13333.33"),
    ]


async def test_an_extension_that_carries_only_the_changed_year_keeps_the_others(world: World) -> None:
    common = await world.loan("L-1", household_id="H-1", years=2, repay=False)
    changed = [{"loan_year": 2, "due_date": "2028-07-01", "interest_due": "3262.50", "principal_due": "50000.00"}]
    await world.send(world.event("L-1", "extended", "2027-12-20", {**common, "maturity_date": "2028-07-01"},
                                 outstanding_principal="50000.00", maturity_date="2028-07-01", schedule=changed))
    years = (await world.client.get("/v1/subsidy-accounts/L-1", headers=world.monitor())).json()["years"]
    assert [(y["loan_year"], y["start_date"], y["due_date"], y["interest_due"]) for y in years] == [
        (1, "2026-01-01", "2027-01-01", "2175.00"),
        (2, "2027-01-01", "2028-07-01", "3262.50"),
    ]


async def test_a_schedule_naming_a_year_twice_is_422(world: World) -> None:
    common = await world.loan("L-1", household_id="H-1", repay=False)
    twice = [{"loan_year": 1, "due_date": "2027-07-01", "interest_due": "1.00", "principal_due": "0.00"}] * 2
    resp = await world.client.post("/v1/subsidy-events", headers=world.internal(), json=[world.event(
        "L-1", "extended", "2026-12-20", common, outstanding_principal="50000.00", maturity_date="2027-07-01", schedule=twice)])
    assert resp.status_code == 422
