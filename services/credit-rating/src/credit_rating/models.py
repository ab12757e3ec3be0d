"""Credit-rating service tables. Invariants the database also holds (CHECKs, partial unique indexes,
immutability triggers) are added by hand in the migration."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ARRAY, JSON, BigInteger, Boolean, Column, Date, DateTime, ForeignKey, Integer, Numeric, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


def _now() -> Any:
    return Column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Scorecard(SQLModel, table=True):
    """A versioned indicator catalogue (评分卡); the id is the version number. Published = frozen."""

    __tablename__ = "scorecards"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    name: str = Field(sa_column=Column(Text, nullable=False))
    county_code: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status: str = Field(default="draft", sa_column=Column(Text, nullable=False, server_default="draft"))
    definition: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    indicator_count: int = Field(sa_column=Column(Integer, nullable=False))
    created_by: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=_now())
    published_by: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    published_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class RatingHousehold(SQLModel, table=True):
    """The roster: every household known here (registered poor households for the coverage figure,
    and any household ever assessed). Its row is the lock that serialises assessments of a household;
    the current assessment is the one with ``is_current`` (unique per household)."""

    __tablename__ = "rating_households"

    household_id: str = Field(sa_column=Column(Text, primary_key=True))
    village_code: str = Field(sa_column=Column(Text, nullable=False))
    registered: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false")))
    updated_at: datetime | None = Field(default=None, sa_column=_now())


class Assessment(SQLModel, table=True):
    """One 四个一 assessment of one household with the scorecard version it used."""

    __tablename__ = "assessments"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    household_id: str = Field(sa_column=Column(Text, nullable=False))
    village_code: str = Field(sa_column=Column(Text, nullable=False))
    scorecard_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    scorecard_status: str = Field(default="published", sa_column=Column(Text, nullable=False, server_default="published"))
    assessed_on: date = Field(sa_column=Column(Date, nullable=False))
    valid_until: date = Field(sa_column=Column(Date, nullable=False))
    score: int = Field(sa_column=Column(Integer, nullable=False))
    raw_score: int = Field(sa_column=Column(Integer, nullable=False))
    base_points: int = Field(sa_column=Column(Integer, nullable=False))
    bonus_points: int = Field(sa_column=Column(Integer, nullable=False))
    deduction_points: int = Field(sa_column=Column(Integer, nullable=False))
    grade: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    credit_line: Decimal | None = Field(default=None, sa_column=Column(Numeric(20, 2), nullable=True))
    vetoed: bool = Field(nullable=False)
    veto_reasons: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    # the answers as given, stored verbatim (json, not jsonb: a campaign is written far more than searched)
    indicator_values: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # (base, bonus, deduction) per category, in the recorded scorecard version's category order
    category_points: list[int] = Field(sa_column=Column(ARRAY(Integer), nullable=False))
    is_current: bool = Field(default=True, nullable=False)
    supersedes_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    superseded_by_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    assessed_by: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=_now())


class AssessmentReview(SQLModel, table=True):
    """A township or county officer's review of an assessment in its region: confirmed, or disputed
    with a note (the village is then expected to re-assess)."""

    __tablename__ = "assessment_reviews"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    assessment_id: int = Field(sa_column=Column(BigInteger, ForeignKey("assessments.id"), nullable=False))
    decision: str = Field(sa_column=Column(Text, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reviewer: str = Field(sa_column=Column(Text, nullable=False))
    reviewer_role: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=_now())


class Penalty(SQLModel, table=True):
    """A deduction fed back from a loan event (失信严惩), counted against the assessment current
    when it arrived; none when the household had no rating then."""

    __tablename__ = "penalties"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    household_id: str = Field(sa_column=Column(Text, nullable=False))
    assessment_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("assessments.id"), nullable=True))
    points: int = Field(sa_column=Column(Integer, nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    loan_id: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    event_seq: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime | None = Field(default=None, sa_column=_now())


class BlacklistEntry(SQLModel, table=True):
    """失信 blacklist: a household with an entry not removed is vetoed."""

    __tablename__ = "blacklist_entries"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    household_id: str = Field(sa_column=Column(Text, nullable=False))
    village_code: str = Field(sa_column=Column(Text, nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    source: str = Field(sa_column=Column(Text, nullable=False))
    actor: str = Field(sa_column=Column(Text, nullable=False))
    loan_id: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    event_seq: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime | None = Field(default=None, sa_column=_now())
    removed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    removed_by: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    removal_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class AppliedLoanEvent(SQLModel, table=True):
    """Each loan event is applied once: the primary key on ``seq`` makes a replay a no-op."""

    __tablename__ = "applied_loan_events"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    loan_id: str = Field(sa_column=Column(Text, nullable=False))
    type: str = Field(sa_column=Column(Text, nullable=False))
    household_id: str = Field(sa_column=Column(Text, nullable=False))
    action: str = Field(sa_column=Column(Text, nullable=False))
    points: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    applied_at: datetime | None = Field(default=None, sa_column=_now())


class Certificate(SQLModel, table=True):
    """信用证: issued for a rated household; revoked on veto or blacklist."""

    __tablename__ = "certificates"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    number: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    household_id: str = Field(sa_column=Column(Text, nullable=False))
    village_code: str = Field(sa_column=Column(Text, nullable=False))
    assessment_id: int = Field(sa_column=Column(BigInteger, ForeignKey("assessments.id"), nullable=False))
    grade: str = Field(sa_column=Column(Text, nullable=False))
    credit_line: Decimal = Field(sa_column=Column(Numeric(20, 2), nullable=False))
    issued_on: date = Field(sa_column=Column(Date, nullable=False))
    valid_until: date = Field(sa_column=Column(Date, nullable=False))
    issued_by: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="valid", sa_column=Column(Text, nullable=False, server_default="valid"))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    revoked_by: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    revoked_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime | None = Field(default=None, sa_column=_now())
