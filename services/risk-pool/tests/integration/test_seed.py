"""The policy data loads through the service: the report's funds with their opening deposits and
ten county schemes; loading twice adds nothing."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kit.testing import rolled_back
from risk_pool import seed


async def test_policy_data_loads_funds_and_schemes_once(engine: AsyncEngine) -> None:
    async with rolled_back(engine) as conn:
        session = AsyncSession(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        first = await seed.load(session=session)
        second = await seed.load(session=session)
        balances = dict((await conn.execute(text("SELECT code, balance FROM funds ORDER BY code"))).all())
        await conn.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))  # the shares and journal checks a commit would run
        await session.close()

    assert first == {"funds": 6, "schemes": 10}
    assert second == {"funds": 0, "schemes": 0}
    assert {k: f"{v:.2f}" for k, v in balances.items()} == {
        "hubin": "13000000.00", "lingbao": "10000000.00", "lushi": "50000000.00", "mianchi": "0.00",
        "sanmenxia-city": "30000000.00", "shanzhou": "0.00"}
