"""Applications through the approval chain: eligibility, every step, rejections, out-of-order steps,
enterprise 带贫 loans, dependencies down, and who may do what."""

from typing import Any

import httpx
import pytest

from tests.conftest import COUNTY, LOAN_REQUEST, OTHER_VILLAGE, TOWNSHIP, VILLAGE, Fakes, Who, advance, move_date, submit

pytestmark = pytest.mark.usefixtures("seeded")

ENTERPRISE = "91350100M000100Y43"


def codes(resp: httpx.Response) -> set[str]:
    return {f["code"] for f in resp.json()["failures"]}


async def test_a_household_loan_goes_through_the_whole_chain_and_every_step_names_its_actor(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    application = await submit(client, who)
    assert application["status"] == "submitted"
    confirmed = await advance(client, who, fakes, application, "confirmed")
    assert confirmed["status"] == "confirmed"
    assert (confirmed["village_secretary"], confirmed["resident_secretary"], confirmed["credit_officer"]) == ("王书记", "李书记", "赵信贷员")
    await move_date(client, who, "2026-03-06")
    approved = await advance(client, who, fakes, confirmed, "approved", approved_amount="40000.00")
    assert approved["approved_amount"] == "40000.00" and approved["annual_rate"] == "0.043500"
    assert approved["approval_days"] == 5  # seed: 只用5天就批下来了
    loan = await advance(client, who, fakes, approved, "disbursed")
    assert loan["principal"] == "40000.00" and loan["status"] == "active" and loan["household_id"] == "H1"
    final = (await client.get(f"/v1/applications/{application['application_id']}", headers=who.applicant("H1"))).json()
    assert final["status"] == "disbursed" and final["loan_id"] == loan["loan_id"]
    assert [s["step"] for s in final["steps"]] == ["submit", "attest", "review", "confirm", "recommend", "approve", "disburse"]
    assert [s["actor"] for s in final["steps"]] == [
        "app-H1",
        f"village_officer-{VILLAGE}",
        f"township_officer-{TOWNSHIP}",
        f"county_officer-{COUNTY}",
        f"county_officer-{COUNTY}",
        "bank-RCC",
        "bank-RCC",
    ]
    assert all(s["at"] for s in final["steps"])


async def test_submission_reports_every_failed_rule_not_just_the_first(client: httpx.AsyncClient, who: Who) -> None:
    body = {**LOAN_REQUEST, "household_id": "OLD1", "amount": "250000.00", "term_months": 48, "purpose": "house_building", "industry": "casino"}
    resp = await client.post("/v1/applications", json=body, headers=who.village())
    assert resp.status_code == 422, resp.text
    assert codes(resp) == {"AGE", "LABOUR", "PURPOSE", "INDUSTRY", "AMOUNT", "TERM"}
    assert resp.json()["type"] == "/problems/ineligible"


async def test_consumption_purposes_are_refused_with_their_reason(client: httpx.AsyncClient, who: Who) -> None:
    resp = await client.post("/v1/applications", json={**LOAN_REQUEST, "purpose": "car_purchase"}, headers=who.applicant("H1"))
    assert resp.status_code == 422
    assert "买车这叫消费贷款" in resp.json()["failures"][0]["message"]


async def test_a_household_outside_the_registry_is_not_registered(client: httpx.AsyncClient, who: Who) -> None:
    resp = await client.post("/v1/applications", json={**LOAN_REQUEST, "household_id": "NOPE"}, headers=who.village())
    assert resp.status_code == 422 and codes(resp) == {"NOT_REGISTERED"}


async def test_a_removed_household_is_not_registered(client: httpx.AsyncClient, who: Who) -> None:
    household = (await client.get("/v1/households/H2", headers=who.admin())).json()
    body = {k: household[k] for k in ("head_name", "village_code", "household_type", "main_cause", "secondary_causes", "members", "identification")}
    from tests.conftest import resident_id

    body.update(head_resident_id=resident_id("1980-05-01", "102"), status="removed")
    assert (await client.put("/v1/households/H2", json=body, headers=who.admin())).status_code == 200
    resp = await client.post("/v1/applications", json={**LOAN_REQUEST, "household_id": "H2"}, headers=who.applicant("H2", "411224100202"))
    assert codes(resp) == {"NOT_REGISTERED"}


@pytest.mark.parametrize(
    ("rating", "expected"),
    [
        ({"grade": "B"}, {"GRADE"}),
        ({"blacklisted": True}, {"BLACKLIST"}),
        ({"vetoed": True, "veto_reasons": ["赌博"], "grade": None}, {"GRADE"}),
        ({"status": "expired"}, {"GRADE"}),
        ({"line": "30000.00"}, {"CREDIT_LINE"}),
    ],
)
async def test_eligibility_names_each_rating_rule(client: httpx.AsyncClient, who: Who, fakes: Fakes, rating: dict[str, Any], expected: set[str]) -> None:
    line = rating.pop("line", "50000.00")
    fakes.rate("H1", line=line, **rating)
    resp = await client.post("/v1/applications/eligibility", json={k: v for k, v in LOAN_REQUEST.items() if k != "project"}, headers=who.village())
    assert resp.status_code == 200, resp.text
    assert resp.json()["eligible"] is False and codes(resp) == expected


async def test_eligibility_without_any_rating_fails_on_grade(client: httpx.AsyncClient, who: Who) -> None:
    resp = await client.post("/v1/applications/eligibility", json={k: v for k, v in LOAN_REQUEST.items() if k != "project"}, headers=who.village())
    assert codes(resp) == {"GRADE"}


async def test_eligibility_reports_a_suspended_village(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    fakes.rate("H1")
    fakes.lending[VILLAGE] = {
        "village_code": VILLAGE,
        "may_lend": False,
        "reasons": ["village NPL 6.1% > 5%"],
        "village_state": "broken",
        "township_state": "open",
    }
    resp = await client.post("/v1/applications/eligibility", json={k: v for k, v in LOAN_REQUEST.items() if k != "project"}, headers=who.village())
    assert codes(resp) == {"REGION_SUSPENDED"}
    assert "lending_status" in resp.json()["checked"]
    assert "NPL" in resp.json()["failures"][0]["message"]


async def test_a_clean_household_is_eligible_and_the_caller_token_is_forwarded(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    fakes.rate("H1", grade="AAA")
    resp = await client.post("/v1/applications/eligibility", json={k: v for k, v in LOAN_REQUEST.items() if k != "project"}, headers=who.village())
    assert resp.json() == {"eligible": True, "failures": [], "checked": ["registry", "policy", "rating", "lending_status"], "policy_effective_from": None}
    assert any(c.startswith("credit-rating /v1/ratings/H1 Bearer") for c in fakes.calls)


async def test_bank_decision_before_county_confirmation_is_409_naming_the_state(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    application = await advance(client, who, fakes, await submit(client, who), "reviewed")
    app_id = application["application_id"]
    resp = await client.post(f"/v1/applications/{app_id}/recommendation", json={"bank_id": "RCC"}, headers=who.county())
    assert resp.status_code == 409 and resp.json()["current_status"] == "reviewed"
    confirmed = await advance(client, who, fakes, application, "confirmed")
    resp = await client.post(f"/v1/applications/{app_id}/disbursement", json={}, headers=who.bank())
    assert resp.status_code == 403  # not recommended to any bank yet
    await advance(client, who, fakes, confirmed, "recommended")
    resp = await client.post(f"/v1/applications/{app_id}/disbursement", json={}, headers=who.bank())
    assert resp.status_code == 409 and resp.json()["current_status"] == "recommended"
    resp = await client.post(f"/v1/applications/{app_id}/review", json={}, headers=who.township())
    assert resp.status_code == 409 and "recommended" in resp.json()["detail"]


async def test_the_township_rejects_with_a_reason_and_nothing_moves_afterwards(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    application = await advance(client, who, fakes, await submit(client, who), "attested")
    app_id = application["application_id"]
    assert (await client.post(f"/v1/applications/{app_id}/rejection", json={"reason": "x"}, headers=who.village())).status_code == 403
    resp = await client.post(f"/v1/applications/{app_id}/rejection", json={"reason": "项目不实"}, headers=who.township())
    assert resp.status_code == 200 and resp.json()["status"] == "rejected" and resp.json()["reason"] == "项目不实"
    again = await client.post(f"/v1/applications/{app_id}/review", json={}, headers=who.township())
    assert again.status_code == 409 and again.json()["current_status"] == "rejected"
    # a rejected application no longer blocks a new one
    assert (await client.post("/v1/applications", json=LOAN_REQUEST, headers=who.applicant("H1"))).status_code == 201


async def test_the_bank_declines_with_a_reason(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    application = await advance(client, who, fakes, await submit(client, who), "recommended")
    resp = await client.post(f"/v1/applications/{application['application_id']}/decline", json={"reason": "项目风险高"}, headers=who.bank())
    assert resp.status_code == 200 and resp.json()["status"] == "declined"


async def test_only_the_applicant_withdraws_its_application(client: httpx.AsyncClient, who: Who) -> None:
    application = await submit(client, who)
    app_id = application["application_id"]
    assert (await client.post(f"/v1/applications/{app_id}/withdrawal", json={}, headers=who.applicant("H2"))).status_code == 403
    assert (await client.post(f"/v1/applications/{app_id}/withdrawal", json={}, headers=who.village())).status_code == 403
    resp = await client.post(f"/v1/applications/{app_id}/withdrawal", json={"note": "不需要了"}, headers=who.applicant("H1"))
    assert resp.status_code == 200 and resp.json()["status"] == "withdrawn"


async def test_a_household_has_one_open_application_at_a_time(client: httpx.AsyncClient, who: Who) -> None:
    await submit(client, who)
    resp = await client.post("/v1/applications", json=LOAN_REQUEST, headers=who.applicant("H1"))
    assert resp.status_code == 409 and resp.json()["type"] == "/problems/application-already-open"


async def test_the_three_attesters_are_three_different_people(client: httpx.AsyncClient, who: Who) -> None:
    app_id = (await submit(client, who))["application_id"]
    body = {"village_secretary": "王书记", "resident_secretary": "王书记", "credit_officer": "赵信贷员"}
    resp = await client.post(f"/v1/applications/{app_id}/attestation", json=body, headers=who.village())
    assert resp.status_code == 422


async def test_officers_act_only_at_their_level_and_in_their_region(client: httpx.AsyncClient, who: Who) -> None:
    app_id = (await submit(client, who))["application_id"]
    body = {"village_secretary": "王书记", "resident_secretary": "李书记", "credit_officer": "赵信贷员"}
    assert (await client.post(f"/v1/applications/{app_id}/attestation", json=body, headers=who.village(OTHER_VILLAGE))).status_code == 403
    assert (await client.post(f"/v1/applications/{app_id}/attestation", json=body, headers=who.township())).status_code == 403
    assert (await client.get(f"/v1/applications/{app_id}", headers=who.village(OTHER_VILLAGE))).status_code == 403
    assert (await client.get(f"/v1/applications/{app_id}", headers=who.applicant("H2"))).status_code == 403


async def test_a_bank_sees_and_decides_only_what_was_recommended_to_it(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    application = await submit(client, who)
    app_id = application["application_id"]
    assert (await client.get(f"/v1/applications/{app_id}", headers=who.bank())).status_code == 403
    await advance(client, who, fakes, application, "recommended", bank="RCC")
    assert (await client.get(f"/v1/applications/{app_id}", headers=who.bank("RCC"))).status_code == 200
    assert (await client.get(f"/v1/applications/{app_id}", headers=who.bank("PSBC"))).status_code == 403
    assert (await client.post(f"/v1/applications/{app_id}/approval", json={"annual_rate": "0.0435"}, headers=who.bank("PSBC"))).status_code == 403
    assert (await client.get("/v1/applications", headers=who.bank("PSBC"))).json()["items"] == []
    assert len((await client.get("/v1/applications", headers=who.bank("RCC"))).json()["items"]) == 1


async def test_recommendation_with_credit_rating_down_is_503_and_leaves_the_application_unchanged(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    application = await advance(client, who, fakes, await submit(client, who), "confirmed")
    fakes.credit_rating_down = True
    resp = await client.post(f"/v1/applications/{application['application_id']}/recommendation", json={"bank_id": "RCC"}, headers=who.county())
    assert resp.status_code == 503 and resp.headers["content-type"].startswith("application/problem+json")
    after = (await client.get(f"/v1/applications/{application['application_id']}", headers=who.county())).json()
    assert after["status"] == "confirmed" and after["bank_id"] is None


async def test_recommendation_with_risk_pool_down_is_503(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    application = await advance(client, who, fakes, await submit(client, who), "confirmed")
    fakes.risk_pool_down = True
    resp = await client.post(f"/v1/applications/{application['application_id']}/recommendation", json={"bank_id": "RCC"}, headers=who.county())
    assert resp.status_code == 503


async def test_recommendation_is_refused_in_a_suspended_village_and_to_a_bank_outside_the_county(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    application = await advance(client, who, fakes, await submit(client, who), "confirmed")
    app_id = application["application_id"]
    resp = await client.post(f"/v1/applications/{app_id}/recommendation", json={"bank_id": "CITI"}, headers=who.county())
    assert resp.status_code == 422 and codes(resp) == {"BANK"}
    fakes.lending[VILLAGE] = {"village_code": VILLAGE, "may_lend": False, "reasons": ["township 熔断"], "village_state": "open", "township_state": "broken"}
    resp = await client.post(f"/v1/applications/{app_id}/recommendation", json={"bank_id": "RCC"}, headers=who.county())
    assert resp.status_code == 422 and codes(resp) == {"REGION_SUSPENDED"}
    assert (await client.get(f"/v1/applications/{app_id}", headers=who.county())).json()["status"] == "confirmed"


async def test_the_bank_may_approve_less_but_never_more(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    application = await advance(client, who, fakes, await submit(client, who, amount="30000.00"), "recommended")
    resp = await client.post(
        f"/v1/applications/{application['application_id']}/approval", json={"annual_rate": "0.0435", "approved_amount": "30000.01"}, headers=who.bank()
    )
    assert resp.status_code == 422


@pytest.mark.parametrize("amount", ["100.001", "-5", "0", 0, "abc"])
async def test_bad_amounts_are_422(client: httpx.AsyncClient, who: Who, amount: Any) -> None:
    resp = await client.post("/v1/applications", json={**LOAN_REQUEST, "amount": amount}, headers=who.applicant("H1"))
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "amount"


async def test_amounts_may_be_json_numbers(client: httpx.AsyncClient, who: Who) -> None:
    resp = await client.post("/v1/applications", json={**LOAN_REQUEST, "amount": 20000.5}, headers=who.applicant("H1"))
    assert resp.status_code == 201 and resp.json()["amount"] == "20000.50"


async def test_disbursement_dated_before_the_business_date_is_422(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    application = await advance(client, who, fakes, await submit(client, who), "approved")
    resp = await client.post(f"/v1/applications/{application['application_id']}/disbursement", json={"start_date": "2026-02-28"}, headers=who.bank())
    assert resp.status_code == 422 and resp.json()["business_date"] == "2026-03-01"


# ---- enterprise 带贫 loans ----


async def register_enterprise(client: httpx.AsyncClient, who: Who) -> None:
    resp = await client.post("/v1/enterprises", json={"enterprise_id": ENTERPRISE, "name": "东门香菇专业合作社", "village_code": VILLAGE}, headers=who.county())
    assert resp.status_code == 201, resp.text


def enterprise_request(*driven: str, **overrides: Any) -> dict[str, Any]:
    return {
        "borrower_type": "enterprise",
        "enterprise_id": ENTERPRISE,
        "driven_households": list(driven),
        "amount": "400000.00",
        "term_months": 24,
        "purpose": "processing",
        "industry": "mushrooms",
        "project": "香菇大棚",
        **overrides,
    }


async def test_an_enterprise_loan_drives_households_that_cannot_borrow_themselves(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    await register_enterprise(client, who)
    application = await submit(client, who, **enterprise_request("OLD1", "OLD2"))
    assert application["driven_households"] == ["OLD1", "OLD2"] and application["registered_poor"] is False
    loan = await advance(client, who, fakes, application, "disbursed")
    assert loan["borrower_type"] == "enterprise" and loan["driven_households"] == ["OLD1", "OLD2"]
    assert not any("credit-rating" in c for c in fakes.calls)


async def test_a_working_age_household_cannot_be_driven_and_every_reason_is_named(client: httpx.AsyncClient, who: Who) -> None:
    await register_enterprise(client, who)
    resp = await client.post("/v1/applications", json=enterprise_request("H1", "NOPE", "OLD1", amount="2000000.00"), headers=who.county())
    assert resp.status_code == 422
    assert codes(resp) == {"DRIVEN_NOT_QUALIFIED", "NOT_REGISTERED", "AMOUNT"}


async def test_a_household_is_driven_by_one_enterprise_at_a_time(client: httpx.AsyncClient, who: Who) -> None:
    await register_enterprise(client, who)
    first = await submit(client, who, **enterprise_request("OLD1"))
    resp = await client.post("/v1/applications", json=enterprise_request("OLD1", amount="100000.00"), headers=who.county())
    assert resp.status_code == 422 and codes(resp) == {"DRIVEN_ELSEWHERE"}
    await client.post(f"/v1/applications/{first['application_id']}/rejection", json={"reason": "材料不全"}, headers=who.village())
    assert (await client.post("/v1/applications", json=enterprise_request("OLD1", amount="100000.00"), headers=who.county())).status_code == 201


async def test_an_enterprise_application_needs_driven_households(client: httpx.AsyncClient, who: Who) -> None:
    await register_enterprise(client, who)
    resp = await client.post("/v1/applications", json=enterprise_request(), headers=who.county())
    assert codes(resp) == {"NO_DRIVEN_HOUSEHOLDS"}
    assert (await client.post("/v1/applications", json=enterprise_request("OLD1"), headers=who.applicant("H1"))).status_code == 403


async def test_a_county_policy_version_changes_the_rules_from_its_date(client: httpx.AsyncClient, who: Who) -> None:
    profile = {"max_age": 40, "allowed_industries": ["tea"]}
    resp = await client.post(f"/v1/lending-policies/{COUNTY}/versions", json={"effective_from": "2026-03-01", "profile": profile}, headers=who.county())
    assert resp.status_code == 201, resp.text
    current = (await client.get(f"/v1/lending-policies/{COUNTY}", headers=who.monitor())).json()
    assert current["source"] == "stored" and current["profile"]["max_age"] == 40 and current["profile"]["household_cap"] == "200000.00"
    resp = await client.post("/v1/applications", json=LOAN_REQUEST, headers=who.applicant("H1"))
    assert codes(resp) == {"AGE", "INDUSTRY"}


async def test_a_policy_dated_before_the_business_date_is_422_and_only_the_county_writes_it(client: httpx.AsyncClient, who: Who) -> None:
    resp = await client.post(f"/v1/lending-policies/{COUNTY}/versions", json={"effective_from": "2026-02-01"}, headers=who.county())
    assert resp.status_code == 422
    resp = await client.post("/v1/lending-policies/411225000000/versions", json={"effective_from": "2026-04-01"}, headers=who.county())
    assert resp.status_code == 403
    resp = await client.post(f"/v1/lending-policies/{COUNTY}/versions", json={"effective_from": "2026-04-01", "profile": {"min_age": 70}}, headers=who.county())
    assert resp.status_code == 422


async def test_defaults_apply_when_a_county_stored_no_policy(client: httpx.AsyncClient, who: Who) -> None:
    body = (await client.get(f"/v1/lending-policies/{COUNTY}", headers=who.applicant("H1"))).json()
    assert body["source"] == "default"
    assert body["profile"]["subsidised_principal_cap"] == "50000.00" and body["profile"]["max_term_months"] == 36
    assert (body["profile"]["min_age"], body["profile"]["max_age"], body["profile"]["min_grade"]) == (18, 60, "A")
