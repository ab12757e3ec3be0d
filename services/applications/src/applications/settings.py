"""Applications service configuration (``APPLICATIONS_*`` variables plus the shared ones)."""

from datetime import date

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kit.settings import BaseServiceSettings


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="APPLICATIONS_", extra="ignore", populate_by_name=True)

    database_name: str = "fupin_applications"
    port: int = 8001
    initial_business_date: date = Field(default_factory=date.today, description="business date before the first PUT /v1/business-date")
    credit_rating_url: str = "http://127.0.0.1:8002"
    risk_pool_url: str = "http://127.0.0.1:8003"
    import_max_bytes: int = Field(512 * 1024 * 1024, gt=0, description="largest bulk-import body")
    import_chunk_rows: int = Field(50_000, gt=0, description="rows per COPY into the staging table")
    import_reported_errors: int = Field(1000, gt=0, description="invalid rows listed in an import report (all are counted)")
