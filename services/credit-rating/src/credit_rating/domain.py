"""Pure rules of the credit-rating service: plain values in, values out; no I/O.

A scorecard (评分卡) is versioned data: categories, indicators and a grade table. Scoring follows
"四个一": one base (一基础) + bonus (一加分) − deductions (一减分), bounded to the scale; any veto
indicator (一否决) means no grade and no credit line (授信额度).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

KINDS = ("base", "bonus", "deduction", "veto")
NUMBER_LIMIT = 10**15  # an answer is a count, an area or an amount in yuan; beyond this it is a typing error
_SLOT = {"base": 0, "bonus": 1, "deduction": 2, "veto": 0}
VALUE_TYPES = ("yes_no", "choice", "number")
LOAN_EVENT_ACTIONS = ("deduction", "blacklist", "none")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, addressed by a dotted field path."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass(frozen=True)
class Band:
    """A number band: ``low`` ≤ value < ``high`` (``high`` None = open above)."""

    low: Decimal
    high: Decimal | None
    points: int

    def holds(self, value: Decimal | int | float) -> bool:
        return value >= self.low and (self.high is None or value < self.high)


@dataclass(frozen=True)
class Indicator:
    code: str
    category: str
    name: str
    kind: str
    value_type: str
    required: bool
    yes_no_points: tuple[int, int] = (0, 0)  # (yes, no)
    options: Mapping[str, int] = field(default_factory=dict)
    bands: tuple[Band, ...] = ()
    veto_when: bool = True

    @property
    def max_points(self) -> int:
        if self.kind == "veto":
            return 0
        if self.value_type == "yes_no":
            return max(self.yes_no_points)
        if self.value_type == "choice":
            return max(self.options.values(), default=0)
        return max((b.points for b in self.bands), default=0)


@dataclass(frozen=True)
class Grade:
    """A row of the grade table: scores ``min_score``..``max_score`` inclusive give ``grade`` and its line."""

    grade: str
    min_score: int
    max_score: int
    credit_line: Decimal


@dataclass(frozen=True)
class LoanEventRule:
    """What a loan event does to the household's rating (失信严惩)."""

    action: str  # deduction | blacklist | none
    points: int = 0


@dataclass(frozen=True)
class Scorecard:
    scale_min: int
    scale_max: int
    validity_days: int
    grades: tuple[Grade, ...]  # highest first
    min_lending_grade: str
    categories: Mapping[str, str]  # code → Chinese name
    indicators: Mapping[str, Indicator]
    loan_events: Mapping[str, LoanEventRule]
    required: frozenset[str] = frozenset()
    # (code, answer) → (3 × category position + slot [0 base, 1 bonus, 2 deduction], points, answer type)
    # for every valid yes/no or choice answer that does not veto. Scoring a campaign of 100,000
    # households looks each answer up once here; numbers, vetoes and wrong answers take the
    # rule-by-rule path (:func:`indicator_points`).
    answers: Mapping[tuple[str, Any], tuple[int, int, type]] = field(default_factory=dict)

    def slot(self, ind: Indicator) -> int:
        return 3 * list(self.categories).index(ind.category) + _SLOT[ind.kind]

    def grade_rank(self, grade: str | None) -> int:
        """0 for the lowest grade of the table, upward; -1 for no grade."""
        names = [g.grade for g in reversed(self.grades)]
        return names.index(grade) if grade in names else -1


class CategoryScore(NamedTuple):
    base: int = 0
    bonus: int = 0
    deduction: int = 0
    vetoes: tuple[str, ...] = ()


class Result(NamedTuple):
    """An assessment's outcome: explainable by category, recorded with the version that produced it.

    ``category_points`` holds (base, bonus, deduction) for each category in the scorecard's order;
    ``vetoes`` holds (category, reason) for each vetoing indicator.
    """

    score: int
    raw_score: int
    base: int
    bonus: int
    deduction: int
    grade: str | None
    credit_line: Decimal | None
    vetoed: bool
    veto_reasons: tuple[str, ...]
    category_points: tuple[int, ...]
    vetoes: tuple[tuple[str, str], ...]

    def by_category(self, card: Scorecard) -> dict[str, CategoryScore]:
        return category_breakdown(card, self.category_points, self.vetoes)


def category_breakdown(card: Scorecard, points: Sequence[int], vetoes: Sequence[tuple[str, str]]) -> dict[str, CategoryScore]:
    return {
        cat: CategoryScore(points[3 * i], points[3 * i + 1], points[3 * i + 2], tuple(r for c, r in vetoes if c == cat))
        for i, cat in enumerate(card.categories)
    }


@dataclass(frozen=True)
class Line:
    """One indicator's contribution, for explaining a score to the household."""

    code: str
    category: str
    name: str
    kind: str
    value: Any
    points: int
    vetoes: bool


# ---------------------------------------------------------------- building a scorecard


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not a whole number")
    return value


def _dec(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, float):
        value = repr(value)
    try:
        out = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a number") from exc
    if not out.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return out


def _indicator(raw: Mapping[str, Any], path: str, problems: list[Problem]) -> Indicator | None:
    code, kind, value_type = raw.get("code"), raw.get("kind"), raw.get("value_type")
    before = len(problems)
    if not isinstance(code, str) or not code:
        problems.append(Problem(f"{path}.code", "an indicator needs a code"))
    if kind not in KINDS:
        problems.append(Problem(f"{path}.kind", f"kind must be one of {', '.join(KINDS)}"))
    if value_type not in VALUE_TYPES:
        problems.append(Problem(f"{path}.value_type", f"value_type must be one of {', '.join(VALUE_TYPES)}"))
    if len(problems) > before:
        return None
    yes_no, options, bands = (0, 0), {}, []
    try:
        if kind == "veto":
            if value_type != "yes_no":
                problems.append(Problem(f"{path}.value_type", "a veto indicator (一否决) is answered yes or no"))
            veto_when = raw.get("veto_when", True)
            if not isinstance(veto_when, bool):
                problems.append(Problem(f"{path}.veto_when", "veto_when is true or false"))
        elif value_type == "yes_no":
            pts = raw.get("points") or {}
            yes_no = (_int(pts.get("yes", 0)), _int(pts.get("no", 0)))
        elif value_type == "choice":
            raw_opts = raw.get("options") or []
            if not raw_opts:
                problems.append(Problem(f"{path}.options", "a choice indicator needs options"))
            for j, opt in enumerate(raw_opts):
                value = opt.get("value")
                if not isinstance(value, str) or not value:
                    problems.append(Problem(f"{path}.options.{j}.value", "an option value is a non-empty string"))
                elif value in options:
                    problems.append(Problem(f"{path}.options.{j}.value", f"option {value!r} appears twice"))
                else:
                    options[value] = _int(opt.get("points", 0))
        else:
            raw_bands = raw.get("bands") or []
            if not raw_bands:
                problems.append(Problem(f"{path}.bands", "a number indicator needs bands"))
            for j, b in enumerate(raw_bands):
                high = b.get("max")
                bands.append(Band(_dec(b.get("min")), None if high is None else _dec(high), _int(b.get("points", 0))))
                if high is not None and bands[-1].high is not None and bands[-1].high <= bands[-1].low:
                    problems.append(Problem(f"{path}.bands.{j}", "a band's max must be above its min"))
            for j in range(1, len(bands)):
                if bands[j - 1].high != bands[j].low:
                    problems.append(Problem(f"{path}.bands.{j}", "bands must follow each other without gap or overlap (min = previous max)"))
    except (ValueError, TypeError, AttributeError) as exc:
        problems.append(Problem(path, f"points and bands must be whole numbers and numbers: {exc}"))
        return None
    if kind in ("bonus", "deduction", "base") and any(p < 0 for p in (*yes_no, *options.values(), *(b.points for b in bands))):
        problems.append(Problem(f"{path}.points", "points are never negative; a deduction indicator states the points it takes away"))
    return Indicator(
        code=str(code),
        category=str(raw.get("category", "")),
        name=str(raw.get("name", "")),
        kind=str(kind),
        value_type=str(value_type),
        required=bool(raw.get("required", kind in ("base", "veto"))),
        yes_no_points=yes_no,
        options=options,
        bands=tuple(bands),
        veto_when=bool(raw.get("veto_when", True)),
    )


def build_scorecard(definition: Mapping[str, Any]) -> tuple[Scorecard | None, list[Problem]]:
    """Check a scorecard definition for coherence and compile it; every problem is listed."""
    problems: list[Problem] = []
    scale = definition.get("scale") or {}
    try:
        scale_min, scale_max = _int(scale.get("min", 0)), _int(scale.get("max", 100))
    except ValueError:
        problems.append(Problem("scale", "scale min and max are whole numbers"))
        scale_min, scale_max = 0, 100
    if scale_min >= scale_max:
        problems.append(Problem("scale", "scale max must be above scale min"))
    validity = definition.get("validity_days", 365)
    if isinstance(validity, bool) or not isinstance(validity, int) or validity < 1:
        problems.append(Problem("validity_days", "validity_days is a whole number of days ≥ 1"))
        validity = 365
    categories: dict[str, str] = {}
    for i, c in enumerate(definition.get("categories") or []):
        code = c.get("code")
        if not isinstance(code, str) or not code:
            problems.append(Problem(f"categories.{i}.code", "a category needs a code"))
        elif code in categories:
            problems.append(Problem(f"categories.{i}.code", f"category {code} appears twice"))
        else:
            categories[code] = str(c.get("name", ""))
    if not categories:
        problems.append(Problem("categories", "a scorecard needs categories"))
    indicators: dict[str, Indicator] = {}
    for i, raw in enumerate(definition.get("indicators") or []):
        ind = _indicator(raw, f"indicators.{i}", problems)
        if ind is None:
            continue
        if ind.code in indicators:
            problems.append(Problem(f"indicators.{i}.code", f"indicator {ind.code} appears twice"))
        if ind.category not in categories:
            problems.append(Problem(f"indicators.{i}.category", f"unknown category {ind.category!r}"))
        indicators[ind.code] = ind
    if not indicators:
        problems.append(Problem("indicators", "a scorecard needs indicators"))
    grades: list[Grade] = []
    for i, g in enumerate(definition.get("grades") or []):
        try:
            grades.append(Grade(str(g["grade"]), _int(g["min_score"]), _int(g["max_score"]), _dec(g["credit_line"])))
        except (KeyError, ValueError, TypeError):
            problems.append(Problem(f"grades.{i}", "a grade has grade, min_score, max_score (whole numbers) and credit_line"))
    grades.sort(key=lambda g: g.min_score, reverse=True)
    loan_events: dict[str, LoanEventRule] = {}
    for name, rule in (definition.get("loan_events") or {}).items():
        action = (rule or {}).get("action")
        if action not in LOAN_EVENT_ACTIONS:
            problems.append(Problem(f"loan_events.{name}.action", f"action must be one of {', '.join(LOAN_EVENT_ACTIONS)}"))
            continue
        points = rule.get("points", 0)
        if action == "deduction" and (isinstance(points, bool) or not isinstance(points, int) or points <= 0):
            problems.append(Problem(f"loan_events.{name}.points", "a deduction takes away a whole number of points > 0"))
            continue
        loan_events[name] = LoanEventRule(action, points if action == "deduction" else 0)
    if problems:
        return None, problems
    card = Scorecard(
        scale_min=scale_min,
        scale_max=scale_max,
        validity_days=validity,
        grades=tuple(grades),
        min_lending_grade=str(definition.get("min_lending_grade", "")),
        categories=categories,
        indicators=indicators,
        loan_events=loan_events,
        required=frozenset(code for code, ind in indicators.items() if ind.required),
        answers={key: entry for ind in indicators.values() for key, entry in _answers(ind, list(categories)).items()},
    )
    return card, []


def _answers(ind: Indicator, categories: list[str]) -> dict[tuple[str, Any], tuple[int, int, type]]:
    slot = 3 * categories.index(ind.category) + _SLOT[ind.kind]
    if ind.kind == "veto":
        return {(ind.code, not ind.veto_when): (slot, 0, bool)}
    if ind.value_type == "yes_no":
        return {(ind.code, True): (slot, ind.yes_no_points[0], bool), (ind.code, False): (slot, ind.yes_no_points[1], bool)}
    if ind.value_type == "choice":
        return {(ind.code, v): (slot, p, str) for v, p in ind.options.items()}
    return {}


def max_achievable_score(card: Scorecard) -> int:
    """The best score a household can reach: every base and bonus point, no deduction, capped."""
    best = sum(ind.max_points for ind in card.indicators.values() if ind.kind in ("base", "bonus"))
    return min(best, card.scale_max)


def publish_problems(card: Scorecard) -> list[Problem]:
    """Why a scorecard may not be published: a grade table with gaps or overlaps, grades outside the
    scale, a lending grade not in the table, or points that cannot reach a grade."""
    problems: list[Problem] = []
    if not card.grades:
        return [Problem("grades", "a scorecard needs a grade table")]
    names = [g.grade for g in card.grades]
    for name in {n for n in names if names.count(n) > 1}:
        problems.append(Problem("grades", f"grade {name} appears twice"))
    for g in card.grades:
        if g.min_score > g.max_score:
            problems.append(Problem(f"grades.{g.grade}", f"min_score {g.min_score} is above max_score {g.max_score}"))
        if g.min_score < card.scale_min or g.max_score > card.scale_max:
            problems.append(Problem(f"grades.{g.grade}", f"scores {g.min_score}–{g.max_score} leave the scale {card.scale_min}–{card.scale_max}"))
        if g.credit_line <= 0 or g.credit_line != g.credit_line.quantize(Decimal("0.01")):
            problems.append(Problem(f"grades.{g.grade}.credit_line", "a credit line (授信额度) is a positive amount in yuan with at most two decimals"))
    if card.grades[0].max_score != card.scale_max:
        problems.append(Problem("grades", f"the top grade must end at the scale maximum {card.scale_max}, not {card.grades[0].max_score}"))
    for upper, lower in zip(card.grades, card.grades[1:], strict=False):
        if lower.max_score >= upper.min_score:
            problems.append(Problem("grades", f"grades {lower.grade} and {upper.grade} overlap at {upper.min_score}–{lower.max_score}"))
        elif lower.max_score + 1 < upper.min_score:
            problems.append(Problem("grades", f"scores {lower.max_score + 1}–{upper.min_score - 1} between {lower.grade} and {upper.grade} have no grade"))
        if lower.credit_line > upper.credit_line:
            problems.append(Problem("grades", f"grade {lower.grade} has a larger credit line than {upper.grade}"))
    if card.min_lending_grade not in names:
        problems.append(Problem("min_lending_grade", f"{card.min_lending_grade!r} is not a grade of the table"))
    best = max_achievable_score(card)
    for g in card.grades:
        if g.min_score > best:
            problems.append(Problem(f"grades.{g.grade}", f"needs {g.min_score} points but the indicators can give at most {best}"))
    return problems


# ---------------------------------------------------------------- scoring (四个一)


def indicator_points(ind: Indicator, value: Any) -> tuple[int, bool, str | None]:
    """(points, vetoes, problem) for one answered indicator; points are unsigned."""
    if ind.value_type == "yes_no":
        if type(value) is not bool:
            return 0, False, "must be true or false"
        if ind.kind == "veto":
            return 0, value is ind.veto_when, None
        return ind.yes_no_points[0 if value else 1], False, None
    if ind.value_type == "choice":
        if type(value) is not str or value not in ind.options:
            return 0, False, f"must be one of {', '.join(ind.options)}"
        return ind.options[value], False, None
    if type(value) is bool or not isinstance(value, int | float | str | Decimal):
        return 0, False, "must be a number"
    number: Decimal | int | float
    if isinstance(value, str) or (isinstance(value, float) and not math.isfinite(value)):
        try:
            number = _dec(value)
        except ValueError:
            return 0, False, "must be a finite number"
    else:
        number = value  # ints and floats compare exactly with Decimal bounds
    if not -NUMBER_LIMIT < number < NUMBER_LIMIT:
        return 0, False, "must be a number below 10^15"
    for band in ind.bands:
        if band.holds(number):
            return band.points, False, None
    top = ind.bands[-1].high
    return 0, False, f"{value} is outside the bands ({ind.bands[0].low} to {'no limit' if top is None else f'below {top}'})"


def grade_for(card: Scorecard, score: int) -> Grade | None:
    for g in card.grades:
        if g.min_score <= score <= g.max_score:
            return g
    return None


def bounded(card: Scorecard, raw: int) -> int:
    return max(card.scale_min, min(card.scale_max, raw))


def evaluate(card: Scorecard, values: Mapping[str, Any]) -> tuple[Result | None, list[Problem]]:
    """Score one household's indicator values, or list every problem with them.

    Unknown codes, missing required indicators and values outside their type or band are problems.
    An optional bonus or deduction indicator left out counts as not applying.
    """
    points = [0] * (3 * len(card.categories))
    rest = []
    get = card.answers.get
    for key in values.items():
        try:
            entry = get(key)
        except TypeError:  # an object or a list as an answer: unhashable, and wrong for every type
            entry = None
        # (code, 1) finds (code, True): the answer's type must match too
        if entry is None or type(key[1]) is not entry[2]:
            rest.append(key)
        else:
            points[entry[0]] += entry[1]
    problems: list[Problem] = []
    vetoes: list[tuple[str, str]] = []
    for code, value in rest:
        ind = card.indicators.get(code)
        if ind is None:
            problems.append(Problem(f"values.{code}", "unknown indicator code"))
            continue
        got, vetoed, problem = indicator_points(ind, value)
        if problem is not None:
            problems.append(Problem(f"values.{code}", problem))
        elif vetoed:
            vetoes.append((ind.category, f"{ind.code} {ind.name}"))
        else:
            points[card.slot(ind)] += got
    if not problems and card.required.issubset(values):
        return result_from(card, points, vetoes), []
    for code in sorted(card.required.difference(values)):
        problems.append(Problem(f"values.{code}", "required indicator is missing"))
    return None, problems


def result_from(card: Scorecard, points: Sequence[int], vetoes: Sequence[tuple[str, str]]) -> Result:
    """四个一: base + bonus − deductions, bounded to the scale; any veto → no grade, no credit line."""
    base, bonus, deduction = sum(points[0::3]), sum(points[1::3]), sum(points[2::3])
    raw = base + bonus - deduction
    score = bounded(card, raw)
    if vetoes:
        order = list(card.indicators)
        vetoes = sorted(vetoes, key=lambda v: order.index(v[1].split(" ", 1)[0]))
    grade = None if vetoes else grade_for(card, score)
    return Result(
        score, raw, base, bonus, deduction, grade.grade if grade else None, grade.credit_line if grade else None, bool(vetoes),
        tuple(r for _, r in vetoes), tuple(points), tuple(vetoes),
    )


def explain(card: Scorecard, values: Mapping[str, Any]) -> list[Line]:
    """Which indicator gave what, in scorecard order (values already checked by :func:`evaluate`)."""
    lines = []
    for code, ind in card.indicators.items():
        if code not in values:
            continue
        points, vetoed, _ = indicator_points(ind, values[code])
        signed = -points if ind.kind == "deduction" else points
        lines.append(Line(code, ind.category, ind.name, ind.kind, values[code], signed, vetoed))
    return lines


# ---------------------------------------------------------------- the rating a household holds now


def valid_until(card: Scorecard, assessed_on: date) -> date:
    """Last day a rating is current: ratings are renewed every year (validity_days of the scorecard)."""
    return assessed_on + timedelta(days=card.validity_days - 1)


@dataclass(frozen=True)
class Rating:
    status: str  # current | expired | none
    score: int | None
    grade: str | None
    credit_line: Decimal | None
    vetoed: bool
    veto_reasons: tuple[str, ...]
    blacklisted: bool
    eligible_to_borrow: bool
    penalty_points: int


def effective_rating(
    card: Scorecard,
    *,
    score: int,
    vetoed: bool,
    veto_reasons: Sequence[str],
    valid_until: date,
    penalties: Sequence[int],
    blacklist_reasons: Sequence[str],
    as_of: date,
) -> Rating:
    """The rating a household holds on ``as_of``.

    守信激励、失信严惩: loan-event deductions recorded against this assessment lower the score and
    may lower the grade; a blacklist entry (失信) vetoes until it is removed. Lending (可贷) needs a
    current rating at or above the scorecard's minimum lending grade, no veto and no blacklist.
    """
    penalty = sum(penalties)
    effective = bounded(card, score - penalty)
    reasons = (*veto_reasons, *(f"blacklisted: {r}" for r in blacklist_reasons))
    is_vetoed = vetoed or bool(blacklist_reasons)
    grade = None if is_vetoed else grade_for(card, effective)
    current = as_of <= valid_until
    eligible = (
        current
        and grade is not None
        and card.grade_rank(grade.grade) >= card.grade_rank(card.min_lending_grade)
    )
    return Rating(
        status="current" if current else "expired",
        score=effective,
        grade=grade.grade if grade else None,
        credit_line=grade.credit_line if grade else None,
        vetoed=is_vetoed,
        veto_reasons=reasons,
        blacklisted=bool(blacklist_reasons),
        eligible_to_borrow=eligible,
        penalty_points=penalty,
    )


def certificate_number(county_code: str, year: int, serial: int) -> str:
    """信用证 number: county (6 digits), year and a serial within the service."""
    return f"XYZ-{county_code[:6]}-{year}-{serial:07d}"


# ---------------------------------------------------------------- the roster from the registry (建档立卡)

REGISTRY_REMOVED = "removed"  # 清退: taken off the 建档立卡 register; every other status stays registered
_ROSTER_HOUSEHOLD = re.compile(r"[A-Za-z0-9-]{1,64}")
_ROSTER_VILLAGE = re.compile(r"\d{12}")


class RosterRow(NamedTuple):
    household_id: str
    village_code: str
    registered: bool


def roster_rows(items: Sequence[Mapping[str, Any]]) -> tuple[list[RosterRow], list[str]]:
    """The coverage roster from a page of the registry: a household counts as registered (in the
    coverage denominator) unless its status is ``removed``; poor, exited (已脱贫) and edge (边缘易致贫户)
    households all stay on the 建档立卡 register. Rows that could not be stored are returned as
    problems instead of failing the page; a household listed twice keeps its last row."""
    rows: dict[str, RosterRow] = {}
    problems: list[str] = []
    for i, item in enumerate(items):
        hid, village, status = item.get("household_id"), item.get("village_code"), item.get("status")
        if not isinstance(hid, str) or not _ROSTER_HOUSEHOLD.fullmatch(hid):
            problems.append(f"{i}: household_id {hid!r} is not a household id")
        elif not isinstance(village, str) or not _ROSTER_VILLAGE.fullmatch(village):
            problems.append(f"{i}: household {hid} has no 12-digit village_code ({village!r})")
        elif not isinstance(status, str):
            problems.append(f"{i}: household {hid} has no status")
        else:
            rows[hid] = RosterRow(hid, village, status != REGISTRY_REMOVED)
    return list(rows.values()), problems
