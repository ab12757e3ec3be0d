"""Settings base: every process reads its configuration from the environment, validated at start."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]


class BaseServiceSettings(BaseSettings):
    """Fields shared by every process. Shared fields read unprefixed variables (``DATABASE_URL``);
    a subclass sets ``env_prefix`` for its own (``APPLICATIONS_PORT``)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    environment: Environment = Field("development", validation_alias="ENVIRONMENT")
    database_url: str | None = Field(
        None,
        validation_alias="DATABASE_URL",
        description="PostgreSQL server URL; each process uses its own database on it (database_name).",
    )
    database_name: str = "fupin"
    host: str = "127.0.0.1"
    port: int = 8000
    jwks_url: str = Field("http://127.0.0.1:8000/.well-known/jwks.json", validation_alias="JWKS_URL")
    jwt_issuer: str = Field("fupin-gateway", validation_alias="JWT_ISSUER")
    jwt_audience: str = Field("fupin", validation_alias="JWT_AUDIENCE")
    max_body_bytes: int = Field(1024 * 1024, validation_alias="MAX_BODY_BYTES", gt=0)
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")
    db_pool_size: int = Field(10, validation_alias="DB_POOL_SIZE", gt=0)
    call_deadline_seconds: float = Field(5.0, validation_alias="CALL_DEADLINE_SECONDS", gt=0)
    # This process's own account at the gateway, for calls on its own behalf (reading another
    # service's event log, relaying notifications). Prefixed: CREDIT_RATING_SERVICE_CLIENT_ID, …
    gateway_url: str = "http://127.0.0.1:8000"
    service_client_id: str | None = None
    service_client_secret: str | None = None
    background_workers: bool = Field(True, description="run event consumers and relays (off in unit tests)")

    @model_validator(mode="after")
    def _database_configured(self) -> BaseServiceSettings:
        if self.environment == "production" and not self.database_url:
            raise ValueError("DATABASE_URL must be set in production")
        return self


def refuse_placeholder(value: str, *, name: str, environment: Environment, placeholders: set[str]) -> None:
    """A development default secret is refused outside development."""
    if environment != "development" and value in placeholders:
        raise ValueError(f"{name} is a development placeholder; set a real secret for {environment}")
