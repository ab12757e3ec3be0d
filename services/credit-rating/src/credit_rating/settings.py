"""Credit-rating service configuration (``CREDIT_RATING_*`` variables plus the shared ones)."""

from pydantic_settings import SettingsConfigDict

from kit.settings import BaseServiceSettings


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CREDIT_RATING_", extra="ignore", populate_by_name=True)

    database_name: str = "fupin_credit_rating"
    port: int = 8002
