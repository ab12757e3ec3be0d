import pytest

from kit.identifiers import (
    division_code_error,
    division_level,
    mask_ids_in_text,
    mask_resident_id,
    region_contains,
    region_prefix,
    resident_id_error,
    uscc_error,
)


def _with_check(body17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body17 + "10X98765432"[sum(int(d) * w for d, w in zip(body17, weights, strict=True)) % 11]


@pytest.mark.parametrize("value", ["11010519491231002X", _with_check("11010819850615321"), _with_check("41122419900101123")])
def test_valid_resident_ids_pass(value: str) -> None:
    assert resident_id_error(value) is None


@pytest.mark.parametrize(
    ("value", "why"),
    [("110105194912310021", "checksum"), ("11010519491331002X", "month 13"), ("1101051949123100", "short"), ("", "empty"),
     ("11010519491231002Y", "bad last character")],
)
def test_invalid_resident_ids_are_refused_with_a_reason(value: str, why: str) -> None:
    assert resident_id_error(value), why


def test_unified_social_credit_codes() -> None:
    assert uscc_error("91110000600037341L") is None
    assert uscc_error("91110000600037341M")
    assert uscc_error("123")


def test_division_codes_levels_and_containment() -> None:
    assert division_code_error("411224100201") is None
    assert division_code_error("41122410020") and division_code_error("00112410020a")
    assert [division_level(c) for c in ("410000000000", "411200000000", "411224000000", "411224100000", "411224100201")] == [
        "province", "city", "county", "township", "village"]
    assert region_prefix("411224000000") == "411224"
    assert region_contains("411224000000", "411224100201")
    assert region_contains("411224100000", "411224100201")
    assert not region_contains("411224100000", "411224101201")
    assert not region_contains("411224000000", "411225100201")


def test_resident_ids_are_masked_in_values_and_free_text() -> None:
    assert mask_resident_id("11010519491231002X") == "110105********002X"
    line = 'household head 11010519491231002X, phone 13800138000, loan L-1 amount 50000.00'
    assert mask_ids_in_text(line) == 'household head 110105********002X, phone 13800138000, loan L-1 amount 50000.00'


def test_elders_carry_area_codes_younger_than_themselves() -> None:
    # 卢氏县 411224 exists since 1986; a head born in 1950 holds an ID with it
    assert resident_id_error(_with_check("41122419500101123")) is None
    assert resident_id_error("41122419800231123X") is not None  # 31 February
    unknown_area = "99999919800501123"
    assert resident_id_error(_with_check(unknown_area)) == "invalid resident ID (unknown area code)"
