"""Risk-pool benchmark: 10,000 claims split and posted in one batch; 1,000 concurrent claims
against one small fund (no overdraft, journal = balance); loan events applied set-based.

Run: ``DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python services/risk-pool/bench/run.py [--scale 0.1]``
Builds its own scratch database, prints one line per figure and writes
``bench/results/risk-pool.json`` at the repository root.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from kit.auth import Principal
from kit.testing import migrated_database
from risk_pool import service
from risk_pool.schemas import FundCreate, LoanEventIn, SchemeCreate

ROOT = Path(__file__).resolve().parents[3]
ADMIN = Principal(subject="bench-admin", roles=frozenset({"admin"}), scopes=frozenset({"risk:write", "internal"}))
BANK = Principal(subject="bench-bank", kind="client", roles=frozenset({"bank"}), scopes=frozenset({"risk:write"}), bank_id="RCC")
SHARES = [{"party": "government", "share": "0.20"}, {"party": "bank", "share": "0.10"},
          {"party": "guarantor", "share": "0.50", "party_account": "guarantor"},
          {"party": "reguarantor", "share": "0.20", "party_account": "reguarantor"}]
EVENT_CHUNK = 5_000


def _event(seq: int, loan: str, kind: str, on: str, county: str, village_no: int, **data: Any) -> dict[str, Any]:
    village = f"{county[:6]}{100 + village_no // 100 % 10:03d}{village_no % 100 + 200:03d}"
    return {"seq": seq, "loan_id": loan, "type": kind, "business_date": on, "data": {
        "household_id": f"H-{loan}", "enterprise_id": None, "borrower_type": "household", "registered_poor": True,
        "village_code": village, "township_code": village[:9] + "000", "county_code": county, "bank_id": "RCC",
        "principal": "30000.00", "annual_rate": "0.043500", "start_date": "2021-01-10", "maturity_date": "2024-01-10",
        "industry": "茶", "driven_households": [], **data}}


async def _setup(maker: async_sessionmaker[Any], *, code: str, county: str, deposit: str) -> None:
    async with maker() as session:
        await service.create_fund(session=session, principal=ADMIN, data=FundCreate(code=code, name=code, level="county", region_code=county))
        await service.deposit(session=session, principal=ADMIN, code=code, amount=Decimal(deposit), memo="bench", reference=None,
                              value_date=None)
        await service.create_scheme(session=session, principal=ADMIN, data=SchemeCreate.model_validate({
            "name": code, "county_code": county, "borrower_type": "household", "effective_from": "2020-01-01", "shares": SHARES,
            "covered_principal_cap": "50000.00"}))
        await session.commit()


async def _load_defaulted_loans(maker: async_sessionmaker[Any], *, loans: Sequence[str], county: str, first_seq: int) -> float:
    """Disburse and default every loan through the event entry point, in chunks; returns seconds."""
    events = [_event(first_seq + i, loan, "disbursed", "2021-01-10", county, i) for i, loan in enumerate(loans)]
    events += [_event(first_seq + len(loans) + i, loan, "defaulted", "2022-04-15", county, i, days_past_due=95,
                      outstanding_principal="30000.00", unpaid_interest="1305.00", default_date="2022-04-15")
               for i, loan in enumerate(loans)]
    started = time.perf_counter()
    for at in range(0, len(events), EVENT_CHUNK):
        chunk = [LoanEventIn.model_validate(e) for e in events[at:at + EVENT_CHUNK]]
        async with maker() as session:
            await service.apply_events(session=session, events=chunk)
            await session.commit()
    return time.perf_counter() - started


async def _ledger(engine: AsyncEngine, code: str) -> tuple[Decimal, Decimal, int, int]:
    async with engine.connect() as conn:
        balance = await conn.scalar(text("SELECT balance FROM funds WHERE code = :c"), {"c": code})
        journal = await conn.scalar(text("SELECT coalesce(sum(l.amount), 0) FROM journal_lines l JOIN funds f ON f.id = l.fund_id "
                                         "WHERE f.code = :c"), {"c": code})
        paid = await conn.scalar(text("SELECT count(*) FROM claims c JOIN funds f ON f.id = c.fund_id WHERE f.code = :c "
                                      "AND c.status = 'paid'"), {"c": code})
        waiting = await conn.scalar(text("SELECT count(*) FROM claims c JOIN funds f ON f.id = c.fund_id WHERE f.code = :c "
                                         "AND c.status = 'awaiting_funds'"), {"c": code})
    return Decimal(balance), Decimal(journal), paid, waiting


async def _file_one(maker: async_sessionmaker[Any], loan: str) -> None:
    async with maker() as session:
        await service.file_claims(session=session, principal=BANK, loan_ids=[loan])
        await session.commit()


async def run(scale: float) -> dict[str, Any]:
    server = os.environ.get("DATABASE_URL")
    if not server:
        raise SystemExit("set DATABASE_URL to a PostgreSQL server")
    n_batch = max(10, int(10_000 * scale))
    n_concurrent = max(10, int(1_000 * scale))
    figures: dict[str, Any] = {"scale": scale, "batch_claims": n_batch, "concurrent_claims": n_concurrent}
    async with migrated_database(server, "risk_pool") as url:
        engine = create_async_engine(url, pool_size=20, max_overflow=20, pool_timeout=120)
        maker = async_sessionmaker(engine, expire_on_commit=False)
        try:
            # 1. 10,000 claims split and posted in one batch, against a fund large enough to pay them all
            await _setup(maker, code="big", county="411224000000", deposit="1000000000.00")
            loans = [f"B-{i}" for i in range(n_batch)]
            events_seconds = await _load_defaulted_loans(maker, loans=loans, county="411224000000", first_seq=1)
            figures["events_applied"] = 2 * n_batch
            figures["events_seconds"] = round(events_seconds, 3)
            started = time.perf_counter()
            async with maker() as session:
                result = await service.file_claims(session=session, principal=BANK, loan_ids=loans)
                await session.commit()
            figures["batch_seconds"] = round(time.perf_counter() - started, 3)
            figures["batch_paid"] = result["paid"]
            balance, journal, _, _ = await _ledger(engine, "big")
            figures["batch_journal_equals_balance"] = balance == journal

            # 2. 1,000 concurrent claims against one small fund: government part 6,261.00 each
            small_deposit = Decimal("6261.00") * (n_concurrent // 2) + Decimal("123.45")
            await _setup(maker, code="small", county="411202000000", deposit="10000000.00")
            small = [f"S-{i}" for i in range(n_concurrent)]
            await _load_defaulted_loans(maker, loans=small, county="411202000000", first_seq=10 * n_batch + 1)
            async with maker() as session:  # shrink the fund once cover is granted: only half the claims can be paid
                await service.withdraw(session=session, principal=ADMIN, code="small", amount=Decimal("10000000.00") - small_deposit,
                                       memo="bench: leave a small fund", reference=None, value_date=None)
                await session.commit()
            started = time.perf_counter()
            await asyncio.gather(*[_file_one(maker, loan) for loan in small])
            figures["concurrent_seconds"] = round(time.perf_counter() - started, 3)
            balance, journal, paid, waiting = await _ledger(engine, "small")
            figures.update(concurrent_paid=paid, concurrent_awaiting_funds=waiting, concurrent_final_balance=f"{balance:.2f}",
                           concurrent_no_overdraft=balance >= 0, concurrent_journal_equals_balance=balance == journal)
        finally:
            await engine.dispose()
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full sizes (10,000 and 1,000 claims)")
    args = parser.parse_args()
    figures = asyncio.run(run(args.scale))
    for key, value in figures.items():
        print(f"{key}: {value}")
    out = ROOT / "bench" / "results" / "risk-pool.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
