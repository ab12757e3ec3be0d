"""Settlement through the API: eligibility, amounts, fund and re-runs, on real PostgreSQL."""

from decimal import Decimal

from support import World

# A year at 4.35% on 50,000: 2,175.00 (5万块钱的贷款可以贴2175块钱).


async def test_seed_check_a_50000_loan_for_a_year_at_4_35_percent_earns_2175(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-1", household_id="H-1")
    batch = await world.batch(plan["id"])
    lines = await world.lines(batch["id"])
    assert lines["L-1/1"]["granted_amount"] == "2175.00"
    assert lines["L-1/1"]["days"] == 365
    assert batch["granted_total"] == "2175.00"
    assert batch["status"] == "draft"


async def test_principal_above_the_cap_is_subsidised_only_up_to_the_cap(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-BIG", household_id="H-2", principal="80000.00")
    lines = await world.lines((await world.batch(plan["id"]))["id"])
    assert lines["L-BIG/1"]["subsidised_principal"] == "50000.00"
    assert lines["L-BIG/1"]["granted_amount"] == "2175.00"


async def test_a_loan_repaid_early_earns_its_actual_days_only(world: World) -> None:
    plan = await world.plan()
    common = await world.loan("L-EARLY", household_id="H-3", repay=False)
    await world.send(
        world.event("L-EARLY", "repayment_recorded", "2026-07-01", common, kind="interest", amount="1084.25", value_date="2026-07-01",
                    due_date="2027-01-01", loan_year=1, late=False, outstanding_principal="50000.00"),
        world.event("L-EARLY", "repayment_recorded", "2026-07-01", common, kind="principal", amount="50000.00", value_date="2026-07-01",
                    due_date="2027-01-01", loan_year=1, late=False, outstanding_principal="0.00"),
        world.event("L-EARLY", "closed", "2026-07-01", common, outstanding_principal="0.00"),
    )
    # Closed on 2026-07-01: 181 days from 2026-01-01, and the year counts as ending inside the 2026 period.
    lines = await world.lines((await world.batch(plan["id"]))["id"])
    line = lines["L-EARLY/1"]
    assert line["days"] == 181
    assert line["year_end"] == "2026-07-01"
    assert line["granted_amount"] == "1078.56"  # 50,000 × 4.35% × 181 ÷ 365 = 1078.5616


async def test_a_short_last_year_inside_the_subsidy_term_counts_its_actual_days(world: World) -> None:
    plan = await world.plan(subsidy_term_months=6)
    await world.loan("L-TERM", household_id="H-4")
    line = (await world.lines((await world.batch(plan["id"]))["id"]))["L-TERM/1"]
    assert line["days"] == 181  # 贴息期限 6 months from 2026-01-01 ends 2026-07-01
    assert line["granted_amount"] == "1078.56"


async def test_day_basis_360_pays_actual_days_over_360(world: World) -> None:
    plan = await world.plan(day_basis=360)
    await world.loan("L-360", household_id="H-5")
    line = (await world.lines((await world.batch(plan["id"]))["id"]))["L-360/1"]
    assert line["granted_amount"] == "2205.21"  # 50,000 × 4.35% × 365 ÷ 360 = 2205.2083


async def test_late_interest_twice_forfeits_the_year(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-LATE2", household_id="H-6", late_interest=2)
    await world.loan("L-LATE1", household_id="H-7", late_interest=1)
    lines = await world.lines((await world.batch(plan["id"]))["id"])
    assert lines["L-LATE2/1"]["eligible"] is False
    assert lines["L-LATE2/1"]["reason"] == "late_interest"
    assert lines["L-LATE2/1"]["granted_amount"] == "0.00"
    assert lines["L-LATE1/1"]["granted_amount"] == "2175.00"


async def test_overdue_principal_loses_the_subsidy(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-LATEP", household_id="H-8", principal_late=True)
    common = await world.loan("L-OVER", household_id="H-9")
    await world.send(world.event("L-OVER", "overdue", "2027-01-20", common, days_past_due=19, outstanding_principal="50000.00",
                                 overdue_principal="50000.00"))
    lines = await world.lines((await world.batch(plan["id"]))["id"])
    assert lines["L-LATEP/1"]["reason"] == "principal_overdue"
    assert lines["L-OVER/1"]["reason"] == "principal_overdue"


async def test_interest_not_yet_repaid_is_not_subsidised(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-UNPAID", household_id="H-10", repay=False)
    batch = await world.batch(plan["id"])
    line = (await world.lines(batch["id"]))["L-UNPAID/1"]
    assert line["reason"] == "not_repaid"
    assert batch["excluded_by_reason"] == {"not_repaid": 1}


async def test_a_household_removed_from_the_registry_loses_the_subsidy(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-GONE", household_id="H-GONE")
    resp = await world.client.put("/v1/subsidy-accounts/households", json=[{"household_id": "H-GONE", "registered": False}],
                                  headers=world.internal())
    assert resp.status_code == 200, resp.text
    line = (await world.lines((await world.batch(plan["id"]))["id"]))["L-GONE/1"]
    assert line["reason"] == "household_not_registered"


async def test_a_diverted_loan_gets_nothing(world: World) -> None:
    plan = await world.plan()
    common = await world.loan("L-DIV", household_id="H-11")
    await world.send(world.event("L-DIV", "diverted", "2026-05-01", common, reason="盖房子"))
    assert (await world.lines((await world.batch(plan["id"]))["id"]))["L-DIV/1"]["reason"] == "diverted"


async def test_an_enterprise_earns_2_percent_more_per_driven_household(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-ENT", household_id=None, enterprise_id="91411224MA44XXXX1X", principal="400000.00",
                     driven=["H-D1", "H-D2", "H-D3", "H-D4"])
    line = (await world.lines((await world.batch(plan["id"]))["id"]))["L-ENT/1"]
    # base 50,000 × 4.35% = 2,175 plus min(400,000, 4 × 50,000) × 2% = 4,000
    assert line["driven_count"] == 4
    assert line["granted_amount"] == "6175.00"
    assert line["recipient_type"] == "enterprise"


async def test_rerunning_a_settlement_never_pays_a_loan_year_twice(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-R1", household_id="H-12")
    await world.loan("L-R2", household_id="H-13", repay=False)
    first = await world.batch(plan["id"])
    second = await world.batch(plan["id"])
    assert first["granted_total"] == "2175.00"
    assert second["granted_total"] == "0.00"
    assert "L-R1/1" not in await world.lines(second["id"])
    # The unpaid year stays open: once repaid, a later run pays it, and only it.
    account = (await world.client.get("/v1/subsidy-accounts/L-R2", headers=world.monitor())).json()
    common = world.common(household_id="H-13", principal="50000.00", start="2026-01-01", maturity="2027-01-01")
    await world.send(
        world.event("L-R2", "repayment_recorded", "2027-01-05", common, kind="interest", amount=account["years"][0]["interest_due"],
                    value_date="2027-01-01", due_date="2027-01-01", loan_year=1, late=False),
        world.event("L-R2", "repayment_recorded", "2027-01-05", common, kind="principal", amount="50000.00", value_date="2027-01-01",
                    due_date="2027-01-01", loan_year=1, late=False, outstanding_principal="0.00"),
    )
    third = await world.batch(plan["id"])
    assert set(await world.lines(third["id"])) == {"L-R2/1"}
    assert third["granted_total"] == "2175.00"
    plan_now = (await world.client.get(f"/v1/subsidy-plans/{plan['id']}", headers=world.monitor())).json()
    assert plan_now["fund_committed"] == "4350.00"


async def test_a_cancelled_draft_releases_its_loan_years_and_fund(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-C", household_id="H-14")
    first = await world.batch(plan["id"])
    resp = await world.client.post(f"/v1/settlements/{first['id']}/cancel", headers=world.township())
    assert resp.json()["status"] == "cancelled"
    assert (await world.client.get(f"/v1/subsidy-plans/{plan['id']}", headers=world.monitor())).json()["fund_committed"] == "0.00"
    again = await world.batch(plan["id"])
    assert again["granted_total"] == "2175.00"


async def test_when_the_fund_runs_short_the_remainder_is_shared_pro_rata(world: World) -> None:
    plan = await world.plan(total_fund="3000.00")
    await world.loan("L-F1", household_id="H-15")  # computes 2,175.00
    await world.loan("L-F2", household_id="H-16", principal="20000.00")  # computes 870.00
    await world.loan("L-F3", household_id="H-17", principal="10000.00")  # computes 435.00
    batch = await world.batch(plan["id"])
    lines = await world.lines(batch["id"])
    assert batch["fund_rule"] == "pro_rata"
    assert batch["computed_total"] == "3480.00"
    assert batch["granted_total"] == "3000.00"
    assert batch["reduced_count"] == 3
    granted = {k: Decimal(v["granted_amount"]) for k, v in lines.items()}
    assert sum(granted.values()) == Decimal("3000.00")
    # 3000 × 2175 / 3480 = 1875.00; 3000 × 870 / 3480 = 750.00; 3000 × 435 / 3480 = 375.00
    assert granted == {"L-F1/1": Decimal("1875.00"), "L-F2/1": Decimal("750.00"), "L-F3/1": Decimal("375.00")}
    assert {v["reason"] for v in lines.values()} == {"fund_exhausted_pro_rata"}
    plan_now = (await world.client.get(f"/v1/subsidy-plans/{plan['id']}", headers=world.monitor())).json()
    assert plan_now["fund_remaining"] == "0.00"


async def test_an_exhausted_fund_grants_nothing_more_and_says_why(world: World) -> None:
    plan = await world.plan(total_fund="2175.00")
    await world.loan("L-E1", household_id="H-19")
    await world.batch(plan["id"])
    await world.loan("L-E2", household_id="H-20")
    second = await world.batch(plan["id"], period_start="2026-01-01", period_end="2026-12-31")
    assert second["remaining_before"] == "0.00"
    assert second["granted_total"] == "0.00"
    line = (await world.lines(second["id"]))["L-E2/1"]
    assert (line["computed_amount"], line["granted_amount"], line["reason"]) == ("2175.00", "0.00", "fund_exhausted_pro_rata")
