"""Gateway request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.domain import ROLES
from kit.identifiers import division_code_error


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    scope: str


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["client", "user"]
    name: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$", description="client_id or username")
    display_name: str = Field("", max_length=200)
    secret: str = Field(min_length=12, max_length=200, description="client secret or password (stored as an Argon2 hash)")
    roles: list[str] = Field(min_length=1, max_length=4)
    region: str | None = Field(None, description="12-digit division code the account is confined to; omit for province-wide")
    bank_id: str | None = Field(None, max_length=32, description="required for the bank role")
    household_id: str | None = Field(None, max_length=64, description="required for the applicant role")

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, roles: list[str]) -> list[str]:
        unknown = sorted(set(roles) - ROLES)
        if unknown:
            raise ValueError(f"unknown roles {unknown}; known: {sorted(ROLES)}")
        return roles

    @field_validator("region")
    @classmethod
    def _region(cls, region: str | None) -> str | None:
        if region is not None and (err := division_code_error(region)):
            raise ValueError(err)
        return region


class AccountPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    name: str
    display_name: str
    roles: list[str]
    scopes: list[str] = []
    region: str | None
    bank_id: str | None
    household_id: str | None
    disabled: bool
    created_at: datetime


class AccountPage(BaseModel):
    items: list[AccountPublic]
    next_cursor: str | None


class KeyRotated(BaseModel):
    kid: str
    previous_keys_published_until: datetime


class Jwks(BaseModel):
    keys: list[dict[str, object]]


class WebhookEndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://", max_length=2000, description="where notifications are POSTed")
    event_types: list[str] = Field(
        default=["application.recommended", "claim.settled", "subsidy.paid"], min_length=1, description="which notifications to receive"
    )
    enabled: bool = True
    rotate_secret: bool = Field(False, description="issue a new signing secret (returned once)")

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, types: list[str]) -> list[str]:
        from gateway.webhooks import EVENT_TYPES

        unknown = sorted(set(types) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {list(EVENT_TYPES)}")
        return types


class WebhookEndpointPublic(BaseModel):
    url: str
    event_types: list[str]
    enabled: bool
    bank_id: str
    secret: str | None = Field(None, description="the signing secret; only in the answer that created or rotated it")


class WebhookEvent(BaseModel):
    """A notification from a service's outbox relay."""

    model_config = ConfigDict(extra="forbid")

    message_id: str = Field(min_length=1, max_length=64)
    topic: str
    payload: dict[str, object]


class WebhookEventsAccepted(BaseModel):
    received: int
    deliveries_created: int


class WebhookDeliveryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    message_id: str
    event_type: str
    payload: dict[str, object]
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class WebhookDeliveryPage(BaseModel):
    items: list[WebhookDeliveryPublic]
    next_cursor: str | None
