from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from kit.money import FloatMoneyError, Money, PositiveMoney, Rate, quantize_fen, split_by_shares, to_decimal

fen_amounts = st.integers(min_value=-10**12, max_value=10**12).map(lambda n: Decimal(n) / 100)
shares = st.lists(st.decimals(min_value=0, max_value=100, places=4, allow_nan=False), min_size=1, max_size=8).filter(lambda s: sum(s) > 0)


@given(fen_amounts, shares)
def test_parts_always_sum_to_the_whole(total: Decimal, weights: list[Decimal]) -> None:
    parts = split_by_shares(total, weights)
    assert sum(parts, Decimal(0)) == total
    assert all(p == p.quantize(Decimal("0.01")) for p in parts)


@given(fen_amounts.filter(lambda t: t >= 0), shares)
def test_each_part_is_within_one_fen_of_its_exact_share(total: Decimal, weights: list[Decimal]) -> None:
    parts = split_by_shares(total, weights)
    weight_sum = sum(weights)
    for part, w in zip(parts, weights, strict=True):
        assert abs(part - total * w / weight_sum) < Decimal("0.01")


def test_largest_remainder_gives_the_odd_fen_to_the_largest_remainder() -> None:
    # 100.00 split 1/3 each: 33.34 + 33.33 + 33.33, the first wins the tie
    assert split_by_shares(Decimal("100.00"), [Decimal(1)] * 3) == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    # 0.05 split 35/15/50: exact 0.0175/0.0075/0.025 → floors 1,0,2 fen; one fen left goes to the 0.75 remainder
    assert split_by_shares(Decimal("0.05"), [Decimal("0.35"), Decimal("0.15"), Decimal("0.50")]) == [
        Decimal("0.02"), Decimal("0.01"), Decimal("0.02")]


def test_a_split_refuses_sub_fen_totals_and_negative_shares() -> None:
    with pytest.raises(ValueError):
        split_by_shares(Decimal("1.001"), [Decimal(1)])
    with pytest.raises(ValueError):
        split_by_shares(Decimal("1.00"), [Decimal(1), Decimal(-1)])


def test_rounding_is_half_up_to_the_fen() -> None:
    assert quantize_fen("2.345") == Decimal("2.35")
    assert quantize_fen("2.344") == Decimal("2.34")
    assert quantize_fen("-2.345") == Decimal("-2.35")
    assert quantize_fen(Decimal("50000") * Decimal("0.0435")) == Decimal("2175.00")


@given(st.decimals(min_value=-10**9, max_value=10**9, places=6, allow_nan=False))
def test_rounding_never_moves_more_than_half_a_fen(value: Decimal) -> None:
    assert abs(quantize_fen(value) - value) <= Decimal("0.005")


def test_floats_are_refused_in_money_code() -> None:
    with pytest.raises(FloatMoneyError):
        to_decimal(0.1)  # type: ignore[arg-type]
    with pytest.raises(FloatMoneyError):
        quantize_fen(1.5)  # type: ignore[arg-type]


class Payment(BaseModel):
    amount: PositiveMoney
    balance: Money = Decimal("0")
    rate: Rate = Decimal("0.0435")


def test_money_fields_accept_strings_and_json_numbers_exactly_and_serialise_as_strings() -> None:
    assert Payment.model_validate_json('{"amount": "50000.10"}').amount == Decimal("50000.10")
    assert Payment.model_validate({"amount": 0.1}).amount == Decimal("0.1")  # a JSON number as written
    assert Payment(amount=Decimal("12.5")).model_dump(mode="json") == {"amount": "12.50", "balance": "0.00", "rate": "0.043500"}


@pytest.mark.parametrize("bad", ["0", "-1.00", "1.234", "abc", True])
def test_money_fields_refuse_zero_negative_sub_fen_and_non_numbers(bad: object) -> None:
    with pytest.raises(ValidationError):
        Payment.model_validate({"amount": bad})


def test_rates_must_lie_between_zero_and_one() -> None:
    with pytest.raises(ValidationError):
        Payment.model_validate({"amount": "1", "rate": "1.5"})
