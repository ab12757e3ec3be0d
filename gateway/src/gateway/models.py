"""Gateway tables: who may call, the keys that sign their tokens, and idempotency records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, LargeBinary, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel


class Account(SQLModel, table=True):
    """A client (organisation: bank, department, insurer, guarantor, service) or a user (officer,
    applicant). ``name`` is the client_id or the username."""

    __tablename__ = "accounts"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_column=Column(String(10), nullable=False))  # client | user
    name: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    display_name: str = Field(default="", max_length=200)
    secret_hash: str = Field(max_length=200)
    roles: list[str] = Field(sa_column=Column(ARRAY(String(32)), nullable=False))
    region: str | None = Field(default=None, max_length=12)
    bank_id: str | None = Field(default=None, max_length=32)
    household_id: str | None = Field(default=None, max_length=64)
    disabled: bool = False
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))


class SigningKey(SQLModel, table=True):
    """An RS256 key pair; the private half is encrypted with the key-encryption secret. Retired keys
    stay published until every token they signed has expired."""

    __tablename__ = "signing_keys"

    kid: str = Field(primary_key=True, max_length=64)
    private_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    public_jwk: dict = Field(sa_column=Column(JSONB, nullable=False))  # type: ignore[type-arg]
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
    retired_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class IdempotencyRecord(SQLModel, table=True):
    """The first response to a (caller, Idempotency-Key); replayed for retries until it expires."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("subject", "key", name="uq_idempotency_subject_key"),)

    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(max_length=64)
    key: str = Field(max_length=200)
    request_hash: str = Field(max_length=64)
    state: str = Field(max_length=12)  # in_flight | done
    status_code: int | None = None
    content_type: str | None = Field(default=None, max_length=100)
    body: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class WebhookEndpoint(SQLModel, table=True):
    """Where a bank wants its notifications; the signing secret is encrypted at rest."""

    __tablename__ = "webhook_endpoints"

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(max_length=64, unique=True)
    bank_id: str = Field(max_length=32, index=True)
    url: str = Field(max_length=2000)
    secret: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    event_types: list[str] = Field(sa_column=Column(ARRAY(String(64)), nullable=False))
    enabled: bool = True
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))


class WebhookDelivery(SQLModel, table=True):
    """One message to one endpoint, with its attempts: the delivery log."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("endpoint_id", "message_id", name="uq_delivery_endpoint_message"),)

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(foreign_key="webhook_endpoints.id", index=True)
    message_id: str = Field(max_length=64)
    event_type: str = Field(max_length=64)
    payload: dict = Field(sa_column=Column(JSONB, nullable=False))  # type: ignore[type-arg]
    status: str = Field(default="pending", max_length=12)  # pending | delivered | failed
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now(), index=True))
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
