"""Subsidy service configuration (``SUBSIDY_*`` variables plus the shared ones)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kit.settings import BaseServiceSettings


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SUBSIDY_", extra="ignore", populate_by_name=True)

    database_name: str = "fupin_subsidy"
    port: int = 8004
    applications_url: str = Field("http://127.0.0.1:8001", description="Base URL of the applications service (business date).")
    settlement_chunk_loans: int = Field(100_000, gt=0, description="Loans per set-based INSERT … SELECT when settling a batch.")
    event_batch_limit: int = Field(5_000, gt=0, description="Most events accepted in one POST /v1/subsidy-events.")
    register_pdf_max_lines: int = Field(20_000, gt=0, description="Longest payout register printed as PDF (about 700 pages).")
    household_batch_limit: int = Field(50_000, gt=0, description="Most households accepted in one PUT /v1/subsidy-accounts/households.")
    webhook_max_lines: int = Field(
        5_000, gt=0, description="Most lines in one subsidy.paid message; a bank with more lines in a batch gets several parts."
    )
    metrics_interval_seconds: float = Field(15.0, gt=0, description="How often the business gauges are refreshed.")
