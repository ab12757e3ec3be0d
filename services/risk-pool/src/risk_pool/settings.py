"""Risk-pool service configuration (``RISK_POOL_*`` variables plus the shared ones)."""

from pydantic_settings import SettingsConfigDict

from kit.settings import BaseServiceSettings


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RISK_POOL_", extra="ignore", populate_by_name=True)

    database_name: str = "fupin_risk_pool"
    port: int = 8003
