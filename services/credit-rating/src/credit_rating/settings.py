"""Credit-rating service configuration (``CREDIT_RATING_*`` variables plus the shared ones)."""

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from kit.settings import BaseServiceSettings, refuse_placeholder


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CREDIT_RATING_", extra="ignore", populate_by_name=True)

    database_name: str = "fupin_credit_rating"
    port: int = 8002
    applications_url: str = Field("http://127.0.0.1:8001", description="the applications service: loan event log and 建档立卡 registry")
    roster_page_size: int = Field(1000, ge=1, le=1000, description="households read per registry page (applications allows up to 1000)")
    roster_resync_seconds: float = Field(
        600.0, gt=0, description="after a full pass over the registry, start the next one this much later (status changes)"
    )

    @model_validator(mode="after")
    def _no_placeholder_service_secret(self) -> "Settings":
        if self.service_client_secret:
            refuse_placeholder(
                self.service_client_secret, name="CREDIT_RATING_SERVICE_CLIENT_SECRET", environment=self.environment,
                placeholders={"svc-credit-rating-secret"},
            )
        return self
