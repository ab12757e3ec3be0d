"""Applications service tables.

Invariants the database holds itself (CHECKs, unique indexes, triggers) are added by hand in
``migrations/versions/0001_initial.py``; the comments there say which rule each one states.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ARRAY, BigInteger, Column, Date, DateTime, ForeignKey, Identity, Numeric, SmallInteger, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import UserDefinedType
from sqlmodel import Field, SQLModel


class Xid8(UserDefinedType[int]):
    """PostgreSQL's 64-bit transaction id (``pg_current_xact_id()``), comparable with a snapshot's xmin."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "xid8"


def _money(nullable: bool = False) -> Any:
    return Column(Numeric(20, 2), nullable=nullable)


def _rate(nullable: bool = False) -> Any:
    return Column(Numeric(9, 6), nullable=nullable)


def _created() -> Any:
    return Column(DateTime(timezone=True), nullable=False, server_default=func.now())


class BusinessDate(SQLModel, table=True):
    """The platform's one business date (业务日期): the clock of delinquency, moved forward only."""

    __tablename__ = "business_date"

    id: int = Field(default=1, sa_column=Column(SmallInteger, primary_key=True))
    business_date: date = Field(sa_column=Column(Date, nullable=False))
    updated_at: datetime = Field(sa_column=_created())


class Region(SQLModel, table=True):
    """A county, township or village, keyed by its 12-digit statistical division code."""

    __tablename__ = "regions"

    code: str = Field(sa_column=Column(Text, primary_key=True))
    level: str = Field(sa_column=Column(Text, nullable=False))
    name: str = Field(sa_column=Column(Text, nullable=False))
    parent_code: str | None = Field(default=None, sa_column=Column(Text, ForeignKey("regions.code"), nullable=True, index=True))
    updated_at: datetime = Field(sa_column=_created())


class Household(SQLModel, table=True):
    """A 建档立卡 household from the poverty office's registry."""

    __tablename__ = "households"

    household_id: str = Field(sa_column=Column(Text, primary_key=True))
    head_resident_id: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    head_name: str = Field(sa_column=Column(Text, nullable=False))
    village_code: str = Field(sa_column=Column(Text, ForeignKey("regions.code"), nullable=False, index=True))
    township_code: str = Field(sa_column=Column(Text, nullable=False))
    county_code: str = Field(sa_column=Column(Text, nullable=False, index=True))
    household_type: str = Field(sa_column=Column(Text, nullable=False))
    main_cause: str = Field(sa_column=Column(Text, nullable=False))
    secondary_causes: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False, server_default="{}"))
    members: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))
    status: str = Field(sa_column=Column(Text, nullable=False))
    applied_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    democratic_vote_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    village_notice_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    township_notice_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    county_announcement_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    updated_at: datetime = Field(sa_column=_created())


class Enterprise(SQLModel, table=True):
    """An enterprise or workshop (扶贫车间) that may borrow to drive (带贫) households."""

    __tablename__ = "enterprises"

    enterprise_id: str = Field(sa_column=Column(Text, primary_key=True))
    name: str = Field(sa_column=Column(Text, nullable=False))
    village_code: str = Field(sa_column=Column(Text, ForeignKey("regions.code"), nullable=False))
    township_code: str = Field(sa_column=Column(Text, nullable=False))
    county_code: str = Field(sa_column=Column(Text, nullable=False, index=True))
    created_at: datetime = Field(sa_column=_created())


class LendingPolicy(SQLModel, table=True):
    """One version of a county's lending policy profile, in force from ``effective_from``."""

    __tablename__ = "lending_policies"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    county_code: str = Field(sa_column=Column(Text, nullable=False))
    effective_from: date = Field(sa_column=Column(Date, nullable=False))
    profile: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    created_by: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=_created())


class Application(SQLModel, table=True):
    """A loan application moving through the approval chain."""

    __tablename__ = "applications"

    application_id: str = Field(sa_column=Column(Text, primary_key=True))
    no: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), nullable=False, unique=True))
    borrower_type: str = Field(sa_column=Column(Text, nullable=False))
    household_id: str | None = Field(default=None, sa_column=Column(Text, ForeignKey("households.household_id"), nullable=True))
    enterprise_id: str | None = Field(default=None, sa_column=Column(Text, ForeignKey("enterprises.enterprise_id"), nullable=True))
    registered_poor: bool = Field(nullable=False)
    village_code: str = Field(sa_column=Column(Text, nullable=False, index=True))
    township_code: str = Field(sa_column=Column(Text, nullable=False))
    county_code: str = Field(sa_column=Column(Text, nullable=False))
    amount: Decimal = Field(sa_column=_money())
    term_months: int = Field(nullable=False)
    purpose: str = Field(sa_column=Column(Text, nullable=False))
    industry: str = Field(sa_column=Column(Text, nullable=False))
    project: str = Field(sa_column=Column(Text, nullable=False, server_default=""))
    status: str = Field(sa_column=Column(Text, nullable=False))
    village_secretary: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    resident_secretary: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    credit_officer: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    bank_id: str | None = Field(default=None, sa_column=Column(Text, nullable=True, index=True))
    approved_amount: Decimal | None = Field(default=None, sa_column=_money(nullable=True))
    annual_rate: Decimal | None = Field(default=None, sa_column=_rate(nullable=True))
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    loan_id: str | None = Field(default=None, sa_column=Column(Text, nullable=True, unique=True))
    submitted_on: date = Field(sa_column=Column(Date, nullable=False))
    submitted_at: datetime = Field(sa_column=_created())
    decided_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    decided_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    updated_at: datetime = Field(sa_column=_created())


class ApplicationStep(SQLModel, table=True):
    """One step of the chain, with its actor and time (every step is timestamped)."""

    __tablename__ = "application_steps"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    application_id: str = Field(sa_column=Column(Text, ForeignKey("applications.application_id"), nullable=False, index=True))
    step: str = Field(sa_column=Column(Text, nullable=False))
    from_status: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    to_status: str = Field(sa_column=Column(Text, nullable=False))
    actor: str = Field(sa_column=Column(Text, nullable=False))
    actor_role: str = Field(sa_column=Column(Text, nullable=False))
    business_date: date = Field(sa_column=Column(Date, nullable=False))
    detail: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False, server_default="{}"))
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()))


class DrivenHousehold(SQLModel, table=True):
    """A household driven (带贫) by an enterprise application or loan; active while it drives."""

    __tablename__ = "driven_households"

    application_id: str = Field(sa_column=Column(Text, ForeignKey("applications.application_id"), primary_key=True))
    household_id: str = Field(sa_column=Column(Text, ForeignKey("households.household_id"), primary_key=True))
    active: bool = Field(nullable=False, default=True)


class Loan(SQLModel, table=True):
    """A disbursed loan contract."""

    __tablename__ = "loans"

    loan_id: str = Field(sa_column=Column(Text, primary_key=True))
    no: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), nullable=False, unique=True))
    application_id: str = Field(sa_column=Column(Text, ForeignKey("applications.application_id"), nullable=False, unique=True))
    borrower_type: str = Field(sa_column=Column(Text, nullable=False))
    household_id: str | None = Field(default=None, sa_column=Column(Text, nullable=True, index=True))
    enterprise_id: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    registered_poor: bool = Field(nullable=False)
    village_code: str = Field(sa_column=Column(Text, nullable=False, index=True))
    township_code: str = Field(sa_column=Column(Text, nullable=False))
    county_code: str = Field(sa_column=Column(Text, nullable=False))
    bank_id: str = Field(sa_column=Column(Text, nullable=False, index=True))
    principal: Decimal = Field(sa_column=_money())
    annual_rate: Decimal = Field(sa_column=_rate())
    start_date: date = Field(sa_column=Column(Date, nullable=False))
    term_months: int = Field(nullable=False)
    maturity_date: date = Field(sa_column=Column(Date, nullable=False))
    purpose: str = Field(sa_column=Column(Text, nullable=False))
    industry: str = Field(sa_column=Column(Text, nullable=False))
    driven_households: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False, server_default="{}"))
    status: str = Field(sa_column=Column(Text, nullable=False, index=True))
    outstanding_principal: Decimal = Field(sa_column=_money())
    renewals: int = Field(default=0, nullable=False)
    extensions: int = Field(default=0, nullable=False)
    default_date: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    diverted: bool = Field(default=False, nullable=False)
    created_at: datetime = Field(sa_column=_created())
    updated_at: datetime = Field(sa_column=_created())


class Installment(SQLModel, table=True):
    """One loan year of the schedule ("1年1还": interest and that year's principal due yearly)."""

    __tablename__ = "loan_installments"

    loan_id: str = Field(sa_column=Column(Text, ForeignKey("loans.loan_id"), primary_key=True))
    loan_year: int = Field(sa_column=Column(SmallInteger, primary_key=True))
    due_date: date = Field(sa_column=Column(Date, nullable=False))
    interest_due: Decimal = Field(sa_column=_money())
    principal_due: Decimal = Field(sa_column=_money())
    interest_paid: Decimal = Field(sa_column=Column(Numeric(20, 2), nullable=False, server_default="0"))
    principal_paid: Decimal = Field(sa_column=Column(Numeric(20, 2), nullable=False, server_default="0"))
    late_interest_count: int = Field(sa_column=Column(SmallInteger, nullable=False, server_default="0"))


class Repayment(SQLModel, table=True):
    """A repayment reported by the bank; a bank reference is recorded once per bank."""

    __tablename__ = "repayments"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    loan_id: str = Field(sa_column=Column(Text, ForeignKey("loans.loan_id"), nullable=False, index=True))
    bank_id: str = Field(sa_column=Column(Text, nullable=False))
    bank_reference: str = Field(sa_column=Column(Text, nullable=False))
    kind: str = Field(sa_column=Column(Text, nullable=False))
    amount: Decimal = Field(sa_column=_money())
    value_date: date = Field(sa_column=Column(Date, nullable=False))
    loan_year: int = Field(nullable=False)
    due_date: date = Field(sa_column=Column(Date, nullable=False))
    late: bool = Field(nullable=False)
    outstanding_principal: Decimal = Field(sa_column=_money())
    business_date: date = Field(sa_column=Column(Date, nullable=False))
    recorded_by: str = Field(sa_column=Column(Text, nullable=False))
    recorded_at: datetime = Field(sa_column=_created())


class LoanEvent(SQLModel, table=True):
    """The append-only loan event log other services read (a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "loan_events"

    seq: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    loan_id: str = Field(sa_column=Column(Text, nullable=False, index=True))
    type: str = Field(sa_column=Column(Text, nullable=False))
    business_date: date = Field(sa_column=Column(Date, nullable=False))
    data: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    # the writing transaction: readers take only events of transactions below their snapshot's xmin
    txid: int = Field(sa_column=Column(Xid8(), nullable=False, server_default=func.pg_current_xact_id()))
    recorded_at: datetime = Field(sa_column=_created())
