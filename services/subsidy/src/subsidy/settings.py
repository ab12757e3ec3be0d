"""Subsidy service configuration (``SUBSIDY_*`` variables plus the shared ones)."""

from pydantic_settings import SettingsConfigDict

from kit.settings import BaseServiceSettings


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SUBSIDY_", extra="ignore", populate_by_name=True)

    database_name: str = "fupin_subsidy"
    port: int = 8004
