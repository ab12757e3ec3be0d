"""Loans: schedules, repayments (recorded once per bank reference), delinquency driven by the
business date, renewal, extension, write-off, diversion, the event log and the figures."""

from typing import Any

import httpx
import pytest

from kit.consumer import http_fetch
from kit.http import ServiceClient
from tests.conftest import COUNTY, TOWNSHIP, VILLAGE, Fakes, Who, advance, events, loan_for, move_date, submit

pytestmark = pytest.mark.usefixtures("seeded")

COMMON = {
    "household_id",
    "enterprise_id",
    "borrower_type",
    "registered_poor",
    "village_code",
    "township_code",
    "county_code",
    "bank_id",
    "principal",
    "annual_rate",
    "start_date",
    "maturity_date",
    "industry",
    "driven_households",
}


async def repay(client: httpx.AsyncClient, who: Who, loan_id: str, kind: str, amount: str, value_date: str, ref: str, bank: str = "RCC") -> httpx.Response:
    return await client.post(
        f"/v1/loans/{loan_id}/repayments", json={"kind": kind, "amount": amount, "value_date": value_date, "bank_reference": ref}, headers=who.bank(bank)
    )


async def test_a_three_year_loan_repays_principal_and_interest_every_year(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    loan = await loan_for(client, who, fakes)
    assert (loan["start_date"], loan["maturity_date"]) == ("2026-03-01", "2029-03-01")
    assert [(i["loan_year"], i["due_date"], i["interest_due"], i["principal_due"]) for i in loan["schedule"]] == [
        (1, "2027-03-01", "2175.00", "16666.67"),  # seed: 5万 for a year at 4.35% = 2175
        (2, "2028-03-01", "1450.00", "16666.67"),
        (3, "2029-03-01", "725.00", "16666.66"),
    ]


async def test_disbursement_appends_the_disbursed_event_with_the_common_attributes(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    loan = await loan_for(client, who, fakes)
    [event] = await events(client, who)
    assert event["type"] == "disbursed" and event["loan_id"] == loan["loan_id"] and event["business_date"] == "2026-03-01"
    data = event["data"]
    assert COMMON <= set(data)
    assert (data["principal"], data["annual_rate"], data["household_id"], data["enterprise_id"], data["borrower_type"]) == (
        "50000.00",
        "0.043500",
        "H1",
        None,
        "household",
    )
    assert (data["village_code"], data["township_code"], data["county_code"], data["registered_poor"]) == (VILLAGE, TOWNSHIP, COUNTY, True)
    assert data["term_months"] == 36 and data["purpose"] == "breeding" and data["driven_households"] == []
    assert data["schedule"][0] == {"loan_year": 1, "due_date": "2027-03-01", "interest_due": "2175.00", "principal_due": "16666.67"}


async def test_the_same_bank_reference_is_recorded_once_and_returns_the_first_recording(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    loan = await loan_for(client, who, fakes)
    await move_date(client, who, "2027-02-01")
    first = await repay(client, who, loan["loan_id"], "interest", "2175.00", "2027-01-31", "RCC-20270131-1")
    again = await repay(client, who, loan["loan_id"], "interest", "2175.00", "2027-01-31", "RCC-20270131-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert [e["type"] for e in await events(client, who)] == ["disbursed", "repayment_recorded"]
    after = (await client.get(f"/v1/loans/{loan['loan_id']}", headers=who.bank())).json()
    assert after["schedule"][0]["interest_paid"] == "2175.00"


async def test_a_repayment_event_says_which_installment_it_paid_and_whether_late(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    loan = await loan_for(client, who, fakes)
    await move_date(client, who, "2027-03-10")
    resp = await repay(client, who, loan["loan_id"], "interest", "1000.00", "2027-03-05", "R1")
    assert resp.status_code == 201 and resp.json()["late"] is True and resp.json()["loan_year"] == 1
    await repay(client, who, loan["loan_id"], "interest", "1175.00", "2027-03-09", "R2")
    await repay(client, who, loan["loan_id"], "principal", "16666.67", "2027-03-09", "R3")
    body = (await client.get(f"/v1/loans/{loan['loan_id']}", headers=who.applicant("H1"))).json()
    assert body["schedule"][0]["late_interest_count"] == 2  # 1年有2次不按时还利息: the subsidy for the year is lost
    assert body["outstanding_principal"] == "33333.33"
    last = (await events(client, who))[-1]
    assert last["type"] == "repayment_recorded"
    assert {k: last["data"][k] for k in ("kind", "amount", "value_date", "due_date", "loan_year", "late", "bank_reference", "outstanding_principal")} == {
        "kind": "principal",
        "amount": "16666.67",
        "value_date": "2027-03-09",
        "due_date": "2027-03-01",
        "loan_year": 1,
        "late": True,
        "bank_reference": "R3",
        "outstanding_principal": "33333.33",
    }


async def test_a_repayment_larger_than_the_installment_or_dated_after_the_business_date_is_422(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    loan = await loan_for(client, who, fakes)
    assert (await repay(client, who, loan["loan_id"], "interest", "2175.01", "2026-03-01", "X1")).status_code == 422
    assert (await repay(client, who, loan["loan_id"], "interest", "10.00", "2026-03-02", "X2")).status_code == 422
    assert (await repay(client, who, loan["loan_id"], "interest", "10.001", "2026-03-01", "X3")).status_code == 422
    assert (await repay(client, who, loan["loan_id"], "interest", "-1", "2026-03-01", "X4")).status_code == 422


async def test_only_the_bank_of_the_loan_posts_repayments(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    loan = await loan_for(client, who, fakes)
    assert (await repay(client, who, loan["loan_id"], "interest", "10.00", "2026-03-01", "P1", bank="PSBC")).status_code == 403
    resp = await client.post(
        f"/v1/loans/{loan['loan_id']}/repayments",
        json={"kind": "interest", "amount": "1", "value_date": "2026-03-01", "bank_reference": "P2"},
        headers=who.county(),
    )
    assert resp.status_code == 403
    assert (await client.get(f"/v1/loans/{loan['loan_id']}", headers=who.bank("PSBC"))).status_code == 403
    assert (await client.get("/v1/loans", headers=who.bank("PSBC"))).json()["items"] == []
    assert (await client.get(f"/v1/loans/{loan['loan_id']}", headers=who.applicant("H2"))).status_code == 403


async def pay_everything(client: httpx.AsyncClient, who: Who, loan: dict[str, Any]) -> None:
    for i in loan["schedule"]:
        await repay(client, who, loan["loan_id"], "interest", i["interest_due"], "2026-03-01", f"I{i['loan_year']}")
        await repay(client, who, loan["loan_id"], "principal", i["principal_due"], "2026-03-01", f"P{i['loan_year']}")


async def test_repaying_everything_closes_the_loan_and_a_later_repayment_is_409(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    loan = await loan_for(client, who, fakes, amount="10000.00", term_months=12)
    await pay_everything(client, who, loan)
    body = (await client.get(f"/v1/loans/{loan['loan_id']}", headers=who.bank())).json()
    assert body["status"] == "closed" and body["outstanding_principal"] == "0.00"
    assert [e["type"] for e in await events(client, who)][-1] == "closed"
    resp = await repay(client, who, loan["loan_id"], "interest", "1.00", "2026-03-01", "LATE")
    assert resp.status_code == 409 and resp.json()["current_status"] == "closed"


async def test_the_business_date_drives_overdue_then_default_at_ninety_days(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    loan = await loan_for(client, who, fakes)
    moved = await move_date(client, who, "2027-03-02")
    assert moved["loans_overdue"] == 1 and moved["loans_defaulted"] == 0
    body = (await client.get(f"/v1/loans/{loan['loan_id']}", headers=who.bank())).json()
    assert body["status"] == "overdue" and body["days_past_due"] == 1
    overdue = (await events(client, who))[-1]
    assert overdue["type"] == "overdue" and overdue["data"]["days_past_due"] == 1
    assert overdue["data"]["overdue_principal"] == "16666.67" and overdue["data"]["outstanding_principal"] == "50000.00"
    assert (await move_date(client, who, "2027-05-29"))["loans_defaulted"] == 0  # 89 days
    moved = await move_date(client, who, "2027-06-15")
    assert moved["loans_defaulted"] == 1
    defaulted = (await events(client, who))[-1]
    assert defaulted["type"] == "defaulted"
    assert defaulted["data"]["default_date"] == "2027-05-30" and defaulted["data"]["days_past_due"] == 106
    assert defaulted["data"]["unpaid_interest"] == "2175.00" and defaulted["data"]["outstanding_principal"] == "50000.00"
    assert COMMON <= set(defaulted["data"])
    assert (await move_date(client, who, "2027-07-01"))["loans_defaulted"] == 0  # one default event per loan


async def test_a_late_installment_paid_in_full_brings_an_overdue_loan_back_to_active(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    loan = await loan_for(client, who, fakes)
    await move_date(client, who, "2027-03-20")
    await repay(client, who, loan["loan_id"], "interest", "2175.00", "2027-03-20", "C1")
    await repay(client, who, loan["loan_id"], "principal", "16666.67", "2027-03-20", "C2")
    body = (await client.get(f"/v1/loans/{loan['loan_id']}", headers=who.bank())).json()
    assert body["status"] == "active" and body["days_past_due"] == 0


async def test_a_custom_default_threshold_comes_from_the_county_policy(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    resp = await client.post(
        f"/v1/lending-policies/{COUNTY}/versions", json={"effective_from": "2026-03-01", "profile": {"default_days_past_due": 30}}, headers=who.county()
    )
    assert resp.status_code == 201
    loan = await loan_for(client, who, fakes)
    await move_date(client, who, "2027-04-01")
    body = (await client.get(f"/v1/loans/{loan['loan_id']}", headers=who.bank())).json()
    assert body["status"] == "defaulted" and body["default_date"] == "2027-03-31"


async def test_the_business_date_never_moves_back_and_only_admin_moves_it(client: httpx.AsyncClient, who: Who) -> None:
    await move_date(client, who, "2026-04-01")
    resp = await client.put("/v1/business-date", json={"business_date": "2026-03-31"}, headers=who.admin())
    assert resp.status_code == 422 and resp.json()["business_date"] == "2026-04-01"
    assert (await client.put("/v1/business-date", json={"business_date": "2026-05-01"}, headers=who.county())).status_code == 403
    assert (await client.get("/v1/business-date", headers=who.bank())).json() == {"business_date": "2026-04-01"}


async def test_a_defaulted_loan_is_written_off_but_an_active_one_is_not(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    loan = await loan_for(client, who, fakes)
    resp = await client.post(f"/v1/loans/{loan['loan_id']}/write-off", headers=who.bank())
    assert resp.status_code == 409 and resp.json()["current_status"] == "active"
    await move_date(client, who, "2027-07-01")
    resp = await client.post(f"/v1/loans/{loan['loan_id']}/write-off", headers=who.bank())
    assert resp.status_code == 200 and resp.json()["status"] == "written_off"
    assert (await events(client, who))[-1]["type"] == "written_off"


async def test_an_extension_moves_the_maturity_once_and_records_an_event(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    loan = await loan_for(client, who, fakes, amount="10000.00", term_months=12)
    await repay(client, who, loan["loan_id"], "interest", "435.00", "2026-03-01", "E0")
    resp = await client.post(f"/v1/loans/{loan['loan_id']}/extension", json={"months": 6}, headers=who.bank())
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["maturity_date"] == "2027-09-01" and body["extensions"] == 1
    assert body["schedule"][0]["interest_due"] == "652.50"  # 435.00 + 10000 × 4.35% × 6/12
    event = (await events(client, who))[-1]
    assert event["type"] == "extended" and event["data"]["maturity_date"] == "2027-09-01" and event["data"]["outstanding_principal"] == "10000.00"
    assert event["data"]["schedule"] == [{"loan_year": 1, "due_date": "2027-09-01", "interest_due": "652.50", "principal_due": "10000.00"}]
    again = await client.post(f"/v1/loans/{loan['loan_id']}/extension", json={"months": 3}, headers=who.bank())
    assert again.status_code == 409


async def test_a_renewal_rolls_the_principal_still_owed_into_a_new_term(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    loan = await loan_for(client, who, fakes, amount="10000.00", term_months=12)
    early = await client.post(f"/v1/loans/{loan['loan_id']}/renewal", json={"term_months": 12}, headers=who.bank())
    assert early.status_code == 409 and "interest" in early.json()["detail"]
    await repay(client, who, loan["loan_id"], "interest", "435.00", "2026-03-01", "N0")
    resp = await client.post(f"/v1/loans/{loan['loan_id']}/renewal", json={"term_months": 12}, headers=who.bank())
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["maturity_date"] == "2028-03-01" and body["renewals"] == 1
    assert [(i["loan_year"], i["principal_due"], i["interest_due"]) for i in body["schedule"]] == [(1, "0.00", "435.00"), (2, "10000.00", "435.00")]
    renewed = (await events(client, who))[-1]
    assert renewed["type"] == "renewed" and renewed["data"]["term_months"] == 12
    assert renewed["data"]["schedule"] == [  # the same shape as in disbursed: subsidy rebuilds its accrual from it
        {"loan_year": 1, "due_date": "2027-03-01", "interest_due": "435.00", "principal_due": "0.00"},
        {"loan_year": 2, "due_date": "2028-03-01", "interest_due": "435.00", "principal_due": "10000.00"},
    ]


async def test_a_diversion_is_reported_as_an_event(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    loan = await loan_for(client, who, fakes)
    resp = await client.post(f"/v1/loans/{loan['loan_id']}/diversion", json={"reason": "用于盖房"}, headers=who.village())
    assert resp.status_code == 200 and resp.json()["diverted"] is True
    event = (await events(client, who))[-1]
    assert event["type"] == "diverted" and event["data"]["reason"] == "用于盖房"


async def test_the_event_log_needs_the_internal_scope_and_pages_by_transaction_and_sequence(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    assert (await client.get("/v1/loan-events", headers=who.bank())).status_code == 403
    await loan_for(client, who, fakes)
    await loan_for(client, who, fakes, household_id="H2")
    everything = await events(client, who)
    page = (await client.get("/v1/loan-events?after=&limit=1", headers=who.service())).json()
    assert len(page["items"]) == 1 and page["next_cursor"] == f"{everything[0]['txid']}:{everything[0]['seq']}"
    assert page["remaining"] == len(everything) - 1 and "next_after" not in page
    for malformed in ("abc", "12", "1:x", ":3", "1:2:3"):
        assert (await client.get("/v1/loan-events", params={"after": malformed}, headers=who.service())).status_code == 422, malformed
    rest = (await client.get("/v1/loan-events", params={"after": page["next_cursor"]}, headers=who.service())).json()
    assert [e["seq"] for e in rest["items"]] == [e["seq"] for e in everything[1:]] and rest["remaining"] == 0
    last = (await client.get("/v1/loan-events", params={"after": rest["next_cursor"]}, headers=who.service())).json()
    assert last == {"items": [], "next_cursor": rest["next_cursor"], "remaining": 0}


async def test_enterprise_loan_events_carry_the_driven_households(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    from tests.api.test_applications import enterprise_request, register_enterprise

    await register_enterprise(client, who)
    application = await submit(client, who, **enterprise_request("OLD1"))
    await advance(client, who, fakes, application, "disbursed")
    data = (await events(client, who))[-1]["data"]
    assert (data["borrower_type"], data["household_id"], data["driven_households"], data["registered_poor"]) == ("enterprise", None, ["OLD1"], False)


async def test_figures_report_coverage_amounts_and_approval_time(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    await loan_for(client, who, fakes)
    application = await submit(client, who, household_id="H2")
    await move_date(client, who, "2026-03-11")
    await advance(client, who, fakes, application, "disbursed", bank="PSBC")
    coverage = (await client.get(f"/v1/lending-figures/coverage?region={COUNTY}", headers=who.monitor())).json()
    assert coverage["total"]["registered_households"] == 4 and coverage["total"]["borrowing_households"] == 2
    assert coverage["total"]["coverage"] == "0.5000"
    assert {r["region_code"]: r["coverage"] for r in coverage["items"]} == {TOWNSHIP: "0.6667", "411224101000": "0.0000"}
    by_bank = (await client.get(f"/v1/lending-figures/amounts?region={COUNTY}&by=bank", headers=who.county())).json()
    assert {r["key"]: r["principal"] for r in by_bank["items"]} == {"PSBC": "50000.00", "RCC": "50000.00"}
    times = (await client.get(f"/v1/lending-figures/approval-times?region={COUNTY}", headers=who.county())).json()
    assert times["count"] == 2 and times["max_days"] == 10 and times["p50_days"] == "5.00"
    assert (await client.get(f"/v1/lending-figures/coverage?region={COUNTY}", headers=who.township())).status_code == 403
    assert (await client.get(f"/v1/lending-figures/coverage?region={COUNTY}", headers=who.bank())).status_code == 403


async def test_the_county_rate_cap_and_extension_length_are_enforced(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    profile = {"max_annual_rate": "0.05", "max_extension_months": 6}
    assert (
        await client.post(f"/v1/lending-policies/{COUNTY}/versions", json={"effective_from": "2026-03-01", "profile": profile}, headers=who.county())
    ).status_code == 201
    application = await advance(client, who, fakes, await submit(client, who, amount="10000.00", term_months=12), "recommended")
    resp = await client.post(f"/v1/applications/{application['application_id']}/approval", json={"annual_rate": "0.0600"}, headers=who.bank())
    assert resp.status_code == 422 and {f["code"] for f in resp.json()["failures"]} == {"RATE"}
    loan = await advance(client, who, fakes, application, "disbursed", rate="0.0435")
    await repay(client, who, loan["loan_id"], "interest", "435.00", "2026-03-01", "K0")
    resp = await client.post(f"/v1/loans/{loan['loan_id']}/extension", json={"months": 7}, headers=who.bank())
    assert resp.status_code == 422


async def test_an_officer_lists_only_the_loans_of_its_region(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    await loan_for(client, who, fakes)
    await loan_for(client, who, fakes, household_id="H2")
    mine = (await client.get("/v1/loans", headers=who.village())).json()["items"]
    assert [loan["household_id"] for loan in mine] == ["H1"]
    assert len((await client.get("/v1/loans", headers=who.township())).json()["items"]) == 2
    assert (await client.get("/v1/loans?region=411224101000", headers=who.village())).status_code == 403


class _Token:
    def __init__(self, headers: dict[str, str]) -> None:
        self.value = headers["Authorization"].removeprefix("Bearer ")

    async def get(self) -> str:
        return self.value


async def test_the_kit_consumer_reads_the_whole_log_page_by_page_through_the_endpoint(app: Any, client: httpx.AsyncClient, who: Who, fakes: Fakes) -> None:
    loan = await loan_for(client, who, fakes, amount="10000.00", term_months=12)
    await repay(client, who, loan["loan_id"], "interest", "435.00", "2026-03-01", "C1")
    await repay(client, who, loan["loan_id"], "principal", "10000.00", "2026-03-01", "C2")
    everything = await events(client, who)
    log = ServiceClient(caller="subsidy", dependency="applications", base_url="http://test", transport=httpx.ASGITransport(app=app))
    fetch = http_fetch(client=log, path="/v1/loan-events", token=_Token(who.service()))  # type: ignore[arg-type]
    cursor, read, lags = "", [], []
    while (page := await fetch(cursor, 2)).items:
        read += page.items
        cursor = page.next_cursor
        lags.append(page.remaining)
    await log.aclose()
    assert [e["type"] for e in read] == ["disbursed", "repayment_recorded", "repayment_recorded", "closed"] and read == everything
    assert lags == [2, 0] and page.next_cursor == cursor
