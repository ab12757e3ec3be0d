"""The pure subsidy rules (policy.md §5, §7)."""

from datetime import date
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subsidy import domain
from subsidy.documents import amount_in_words

CAP = Decimal("50000.00")
RATE = Decimal("0.0435")


def facts(**overrides: object) -> domain.LoanYearFacts:
    base = {
        "status": "closed", "overdue_principal": Decimal(0), "principal_paid_late": False, "late_interest_payments": 0,
        "interest_due": Decimal("2175.00"), "interest_paid": Decimal("2175.00"), "principal_due": Decimal("50000.00"),
        "principal_paid": Decimal("50000.00"), "borrower_type": "household", "household_registered": True, "days": 365,
    }
    base.update(overrides)
    return domain.LoanYearFacts(**base)  # type: ignore[arg-type]


def test_seed_check_50000_at_4_35_percent_for_a_year_is_2175() -> None:
    assert domain.subsidy_for_year(principal=Decimal("50000"), rate=RATE, days=365, basis=365, cap=CAP) == Decimal("2175.00")


def test_principal_above_the_cap_earns_as_much_as_the_cap() -> None:
    assert domain.subsidy_for_year(principal=Decimal("200000"), rate=RATE, days=365, basis=365, cap=CAP) == Decimal("2175.00")


def test_a_partial_year_earns_its_actual_days() -> None:
    assert domain.subsidy_for_year(principal=Decimal("50000"), rate=RATE, days=181, basis=365, cap=CAP) == Decimal("1078.56")


def test_day_basis_360_divides_actual_days_by_360() -> None:
    assert domain.subsidy_for_year(principal=Decimal("50000"), rate=RATE, days=365, basis=360, cap=CAP) == Decimal("2205.21")
    assert domain.subsidy_for_year(principal=Decimal("50000"), rate=RATE, days=360, basis=360, cap=CAP) == Decimal("2175.00")


def test_an_unknown_day_basis_is_refused() -> None:
    with pytest.raises(ValueError, match="360 or 365"):
        domain.subsidy_for_year(principal=Decimal("50000"), rate=RATE, days=365, basis=366, cap=CAP)


def test_half_a_fen_rounds_up() -> None:
    # 50 × 0.0001 × 365 ÷ 365 = 0.005 → 0.01 (四舍五入)
    assert domain.subsidy_for_year(principal=Decimal("50"), rate=Decimal("0.0001"), days=365, basis=365, cap=CAP) == Decimal("0.01")


def test_an_enterprise_earns_2_percent_on_one_cap_per_driven_household_up_to_its_principal() -> None:
    four = domain.subsidy_for_year(principal=Decimal("400000"), rate=RATE, days=365, basis=365, cap=CAP,
                                   driven_households=4, driven_rate=Decimal("0.02"))
    assert four == Decimal("2175.00") + Decimal("4000.00")
    twenty = domain.subsidy_for_year(principal=Decimal("400000"), rate=RATE, days=365, basis=365, cap=CAP,
                                     driven_households=20, driven_rate=Decimal("0.02"))
    assert twenty == Decimal("2175.00") + Decimal("8000.00")  # bounded by the 400,000 principal


@given(
    principal=st.decimals(min_value=0, max_value=10_000_000, places=2),
    rate=st.decimals(min_value=0, max_value=1, places=6),
    days=st.integers(min_value=0, max_value=366),
    basis=st.sampled_from([360, 365]),
)
def test_the_subsidy_never_exceeds_the_cap_times_the_rate_for_the_days(principal: Decimal, rate: Decimal, days: int, basis: int) -> None:
    amount = domain.subsidy_for_year(principal=principal, rate=rate, days=days, basis=basis, cap=CAP)
    assert amount >= 0
    assert amount <= (min(principal, CAP) * rate * days / basis + Decimal("0.005")).quantize(Decimal("0.01"))
    assert amount == amount.quantize(Decimal("0.01"))


def test_the_plan_rate_from_a_reference_rate_is_rate_times_ratio_to_six_places() -> None:
    assert domain.plan_rate(kind="reference", fixed_rate=None, reference_rate=Decimal("0.0345"), ratio=Decimal("1.26087")) == Decimal("0.043500")
    assert domain.plan_rate(kind="fixed", fixed_rate=Decimal("0.0435"), reference_rate=None, ratio=None) == Decimal("0.043500")


def test_the_subsidy_rate_never_exceeds_the_loans_own_rate_when_the_plan_says_so() -> None:
    assert domain.rate_for_loan(plan_rate=Decimal("0.0435"), loan_rate=Decimal("0.03"), cap_at_loan_rate=True) == Decimal("0.03")
    assert domain.rate_for_loan(plan_rate=Decimal("0.0435"), loan_rate=Decimal("0.03"), cap_at_loan_rate=False) == Decimal("0.0435")


def test_a_full_repaid_year_is_eligible() -> None:
    assert domain.exclusion_reason(facts(), late_interest_limit=2) is None


def test_late_interest_twice_forfeits_the_year() -> None:
    assert domain.exclusion_reason(facts(late_interest_payments=2), late_interest_limit=2) == domain.LATE_INTEREST
    assert domain.exclusion_reason(facts(late_interest_payments=1), late_interest_limit=2) is None


def test_overdue_principal_loses_the_subsidy() -> None:
    assert domain.exclusion_reason(facts(status="defaulted"), late_interest_limit=2) == domain.PRINCIPAL_OVERDUE
    assert domain.exclusion_reason(facts(overdue_principal=Decimal("1")), late_interest_limit=2) == domain.PRINCIPAL_OVERDUE
    assert domain.exclusion_reason(facts(principal_paid_late=True), late_interest_limit=2) == domain.PRINCIPAL_OVERDUE


def test_a_loan_overdue_on_interest_only_waits_for_the_interest_not_for_principal() -> None:
    assert domain.exclusion_reason(facts(status="overdue"), late_interest_limit=2) is None
    assert domain.exclusion_reason(facts(status="overdue", interest_paid=Decimal(0)), late_interest_limit=2) == domain.NOT_REPAID


def test_nothing_is_paid_before_principal_and_interest_are_repaid() -> None:
    assert domain.exclusion_reason(facts(interest_paid=Decimal("2174.99")), late_interest_limit=2) == domain.NOT_REPAID
    assert domain.exclusion_reason(facts(principal_paid=Decimal("0")), late_interest_limit=2) == domain.NOT_REPAID
    assert domain.exclusion_reason(facts(principal_paid=Decimal("0"), closed_early=True), late_interest_limit=2) is None


def test_a_removed_household_loses_the_subsidy_but_an_enterprise_does_not_need_registration() -> None:
    assert domain.exclusion_reason(facts(household_registered=False), late_interest_limit=2) == domain.HOUSEHOLD_NOT_REGISTERED
    assert domain.exclusion_reason(facts(household_registered=False, borrower_type="enterprise"), late_interest_limit=2) is None


def test_diversion_comes_before_every_other_reason() -> None:
    assert domain.exclusion_reason(facts(status="diverted", late_interest_payments=5), late_interest_limit=2) == domain.DIVERTED


def test_subsidy_days_stop_at_the_subsidy_term_and_never_go_negative() -> None:
    start = date(2026, 1, 1)
    assert domain.subsidy_days(year_start=start, year_end=date(2027, 1, 1), loan_start=start, subsidy_term_months=36) == 365
    assert domain.subsidy_days(year_start=start, year_end=date(2027, 1, 1), loan_start=start, subsidy_term_months=6) == 181
    assert domain.subsidy_days(year_start=date(2028, 1, 1), year_end=date(2029, 1, 1), loan_start=start, subsidy_term_months=12) == 0


def test_adding_months_clamps_to_the_end_of_the_month_like_postgresql() -> None:
    assert domain.add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert domain.add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)


def test_loan_years_chain_from_the_start_and_open_with_what_is_still_owed() -> None:
    years = domain.loan_years_from_schedule(
        start_date=date(2026, 3, 15), principal=Decimal("30000"),
        schedule=[(2, date(2028, 3, 15), Decimal("870"), Decimal("20000")), (1, date(2027, 3, 15), Decimal("1305"), Decimal("10000"))],
    )
    assert [(y.loan_year, y.start_date, y.opening_principal) for y in years] == [
        (1, date(2026, 3, 15), Decimal("30000")), (2, date(2027, 3, 15), Decimal("20000"))]


def test_a_fund_that_covers_the_batch_grants_every_amount_in_full() -> None:
    amounts = [Decimal("2175.00"), Decimal("870.00")]
    assert domain.grant_within_fund(amounts, Decimal("3045.00")) == amounts


@given(
    amounts=st.lists(st.decimals(min_value=0, max_value=100_000, places=2), min_size=1, max_size=40),
    fraction=st.decimals(min_value=0, max_value=1, places=4),
)
def test_a_short_fund_is_shared_pro_rata_to_the_fen_and_nobody_gets_more_than_computed(amounts: list[Decimal], fraction: Decimal) -> None:
    total = sum(amounts, Decimal(0))
    remaining = (total * fraction).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    granted = domain.grant_within_fund(amounts, remaining)
    assert sum(granted, Decimal(0)) == min(total, remaining)
    assert all(Decimal(0) <= g <= a for g, a in zip(granted, amounts, strict=True))


def test_the_batch_state_machine_allows_only_the_four_steps() -> None:
    assert domain.next_batch_status("draft", "approve") == "approved"
    assert domain.next_batch_status("approved", "pay") == "paid"
    assert domain.next_batch_status("paid", "reconcile") == "reconciled"
    assert domain.next_batch_status("draft", "cancel") == "cancelled"
    assert domain.next_batch_status("draft", "pay") is None
    assert domain.next_batch_status("approved", "cancel") is None
    assert domain.next_batch_status("reconciled", "approve") is None


def test_a_period_ends_only_once_the_business_date_is_past_its_last_day() -> None:
    assert not domain.period_has_ended(period_end=date(2026, 12, 31), business_date=date(2026, 12, 31))
    assert domain.period_has_ended(period_end=date(2026, 12, 31), business_date=date(2027, 1, 1))


@pytest.mark.parametrize(("amount", "words"), [
    ("2175.00", "贰仟壹佰柒拾伍元整"), ("20250.00", "贰万零贰佰伍拾元整"), ("100000.00", "壹拾万元整"),
    ("10010.00", "壹万零壹拾元整"), ("1.05", "壹元零伍分"), ("0.50", "伍角整"), ("0.00", "零元整"),
])
def test_amounts_are_written_out_in_chinese_capitals(amount: str, words: str) -> None:
    assert amount_in_words(Decimal(amount)) == words


@given(
    outstanding=st.decimals(min_value=1, max_value=1_000_000, places=2),
    term=st.integers(min_value=1, max_value=60),
)
def test_renewal_years_repay_exactly_the_rolled_over_principal(outstanding: Decimal, term: int) -> None:
    years = domain.renewal_years(first_year=2, start_date=date(2027, 1, 31), outstanding=outstanding, annual_rate=RATE, term_months=term)
    assert sum(y.principal_due for y in years) == outstanding
    assert years[0].loan_year == 2 and years[0].start_date == date(2027, 1, 31)
    assert all(a.due_date == b.start_date for a, b in pairwise(years))
    assert years[-1].due_date == domain.add_months(date(2027, 1, 31), term)


def test_a_revised_schedule_replaces_the_years_it_names_and_keeps_the_rest() -> None:
    d = date.fromisoformat
    current = [(1, d("2027-01-01"), Decimal("2175.00"), Decimal("0.00")), (2, d("2028-01-01"), Decimal("2175.00"), Decimal("50000.00"))]
    revised = [(2, d("2028-07-01"), Decimal("3262.50"), Decimal("50000.00")), (3, d("2029-01-01"), Decimal("10.00"), Decimal("0.00"))]
    assert domain.revised_schedule(current, revised) == [current[0], revised[0], revised[1]]
