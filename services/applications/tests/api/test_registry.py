"""建档立卡 registry: regions, households (bulk import and single), enterprises, and who may read them."""

import json

import httpx
import pytest

from tests.conftest import COUNTY, OTHER_VILLAGE, REGIONS_CSV, TOWNSHIP, VILLAGE, Who, household, ndjson, resident_id

pytestmark = pytest.mark.usefixtures("seeded")

CSV_HEADER = (
    "household_id,head_resident_id,head_name,village_code,household_type,main_cause,secondary_causes,members,status,"
    "applied_on,democratic_vote_on,village_notice_on,township_notice_on,county_announcement_on"
)


def csv_row(household_id: str, rid: str, *, village: str = VILLAGE, cause: str = "因病", secondary: str = "缺技术;缺资金", birth: str = "1980-05-01") -> str:
    members = json.dumps([{"name": "张三", "relation": "head", "birth_date": birth, "labour_capacity": "full"}], ensure_ascii=False)
    members_csv = '"' + members.replace('"', '""') + '"'
    return f"{household_id},{rid},张三,{village},低保户,{cause},{secondary},{members_csv},poor,2025-09-01,2025-09-03,2025-09-04,2025-09-11,2025-09-18"


async def import_csv(client: httpx.AsyncClient, who: Who, lines: list[str]) -> httpx.Response:
    return await client.post("/v1/households/import", content="\n".join([CSV_HEADER, *lines]) + "\n", headers={**who.admin(), "content-type": "text/csv"})


async def test_csv_import_stores_valid_rows_and_reports_every_invalid_row_with_its_line(client: httpx.AsyncClient, who: Who) -> None:
    lines = [
        csv_row("C1", resident_id("1980-05-01", "201")),
        csv_row("C2", "411224198005012019"),  # bad checksum
        csv_row("C3", resident_id("1980-05-01", "203"), cause="贫穷"),  # not one of the 12 causes
        csv_row("C4", resident_id("1980-05-01", "204"), secondary="缺技术;缺水;缺劳力"),  # three secondary causes
        csv_row("C1", resident_id("1980-05-01", "205")),  # repeated household id
        csv_row("C6", resident_id("1980-05-01", "206"), village="411224100299"),  # unknown village
        csv_row("C7", resident_id("1980-05-01", "207"), birth="1981-01-01"),  # head's birth date differs from the ID
        "C8,too,few,fields",
        csv_row("C9", resident_id("1980-05-01", "201")),  # head already heads C1 in this file
    ]
    resp = await import_csv(client, who, lines)
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert (report["received"], report["inserted"], report["invalid"]) == (9, 1, 8)
    by_line = {e["line"]: e["reason"] for e in report["errors"]}
    assert sorted(by_line) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert "head_resident_id" in by_line[3]
    assert "main_cause" in by_line[4]
    assert "at most two" in by_line[5]
    assert "repeated (first on line 2)" in by_line[6]
    assert "not a known village" in by_line[7]
    assert "birth date" in by_line[8]
    assert "fields where the header has" in by_line[9]
    assert "also heads the household on line 2" in by_line[10]
    stored = await client.get("/v1/households/C1", headers=who.admin())
    assert stored.status_code == 200
    assert stored.json()["secondary_causes"] == ["缺技术", "缺资金"]


async def test_reimporting_the_same_file_changes_nothing(client: httpx.AsyncClient, who: Who) -> None:
    lines = [csv_row(f"R{i}", resident_id("1980-05-01", f"3{i:02d}")) for i in range(5)]
    first = (await import_csv(client, who, lines)).json()
    before = (await client.get("/v1/households/R1", headers=who.admin())).json()
    second = (await import_csv(client, who, lines)).json()
    after = (await client.get("/v1/households/R1", headers=who.admin())).json()
    assert (first["inserted"], first["updated"]) == (5, 0)
    assert (second["inserted"], second["updated"], second["unchanged"]) == (0, 0, 5)
    assert before == after


async def test_reimport_with_a_changed_row_updates_only_that_row(client: httpx.AsyncClient, who: Who) -> None:
    await import_csv(client, who, [csv_row("U1", resident_id("1980-05-01", "401")), csv_row("U2", resident_id("1980-05-01", "402"))])
    report = (
        await import_csv(client, who, [csv_row("U1", resident_id("1980-05-01", "401")), csv_row("U2", resident_id("1980-05-01", "402"), cause="因灾")])
    ).json()
    assert (report["inserted"], report["updated"], report["unchanged"]) == (0, 1, 1)
    assert (await client.get("/v1/households/U2", headers=who.admin())).json()["main_cause"] == "因灾"


async def test_ndjson_import_reports_bad_json_and_identification_out_of_order(client: httpx.AsyncClient, who: Who) -> None:
    good = household("N1", serial="501")
    late_notice = household("N2", serial="502")
    late_notice["identification"]["township_notice_on"] = "2025-09-08"  # the village notice lasts 7 days
    body = ndjson([good]) + "{not json\n" + ndjson([late_notice])
    resp = await client.post("/v1/households/import", content=body, headers={**who.admin(), "content-type": "application/x-ndjson"})
    report = resp.json()
    assert report["inserted"] == 1 and report["invalid"] == 2
    reasons = {e["line"]: e["reason"] for e in report["errors"]}
    assert reasons[2] == "not a JSON line"
    assert "at least 7 days after village_notice_on" in reasons[3]


async def test_import_refuses_other_content_types(client: httpx.AsyncClient, who: Who) -> None:
    resp = await client.post("/v1/households/import", content="x", headers={**who.admin(), "content-type": "text/plain"})
    assert resp.status_code == 415


async def test_region_import_reports_unknown_parents_and_is_idempotent(client: httpx.AsyncClient, who: Who) -> None:
    body = "code,name\n411224102000,官坡镇\n411224102201,官坡村\n411224109201,无乡村\n12345,坏码\n"
    report = (await client.post("/v1/regions/import", content=body, headers={**who.admin(), "content-type": "text/csv"})).json()
    assert (report["inserted"], report["invalid"]) == (2, 2)
    assert {e["line"] for e in report["errors"]} == {4, 5}
    again = (await client.post("/v1/regions/import", content=REGIONS_CSV, headers={**who.admin(), "content-type": "text/csv"})).json()
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 6)
    children = (await client.get(f"/v1/regions?parent={TOWNSHIP}", headers=who.admin())).json()
    assert [r["code"] for r in children["items"]] == [VILLAGE, "411224100202"]


async def test_resident_ids_are_masked_in_responses(client: httpx.AsyncClient, who: Who) -> None:
    body = (await client.get("/v1/households/H1", headers=who.admin())).json()
    assert body["head_resident_id"] == "411224********" + resident_id("1980-05-01", "101")[-4:]
    listing = (await client.get(f"/v1/households?region={COUNTY}", headers=who.county())).text
    assert resident_id("1980-05-01", "101") not in listing


async def test_an_applicant_sees_only_its_own_household(client: httpx.AsyncClient, who: Who) -> None:
    assert (await client.get("/v1/households/H1", headers=who.applicant("H1"))).status_code == 200
    assert (await client.get("/v1/households/H2", headers=who.applicant("H1"))).status_code == 403
    listing = (await client.get("/v1/households", headers=who.applicant("H1"))).json()
    assert [h["household_id"] for h in listing["items"]] == ["H1"]


async def test_officers_see_only_their_region_and_banks_not_the_registry(client: httpx.AsyncClient, who: Who) -> None:
    assert (await client.get("/v1/households/OLD2", headers=who.township())).status_code == 403
    assert (await client.get("/v1/households/OLD2", headers=who.county())).status_code == 200
    assert (await client.get("/v1/households/H1", headers=who.bank())).status_code == 403
    listing = (await client.get("/v1/households", headers=who.township())).json()
    assert {h["household_id"] for h in listing["items"]} == {"H1", "H2", "OLD1"}


async def test_a_village_officer_cannot_import_households_of_another_village(client: httpx.AsyncClient, who: Who) -> None:
    rows = [household("V1", serial="601"), household("V2", serial="602", village=OTHER_VILLAGE)]
    report = (await client.post("/v1/households/import", content=ndjson(rows), headers={**who.village(), "content-type": "application/x-ndjson"})).json()
    assert report["inserted"] == 1
    assert "outside the caller's region" in report["errors"][0]["reason"]


async def test_put_household_lists_every_problem(client: httpx.AsyncClient, who: Who) -> None:
    body = household("P1", serial="701")
    body.pop("household_id")
    body["head_resident_id"] = "123"
    body["status"] = "rich"
    body["members"][0]["labour_capacity"] = "strong"
    resp = await client.put("/v1/households/P1", json=body, headers=who.village())
    assert resp.status_code == 422
    messages = " | ".join(e["message"] for e in resp.json()["errors"])
    assert "head_resident_id" in messages and "status" in messages and "labour_capacity" in messages


async def test_put_household_creates_then_replaces(client: httpx.AsyncClient, who: Who) -> None:
    body = household("P2", serial="702")
    body.pop("household_id")
    assert (await client.put("/v1/households/P2", json=body, headers=who.village())).status_code == 201
    body["status"] = "exited"
    resp = await client.put("/v1/households/P2", json=body, headers=who.village())
    assert resp.status_code == 200 and resp.json()["status"] == "exited"


async def test_enterprise_needs_a_valid_unified_social_credit_code(client: httpx.AsyncClient, who: Who) -> None:
    bad = await client.post("/v1/enterprises", json={"enterprise_id": "91411224MA00000000", "name": "坏码", "village_code": VILLAGE}, headers=who.county())
    assert bad.status_code == 422
    good = await client.post(
        "/v1/enterprises", json={"enterprise_id": "91350100M000100Y43", "name": "香菇合作社", "village_code": VILLAGE}, headers=who.county()
    )
    assert good.status_code == 201, good.text
    assert good.json()["county_code"] == COUNTY


def variants() -> list[tuple[str, dict]]:
    base = household("Z0", serial="801")
    out: list[tuple[str, dict]] = [("valid", base)]

    def changed(name: str, **fields: object) -> None:
        record = json.loads(json.dumps(base))
        record.update(fields)
        out.append((name, record))

    changed("two heads", members=[*base["members"], {"name": "b", "relation": "head", "birth_date": "1982-01-01", "labour_capacity": "full"}])
    changed("bad capacity", members=[{**base["members"][0], "labour_capacity": "strong"}])
    changed("bad member date", members=[{**base["members"][0], "birth_date": "1980-02-30"}])
    changed("no members", members=[])
    changed("bad type", household_type="贫困户")
    changed("bad status", status="rich")
    changed("cause twice", secondary_causes=["缺资金"])
    changed("township code", village_code="411224100000")
    changed("leap day id", head_resident_id=resident_id("1980-02-30", "801"))
    changed("vote before application", identification={**base["identification"], "democratic_vote_on": "2025-08-01"})
    return out


async def test_the_bulk_import_and_the_single_record_path_judge_rows_alike(client: httpx.AsyncClient, who: Who) -> None:
    for i, (name, record) in enumerate(variants()):
        record = {**record, "household_id": f"Z{i}"}
        imported = (
            await client.post("/v1/households/import", content=ndjson([record]), headers={**who.admin(), "content-type": "application/x-ndjson"})
        ).json()
        body = {k: v for k, v in record.items() if k != "household_id"}
        single = await client.put(f"/v1/households/Z{i}", json=body, headers=who.admin())
        bulk_ok = imported["invalid"] == 0
        assert bulk_ok == (name == "valid"), (name, imported)
        assert (single.status_code == 422) == (name != "valid"), (name, single.text)


async def test_a_csv_whose_header_lacks_required_columns_is_refused_whole(client: httpx.AsyncClient, who: Who) -> None:
    resp = await client.post("/v1/households/import", content=b"id,name\nHH-1,x\n", headers={**who.admin(), "content-type": "text/csv"})
    assert resp.status_code == 422
    assert "household_id" in resp.json()["missing_columns"]
    resp = await client.post("/v1/regions/import", content=b"code\n411224000000\n", headers={**who.admin(), "content-type": "text/csv"})
    assert resp.status_code == 422 and resp.json()["missing_columns"] == ["name"]
