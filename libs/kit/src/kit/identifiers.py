"""National identifier checks: resident ID (GB 11643), Unified Social Credit Code (GB 32100),
statistical division codes (12 digits: province 2, city 2, county 2, township 3, village 3)."""

from __future__ import annotations

import functools
import re
from datetime import date

from stdnum import numdb
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

_RESIDENT_ID = re.compile(r"^[0-9]{17}[0-9X]$")
_DIVISION = re.compile(r"^\d{12}$")
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[0-9Xx])(?![0-9A-Za-z])")


@functools.lru_cache(maxsize=8192)
def _known_area(code: str) -> bool:
    """The first six digits name a county-level area GB/T 2260 has ever had."""
    return any("county" in info for _, info in numdb.get("cn/loc").info(code))


def resident_id_error(value: str) -> str | None:
    """None when ``value`` is a valid 18-digit resident ID (GB 11643), else the reason.

    Checks format, check digit, birth date and a known area. python-stdnum's own ``validate``
    also requires the area code to have existed on the holder's birth date, which refuses real
    IDs: 卢氏县 411224 dates from 1986, yet people born before carry it (the code in force when the
    ID was issued). The area lookup is cached: it would otherwise dominate a million-row import.
    """
    if not _RESIDENT_ID.match(value or ""):
        return "must be 17 digits and a digit or X"
    if ric.calc_check_digit(value) != value[-1]:
        return "invalid resident ID (check digit is wrong)"
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "invalid resident ID (birth date part is not a date)"
    if born.year < 1880:
        return "invalid resident ID (birth year before 1880)"
    if not _known_area(value[:6]):
        return "invalid resident ID (unknown area code)"
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
