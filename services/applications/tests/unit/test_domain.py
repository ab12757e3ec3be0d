"""Pure rules: schedules, eligibility, 带贫 qualification, identification steps, delinquency."""

import itertools
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from applications import domain
from applications.domain import InstallmentState, LendingStatusFacts, LoanRequest, Member, PolicyProfile, RatingFacts
from applications.service import parse_event_cursor
from kit.errors import InvalidInput

POLICY = PolicyProfile()
ON = date(2026, 3, 1)
WORKER = Member("户主", "head", date(1980, 5, 1), "full")
REQUEST = LoanRequest(amount=Decimal("50000.00"), term_months=36, purpose="breeding", industry="livestock")
GOOD_RATING = RatingFacts(status="current", grade="AA", credit_line=Decimal("50000.00"))


def codes(failures: list[domain.Failure]) -> set[str]:
    return {f.code for f in failures}


def check(**overrides: object) -> set[str]:
    args: dict[str, object] = {
        "household_status": "poor",
        "members": [WORKER],
        "policy": POLICY,
        "request": REQUEST,
        "on": ON,
        "rating": GOOD_RATING,
        "lending_status": LendingStatusFacts(may_lend=True),
    }
    args.update(overrides)
    return codes(domain.household_eligibility(**args))  # type: ignore[arg-type]


def test_a_working_registered_household_with_a_good_grade_is_eligible() -> None:
    assert check() == set()


def test_age_is_counted_in_completed_years_at_application() -> None:
    turns_61_tomorrow = Member("户主", "head", date(1965, 3, 2), "full")
    turns_61_today = Member("户主", "head", date(1965, 3, 1), "full")
    assert check(members=[turns_61_tomorrow]) == set()
    assert check(members=[turns_61_today]) == {"AGE"}
    assert check(members=[Member("户主", "head", date(2008, 3, 2), "full")]) == {"AGE"}


def test_a_borrower_without_labour_capacity_fails_labour() -> None:
    assert check(members=[Member("户主", "head", date(1980, 5, 1), "none")]) == {"LABOUR"}
    assert check(members=[Member("户主", "head", date(1980, 5, 1), "partial")]) == set()


def test_consumption_and_unknown_purposes_fail_purpose_and_unknown_industries_fail_industry() -> None:
    assert check(request=LoanRequest(Decimal(1000), 12, "marriage", "livestock")) == {"PURPOSE"}
    assert check(request=LoanRequest(Decimal(1000), 12, "gambling", "casino")) == {"PURPOSE", "INDUSTRY"}


def test_the_household_cap_counts_loans_already_outstanding() -> None:
    assert check(outstanding=Decimal("150000.00")) == set()
    assert check(outstanding=Decimal("150000.01")) == {"AMOUNT"}


def test_a_term_over_three_years_fails_term() -> None:
    assert check(request=LoanRequest(Decimal(1000), 37, "breeding", "livestock")) == {"TERM"}


def test_grade_below_a_no_rating_or_a_veto_fail_grade_and_blacklist_is_its_own_rule() -> None:
    assert check(rating=RatingFacts("current", "B", None)) == {"GRADE"}
    assert check(rating=RatingFacts("none", None, None)) == {"GRADE"}
    assert check(rating=RatingFacts("current", None, None, vetoed=True, veto_reasons=("吸毒",))) == {"GRADE"}
    assert check(rating=RatingFacts("current", "AAA", None, blacklisted=True)) == {"BLACKLIST"}
    assert check(rating=RatingFacts("current", "A", Decimal("30000.00"))) == {"CREDIT_LINE"}


def test_a_suspended_region_fails_region_suspended() -> None:
    assert check(lending_status=LendingStatusFacts(may_lend=False, reasons=("熔断",))) == {"REGION_SUSPENDED"}


def test_every_failed_rule_is_reported_together() -> None:
    failures = check(
        household_status="removed",
        members=[Member("户主", "head", date(1950, 1, 1), "none")],
        request=LoanRequest(Decimal("300000"), 48, "consumption", "casino"),
        rating=RatingFacts("current", "AAA", None, blacklisted=True),
        lending_status=LendingStatusFacts(may_lend=False),
    )
    assert failures == {"NOT_REGISTERED", "AGE", "LABOUR", "PURPOSE", "INDUSTRY", "TERM", "AMOUNT", "BLACKLIST", "REGION_SUSPENDED"}


def test_a_household_qualifies_for_driving_when_nobody_can_work() -> None:
    old = Member("a", "head", date(1950, 1, 1), "partial")
    young_disabled = Member("b", "child", date(1990, 1, 1), "none")
    young_worker = Member("c", "child", date(1990, 1, 1), "full")
    assert domain.qualifies_for_driving([old, young_disabled], POLICY, ON)
    assert not domain.qualifies_for_driving([old, young_worker], POLICY, ON)


@given(
    principal_fen=st.integers(min_value=1, max_value=10**10),
    rate=st.decimals(min_value=0, max_value=Decimal("0.2"), places=4),
    term=st.integers(min_value=1, max_value=120),
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2050, 12, 31)),
)
def test_a_yearly_schedule_repays_exactly_the_principal_and_ends_at_maturity(principal_fen: int, rate: Decimal, term: int, start: date) -> None:
    principal = Decimal(principal_fen) / 100
    plan = domain.yearly_schedule(principal=principal, annual_rate=rate, start_date=start, term_months=term)
    assert sum(p.principal_due for p in plan) == principal
    assert len(plan) == (term + 11) // 12
    assert plan[-1].due_date == domain.add_months(start, term)
    assert all(a.due_date < b.due_date for a, b in itertools.pairwise(plan))
    assert all(p.interest_due == p.interest_due.quantize(Decimal("0.01")) and p.interest_due >= 0 for p in plan)


def test_a_fifty_thousand_loan_for_a_year_at_4_35_percent_owes_2175() -> None:
    [only] = domain.yearly_schedule(principal=Decimal("50000.00"), annual_rate=Decimal("0.0435"), start_date=ON, term_months=12)
    assert (only.interest_due, only.principal_due, only.due_date) == (Decimal("2175.00"), Decimal("50000.00"), date(2027, 3, 1))


def test_an_eighteen_month_loan_splits_principal_by_months() -> None:
    plan = domain.yearly_schedule(principal=Decimal("30000.00"), annual_rate=Decimal("0.05"), start_date=date(2026, 1, 31), term_months=18)
    assert [(p.principal_due, p.interest_due, p.due_date) for p in plan] == [
        (Decimal("20000.00"), Decimal("1500.00"), date(2027, 1, 31)),
        (Decimal("10000.00"), Decimal("250.00"), date(2027, 7, 31)),
    ]


def test_month_ends_clamp() -> None:
    assert domain.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert domain.add_months(date(2027, 1, 31), 13) == date(2028, 2, 29)


def test_days_past_due_count_from_the_earliest_unpaid_installment() -> None:
    a = InstallmentState(1, date(2027, 3, 1), Decimal(100), Decimal(1000), Decimal(100), Decimal(1000))
    b = InstallmentState(2, date(2028, 3, 1), Decimal(100), Decimal(1000), Decimal(0), Decimal(0))
    assert domain.days_past_due([a, b], date(2028, 3, 1)) == 0
    assert domain.days_past_due([a, b], date(2028, 3, 11)) == 10
    a.interest_paid = Decimal(99)
    assert domain.days_past_due([a, b], date(2027, 3, 2)) == 1
    assert domain.delinquency_status(89, 90) == "overdue" and domain.delinquency_status(90, 90) == "defaulted"


def test_a_repayment_goes_to_the_earliest_open_installment_and_never_beyond_it() -> None:
    a = InstallmentState(1, date(2027, 3, 1), Decimal(100), Decimal(1000), Decimal(100), Decimal(0))
    b = InstallmentState(2, date(2028, 3, 1), Decimal(50), Decimal(1000))
    target = domain.repayment_target([a, b], kind="interest", amount=Decimal(50), value_date=date(2028, 3, 2))
    assert target == domain.RepaymentTarget(2, date(2028, 3, 1), late=True)
    assert isinstance(domain.repayment_target([a, b], kind="principal", amount=Decimal(1001), value_date=date(2027, 1, 1)), str)


def test_steps_happen_in_chain_order() -> None:
    assert domain.next_status("attest", "submitted") == "attested"
    assert domain.next_status("approve", "reviewed") is None
    assert domain.next_status("withdraw", "disbursed") is None
    assert domain.next_status("reject", "recommended") is None


def test_identification_notices_last_seven_days() -> None:
    steps = {"applied_on": date(2025, 9, 1), "village_notice_on": date(2025, 9, 2), "township_notice_on": date(2025, 9, 8)}
    assert len(domain.identification_order_errors(steps)) == 1
    steps["township_notice_on"] = date(2025, 9, 9)
    assert domain.identification_order_errors(steps) == []


def test_a_household_row_reports_all_its_problems() -> None:
    record, problems = domain.validate_household(
        {
            "household_id": "bad id!",
            "head_resident_id": "1",
            "head_name": "",
            "village_code": "411224100000",
            "household_type": "x",
            "main_cause": "因病",
            "secondary_causes": "因病;缺水;缺技术",
            "members": "[]",
            "status": "poor",
        }
    )
    assert record is None
    assert len(problems) >= 7


def test_policy_profiles_refuse_inconsistent_ranges() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        PolicyProfile(min_age=70)
    with pytest.raises(ValidationError):
        PolicyProfile(allowed_purposes=["consumption"])
    assert PolicyProfile(max_age=65).max_age == 65


def test_a_share_rounds_half_up_to_four_places_and_is_zero_without_a_whole() -> None:
    assert domain.share(2, 3) == Decimal("0.6667")
    assert domain.share(Decimal("1.00005"), 10) == Decimal("0.1000")
    assert domain.share(Decimal("0.00005"), 1) == Decimal("0.0001")  # half-up, not banker's rounding
    assert domain.share(5, 0) == Decimal("0.0000") and str(domain.share(0, 0)) == "0.0000"


def test_event_cursors_are_txid_colon_seq_and_empty_means_the_beginning() -> None:
    assert parse_event_cursor("") == (0, 0) and parse_event_cursor("  ") == (0, 0)
    assert parse_event_cursor("812:44") == (812, 44)
    for malformed in ("44", "a:1", "1:", ":1", "1:2:3", "-1:2", "1:2 3", "99999999999999999999:1"):
        with pytest.raises(InvalidInput):
            parse_event_cursor(malformed)
