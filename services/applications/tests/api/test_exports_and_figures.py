"""Exports for departments and regulators (NDJSON and CSV, keyset pages over a fixed set), the
overview figures of a region and the business gauges."""

import csv
import io
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from applications import service
from tests.conftest import COUNTY, OTHER_TOWNSHIP, TOWNSHIP, VILLAGE, VILLAGE_2, Fakes, Who, advance, household, loan_for, move_date, submit

pytestmark = pytest.mark.usefixtures("seeded")


async def add_household(client: httpx.AsyncClient, who: Who, household_id: str, serial: str, village: str = VILLAGE) -> None:
    body = household(household_id, serial=serial, village=village)
    body.pop("household_id")
    resp = await client.put(f"/v1/households/{household_id}", json=body, headers=who.admin())
    assert resp.status_code == 201, resp.text


async def export_pages(client: httpx.AsyncClient, path: str, headers: dict[str, str], between: Any = None, **params: Any) -> list[httpx.Response]:
    """Every page of an export, following X-Next-Cursor; ``between`` runs after each page."""
    pages, cursor = [], None
    while True:
        resp = await client.get(path, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers)
        assert resp.status_code == 200, resp.text
        pages.append(resp)
        cursor = resp.headers.get("x-next-cursor")
        if cursor is None:
            return pages
        if between is not None:
            await between()


def ndjson_rows(pages: list[httpx.Response]) -> list[dict[str, Any]]:
    return [json.loads(line) for p in pages for line in p.text.splitlines()]


def csv_rows(pages: list[httpx.Response]) -> list[dict[str, str]]:
    return [row for p in pages for row in csv.DictReader(io.StringIO(p.text))]


async def repay(client: httpx.AsyncClient, who: Who, loan_id: str, kind: str, amount: str, value_date: str, ref: str) -> None:
    body = {"kind": kind, "amount": amount, "value_date": value_date, "bank_reference": ref}
    resp = await client.post(f"/v1/loans/{loan_id}/repayments", json=body, headers=who.bank())
    assert resp.status_code == 201, resp.text


def as_csv(row: dict[str, Any]) -> dict[str, str]:
    return {k: "" if v is None else ("true" if v is True else "false" if v is False else str(v)) for k, v in row.items()}


PERIOD = {"from": "2026-03-01", "to": "2026-12-31"}


@pytest.fixture
async def lent(client: httpx.AsyncClient, who: Who, fakes: Fakes) -> dict[str, Any]:
    """Loans of H1, H2 (other village) and H3 disbursed on 2026-03-01, one of H4 starting after the
    period; H5 and H6 are registered and may borrow later."""
    for number, household_id in enumerate(("H3", "H4", "H5", "H6"), start=105):
        await add_household(client, who, household_id, str(number))
    inside = [await loan_for(client, who, fakes, household_id=h) for h in ("H1", "H2", "H3")]
    approved = await advance(client, who, fakes, await submit(client, who, household_id="H4"), "approved")
    resp = await client.post(f"/v1/applications/{approved['application_id']}/disbursement", json={"start_date": "2027-01-15"}, headers=who.bank())
    assert resp.status_code == 201, resp.text
    return {"inside": [loan["loan_id"] for loan in inside], "outside": resp.json()["loan_id"]}


async def test_export_pages_concatenate_to_exactly_the_loans_of_the_period_while_loans_arrive(
    client: httpx.AsyncClient, who: Who, fakes: Fakes, lent: dict[str, Any]
) -> None:
    arriving = iter(["H5", "H6"])
    arrived = []

    async def a_loan_arrives() -> None:  # disbursed in the period, after the first page fixed the set
        household_id = next(arriving, None)
        if household_id is not None:
            arrived.append((await loan_for(client, who, fakes, household_id=household_id))["loan_id"])

    pages = await export_pages(client, "/v1/loans/export", who.monitor(), between=a_loan_arrives, limit=1, **PERIOD)
    rows = ndjson_rows(pages)
    assert len(arrived) == 2
    assert [r["loan_id"] for r in rows] == lent["inside"]  # no duplicates, none missing, none that arrived meanwhile
    assert all(p.headers["content-type"].startswith("application/x-ndjson") for p in pages) and "x-next-cursor" not in pages[-1].headers
    first = rows[0]
    assert (first["principal"], first["annual_rate"], first["status"], first["days_past_due"], first["county_code"]) == (
        "50000.00",
        "0.043500",
        "active",
        0,
        COUNTY,
    )
    again = ndjson_rows(await export_pages(client, "/v1/loans/export", who.monitor(), limit=1000, **PERIOD))
    assert [r["loan_id"] for r in again] == lent["inside"] + arrived  # a new export sees them


async def test_csv_and_ndjson_exports_carry_the_same_rows(client: httpx.AsyncClient, who: Who, fakes: Fakes, lent: dict[str, Any]) -> None:
    await repay(client, who, lent["inside"][0], "interest", "2175.00", "2026-03-01", "X1")
    await repay(client, who, lent["inside"][1], "principal", "1000.00", "2026-03-01", "X2")
    for path in ("/v1/loans/export", "/v1/loans/repayments/export"):
        as_ndjson = ndjson_rows(await export_pages(client, path, who.monitor(), limit=2, **PERIOD))
        as_csv_pages = await export_pages(client, path, who.monitor(), limit=2, format="csv", **PERIOD)
        assert all(p.headers["content-type"].startswith("text/csv") for p in as_csv_pages)
        assert csv_rows(as_csv_pages) == [as_csv(r) for r in as_ndjson] and as_ndjson
    repayments = ndjson_rows(await export_pages(client, "/v1/loans/repayments/export", who.monitor(), **PERIOD))
    assert [(r["bank_reference"], r["kind"], r["amount"], r["late"]) for r in repayments] == [
        ("X1", "interest", "2175.00", False),
        ("X2", "principal", "1000.00", False),
    ]


async def test_exports_are_confined_to_the_callers_region_and_a_bank_to_its_own_loans(
    client: httpx.AsyncClient, who: Who, fakes: Fakes, lent: dict[str, Any]
) -> None:
    path = "/v1/loans/export"
    village = ndjson_rows(await export_pages(client, path, who.village(), **PERIOD))
    assert {r["village_code"] for r in village} == {VILLAGE} and len(village) == 2
    assert len(ndjson_rows(await export_pages(client, path, who.township(), **PERIOD))) == 3
    assert ndjson_rows(await export_pages(client, path, who.officer("township_officer", OTHER_TOWNSHIP), **PERIOD)) == []
    assert (await client.get(path, params={"region": VILLAGE_2}, headers=who.village())).status_code == 403
    assert len(ndjson_rows(await export_pages(client, path, who.county(), region=VILLAGE_2, **PERIOD))) == 1
    assert ndjson_rows(await export_pages(client, path, who.bank("PSBC"), **PERIOD)) == []
    assert len(ndjson_rows(await export_pages(client, path, who.bank("RCC"), **PERIOD))) == 3
    assert (await client.get(path, headers=who.applicant("H1"))).status_code == 403
    assert (await client.get(path, params={"cursor": "bm90LWEtY3Vyc29y"}, headers=who.monitor())).status_code == 422
    assert (await client.get(path, params={"limit": 10_001}, headers=who.monitor())).status_code == 422


async def test_the_overview_gives_coverage_lending_and_non_performing_loans_of_a_region(
    app: FastAPI, client: httpx.AsyncClient, who: Who, fakes: Fakes
) -> None:
    await loan_for(client, who, fakes, amount="10000.00", term_months=12)  # in default by June 2027
    large = await loan_for(client, who, fakes, household_id="H2")
    await move_date(client, who, "2027-03-01")
    await repay(client, who, large["loan_id"], "interest", "2175.00", "2027-03-01", "O1")
    await repay(client, who, large["loan_id"], "principal", "16666.67", "2027-03-01", "O2")
    await move_date(client, who, "2027-06-01")  # the small loan is 92 days past due: in default
    county = (await client.get("/v1/lending-figures/overview", params={"region": COUNTY}, headers=who.monitor())).json()
    assert county == {
        "region": COUNTY,
        "registered_households": 4,
        "borrowing_households": 2,
        "household_loan_coverage": "0.5000",
        "loans_outstanding": "43333.33",
        "non_performing_outstanding": "10000.00",
        "non_performing_ratio": "0.2308",
        "loans_active": 2,
    }
    township = (await client.get("/v1/lending-figures/overview", params={"region": TOWNSHIP}, headers=who.township())).json()
    assert (township["registered_households"], township["household_loan_coverage"]) == (3, "0.6667")
    exported = {r["principal"]: r for r in ndjson_rows(await export_pages(client, "/v1/loans/export", who.county()))}
    assert (exported["10000.00"]["status"], exported["10000.00"]["days_past_due"]) == ("defaulted", 92)
    assert (exported["50000.00"]["status"], exported["50000.00"]["days_past_due"], exported["50000.00"]["outstanding_principal"]) == ("active", 0, "33333.33")
    province = (await client.get("/v1/lending-figures/overview", params={"region": "410000000000"}, headers=who.monitor())).json()
    assert province["loans_outstanding"] == "43333.33"
    assert (await client.get("/v1/lending-figures/overview", params={"region": COUNTY}, headers=who.township())).status_code == 403
    assert (await client.get("/v1/lending-figures/overview", params={"region": COUNTY}, headers=who.bank())).status_code == 403

    async with app.state.sessionmaker() as session:
        await service.refresh_business_metrics(session=session, settings=app.state.settings)
    assert REGISTRY.get_sample_value("loans_outstanding_yuan", {"county": COUNTY}) == pytest.approx(43333.33)
    assert REGISTRY.get_sample_value("loans_non_performing_ratio", {"county": COUNTY}) == pytest.approx(0.2308)
    assert REGISTRY.get_sample_value("applications_by_state", {"state": "disbursed"}) == 2
    assert REGISTRY.get_sample_value("applications_by_state", {"state": "submitted"}) == 0
