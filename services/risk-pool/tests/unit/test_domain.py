"""Pure rules: loss splits, recoveries, cover, leverage, claim trigger, breakers, event transitions."""

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from risk_pool import domain

D = Decimal
FEN = D("0.01")
SCHEMES = {
    "非贫困县 household": [D("0.35"), D("0.15"), D("0.50")],
    "非贫困县 enterprise": [D("0.30"), D("0.20"), D("0.50")],
    "湖滨 enterprise": [D("0.10"), D("0.40"), D("0.50")],
    "卢氏 household": [D("0.20"), D("0.10"), D("0.50"), D("0.20")],
    "卢氏 enterprise": [D("0.20"), D("0.20"), D("0.40"), D("0.20")],
}

fen_amounts = st.integers(min_value=1, max_value=10**11).map(lambda n: D(n) * FEN)
schemes = st.sampled_from(list(SCHEMES.values()))


def test_the_policy_table_splits_a_hundred_thousand_exactly() -> None:
    assert domain.split_loss(D("100000.00"), SCHEMES["卢氏 household"]) == [D("20000.00"), D("10000.00"), D("50000.00"), D("20000.00")]
    assert domain.split_loss(D("100000.00"), SCHEMES["湖滨 enterprise"]) == [D("10000.00"), D("40000.00"), D("50000.00")]


def test_an_odd_fen_goes_to_the_largest_remainder() -> None:
    # 0.01 at 35/15/50: exact .35 .15 .50 fen → the insurer's .50 is largest
    assert domain.split_loss(D("0.01"), SCHEMES["非贫困县 household"]) == [D("0.00"), D("0.00"), D("0.01")]
    # 0.03 at 20/10/50/20: exact .6 .3 1.5 .6 → 1 fen placed, two left to the .6s (ties to the earlier)
    assert domain.split_loss(D("0.03"), SCHEMES["卢氏 household"]) == [D("0.01"), D("0.00"), D("0.01"), D("0.01")]


@given(loss=fen_amounts, shares=schemes)
def test_parts_always_add_up_to_the_loss_and_stay_within_a_fen_of_exact(loss: Decimal, shares: list[Decimal]) -> None:
    parts = domain.split_loss(loss, shares)
    assert sum(parts) == loss
    for part, share in zip(parts, shares, strict=True):
        assert abs(part - loss * share) < FEN


@given(loss=fen_amounts, shares=schemes, cuts=st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=6))
def test_recoveries_never_overpay_a_party_and_a_full_recovery_returns_each_part(loss: Decimal, shares: list[Decimal],
                                                                              cuts: list[int]) -> None:
    parts = domain.split_loss(loss, shares)
    recovered = [D("0.00")] * len(parts)
    left = loss
    for cut in [*cuts, 10**12]:
        amount = min(left, D(cut) * FEN)
        if amount <= 0:
            break
        remaining = [p - r for p, r in zip(parts, recovered, strict=True)]
        split = domain.split_recovery(amount=amount, shares=shares, remaining=remaining)
        assert sum(split) == amount
        assert all(D(0) <= s <= r for s, r in zip(split, remaining, strict=True))
        recovered = [r + s for r, s in zip(recovered, split, strict=True)]
        left -= amount
    assert recovered == parts


def test_share_problems_list_everything_wrong() -> None:
    problems = domain.share_problems([domain.Share("government", D("0.35")), domain.Share("government", D("0.15")),
                                      domain.Share("insurer", D("0.49"))])
    assert any("twice" in p for p in problems)
    assert any("party_account" in p for p in problems)
    assert any("99.00%" in p for p in problems)
    assert domain.share_problems([domain.Share("government", D("0.35")), domain.Share("bank", D("0.15")),
                                  domain.Share("insurer", D("0.50"), "picc")]) == []


def test_interest_is_covered_in_the_proportion_of_covered_principal() -> None:
    loss = domain.claim_loss(outstanding=D("80000.00"), unpaid_interest=D("3480.00"), cap=D("50000.00"))
    assert (loss.covered_principal, loss.covered_interest, loss.total) == (D("50000.00"), D("2175.00"), D("52175.00"))
    uncapped = domain.claim_loss(outstanding=D("40000.00"), unpaid_interest=D("100.00"), cap=D("50000.00"))
    assert uncapped.total == D("40100.00")


def test_leverage_allows_cover_up_to_ten_times_the_fund_and_not_a_fen_more() -> None:
    assert domain.leverage_allows(covered_outstanding=D("99999.99"), new_cover=D("0.01"), fund_balance=D("10000.00"), leverage=D("10"))
    assert not domain.leverage_allows(covered_outstanding=D("99999.99"), new_cover=D("0.02"), fund_balance=D("10000.00"), leverage=D("10"))


def test_claim_trigger_counts_days_on_from_the_last_stated_days_past_due() -> None:
    dpd = domain.days_past_due_on(days_at_status=30, status="overdue", status_date=date(2022, 2, 1), today=date(2022, 3, 3))
    assert dpd == 60
    assert domain.days_until_claimable(days_past_due=dpd, trigger_days=90) == 30
    assert domain.days_until_claimable(days_past_due=95, trigger_days=90) == 0
    assert domain.days_past_due_on(days_at_status=30, status="active", status_date=date(2022, 2, 1), today=date(2022, 3, 3)) == 0


def test_village_trips_above_threshold_township_at_threshold() -> None:
    assert not domain.village_trips(D("0.050000"), D("0.05"))
    assert domain.village_trips(D("0.050001"), D("0.05"))
    assert domain.township_trips(D("0.300000"), D("0.30"))
    assert not domain.township_trips(D("0.299999"), D("0.30"))


def test_reinstatement_is_refused_while_the_ratio_is_still_over_and_for_an_open_breaker() -> None:
    assert "not back under" in domain.reinstatement_refusal(level="village", state="broken", current_ratio=D("0.06"), threshold=D("0.05"))
    assert domain.reinstatement_refusal(level="village", state="broken", current_ratio=D("0.05"), threshold=D("0.05")) is None
    assert "not broken" in domain.reinstatement_refusal(level="village", state="open", current_ratio=D("0"), threshold=D("0.05"))
    assert domain.reinstatement_refusal(level="township", state="broken", current_ratio=D("0.30"), threshold=D("0.30")) is not None


def test_the_poor_overdue_rule_counts_borrowers_not_money() -> None:
    rule = domain.BreakerRule("poor_overdue_ratio", D("0.07"), D("0.30"), 90)
    ratio = domain.village_ratio(rule, outstanding=D("1000000"), npl_outstanding=D("0"), poor_borrowers=14, poor_overdue_borrowers=1)
    assert ratio == D("0.071429") and domain.village_trips(ratio, rule.village_threshold)


def _event(seq: int, type_: str, on: date, **data: object) -> domain.LoanEvent:
    common = {"borrower_type": "enterprise", "registered_poor": False, "village_code": "411224100201", "township_code": "411224100000",
              "county_code": "411224000000", "bank_id": "RCC", "principal": D("400000.00"), "annual_rate": D("0.0435"),
              "start_date": date(2021, 1, 10), "maturity_date": date(2024, 1, 10), "household_id": None, "enterprise_id": "E",
              "driven_households": ["H-1"]}
    return domain.LoanEvent(seq, "E-1", type_, on, {**common, **data})


def test_events_move_a_loan_through_overdue_default_and_stop_the_fee() -> None:
    terms = domain.CoverTerms(1, None, D("0.01"), 360)
    x = domain.with_cover(domain.new_exposure(_event(1, "disbursed", date(2021, 1, 10)), terms), granted=True, note="", cap=None)
    assert (x.covered_principal, x.fee_rate, x.fee_accrued_to) == (D("400000.00"), D("0.01"), date(2021, 1, 10))

    x, accrual = domain.apply_event(x, _event(2, "overdue", date(2022, 1, 20), days_past_due=10, outstanding_principal=D("400000.00"),
                                              overdue_principal=D("133333.33")), cap=None)
    assert (x.status, x.days_past_due) == ("overdue", 10)
    assert accrual is not None and (accrual.start_date, accrual.end_date, accrual.principal) == (date(2021, 1, 10), date(2022, 1, 20),
                                                                                                 D("400000.00"))
    x, _ = domain.apply_event(x, _event(3, "defaulted", date(2022, 4, 20), days_past_due=100, outstanding_principal=D("400000.00"),
                                        unpaid_interest=D("4350.00"), default_date=date(2022, 4, 20)), cap=None)
    assert (x.status, x.unpaid_interest, x.fee_accrued_to) == ("defaulted", D("4350.00"), None)
    x, _ = domain.apply_event(x, _event(4, "written_off", date(2023, 1, 1), outstanding_principal=D("400000.00")), cap=None)
    assert (x.status, x.covered_principal) == ("written_off", D("0.00"))


def test_paying_the_overdue_principal_returns_the_loan_to_active() -> None:
    terms = domain.CoverTerms(1, D("50000.00"), D("0"), 360)
    x = domain.new_exposure(_event(1, "disbursed", date(2021, 1, 10), borrower_type="household", principal=D("30000.00")), terms)
    x, _ = domain.apply_event(x, _event(2, "overdue", date(2022, 1, 20), days_past_due=10, overdue_principal=D("10000.00")), cap=None)
    x, _ = domain.apply_event(x, _event(3, "repayment_recorded", date(2022, 1, 25), kind="principal", amount=D("10000.00"),
                                        outstanding_principal=D("20000.00")), cap=None)
    assert (x.status, x.overdue_principal, x.days_past_due, x.outstanding_principal) == ("active", D("0.00"), 0, D("20000.00"))


def test_registered_poor_households_are_exempt_from_the_guarantee_fee() -> None:
    assert domain.fee_rate_for(borrower_type="household", registered_poor=True, scheme_rate=D("0.01")) == 0
    assert domain.fee_rate_for(borrower_type="enterprise", registered_poor=False, scheme_rate=D("0.01")) == D("0.01")
    assert domain.guarantee_fee(D("400000.00"), D("0.01"), 365, 360) == D("4055.56")


def test_a_late_interest_payment_cures_a_loan_overdue_only_on_interest() -> None:
    terms = domain.CoverTerms(1, D("50000.00"), D("0"), 360)
    x = domain.new_exposure(_event(1, "disbursed", date(2021, 1, 10), borrower_type="household", principal=D("30000.00")), terms)
    x, _ = domain.apply_event(x, _event(2, "overdue", date(2022, 1, 20), days_past_due=10, overdue_principal=D("0.00")), cap=None)
    assert x.status == "overdue"
    x, _ = domain.apply_event(x, _event(3, "repayment_recorded", date(2022, 1, 25), kind="interest", amount=D("1305.00"), late=True,
                                        outstanding_principal=D("30000.00")), cap=None)
    assert (x.status, x.days_past_due) == ("active", 0)


def test_paying_interest_does_not_cure_overdue_principal() -> None:
    terms = domain.CoverTerms(1, D("50000.00"), D("0"), 360)
    x = domain.new_exposure(_event(1, "disbursed", date(2021, 1, 10), borrower_type="household", principal=D("30000.00")), terms)
    x, _ = domain.apply_event(x, _event(2, "overdue", date(2022, 1, 20), days_past_due=10, overdue_principal=D("10000.00")), cap=None)
    x, _ = domain.apply_event(x, _event(3, "repayment_recorded", date(2022, 1, 25), kind="interest", amount=D("1305.00"), late=True,
                                        outstanding_principal=D("30000.00")), cap=None)
    assert (x.status, x.overdue_principal) == ("overdue", D("10000.00"))


def test_leverage_used_is_covered_outstanding_over_leverage_times_balance() -> None:
    assert domain.leverage_used(covered_outstanding=Decimal("90000.00"), leverage=Decimal("10"), balance=Decimal("10000.00")) == Decimal("0.9")


def test_an_empty_fund_with_covered_loans_is_infinitely_over_its_leverage_and_without_any_at_zero() -> None:
    assert domain.leverage_used(covered_outstanding=Decimal("1.00"), leverage=Decimal("10"), balance=Decimal("0.00")) == Decimal("Infinity")
    assert domain.leverage_used(covered_outstanding=Decimal("0.00"), leverage=Decimal("10"), balance=Decimal("0.00")) == 0
