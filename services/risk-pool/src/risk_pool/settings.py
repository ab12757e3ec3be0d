"""Risk-pool service configuration (``RISK_POOL_*`` variables plus the shared ones)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kit.settings import BaseServiceSettings


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RISK_POOL_", extra="ignore", populate_by_name=True)

    database_name: str = "fupin_risk_pool"
    port: int = 8003
    applications_url: str = Field("http://127.0.0.1:8001", description="Base URL of the applications service (its loan event log).")
    metrics_refresh_seconds: float = Field(15.0, gt=0, description="How often the business gauges are recomputed.")
