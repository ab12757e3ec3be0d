"""四个一 scoring and scorecard checks as pure functions."""

import copy
from datetime import date
from decimal import Decimal

import pytest
from credit_rating_support import default_card, full_values, values_scoring
from hypothesis import given, settings
from hypothesis import strategies as st

from credit_rating import domain


def small_definition() -> dict:
    """A 10-point scale with one indicator of each kind and value type."""
    return {
        "name": "small",
        "scale": {"min": 0, "max": 10},
        "validity_days": 365,
        "grades": [
            {"grade": "AAA", "min_score": 8, "max_score": 10, "credit_line": "50000.00"},
            {"grade": "AA", "min_score": 7, "max_score": 7, "credit_line": "30000.00"},
            {"grade": "A", "min_score": 6, "max_score": 6, "credit_line": "10000.00"},
        ],
        "min_lending_grade": "A",
        "loan_events": {"defaulted": {"action": "deduction", "points": 3}},
        "categories": [{"code": "C", "name": "信用观念强"}],
        "indicators": [
            {"code": "B1", "category": "C", "name": "按时还款", "kind": "base", "value_type": "yes_no", "points": {"yes": 4, "no": 0}},
            {"code": "B2", "category": "C", "name": "口碑", "kind": "base", "value_type": "choice",
             "options": [{"value": "good", "points": 3}, {"value": "poor", "points": 0}]},
            {"code": "B3", "category": "C", "name": "收入", "kind": "base", "value_type": "number",
             "bands": [{"min": "0", "max": "1000", "points": 0}, {"min": "1000", "points": 3}]},
            {"code": "P1", "category": "C", "name": "模范", "kind": "bonus", "value_type": "yes_no", "points": {"yes": 2}},
            {"code": "D1", "category": "C", "name": "逾期", "kind": "deduction", "value_type": "yes_no", "points": {"yes": 5}},
            {"code": "V1", "category": "C", "name": "吸毒", "kind": "veto", "value_type": "yes_no"},
        ],
    }


def small_card() -> domain.Scorecard:
    card, problems = domain.build_scorecard(small_definition())
    assert problems == []
    assert card is not None
    return card


BEST = {"B1": True, "B2": "good", "B3": 5000, "V1": False}


def score(values: dict) -> domain.Result:
    result, problems = domain.evaluate(small_card(), values)
    assert problems == [], problems
    assert result is not None
    return result


def test_the_default_scorecard_has_13_categories_144_indicators_and_publishes() -> None:
    card, problems = domain.build_scorecard(default_card())
    assert problems == [] and card is not None
    assert len(card.categories) == 13
    assert len(card.indicators) == 144
    assert {i.kind for i in card.indicators.values()} == {"base", "bonus", "deduction", "veto"}
    assert {i.value_type for i in card.indicators.values()} == {"yes_no", "choice", "number"}
    assert sum(i.max_points for i in card.indicators.values() if i.kind == "base") == 100
    assert domain.publish_problems(card) == []


def test_base_points_add_up() -> None:
    assert score(BEST).score == 10
    assert score({**BEST, "B1": False}).score == 6


def test_a_bonus_adds_and_the_score_stays_within_the_scale() -> None:
    result = score({**BEST, "B1": False, "P1": True})
    assert (result.base, result.bonus, result.score) == (6, 2, 8)
    capped = score({**BEST, "P1": True})
    assert capped.raw_score == 12 and capped.score == 10


def test_a_deduction_subtracts_and_never_goes_below_the_scale() -> None:
    result = score({**BEST, "D1": True})
    assert (result.deduction, result.score, result.grade) == (5, 5, None)
    floor = score({"B1": False, "B2": "poor", "B3": 0, "V1": False, "D1": True})
    assert floor.raw_score == -5 and floor.score == 0


def test_any_veto_means_no_grade_and_no_credit_line_with_the_reason() -> None:
    result = score({**BEST, "V1": True})
    assert result.vetoed and result.grade is None and result.credit_line is None
    assert result.veto_reasons == ("V1 吸毒",)
    assert result.score == 10  # the score stays explainable


@pytest.mark.parametrize(
    ("points", "grade", "line"),
    [(10, "AAA", "50000.00"), (8, "AAA", "50000.00"), (7, "AA", "30000.00"), (6, "A", "10000.00"), (5, None, None)],
)
def test_grade_edges_of_the_small_card(points: int, grade: str | None, line: str | None) -> None:
    g = domain.grade_for(small_card(), points)
    assert (g.grade if g else None) == grade
    assert (g.credit_line if g else None) == (Decimal(line) if line else None)


@pytest.mark.parametrize(("score_", "grade"), [(100, "AAA"), (80, "AAA"), (79, "AA"), (70, "AA"), (69, "A"), (60, "A"), (59, None), (0, None)])
def test_default_grade_table_edges(score_: int, grade: str | None) -> None:
    card, _ = domain.build_scorecard(default_card())
    assert card is not None
    g = domain.grade_for(card, score_)
    assert (g.grade if g else None) == grade


def test_default_values_helper_scores_what_it_says() -> None:
    card, _ = domain.build_scorecard(default_card())
    assert card is not None
    for target in (100, 80, 79, 60, 59):
        result, problems = domain.evaluate(card, values_scoring(target))
        assert problems == [] and result is not None
        assert result.score == target


def test_every_problem_with_the_values_is_listed() -> None:
    result, problems = domain.evaluate(small_card(), {"B1": "yes", "B2": "excellent", "B3": -1, "ZZ": True})
    assert result is None
    fields = {p.field: p.message for p in problems}
    assert set(fields) == {"values.B1", "values.B2", "values.B3", "values.ZZ", "values.V1"}
    assert "true or false" in fields["values.B1"]
    assert "one of good, poor" in fields["values.B2"]
    assert "outside the bands" in fields["values.B3"]
    assert fields["values.ZZ"] == "unknown indicator code"
    assert fields["values.V1"] == "required indicator is missing"


def test_number_values_may_be_strings_or_numbers_but_not_booleans() -> None:
    assert score({**BEST, "B3": "1000"}).base == 10
    assert score({**BEST, "B3": 999.99}).base == 7
    _, problems = domain.evaluate(small_card(), {**BEST, "B3": True})
    assert [p.field for p in problems] == ["values.B3"]


def test_the_breakdown_explains_each_indicator_with_signed_points() -> None:
    lines = {ln.code: ln for ln in domain.explain(small_card(), {**BEST, "D1": True, "P1": True})}
    assert lines["B1"].points == 4 and lines["P1"].points == 2 and lines["D1"].points == -5
    assert lines["V1"].vetoes is False


def _definition_with(**changes: object) -> dict:
    d = copy.deepcopy(small_definition())
    d.update(changes)
    return d


def _publish_messages(definition: dict) -> list[str]:
    card, problems = domain.build_scorecard(definition)
    assert problems == [] and card is not None
    return [p.message for p in domain.publish_problems(card)]


def test_a_grade_table_with_a_gap_is_refused_at_publish() -> None:
    d = small_definition()
    d["grades"][1]["min_score"], d["grades"][1]["max_score"] = 7, 7
    d["grades"][2]["max_score"] = 5
    messages = _publish_messages(d)
    assert any("6–6 between A and AA have no grade" in m for m in messages)


def test_a_grade_table_with_an_overlap_is_refused_at_publish() -> None:
    d = small_definition()
    d["grades"][1]["min_score"] = 6
    messages = _publish_messages(d)
    assert any("overlap" in m for m in messages)


def test_points_that_cannot_reach_a_grade_are_refused_at_publish() -> None:
    d = _definition_with(scale={"min": 0, "max": 20})
    d["grades"][0]["max_score"] = 20
    d["grades"][0]["min_score"] = 18
    d["grades"][1]["min_score"], d["grades"][1]["max_score"] = 7, 17
    messages = _publish_messages(d)
    assert any("needs 18 points but the indicators can give at most 12" in m for m in messages)


def test_a_lending_grade_outside_the_table_is_refused_at_publish() -> None:
    assert any("not a grade of the table" in m for m in _publish_messages(_definition_with(min_lending_grade="B")))


def test_an_incoherent_definition_lists_every_problem() -> None:
    d = small_definition()
    d["indicators"].append({**d["indicators"][0]})  # duplicate code
    d["indicators"].append({"code": "X1", "category": "NOPE", "name": "x", "kind": "base", "value_type": "yes_no"})
    d["indicators"].append({"code": "X2", "category": "C", "name": "x", "kind": "base", "value_type": "number",
                            "bands": [{"min": "0", "max": "10", "points": 1}, {"min": "20", "points": 2}]})
    card, problems = domain.build_scorecard(d)
    assert card is None
    messages = " | ".join(p.message for p in problems)
    assert "B1 appears twice" in messages
    assert "unknown category 'NOPE'" in messages
    assert "without gap or overlap" in messages


def test_a_rating_expires_after_its_validity() -> None:
    card = small_card()
    until = domain.valid_until(card, date(2026, 1, 1))
    assert until == date(2026, 12, 31)
    common = {"score": 10, "vetoed": False, "veto_reasons": (), "valid_until": until, "penalties": (), "blacklist_reasons": ()}
    assert domain.effective_rating(card, **common, as_of=date(2026, 12, 31)).status == "current"
    expired = domain.effective_rating(card, **common, as_of=date(2027, 1, 1))
    assert expired.status == "expired" and not expired.eligible_to_borrow


def test_loan_event_deductions_lower_the_grade_and_blacklist_vetoes() -> None:
    card = small_card()
    common = {"score": 8, "vetoed": False, "veto_reasons": (), "valid_until": date(2026, 12, 31), "as_of": date(2026, 6, 1)}
    dropped = domain.effective_rating(card, **common, penalties=(3,), blacklist_reasons=())
    assert (dropped.score, dropped.grade, dropped.eligible_to_borrow) == (5, None, False)
    listed = domain.effective_rating(card, **common, penalties=(), blacklist_reasons=("挪用",))
    assert listed.vetoed and listed.blacklisted and listed.grade is None and listed.credit_line is None
    assert listed.veto_reasons == ("blacklisted: 挪用",)


def test_lending_needs_the_minimum_grade() -> None:
    d = _definition_with(min_lending_grade="AA")
    card, _ = domain.build_scorecard(d)
    assert card is not None
    common = {"vetoed": False, "veto_reasons": (), "valid_until": date(2026, 12, 31), "as_of": date(2026, 6, 1),
              "penalties": (), "blacklist_reasons": ()}
    assert not domain.effective_rating(card, score=6, **common).eligible_to_borrow
    assert domain.effective_rating(card, score=7, **common).eligible_to_borrow


answers = st.fixed_dictionaries(
    {"B1": st.booleans(), "B2": st.sampled_from(["good", "poor"]), "B3": st.integers(0, 10**7), "V1": st.booleans()},
    optional={"P1": st.booleans(), "D1": st.booleans()},
)


@settings(max_examples=200, deadline=None)
@given(answers)
def test_score_is_always_within_the_scale_and_a_veto_never_has_a_grade(values: dict) -> None:
    result = score(values)
    assert 0 <= result.score <= 10
    assert result.raw_score == result.base + result.bonus - result.deduction
    if values["V1"]:
        assert result.grade is None and result.credit_line is None
    else:
        g = domain.grade_for(small_card(), result.score)
        assert result.grade == (g.grade if g else None)


@settings(max_examples=200, deadline=None)
@given(answers)
def test_a_bonus_never_lowers_and_a_deduction_never_raises_the_score(values: dict) -> None:
    plain = score({k: v for k, v in values.items() if k not in ("P1", "D1")}).score
    assert score({**values, "P1": True, "D1": False}).score >= plain
    assert score({**values, "D1": True, "P1": False}).score <= plain


def test_full_values_helper_covers_every_required_indicator() -> None:
    card, _ = domain.build_scorecard(default_card())
    assert card is not None
    assert set(full_values()) == set(card.required)


def test_one_and_zero_are_not_yes_and_no() -> None:
    _, problems = domain.evaluate(small_card(), {**BEST, "B1": 1, "V1": 0})
    assert {p.field: p.message for p in problems} == {"values.B1": "must be true or false", "values.V1": "must be true or false"}


def _default() -> domain.Scorecard:
    card, _ = domain.build_scorecard(default_card())
    assert card is not None
    return card


def _answer(ind: dict) -> st.SearchStrategy:
    if ind["value_type"] == "yes_no":
        return st.booleans()
    if ind["value_type"] == "choice":
        return st.sampled_from([o["value"] for o in ind["options"]])
    return st.one_of(st.integers(0, 10**6), st.decimals(0, 10**6, places=2).map(str))


default_answers = st.fixed_dictionaries(
    {i["code"]: _answer(i) for i in default_card()["indicators"] if i["required"]},
    optional={i["code"]: _answer(i) for i in default_card()["indicators"] if not i["required"]},
)


@settings(max_examples=150, deadline=None)
@given(default_answers)
def test_the_lookup_path_scores_as_the_rule_by_rule_reference(values: dict) -> None:
    """The scoring fast path (one lookup per answer) agrees with a plain reading of the 四个一 rules."""
    card = _default()
    result, problems = domain.evaluate(card, values)
    assert problems == [] and result is not None
    totals = {"base": 0, "bonus": 0, "deduction": 0}
    vetoed = []
    for code, value in values.items():
        ind = card.indicators[code]
        points, vetoes, problem = domain.indicator_points(ind, value)
        assert problem is None
        if vetoes:
            vetoed.append(code)
        elif ind.kind != "veto":
            totals[ind.kind] += points
    raw = totals["base"] + totals["bonus"] - totals["deduction"]
    assert (result.base, result.bonus, result.deduction, result.raw_score) == (totals["base"], totals["bonus"], totals["deduction"], raw)
    assert result.score == max(0, min(100, raw))
    assert [r.split(" ")[0] for r in result.veto_reasons] == sorted(vetoed, key=list(card.indicators).index)
    assert sum(c.base + c.bonus - c.deduction for c in result.by_category(card).values()) == raw
