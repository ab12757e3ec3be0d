"""National identifier checks: resident ID (GB 11643), Unified Social Credit Code (GB 32100),
statistical division codes (12 digits: province 2, city 2, county 2, township 3, village 3)."""

from __future__ import annotations

import re

from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

_DIVISION = re.compile(r"^\d{12}$")
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[0-9Xx])(?![0-9A-Za-z])")


def resident_id_error(value: str) -> str | None:
    """None when ``value`` is a valid 18-digit resident ID, else the reason."""
    if not re.fullmatch(r"\d{17}[\dXx]", value or ""):
        return "must be 17 digits and a digit or X"
    try:
        ric.validate(value)
    except ValidationError as exc:
        return f"invalid resident ID ({exc.message.lower()})"
    return None


def uscc_error(value: str) -> str | None:
    """None when ``value`` is a valid 18-character Unified Social Credit Code, else the reason."""
    try:
        uscc.validate(value)
    except ValidationError as exc:
        return f"invalid unified social credit code ({exc.message.lower()})"
    return None


def division_code_error(value: str) -> str | None:
    if not _DIVISION.match(value or ""):
        return "a division code has 12 digits"
    if value[:2] == "00":
        return "province part must not be 00"
    return None


def division_level(code: str) -> str:
    """province, city, county, township or village, from which parts are non-zero."""
    if code[9:] != "000":
        return "village"
    if code[6:9] != "000":
        return "township"
    if code[4:6] != "00":
        return "county"
    if code[2:4] != "00":
        return "city"
    return "province"


_PREFIX_LEN = {"province": 2, "city": 4, "county": 6, "township": 9, "village": 12}


def region_prefix(code: str) -> str:
    """The prefix shared by every code inside region ``code`` (411224000000 → 411224)."""
    return code[: _PREFIX_LEN[division_level(code)]]


def region_contains(region: str, code: str) -> bool:
    """True when division ``code`` lies inside (or is) ``region``."""
    return code.startswith(region_prefix(region))


def birth_date_from_resident_id(value: str) -> str:
    """YYYY-MM-DD from an 18-digit resident ID (assumed valid)."""
    return f"{value[6:10]}-{value[10:12]}-{value[12:14]}"


def mask_resident_id(value: str) -> str:
    """Keep the first 6 and last 4 characters: 411224********123X."""
    if len(value) != 18:
        return "*" * len(value)
    return value[:6] + "*" * 8 + value[-4:]


def mask_ids_in_text(text: str) -> str:
    """Mask every 18-character resident-ID-shaped token in free text (logs)."""
    return _ID_IN_TEXT.sub(lambda m: m.group(1) + "*" * 8 + m.group(3)[-4:], text)
