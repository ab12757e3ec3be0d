"""贴息资金发放登记表 (CSV, PDF) and 贴息资金领取通知书 (PDF): Chinese text and amounts that a PDF
text tool can read back."""

import csv
import io

from fastapi import FastAPI
from pypdf import PdfReader
from support import World


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


async def _paid_batch(world: World) -> dict:
    plan = await world.plan()
    await world.loan("L-1", household_id="H-1")
    await world.loan("L-2", household_id="H-2", principal="20000.00")
    return await world.approve_and_pay(await world.batch(plan["id"]))


async def test_the_payout_register_pdf_has_the_chinese_headings_and_amounts(world: World) -> None:
    batch = await _paid_batch(world)
    resp = await world.client.get(f"/v1/settlements/{batch['id']}/register.pdf", headers=world.township())
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/pdf"
    text = pdf_text(resp.content)
    for expected in ("贴息资金发放登记表", "贴息金额", "发放凭证号", "合计", "2175.00", "870.00", "3045.00", "叁仟零肆拾伍元整", "PAY-H-1"):
        assert expected in text, expected


async def test_the_payout_register_csv_lists_each_loan_year_and_the_total(world: World) -> None:
    batch = await _paid_batch(world)
    resp = await world.client.get(f"/v1/settlements/{batch['id']}/register.csv", headers=world.finance_bureau())
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["序号", "借款人类型", "借款人编号", "贷款编号"]
    assert [(r[2], r[3], r[13], r[14]) for r in rows[1:3]] == [("H-1", "L-1", "2175.00", "PAY-H-1"), ("H-2", "L-2", "870.00", "PAY-H-2")]
    assert rows[-1][0] == "合计"
    assert rows[-1][13] == "3045.00"


async def test_a_household_reads_its_collection_notice_with_the_amount_in_words(world: World) -> None:
    batch = await _paid_batch(world)
    listed = await world.client.get("/v1/subsidy-notices", headers=world.applicant("H-1"))
    assert [(n["recipient_id"], n["amount"]) for n in listed.json()["items"]] == [("H-1", "2175.00")]
    resp = await world.client.get(listed.json()["items"][0]["pdf"], headers=world.applicant("H-1"))
    assert resp.status_code == 200, resp.text
    text = pdf_text(resp.content)
    for expected in ("贴息资金领取通知书", "2175.00", "贰仟壹佰柒拾伍元整", "L-1", "PAY-H-1", "乡镇财政所"):
        assert expected in text, expected
    assert batch["status"] == "paid"


async def test_a_household_cannot_read_another_households_notice(world: World) -> None:
    batch = await _paid_batch(world)
    resp = await world.client.get(f"/v1/subsidy-notices/{batch['id']}/H-2.pdf", headers=world.applicant("H-1"))
    assert resp.status_code == 403
    resp = await world.client.get("/v1/subsidy-notices?household_id=H-2", headers=world.applicant("H-1"))
    assert resp.status_code == 403


async def test_no_notice_is_issued_for_a_draft_batch(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-1", household_id="H-1")
    batch = await world.batch(plan["id"])
    resp = await world.client.get(f"/v1/subsidy-notices/{batch['id']}/H-1.pdf", headers=world.applicant("H-1"))
    assert resp.status_code == 409
    assert resp.json()["current_status"] == "draft"
    assert (await world.client.get("/v1/subsidy-notices", headers=world.applicant("H-1"))).json()["items"] == []
    resp = await world.client.get(f"/v1/subsidy-notices/{batch['id']}/H-404.pdf", headers=world.monitor())
    assert resp.status_code == 404


async def test_the_register_can_be_printed_for_one_village(world: World) -> None:
    plan = await world.plan()
    await world.loan("L-1", household_id="H-1")
    await world.loan("L-2", household_id="H-2", village="411224101002")
    batch = await world.batch(plan["id"])
    resp = await world.client.get(f"/v1/settlements/{batch['id']}/register.csv?village_code=411224101002", headers=world.township())
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert [r[3] for r in rows[1:-1]] == ["L-2"]
    assert "411224101002" in pdf_text(
        (await world.client.get(f"/v1/settlements/{batch['id']}/register.pdf?village_code=411224101002", headers=world.township())).content
    )


async def test_a_register_too_long_for_a_pdf_is_422_pointing_to_the_village_filter(world: World, app: FastAPI) -> None:
    app.state.settings.register_pdf_max_lines = 1
    plan = await world.plan()
    await world.loan("L-1", household_id="H-1")
    await world.loan("L-2", household_id="H-2", village="411224101002")
    batch = await world.batch(plan["id"])
    resp = await world.client.get(f"/v1/settlements/{batch['id']}/register.pdf", headers=world.township())
    assert resp.status_code == 422
    assert "village_code" in resp.json()["detail"]
    resp = await world.client.get(f"/v1/settlements/{batch['id']}/register.pdf?village_code=411224101002", headers=world.township())
    assert resp.status_code == 200
