"""The set-based settlement SQL and the pure domain rules agree, loan-year by loan-year, over a
varied population of loans (amounts, rates, dates, lateness, early closure, enterprises)."""

import random
from datetime import date, timedelta
from decimal import Decimal

from support import World

from kit.money import quantize_fen
from subsidy import domain


async def test_settlement_sql_computes_what_the_domain_rules_say(world: World) -> None:
    plan = await world.plan(day_basis=360, subsidy_term_months=10, total_fund="100000000.00")
    rng = random.Random(20261126)
    for n in range(30):
        principal = Decimal(rng.randrange(100_000, 12_000_000)) / 100
        start = date(2025, 6, 1) + timedelta(days=rng.randrange(0, 300))
        rate = Decimal(rng.choice(["0.0300", "0.0435", "0.0475", "0.0600"]))
        enterprise = n % 7 == 0
        common = world.common(
            household_id=None if enterprise else f"H-{n}", enterprise_id=f"91411224MA{n:08d}" if enterprise else None,
            driven=[f"H-D{n}-{k}" for k in range(rng.randrange(0, 9))] if enterprise else None,
            principal=str(principal), start=start.isoformat(), maturity=(start + timedelta(days=730)).isoformat(), rate=str(rate),
        )
        due1, due2 = start.replace(year=start.year + 1), start.replace(year=start.year + 2)
        interest = quantize_fen(principal * rate)
        events = [world.event(f"L-{n:02d}", "disbursed", start.isoformat(), common, schedule=[
            {"loan_year": 1, "due_date": due1.isoformat(), "interest_due": str(interest), "principal_due": "0.00"},
            {"loan_year": 2, "due_date": due2.isoformat(), "interest_due": str(interest), "principal_due": str(principal)},
        ])]
        for k in range(rng.choice([0, 1, 1, 1, 2])):
            events.append(world.event(f"L-{n:02d}", "repayment_recorded", due1.isoformat(), common, kind="interest",
                                      amount=str(quantize_fen(interest / 2) if k == 0 else interest - quantize_fen(interest / 2)), value_date=due1.isoformat(),
                                      due_date=due1.isoformat(), loan_year=1, late=rng.random() < 0.3))
        if rng.random() < 0.2:
            closed = start + timedelta(days=rng.randrange(30, 300))
            events.append(world.event(f"L-{n:02d}", "closed", closed.isoformat(), common, outstanding_principal="0.00"))
        await world.send(*events)

    batch = await world.batch(plan["id"])
    lines = await world.lines(batch["id"])
    assert len(lines) >= 10
    for line in lines.values():
        account = (await world.client.get(f"/v1/subsidy-accounts/{line['loan_id']}", headers=world.monitor())).json()
        year = next(y for y in account["years"] if y["loan_year"] == line["loan_year"])
        closed_on = date.fromisoformat(account["closed_on"]) if account["closed_on"] else None
        due = date.fromisoformat(year["due_date"])
        end = domain.year_end(due_date=due, closed_on=closed_on)
        days = domain.subsidy_days(year_start=date.fromisoformat(year["start_date"]), year_end=end,
                                   loan_start=date.fromisoformat(account["start_date"]), subsidy_term_months=10)
        rate = domain.rate_for_loan(plan_rate=Decimal(plan["rate"]), loan_rate=Decimal(account["annual_rate"]), cap_at_loan_rate=True)
        driven = len(account["driven_households"])
        expected_amount = domain.subsidy_for_year(principal=Decimal(year["opening_principal"]), rate=rate, days=days, basis=360,
                                                  cap=Decimal("50000.00"), driven_households=driven, driven_rate=Decimal("0.02"))
        reason = domain.exclusion_reason(domain.LoanYearFacts(
            status=account["status"], overdue_principal=Decimal(account["overdue_principal"]),
            principal_paid_late=year["principal_paid_late"], late_interest_payments=year["late_interest_payments"],
            interest_due=Decimal(year["interest_due"]), interest_paid=Decimal(year["interest_paid"]),
            principal_due=Decimal(year["principal_due"]), principal_paid=Decimal(year["principal_paid"]),
            borrower_type=account["borrower_type"], household_registered=account["household_registered"], days=days,
            closed_early=closed_on is not None and closed_on < due,
        ), late_interest_limit=2)
        assert (line["days"], Decimal(line["computed_amount"]), line["reason"]) == (days, expected_amount, reason), line["loan_id"]
    assert {line["reason"] for line in lines.values()} >= {None, "not_repaid"}


async def test_the_pro_rata_sql_splits_the_fund_as_the_largest_remainder_rule_does(world: World) -> None:
    plan = await world.plan(total_fund="1234.57")
    rng = random.Random(7)
    for n in range(12):
        await world.loan(f"L-P{n:02d}", household_id=f"H-P{n}", principal=str(Decimal(rng.randrange(100_000, 5_000_000)) / 100))
    batch = await world.batch(plan["id"])
    lines = await world.lines(batch["id"])
    ordered = sorted(lines.values(), key=lambda line: (line["loan_id"], line["loan_year"]))
    expected = domain.grant_within_fund([Decimal(line["computed_amount"]) for line in ordered], Decimal("1234.57"))
    assert [Decimal(line["granted_amount"]) for line in ordered] == expected
    assert batch["granted_total"] == "1234.57"
