"""Gateway configuration (``GATEWAY_*`` variables plus the shared ones)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from kit.settings import BaseServiceSettings, refuse_placeholder

DEV_ADMIN_PASSWORD = "admin-dev-only"
DEV_KEY_SECRET = "dev-key-encryption-secret"


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    database_name: str = "fupin_gateway"
    port: int = 8000
    applications_url: str = "http://127.0.0.1:8001"
    credit_rating_url: str = "http://127.0.0.1:8002"
    risk_pool_url: str = "http://127.0.0.1:8003"
    subsidy_url: str = "http://127.0.0.1:8004"
    admin_username: str = "admin"
    admin_password: str = DEV_ADMIN_PASSWORD
    key_encryption_secret: str = DEV_KEY_SECRET
    token_ttl_seconds: int = Field(900, gt=0, le=86400)
    rate_limit_per_second: float = Field(50.0, gt=0)
    rate_limit_burst: int = Field(200, gt=0)
    idempotency_ttl_hours: int = Field(24, gt=0)
    proxy_deadline_seconds: float = Field(30.0, gt=0)
    seed_demo: bool = False

    @model_validator(mode="after")
    def _no_placeholders(self) -> Settings:
        refuse_placeholder(self.admin_password, name="GATEWAY_ADMIN_PASSWORD", environment=self.environment, placeholders={DEV_ADMIN_PASSWORD})
        refuse_placeholder(
            self.key_encryption_secret, name="GATEWAY_KEY_ENCRYPTION_SECRET", environment=self.environment, placeholders={DEV_KEY_SECRET}
        )
        if self.seed_demo and self.environment == "production":
            raise ValueError("GATEWAY_SEED_DEMO is for development only")
        return self

    def service_urls(self) -> dict[str, str]:
        return {
            "applications": self.applications_url,
            "credit-rating": self.credit_rating_url,
            "risk-pool": self.risk_pool_url,
            "subsidy": self.subsidy_url,
        }
