"""The funds and the five loss-sharing schemes of policy.md §6, shipped as data (``data/policy.json``).

``python -m risk_pool.seed`` loads them into the service's database through the same service
functions the API uses (so every rule and database check applies); what exists already is kept.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.db import create_engine, create_sessionmaker, database_url
from kit.errors import Conflict
from risk_pool import service
from risk_pool.schemas import FundCreate, SchemeCreate
from risk_pool.settings import Settings

SEED_PRINCIPAL = Principal(subject="seed", kind="service", roles=frozenset({"admin"}), scopes=frozenset({"risk:write"}))


def policy_data() -> dict[str, Any]:
    return json.loads((resources.files("risk_pool") / "data" / "policy.json").read_text(encoding="utf-8"))


def scheme_requests(data: dict[str, Any] | None = None) -> list[SchemeCreate]:
    """One scheme per county and borrower type, as the API takes them."""
    data = data or policy_data()
    out = []
    for scheme in data["schemes"]:
        body = {k: v for k, v in scheme.items() if k != "counties"}
        out += [SchemeCreate.model_validate({**body, "county_code": county}) for county in scheme["counties"]]
    return out


async def load(*, session: AsyncSession, principal: Principal = SEED_PRINCIPAL) -> dict[str, int]:
    data = policy_data()
    funds = schemes = 0
    for fund in data["funds"]:
        try:
            await service.create_fund(session=session, principal=principal, data=FundCreate.model_validate(
                {k: v for k, v in fund.items() if k != "opening_deposit"}))
        except Conflict:
            continue
        funds += 1
        if fund["opening_deposit"]:
            await service.deposit(session=session, principal=principal, code=fund["code"], amount=Decimal(fund["opening_deposit"]),
                                  memo="opening deposit (policy.md §6)", reference="opening", value_date=date(2017, 1, 1))
    for request in scheme_requests(data):
        try:
            await service.create_scheme(session=session, principal=principal, data=request)
        except Conflict:
            continue
        schemes += 1
    return {"funds": funds, "schemes": schemes}


async def _main() -> None:
    settings = Settings()
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is not set")
    engine = create_engine(database_url(settings.database_url, settings.database_name))
    try:
        async with create_sessionmaker(engine)() as session:
            counts = await load(session=session)
            await session.commit()
        print(f"loaded {counts['funds']} funds and {counts['schemes']} schemes")
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(_main())
