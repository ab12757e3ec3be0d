"""Claims (代偿): loss, split to the fen, payout from the fund, obligations, bad input."""

import httpx
from risk_pool_support import World, event


async def test_claim_splits_loss_by_scheme_and_pays_the_government_part_from_the_fund(world: World, client: httpx.AsyncClient) -> None:
    await world.fund(deposit="1000000.00")
    await world.scheme()
    await world.defaulted_loan("L-1", interest="2175.00")

    resp = await world.claim("L-1")

    assert resp.status_code == 201, resp.text
    claim = resp.json()
    assert claim["loss"] == "52175.00"  # 50,000 covered principal + 2,175 normal interest
    assert claim["status"] == "paid"
    parts = {p["party"]: p["amount"] for p in claim["parts"]}
    assert parts == {"government": "10435.00", "bank": "5217.50", "guarantor": "26087.50", "reguarantor": "10435.00"}
    fund = (await client.get("/v1/funds/lushi", headers=world.a.finance)).json()
    assert fund["balance"] == "989565.00"


async def test_loss_covers_only_principal_under_the_cap_and_its_share_of_interest(world: World) -> None:
    await world.fund()
    await world.scheme()
    await world.defaulted_loan("L-BIG", principal="80000.00", interest="3480.00")

    claim = (await world.claim("L-BIG")).json()

    assert claim["covered_principal"] == "50000.00"
    assert claim["covered_interest"] == "2175.00"  # 3,480 × 50,000 ÷ 80,000
    assert claim["loss"] == "52175.00"


async def test_rounding_remainder_goes_to_the_largest_remainders_and_parts_add_up(world: World) -> None:
    await world.fund()
    await world.scheme(shares=[{"party": "government", "share": "0.333333"}, {"party": "bank", "share": "0.333333"},
                               {"party": "insurer", "share": "0.333334", "party_account": "picc"}])
    await world.defaulted_loan("L-R", principal="100.00", interest="0.01")

    claim = (await world.claim("L-R")).json()

    # exact 3333.663333, 3333.663333, 3333.673334 fen: the two fen left go to the third, then the first (tie → earlier)
    assert [p["amount"] for p in claim["parts"]] == ["33.34", "33.33", "33.34"]


async def test_claim_before_the_trigger_is_409_saying_how_many_days_remain(world: World) -> None:
    await world.fund()
    await world.scheme()
    await world.loan("L-2")
    await world.events(event(world.next_seq(), "L-2", "overdue", "2022-02-01", days_past_due=30, outstanding_principal="50000.00",
                             overdue_principal="20000.00"))

    resp = await world.claim("L-2")

    assert resp.status_code == 409
    body = resp.json()
    assert body["days_remaining"] == 60
    assert "60 days remain" in body["detail"]


async def test_days_past_due_count_on_with_the_business_date_of_later_events(world: World) -> None:
    await world.fund()
    await world.scheme()
    await world.loan("L-3")
    await world.loan("L-OTHER")
    await world.events(event(world.next_seq(), "L-3", "overdue", "2022-02-01", days_past_due=30, outstanding_principal="50000.00",
                             overdue_principal="20000.00", unpaid_interest="100.00"))
    await world.events(event(world.next_seq(), "L-OTHER", "repayment_recorded", "2022-05-02", kind="interest", amount="10.00",
                             outstanding_principal="50000.00"))

    resp = await world.claim("L-3")  # 30 days on 2022-02-01 + 90 days since = 120 days past due

    assert resp.status_code == 201, resp.text
    assert resp.json()["days_past_due"] == 120


async def test_claim_for_an_unknown_loan_is_404(world: World) -> None:
    resp = await world.claim("L-NOPE")
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_second_claim_for_a_loan_is_409_naming_the_first(world: World) -> None:
    await world.fund()
    await world.scheme()
    await world.defaulted_loan("L-4")
    first = (await world.claim("L-4")).json()

    resp = await world.claim("L-4")

    assert resp.status_code == 409
    assert resp.json()["claim_id"] == first["id"]
    assert str(first["id"]) in resp.json()["detail"]


async def test_a_bank_cannot_claim_another_banks_loan(world: World) -> None:
    await world.fund()
    await world.scheme()
    await world.defaulted_loan("L-5")

    resp = await world.claim("L-5", headers=world.a.other_bank)

    assert resp.status_code == 403


async def test_only_banks_file_claims(world: World) -> None:
    await world.fund()
    await world.scheme()
    await world.defaulted_loan("L-6")

    for headers in (world.a.finance, world.a.county_officer, world.a.party("henan-agri-credit-guarantee")):
        assert (await world.claim("L-6", headers=headers)).status_code == 403


async def test_a_claim_waits_when_the_fund_is_short_and_is_paid_in_order_when_money_arrives(world: World, client: httpx.AsyncClient) -> None:
    await world.fund(deposit="15000.00")
    await world.scheme()
    for loan in ("L-A", "L-B", "L-C"):
        await world.defaulted_loan(loan)  # government part 10,435.00 each

    a, b, c = [(await world.claim(loan)).json() for loan in ("L-A", "L-B", "L-C")]

    assert [a["status"], b["status"], c["status"]] == ["paid", "awaiting_funds", "awaiting_funds"]
    assert (b["queue_position"], c["queue_position"]) == (1, 2)
    deposit = await world.deposit("lushi", "6000.00")  # 4,565 + 6,000 = 10,565: enough for B only
    assert deposit["claims_paid"] == 1
    assert deposit["balance"] == "130.00"
    statuses = [(await client.get(f"/v1/claims/{x['id']}", headers=world.a.bank)).json()["status"] for x in (b, c)]
    assert statuses == ["paid", "awaiting_funds"]


async def test_withdrawal_is_refused_while_claims_wait_and_beyond_the_balance(world: World, client: httpx.AsyncClient) -> None:
    await world.fund(deposit="10000.00")
    await world.scheme()
    await world.loan("L-W")  # covered: 50,000 ≤ 10 × 10,000
    assert (await client.post("/v1/funds/lushi/withdrawals", json={"amount": "9900.00"}, headers=world.a.finance)).status_code == 201
    resp = await client.post("/v1/funds/lushi/withdrawals", json={"amount": "100.01"}, headers=world.a.finance)
    assert resp.status_code == 409
    assert resp.json()["balance"] == "100.00"
    await world.default("L-W")
    assert (await world.claim("L-W")).json()["status"] == "awaiting_funds"

    resp = await client.post("/v1/funds/lushi/withdrawals", json={"amount": "1.00"}, headers=world.a.finance)

    assert resp.status_code == 409
    assert resp.json()["claims_awaiting_funds"] == 1


async def test_a_loan_without_cover_cannot_be_claimed(world: World) -> None:
    await world.fund()
    await world.defaulted_loan("L-NS")  # no scheme in force when it was disbursed

    resp = await world.claim("L-NS")

    assert resp.status_code == 409
    assert "no sharing scheme" in resp.json()["detail"]


async def test_batch_filing_is_all_or_nothing_and_lists_every_rejection(world: World, client: httpx.AsyncClient) -> None:
    await world.fund()
    await world.scheme()
    await world.defaulted_loan("L-X1")
    await world.defaulted_loan("L-X2")

    resp = await client.post("/v1/claims/batches", json={"loan_ids": ["L-X1", "L-NOPE", "L-X2", "L-NOPE2"]}, headers=world.a.bank)

    assert resp.status_code == 409
    assert [r["status"] for r in resp.json()["rejections"]] == [404, 404]
    ok = await client.post("/v1/claims/batches", json={"loan_ids": ["L-X1", "L-X2"]}, headers=world.a.bank)
    assert ok.status_code == 201, ok.text
    assert ok.json()["filed"] == 2 and ok.json()["paid"] == 2


async def test_obligations_are_open_for_outside_parties_and_settled_for_the_bank(world: World, client: httpx.AsyncClient) -> None:
    await world.fund()
    await world.scheme()
    await world.defaulted_loan("L-O")
    claim = (await world.claim("L-O")).json()

    resp = await client.get(f"/v1/obligations?claim_id={claim['id']}", headers=world.a.admin)

    by_party = {o["party"]: o for o in resp.json()["items"]}
    assert set(by_party) == {"bank", "guarantor", "reguarantor"}
    assert by_party["bank"]["status"] == "settled"
    assert by_party["guarantor"]["status"] == "open"
    assert by_party["guarantor"]["amount"] == "26087.50"


async def test_a_guarantor_sees_and_settles_only_its_own_obligations(world: World, client: httpx.AsyncClient) -> None:
    await world.fund()
    await world.scheme()
    await world.defaulted_loan("L-G")
    await world.claim("L-G")
    guarantor = world.a.party("henan-agri-credit-guarantee")
    reguarantor = world.a.party("henan-reguarantee-group")

    mine = (await client.get("/v1/obligations", headers=guarantor)).json()["items"]
    assert [o["party_account"] for o in mine] == ["henan-agri-credit-guarantee"]
    theirs = (await client.get("/v1/obligations", headers=reguarantor)).json()["items"]

    assert (await client.post(f"/v1/obligations/{theirs[0]['id']}/settlement", json={"reference": "x"}, headers=guarantor)).status_code == 403
    settled = await client.post(f"/v1/obligations/{mine[0]['id']}/settlement", json={"reference": "WIRE-1"}, headers=guarantor)
    assert settled.status_code == 200, settled.text
    assert settled.json()["status"] == "settled"
    again = await client.post(f"/v1/obligations/{mine[0]['id']}/settlement", json={"reference": "WIRE-2"}, headers=guarantor)
    assert again.status_code == 409
    assert "WIRE-1" in again.json()["detail"]


async def test_banks_see_only_their_own_claims(world: World, client: httpx.AsyncClient) -> None:
    await world.fund()
    await world.scheme()
    await world.defaulted_loan("L-R1")
    await world.defaulted_loan("L-P1", bank_id="PSBC")
    await world.claim("L-R1")
    mine = await world.claim("L-P1", headers=world.a.other_bank)

    listed = (await client.get("/v1/claims", headers=world.a.other_bank)).json()["items"]

    assert [c["loan_id"] for c in listed] == ["L-P1"]
    other = await client.get(f"/v1/claims/{mine.json()['id']}", headers=world.a.bank)
    assert other.status_code == 403


async def test_officers_read_claims_of_their_region_only(world: World, client: httpx.AsyncClient) -> None:
    await world.fund()
    await world.scheme()
    await world.defaulted_loan("L-REG")
    claim = (await world.claim("L-REG")).json()

    assert (await client.get(f"/v1/claims/{claim['id']}", headers=world.a.county_officer)).status_code == 200
    assert (await client.get(f"/v1/claims/{claim['id']}", headers=world.a.hubin_officer)).status_code == 403
    assert (await client.get("/v1/claims", headers=world.a.hubin_officer)).json()["items"] == []


async def test_a_closed_loan_cannot_be_claimed(world: World) -> None:
    await world.fund()
    await world.scheme()
    await world.loan("L-CL")
    await world.events(event(world.next_seq(), "L-CL", "closed", "2022-01-10", outstanding_principal="0.00"))

    resp = await world.claim("L-CL")

    assert resp.status_code == 409
    assert resp.json()["loan_status"] == "closed"


async def test_a_city_top_up_pays_claims_waiting_on_a_county_fund(world: World, client: httpx.AsyncClient) -> None:
    await world.fund(code="city", region="411200000000", level="city", deposit="50000.00")
    await world.fund(deposit="10000.00")
    await world.scheme()
    await world.defaulted_loan("L-T")
    await world.withdraw_to("lushi", "0.00")
    assert (await world.claim("L-T")).json()["status"] == "awaiting_funds"

    resp = await client.post("/v1/funds/city/top-ups", json={"amount": "20000.00"}, headers=world.a.finance)

    assert resp.status_code == 201, resp.text
    assert resp.json()["claims_paid"] == 1
    assert (await client.get("/v1/funds/lushi", headers=world.a.finance)).json()["balance"] == "9565.00"
