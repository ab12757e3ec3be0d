"""The database refuses what the code must never do, even if a bug tried: overdrafts,
unbalanced journal entries, balances moved outside the journal, shares not summing to 100%,
claim parts not adding up to the loss, edits to the ledger."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kit.testing import rolled_back


@pytest.fixture
async def conn(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with rolled_back(engine) as conn:
        await conn.execute(text("INSERT INTO funds (id, code, name, level, region_code, county_code, created_by) "
                                "VALUES (900, 'f', 'f', 'county', '411224000000', '411224000000', 't')"))
        yield conn


async def _entry(conn: AsyncConnection, entry_id: int, *lines: tuple[str, int | None, str]) -> None:
    await conn.execute(text("INSERT INTO journal_entries (id, kind, entry_date, created_by) VALUES (:id, 'deposit', '2021-01-01', 't')"),
                       {"id": entry_id})
    for account, fund_id, amount in lines:
        await conn.execute(text("INSERT INTO journal_lines (entry_id, account, fund_id, amount) VALUES (:e, :a, :f, CAST(:m AS numeric))"),
                           {"e": entry_id, "a": account, "f": fund_id, "m": amount})


async def _commit_checks(conn: AsyncConnection) -> None:
    """Fire the deferred constraint triggers now, as a commit would."""
    await conn.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))


async def test_an_unbalanced_journal_entry_is_refused_at_commit(conn: AsyncConnection) -> None:
    await _entry(conn, 9001, ("fund:f", 900, "100.00"), ("treasury:f", None, "-99.99"))
    with pytest.raises(DBAPIError, match="not balanced"):
        await _commit_checks(conn)


async def test_a_balanced_entry_moves_the_fund_balance(conn: AsyncConnection) -> None:
    await _entry(conn, 9002, ("fund:f", 900, "100.00"), ("treasury:f", None, "-100.00"))
    await _commit_checks(conn)
    assert await conn.scalar(text("SELECT balance FROM funds WHERE id = 900")) == 100


async def test_a_fund_balance_never_goes_negative(conn: AsyncConnection) -> None:
    with pytest.raises(DBAPIError, match="fund_balance_never_negative"):
        await _entry(conn, 9003, ("fund:f", 900, "-0.01"), ("bank:RCC", None, "0.01"))


async def test_a_balance_cannot_be_set_outside_the_journal(conn: AsyncConnection) -> None:
    with pytest.raises(DBAPIError, match="only through journal lines"):
        await conn.execute(text("UPDATE funds SET balance = 1000000 WHERE id = 900"))


async def test_the_ledger_is_append_only(conn: AsyncConnection) -> None:
    await _entry(conn, 9004, ("fund:f", 900, "5.00"), ("treasury:f", None, "-5.00"))
    with pytest.raises(DBAPIError, match="append-only"):
        await conn.execute(text("UPDATE journal_lines SET amount = 6 WHERE entry_id = 9004 AND fund_id = 900"))


async def test_scheme_shares_must_sum_to_one(conn: AsyncConnection) -> None:
    await conn.execute(text("INSERT INTO sharing_schemes (id, name, county_code, borrower_type, effective_from, leverage, "
                            "claim_trigger_days, guarantee_fee_rate, fee_day_basis, created_by) "
                            "VALUES (900, 's', '411224000000', 'household', '2020-01-01', 10, 90, 0, 360, 't')"))
    await conn.execute(text("INSERT INTO scheme_shares (scheme_id, party, share, position) VALUES (900, 'government', 0.5, 1), "
                            "(900, 'bank', 0.49, 2)"))
    with pytest.raises(DBAPIError, match=r"sum to 0\.99"):
        await _commit_checks(conn)


async def test_claim_parts_must_add_up_to_the_loss(conn: AsyncConnection) -> None:
    await conn.execute(text("INSERT INTO sharing_schemes (id, name, county_code, borrower_type, effective_from, leverage, "
                            "claim_trigger_days, guarantee_fee_rate, fee_day_basis, created_by) "
                            "VALUES (901, 's', '411224000000', 'household', '2020-01-01', 10, 90, 0, 360, 't')"))
    await conn.execute(text("INSERT INTO scheme_shares (scheme_id, party, share, position) VALUES (901, 'bank', 1, 1)"))
    await conn.execute(text("""INSERT INTO claims (id, loan_id, bank_id, borrower_type, village_code, county_code, scheme_id, fund_id,
        days_past_due, covered_principal, covered_interest, loss, government_part, status, business_date, filed_by)
        VALUES (900, 'L', 'RCC', 'household', '411224100201', '411224000000', 901, 900, 95, 100, 0, 100, 0, 'paid', '2022-01-01', 't')"""))
    await conn.execute(text("INSERT INTO claim_parts (claim_id, party, party_account, share, amount, position) "
                            "VALUES (900, 'bank', 'RCC', 1, 99.99, 1)"))
    with pytest.raises(DBAPIError, match="not its loss"):
        await _commit_checks(conn)


async def test_one_claim_per_loan_is_unique(conn: AsyncConnection) -> None:
    await conn.execute(text("INSERT INTO sharing_schemes (id, name, county_code, borrower_type, effective_from, leverage, "
                            "claim_trigger_days, guarantee_fee_rate, fee_day_basis, created_by) "
                            "VALUES (902, 's', '411224000000', 'household', '2020-01-01', 10, 90, 0, 360, 't')"))
    insert = text("""INSERT INTO claims (loan_id, bank_id, borrower_type, village_code, county_code, scheme_id, fund_id,
        days_past_due, covered_principal, covered_interest, loss, government_part, status, business_date, filed_by)
        VALUES ('L-U', 'RCC', 'household', '411224100201', '411224000000', 902, 900, 95, 100, 0, 100, 0, 'paid', '2022-01-01', 't')""")
    await conn.execute(insert)
    with pytest.raises(DBAPIError, match="one_claim_per_loan"):
        await conn.execute(insert)
