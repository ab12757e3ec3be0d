"""Money in fen precision: Decimal only, ROUND_HALF_UP (四舍五入), largest-remainder splits."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import BeforeValidator, Field, PlainSerializer

FEN = Decimal("0.01")
ZERO = Decimal("0.00")


class FloatMoneyError(TypeError):
    """A float reached money code: floats cannot represent fen exactly."""


def to_decimal(value: Decimal | int | str) -> Decimal:
    """Exact conversion; floats (and bools) are refused."""
    if isinstance(value, bool) or isinstance(value, float):
        raise FloatMoneyError(f"refusing {type(value).__name__} {value!r} as money; use Decimal or str")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | str):
        return Decimal(value)
    raise TypeError(f"not a money value: {value!r}")


def quantize_fen(value: Decimal | int | str) -> Decimal:
    """Round half-up to the fen."""
    return to_decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


def split_by_shares(total: Decimal, shares: Sequence[Decimal]) -> list[Decimal]:
    """Split ``total`` (in fen) by ``shares`` with the largest-remainder method.

    Each part is first rounded down to the fen; the fen left over go one each to the parts with
    the largest remainders (ties to the earlier part). The parts always sum to ``total``.
    Shares need not sum to one; they are weights. A zero total or all-zero shares give zeros.
    """
    total = to_decimal(total)
    if total != total.quantize(FEN):
        raise ValueError(f"total {total} has more than two decimals")
    weights = [to_decimal(s) for s in shares]
    if not weights:
        raise ValueError("no shares to split by")
    if any(w < 0 for w in weights):
        raise ValueError("shares must not be negative")
    weight_sum = sum(weights, Decimal(0))
    if weight_sum == 0:
        if total == 0:
            return [ZERO for _ in weights]
        raise ValueError("cannot split a non-zero total by zero shares")
    sign = Decimal(-1) if total < 0 else Decimal(1)
    total_fen = int((abs(total) / FEN).to_integral_value())
    exact = [Decimal(total_fen) * w / weight_sum for w in weights]
    floors = [int(e.to_integral_value(rounding=ROUND_DOWN)) for e in exact]
    left = total_fen - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [sign * Decimal(f) * FEN for f in floors]


def _from_json_number(value: object) -> object:
    """Accept a JSON number the way it was written.

    The JSON parser hands numbers over as floats; ``repr`` gives the shortest text that reads back
    as the same float, which is the text the client wrote for any amount of up to 15 significant
    digits. Arithmetic never happens on the float. Strings are preferred and always exact.
    """
    if isinstance(value, bool):
        raise ValueError("money must be a number or a decimal string, not a boolean")
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


def _as_str(value: Decimal) -> str:
    return f"{value:.2f}"


Money = Annotated[
    Decimal,
    BeforeValidator(_from_json_number),
    Field(max_digits=18, decimal_places=2, examples=["50000.00"]),
    PlainSerializer(_as_str, return_type=str, when_used="json"),
]
"""A money amount in yuan with at most two decimals (fen); serialised as a string."""

PositiveMoney = Annotated[Money, Field(gt=0)]
NonNegativeMoney = Annotated[Money, Field(ge=0)]

Rate = Annotated[
    Decimal,
    BeforeValidator(_from_json_number),
    Field(ge=0, le=1, max_digits=9, decimal_places=6, examples=["0.043500"]),
    PlainSerializer(lambda v: f"{v:.6f}", return_type=str, when_used="json"),
]
"""An annual rate as a fraction (0.0435 = 4.35%), six decimals, between 0 and 1."""
